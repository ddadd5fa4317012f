"""The HTTP Task (`arn:aws:states:::http:invoke`) as the Developer Guide's "Call HTTPS APIs in Step
Functions workflows" documents it, against a real HTTP server on 127.0.0.1 and connections created
through moto's EventBridge API.

Each test names the documented rule it checks.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import botocore.exceptions
import pytest

from tests.api_replay import client, live_server
from workflows.asl.definition import load_definition
from workflows.asl.validation import validate_definition
from workflows.engine.interpreter import ExecutionInfo
from workflows.engine.resolvers import ChainResolver
from workflows.engine.runner import execution_info, run_async
from workflows.engine.tasks import TaskRequest
from workflows.local.http_task import HttpTaskResolver, encode_form
from workflows.local.integrations import AwsEndpoints
from workflows.local.local_aws import LocalAws
from workflows.service.service import StepFunctionsService
from workflows.service.store import Store

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
HTTP = "arn:aws:states:::http:invoke"
API_KEY = "key-7f3a9c-secret"
PASSWORD = "pw-41b7-secret"
CONNECTION_HEADER = "hdr-88d1-secret"


# ----- a real HTTP server on 127.0.0.1 -----------------------------------------------------------------


class Recorder:
    """What the server received, and how much of an endless answer it could write."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.streamed = 0
        self.stream_broken = threading.Event()
        self.release = threading.Event()  # ends /hang's wait
        self.lock = threading.Lock()


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Seen", "1")
            self.send_header("X-Seen", "2")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            with recorder.lock:
                recorder.requests.append(
                    {
                        "method": self.command,
                        "path": split.path,
                        "query": split.query,
                        "headers": dict(self.headers.items()),
                        "body": body,
                    }
                )
            path = split.path
            if path == "/json":
                self._answer(200, json.dumps({"ok": True, "items": [1, 2]}).encode())
            elif path == "/text":
                self._answer(200, b"plain words", "text/plain; charset=utf-8")
            elif path.startswith("/status/"):
                code = int(path.rsplit("/", 1)[1])
                self._answer(code, json.dumps({"message": f"status {code}"}).encode())
            elif path == "/image":
                self._answer(200, b"\x89PNG\r\n", "image/png")
            elif path == "/token":
                self._answer(200, json.dumps({"access_token": "tok-5e6f", "token_type": "Bearer"}).encode())
            elif path == "/hang":
                recorder.release.wait(20)
                self._answer(200, b"{}")
            elif path == "/endless":
                # Chunked, without a length: 64 MiB offered, written until the client hangs up.
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"x" * 65536
                try:
                    for _ in range(1024):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        recorder.streamed += len(chunk)
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    recorder.stream_broken.set()
            elif path == "/declared-huge":
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(100 * 1024 * 1024))
                self.end_headers()
                self.wfile.flush()
                recorder.release.wait(20)
            else:
                self._answer(200, json.dumps({"echo": path}).encode())

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _any

    return Handler


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        recorder.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def recorder(api: tuple[str, Recorder]) -> Recorder:
    rec = api[1]
    with rec.lock:
        rec.requests.clear()
    return rec


@pytest.fixture
def base(api: tuple[str, Recorder]) -> str:
    return api[0]


# ----- moto for the connections ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoints(moto: LocalAws) -> AwsEndpoints:
    return AwsEndpoints(default=moto.url, account=ACCOUNT)


_names = iter(range(100_000))


def _connection(endpoints: AwsEndpoints, kind: str, auth: dict[str, Any]) -> str:
    events = endpoints.client("events")
    answer = events.create_connection(Name=f"c{next(_names)}", AuthorizationType=kind, AuthParameters=auth)
    return str(answer["ConnectionArn"])


@pytest.fixture(scope="module")
def api_key_connection(endpoints: AwsEndpoints) -> str:
    """The Developer Guide's data-merging example: an API key, and a header, a query parameter and a
    body parameter that clash with the state's."""
    return _connection(
        endpoints,
        "API_KEY",
        {
            "ApiKeyAuthParameters": {"ApiKeyName": "ApiKey", "ApiKeyValue": API_KEY},
            "InvocationHttpParameters": {
                "BodyParameters": [{"Key": "BodyParam", "Value": "connection_body_param"}],
                "HeaderParameters": [
                    {"Key": "Header-Param", "Value": "connection_header_param"},
                    {"Key": "X-Connection-Secret", "Value": CONNECTION_HEADER, "IsValueSecret": True},
                ],
                "QueryStringParameters": [{"Key": "QueryParam", "Value": "connection_query_param"}],
            },
        },
    )


@pytest.fixture(scope="module")
def basic_connection(endpoints: AwsEndpoints) -> str:
    return _connection(
        endpoints, "BASIC", {"BasicAuthParameters": {"Username": "myUsername", "Password": PASSWORD}}
    )


# ----- running a state -----------------------------------------------------------------------------------


def _machine(state: dict[str, Any], **top: Any) -> dict[str, Any]:
    states: dict[str, Any] = {"Call": {"Type": "Task", "Resource": HTTP, **state}}
    if "Catch" in state:
        states["Caught"] = {"Type": "Pass", "End": True}
    return {**top, "StartAt": "Call", "States": states}


def _run(
    endpoints: AwsEndpoints, definition: dict[str, Any], value: Any = None, *, timeout: float | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    resolver = HttpTaskResolver(endpoints, **({"timeout": timeout} if timeout else {}))

    async def go() -> Any:
        return await asyncio.wait_for(
            run_async(
                load_definition(definition),
                {} if value is None else value,
                resolver=ChainResolver(resolver),
                info=execution_info("http", account=ACCOUNT),
            ),
            30,
        )

    try:
        run = asyncio.run(go())
    finally:
        resolver.close()
    assert run.outcome is not None
    return run.outcome.to_json(), [event.to_api(iso=True) for event in run.events]


def _params(base: str, connection: str, **fields: Any) -> dict[str, Any]:
    return {
        "ApiEndpoint": f"{base}/json",
        "Method": "GET",
        "Authentication": {"ConnectionArn": connection},
        **fields,
    }


# ----- the request ---------------------------------------------------------------------------------------


def test_request_is_merged_with_the_connection_as_documented(
    endpoints: AwsEndpoints, base: str, recorder: Recorder, api_key_connection: str
) -> None:
    """Merging EventBridge connection and HTTP Task definition data: headers, query parameters and body
    parameters of both are sent, the connection's value wins a clash; the API key is the header it
    names; Step Functions sets User-Agent and Range; a JSON body is sent as compact JSON."""
    state = {
        "Parameters": _params(
            base,
            api_key_connection,
            ApiEndpoint=f"{base}/path",
            Method="POST",
            Headers={"Request-Id": "my_request_id", "Header-Param": "state_machine_header_param"},
            RequestBody={
                "Job": "Software Engineer",
                "Company": "AnyCompany",
                "BodyParam": "state_machine_body_param",
            },
            QueryParameters={"QueryParam": "state_machine_query_param", "Other": "a b"},
        ),
        "End": True,
    }
    outcome, _ = _run(endpoints, _machine(state))
    assert outcome["status"] == "SUCCEEDED", outcome
    [sent] = recorder.requests
    assert sent["method"] == "POST" and sent["path"] == "/path"
    assert dict(parse_qsl(sent["query"])) == {"QueryParam": "connection_query_param", "Other": "a b"}
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    assert headers["apikey"] == API_KEY
    assert headers["header-param"] == "connection_header_param"
    assert headers["request-id"] == "my_request_id"
    assert headers["x-connection-secret"] == CONNECTION_HEADER
    assert headers["user-agent"] == "Amazon|StepFunctions|HttpInvoke|us-east-1"
    assert headers["range"] == "bytes=0-262144"
    assert headers["content-type"] == "application/json; charset=UTF-8"
    assert json.loads(sent["body"]) == {
        "Job": "Software Engineer",
        "Company": "AnyCompany",
        "BodyParam": "connection_body_param",
    }
    assert b", " not in sent["body"]  # serialized without spaces


def test_basic_connection_sends_basic_authorization(
    endpoints: AwsEndpoints, base: str, recorder: Recorder, basic_connection: str
) -> None:
    """Connectivity: for Basic authorization the connection populates the Authorization header."""
    outcome, _ = _run(endpoints, _machine({"Parameters": _params(base, basic_connection), "End": True}))
    assert outcome["status"] == "SUCCEEDED", outcome
    [sent] = recorder.requests
    expected = "Basic " + base64.b64encode(f"myUsername:{PASSWORD}".encode()).decode()
    assert sent["headers"]["Authorization"] == expected


def test_oauth_client_credentials_connection_sends_a_bearer_token(
    endpoints: AwsEndpoints, base: str, recorder: Recorder
) -> None:
    """Connectivity: for OAuth, the client ID and secret are exchanged for an access token."""
    arn = _connection(
        endpoints,
        "OAUTH_CLIENT_CREDENTIALS",
        {
            "OAuthParameters": {
                "ClientParameters": {"ClientID": "client-1", "ClientSecret": "cs-secret"},
                "AuthorizationEndpoint": f"{base}/token",
                "HttpMethod": "POST",
                "OAuthHttpParameters": {"BodyParameters": [{"Key": "scope", "Value": "read"}]},
            }
        },
    )
    outcome, _ = _run(endpoints, _machine({"Parameters": _params(base, arn), "End": True}))
    assert outcome["status"] == "SUCCEEDED", outcome
    token_request, call = recorder.requests
    assert token_request["path"] == "/token"
    assert (
        token_request["headers"]["Authorization"]
        == "Basic " + base64.b64encode(b"client-1:cs-secret").decode()
    )
    assert dict(parse_qsl(token_request["body"].decode())) == {
        "grant_type": "client_credentials",
        "scope": "read",
    }
    assert call["headers"]["Authorization"] == "Bearer tok-5e6f"


FORM_BODY = {"customer": "1234567890", "description": "Monthly subscription", "array": ["a", "b", "c", "d"]}


@pytest.mark.parametrize(
    ("array_format", "encoded"),
    [
        ("INDICES", "array%5B0%5D=a&array%5B1%5D=b&array%5B2%5D=c&array%5B3%5D=d"),
        ("REPEAT", "array=a&array=b&array=c&array=d"),
        ("COMMAS", "array=a,b,c,d"),
        ("BRACKETS", "array%5B%5D=a&array%5B%5D=b&array%5B%5D=c&array%5B%5D=d"),
    ],
)
def test_url_encoded_body_with_each_array_format(
    endpoints: AwsEndpoints,
    base: str,
    recorder: Recorder,
    basic_connection: str,
    array_format: str,
    encoded: str,
) -> None:
    """Applying URL-encoding on request body: RequestBodyEncoding URL_ENCODED sends the RequestBody as
    form data; arrays as the ArrayFormat says (`array[0]=a`, `array=a`, `array=a,b,c,d`, `array[]=a`)."""
    state = {
        "Parameters": _params(
            base,
            basic_connection,
            Method="POST",
            Headers={"Content-Type": "application/x-www-form-urlencoded"},
            RequestBody=FORM_BODY,
            Transform={
                "RequestBodyEncoding": "URL_ENCODED",
                "RequestEncodingOptions": {"ArrayFormat": array_format},
            },
        ),
        "End": True,
    }
    outcome, _ = _run(endpoints, _machine(state))
    assert outcome["status"] == "SUCCEEDED", outcome
    [sent] = recorder.requests
    assert sent["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent["body"].decode() == f"customer=1234567890&description=Monthly%20subscription&{encoded}"


def test_url_encoding_of_nested_objects_matches_the_guides_request() -> None:
    """HTTP Task example: `metadata.order_details` is sent as `metadata%5Border_details%5D=...`, and
    INDICES is the default array format."""
    body = {"description": "Monthly subscription", "metadata": {"order_details": "monthly report data"}}
    assert encode_form(body) == (
        "description=Monthly%20subscription&metadata%5Border_details%5D=monthly%20report%20data"
    )
    assert encode_form({"a": ["x", "y"]}) == "a%5B0%5D=x&a%5B1%5D=y"


# ----- the response --------------------------------------------------------------------------------------


def test_output_has_headers_parsed_json_body_status_code_and_text(
    endpoints: AwsEndpoints, base: str, recorder: Recorder, basic_connection: str
) -> None:
    """The result: Headers, ResponseBody (parsed when the response is JSON, text otherwise), StatusCode
    and StatusText."""
    definition = {
        "StartAt": "Json",
        "States": {
            "Json": {
                "Type": "Task",
                "Resource": HTTP,
                "Parameters": _params(base, basic_connection),
                "ResultPath": "$.json",
                "Next": "Text",
            },
            "Text": {
                "Type": "Task",
                "Resource": HTTP,
                "Parameters": _params(base, basic_connection, ApiEndpoint=f"{base}/text"),
                "ResultPath": "$.text",
                "End": True,
            },
        },
    }
    outcome, _ = _run(endpoints, definition)
    assert outcome["status"] == "SUCCEEDED", outcome
    output = outcome["output"]
    json_result, text_result = output["json"], output["text"]
    assert json_result["ResponseBody"] == {"ok": True, "items": [1, 2]}
    assert json_result["StatusCode"] == 200 and json_result["StatusText"] == "OK"
    assert json_result["Headers"]["Content-Type"] == ["application/json"]
    assert json_result["Headers"]["X-Seen"] == ["1", "2"]
    assert text_result["ResponseBody"] == "plain words"


def test_non_2xx_is_caught_by_its_status_code_name(
    endpoints: AwsEndpoints, base: str, recorder: Recorder, basic_connection: str
) -> None:
    """HTTP Task example: a 404 fails the task with States.Http.StatusCode.404, which Catch handles."""
    state = {
        "Parameters": _params(base, basic_connection, ApiEndpoint=f"{base}/status/404"),
        "Catch": [{"ErrorEquals": ["States.Http.StatusCode.404"], "ResultPath": "$.error", "Next": "Caught"}],
        "End": True,
    }
    outcome, events = _run(endpoints, _machine(state))
    assert outcome["status"] == "SUCCEEDED", outcome
    error = outcome["output"]["error"]
    assert error["Error"] == "States.Http.StatusCode.404"
    cause = json.loads(error["Cause"])
    assert cause["StatusCode"] == 404 and cause["ResponseBody"] == {"message": "status 404"}
    failed = [e for e in events if e["type"] == "TaskFailed"]
    assert failed[0]["taskFailedEventDetails"]["error"] == "States.Http.StatusCode.404"
    assert failed[0]["taskFailedEventDetails"]["resourceType"] == "http"


def test_non_2xx_is_retried_by_retry(
    endpoints: AwsEndpoints, base: str, recorder: Recorder, basic_connection: str
) -> None:
    """HTTP Task example: a Retrier on States.Http.StatusCode.<code> retries the call."""
    state = {
        "Parameters": _params(base, basic_connection, ApiEndpoint=f"{base}/status/404"),
        "Retry": [{"ErrorEquals": ["States.Http.StatusCode.404"], "IntervalSeconds": 1, "MaxAttempts": 1}],
        "End": True,
    }
    outcome, _ = _run(endpoints, _machine(state))
    assert outcome["status"] == "FAILED" and outcome["error"] == "States.Http.StatusCode.404", outcome
    assert [r["path"] for r in recorder.requests] == ["/status/404", "/status/404"]


def test_unsupported_content_type_fails_with_runtime(
    endpoints: AwsEndpoints, base: str, recorder: Recorder, basic_connection: str
) -> None:
    """Unsupported HTTP Task responses: an image/* content type fails the task with States.Runtime."""
    state = {"Parameters": _params(base, basic_connection, ApiEndpoint=f"{base}/image"), "End": True}
    outcome, _ = _run(endpoints, _machine(state))
    assert outcome["status"] == "FAILED" and outcome["error"] == "States.Runtime", outcome


# ----- bounds: time and size --------------------------------------------------------------------------


def test_hung_endpoint_times_out_with_states_http_socket_and_frees_its_thread(
    endpoints: AwsEndpoints, base: str, recorder: Recorder, basic_connection: str
) -> None:
    """Timeouts for connections (HTTP task requests time out after 60 s; here the resolver is given 0.5 s)
    fail with States.Http.Socket. The only worker thread is free again at once: the next call answers."""
    resolver = HttpTaskResolver(endpoints, max_workers=1, timeout=0.5)
    info = ExecutionInfo("arn:aws:states:us-east-1:123456789012:execution:sm:e", "e", "arn:sm", "sm")

    def request(path: str) -> TaskRequest:
        return TaskRequest(
            HTTP, _params(base, basic_connection, ApiEndpoint=f"{base}{path}"), "Call", info, {}
        )

    async def go() -> tuple[Any, float, Any, float]:
        started = time.monotonic()
        try:
            await resolver.invoke(request("/hang"))
            hung: Any = None
        except Exception as exc:
            hung = exc
        hung_for = time.monotonic() - started
        started = time.monotonic()
        answered = await asyncio.wait_for(resolver.invoke(request("/json")), 5)
        return hung, hung_for, answered, time.monotonic() - started

    try:
        hung, hung_for, answered, answered_in = asyncio.run(go())
    finally:
        resolver.close()
    assert getattr(hung, "error", None) == "States.Http.Socket", hung
    assert hung_for < 3
    assert answered["StatusCode"] == 200 and answered_in < 3


def test_oversized_response_fails_without_being_read_whole(
    endpoints: AwsEndpoints, base: str, recorder: Recorder, basic_connection: str
) -> None:
    """A body larger than a state's output can hold (256 KiB; Step Functions sends Range: bytes=0-262144)
    fails the task with States.DataLimitExceeded; the engine stops reading: of 64 MiB offered, the server
    wrote far less before the connection was closed."""
    recorder.streamed = 0
    recorder.stream_broken.clear()
    state = {"Parameters": _params(base, basic_connection, ApiEndpoint=f"{base}/endless"), "End": True}
    outcome, _ = _run(endpoints, _machine(state))
    assert outcome["status"] == "FAILED" and outcome["error"] == "States.DataLimitExceeded", outcome
    assert recorder.stream_broken.wait(10)
    assert recorder.streamed < 32 * 1024 * 1024


def test_declared_oversized_response_fails_before_reading(
    endpoints: AwsEndpoints, base: str, recorder: Recorder, basic_connection: str
) -> None:
    """A Content-Length over the limit fails the task at once, though the server never sends the body."""
    state = {"Parameters": _params(base, basic_connection, ApiEndpoint=f"{base}/declared-huge"), "End": True}
    started = time.monotonic()
    outcome, _ = _run(endpoints, _machine(state), timeout=10)
    assert outcome["status"] == "FAILED" and outcome["error"] == "States.DataLimitExceeded", outcome
    assert time.monotonic() - started < 5


# ----- what fails the task ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", ["Authorization", "Host", "x-amz-date", "X-Forwarded-For", "Cache-Control"]
)
def test_headers_the_definition_cannot_set_fail_with_runtime(
    endpoints: AwsEndpoints, base: str, recorder: Recorder, basic_connection: str, header: str
) -> None:
    """Headers: the listed headers (and x-forwarded-*, x-amz-*, x-amzn-*) fail the task with
    States.Runtime, before anything is sent."""
    state = {"Parameters": _params(base, basic_connection, Headers={header: "v"}), "End": True}
    outcome, _ = _run(endpoints, _machine(state))
    assert outcome["status"] == "FAILED" and outcome["error"] == "States.Runtime", outcome
    assert recorder.requests == []


def test_string_body_with_connection_body_parameters_fails_with_runtime(
    endpoints: AwsEndpoints, base: str, recorder: Recorder, api_key_connection: str
) -> None:
    """Merging: a string RequestBody cannot be merged with the connection's body parameters."""
    state = {"Parameters": _params(base, api_key_connection, Method="POST", RequestBody="a=b"), "End": True}
    outcome, _ = _run(endpoints, _machine(state))
    assert outcome["status"] == "FAILED" and outcome["error"] == "States.Runtime", outcome
    assert recorder.requests == []


def test_unknown_connection_fails_with_resource_not_found(
    endpoints: AwsEndpoints, base: str, recorder: Recorder
) -> None:
    """Connection errors are prefixed Events.ConnectionResource.: ResourceNotFound."""
    arn = f"arn:aws:events:us-east-1:{ACCOUNT}:connection/nope/0c5b1d8e-0000-0000-0000-000000000000"
    outcome, _ = _run(endpoints, _machine({"Parameters": _params(base, arn), "End": True}))
    assert outcome["status"] == "FAILED", outcome
    assert outcome["error"] == "Events.ConnectionResource.ResourceNotFound"
    assert recorder.requests == []


def test_unreadable_connection_secret_fails_with_access_denied_and_sends_nothing(
    endpoints: AwsEndpoints, base: str, recorder: Recorder
) -> None:
    """The credentials live in the connection's Secrets Manager secret; without them nothing is sent."""
    arn = _connection(endpoints, "API_KEY", {"ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"}})
    events, secrets = endpoints.client("events"), endpoints.client("secretsmanager")
    secret_arn = events.describe_connection(Name=arn.split("/")[1])["SecretArn"]
    secrets.delete_secret(SecretId=secret_arn, ForceDeleteWithoutRecovery=True)
    outcome, _ = _run(endpoints, _machine({"Parameters": _params(base, arn), "End": True}))
    assert outcome["status"] == "FAILED", outcome
    assert outcome["error"] == "Events.ConnectionResource.AccessDenied"
    assert recorder.requests == []


# ----- JSONata ------------------------------------------------------------------------------------------


def test_jsonata_arguments_form(
    endpoints: AwsEndpoints, base: str, recorder: Recorder, basic_connection: str
) -> None:
    """An HTTP Task in a JSONata state: Arguments with expressions; the result is `$states.result`."""
    state = {
        "Arguments": {
            "ApiEndpoint": "{% $states.input.url %}",
            "Method": "PUT",
            "Authentication": {"ConnectionArn": basic_connection},
            "QueryParameters": {"id": "{% $string($states.input.id) %}"},
            "RequestBody": {"name": "{% $uppercase($states.input.name) %}"},
        },
        "Output": "{% $states.result.ResponseBody %}",
        "End": True,
    }
    outcome, _ = _run(
        endpoints, _machine(state, QueryLanguage="JSONata"), {"url": f"{base}/json", "id": 7, "name": "ada"}
    )
    assert outcome["status"] == "SUCCEEDED", outcome
    assert outcome["output"] == {"ok": True, "items": [1, 2]}
    [sent] = recorder.requests
    assert sent["method"] == "PUT" and sent["query"] == "id=7"
    assert json.loads(sent["body"]) == {"name": "ADA"}


def test_jsonpath_reference_paths_and_intrinsics(
    endpoints: AwsEndpoints, base: str, recorder: Recorder, basic_connection: str
) -> None:
    """HTTP Task fields: `ApiEndpoint.$` with States.Format, `Method.$` and `Headers.$` from the input."""
    state = {
        "Parameters": {
            "ApiEndpoint.$": f"States.Format('{base}/customers/{{}}', $.customer_id)",
            "Method.$": "$.method",
            "Headers.$": "$.headers",
            "Authentication": {"ConnectionArn": basic_connection},
        },
        "End": True,
    }
    value = {"customer_id": "1234567890", "method": "DELETE", "headers": {"X-Trace": "t1"}}
    outcome, _ = _run(endpoints, _machine(state), value)
    assert outcome["status"] == "SUCCEEDED", outcome
    [sent] = recorder.requests
    assert (sent["method"], sent["path"], sent["headers"]["X-Trace"]) == (
        "DELETE",
        "/customers/1234567890",
        "t1",
    )


# ----- validation at CreateStateMachine ------------------------------------------------------------------


def test_create_state_machine_rejects_a_missing_api_endpoint_with_its_pointer() -> None:
    """HTTP Task fields: ApiEndpoint is required; CreateStateMachine answers InvalidDefinition naming the
    JSON pointer of the Parameters that lack it."""
    state = {
        "Parameters": {"Method": "GET", "Authentication": {"ConnectionArn": "arn:aws:events:x"}},
        "End": True,
    }
    with live_server() as (endpoint, _service):
        sfn = client(endpoint)
        with pytest.raises(botocore.exceptions.ClientError) as err:
            sfn.create_state_machine(
                name="http-missing", definition=json.dumps(_machine(state)), roleArn=ROLE
            )
    assert err.value.response["Error"]["Code"] == "InvalidDefinition"
    assert (
        "SCHEMA_VALIDATION_FAILED: These fields are required: [ApiEndpoint] at /States/Call/Parameters"
        in err.value.response["Error"]["Message"]
    )


@pytest.mark.parametrize(
    ("state", "message", "location"),
    [
        ({"End": True}, "These fields are required: [Parameters]", "/States/Call"),
        (
            {
                "Parameters": {"ApiEndpoint": "https://x", "Authentication": {"ConnectionArn": "a"}},
                "End": True,
            },
            "These fields are required: [Method]",
            "/States/Call/Parameters",
        ),
        (
            {"Parameters": {"ApiEndpoint": "https://x", "Method": "GET"}, "End": True},
            "These fields are required: [Authentication or InvocationConfig]",
            "/States/Call/Parameters",
        ),
        (
            {
                "Parameters": {"ApiEndpoint": "https://x", "Method": "GET", "InvocationConfig": {}},
                "End": True,
            },
            "These fields are required: [ConnectionArn]",
            "/States/Call/Parameters/InvocationConfig",
        ),
        (
            {
                "Parameters": {
                    "ApiEndpoint": "https://x",
                    "Method": "FETCH",
                    "Authentication": {"ConnectionArn": "a"},
                },
                "End": True,
            },
            "The field 'Method' should have one of these values: [GET, POST, PUT, DELETE, PATCH, OPTIONS, HEAD]",
            "/States/Call/Parameters/Method",
        ),
        (
            {
                "Parameters": {
                    "ApiEndpoint": "https://x",
                    "Method": "POST",
                    "Authentication": {"ConnectionArn": "a"},
                    "Transform": {
                        "RequestBodyEncoding": "URL_ENCODED",
                        "RequestEncodingOptions": {"ArrayFormat": "X"},
                    },
                },
                "End": True,
            },
            "The field 'ArrayFormat' should have one of these values: [INDICES, REPEAT, COMMAS, BRACKETS]",
            "/States/Call/Parameters/Transform/RequestEncodingOptions/ArrayFormat",
        ),
    ],
)
def test_validation_names_each_fault_with_its_pointer(
    state: dict[str, Any], message: str, location: str
) -> None:
    found = [(d.message, d.location) for d in validate_definition(_machine(state)) if d.severity == "ERROR"]
    assert found == [(message, location)]


def test_validation_accepts_dynamic_fields_and_the_jsonata_form() -> None:
    """`Name.$` fields (JSONPath) and expressions (JSONata) are judged when they run, not before."""
    jsonpath = {
        "Parameters": {
            "ApiEndpoint.$": "$.url",
            "Method.$": "$.m",
            "Authentication": {"ConnectionArn.$": "$.c"},
        },
        "End": True,
    }
    jsonata = {
        "Arguments": {
            "ApiEndpoint": "{% $states.input.url %}",
            "Method": "{% 'GET' %}",
            "InvocationConfig": {"ConnectionArn": "a"},
        },
        "End": True,
    }
    assert [d for d in validate_definition(_machine(jsonpath)) if d.severity == "ERROR"] == []
    assert [
        d for d in validate_definition(_machine(jsonata, QueryLanguage="JSONata")) if d.severity == "ERROR"
    ] == []
    missing = {"Arguments": {"Method": "GET", "InvocationConfig": {"ConnectionArn": "a"}}, "End": True}
    found = [(d.message, d.location) for d in validate_definition(_machine(missing, QueryLanguage="JSONata"))]
    assert found == [("These fields are required: [ApiEndpoint]", "/States/Call/Arguments")]


# ----- secrets -----------------------------------------------------------------------------------------------


def test_connection_secrets_are_absent_from_execution_history(
    endpoints: AwsEndpoints, base: str, recorder: Recorder, api_key_connection: str, basic_connection: str
) -> None:
    """Connections keep secrets out of the definition, and so out of the execution's history: the API
    key, the secret invocation header and the Basic password reach the server and no history event."""
    definition = {
        "StartAt": "Key",
        "States": {
            "Key": {
                "Type": "Task",
                "Resource": HTTP,
                "Parameters": _params(base, api_key_connection, Method="POST", RequestBody={"a": 1}),
                "ResultPath": "$.key",
                "Next": "Basic",
            },
            "Basic": {
                "Type": "Task",
                "Resource": HTTP,
                "Parameters": _params(base, basic_connection, ApiEndpoint=f"{base}/status/500"),
                "End": True,
            },
        },
    }
    resolver = HttpTaskResolver(endpoints)
    try:
        with live_server(resolver=ChainResolver(resolver)) as (endpoint, _service):
            sfn = client(endpoint)
            machine = sfn.create_state_machine(
                name="http-secrets", definition=json.dumps(definition), roleArn=ROLE
            )
            arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
            deadline = time.time() + 20
            while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and time.time() < deadline:
                time.sleep(0.05)
            described = sfn.describe_execution(executionArn=arn)
            history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    finally:
        resolver.close()
    assert described["status"] == "FAILED" and described["error"] == "States.Http.StatusCode.500"
    assert len(recorder.requests) == 2
    sent_headers = json.dumps([r["headers"] for r in recorder.requests])
    encoded_password = base64.b64encode(f"myUsername:{PASSWORD}".encode()).decode()
    for secret in (API_KEY, CONNECTION_HEADER, encoded_password):
        assert secret in sent_headers
    text = json.dumps(history, default=str) + json.dumps(described, default=str)
    for secret in (API_KEY, CONNECTION_HEADER, PASSWORD, encoded_password):
        assert secret not in text
    assert any(
        e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"]["resourceType"] == "http"
        for e in history
    )


def test_teststate_trace_shows_the_request_with_secrets_only_when_revealed(
    tmp_path: Path, endpoints: AwsEndpoints, base: str, recorder: Recorder, api_key_connection: str
) -> None:
    """TestState: TRACE shows the HTTP request and response (inspectionData.request/response); the data
    the connection adds is a secret shown only with revealSecrets."""
    state = {"Type": "Task", "Resource": HTTP, "Parameters": _params(base, api_key_connection), "End": True}

    async def test(reveal: bool) -> dict[str, Any]:
        resolver = HttpTaskResolver(endpoints)
        service = StepFunctionsService(Store(tmp_path / str(reveal)), resolver=ChainResolver(resolver))
        try:
            request = {"definition": json.dumps(state), "roleArn": ROLE, "inspectionLevel": "TRACE"}
            return await service.call("TestState", {**request, "revealSecrets": reveal})
        finally:
            await service.close()
            resolver.close()

    hidden, shown = asyncio.run(test(False)), asyncio.run(test(True))
    assert hidden["status"] == "SUCCEEDED", hidden
    request, response = hidden["inspectionData"]["request"], hidden["inspectionData"]["response"]
    assert request["method"] == "GET" and request["url"].startswith(f"{base}/json?")
    assert "ApiKey: <redacted>" in request["headers"] and API_KEY not in json.dumps(hidden)
    assert "connection_query_param" not in request["url"]
    assert response["statusCode"] == "200" and json.loads(response["body"]) == {"ok": True, "items": [1, 2]}
    assert f"ApiKey: {API_KEY}" in shown["inspectionData"]["request"]["headers"]
    assert "QueryParam=connection_query_param" in shown["inspectionData"]["request"]["url"]


def test_resolver_handles_only_the_http_task(endpoints: AwsEndpoints) -> None:
    resolver = HttpTaskResolver(endpoints)
    info = ExecutionInfo("arn:aws:states:us-east-1:123456789012:execution:sm:e", "e", "arn:sm", "sm")
    try:
        assert resolver.handles(TaskRequest(HTTP, {}, "T", info, {}))
        assert resolver.handles(TaskRequest("arn:aws-cn:states:::http:invoke", {}, "T", info, {}))
        assert not resolver.handles(TaskRequest("arn:aws:states:::sns:publish", {}, "T", info, {}))
        assert not resolver.handles(
            TaskRequest("arn:aws:states:::http:invoke.waitForTaskToken", {}, "T", info, {})
        )
    finally:
        resolver.close()
