"""Lambda functions as worker processes: one pool per function, each worker with the function's own
environment, CodeUri on sys.path, its handler imported once (cold start) and reused (warm starts),
a per-invocation timeout and a memory limit, answering as Lambda does.

Protocol: the parent writes one JSON line per invocation on the worker's stdin; the worker answers one
JSON line on the pipe that was its stdout. The handler's own stdout is redirected to stderr (its log),
so a print() in a handler never corrupts the protocol.

Failures, as Lambda reports them (error = errorType, cause = the JSON Lambda returns):
- handler exception: errorType = the exception's class name, errorMessage, requestId, stackTrace
- timeout: the worker is killed; `Sandbox.Timedout`, "RequestId: ... Error: Task timed out after 3.00 seconds"
- memory: the worker's RSS passes MemorySize; killed; `Runtime.OutOfMemory`,
  "RequestId: ... Error: Runtime exited with error: signal: killed"
- the worker exits: `Runtime.ExitError`; import errors: `Runtime.ImportModuleError` / `Runtime.HandlerNotFound`
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import sys
import textwrap
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflows.asl.errors import ASLError
from workflows.engine.resolvers import _invoke_payload, function_name, invoke_response
from workflows.engine.tasks import TaskRequest, resource_kind
from workflows.local.template import FunctionSpec

__all__ = ["FunctionPool", "LambdaWorkerResolver", "WorkerFailure"]

log = logging.getLogger(__name__)

# Variables a worker inherits from the engine's environment (everything else is the function's own).
_INHERITED = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "SYSTEMROOT",
    "TMPDIR",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "VIRTUAL_ENV",
)


def _worker_main() -> None:  # pragma: no cover - runs in the worker process, stdlib only
    import importlib
    import json
    import os
    import sys
    import time
    import traceback

    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # the handler's prints go to the log (stderr), never into the protocol
    sys.stdout = sys.stderr
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    if task_root not in sys.path:
        sys.path.insert(0, task_root)
    os.chdir(task_root)

    def frames(exc: BaseException) -> list[str]:
        return traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])

    handler_spec = os.environ["_HANDLER"]
    module_name, _, function = handler_spec.rpartition(".")
    handler = None
    init_error = None
    try:
        module = importlib.import_module(module_name)
        handler = getattr(module, function, None)
        if handler is None:
            init_error = {
                "errorMessage": f"Handler '{function}' missing on module '{module_name}'",
                "errorType": "Runtime.HandlerNotFound",
                "stackTrace": [],
            }
    except Exception as exc:
        init_error = {
            "errorMessage": f"Unable to import module '{module_name}': {exc}",
            "errorType": "Runtime.ImportModuleError",
            "stackTrace": [],
        }
    proto.write(json.dumps({"ready": True, "init_error": init_error}) + "\n")

    class Context:
        def __init__(self, request: dict) -> None:
            self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
            self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            self.invoked_function_arn = request["invoked_function_arn"]
            self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            self.aws_request_id = request["request_id"]
            self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
            self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
            self.identity = None
            self.client_context = None
            self._deadline_ms = request["deadline_ms"]

        def get_remaining_time_in_millis(self) -> int:
            return max(int(self._deadline_ms - time.time() * 1000), 0)

    for line in sys.stdin:
        request = json.loads(line)
        request_id = request["request_id"]
        if init_error is not None:
            proto.write(json.dumps({"ok": False, "error": {**init_error, "requestId": request_id}}) + "\n")
            continue
        os.environ["_X_AMZN_TRACE_ID"] = request.get("trace_id", "")
        try:
            result = handler(request["event"], Context(request))  # type: ignore[misc]
            try:
                body = json.dumps({"ok": True, "result": result})
            except (TypeError, ValueError) as exc:
                body = json.dumps(
                    {
                        "ok": False,
                        "error": {
                            "errorMessage": f"Unable to marshal response: {exc}",
                            "errorType": "Runtime.MarshalError",
                            "requestId": request_id,
                            "stackTrace": [],
                        },
                    }
                )
        except MemoryError:
            body = json.dumps({"ok": False, "oom": True})
        except Exception as exc:
            body = json.dumps(
                {
                    "ok": False,
                    "error": {
                        "errorMessage": str(exc),
                        "errorType": type(exc).__name__,
                        "requestId": request_id,
                        "stackTrace": frames(exc),
                    },
                }
            )
        proto.write(body + "\n")


_BOOTSTRAP = textwrap.dedent(inspect.getsource(_worker_main)) + "\n_worker_main()\n"


class WorkerFailure(Exception):
    """The worker died or was killed: a Lambda runtime error, not a handler exception."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(eq=False)
class _Worker:
    process: asyncio.subprocess.Process
    invocations: int = 0
    init_error: dict[str, Any] | None = None


def _cause(error: Mapping[str, Any]) -> str:
    # Lambda's runtime writes this JSON with json.dumps' default separators, keys in this order.
    ordered = {k: error[k] for k in ("errorMessage", "errorType", "requestId", "stackTrace") if k in error}
    return json.dumps(ordered)


def _runtime_error(error_type: str, message: str, request_id: str) -> ASLError:
    return ASLError(error_type, json.dumps({"errorType": error_type, "errorMessage": message}))


@dataclass
class PoolStats:
    cold_starts: int = 0
    invocations: int = 0
    timeouts: int = 0
    out_of_memory: int = 0
    crashes: int = 0


class FunctionPool:
    """Warm workers of one function; at most `size` run at once, further invocations wait for one."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        size: int = 4,
        extra_env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        memory_poll_seconds: float = 0.02,
        stderr: Any = None,
    ) -> None:
        self.spec = spec
        self.size = size
        self.extra_env = dict(extra_env or {})
        self.python = python
        self.memory_poll_seconds = memory_poll_seconds
        self.stderr = stderr
        self.stats = PoolStats()
        self._idle: list[_Worker] = []
        self._slots = asyncio.Semaphore(size)
        self._all: set[_Worker] = set()
        self._closed = False

    def environment(self) -> dict[str, str]:
        spec = self.spec
        env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
        env.update(
            {
                "LANG": "en_US.UTF-8",
                "TZ": ":UTC",
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "_HANDLER": spec.handler,
                "LAMBDA_TASK_ROOT": str(spec.code_uri),
                "LAMBDA_RUNTIME_DIR": str(Path(sys.prefix)),
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1",
                # As `sam local` sets it: no X-Ray daemon listens here, so Powertools' Tracer stays off
                # instead of wrapping every SDK call in a segment sent to nobody.
                "AWS_SAM_LOCAL": "true",
            }
        )
        env.update(self.extra_env)  # endpoints, region, local credentials
        env.update(spec.environment)  # the function's own variables win, as on Lambda
        return env

    async def _spawn(self) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            self.python,
            "-c",
            _BOOTSTRAP,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self.stderr,
            env=self.environment(),
            cwd=str(self.spec.code_uri),
            limit=64 * 1024 * 1024,  # a response line can be up to Lambda's 6 MB payload, and more
        )
        worker = _Worker(process)
        self._all.add(worker)
        self.stats.cold_starts += 1
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:
            await self._discard(worker)
            raise WorkerFailure(
                "Runtime.ExitError", f"Runtime exited with error: exit status {process.returncode}"
            )
        worker.init_error = json.loads(line).get("init_error")
        return worker

    async def _discard(self, worker: _Worker) -> None:
        self._all.discard(worker)
        with contextlib.suppress(ProcessLookupError):
            worker.process.kill()
        with contextlib.suppress(Exception):
            await worker.process.wait()

    async def invoke(self, event: Any, *, invoked_arn: str | None = None) -> Any:
        """The handler's JSON result, or raise ASLError shaped as Lambda's failure."""
        if self._closed:
            raise ASLError("Lambda.ServiceException", "The function's workers are shut down")
        request_id = str(uuid.uuid4())
        async with self._slots:
            worker = self._idle.pop() if self._idle else None
            if worker is not None and worker.process.returncode is not None:
                await self._discard(worker)
                worker = None
            try:
                if worker is None:
                    worker = await self._spawn()
            except WorkerFailure as failure:
                raise _runtime_error(
                    failure.error_type, f"RequestId: {request_id} Error: {failure}", request_id
                )
            keep = False
            try:
                reply = await self._call(worker, event, request_id, invoked_arn or self.spec.arn)
                keep = not reply.get("oom")
            finally:
                if keep and not self._closed:
                    self._idle.append(worker)
                else:
                    await self._discard(worker)
        self.stats.invocations += 1
        if reply.get("ok"):
            return reply.get("result")
        if reply.get("oom"):  # MemoryError inside the handler: the worker was discarded above
            self.stats.out_of_memory += 1
            raise _runtime_error(
                "Runtime.OutOfMemory",
                f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
                request_id,
            )
        error = reply["error"]
        raise ASLError(str(error["errorType"]), _cause(error))

    async def _call(self, worker: _Worker, event: Any, request_id: str, invoked_arn: str) -> dict[str, Any]:
        process = worker.process
        assert process.stdin is not None and process.stdout is not None
        timeout = float(self.spec.timeout)
        started = time.monotonic()
        request = {
            "request_id": request_id,
            "event": event,
            "invoked_function_arn": invoked_arn,
            "deadline_ms": time.time() * 1000 + timeout * 1000,
            "trace_id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0",
        }
        process.stdin.write((json.dumps(request) + "\n").encode())
        await process.stdin.drain()
        worker.invocations += 1
        reader = asyncio.ensure_future(process.stdout.readline())
        watchdog = asyncio.ensure_future(self._watch_memory(process.pid))
        try:
            done, _ = await asyncio.wait(
                {reader, watchdog}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        except BaseException:
            reader.cancel()
            watchdog.cancel()
            raise  # cancelled (the state's own TimeoutSeconds): the caller discards the worker
        watchdog.cancel()
        if reader in done:
            line = reader.result()
            if line:
                return dict(json.loads(line))
            await process.wait()
            self.stats.crashes += 1
            status = process.returncode
            what = (
                f"signal: {_signal_name(-status)}"
                if status is not None and status < 0
                else f"exit status {status}"
            )
            raise _runtime_error(
                "Runtime.ExitError",
                f"RequestId: {request_id} Error: Runtime exited with error: {what}",
                request_id,
            )
        reader.cancel()
        if watchdog in done:
            self.stats.out_of_memory += 1
            raise _runtime_error(
                "Runtime.OutOfMemory",
                f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
                request_id,
            )
        self.stats.timeouts += 1
        elapsed = max(time.monotonic() - started, timeout)
        raise _runtime_error(
            "Sandbox.Timedout",
            f"RequestId: {request_id} Error: Task timed out after {elapsed:.2f} seconds",
            request_id,
        )

    async def _watch_memory(self, pid: int) -> None:
        """Returns when the worker's resident memory passes MemorySize (Lambda counts what is in use)."""
        limit = self.spec.memory_size * 1024 * 1024
        page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        path = f"/proc/{pid}/statm"
        if not os.path.exists(path):
            await asyncio.Event().wait()  # no /proc (macOS): no watchdog
        while True:
            try:
                with open(path) as f:
                    rss = int(f.read().split()[1]) * page
            except (OSError, ValueError, IndexError):
                await asyncio.Event().wait()
                return
            if rss > limit:
                return
            await asyncio.sleep(self.memory_poll_seconds)

    async def close(self, grace: float = 2.0) -> None:
        """Let idle workers exit on EOF; kill what is still running after `grace` seconds."""
        self._closed = True
        workers = list(self._all)
        self._idle.clear()
        for worker in workers:
            if worker.process.stdin is not None:
                with contextlib.suppress(Exception):
                    worker.process.stdin.close()
        for worker in workers:
            try:
                await asyncio.wait_for(worker.process.wait(), grace)
            except TimeoutError:
                await self._discard(worker)
        self._all.clear()


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name.removeprefix("SIG").lower().replace("kill", "killed")
    except ValueError:
        return str(number)


class LambdaWorkerResolver:
    """TaskResolver for Lambda tasks backed by template functions: a function ARN as Resource, or
    `arn:aws:states:::lambda:invoke` with FunctionName and Payload (answered with `invoke_response`)."""

    def __init__(
        self,
        functions: Mapping[str, FunctionSpec] | list[FunctionSpec],
        *,
        pool_size: int = 4,
        extra_env: Mapping[str, str] | None = None,
        stderr: Any = None,
    ) -> None:
        specs = list(functions.values()) if isinstance(functions, Mapping) else list(functions)
        self.functions = {spec.name: spec for spec in specs}
        self.pool_size = pool_size
        self.extra_env = dict(extra_env or {})
        self.stderr = stderr
        self.pools: dict[str, FunctionPool] = {}

    @classmethod
    def from_stack(cls, stack: Any, endpoints: Any = None, **kwargs: Any) -> LambdaWorkerResolver:
        env = dict(kwargs.pop("extra_env", {}) or {})
        if endpoints is not None:
            env = {**endpoints.environment(), **env}
        return cls(stack.functions, extra_env=env, **kwargs)

    def pool(self, name: str) -> FunctionPool:
        pool = self.pools.get(name)
        if pool is None:
            pool = self.pools[name] = FunctionPool(
                self.functions[name], size=self.pool_size, extra_env=self.extra_env, stderr=self.stderr
            )
        return pool

    def _target(self, request: TaskRequest) -> tuple[str, str] | None:
        kind, service, action = resource_kind(request.resource)
        if kind == "lambda":
            target = request.resource
        elif (
            service == "lambda" and action.split(".")[0] == "invoke" and isinstance(request.parameters, dict)
        ):
            target = str(request.parameters.get("FunctionName", ""))
        else:
            return None
        name = function_name(target)
        if name not in self.functions:
            return None
        return name, target if target.startswith("arn:") else self.functions[name].arn

    def handles(self, request: TaskRequest) -> bool:
        return self._target(request) is not None

    async def invoke(self, request: TaskRequest) -> Any:
        target = self._target(request)
        if target is None:
            raise ASLError("Lambda.ResourceNotFoundException", f"Function not found: {request.resource}")
        name, arn = target
        kind, _, _ = resource_kind(request.resource)
        params: dict[str, Any] = request.parameters if isinstance(request.parameters, dict) else {}
        event = request.parameters if kind == "lambda" else _invoke_payload(params.get("Payload"))
        result = await self.pool(name).invoke(event, invoked_arn=arn)
        if kind == "lambda":
            return result
        return invoke_response(result, log_tail=params.get("LogType") == "Tail")

    async def close(self) -> None:
        await asyncio.gather(*(pool.close() for pool in self.pools.values()))
        self.pools.clear()
