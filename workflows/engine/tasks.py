"""Tasks at the interpreter's seam: the request a resolver gets, task tokens, and a Task state's invocation with its timeouts and heartbeats."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from workflows.asl import errors
from workflows.asl.definition import (
    JSONATA,
    State,
    jsonata_or_value,
)
from workflows.asl.errors import ASLError, StateError
from workflows.asl.jsonpath import PathError, compile_reference
from workflows.asl.payload import check_size, exceeds_limit
from workflows.engine import offload
from workflows.engine.dataflow import DataFlow
from workflows.engine.frame import Frame, _Next, _race, _TaskTimeout
from workflows.engine.history import dumps

if TYPE_CHECKING:
    from workflows.engine.interpreter import ExecutionInfo

DEFAULT_TASK_TIMEOUT = 99999999


@dataclass
class TaskRequest:
    """What a Task state asks its resolver to do."""

    resource: str
    parameters: Any
    state_name: str
    execution: ExecutionInfo
    context: dict[str, Any]
    task_token: str | None = None
    # A token for this attempt that survives a restart (activities hand it to their worker).
    attempt_token: str | None = None
    timeout_seconds: float | None = None
    heartbeat_seconds: float | None = None
    credentials: Any = None
    attempt: int = 0
    # Derived from the execution, the state's entry and the attempt: the same for an attempt that a
    # restart interrupted and goes on, different for a retry. Uuid-shaped, so it fits any API's
    # idempotency member (ClientToken, ClientRequestToken...) and a StartExecution name.
    idempotency_token: str | None = None
    # This attempt was under way when the engine stopped, and is being invoked again after the
    # restart: its work may already have been done.
    resumed: bool = False
    # TestState at TRACE level: a resolver that can show the raw exchange (the HTTP Task) records the
    # request and the response here, with the connection's secrets shown only if reveal_secrets.
    trace: dict[str, Any] | None = None
    reveal_secrets: bool = False
    # Resolvers whose work starts later than scheduling (activities) call this when it starts.
    mark_started: Callable[[dict[str, Any]], None] = field(default=lambda details: None)
    heartbeat: Callable[[], None] = field(default=lambda: None)

    @property
    def service(self) -> str:
        """`lambda`, `sns`, `aws-sdk:s3`, `activity`, ... (see `resource_kind`)."""
        return resource_kind(self.resource)[1]

    @property
    def action(self) -> str:
        return resource_kind(self.resource)[2]


class TaskResolver(Protocol):
    async def invoke(self, request: TaskRequest) -> Any:
        """The task's result, or raise ASLError(error, cause)."""
        ...


class CallbackRegistry:
    """Task tokens of `.waitForTaskToken` tasks; SendTaskSuccess/Failure/Heartbeat complete them."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._beats: dict[str, asyncio.Event] = {}
        self._owners: dict[str, str] = {}
        self.on_register: Callable[[str], None] | None = None
        # A durable answer to a token (the service records SendTaskSuccess/Failure before it replies):
        # None, {"output": ...} or {"error": ..., "cause": ...}. An attempt resumed after a restart
        # whose token was answered takes that answer instead of doing its work again.
        self.recorded: Callable[[str], dict[str, Any] | None] | None = None
        # With a secret (kept by the store), tokens are derived, so they survive a restart; an HMAC
        # keeps them unguessable. Without one they are random.
        self.secret = secret

    def token_for(self, execution_arn: str, entered_id: int | str, attempt: int) -> str:
        if self.secret is None:
            return uuid.uuid4().hex + uuid.uuid4().hex
        digest = hmac.new(self.secret, f"{execution_arn}|{entered_id}|{attempt}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")

    def answer(self, token: str) -> dict[str, Any] | None:
        return self.recorded(token) if self.recorded is not None else None

    def register(self, token: str, execution_arn: str = "") -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        self._owners[token] = execution_arn
        self._beats[token] = asyncio.Event()
        if self.on_register is not None:
            self.on_register(token)
        return future

    def forget(self, token: str) -> None:
        self._waiting.pop(token, None)
        self._beats.pop(token, None)
        self._owners.pop(token, None)

    def owner(self, token: str) -> str:
        """The execution waiting on this token ("" if none)."""
        return self._owners.get(token, "")

    def known(self, token: str) -> bool:
        return token in self._waiting

    def complete(self, token: str, output: Any) -> bool:
        future = self._waiting.get(token)
        if future is None or future.done():
            return False
        future.get_loop().call_soon_threadsafe(_settle, future, output, None)
        return True

    def fail(self, token: str, error: str | None, cause: str | None) -> bool:
        future = self._waiting.get(token)
        if future is None or future.done():
            return False
        future.get_loop().call_soon_threadsafe(_settle, future, None, ASLError(error or "", cause))
        return True

    def heartbeat(self, token: str) -> bool:
        beat = self._beats.get(token)
        if beat is None:
            return False
        future = self._waiting[token]
        future.get_loop().call_soon_threadsafe(beat.set)
        return True

    def beat_event(self, token: str) -> asyncio.Event | None:
        return self._beats.get(token)


def recorded_outcome(answer: dict[str, Any]) -> Any:
    """A recorded answer to a task token: its output, or its error raised."""
    if "output" in answer:
        return answer["output"]
    raise ASLError(answer.get("error") or "", answer.get("cause"))


def idempotency_token(execution_arn: str, site: int | str, attempt: int) -> str:
    """A uuid-shaped token for one attempt of one Task of one execution (see TaskRequest)."""
    digest = hashlib.sha256(f"{execution_arn}|{site}|{attempt}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _settle(future: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(value)


def resource_kind(resource: str) -> tuple[str, str, str]:
    """(kind, service, action) of a Task resource.

    kind: `lambda` (a function ARN), `activity`, `service` (`arn:aws:states:::svc:action[.pattern]`)."""
    parts = resource.split(":")
    if len(parts) >= 6 and parts[2] == "lambda" and parts[5] == "function":
        return "lambda", "lambda", "invoke"
    if len(parts) >= 6 and parts[2] == "states" and parts[5] == "activity":
        return "activity", "activity", parts[6] if len(parts) > 6 else ""
    if len(parts) >= 7 and parts[2] == "states" and parts[3] == "" and parts[4] == "":
        if parts[5] == "aws-sdk":
            return "service", f"aws-sdk:{parts[6]}", ":".join(parts[7:])
        return "service", parts[5], ":".join(parts[6:])
    return "unknown", resource, ""


class TaskInvocation(DataFlow):
    """Tasks at the interpreter's seam: the request a resolver gets, task tokens, and a Task state's invocation with its timeouts and heartbeats."""

    def _next_attempt(self, frame: Frame) -> int:
        """The index of this attempt of the current Task (0, then one more for each retry)."""
        site = frame.site
        attempt = self._tokens_issued.get(site, -1) + 1
        self._tokens_issued[site] = attempt
        return attempt

    def _task_token(self, frame: Frame, attempt: int) -> str:
        """The token of this attempt of the current Task: derived from the execution, the state's entry
        and the attempt, so the same attempt has the same token after a restart."""
        return self.interpreter.callbacks.token_for(self.info.execution_arn, frame.site, attempt)

    async def _invoke(self, state: State, parameters: Any, frame: Frame, value: Any, attempt: int) -> Any:
        resolver = self.interpreter.resolver
        resource = state.resource or ""
        kind, service, action = resource_kind(resource)
        spec = state.spec
        timeout = await offload.evaluate(self._seconds, state, "TimeoutSeconds", value, frame)
        heartbeat = await offload.evaluate(self._seconds, state, "HeartbeatSeconds", value, frame)
        token: str | None = None
        if action.endswith(".waitForTaskToken"):
            task = frame.context.get("Task") or {}
            token = task.get("Token") or str(uuid.uuid4())
        base: dict[str, Any] = {}
        if kind in ("lambda", "activity"):
            scheduled: dict[str, Any] = {
                "resource": resource,
                "input": parameters,
                "inputDetails": {"truncated": False},
            }
            prefix = "LambdaFunction" if kind == "lambda" else "Activity"
        else:
            base = {"resourceType": service, "resource": action}
            scheduled = {**base, "region": self.info.region, "parameters": dumps(parameters)}
            prefix = "Task"
        if timeout is not None:
            scheduled["timeoutInSeconds"] = int(timeout)
        if heartbeat is not None and kind != "lambda":  # a Lambda function has no heartbeat
            scheduled["heartbeatInSeconds"] = int(heartbeat)
        # An attempt a restart interrupted was scheduled (and perhaps started) before: it goes on
        # without being recorded again.
        reattach = self._reattach.pop(frame.entered_id, None) if self._reattach and frame.log_events else None
        if reattach is None:
            self._emit(frame, prefix + "Scheduled", scheduled)
        started = bool(reattach)

        def mark_started(details: dict[str, Any]) -> None:
            nonlocal started
            if not started:
                started = True
                self._emit(frame, prefix + "Started", {**base, **details} if (base or details) else None)

        if kind != "activity":
            mark_started({})
        if resolver is None:
            raise ASLError(errors.RUNTIME, f"No task resolver for resource {resource}")
        request = TaskRequest(
            resource=resource,
            parameters=parameters,
            state_name=state.name,
            execution=self.info,
            context=frame.context,
            task_token=token,
            attempt_token=token or (self._task_token(frame, attempt) if kind == "activity" else None),
            timeout_seconds=timeout,
            heartbeat_seconds=heartbeat,
            credentials=spec.get("Credentials"),
            attempt=attempt,
            idempotency_token=idempotency_token(self.info.execution_arn, frame.site, attempt),
            resumed=reattach is not None,
            mark_started=mark_started,
        )
        await self.sink.flush()
        try:
            result = await self._invoke_with_limits(resolver, request, timeout, heartbeat, token)
        except _TaskTimeout as exc:
            self._emit(frame, prefix + "TimedOut", {**base, "error": exc.error})
            raise ASLError(exc.error, None)
        except ASLError as err:
            details = dict(base)
            details["error"] = err.error
            if err.cause is not None:
                details["cause"] = err.cause
            self._emit(frame, prefix + "Failed", details)
            raise
        finally:
            if "Task" in frame.context:
                frame.context = {k: v for k, v in frame.context.items() if k != "Task"}
        if exceeds_limit(result):
            # AWS names the resource here (the function ARN, or the integration's service) and
            # records the task as failed.
            too_large = ASLError(
                errors.DATA_LIMIT_EXCEEDED,
                f"The state/task '{resource if kind != 'service' else service}' returned a result with a size "
                "exceeding the maximum number of bytes service limit.",
            )
            self._emit(frame, prefix + "Failed", {**base, "error": too_large.error, "cause": too_large.cause})
            raise too_large
        self._emit(
            frame, prefix + "Succeeded", {**base, "output": result, "outputDetails": {"truncated": False}}
        )
        return result

    async def _invoke_with_limits(
        self,
        resolver: TaskResolver,
        request: TaskRequest,
        timeout: float | None,
        heartbeat: float | None,
        token: str | None,
    ) -> Any:
        async def work() -> Any:
            if token is None:
                return await resolver.invoke(request)
            callbacks = self.interpreter.callbacks
            if request.resumed:
                answer = callbacks.answer(token)
                if answer is not None:  # answered before the restart: the work is not done again
                    return recorded_outcome(answer)
            future = callbacks.register(token, self.info.execution_arn)
            try:
                await resolver.invoke(request)
                if heartbeat is None:
                    return await future
                return await self._await_with_heartbeat(future, token, heartbeat)
            finally:
                callbacks.forget(token)

        limit = timeout if timeout is not None else DEFAULT_TASK_TIMEOUT
        return await _race(work(), self.clock.sleep(float(limit)), lambda: _TaskTimeout(errors.TIMEOUT))

    async def _await_with_heartbeat(self, future: asyncio.Future[Any], token: str, heartbeat: float) -> Any:
        beat = self.interpreter.callbacks.beat_event(token)
        while True:
            waiter = asyncio.ensure_future(asyncio.shield(future))
            sleeper = asyncio.ensure_future(self.clock.sleep(heartbeat))
            beat_wait = asyncio.ensure_future(beat.wait()) if beat else None
            pending = [waiter, sleeper] + ([beat_wait] if beat_wait else [])
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                if t not in done:
                    t.cancel()
            if waiter in done:
                return waiter.result()
            if beat_wait is not None and beat_wait in done:
                assert beat is not None
                beat.clear()
                continue
            raise _TaskTimeout(errors.HEARTBEAT_TIMEOUT)

    def _seconds(self, state: State, name: str, value: Any, frame: Frame) -> float | None:
        spec = state.spec
        if name in spec:
            raw = spec[name]
            if state.query_language == JSONATA:
                raw = jsonata_or_value(raw, name, self._bindings(value, frame))
            return float(raw)
        path_name = name + "Path"
        if path_name in spec:
            path = compile_reference(spec[path_name])
            try:
                raw = path.read(value, frame)
            except PathError as exc:
                raise StateError(errors.RUNTIME, f"Invalid path '{spec[path_name]}' : {exc.message}")
            if not isinstance(raw, int | float) or isinstance(raw, bool) or raw <= 0:
                raise StateError(
                    errors.RUNTIME, f"The {path_name} parameter must be a positive integer: {raw}"
                )
            return float(raw)
        return None

    async def run_task(self, state: State, value: Any, frame: Frame) -> _Next:
        attempt = self._next_attempt(frame)
        if state.resource is not None and state.resource.endswith(".waitForTaskToken"):
            # The token exists before Parameters/Arguments are evaluated: they pass `$$.Task.Token` on.
            frame.context = {**frame.context, "Task": {"Token": self._task_token(frame, attempt)}}
        # Evaluations go through `offload`: one that outgrows its slice of the event loop finishes on a
        # worker thread.
        if state.query_language == JSONATA:
            bindings = self._bindings(value, frame)
            parameters = (
                await offload.evaluate(state.arguments, bindings) if state.arguments is not None else value
            )
            check_size(parameters, state.name)
            result = await self._invoke(state, parameters, frame, value, attempt)
            return await offload.evaluate(self._jsonata_result, state, value, result, frame, result)
        effective = self._input_path(state, value, frame)
        if state.parameters is not None:
            parameters = await offload.evaluate(state.parameters, effective, frame)
            check_size(parameters, state.name)
        else:
            parameters = effective
        result = await self._invoke(state, parameters, frame, value, attempt)
        return await offload.evaluate(self._jsonpath_result, state, value, effective, result, frame)
