"""Replay: run past executions against an edited definition, their recorded task results standing in.

    recording = Recording.from_history(events)            # GetExecutionHistory events (API shape)
    result = await replay_one(definition, recording)      # ReplayResult: changed?, where, how
    results = await replay_many(definition, recordings)

Each Task call of the replay takes the result its state recorded in the original history, call by
call (retries included, in history order): a `TaskSucceeded`/`LambdaFunctionSucceeded` output is
returned, a `...Failed`/`...TimedOut` is raised as the same error. So a replay has no side effects
and needs no Lambda worker. A call the history has no recording for fails the replay with
`Replay.NoRecording`, unless a `fallback` resolver (the local Lambda handlers) is given. Time is
virtual (FakeClock from the original start), so retries and Waits cost nothing.

The comparison is of what an author changes with an edit: the path (states entered, in order), the
final status and the output; the first divergence is the state where the two runs part (the last
state both entered alike, and the next state each took), or the first state whose output differs.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workflows.asl.definition import Definition, load_definition
from workflows.asl.errors import ASLError
from workflows.engine.clock import _IDLE_ROUNDS, FakeClock
from workflows.engine.interpreter import ExecutionInfo, Interpreter
from workflows.engine.tasks import CallbackRegistry, TaskRequest, resource_kind
from workflows.service.console_data import event_details, load_json

__all__ = ["NO_RECORDING", "Recording", "ReplayResult", "replay_many", "replay_one"]

NO_RECORDING = "Replay.NoRecording"

_SUCCEEDED = ("TaskSucceeded", "LambdaFunctionSucceeded", "ActivitySucceeded")
_FAILED = (
    "TaskFailed",
    "TaskTimedOut",
    "TaskSubmitFailed",
    "TaskStartFailed",
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "LambdaFunctionStartFailed",
    "LambdaFunctionScheduleFailed",
    "ActivityFailed",
    "ActivityTimedOut",
    "ActivityScheduleFailed",
)
_CLOSING = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}
# A per-execution budget of wall time: a replayed definition is user text; one that loops forever on
# recorded results must cost one replay, not the caller.
REPLAY_TIMEOUT = 10.0
REPLAY_BUDGET = 60.0


def _timestamp(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    if isinstance(value, str):
        from datetime import datetime

        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return time.time()


@dataclass
class Call:
    """One recorded Task call: its result, or the error it failed with."""

    state: str
    output: Any = None
    error: str | None = None
    cause: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass
class Recording:
    """What one past execution did, read from its history."""

    execution_arn: str
    name: str
    state_machine_arn: str
    input: Any
    start_time: float
    status: str | None
    output: Any
    error: str | None
    cause: str | None
    path: list[str]
    outputs: list[tuple[str, Any]]  # (state, output) per StateExited, in order
    calls: list[Call]

    @classmethod
    def from_history(
        cls, events: Sequence[Mapping[str, Any]], execution_arn: str = "", state_machine_arn: str = ""
    ) -> Recording:
        by_id = {e["id"]: e for e in events}
        entered: dict[int, str] = {}
        path: list[str] = []
        outputs: list[tuple[str, Any]] = []
        calls: list[Call] = []
        start_input: Any = {}
        start_time = time.time()
        status = output = error = cause = None
        for event in events:
            kind = event["type"]
            details = event_details(event)
            if kind == "ExecutionStarted":
                start_input = load_json(details.get("input", "{}"))
                start_time = _timestamp(event.get("timestamp"))
            elif kind.endswith("StateEntered"):
                entered[event["id"]] = details.get("name", "")
                path.append(details.get("name", ""))
            elif kind.endswith("StateExited"):
                outputs.append((details.get("name", ""), load_json(details.get("output"))))
            elif kind in _SUCCEEDED or kind in _FAILED:
                state = _owner(event, by_id, entered)
                if kind in _SUCCEEDED:
                    calls.append(Call(state, output=load_json(details.get("output"))))
                else:
                    calls.append(
                        Call(
                            state, error=details.get("error") or "States.Timeout", cause=details.get("cause")
                        )
                    )
            elif kind in _CLOSING:
                status = _CLOSING[kind]
                output = load_json(details.get("output"))
                error, cause = details.get("error"), details.get("cause")
        name = execution_arn.rsplit(":", 1)[-1] if execution_arn else "replay"
        return cls(
            execution_arn=execution_arn,
            name=name,
            state_machine_arn=state_machine_arn,
            input=start_input,
            start_time=start_time,
            status=status,
            output=output,
            error=error,
            cause=cause,
            path=path,
            outputs=outputs,
            calls=calls,
        )


def _owner(
    event: Mapping[str, Any], by_id: Mapping[int, Mapping[str, Any]], entered: Mapping[int, str]
) -> str:
    """The state whose task an event belongs to: follow previousEventId back to its StateEntered."""
    seen = 0
    current: Mapping[str, Any] | None = event
    while current is not None and seen < 10_000:
        if current["id"] in entered:
            return entered[current["id"]]
        current = by_id.get(current.get("previousEventId", 0))
        seen += 1
    return ""


class _ReplayClock(FakeClock):
    """A FakeClock that holds still while a local handler runs in real time: virtual time must not
    jump to a task's timeout while the handler is still working."""

    def __init__(self, start: float) -> None:
        super().__init__(start)
        self.busy = 0

    async def _drive(self) -> None:
        while self._sleepers:
            while self.busy:
                await asyncio.sleep(0.002)
            for _ in range(_IDLE_ROUNDS):
                await asyncio.sleep(0)
            if self.busy:
                continue
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)
            if not self._sleepers:
                return
            deadline, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            future.set_result(None)


class RecordedResolver:
    """Answers each Task call with the recorded result of its state's next call."""

    def __init__(
        self,
        calls: Iterable[Call],
        callbacks: CallbackRegistry,
        fallback: Any = None,
        clock: _ReplayClock | None = None,
    ) -> None:
        self.clock = clock
        self.queues: dict[str, deque[Call]] = {}
        for call in calls:
            self.queues.setdefault(call.state, deque()).append(call)
        self.callbacks = callbacks
        self.fallback = fallback
        self.made: dict[str, int] = {}
        self.unrecorded: list[str] = []

    def handles(self, request: TaskRequest) -> bool:
        return True

    async def invoke(self, request: TaskRequest) -> Any:
        n = self.made[request.state_name] = self.made.get(request.state_name, 0) + 1
        queue = self.queues.get(request.state_name)
        if not queue:
            if self.fallback is not None and _is_lambda(request) and self.fallback.handles(request):
                if self.clock is not None:
                    self.clock.busy += 1
                try:
                    return await self.fallback.invoke(request)
                finally:
                    if self.clock is not None:
                        self.clock.busy -= 1
            self.unrecorded.append(request.state_name)
            raise ASLError(
                NO_RECORDING,
                f"state {request.state_name!r} calls {request.resource} (call {n}) but the execution "
                "recorded no result for it; allow local handlers to run it",
            )
        call = queue.popleft()
        if request.task_token is not None:
            # A callback task: the recorded outcome is what SendTaskSuccess/Failure delivered.
            if call.failed:
                self.callbacks.fail(request.task_token, call.error, call.cause)
            else:
                self.callbacks.complete(request.task_token, call.output)
            return None
        if call.failed:
            raise ASLError(call.error or "States.TaskFailed", call.cause)
        return call.output


def _is_lambda(request: TaskRequest) -> bool:
    kind, service, _ = resource_kind(request.resource)
    return kind == "lambda" or service == "lambda"


@dataclass
class ReplayResult:
    execution_arn: str
    name: str
    status: tuple[str | None, str | None]  # (was, now)
    path: tuple[list[str], list[str]]
    output: tuple[Any, Any]
    error: tuple[str | None, str | None]
    diverges_at: dict[str, Any] | None
    unrecorded: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def path_changed(self) -> bool:
        return self.path[0] != self.path[1]

    @property
    def output_changed(self) -> bool:
        return self.output[0] != self.output[1]

    @property
    def status_changed(self) -> bool:
        return self.status[0] != self.status[1] or self.error[0] != self.error[1]

    @property
    def changed(self) -> bool:
        return self.path_changed or self.output_changed or self.status_changed

    def to_json(self) -> dict[str, Any]:
        return {
            "executionArn": self.execution_arn,
            "name": self.name,
            "changed": self.changed,
            "pathChanged": self.path_changed,
            "outputChanged": self.output_changed,
            "statusChanged": self.status_changed,
            "status": {"was": self.status[0], "now": self.status[1]},
            "error": {"was": self.error[0], "now": self.error[1]},
            "path": {"was": self.path[0], "now": self.path[1]},
            "output": {"was": self.output[0], "now": self.output[1]},
            "divergesAt": self.diverges_at,
            "unrecorded": self.unrecorded,
            "seconds": round(self.seconds, 4),
        }


def _divergence(
    was_path: list[str], now_path: list[str], was_out: list[tuple[str, Any]], now_out: list[tuple[str, Any]]
) -> dict[str, Any] | None:
    for i, (a, b) in enumerate(zip(was_path, now_path, strict=False)):
        if a != b:
            return {"state": was_path[i - 1] if i else None, "was": a, "now": b, "step": i}
    if len(was_path) != len(now_path):
        i = min(len(was_path), len(now_path))
        return {
            "state": was_path[i - 1] if i else None,
            "was": was_path[i] if i < len(was_path) else None,
            "now": now_path[i] if i < len(now_path) else None,
            "step": i,
        }
    for i, ((state, a), (_, b)) in enumerate(zip(was_out, now_out, strict=False)):
        if a != b:
            return {"state": state, "outputChanged": True, "step": i}
    return None


async def replay_one(
    definition: Definition, recording: Recording, *, fallback: Any = None, timeout: float = REPLAY_TIMEOUT
) -> ReplayResult:
    """Run `recording`'s input through `definition` with its recorded task results; compare."""
    began = time.perf_counter()
    clock = _ReplayClock(recording.start_time)
    callbacks = CallbackRegistry()
    resolver = RecordedResolver(recording.calls, callbacks, fallback, clock)
    interpreter = Interpreter(definition, resolver=resolver, clock=clock, callbacks=callbacks)
    arn = recording.execution_arn or "arn:aws:states:us-east-1:123456789012:execution:Replay:replay"
    parts = arn.split(":")
    machine_name = parts[6] if len(parts) > 7 else "Replay"
    machine_arn = recording.state_machine_arn or ":".join([*parts[:5], "stateMachine", machine_name])
    # The original's identity, so `$$.Execution.Id` and friends give the same values as before.
    info = ExecutionInfo(
        execution_arn=arn,
        name=recording.name,
        state_machine_arn=machine_arn,
        state_machine_name=machine_name,
        start_time=recording.start_time,
    )
    run = interpreter.start(info, recording.input)
    try:
        outcome = await asyncio.wait_for(run.wait(), timeout)
        status, output, error = outcome.status, outcome.output, outcome.error
    except TimeoutError:
        run.shutdown()
        status, output, error = "REPLAY_TIMED_OUT", None, "Replay.Timeout"
    now_path: list[str] = []
    now_out: list[tuple[str, Any]] = []
    for event in run.events:
        if event.type.endswith("StateEntered"):
            now_path.append((event.details or {}).get("name", ""))
        elif event.type.endswith("StateExited"):
            details = event.details or {}
            now_out.append((details.get("name", ""), load_json(details.get("output"))))
    was_output = recording.output if recording.status == "SUCCEEDED" else None
    now_output = json.loads(json.dumps(output)) if status == "SUCCEEDED" else None
    return ReplayResult(
        execution_arn=recording.execution_arn,
        name=recording.name,
        status=(recording.status, status),
        path=(recording.path, now_path),
        output=(was_output, now_output),
        error=(recording.error, error),
        diverges_at=_divergence(recording.path, now_path, recording.outputs, now_out),
        unrecorded=resolver.unrecorded,
        seconds=time.perf_counter() - began,
    )


async def replay_many(
    definition: Definition | str | Mapping[str, Any],
    recordings: Iterable[Recording],
    *,
    substitutions: Mapping[str, Any] | None = None,
    fallback: Any = None,
    budget: float = REPLAY_BUDGET,
) -> list[ReplayResult]:
    """Replay each recording in turn (each on its own virtual clock) against one definition, within
    `budget` seconds of wall time in all: a definition that spins on its recorded results costs the
    caller a bounded wait, and the executions past the budget are left out."""
    if not isinstance(definition, Definition):
        definition = load_definition(definition, substitutions)
    deadline = time.monotonic() + budget
    results = []
    for recording in recordings:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        results.append(
            await replay_one(definition, recording, fallback=fallback, timeout=min(REPLAY_TIMEOUT, left))
        )
    return results


def summary(results: Sequence[ReplayResult]) -> dict[str, Any]:
    changed = [r for r in results if r.changed]
    return {
        "replayed": len(results),
        "changed": len(changed),
        "pathChanged": sum(r.path_changed for r in results),
        "outputChanged": sum(r.output_changed for r in results),
        "statusChanged": sum(r.status_changed for r in results),
        "unrecorded": sum(bool(r.unrecorded) for r in results),
    }


# -- from the store (the CLI) ------------------------------------------------------------------------


def recordings_from_store(
    store: Any, executions: Sequence[str], last: int = 0, machine: str = ""
) -> list[Recording]:
    """Histories read from a data dir's store: executions by ARN or name, and/or the last N of a machine."""
    records: list[dict[str, Any]] = []
    for ref in executions:
        record = store.get_execution(ref)
        if record is None:
            matches = [r for r in store.list_executions(limit=100_000) if r["name"] == ref]
            if not matches:
                raise LookupError(f"no execution {ref!r} in the store")
            if len(matches) > 1:
                raise LookupError(f"execution name {ref!r} is not unique; give its ARN")
            record = matches[0]
        records.append(record)
    if last:
        records.extend(reversed(store.list_executions(state_machine_arn=machine or None, limit=last)))
    out = []
    for record in records:
        if record.get("status") == "RUNNING":
            continue  # unfinished: nothing to compare with
        events = [e.to_api() for e in store.load_events(record["executionArn"])]
        out.append(Recording.from_history(events, record["executionArn"], record.get("stateMachineArn", "")))
    return out


def format_text(results: Sequence[ReplayResult]) -> str:
    lines = []
    for r in results:
        if not r.changed:
            lines.append(f"  same     {r.name}: {r.status[1]}")
            continue
        what = [
            w
            for w, c in (("path", r.path_changed), ("output", r.output_changed), ("status", r.status_changed))
            if c
        ]
        where = ""
        d = r.diverges_at
        if d and "was" in d:
            where = (
                f" after {d['state']}: {d['was']} -> {d['now']}"
                if d.get("state")
                else f": {d['was']} -> {d['now']}"
            )
        elif d:
            where = f" at {d['state']} (output)"
        status = f" {r.status[0]} -> {r.status[1]}" if r.status_changed else ""
        lines.append(f"  CHANGED  {r.name}: {', '.join(what)}{where}{status}")
        if r.unrecorded:
            lines.append(f"           no recording for: {', '.join(sorted(set(r.unrecorded)))}")
    s = summary(results)
    lines.append(f"{s['changed']} of {s['replayed']} executions would change")
    return "\n".join(lines)


def main_replay(
    executions: Sequence[str],
    definition_text: str,
    *,
    data_dir: str,
    substitutions: Mapping[str, Any] | None = None,
    last: int = 0,
    machine: str = "",
    as_json: bool = False,
) -> int:
    """`workflows replay`: 0 when nothing would change, 1 when something would, 2 on bad input."""
    import sys

    from workflows.asl.errors import DefinitionError
    from workflows.service.store import Store

    try:
        definition = load_definition(definition_text, substitutions)
    except DefinitionError as exc:
        from workflows.service.editing import problem_lines

        for line in problem_lines(definition_text, [d.to_api() for d in exc.diagnostics]):
            print(f"workflows replay: {line}", file=sys.stderr)
        return 2
    store = Store(data_dir)
    try:
        recordings = recordings_from_store(store, executions, last=last, machine=machine)
    except LookupError as exc:
        print(f"workflows replay: {exc.args[0]}", file=sys.stderr)
        return 2
    finally:
        store.close()
    if not recordings:
        print("workflows replay: no finished execution to replay", file=sys.stderr)
        return 2
    began = time.perf_counter()
    results = asyncio.run(replay_many(definition, recordings))
    elapsed = time.perf_counter() - began
    if as_json:
        doc = {**summary(results), "seconds": round(elapsed, 3), "executions": [r.to_json() for r in results]}
        print(json.dumps(doc, ensure_ascii=False, default=str))
    else:
        print(format_text(results))
    return 1 if any(r.changed for r in results) else 0
