"""Who the server answers and how much it reads: secrets, body caps, Host names, SigV4 rules, and
error messages that never quote Python. Each test names the defect it pins down."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from starlette.testclient import TestClient

from tests.api_replay import client, free_port, live_server
from workflows.service.server import build

ROOT = Path(__file__).resolve().parents[1]
ROLE = "arn:aws:iam::123456789012:role/r"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
KEY, SECRET = "AKIDGOOD", "s3cret"
API_CAP = 1024 * 1024 + 64 * 1024
UPLOAD_CAP = 64 * 1024 * 1024
CONSOLE_HEADERS = {"host": "localhost", "cookie": "wf_csrf=t", "x-csrf-token": "t"}


def _signed_headers(
    target: str = "ListActivities",
    body: bytes = b"{}",
    *,
    host: str = "localhost",
    service: str = "states",
    region: str = "us-east-1",
    sign_only_host_and_date: bool = False,
) -> dict[str, str]:
    """Headers of a request signed by botocore's own signer. `sign_only_host_and_date`: the
    signature covers `host;x-amz-date` alone, and X-Amz-Target / Content-Type are added after."""
    extra = {"X-Amz-Target": f"AWSStepFunctions.{target}", "Content-Type": "application/x-amz-json-1.0"}
    request = AWSRequest(
        method="POST", url=f"http://{host}/", data=body, headers={} if sign_only_host_and_date else extra
    )
    SigV4Auth(Credentials(KEY, SECRET), service, region).add_auth(request)
    return {**dict(request.headers.items()), **extra, "Host": host}


@pytest.fixture
def off_loopback(tmp_path: Path) -> Iterator[TestClient]:
    """The app as `workflows serve --host 0.0.0.0 --access-key-id AKIDGOOD` assembles it."""
    app, _service = build(str(tmp_path), host="0.0.0.0", credentials={KEY: SECRET})
    with TestClient(app, base_url="http://localhost") as http:
        yield http


# -- 4. an empty secret ---------------------------------------------------------------------------


def test_serve_off_loopback_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    """`serve --host 0.0.0.0 --access-key-id K` with no secret started and accepted requests signed
    with the empty secret, which anybody can compute."""
    env = {k: v for k, v in os.environ.items() if k != "WORKFLOWS_SECRET_ACCESS_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    command = [
        sys.executable,
        "-m",
        "workflows.cli",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        str(free_port()),
    ]
    command += ["--data-dir", str(tmp_path), "--access-key-id", KEY]
    for secret in (None, ""):
        if secret is not None:
            env["WORKFLOWS_SECRET_ACCESS_KEY"] = secret
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=20, cwd=ROOT)
        except subprocess.TimeoutExpired:
            pytest.fail("serve started (and kept serving) with an empty secret")
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "WORKFLOWS_SECRET_ACCESS_KEY" in lines[0], done.stderr


def test_build_refuses_an_empty_secret_off_loopback(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        build(str(tmp_path), host="0.0.0.0", credentials={KEY: ""})
    with pytest.raises(ValueError):
        build(str(tmp_path), host="0.0.0.0", credentials=None)


# -- 5. bodies read only up to a cap ----------------------------------------------------------------


def _call_asgi(app: Any, path: str, headers: dict[str, str], chunks: int, size: int) -> tuple[int, Any, int]:
    """(status, JSON body, chunks the app pulled): `chunks` body chunks of `size` bytes, streamed
    without a Content-Length as a chunked upload arrives."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled >= chunks:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += 1
        return {"type": "http.request", "body": b" " * size, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT" if path.endswith("uploads") else "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"name=big.bin",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8083),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), pulled


class _Uploads:
    bucket = "in"

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def put(self, name: str, data: bytes) -> str:
        self.sizes.append(len(data))
        return name


def test_a_chunked_body_is_refused_at_the_cap_while_it_streams(tmp_path: Path) -> None:
    """Bodies were read whole before any check: an unsigned 200 MB POST took 400 MB of memory."""
    chunk = 64 * 1024
    app, _service = build(str(tmp_path), uploads=_Uploads())
    headers = {"host": "127.0.0.1:8083", "x-amz-target": "AWSStepFunctions.ListActivities"}
    status, body, pulled = _call_asgi(app, "/", headers, chunks=200, size=chunk)
    assert status == 413 and body["__type"] == "RequestEntityTooLargeException", body
    assert pulled <= API_CAP // chunk + 1, f"read {pulled} chunks of 64 KiB past a {API_CAP}-byte cap"
    # The console's JSON routes carry the same payloads and have the same cap...
    status, body, pulled = _call_asgi(app, "/console/api/validate", CONSOLE_HEADERS, chunks=200, size=chunk)
    assert status == 413 and pulled <= API_CAP // chunk + 1
    # ...and the upload route, which carries files, has its own.
    status, body, pulled = _call_asgi(
        app, "/console/api/uploads", CONSOLE_HEADERS, chunks=UPLOAD_CAP // chunk + 100, size=chunk
    )
    assert status == 413 and body["error"] == "RequestEntityTooLargeException"
    assert pulled <= UPLOAD_CAP // chunk + 1


def test_an_unsigned_body_is_not_read_at_all_off_loopback(tmp_path: Path) -> None:
    app, _service = build(str(tmp_path), host="0.0.0.0", credentials={KEY: SECRET})
    headers = {"host": "localhost", "x-amz-target": "AWSStepFunctions.ListActivities"}
    status, body, pulled = _call_asgi(app, "/", headers, chunks=10, size=64 * 1024)
    assert status == 403 and body["__type"] == "MissingAuthenticationTokenException"
    assert pulled == 0


def _raw_response(port: int, head: str, timeout: float = 5) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode())
        received = b""
        try:
            while chunk := sock.recv(65536):  # the refusal closes the connection: read to its end
                received += chunk
        except TimeoutError:
            return received.decode("latin-1") or "(no answer: the server is waiting for the body)"
        return received.decode("latin-1")


def test_a_declared_length_over_the_cap_is_refused_before_the_body(tmp_path: Path) -> None:
    with live_server(str(tmp_path), uploads=_Uploads()) as (endpoint, _service):
        port = int(endpoint.rsplit(":", 1)[1])
        api = _raw_response(
            port,
            f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Amz-Target: AWSStepFunctions.ListActivities\r\n"
            "Content-Type: application/x-amz-json-1.0\r\nContent-Length: 209715200\r\n\r\n",
        )
        assert api.startswith("HTTP/1.1 413"), api
        assert json.loads(api.split("\r\n\r\n", 1)[1])["__type"] == "RequestEntityTooLargeException"
        upload = _raw_response(
            port,
            f"PUT /console/api/uploads?name=a.bin HTTP/1.1\r\nHost: localhost:{port}\r\n"
            f"Content-Length: {UPLOAD_CAP + 1}\r\n\r\n",
        )
        assert upload.startswith("HTTP/1.1 413"), upload
        # A file above the API's cap but under the upload cap goes through.
        uploads = _Uploads()
        app, _svc = build(str(tmp_path / "u"), uploads=uploads)
        with TestClient(app, base_url="http://localhost") as http:
            http.cookies.set("wf_csrf", "t")
            response = http.put(
                "/console/api/uploads?name=a.bin",
                content=b"x" * (2 * 1024 * 1024),
                headers={"x-csrf-token": "t"},
            )
        assert response.status_code == 200, response.text
        assert uploads.sizes == [2 * 1024 * 1024]


# -- 6. DNS rebinding: only loopback names and the configured host ---------------------------------


def test_foreign_host_names_are_refused_on_every_route(tmp_path: Path) -> None:
    """Any Host was accepted: through a rebinding name a web page got a CSRF token and started an
    execution."""
    app, _service = build(str(tmp_path))
    with TestClient(app, base_url="http://rebind.attacker.example:8083") as http:
        page = http.get("/console")
        assert page.status_code == 403 and "wf_csrf" not in page.cookies
        assert "rebind.attacker.example" in page.json()["message"]
        assert http.get("/console/static/console.js").status_code == 403
        assert http.get("/console/api/config").status_code == 403
        http.cookies.set("wf_csrf", "t")
        started = http.post(
            "/console/api/start", json={"stateMachineArn": "x"}, headers={"x-csrf-token": "t"}
        )
        assert started.status_code == 403
        api = http.post("/", content=b"{}", headers={"X-Amz-Target": "AWSStepFunctions.ListStateMachines"})
        assert api.status_code == 403 and api.json()["__type"] == "InvalidHostHeader"


@pytest.mark.parametrize(
    "base", ["http://localhost", "http://localhost:8083", "http://127.0.0.1:9999", "http://[::1]:8083"]
)
def test_loopback_names_with_any_port_are_served(tmp_path: Path, base: str) -> None:
    app, _service = build(str(tmp_path))
    with TestClient(app, base_url=base) as http:
        assert http.get("/console").status_code == 200
        assert http.get("/console/static/console.js").status_code == 200
        listed = http.post("/", content=b"{}", headers={"X-Amz-Target": "AWSStepFunctions.ListStateMachines"})
        assert listed.status_code == 200, listed.text


def test_the_configured_host_and_allowed_names_are_served(tmp_path: Path) -> None:
    app, _service = build(
        str(tmp_path), host="10.1.2.3", credentials={KEY: SECRET}, allowed_hosts=["sfn.internal"]
    )
    with TestClient(app) as http:
        for host in ("10.1.2.3:8083", "sfn.internal:8083", "localhost"):
            response = http.post("/", content=b"{}", headers=_signed_headers(host=host))
            assert response.status_code == 200, (host, response.text)
        other = http.post("/", content=b"{}", headers=_signed_headers(host="10.9.9.9:8083"))
        assert other.status_code == 403 and other.json()["__type"] == "InvalidHostHeader"


def test_create_app_alone_checks_the_host(tmp_path: Path) -> None:
    """`workflows dev` assembles its app with create_app, not build: the check lives there."""
    from workflows.service.api import create_app
    from workflows.service.service import StepFunctionsService
    from workflows.service.store import Store

    app = create_app(StepFunctionsService(Store(str(tmp_path))), allowed_hosts=["127.0.0.1"])
    with TestClient(app, base_url="http://evil.example") as http:
        assert http.post("/", content=b"{}").status_code == 403


# -- 7. SigV4: the signature covers what the request says, for this service and region ---------------


def test_a_signature_over_host_and_date_alone_is_refused(off_loopback: TestClient) -> None:
    """A signature over `host;x-amz-date` was accepted, so the same signed request could be pointed
    at another X-Amz-Target."""
    headers = _signed_headers(sign_only_host_and_date=True)
    response = off_loopback.post("/", content=b"{}", headers=headers)
    assert response.status_code == 403
    assert response.json() == {
        "__type": "IncompleteSignatureException",
        "message": "'Content-Type' must be a 'SignedHeader' in the AWS Authorization.",
    }
    retargeted = {**headers, "X-Amz-Target": "AWSStepFunctions.ListStateMachines"}
    assert off_loopback.post("/", content=b"{}", headers=retargeted).status_code == 403
    no_type = {k: v for k, v in headers.items() if k != "Content-Type"}
    unsigned_target = off_loopback.post("/", content=b"{}", headers=no_type).json()
    assert unsigned_target["message"] == "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."


def test_a_fully_signed_request_cannot_be_retargeted(off_loopback: TestClient) -> None:
    headers = _signed_headers("ListActivities")
    assert off_loopback.post("/", content=b"{}", headers=headers).status_code == 200
    retargeted = {**headers, "X-Amz-Target": "AWSStepFunctions.ListStateMachines"}
    response = off_loopback.post("/", content=b"{}", headers=retargeted)
    assert response.status_code == 403 and response.json()["__type"] == "InvalidSignatureException"


def test_host_must_be_signed(off_loopback: TestClient) -> None:
    headers = _signed_headers()
    auth = headers["Authorization"].replace("SignedHeaders=content-type;host;", "SignedHeaders=content-type;")
    response = off_loopback.post("/", content=b"{}", headers={**headers, "Authorization": auth})
    assert response.status_code == 403
    assert response.json()["message"] == "'Host' must be a 'SignedHeader' in the AWS Authorization."


def test_the_scope_must_name_states_and_this_region(off_loopback: TestClient) -> None:
    """A credential scope for s3, or for another region, was accepted."""
    s3 = off_loopback.post("/", content=b"{}", headers=_signed_headers(service="s3"))
    assert s3.status_code == 403
    assert s3.json() == {
        "__type": "InvalidSignatureException",
        "message": "Credential should be scoped to correct service: 'states'. ",
    }
    elsewhere = off_loopback.post("/", content=b"{}", headers=_signed_headers(region="eu-west-1"))
    assert elsewhere.status_code == 403
    assert elsewhere.json() == {
        "__type": "InvalidSignatureException",
        "message": "Credential should be scoped to a valid region, not 'eu-west-1'. ",
    }


def test_the_scope_date_must_be_the_request_date(off_loopback: TestClient) -> None:
    headers = _signed_headers()
    stamp = headers["X-Amz-Date"]
    other_day = "19990101" if stamp[:8] != "19990101" else "19990102"
    auth = headers["Authorization"].replace(f"/{stamp[:8]}/", f"/{other_day}/")
    response = off_loopback.post("/", content=b"{}", headers={**headers, "Authorization": auth})
    assert response.status_code == 403 and response.json()["__type"] == "InvalidSignatureException"
    assert response.json()["message"].startswith("Date in Credential scope does not match")


def test_boto3_and_the_aws_cli_still_work_off_loopback(tmp_path: Path) -> None:
    with live_server(str(tmp_path), host="0.0.0.0", credentials={"AKIDTEST": "secret"}) as (endpoint, _svc):
        sfn = client(endpoint)
        arn = sfn.create_state_machine(name="signed", definition=PASS, roleArn=ROLE)["stateMachineArn"]
        assert sfn.describe_state_machine(stateMachineArn=arn)["name"] == "signed"
        wrong_region = boto3.client(
            "stepfunctions",
            endpoint_url=endpoint,
            region_name="eu-west-1",
            aws_access_key_id="AKIDTEST",
            aws_secret_access_key="secret",
            config=Config(retries={"total_max_attempts": 1}),
        )
        with pytest.raises(ClientError) as err:
            wrong_region.list_state_machines()
        assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "AKIDTEST",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "awscli",
                "stepfunctions",
                "list-state-machines",
                "--endpoint-url",
                endpoint,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert [m["name"] for m in json.loads(out.stdout)["stateMachines"]] == ["signed"]


# -- 8. errors worded as AWS words them, never as Python does ---------------------------------------


def test_an_unknown_member_is_refused_without_python_in_the_message(tmp_path: Path) -> None:
    """An unknown member came back as "... got an unexpected keyword argument 'bogus'"."""
    app, _service = build(str(tmp_path))
    with TestClient(app, base_url="http://localhost") as http:

        def call(target: str, body: dict[str, Any]) -> httpx.Response:
            return http.post("/", json=body, headers={"X-Amz-Target": f"AWSStepFunctions.{target}"})

        top = call("ListStateMachines", {"bogus": 1})
        assert top.status_code == 400, top.text
        assert top.json() == {
            "__type": "SerializationException",
            "message": "Unexpected field 'bogus': ListStateMachinesInput has no such member",
        }
        nested = call(
            "CreateStateMachine",
            {"name": "n", "definition": PASS, "roleArn": ROLE, "tracingConfiguration": {"on": True}},
        )
        assert nested.status_code == 400
        assert nested.json()["message"] == (
            "Unexpected field 'tracingConfiguration.on': TracingConfiguration has no such member"
        )
        deep = http.post(
            "/", content=b"[" * 100_000, headers={"X-Amz-Target": "AWSStepFunctions.ListStateMachines"}
        )
        assert deep.status_code == 400 and deep.json()["__type"] == "SerializationException"
        for response in (top, nested, deep):
            assert "keyword" not in response.text and "Traceback" not in response.text


def test_an_internal_type_error_is_not_quoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workflows.service.service import StepFunctionsService

    async def broken(self: Any, **params: Any) -> Any:
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(StepFunctionsService, "list_activities", broken)
    app, _service = build(str(tmp_path))
    with TestClient(app, base_url="http://localhost") as http:
        response = http.post("/", content=b"{}", headers={"X-Amz-Target": "AWSStepFunctions.ListActivities"})
    assert response.status_code == 500 and response.json()["__type"] == "InternalFailure"
    assert "operand" not in response.text


def test_the_console_does_not_quote_python_either(tmp_path: Path) -> None:
    app, _service = build(str(tmp_path))
    with TestClient(app, base_url="http://localhost") as http:
        response = http.get("/console/api/executions?stateMachineArn=x&maxResults=lots")
    assert response.status_code == 400 and response.json()["error"] == "ValidationException"
    assert "invalid literal" not in response.text
