"""Lambda worker processes: env, cold/warm starts, errors, timeout, memory, both Resource forms."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from workflows.asl.errors import ASLError
from workflows.engine.interpreter import ExecutionInfo
from workflows.engine.tasks import TaskRequest
from workflows.local.lambda_workers import FunctionPool, LambdaWorkerResolver
from workflows.local.template import FunctionSpec, load_template

ROOT = Path(__file__).resolve().parent.parent
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"

HANDLERS = textwrap.dedent(
    """
    import os, time

    CALLS = 0

    def echo(event, context):
        global CALLS
        CALLS += 1
        print("a print goes to the log, not the protocol")
        return {
            "event": event,
            "calls": CALLS,
            "pid": os.getpid(),
            "function_name": context.function_name,
            "arn": context.invoked_function_arn,
            "memory": context.memory_limit_in_mb,
            "remaining": context.get_remaining_time_in_millis(),
            "request_id": context.aws_request_id,
            "env": {k: os.environ.get(k) for k in (
                "MY_VAR", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_ENDPOINT_URL",
                "LAMBDA_TASK_ROOT", "_HANDLER", "TZ", "AWS_SAM_LOCAL")},
            "cwd": os.getcwd(),
        }

    class CustomError(Exception):
        pass

    def fail(event, context):
        raise CustomError("it broke")

    def slow(event, context):
        time.sleep(30)

    def hog(event, context):
        block = bytearray(300 * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(5)
        return len(block)

    def unserialisable(event, context):
        return {"x": object()}

    def exits(event, context):
        os._exit(3)
    """
)


@pytest.fixture()
def code(tmp_path: Path) -> Path:
    (tmp_path / "fns.py").write_text(HANDLERS)
    return tmp_path


def spec(code: Path, handler: str, *, timeout: int = 5, memory: int = 128) -> FunctionSpec:
    name = f"fn-{handler}"
    return FunctionSpec(
        "Fn", name, ARN + name, code, f"fns.{handler}", "python3.11", timeout, memory, {"MY_VAR": "x"}
    )


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def request(resource: str, parameters: Any) -> TaskRequest:
    info = ExecutionInfo("arn:aws:states:us-east-1:123456789012:execution:sm:e", "e", "arn:sm", "sm")
    return TaskRequest(resource=resource, parameters=parameters, state_name="T", execution=info, context={})


def test_cold_then_warm_start_with_the_functions_environment(code: Path) -> None:
    async def go() -> tuple[Any, Any, Any]:
        pool = FunctionPool(spec(code, "echo"), extra_env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
        try:
            return await pool.invoke({"n": 1}), await pool.invoke({"n": 2}), pool.stats
        finally:
            await pool.close()

    first, second, stats = run(go())
    assert first["event"] == {"n": 1} and second["event"] == {"n": 2}
    assert (first["calls"], second["calls"]) == (1, 2)  # module state survives: the same warm worker
    assert first["pid"] == second["pid"]
    assert stats.cold_starts == 1 and stats.invocations == 2
    env = first["env"]
    assert env["MY_VAR"] == "x"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "fn-echo"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert env["LAMBDA_TASK_ROOT"] == str(code) and first["cwd"] == str(code)
    assert env["_HANDLER"] == "fns.echo" and env["TZ"] == ":UTC"
    assert env["AWS_SAM_LOCAL"] == "true"  # as under `sam local`: Powertools' Tracer sends no segments
    assert first["function_name"] == "fn-echo" and first["arn"] == ARN + "fn-echo"
    assert 0 < first["remaining"] <= 5000


def test_handler_exception_is_lambda_shaped(code: Path) -> None:
    async def go() -> None:
        pool = FunctionPool(spec(code, "fail"))
        try:
            await pool.invoke({})
        finally:
            await pool.close()

    with pytest.raises(ASLError) as info:
        run(go())
    assert info.value.error == "CustomError"
    cause = json.loads(info.value.cause or "")
    assert list(cause) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert cause["errorMessage"] == "it broke" and cause["errorType"] == "CustomError"
    assert 'raise CustomError("it broke")' in "".join(cause["stackTrace"])


@pytest.mark.parametrize(
    ("handler", "kwargs", "error", "message"),
    [
        ("slow", {"timeout": 1}, "Sandbox.Timedout", "Error: Task timed out after 1.0"),
        ("hog", {"memory": 128}, "Runtime.OutOfMemory", "Error: Runtime exited with error: signal: killed"),
        ("exits", {}, "Runtime.ExitError", "Error: Runtime exited with error: exit status 3"),
        ("unserialisable", {}, "Runtime.MarshalError", "Unable to marshal response"),
        ("missing", {}, "Runtime.HandlerNotFound", "Handler 'missing' missing on module 'fns'"),
    ],
)
def test_runtime_failures_answer_as_lambda(
    code: Path, handler: str, kwargs: dict[str, Any], error: str, message: str
) -> None:
    async def go() -> int:
        pool = FunctionPool(spec(code, handler, **kwargs))
        try:
            with pytest.raises(ASLError) as info:
                await pool.invoke({})
            assert info.value.error == error
            cause = json.loads(info.value.cause or "")
            assert cause["errorType"] == error and message in cause["errorMessage"]
            return len(pool._idle)
        finally:
            await pool.close()

    idle = run(go())
    if error in ("Sandbox.Timedout", "Runtime.OutOfMemory", "Runtime.ExitError"):
        assert idle == 0  # the worker was killed; the next invocation is a cold start


def test_pool_runs_invocations_concurrently_up_to_its_size(code: Path) -> None:
    async def go() -> set[int]:
        pool = FunctionPool(spec(code, "echo"), size=3)
        try:
            results = await asyncio.gather(*(pool.invoke({"i": i}) for i in range(9)))
            return {r["pid"] for r in results}
        finally:
            await pool.close()

    assert 1 <= len(run(go())) <= 3


def test_resolver_serves_function_arns_and_lambda_invoke(code: Path) -> None:
    fn = spec(code, "echo")

    async def go() -> tuple[Any, Any, bool, bool]:
        resolver = LambdaWorkerResolver([fn], pool_size=1)
        try:
            direct = await resolver.invoke(request(fn.arn + ":live", {"a": 1}))
            wrapped = await resolver.invoke(
                request("arn:aws:states:::lambda:invoke", {"FunctionName": fn.name, "Payload": {"b": 2}})
            )
            other = resolver.handles(request(ARN + "unknown", {}))
            sdk = resolver.handles(request("arn:aws:states:::sns:publish", {}))
            return direct, wrapped, other, sdk
        finally:
            await resolver.close()

    direct, wrapped, other, sdk = run(go())
    assert direct["event"] == {"a": 1} and direct["arn"] == fn.arn + ":live"
    assert wrapped["StatusCode"] == 200 and wrapped["Payload"]["event"] == {"b": 2}
    assert wrapped["ExecutedVersion"] == "$LATEST" and "SdkHttpMetadata" in wrapped
    assert (other, sdk) == (False, False)


def test_template_functions_are_found_by_their_substituted_arns() -> None:
    stack = load_template(ROOT / "template.yaml")
    resolver = LambdaWorkerResolver.from_stack(stack)
    definition = stack.state_machines["PipelineStateMachine"].definition()
    for state in ("Validate", "Analyse"):
        assert resolver.handles(request(definition["States"][state]["Resource"], {}))
    # The thumbnail is an S3 copy the state machine makes, not a function.
    assert not resolver.handles(request(definition["States"]["Thumbnail"]["Resource"], {}))


def test_real_task_handler_runs_in_a_worker() -> None:
    """The validate package, imported from its CodeUri with powertools, answers a missing object with
    its own named error (no S3 behind the endpoint: it must fail by name, not crash)."""
    stack = load_template(ROOT / "template.yaml")
    fn = stack.functions["ValidateFunction"]
    event = json.loads((ROOT / "tests" / "events" / "validate_input.json").read_text())

    async def go() -> ASLError | Any:
        resolver = LambdaWorkerResolver.from_stack(
            stack, extra_env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}
        )
        try:
            return await resolver.invoke(request(fn.arn, event))
        except ASLError as exc:
            return exc
        finally:
            await resolver.close()

    outcome = run(go())
    assert isinstance(outcome, ASLError), outcome
    cause = json.loads(outcome.cause or "")
    assert cause["errorType"] == outcome.error
    assert outcome.error not in ("Runtime.ImportModuleError", "Runtime.HandlerNotFound")
