"""The ASL interpreter: runs a compiled definition, records AWS-shaped history, knows only its seams.

Seams: a Clock (time), a TaskResolver (what a Task's Resource does), a CallbackRegistry (task tokens)
and an EventSink (where history events go). Nothing here knows SQLite, HTTP or boto3.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from workflows.asl import errors
from workflows.asl.budget import Overtime, in_slice
from workflows.asl.definition import (
    JSONATA,
    Catcher,
    Definition,
    State,
    StateMachine,
)
from workflows.asl.errors import ASLError, FailStateError, StateError
from workflows.engine import offload
from workflows.engine.clock import Clock, SystemClock
from workflows.engine.frame import (
    Frame,
    LiveIterations,
    _error_matches,
    _ExecutionTimeout,
    _iso,
    _Next,
    _race,
    _Resumed,
)
from workflows.engine.history import MAX_HISTORY_EVENTS, EventLog, HistoryEvent, HistoryQuotaExceeded, dumps
from workflows.engine.map import MAX_RUNNING_ITERATIONS, _map_run_counts
from workflows.engine.resume import Resume, _MapProgress, _ParallelProgress
from workflows.engine.states import _HANDLERS, _SYNC_HANDLERS
from workflows.engine.tasks import CallbackRegistry, TaskInvocation, TaskResolver

if TYPE_CHECKING:
    from workflows.engine.states import _Handler

_TURN_SECONDS = 0.01
# AWS's maximum execution time ("Step Functions service quotas"): a Standard execution that runs for
# more than a year times out with States.Timeout; an Express one after five minutes.
MAX_EXECUTION_SECONDS = {"STANDARD": 365 * 24 * 3600, "EXPRESS": 5 * 60}


class _Slow:
    """A state entered whose evaluation moved off the event loop (see `_run_sync_state`)."""

    __slots__ = ("entered", "entered_prev")

    def __init__(self, entered_prev: int, entered: int) -> None:
        self.entered_prev = entered_prev
        self.entered = entered


log = logging.getLogger(__name__)


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
    """Where history goes. A sink may also define `map_run(record)` to keep Distributed Map runs, and
    `map_item(map_run_arn, index, output)` / `map_items(map_run_arn) -> {index: output}` to keep the
    outputs of a Distributed Map's finished items (they record no history), so that a restart does
    not run them again."""

    def emit(self, event: HistoryEvent) -> None: ...

    async def flush(self) -> None: ...


class MemorySink:
    """Keeps nothing beyond the run's own event list; the sink for in-process runs."""

    def emit(self, event: HistoryEvent) -> None:
        pass

    async def flush(self) -> None:
        pass


_STATE_PREFIX_MARK = "An error occurred while executing the state"


# A payload's `...Details` in the history: events share this one dict, which nothing mutates.
_NOT_TRUNCATED: dict[str, Any] = {"truncated": False}

# Event types of each state type's entry and exit, made once rather than on every state.
_STATE_TYPES = ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")
_ENTERED = {t: t + "StateEntered" for t in _STATE_TYPES}
_EXITED = {t: t + "StateExited" for t in _STATE_TYPES}

# State types that can be interrupted, with a `<Type>StateAborted` history event.
_ABORTABLE = frozenset({"Task", "Wait", "Map", "Parallel"})


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


class ExecutionRun(TaskInvocation, Resume):
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
        # Every event reads the clock: the system clock's own function spares a call per event.
        now = time.time if type(self.clock) is SystemClock else self.clock.now
        self.log = EventLog(now, sink.emit, MAX_HISTORY_EVENTS)
        self.prior = history or []
        self.task: asyncio.Future[Outcome] | None = None
        self.outcome: Outcome | None = None
        self._stop: tuple[str | None, str | None] | None = None
        self._resume_entry: tuple[int, int, float] | None = None
        # Frame.site of a Task -> the index of its latest attempt (task tokens and idempotency
        # tokens are derived from both, so an attempt keeps them across a restart).
        self._tokens_issued: dict[int | str, int] = {}
        # Map iterations alive in the whole execution, nested Maps included (see LiveIterations).
        self._live_iterations = LiveIterations(MAX_RUNNING_ITERATIONS)
        # StateEntered id -> whether its open attempt had started: a Task a restart interrupted
        # goes on with that attempt instead of scheduling another.
        self._reattach: dict[int, bool] = {}
        self._shutting_down = False
        # StateEntered id -> how far a Map or Parallel a restart interrupted had got (at any depth)
        self._progress: dict[int, Any] = {}  # _MapProgress or _ParallelProgress
        self._near: dict[str, list[HistoryEvent]] | None = None  # recorded events by thread (resume)
        # The execution's turn on the event loop, shared by all its threads (see `_next_turn`).
        self._turn_ends = time.perf_counter() + _TURN_SECONDS
        self._turn = 0
        self._began = self.clock.now()
        self._expired = False  # the maximum execution time passed (see `_sleep`)

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
        offload.owned_by(self.info.execution_arn)  # its slow evaluations take turns with others'
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
        except HistoryQuotaExceeded as quota:
            # Whatever Retry, Catch or a Map's tolerance say: the quota ends the execution (AWS).
            return await self._finish("FAILED", frame, error=errors.RUNTIME, cause=quota.cause)
        except FailStateError as err:
            return await self._finish("FAILED", frame, error=err.error, cause=err.cause)
        except ASLError as err:
            return await self._finish("FAILED", frame, error=err.error, cause=err.cause)
        except _ExecutionTimeout:
            return await self._finish("TIMED_OUT", frame, error="States.Timeout", cause=None)
        except asyncio.CancelledError:
            if self._expired and not self._shutting_down:
                return await self._finish("TIMED_OUT", frame, error="States.Timeout", cause=None)
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
            # StopExecution's ExecutionAborted is not linked to the state it interrupted (AWS records
            # previousEventId 0).
            self.log.add(kind[status], details, previous=0 if status == "ABORTED" else frame.prev)
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
        timeout = min(float(timeout), self._max_seconds)
        return await _race(work, self.clock.sleep(timeout - elapsed), _ExecutionTimeout)

    @property
    def _max_seconds(self) -> float:
        return float(
            MAX_EXECUTION_SECONDS.get(self.info.state_machine_type, MAX_EXECUTION_SECONDS["STANDARD"])
        )

    async def _sleep(self, seconds: float) -> None:
        """`clock.sleep` for a Wait or a retry interval, within AWS's maximum execution time: one that
        would end past it sleeps until then and times the execution out, as a TimeoutSeconds does
        (the running states are aborted, the execution ends TIMED_OUT with States.Timeout).

        No timer races the whole execution for this: a fake clock would jump to it whenever the
        execution waits on something outside the loop."""
        started = self.info.start_time or self._began
        left = started + self._max_seconds - self.clock.now()
        if seconds <= left:
            await self.clock.sleep(seconds)
            return
        await self.clock.sleep(max(left, 0.0))
        # Cancel the run's own task, as a StopExecution does; `main` sees `_expired` and records
        # ExecutionTimedOut. (Raised here as well, should this thread already be the run's task.)
        self._expired = True
        assert self.task is not None
        self.task.cancel()
        await asyncio.sleep(0)
        raise asyncio.CancelledError

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
        # Every thread (the execution, a Map iteration, a Parallel branch) gives the event loop a turn
        # once the execution has held it for a few milliseconds: a long run of states that never wait
        # (a Pass/Choice loop up to the history quota, thousands of iterations) must not hold the API
        # up. The turn is the execution's, so its threads keep their order (see `_next_turn`).
        while True:
            if time.perf_counter() > self._turn_ends:
                await self._next_turn()
            state = states[name]
            # States that never wait run without a coroutine of their own; Retry is what Task,
            # Parallel and Map (the awaiting kinds) add, so a state with retriers takes the full path.
            sync = _SYNC_HANDLERS.get(state.type)
            if sync is not None and not state.retry and not frame.interleave:
                ran = self._run_sync_state(state, sync, value, frame)
                step = (
                    ran if ran.__class__ is _Next else await self._finish_slow_state(state, value, frame, ran)  # type: ignore[arg-type]
                )
            else:
                step = await self._run_state(state, value, frame)
            value = step.output
            if step.next is None:
                return value
            name = step.next

    async def _next_turn(self) -> None:
        """Give the event loop a turn, then go on once this execution's next turn is this thread's.

        The first of the execution's threads to wake starts the next turn; a thread that wakes to find
        that turn already spent yields again. So a thread that outlasted the turn goes on before any
        sibling that would have waited for it (a Map's next iteration, started only to find the turn
        over, stays behind the one before it): the events keep the order they have without yields."""
        while True:
            turn = self._turn
            await asyncio.sleep(0)
            if self._turn == turn:
                self._turn = turn + 1
                self._turn_ends = time.perf_counter() + _TURN_SECONDS
                return
            if time.perf_counter() <= self._turn_ends:
                return

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
        event_id = self.log.add(
            type, details, previous=self.log.last_id if latest else frame.prev, thread=frame.path
        )
        if advance:
            frame.prev = event_id
        return event_id

    def _enter(self, state: State, value: Any, frame: Frame) -> tuple[int, int]:
        """Record the state's entry and stamp the context; (the event before it, its own id)."""
        log = self.log  # (the history quota is the log's: EventLog.add_state)
        entered_prev = frame.prev
        if frame.log_events:
            entered = frame.prev = log.add_state(
                _ENTERED[state.type],
                "stateEnteredEventDetails",
                {"name": state.name, "input": value, "inputDetails": _NOT_TRUNCATED},
                entered_prev,
                frame.path,
            )
            # The context's EnteredTime is the entry event's own time, as on AWS.
            frame.stamp(state.name, log.events[-1].timestamp, entered)
        else:
            frame.steps += 1  # stands in for the entry's event id (see Frame.site)
            entered = entered_prev
            frame.stamp(state.name, self.clock.now(), entered)
        return entered_prev, entered

    def _stamp(self, state: State, frame: Frame, entered_at: float, entered_id: int) -> None:
        frame.stamp(state.name, entered_at, entered_id)

    def _run_sync_state(self, state: State, handler: _Handler, value: Any, frame: Frame) -> _Next | _Slow:
        """`_run_state` for a state that never awaits and has no retriers (`handler` is its type's
        from `_SYNC_HANDLERS`). When an evaluation in it outgrows its slice of the event loop, the
        state is left entered and `_Slow` returned: the run loop then finishes it off the loop
        (`_finish_slow_state`)."""
        entered_prev, entered = self._enter(state, value, frame)
        try:
            step = in_slice(handler, self, state, value, frame)
            if step.output is not value:  # (a Choice's output mostly is its input: nothing to measure)
                frame.sizes.check(value, step.output, state.name, state.output_growth)
        except Overtime:
            return _Slow(entered_prev, entered)
        except ASLError as err:
            step = self._sync_state_failed(state, err, value, frame, entered, entered_prev)
        self._exit(state, step, frame)
        return step

    async def _finish_slow_state(self, state: State, value: Any, frame: Frame, slow: _Slow) -> _Next:
        try:
            step = await offload.evaluate(_SYNC_HANDLERS[state.type], self, state, value, frame)
            frame.sizes.check(value, step.output, state.name, state.output_growth)
        except ASLError as err:
            step = self._sync_state_failed(state, err, value, frame, slow.entered, slow.entered_prev)
        self._exit(state, step, frame)
        return step

    def _sync_state_failed(
        self, state: State, err: ASLError, value: Any, frame: Frame, entered: int, entered_prev: int
    ) -> _Next:
        err = self._state_failed(state, err, frame, entered, entered_prev)
        catcher = self._catcher(state, err)
        if catcher is None:
            raise err
        return self._caught(state, catcher, err, value, frame)

    async def _run_state(
        self, state: State, value: Any, frame: Frame, entry: tuple[int, int, float] | None = None
    ) -> _Next:
        failed: list[ASLError] = []
        if entry is None:
            entered_prev, entered = self._enter(state, value, frame)
        else:  # resumed after a restart: the state was entered before, at entry's time
            entered_prev, entered, entered_at = entry
            self._stamp(state, frame, entered_at, entered)
            # An attempt that was scheduled and had not ended goes on under the same attempt index
            # (so the same task token and idempotency token), without being scheduled again.
            if state.type == "Task":
                scheduled, open_attempt, started, failed = self._attempts_before(entered, frame.path)
                self._tokens_issued[entered] = scheduled - 2 if open_attempt else scheduled - 1
                if open_attempt:
                    self._reattach[entered] = started
            if state.type == "Map":
                near = self._events_near(frame.path)
                self._progress[entered] = _MapProgress.read(state.name, near, entered, frame.path)
            elif state.type == "Parallel":
                near = self._events_near(frame.path)
                self._progress[entered] = _ParallelProgress.read(state, near, entered, frame.path)
        if frame.interleave:
            await asyncio.sleep(0)
        handler = _HANDLERS[state.type]
        attempts = [0] * len(state.retry)
        retry_count = 0
        if failed:  # resumed: the retries used before the restart count against the budget
            for err in failed:
                self._retry_delay(state, err, attempts)
            retry_count = len(failed)
        while True:
            try:
                if state.retry:
                    frame.context = {
                        **frame.context,
                        "State": {**frame.context["State"], "RetryCount": retry_count},
                    }
                step = await handler(self, state, value, frame)
                frame.sizes.check(value, step.output, state.name, state.output_growth)
                break
            except ASLError as err:
                err = self._state_failed(state, err, frame, entered, entered_prev)
                delay = self._retry_delay(state, err, attempts)
                if delay is not None:
                    retry_count += 1
                    await self._sleep(delay)
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
                # A Catch's Output and Assign are evaluations like any other: a slice on the loop, then
                # the worker (catching evaluated them on the loop with the whole budget).
                step = await offload.evaluate(self._caught, state, catcher, err, value, frame)
                break
            except asyncio.CancelledError:
                # A sibling branch or iteration failed while this state ran: AWS records it aborted. A
                # StopExecution records no state event, only ExecutionAborted (recorded on AWS:
                # ExecutionStarted, WaitStateEntered, ExecutionAborted).
                if state.type in _ABORTABLE and not self._shutting_down and self._stop is None:
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
        assigned = step.assigned
        if assigned:
            # Assign sees the variables as they were when the state started; the new values are
            # visible from the next state on.
            frame.variables.update(assigned)
            pending = frame.pending_sizes
            if pending is not None and pending[0] is assigned:
                frame.var_sizes.update(pending[1])
                frame.pending_sizes = None
        if not frame.log_events:
            return
        details: dict[str, Any] = {
            "name": state.name,
            "output": step.output,
            "outputDetails": _NOT_TRUNCATED,
        }
        if assigned:
            details["assignedVariables"] = {k: dumps(v) for k, v in assigned.items()}
            details["assignedVariablesDetails"] = _NOT_TRUNCATED
        frame.prev = self.log.add_state(
            _EXITED[state.type], "stateExitedEventDetails", details, frame.prev, frame.path
        )

    def _map_run(self, record: dict[str, Any]) -> None:
        """Tell the sink about a Distributed Map's Map Run (for ListMapRuns / DescribeMapRun), if it asks."""
        report = getattr(self.sink, "map_run", None)
        if report is not None:
            report(dict(record))

    def _map_item_done(self, map_run_arn: str, index: int, output: Any) -> None:
        keep = getattr(self.sink, "map_item", None)
        if keep is not None:
            keep(map_run_arn, index, output)

    def _map_items_done(self, map_run_arn: str) -> dict[int, Any]:
        """A Distributed Map's items that finished before a restart, with their outputs."""
        kept = getattr(self.sink, "map_items", None)
        return dict(kept(map_run_arn)) if kept is not None else {}

    def _map_run_ended(
        self, record: dict[str, Any] | None, status: str, total: int, failed: int, results_written: int = 0
    ) -> None:
        if record is None:
            return
        counts = {**_map_run_counts(total, total - failed, failed), "resultsWritten": results_written}
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
        frame.prev = self.log.add("EvaluationFailed", details, previous=previous, thread=frame.path)
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

    # ----- Task -------------------------------------------------------------------------------------------

    # ----- error-prefix aware wrappers ------------------------------------------------------------------
