"""Task resolvers: what a Task state's Resource does. Python callables, Step Functions Local mock files,
and a chain that asks each in turn."""

from __future__ import annotations

import base64
import inspect
import json
import traceback
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from workflows.asl import errors
from workflows.asl.errors import ASLError
from workflows.asl.payload import dumps
from workflows.engine.tasks import TaskRequest, resource_kind

LambdaHandler = Callable[..., Any]


def function_name(arn_or_name: str) -> str:
    """`arn:aws:lambda:r:a:function:NAME[:qualifier]` or `NAME` -> NAME."""
    parts = arn_or_name.split(":")
    if len(parts) >= 7 and parts[5] == "function":
        return parts[6]
    return arn_or_name


def lambda_error(exc: BaseException) -> ASLError:
    """A Python exception as AWS reports a Lambda function's failure: error = the exception's class
    name; cause = the JSON Lambda returns (errorMessage, errorType, requestId, stackTrace)."""
    frames = traceback.format_tb(exc.__traceback__)[1:] if exc.__traceback__ else []
    error_type = type(exc).__name__
    cause = {
        "errorMessage": str(exc),
        "errorType": error_type,
        "requestId": str(uuid.uuid4()),
        "stackTrace": frames,
    }
    # Lambda's Python runtime writes this JSON with json.dumps' default separators.
    return ASLError(error_type, json.dumps(cause))


def _invoke_payload(payload: Any) -> Any:
    """The event a function receives from lambda:invoke: no payload is `{}`; a string is sent as the
    raw request body, which the runtime parses as JSON."""
    if payload is None:
        return {}
    if isinstance(payload, str):
        try:
            return json.loads(payload)
        except ValueError:
            return payload
    return payload


def invoke_response(payload: Any, *, log_tail: bool = False) -> dict[str, Any]:
    """The result of `arn:aws:states:::lambda:invoke` around a function's return value."""
    request_id = str(uuid.uuid4())
    date = datetime.now(tz=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    length = str(len(json.dumps(payload).encode()))  # the function's own JSON, as Lambda's runtime wrote it
    log_result = base64.b64encode(f"START RequestId: {request_id} Version: $LATEST\n".encode()).decode()
    response: dict[str, Any] = {
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {
                "X-Amz-Executed-Version": ["$LATEST"],
                "x-amzn-Remapped-Content-Length": ["0"],
                "Connection": ["keep-alive"],
                "x-amzn-RequestId": [request_id],
                "Content-Length": [length],
                "Date": [date],
                "X-Amzn-Trace-Id": [f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0"],
                "Content-Type": ["application/json"],
            },
            "HttpHeaders": {
                "Connection": "keep-alive",
                "Content-Length": length,
                "Content-Type": "application/json",
                "Date": date,
                "X-Amz-Executed-Version": "$LATEST",
                "x-amzn-Remapped-Content-Length": "0",
                "x-amzn-RequestId": request_id,
                "X-Amzn-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
            },
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200,
    }
    if log_tail:
        response["LogResult"] = log_result
        response["SdkHttpMetadata"]["AllHttpHeaders"] = {
            "X-Amz-Log-Result": [log_result],
            **response["SdkHttpMetadata"]["AllHttpHeaders"],
        }
        response["SdkHttpMetadata"]["HttpHeaders"]["X-Amz-Log-Result"] = log_result
    return response


class LambdaContext:
    """The context object a Python handler receives, as Lambda's runtime gives it."""

    def __init__(self, name: str, timeout: float | None = None, memory_mb: int = 128) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"
        self.clock: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class CallableResolver:
    """Lambda functions backed by Python callables, found by function name or ARN.

    Handlers take (event, context) as on Lambda; async handlers are awaited. Sync handlers run on the
    event loop: in-process runs are for tests and `workflows run`; the server runs real workers."""

    def __init__(self, functions: Mapping[str, LambdaHandler] | None = None, clock: Any = None) -> None:
        self.clock = clock  # handed to handlers as `context.clock`, so test handlers can wait virtually
        self.functions: dict[str, LambdaHandler] = {}
        for key, fn in (functions or {}).items():
            self.register(key, fn)

    def register(self, arn_or_name: str, handler: LambdaHandler) -> None:
        self.functions[function_name(arn_or_name)] = handler

    def handles(self, request: TaskRequest) -> bool:
        return self._target(request) is not None

    def _target(self, request: TaskRequest) -> str | None:
        kind, service, action = resource_kind(request.resource)
        if kind == "lambda":
            name = function_name(request.resource)
        elif (
            service == "lambda" and action.split(".")[0] == "invoke" and isinstance(request.parameters, dict)
        ):
            name = function_name(str(request.parameters.get("FunctionName", "")))
        else:
            return None
        return name if name in self.functions else None

    async def invoke(self, request: TaskRequest) -> Any:
        name = self._target(request)
        if name is None:
            raise ASLError("Lambda.ResourceNotFoundException", f"Function not found: {request.resource}")
        handler = self.functions[name]
        kind, _, _ = resource_kind(request.resource)
        event = request.parameters
        params: dict[str, Any] = request.parameters if isinstance(request.parameters, dict) else {}
        if kind != "lambda":
            event = _invoke_payload(params.get("Payload"))
        context = LambdaContext(name, request.timeout_seconds)
        context.clock = self.clock
        try:
            result = handler(event, context)
            if inspect.isawaitable(result):
                result = await result
        except ASLError:
            raise
        except Exception as exc:
            raise lambda_error(exc) from exc
        result = json.loads(dumps(result))  # what crosses the wire is JSON
        if kind == "lambda":
            return result
        return invoke_response(result, log_tail=params.get("LogType") == "Tail")


class MockConfigResolver:
    """Step Functions Local's mock configuration: `StateMachines.<name>.TestCases.<case>` maps state
    names to `MockedResponses`, each a map of attempt ranges ("0", "1-2") to `Return` or `Throw`."""

    def __init__(self, config: Mapping[str, Any], state_machine: str | None, test_case: str) -> None:
        machines = config.get("StateMachines", {})
        if state_machine is None:
            if len(machines) != 1:
                found = [name for name, m in machines.items() if test_case in m.get("TestCases", {})]
                if len(found) != 1:
                    raise ValueError(f"test case {test_case!r} is not unique among state machines; name one")
                state_machine = found[0]
            else:
                state_machine = next(iter(machines))
        machine = machines.get(state_machine)
        if machine is None:
            raise ValueError(f"no state machine {state_machine!r} in the mock config")
        cases = machine.get("TestCases", {})
        if test_case not in cases:
            raise ValueError(f"no test case {test_case!r} for state machine {state_machine!r}")
        responses = config.get("MockedResponses", {})
        self.by_state: dict[str, list[tuple[int, int, dict[str, Any]]]] = {}
        for state, response_name in cases[test_case].items():
            if response_name not in responses:
                raise ValueError(f"test case {test_case!r} names unknown mocked response {response_name!r}")
            self.by_state[state] = _attempt_table(responses[response_name])
        self._calls: dict[str, int] = {}

    def handles(self, request: TaskRequest) -> bool:
        return request.state_name in self.by_state

    async def invoke(self, request: TaskRequest) -> Any:
        attempt = self._calls.get(request.state_name, 0)
        self._calls[request.state_name] = attempt + 1
        return self.respond(request.state_name, attempt)

    def respond(self, state_name: str, attempt: int) -> Any:
        """The mocked result of a state's attempt (0 is the first try), or raise its mocked error."""
        table = self.by_state.get(state_name)
        if table is None:
            raise ASLError(errors.TASK_FAILED, f"No mocked response for state {state_name!r}")
        for low, high, response in table:
            if low <= attempt <= high:
                if "Throw" in response:
                    thrown = response["Throw"]
                    raise ASLError(thrown.get("Error", errors.TASK_FAILED), thrown.get("Cause"))
                return response.get("Return")
        raise ASLError(errors.TASK_FAILED, f"No mocked response for attempt {attempt} of {state_name!r}")


def _attempt_table(mocked: Mapping[str, Any]) -> list[tuple[int, int, dict[str, Any]]]:
    table = []
    for key, response in mocked.items():
        low, _, high = key.partition("-")
        table.append((int(low), int(high or low), response))
    return sorted(table, key=lambda t: t[0])


class ChainResolver:
    """Asks each resolver in turn; the first that handles the request answers it."""

    def __init__(self, *resolvers: Any) -> None:
        self.resolvers = [r for r in resolvers if r is not None]

    def handles(self, request: TaskRequest) -> bool:
        return any(r.handles(request) for r in self.resolvers)

    async def invoke(self, request: TaskRequest) -> Any:
        for resolver in self.resolvers:
            if resolver.handles(request):
                return await resolver.invoke(request)
        kind, service, _ = resource_kind(request.resource)
        if kind == "lambda" or service == "lambda":
            name = request.resource
            if isinstance(request.parameters, dict) and kind != "lambda":
                name = str(request.parameters.get("FunctionName", name))
            info = request.execution
            arn = (
                name
                if name.startswith("arn:")
                else (f"arn:aws:lambda:{info.region}:{info.account}:function:{name}")
            )
            if arn.count(":") == 6:
                arn += ":$LATEST"
            raise ASLError(
                "Lambda.ResourceNotFoundException",
                f"Function not found: {arn} (Service: AWSLambda; Status Code: 404; Error Code: "
                f"ResourceNotFoundException; Request ID: {uuid.uuid4()}; Proxy: null)",
            )
        raise ASLError(errors.RUNTIME, f"No integration is configured for resource '{request.resource}'")
