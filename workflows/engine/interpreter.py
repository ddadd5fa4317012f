"""The ASL interpreter: runs a compiled definition, records AWS-shaped history, knows only its seams.

Seams: a Clock (time), a TaskResolver (what a Task's Resource does), a CallbackRegistry (task tokens)
and an EventSink (where history events go). Nothing here knows SQLite, HTTP or boto3.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from workflows.asl import errors
from workflows.asl.definition import (
    JSONATA,
    MAX_PAYLOAD_BYTES,
    Catcher,
    Definition,
    State,
    StateMachine,
    compile_jsonata,
    jsonata_or_value,
    parse_timestamp,
)
from workflows.asl.errors import ASLError, FailStateError, StateError
from workflows.asl.jsonata_eval import evaluate_field, expression_text
from workflows.asl.jsonpath import Path, PathError, Reference, compile_reference, set_path
from workflows.engine.clock import Clock, SystemClock
from workflows.engine.history import EventLog, HistoryEvent, dumps

DEFAULT_TASK_TIMEOUT = 99999999
MAX_HISTORY_EVENTS = 25_000
log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------------
# Values at the seams


@dataclass(frozen=True)
class ExecutionInfo:
    execution_arn: str
    name: str
    state_machine_arn: str
    state_machine_name: str
    role_arn: str = "arn:aws:iam::123456789012:role/workflows-local"
    start_time: float = 0.0
    redrive_count: int = 0
    state_machine_type: str = "STANDARD"
    state_machine_version_arn: str | None = None
    state_machine_alias_arn: str | None = None

    @property
    def region(self) -> str:
        parts = self.execution_arn.split(":")
        return parts[3] if len(parts) > 3 and parts[3] else "us-east-1"

    @property
    def account(self) -> str:
        parts = self.execution_arn.split(":")
        return parts[4] if len(parts) > 4 and parts[4] else "123456789012"


@dataclass(frozen=True)
class Outcome:
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    output: Any = None
    error: str | None = None
    cause: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.status == "SUCCEEDED":
            out["output"] = self.output
        if self.error is not None:
            out["error"] = self.error
        if self.cause is not None:
            out["cause"] = self.cause
        return out


class EventSink(Protocol):
    """Where history goes. A sink may also define `map_run(record)` to keep Distributed Map runs."""

    def emit(self, event: HistoryEvent) -> None: ...

    async def flush(self) -> None: ...


class MemorySink:
    """Keeps nothing beyond the run's own event list; the sink for in-process runs."""

    def emit(self, event: HistoryEvent) -> None:
        pass

    async def flush(self) -> None:
        pass


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
        self.on_register: Callable[[str], None] | None = None
        # With a secret (kept by the store), tokens are derived, so they survive a restart; an HMAC
        # keeps them unguessable. Without one they are random.
        self.secret = secret

    def token_for(self, execution_arn: str, entered_id: int, attempt: int) -> str:
        if self.secret is None:
            return uuid.uuid4().hex + uuid.uuid4().hex
        digest = hmac.new(self.secret, f"{execution_arn}|{entered_id}|{attempt}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")

    def register(self, token: str) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        self._beats[token] = asyncio.Event()
        if self.on_register is not None:
            self.on_register(token)
        return future

    def forget(self, token: str) -> None:
        self._waiting.pop(token, None)
        self._beats.pop(token, None)

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


# ---------------------------------------------------------------------------------------------------------
# Runtime frames


class Frame:
    """One thread of control: the execution, a Parallel branch or a Map iteration."""

    __slots__ = ("context", "entered_at", "entered_id", "interleave", "log_events", "prev", "variables")

    def __init__(
        self, context: dict[str, Any], variables: dict[str, Any], prev: int, log_events: bool = True
    ):
        self.context = context
        self.variables = variables
        self.prev = prev
        self.log_events = log_events
        # Parallel branches take turns after each state entry, so their events interleave as AWS's
        # do (every branch's first state is entered before any exits).
        self.interleave = False
        self.entered_at = 0.0  # when the current state was entered (a resumed Wait keeps its deadline)
        self.entered_id = 0  # its StateEntered event (task tokens are derived from it)

    def child(self, context: dict[str, Any], prev: int, log_events: bool | None = None) -> Frame:
        return Frame(
            context, dict(self.variables), prev, self.log_events if log_events is None else log_events
        )


class _Next:
    """A state's outcome: its output and the next state (None: the machine ends)."""

    __slots__ = ("assigned", "next", "output")

    def __init__(self, output: Any, next: str | None, assigned: dict[str, Any] | None = None) -> None:
        self.output = output
        self.next = next
        self.assigned = assigned


def _iso(epoch: float) -> str:
    # Every state entry stamps the context object; under a fake clock (and often a real one) time
    # has not moved since the last state, so the last text is reused.
    global _last_iso
    last = _last_iso
    if last[0] == epoch:
        return last[1]
    text = datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    _last_iso = (epoch, text)
    return text


_last_iso: tuple[float, str] = (float("nan"), "")

# Compiled Assign templates of the compiled states, by identity (the spec dicts live as long as
# their definition, which the entry keeps alive).
_ASSIGN_TEMPLATES: dict[int, tuple[Any, Callable[[Any, Any], Any]]] = {}


def _assign_template(assign: Any) -> Callable[[Any, Any], Any]:
    entry = _ASSIGN_TEMPLATES.get(id(assign))
    if entry is None or entry[0] is not assign:
        from workflows.asl.definition import compile_payload

        if len(_ASSIGN_TEMPLATES) > 4096:
            _ASSIGN_TEMPLATES.clear()
        entry = _ASSIGN_TEMPLATES[id(assign)] = (assign, compile_payload(assign))
    return entry[1]


def _error_matches(equals: tuple[str, ...], error: str) -> bool:
    for name in equals:
        if name == error:
            return True
        if name == errors.ALL and error not in errors.NOT_CAUGHT_BY_ALL:
            return True
        if (
            name == errors.TASK_FAILED
            and error not in errors.NOT_CAUGHT_BY_ALL
            and not error.startswith("States.")
        ):
            return True
    return False


_STATE_PREFIX_MARK = "An error occurred while executing the state"
# State types that can be interrupted, with a `<Type>StateAborted` history event.
_ABORTABLE = frozenset({"Task", "Wait", "Map", "Parallel"})


# ---------------------------------------------------------------------------------------------------------
# The interpreter


class Interpreter:
    def __init__(
        self,
        definition: Definition,
        *,
        resolver: TaskResolver | None = None,
        clock: Clock | None = None,
        callbacks: CallbackRegistry | None = None,
    ) -> None:
        self.definition = definition
        self.resolver = resolver
        self.clock: Clock = clock or SystemClock()
        self.callbacks = callbacks or CallbackRegistry()

    def start(
        self,
        info: ExecutionInfo,
        input_value: Any,
        sink: EventSink | None = None,
        history: list[HistoryEvent] | None = None,
    ) -> ExecutionRun:
        run = ExecutionRun(self, info, input_value, sink or MemorySink(), history)
        run.task = asyncio.ensure_future(run.main())
        return run

    async def run(self, info: ExecutionInfo, input_value: Any, sink: EventSink | None = None) -> ExecutionRun:
        run = self.start(info, input_value, sink)
        await run.wait()
        return run


class ExecutionRun:
    """One execution in progress: its history, and the outcome once it ends."""

    # TestState's inspection data (workflows/teststate.py): when a dict, the processing steps that
    # have no method boundary of their own record their values in it. A class attribute, so an
    # execution pays one attribute read at those steps and nothing else.
    inspect: dict[str, Any] | None = None

    def __init__(
        self,
        interpreter: Interpreter,
        info: ExecutionInfo,
        input_value: Any,
        sink: EventSink,
        history: list[HistoryEvent] | None,
    ) -> None:
        self.interpreter = interpreter
        self.machine = interpreter.definition.machine
        self.info = info
        self.input = input_value
        self.sink = sink
        self.clock = interpreter.clock
        self.log = EventLog(self.clock.now, sink.emit)
        self.prior = history or []
        self.task: asyncio.Future[Outcome] | None = None
        self.outcome: Outcome | None = None
        self._stop: tuple[str | None, str | None] | None = None
        self._resume_entry: tuple[int, int, float] | None = None
        self._tokens_issued: dict[int, int] = {}  # StateEntered id -> task tokens issued for it
        self._shutting_down = False
        self._map_resume: _MapProgress | None = None  # an inline Map a restart interrupted
        self._parallel_resume: _ParallelProgress | None = None  # a Parallel a restart interrupted

    @property
    def events(self) -> list[HistoryEvent]:
        return self.log.events

    async def wait(self) -> Outcome:
        assert self.task is not None
        return await asyncio.shield(self.task)

    def stop(self, error: str | None = None, cause: str | None = None) -> None:
        """StopExecution: the run ends ABORTED, its running states recorded as aborted."""
        if self.task is not None and not self.task.done():
            self._stop = (error, cause)
            self.task.cancel()

    def shutdown(self) -> None:
        """The engine is stopping: end this run without recording anything, so that it resumes from
        its history on the next start (a shutdown is not a StopExecution)."""
        if self.task is not None and not self.task.done():
            self._shutting_down = True
            self.task.cancel()

    # ----- the run loop ---------------------------------------------------------------------------------

    async def main(self) -> Outcome:
        context = self._context_base()
        frame = Frame(context, {}, 0)
        value = self.input
        start_at: str | None = self.machine.start_at
        entry: tuple[int, int, float] | None = None
        if self.prior:
            try:
                start_at, value, frame = self._resume(frame)
                entry = self._resume_entry
            except _Resumed as done:  # the last state had finished: only the closing event is missing
                return await self._finish("SUCCEEDED", frame, output=done.output)
        else:
            self.log.add(
                "ExecutionStarted",
                {"input": self.input, "inputDetails": {"truncated": False}, "roleArn": self.info.role_arn},
                previous=0,
            )
            frame.prev = 0
        try:
            output = await self._with_execution_timeout(
                self._run_machine(self.machine, value, frame, start_at, entry)
            )
        except FailStateError as err:
            return await self._finish("FAILED", frame, error=err.error, cause=err.cause)
        except ASLError as err:
            return await self._finish("FAILED", frame, error=err.error, cause=err.cause)
        except _ExecutionTimeout:
            return await self._finish("TIMED_OUT", frame, error="States.Timeout", cause=None)
        except asyncio.CancelledError:
            if self._stop is None:  # not a StopExecution (a shutdown): nothing to record
                raise
            error, cause = self._stop
            return await self._finish("ABORTED", frame, error=error, cause=cause)
        except Exception as exc:  # a fault of the engine itself: the execution still ends, and says why
            log.exception("execution %s failed inside the engine", self.info.execution_arn)
            return await self._finish(
                "FAILED",
                frame,
                error=errors.RUNTIME,
                cause=f"Internal error in the engine: {type(exc).__name__}: {exc}",
            )
        return await self._finish("SUCCEEDED", frame, output=output)

    async def _finish(
        self,
        status: str,
        frame: Frame,
        *,
        output: Any = None,
        error: str | None = None,
        cause: str | None = None,
    ) -> Outcome:
        if status == "SUCCEEDED":
            self.log.add(
                "ExecutionSucceeded",
                {"output": output, "outputDetails": {"truncated": False}},
                previous=frame.prev,
            )
        else:
            details: dict[str, Any] = {}
            if error is not None:
                details["error"] = error
            if cause is not None:
                details["cause"] = cause
            kind = {
                "FAILED": "ExecutionFailed",
                "TIMED_OUT": "ExecutionTimedOut",
                "ABORTED": "ExecutionAborted",
            }
            self.log.add(kind[status], details, previous=frame.prev)
        self.outcome = Outcome(status, output, error, cause)
        with contextlib.suppress(Exception):
            await self.sink.flush()
        return self.outcome

    async def _with_execution_timeout(self, work: Awaitable[Any]) -> Any:
        timeout = self.machine.timeout_seconds
        if not timeout:
            return await work
        # Counted from the execution's start, so a resumed execution keeps its original deadline.
        elapsed = max(0.0, self.clock.now() - self.info.start_time) if self.info.start_time else 0.0
        return await _race(work, self.clock.sleep(float(timeout) - elapsed), _ExecutionTimeout)

    def _context_base(self) -> dict[str, Any]:
        info = self.info
        execution: dict[str, Any] = {
            "Id": info.execution_arn,
            "Input": self.input,
            "StartTime": _iso(info.start_time or self.clock.now()),
            "Name": info.name,
            "RoleArn": info.role_arn,
            "RedriveCount": info.redrive_count,
        }
        return {
            "Execution": execution,
            "StateMachine": {"Id": info.state_machine_arn, "Name": info.state_machine_name},
        }

    def _resume(self, frame: Frame) -> tuple[str | None, Any, Frame]:
        """Continue after a restart: replay the recorded events, restart the last top-level state."""
        for event in self.prior:
            self.log.events.append(event)
        self.log.last_id = self.prior[-1].id
        top = _top_level_events(self.prior, self.machine)
        variables: dict[str, Any] = {}
        for event in top:
            if event.type.endswith("StateExited") and event.details and "assignedVariables" in event.details:
                for name, text in event.details["assignedVariables"].items():
                    variables[name] = _loads(text)
        frame.variables = variables
        frame.prev = self.log.last_id
        last = top[-1] if top else None
        if last is None or last.type == "ExecutionStarted":
            return self.machine.start_at, self.input, frame
        assert last.details is not None
        name = last.details["name"]
        if last.type.endswith("StateEntered"):
            redriven = any(e.type == "ExecutionRedriven" for e in self.prior if e.id > last.id)
            if not redriven:  # a crash: the state was entered once and stays entered
                self._resume_entry = (last.previous_event_id, last.id, last.timestamp)
                if last.type == "MapStateEntered":
                    self._map_resume = _MapProgress.read(name, self.prior, last.id)
                elif last.type == "ParallelStateEntered":
                    self._parallel_resume = _ParallelProgress.read(
                        self.machine.states[name], self.prior, last.id
                    )
            return name, last.details["input"], frame
        state = self.machine.states[name]
        output = last.details["output"]
        nxt = state.next
        if state.type == "Choice":
            nxt = self._choose_again(state, output, frame)
        if state.end or state.type in ("Succeed",) or nxt is None:
            raise _Resumed(output)
        return nxt, output, frame

    def _task_token(self, frame: Frame) -> str:
        """The token of this attempt of the current Task: derived from the execution, the state's entry
        and the attempt, so the same attempt has the same token after a restart."""
        attempt = self._tokens_issued.get(frame.entered_id, -1) + 1
        self._tokens_issued[frame.entered_id] = attempt
        return self.interpreter.callbacks.token_for(self.info.execution_arn, frame.entered_id, attempt)

    def _scheduled_since(self, entered_id: int) -> int:
        """How many times the state entered at `entered_id` had scheduled its work before the restart."""
        thread = {entered_id}
        count = 0
        for event in self.prior:
            if event.id > entered_id and event.previous_event_id in thread:
                thread.add(event.id)
                count += event.type.endswith("Scheduled")
        return count

    async def _resume_thread(
        self, machine: StateMachine, value: Any, frame: Frame, events: list[HistoryEvent]
    ) -> Any:
        """Finish a Map iteration a restart interrupted: from its last recorded state, as `_resume`
        does for the execution (variables it assigned are restored; its current state is not entered again)."""
        top = _top_level_events(events, machine)
        for event in top:
            if event.type.endswith("StateExited") and event.details and "assignedVariables" in event.details:
                for key, text in event.details["assignedVariables"].items():
                    frame.variables[key] = _loads(text)
        last = top[-1] if top else None
        if last is None or last.details is None:
            return await self._run_machine(machine, value, frame)
        name = last.details["name"]
        if last.type.endswith("StateEntered"):
            entry = (last.previous_event_id, last.id, last.timestamp)
            return await self._run_machine(machine, last.details["input"], frame, name, entry)
        state = machine.states[name]
        output = last.details["output"]
        nxt = self._choose_again(state, output, frame) if state.type == "Choice" else state.next
        if state.end or state.type == "Succeed" or nxt is None:
            return output
        return await self._run_machine(machine, output, frame, nxt)

    def _choose_again(self, state: State, output: Any, frame: Frame) -> str | None:
        for rule in state.choices:
            if rule.predicate is not None and rule.predicate(output, frame):
                return rule.next
        return state.default

    async def _run_machine(
        self,
        machine: StateMachine,
        value: Any,
        frame: Frame,
        start_at: str | None = None,
        entry: tuple[int, int, float] | None = None,
    ) -> Any:
        name = start_at or machine.start_at
        states = machine.states
        if entry is not None:  # finish the state a restart interrupted, without entering it again
            step = await self._run_state(states[name], value, frame, entry)
            if step.next is None:
                return step.output
            value, name = step.output, step.next
        while True:
            state = states[name]
            # States that never wait run without a coroutine of their own; Retry is what Task,
            # Parallel and Map (the awaiting kinds) add, so a state with retriers takes the full path.
            if state.type in _SYNC_HANDLERS and not state.retry and not frame.interleave:
                step = self._run_sync_state(state, value, frame)
            else:
                step = await self._run_state(state, value, frame)
            value = step.output
            if step.next is None:
                return value
            name = step.next

    # ----- one state --------------------------------------------------------------------------------------

    def _emit(
        self,
        frame: Frame,
        type: str,
        details: dict[str, Any] | None = None,
        advance: bool = True,
        latest: bool = False,
    ) -> int:
        """Record an event after the frame's last one. AWS links a few closing markers differently:
        an iteration's close does not move its Map on (the next iteration links to the event before
        it), and a Map or Parallel that succeeded links to the very latest event without moving on."""
        if not frame.log_events:
            return frame.prev
        event_id = self.log.add(type, details, previous=self.log.last_id if latest else frame.prev)
        if advance:
            frame.prev = event_id
        return event_id

    def _enter(self, state: State, value: Any, frame: Frame) -> tuple[int, int]:
        """Record the state's entry and stamp the context; (the event before it, its own id)."""
        if self.log.last_id >= MAX_HISTORY_EVENTS - 1:
            # AWS fails an execution whose history reaches its quota; leave room for the closing event.
            raise ASLError(
                errors.RUNTIME,
                f"The execution reached the maximum number of history events ({MAX_HISTORY_EVENTS}).",
            )
        entered_prev = frame.prev
        entered = self._emit(
            frame,
            state.type + "StateEntered",
            {"name": state.name, "input": value, "inputDetails": {"truncated": False}},
        )
        self._stamp(state, frame, self.clock.now(), entered)
        return entered_prev, entered

    def _stamp(self, state: State, frame: Frame, entered_at: float, entered_id: int) -> None:
        # The context object is replaced, never mutated: `$$` values may already sit in outputs.
        frame.entered_at = entered_at
        frame.entered_id = entered_id
        frame.context = {**frame.context, "State": {"Name": state.name, "EnteredTime": _iso(entered_at)}}

    def _run_sync_state(self, state: State, value: Any, frame: Frame) -> _Next:
        """`_run_state` for a state that never awaits and has no retriers."""
        entered_prev, entered = self._enter(state, value, frame)
        try:
            step = _SYNC_HANDLERS[state.type](self, state, value, frame)
        except ASLError as err:
            err = self._state_failed(state, err, frame, entered, entered_prev)
            catcher = self._catcher(state, err)
            if catcher is None:
                raise err
            step = self._caught(state, catcher, err, value, frame)
        self._exit(state, step, frame)
        return step

    async def _run_state(
        self, state: State, value: Any, frame: Frame, entry: tuple[int, int, float] | None = None
    ) -> _Next:
        if entry is None:
            entered_prev, entered = self._enter(state, value, frame)
        else:  # resumed after a restart: the state was entered before, at entry's time
            entered_prev, entered, entered_at = entry
            self._stamp(state, frame, entered_at, entered)
            # The interrupted attempt is invoked again with the token it had, so a worker holding it
            # can still answer.
            # (the last attempt index issued was `scheduled - 1`; the next token reuses it)
            self._tokens_issued[entered] = max(-1, self._scheduled_since(entered) - 2)
        if frame.interleave:
            await asyncio.sleep(0)
        handler = _HANDLERS[state.type]
        attempts = [0] * len(state.retry)
        retry_count = 0
        while True:
            try:
                if state.retry:
                    frame.context = {
                        **frame.context,
                        "State": {**frame.context["State"], "RetryCount": retry_count},
                    }
                step = await handler(self, state, value, frame)
                break
            except ASLError as err:
                err = self._state_failed(state, err, frame, entered, entered_prev)
                delay = self._retry_delay(state, err, attempts)
                if delay is not None:
                    retry_count += 1
                    await self.clock.sleep(delay)
                    continue
                closing = getattr(err, "closing", None)
                if closing is not None:
                    # A Map or Parallel that will not be retried records its failure; a retried one
                    # simply starts again.
                    self._emit(frame, closing)
                catcher = self._catcher(state, err)
                if catcher is None:
                    if frame.interleave and state.type in _ABORTABLE:
                        # An error leaving a Parallel branch aborts the state it left (AWS records it).
                        self._emit(frame, state.type + "StateAborted", advance=False)
                    raise err
                step = self._caught(state, catcher, err, value, frame)
                break
            except asyncio.CancelledError:
                # Stopped (StopExecution, or a sibling branch or iteration failed) while running.
                if state.type in _ABORTABLE and not self._shutting_down:
                    self._emit(frame, state.type + "StateAborted", advance=False)
                raise
        self._exit(state, step, frame)
        return step

    def _state_failed(
        self, state: State, err: ASLError, frame: Frame, entered: int, entered_prev: int
    ) -> ASLError:
        """The error as the state reports it; raises it when neither Retry nor Catch may see it."""
        if isinstance(err, StateError) and not (err.cause or "").startswith(_STATE_PREFIX_MARK):
            err = StateError(
                err.error,
                f"{_STATE_PREFIX_MARK} '{state.name}' (entered at the event id #{entered}). {err.cause}",
                err.location,
            )
            if err.error == errors.QUERY_EVALUATION_ERROR:
                # AWS links a Wait's evaluation failure to its entry, other states' to the event before.
                self._evaluation_failed(state, err, frame, entered if state.type == "Wait" else entered_prev)
        if isinstance(err, FailStateError) or err.error == errors.RUNTIME:
            raise err
        return err

    def _exit(self, state: State, step: _Next, frame: Frame) -> None:
        if step.assigned:
            # Assign sees the variables as they were when the state started; the new values are
            # visible from the next state on.
            frame.variables.update(step.assigned)
        details: dict[str, Any] = {
            "name": state.name,
            "output": step.output,
            "outputDetails": {"truncated": False},
        }
        if step.assigned:
            details["assignedVariables"] = {k: dumps(v) for k, v in step.assigned.items()}
            details["assignedVariablesDetails"] = {"truncated": False}
        self._emit(frame, state.type + "StateExited", details)

    def _map_run(self, record: dict[str, Any]) -> None:
        """Tell the sink about a Distributed Map's Map Run (for ListMapRuns / DescribeMapRun), if it asks."""
        report = getattr(self.sink, "map_run", None)
        if report is not None:
            report(dict(record))

    def _map_run_ended(self, record: dict[str, Any] | None, status: str, total: int, failed: int) -> None:
        if record is None:
            return
        counts = _map_run_counts(total, total - failed, failed)
        self._map_run(
            {
                **record,
                "status": status,
                "stopDate": self.clock.now(),
                "itemCounts": counts,
                "executionCounts": counts,
            }
        )

    def _evaluation_failed(self, state: State, err: StateError, frame: Frame, previous: int) -> None:
        """AWS records a failed JSONata evaluation as its own event, linked to the state's entry."""
        if not frame.log_events:
            return
        details: dict[str, Any] = {"error": err.error, "cause": err.cause}
        if err.location:
            details["location"] = err.location
        details["state"] = state.name
        frame.prev = self.log.add("EvaluationFailed", details, previous=previous)
        if state.type == "Map":
            self._emit(frame, "MapStateFailed")

    def _retry_delay(self, state: State, err: ASLError, attempts: list[int]) -> float | None:
        for i, retrier in enumerate(state.retry):
            if _error_matches(retrier.error_equals, err.error):
                if attempts[i] >= retrier.max_attempts:
                    return None
                attempts[i] += 1
                delay = retrier.interval_seconds * retrier.backoff_rate ** (attempts[i] - 1)
                if retrier.max_delay_seconds is not None:
                    delay = min(delay, retrier.max_delay_seconds)
                if retrier.jitter == "FULL":
                    delay = random.uniform(0, delay)
                return delay
        return None

    def _catcher(self, state: State, err: ASLError) -> Catcher | None:
        for catcher in state.catch:
            if _error_matches(catcher.error_equals, err.error):
                return catcher
        return None

    def _caught(self, state: State, catcher: Catcher, err: ASLError, value: Any, frame: Frame) -> _Next:
        # A catcher always sees a Cause, empty when the error had none (a timeout, for one).
        error_output: dict[str, Any] = {
            "Error": err.error,
            "Cause": err.cause if err.cause is not None else "",
        }
        if state.query_language == JSONATA:
            bindings = self._bindings(value, frame, errorOutput=error_output)
            output = catcher.output(bindings) if catcher.has_output else error_output
            assigned = self._assign_jsonata(catcher.assign, bindings, frame)
            return _Next(output, catcher.next, assigned)
        assigned = self._assign_jsonpath(catcher.assign, error_output, frame)
        output = self._result_path(catcher.result_path, catcher.result_path_null, value, error_output)
        return _Next(output, catcher.next, assigned)

    # ----- data processing helpers ---------------------------------------------------------------------

    def _bindings(self, value: Any, frame: Frame, **extra: Any) -> dict[str, Any]:
        states: dict[str, Any] = {"input": value, "context": frame.context}
        states.update(extra)
        bindings = dict(frame.variables)
        bindings["states"] = states
        return bindings

    def _assign_jsonata(self, assign: Any, bindings: dict[str, Any], frame: Frame) -> dict[str, Any] | None:
        if not assign:
            return None
        return compile_jsonata(assign, "Assign")(bindings)  # type: ignore[no-any-return]

    def _assign_jsonpath(self, assign: Any, value: Any, frame: Frame) -> dict[str, Any] | None:
        if not assign:
            return None
        return _assign_template(assign)(value, frame)  # type: ignore[no-any-return]

    def _input_path(self, state: State, value: Any, frame: Frame) -> Any:
        return self._filter(state.input_path, state.input_path_null, value, frame)

    def _filter(self, path: Reference | None, null: bool, value: Any, frame: Frame) -> Any:
        """InputPath / OutputPath: `null` gives `{}`, absent (or `$`) the value itself."""
        if null:
            return {}
        if path is None:
            return value
        return self._read_path(path, value, frame)

    def _read_path(self, path: Reference, value: Any, frame: Frame) -> Any:
        try:
            return path.get(value, frame.context, frame.variables)
        except PathError as exc:
            raise StateError(errors.RUNTIME, f"Invalid path '{path.text}' : {exc.message}")

    def _output_path(self, state: State, value: Any, frame: Frame) -> Any:
        return self._filter(state.output_path, state.output_path_null, value, frame)

    def _result_path(self, path: Path | None, null: bool, raw_input: Any, result: Any) -> Any:
        """ResultPath: `null` keeps the input, absent (or `$`) takes the result, a path places it."""
        if null:
            return raw_input
        if path is None:
            return result
        return self._set_result(raw_input, path, result)

    def _set_result(self, value: Any, path: Path, result: Any) -> Any:
        try:
            return set_path(value, path, result)
        except PathError as exc:
            raise StateError(errors.RUNTIME, exc.message)

    def _jsonpath_result(
        self, state: State, raw_input: Any, effective: Any, result: Any, frame: Frame
    ) -> _Next:
        """ResultSelector, Assign, ResultPath and OutputPath, in AWS's order."""
        if state.result_selector is not None:
            result = state.result_selector(result, frame)
        assigned = self._assign_jsonpath(state.assign, result, frame)
        combined = self._result_path(state.result_path, state.result_path_null, raw_input, result)
        if self.inspect is not None:
            self.inspect.update(afterResultSelector=result, afterResultPath=combined)
        return _Next(self._output_path(state, combined, frame), _next_of(state), assigned)

    def _jsonata_result(
        self, state: State, value: Any, result: Any, frame: Frame, default_output: Any
    ) -> _Next:
        bindings = self._bindings(value, frame, result=result)
        output = state.output(bindings) if state.has_output else default_output
        assigned = self._assign_jsonata(state.assign, bindings, frame)
        return _Next(output, _next_of(state), assigned)

    # ----- Task -------------------------------------------------------------------------------------------

    async def _invoke(self, state: State, parameters: Any, frame: Frame, value: Any) -> Any:
        resolver = self.interpreter.resolver
        resource = state.resource or ""
        kind, service, action = resource_kind(resource)
        spec = state.spec
        timeout = self._seconds(state, "TimeoutSeconds", value, frame)
        heartbeat = self._seconds(state, "HeartbeatSeconds", value, frame)
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
        self._emit(frame, prefix + "Scheduled", scheduled)
        started = False

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
            attempt_token=token or (self._task_token(frame) if kind == "activity" else None),
            timeout_seconds=timeout,
            heartbeat_seconds=heartbeat,
            credentials=spec.get("Credentials"),
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
        if len(dumps(result)) > MAX_PAYLOAD_BYTES:
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
            future = callbacks.register(token)
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
                raw = path.get(value, frame.context, frame.variables)
            except PathError as exc:
                raise StateError(errors.RUNTIME, f"Invalid path '{spec[path_name]}' : {exc.message}")
            if not isinstance(raw, int | float) or isinstance(raw, bool) or raw <= 0:
                raise StateError(
                    errors.RUNTIME, f"The {path_name} parameter must be a positive integer: {raw}"
                )
            return float(raw)
        return None

    # ----- error-prefix aware wrappers ------------------------------------------------------------------

    async def run_task(self, state: State, value: Any, frame: Frame) -> _Next:
        if state.resource is not None and state.resource.endswith(".waitForTaskToken"):
            # The token exists before Parameters/Arguments are evaluated: they pass `$$.Task.Token` on.
            frame.context = {**frame.context, "Task": {"Token": self._task_token(frame)}}
        if state.query_language == JSONATA:
            bindings = self._bindings(value, frame)
            parameters = state.arguments(bindings) if state.arguments is not None else value
            result = await self._invoke(state, parameters, frame, value)
            return self._jsonata_result(state, value, result, frame, result)
        effective = self._input_path(state, value, frame)
        parameters = state.parameters(effective, frame) if state.parameters is not None else effective
        result = await self._invoke(state, parameters, frame, value)
        return self._jsonpath_result(state, value, effective, result, frame)


@dataclass
class _Iteration:
    last_id: int
    events: list[HistoryEvent]


@dataclass
class _MapProgress:
    """How far an inline Map had got when the engine stopped: finished iterations with their outputs,
    and the events of those still running."""

    name: str
    started: bool = False
    done: dict[int, Any] = field(default_factory=dict)
    running: dict[int, _Iteration] = field(default_factory=dict)
    map_run_arn: str | None = None  # a Distributed Map's run, started before (its children run again)

    @classmethod
    def read(cls, name: str, events: list[HistoryEvent], entered_id: int) -> _MapProgress:
        progress = cls(name)
        by_id = {e.id: e for e in events}
        threads: dict[int, set[int]] = {}  # iteration index -> ids of its events
        chains: dict[int, list[HistoryEvent]] = {}
        for event in events:
            if event.id <= entered_id:
                continue
            details = event.details or {}
            if event.type == "MapStateStarted" and event.previous_event_id == entered_id:
                progress.started = True
            elif event.type == "MapRunStarted" and progress.map_run_arn is None:
                progress.map_run_arn = details.get("mapRunArn")
            elif event.type == "MapIterationStarted" and details.get("name") == name:
                threads[details["index"]] = {event.id}
                chains[details["index"]] = []
            elif event.type == "MapIterationSucceeded" and details.get("name") == name:
                index = details["index"]
                last = by_id.get(event.previous_event_id)
                if last is not None and last.details is not None and "output" in last.details:
                    progress.done[index] = last.details["output"]
                threads.pop(index, None)
            elif event.type in ("MapIterationFailed", "MapIterationAborted") and details.get("name") == name:
                threads.pop(details["index"], None)  # run again: its error is not recorded
            else:
                for index, ids in threads.items():
                    if event.previous_event_id in ids:  # each iteration's events link to its own
                        ids.add(event.id)
                        chains[index].append(event)
                        break
        for index, ids in threads.items():
            progress.running[index] = _Iteration(max(ids), chains[index])
        return progress


@dataclass
class _ParallelProgress:
    """How far each branch of a Parallel had got when the engine stopped: the events of each."""

    name: str
    started: bool = False
    branches: list[list[HistoryEvent]] = field(default_factory=list)

    @classmethod
    def read(cls, state: State, events: list[HistoryEvent], entered_id: int) -> _ParallelProgress:
        progress = cls(state.name, branches=[[] for _ in state.branches])
        owners = {name: i for i, branch in enumerate(state.branches) for name in branch.states}
        threads: list[set[int]] = [set() for _ in state.branches]
        for event in events:
            if event.id <= entered_id:
                continue
            if event.type == "ParallelStateStarted" and event.previous_event_id == entered_id:
                progress.started = True
                continue
            name = (event.details or {}).get("name")
            if event.previous_event_id == 0 and event.type.endswith("StateEntered") and name in owners:
                index = owners[name]  # a branch's first event (branches start new threads)
            else:
                index = next((i for i, ids in enumerate(threads) if event.previous_event_id in ids), -1)
            if index >= 0:
                threads[index].add(event.id)
                progress.branches[index].append(event)
        return progress


def _closing(err: ASLError, event_type: str) -> ASLError:
    """Mark an error with the event its state records if the error leaves it (not retried)."""
    err.closing = event_type  # type: ignore[attr-defined]
    return err


class _ExecutionTimeout(Exception):
    pass


class _TaskTimeout(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class _Resumed(Exception):
    def __init__(self, output: Any) -> None:
        super().__init__("resumed")
        self.output = output


async def _race(work: Awaitable[Any], timer: Awaitable[Any], on_timeout: Callable[[], BaseException]) -> Any:
    """Run `work`; if `timer` finishes first, cancel the work and raise `on_timeout()`."""
    work_task = asyncio.ensure_future(work)
    timer_task = asyncio.ensure_future(timer)
    try:
        done, _ = await asyncio.wait({work_task, timer_task}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        work_task.cancel()
        timer_task.cancel()
        with contextlib.suppress(BaseException):
            await work_task
        raise
    if work_task in done:
        timer_task.cancel()
        return work_task.result()
    work_task.cancel()
    with contextlib.suppress(BaseException):
        await work_task
    raise on_timeout()


def _next_of(state: State) -> str | None:
    return None if state.end else state.next


def _loads(text: Any) -> Any:
    import json

    return json.loads(text) if isinstance(text, str) else text


def _top_level_events(events: list[HistoryEvent], machine: StateMachine) -> list[HistoryEvent]:
    """Events of the top-level thread: ExecutionStarted and the top-level states' Entered/Exited."""
    names = set(machine.states)
    out: list[HistoryEvent] = []
    depth = 0
    for event in events:
        t = event.type
        if t in ("MapStateStarted", "ParallelStateStarted"):
            depth += 1
            continue
        if t in (
            "MapStateSucceeded",
            "MapStateFailed",
            "ParallelStateSucceeded",
            "ParallelStateFailed",
            "MapStateAborted",
            "ParallelStateAborted",
        ):
            depth = max(0, depth - 1)  # a Map that failed before it started has no Started event
            continue
        if depth:
            continue
        if t == "ExecutionStarted" or (
            (t.endswith("StateEntered") or t.endswith("StateExited"))
            and event.details
            and event.details.get("name") in names
        ):
            out.append(event)
    return out


# ---------------------------------------------------------------------------------------------------------
# State handlers: (run, state, input, frame) -> _Next


def _pass(run: ExecutionRun, state: State, value: Any, frame: Frame) -> _Next:
    if state.query_language == JSONATA:
        bindings = run._bindings(value, frame)
        output = state.output(bindings) if state.has_output else value
        assigned = run._assign_jsonata(state.assign, bindings, frame)
        return _Next(output, _next_of(state), assigned)
    effective = run._input_path(state, value, frame)
    if state.has_result:
        result = state.result
    elif state.parameters is not None:
        result = state.parameters(effective, frame)
    else:
        result = effective
    if state.result_too_large:
        raise ASLError(
            errors.DATA_LIMIT_EXCEEDED,
            f"The state/task '{state.name}' returned a result with a size exceeding the maximum number of bytes "
            "service limit.",
        )
    assigned = run._assign_jsonpath(state.assign, result, frame) if state.assign else None
    combined = run._result_path(state.result_path, state.result_path_null, value, result)
    if run.inspect is not None:
        run.inspect.update(afterParameters=result, afterResultSelector=result, afterResultPath=combined)
    if state.output_path is None and not state.output_path_null:
        return _Next(combined, None if state.end else state.next, assigned)
    return _Next(run._output_path(state, combined, frame), _next_of(state), assigned)


async def _task(run: ExecutionRun, state: State, value: Any, frame: Frame) -> _Next:
    return await run.run_task(state, value, frame)


def _choice(run: ExecutionRun, state: State, value: Any, frame: Frame) -> _Next:
    if state.query_language == JSONATA:
        bindings = run._bindings(value, frame)
        for i, rule in enumerate(state.choices):
            text = expression_text(rule.condition)
            matched = (
                evaluate_field(text, f"Choices[{i}].Condition", bindings)
                if text is not None
                else rule.condition
            )
            if not isinstance(matched, bool):
                raise StateError(
                    errors.QUERY_EVALUATION_ERROR,
                    f"The JSONata expression '{text}' specified for the field 'Condition' returned a non-boolean "
                    "value.",
                )
            if matched:
                output = (
                    rule.output(bindings)
                    if rule.has_output
                    else (state.output(bindings) if state.has_output else value)
                )
                assigned = run._assign_jsonata(rule.assign or state.assign, bindings, frame)
                return _Next(output, rule.next, assigned)
        if state.default is None:
            raise ASLError(errors.NO_CHOICE_MATCHED, "No Matches!")
        output = state.output(bindings) if state.has_output else value
        assigned = run._assign_jsonata(state.assign, bindings, frame)
        return _Next(output, state.default, assigned)
    effective = run._input_path(state, value, frame)
    for rule in state.choices:
        assert rule.predicate is not None
        if rule.predicate(effective, frame):
            assigned = run._assign_jsonpath(rule.assign or state.assign, effective, frame)
            return _Next(run._output_path(state, effective, frame), rule.next, assigned)
    if state.default is None:
        raise ASLError(errors.NO_CHOICE_MATCHED, "No Matches!")
    assigned = run._assign_jsonpath(state.assign, effective, frame)
    return _Next(run._output_path(state, effective, frame), state.default, assigned)


async def _wait(run: ExecutionRun, state: State, value: Any, frame: Frame) -> _Next:
    spec = state.spec
    now = run.clock.now()
    if state.query_language == JSONATA:
        bindings = run._bindings(value, frame)
        if "Seconds" in spec:
            seconds = jsonata_or_value(spec["Seconds"], "Seconds", bindings)
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
                raise StateError(
                    errors.QUERY_EVALUATION_ERROR,
                    f"The Seconds field must be a non-negative integer: {dumps(seconds)}",
                    "Seconds",
                )
            delay = float(seconds) - (now - frame.entered_at)
        else:
            stamp = jsonata_or_value(spec.get("Timestamp"), "Timestamp", bindings)
            parsed = parse_timestamp(stamp)
            if parsed is None:
                raise StateError(
                    errors.QUERY_EVALUATION_ERROR,
                    "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format "
                    f"string: {stamp}",
                    "Timestamp",
                )
            delay = parsed.timestamp() - now
        await run.clock.sleep(max(delay, 0.0))
        bindings = run._bindings(value, frame)
        output = state.output(bindings) if state.has_output else value
        assigned = run._assign_jsonata(state.assign, bindings, frame)
        return _Next(output, _next_of(state), assigned)
    effective = run._input_path(state, value, frame)
    if "Seconds" in spec:
        delay = float(spec["Seconds"]) - (
            now - frame.entered_at
        )  # from entry: a resumed Wait keeps its deadline
    elif "Timestamp" in spec:
        parsed = parse_timestamp(spec["Timestamp"])
        delay = (parsed.timestamp() - now) if parsed else 0.0
    elif "SecondsPath" in spec:
        text = spec["SecondsPath"]
        try:
            seconds = compile_reference(text).get(effective, frame.context, frame.variables)
        except PathError:
            raise StateError(
                errors.RUNTIME, f"The SecondsPath parameter does not reference an input value: {text}"
            )
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise StateError(
                errors.RUNTIME,
                f"The SecondsPath parameter cannot be parsed as a long value: {text} == {seconds}",
            )
        if seconds < 0:
            raise StateError(
                errors.RUNTIME, f"The SecondsPath parameter references a negative value: {text} == {seconds}"
            )
        delay = float(seconds) - (now - frame.entered_at)
    else:
        text = spec["TimestampPath"]
        try:
            stamp = compile_reference(text).get(effective, frame.context, frame.variables)
        except PathError:
            raise StateError(
                errors.RUNTIME, f"The TimestampPath parameter does not reference an input value: {text}"
            )
        parsed = parse_timestamp(stamp)
        if parsed is None:
            raise StateError(
                errors.RUNTIME,
                "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time "
                f"format string: {text} == {stamp}",
            )
        delay = parsed.timestamp() - now
    await run.clock.sleep(max(delay, 0.0))
    assigned = run._assign_jsonpath(state.assign, effective, frame)
    return _Next(run._output_path(state, effective, frame), _next_of(state), assigned)


def _succeed(run: ExecutionRun, state: State, value: Any, frame: Frame) -> _Next:
    if state.query_language == JSONATA:
        bindings = run._bindings(value, frame)
        output = state.output(bindings) if state.has_output else value
        return _Next(output, None)
    effective = run._input_path(state, value, frame)
    return _Next(run._output_path(state, effective, frame), None)


def _fail(run: ExecutionRun, state: State, value: Any, frame: Frame) -> _Next:
    spec = state.spec
    if state.query_language == JSONATA:
        bindings = run._bindings(value, frame)
        error = jsonata_or_value(spec.get("Error"), "Error", bindings)
        cause = jsonata_or_value(spec.get("Cause"), "Cause", bindings)
    else:
        error = _fail_field(run, spec, "Error", value, frame)
        cause = _fail_field(run, spec, "Cause", value, frame)
    raise FailStateError(error, cause)


def _fail_field(run: ExecutionRun, spec: Any, name: str, value: Any, frame: Frame) -> Any:
    if name in spec:
        return spec[name]
    path_text = spec.get(name + "Path")
    if path_text is None:
        return None
    from workflows.asl.definition import compile_dynamic

    return compile_dynamic(path_text, name + "Path")(value, frame)


# ----- Parallel --------------------------------------------------------------------------------------------


async def _parallel(run: ExecutionRun, state: State, value: Any, frame: Frame) -> _Next:
    jsonata = state.query_language == JSONATA
    if jsonata:
        bindings = run._bindings(value, frame)
        effective = state.arguments(bindings) if state.arguments is not None else value
    else:
        effective = run._input_path(state, value, frame)
        if state.parameters is not None:
            effective = state.parameters(effective, frame)
    progress = (
        run._parallel_resume
        if run._parallel_resume is not None and run._parallel_resume.name == state.name
        else None
    )
    run._parallel_resume = None  # only the interrupted Parallel itself, the first to run after the restart
    if progress is None or not progress.started:
        run._emit(frame, "ParallelStateStarted")
    # Each branch starts a new thread of events: its first event links to none (0), as on AWS.
    branch_frames = [frame.child(_copy_context(frame.context), 0) for _ in state.branches]
    for branch_frame in branch_frames:
        branch_frame.interleave = True

    def branch_run(i: int, branch: StateMachine, bf: Frame) -> Awaitable[Any]:
        recorded = progress.branches[i] if progress is not None else []
        if not recorded:
            return run._run_machine(branch, effective, bf)
        bf.prev = recorded[-1].id  # a restart interrupted it: go on from its last state
        return run._resume_thread(branch, effective, bf, recorded)

    tasks = [
        asyncio.ensure_future(branch_run(i, branch, bf))
        for i, (branch, bf) in enumerate(zip(state.branches, branch_frames, strict=True))
    ]
    try:
        results = await _gather_fail_fast(tasks)
    except ASLError as err:
        frame.prev = max([frame.prev] + [bf.prev for bf in branch_frames])
        raise _closing(ASLError(err.error, err.cause), "ParallelStateFailed") from err
    frame.prev = max([frame.prev] + [bf.prev for bf in branch_frames])
    frame.prev = run.log.last_id
    run._emit(frame, "ParallelStateSucceeded", advance=False)
    if jsonata:
        return run._jsonata_result(state, value, results, frame, results)
    return run._jsonpath_result(state, value, effective, results, frame)


async def _gather_fail_fast(tasks: Sequence[asyncio.Future[Any]]) -> list[Any]:
    """Results in order; on the first failure cancel the rest and raise it."""
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                if t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
        return [t.result() for t in tasks]
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()
        for t in tasks:
            if not t.done():
                with contextlib.suppress(BaseException):
                    await t


def _copy_context(context: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in context.items() if k != "Task"}


# ----- Map -------------------------------------------------------------------------------------------------


async def _map(run: ExecutionRun, state: State, value: Any, frame: Frame) -> _Next:
    spec = state.spec
    jsonata = state.query_language == JSONATA
    if jsonata:
        bindings = run._bindings(value, frame)
        items_spec = spec.get("Items")
        items = value if items_spec is None else compile_jsonata(items_spec, "Items")(bindings)
        if not isinstance(items, list) and items_spec is None:
            raise StateError(
                errors.QUERY_EVALUATION_ERROR, f"Map state input must be an array but was: {dumps(items)}"
            )
        if not isinstance(items, list):
            raise StateError(
                errors.QUERY_EVALUATION_ERROR,
                f"The JSONata expression '{expression_text(items_spec) or items_spec}' specified for the field "
                f"'Items' returned an unexpected result type. Expected 'array', but was '{_json_type(items)}' "
                f"for value: {dumps(items)}",
                "Items",
            )
        effective = value
    else:
        effective = run._input_path(state, value, frame)
        items = effective if state.items_path is None else run._read_path(state.items_path, effective, frame)
        if not isinstance(items, list):
            raise StateError(
                errors.RUNTIME,
                f"Invalid path '{spec.get('ItemsPath', '$')}': The path does not evaluate to an array",
            )
    processor = state.processor
    assert processor is not None
    distributed = processor.processor_mode == "DISTRIBUTED"
    batcher = spec.get("ItemBatcher")
    if batcher:
        size = batcher.get("MaxItemsPerBatch") or len(items) or 1
        batch_input = batcher.get("BatchInput", {})
        items = [
            {"Items": items[i : i + size], **({"BatchInput": batch_input} if batch_input else {})}
            for i in range(0, len(items), size)
        ]
        state_selector = None
    # MaxConcurrency is read before the Map starts, the failure tolerance after (as AWS records).
    max_concurrency = _map_number(run, state, "MaxConcurrency", value, frame) or 0
    progress = run._map_resume if run._map_resume is not None and run._map_resume.name == state.name else None
    run._map_resume = None  # only the interrupted Map itself, the first to run after the restart
    if progress is None or not progress.started:
        run._emit(frame, "MapStateStarted", {"length": len(items)})
    # AWS reads the concurrency and failure tolerance once the Map has started.
    tolerated_count = _map_number(run, state, "ToleratedFailureCount", value, frame)
    tolerated_pct = _map_number(run, state, "ToleratedFailurePercentage", value, frame)
    if tolerated_count is not None and tolerated_count < 0:
        raise StateError(errors.RUNTIME, "ToleratedFailureCount cannot be negative.")
    if tolerated_pct is not None and not 0 <= tolerated_pct <= 100:
        raise StateError(errors.RUNTIME, "ToleratedFailurePercentage must be between 0 and 100.")
    semaphore = asyncio.Semaphore(int(max_concurrency)) if max_concurrency else None
    failures = 0
    total = len(items)
    map_run: dict[str, Any] | None = None
    if distributed:
        arn = run.info.state_machine_arn.replace(":stateMachine:", ":mapRun:")
        map_run = {
            "mapRunArn": f"{arn}/{state.name}:{uuid.uuid4()}",
            "executionArn": run.info.execution_arn,
            "stateMachineArn": f"{run.info.state_machine_arn}/{state.name}",  # the Map Run's child machine
            "status": "RUNNING",
            "startDate": run.clock.now(),
            "maxConcurrency": int(max_concurrency),
            "toleratedFailurePercentage": float(tolerated_pct or 0),
            "toleratedFailureCount": int(tolerated_count or 0),
            "itemCounts": _map_run_counts(total, 0, 0),
            "executionCounts": _map_run_counts(total, 0, 0),
        }
        if progress is not None and progress.map_run_arn:
            map_run["mapRunArn"] = progress.map_run_arn
        else:
            run._emit(frame, "MapRunStarted", {"mapRunArn": map_run["mapRunArn"]})
        run._map_run(map_run)

    def tolerated() -> bool:
        if tolerated_count is not None and failures <= tolerated_count and failures:
            return True
        return bool(
            tolerated_pct is not None and total and failures * 100 / total <= tolerated_pct and failures
        )

    iteration_frames: list[Frame] = []
    stopping = False
    state_selector = state.item_selector

    async def iterate(index: int, item: Any) -> Any:
        nonlocal failures, stopping
        context = _copy_context(frame.context)
        context["Map"] = {"Item": {"Index": index, "Value": item}}
        if semaphore is not None:
            await semaphore.acquire()
        try:
            if stopping:
                return None  # another iteration failed: start no more (the Map fails with its error)
            if progress is not None and index in progress.done:
                return progress.done[index]  # finished before the restart: not run again
            child = frame.child(context, frame.prev, log_events=False if distributed else None)
            iteration_frames.append(child)
            resumed = progress.running.get(index) if progress is not None else None
            if resumed is not None:
                child.prev = resumed.last_id
            elif not distributed:
                run._emit(child, "MapIterationStarted", {"index": index, "name": state.name})
            if jsonata:
                selector = spec.get("ItemSelector")
                if selector is not None:
                    b = run._bindings(value, child)
                    element = compile_jsonata(selector, "ItemSelector")(b)
                else:
                    element = item
            elif state_selector is not None:
                element = state_selector(effective, child)
            else:
                element = item
            try:
                if resumed is not None:
                    result = await run._resume_thread(processor, element, child, resumed.events)
                else:
                    result = await run._run_machine(processor, element, child)
            except ASLError as err:
                failures += 1
                if not distributed:
                    run._emit(
                        child, "MapIterationFailed", {"index": index, "name": state.name}, advance=False
                    )
                if tolerated():
                    return _IterationFailed(err)
                stopping = True
                raise _MapFailure(err, child) from err
            except asyncio.CancelledError:
                if not distributed and not run._shutting_down:
                    run._emit(child, "MapIterationAborted", {"index": index, "name": state.name})
                raise
            if not distributed:
                run._emit(child, "MapIterationSucceeded", {"index": index, "name": state.name}, advance=False)
                frame.prev = child.prev  # the next iteration links to this one's last event
            return result
        finally:
            if semaphore is not None:
                semaphore.release()

    tasks = [asyncio.ensure_future(iterate(i, item)) for i, item in enumerate(items)]
    try:
        results = await _gather_fail_fast(tasks)
    except _MapFailure as failure:
        frame.prev = failure.frame.prev
        if distributed:
            run._emit(frame, "MapRunFailed")
            run._map_run_ended(map_run, "FAILED", total, failures)
            frame.prev = frame.prev
        err = failure.error
        if distributed or tolerated_count is not None or tolerated_pct is not None:
            raise _closing(
                ASLError(
                    errors.EXCEED_TOLERATED_FAILURE_THRESHOLD,
                    "The specified tolerated failure threshold was exceeded",
                ),
                "MapStateFailed",
            ) from err
        raise _closing(ASLError(err.error, err.cause), "MapStateFailed") from err
    results = [r.as_output() if isinstance(r, _IterationFailed) else r for r in results]
    if distributed:
        # AWS (since late 2024) links the Map's exit to MapRunStarted: these two close without moving on.
        run._emit(frame, "MapRunSucceeded", advance=False, latest=True)
        run._map_run_ended(map_run, "SUCCEEDED", total, failures)
        run._emit(frame, "MapStateSucceeded", advance=False, latest=True)
    else:
        frame.prev = run.log.last_id
        run._emit(frame, "MapStateSucceeded", advance=False)
    if jsonata:
        return run._jsonata_result(state, value, results, frame, results)
    return run._jsonpath_result(state, value, effective, results, frame)


def _map_run_counts(total: int, succeeded: int, failed: int) -> dict[str, int]:
    """A Map Run's item or child-execution counts, as DescribeMapRun gives them."""
    pending = total - succeeded - failed
    return {
        "pending": 0,
        "running": pending,
        "succeeded": succeeded,
        "failed": failed,
        "timedOut": 0,
        "aborted": 0,
        "total": total,
        "resultsWritten": 0,
        "failuresNotRedrivable": 0,
        "pendingRedrive": 0,
    }


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if value is None:
        return "null"
    return "array"


def _map_number(run: ExecutionRun, state: State, name: str, value: Any, frame: Frame) -> Any:
    spec = state.spec
    if name in spec:
        raw = spec[name]
        if state.query_language == JSONATA:
            raw = jsonata_or_value(raw, name, run._bindings(value, frame))
        return raw
    if name + "Path" in spec:
        text = spec[name + "Path"]
        raw = run._read_path(compile_reference(text), value, frame)
        kind = "float" if name == "ToleratedFailurePercentage" else "integer"
        if isinstance(raw, str):  # AWS parses numeric text
            try:
                raw = float(raw) if kind == "float" else int(raw)
            except ValueError:
                pass
        ok = (
            isinstance(raw, int | float)
            and not isinstance(raw, bool)
            and (kind == "float" or float(raw).is_integer())
        )
        if not ok:
            shown = raw if isinstance(raw, str) else dumps(raw)
            raise StateError(
                errors.RUNTIME,
                f'The {name}Path field refers to value "{shown}" which is not a valid {kind}: {text}',
            )
        return raw
    return None


class _MapFailure(Exception):
    def __init__(self, error: ASLError, frame: Frame) -> None:
        super().__init__(error.error)
        self.error = error
        self.frame = frame


class _IterationFailed:
    def __init__(self, error: ASLError) -> None:
        self.error = error

    def as_output(self) -> Any:
        out: dict[str, Any] = {"Error": self.error.error}
        if self.error.cause is not None:
            out["Cause"] = self.error.cause
        return out


_Handler = Callable[[ExecutionRun, State, Any, Frame], _Next]

# Handlers of the states that never wait: the run loop calls them directly.
_SYNC_HANDLERS: dict[str, _Handler] = {
    "Pass": _pass,
    "Choice": _choice,
    "Succeed": _succeed,
    "Fail": _fail,
}


def _awaitable(handler: _Handler) -> Callable[[ExecutionRun, State, Any, Frame], Awaitable[_Next]]:
    async def run(run: ExecutionRun, state: State, value: Any, frame: Frame) -> _Next:
        return handler(run, state, value, frame)

    return run


_HANDLERS: dict[str, Callable[[ExecutionRun, State, Any, Frame], Awaitable[_Next]]] = {
    "Pass": _awaitable(_pass),
    "Task": _task,
    "Choice": _awaitable(_choice),
    "Wait": _wait,
    "Succeed": _awaitable(_succeed),
    "Fail": _awaitable(_fail),
    "Parallel": _parallel,
    "Map": _map,
}
