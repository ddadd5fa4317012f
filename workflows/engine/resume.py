"""Resuming an interrupted execution from its history: where each thread stood, and what finished Map iterations and Parallel branches returned."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workflows.asl.definition import (
    State,
    StateMachine,
)
from workflows.asl.errors import ASLError
from workflows.engine.frame import Frame, RunBase, _loads, _Resumed
from workflows.engine.history import HistoryEvent


@dataclass
class _Iteration:
    last_id: int
    events: list[HistoryEvent]


@dataclass
class _MapProgress:
    """How far a Map had got when the engine stopped: finished iterations with their outputs, and the
    events of those still running. Each iteration's events are those of its own thread (see
    HistoryEvent.thread), so a Map nested in another's iterations is told apart from its siblings."""

    name: str
    started: bool = False
    done: dict[int, Any] = field(default_factory=dict)
    running: dict[int, _Iteration] = field(default_factory=dict)
    map_run_arn: str | None = None  # a Distributed Map's run, started before

    @classmethod
    def read(cls, name: str, events: list[HistoryEvent], entered_id: int, path: str = "") -> _MapProgress:
        progress = cls(name)
        by_id = {e.id: e for e in events}
        prefix = f"{path}/{entered_id}."
        chains: dict[int, list[HistoryEvent]] = {}
        for event in events:
            if event.id <= entered_id:
                continue
            thread = event.thread
            if thread == path:
                if event.type == "MapStateStarted" and event.previous_event_id == entered_id:
                    progress.started = True
                elif event.type == "MapRunStarted" and progress.map_run_arn is None:
                    progress.map_run_arn = (event.details or {}).get("mapRunArn")
                continue
            index = _child_index(thread, prefix)
            if index is None:
                continue
            if event.type == "MapIterationSucceeded":
                last = by_id.get(event.previous_event_id)
                if last is not None and last.details is not None and "output" in last.details:
                    progress.done[index] = last.details["output"]
                chains.pop(index, None)
            elif event.type in ("MapIterationFailed", "MapIterationAborted"):
                chains.pop(index, None)  # run again: its error is not recorded
            else:
                chains.setdefault(index, []).append(event)
        for index, chain in chains.items():
            progress.running[index] = _Iteration(chain[-1].id, chain)
        return progress


@dataclass
class _ParallelProgress:
    """How far each branch of a Parallel had got when the engine stopped: the events of each."""

    name: str
    started: bool = False
    branches: list[list[HistoryEvent]] = field(default_factory=list)

    @classmethod
    def read(
        cls, state: State, events: list[HistoryEvent], entered_id: int, path: str = ""
    ) -> _ParallelProgress:
        progress = cls(state.name, branches=[[] for _ in state.branches])
        prefix = f"{path}/{entered_id}b"
        for event in events:
            if event.id <= entered_id:
                continue
            if event.thread == path:
                if event.type == "ParallelStateStarted" and event.previous_event_id == entered_id:
                    progress.started = True
                continue
            index = _child_index(event.thread, prefix)
            if index is not None and index < len(progress.branches):
                progress.branches[index].append(event)
        return progress


def _child_index(thread: str, prefix: str) -> int | None:
    """The iteration or branch index of a thread directly under `prefix` (None: another thread,
    or one nested deeper)."""
    if not thread.startswith(prefix):
        return None
    rest = thread[len(prefix) :]
    return int(rest) if rest.isdigit() else None


def _top_level_events(
    events: list[HistoryEvent], machine: StateMachine, path: str = ""
) -> list[HistoryEvent]:
    """Events of one thread (the execution's, or a Map iteration's or Parallel branch's at `path`):
    ExecutionStarted and its states' Entered/Exited."""
    names = set(machine.states)
    out: list[HistoryEvent] = []
    depth = 0
    for event in events:
        if event.thread != path:
            continue
        t = event.type
        if t in ("MapStateStarted", "ParallelStateStarted"):
            depth += 1
            continue
        if t in ("ExecutionAborted", "ExecutionRedriven"):
            # A StopExecution records no Map/ParallelStateAborted: whatever was open closed here.
            depth = 0
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


class Resume(RunBase):
    """Resuming an interrupted execution from its history: where each thread stood, and what finished Map iterations and Parallel branches returned."""

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
            return name, last.details["input"], frame
        state = self.machine.states[name]
        output = last.details["output"]
        nxt = state.next
        if state.type == "Choice":
            nxt = self._choose_again(state, output, frame)
        if state.end or state.type in ("Succeed",) or nxt is None:
            raise _Resumed(output)
        return nxt, output, frame

    def _events_near(self, path: str) -> list[HistoryEvent]:
        """The recorded events of the thread at `path` and of the threads directly under it (one
        pass over the history for all of them, however many nested states resume)."""
        if self._near is None:
            self._near = {}
            for event in self.prior:
                thread = event.thread
                self._near.setdefault(thread, []).append(event)
                if thread:
                    self._near.setdefault(thread.rsplit("/", 1)[0] + "/*", []).append(event)
        return sorted(self._near.get(path, []) + self._near.get(path + "/*", []), key=lambda e: e.id)

    def _attempts_before(self, entered_id: int, path: str) -> tuple[int, bool, bool, list[ASLError]]:
        """The Task entered at `entered_id` (in the thread at `path`) before the restart: how many
        attempts it had scheduled, whether the last had not ended (scheduled, then neither succeeded,
        failed nor timed out), whether that one had started, and the errors of those that failed
        (each was retried: the Retry budget they used stays used)."""
        thread = {entered_id}
        count = 0
        open_attempt = started = False
        failures: list[ASLError] = []
        for event in self._events_near(path):
            if event.id > entered_id and event.previous_event_id in thread:
                thread.add(event.id)
                kind = event.type
                if kind.endswith("Scheduled"):
                    count += 1
                    open_attempt, started = True, False
                elif kind.endswith("Started") and not kind.endswith("StateStarted"):
                    started = True
                elif kind.endswith(("Succeeded", "Failed", "TimedOut")):
                    open_attempt = False
                    details = event.details or {}
                    if not kind.endswith("Succeeded") and "error" in details:
                        failures.append(ASLError(details["error"], details.get("cause")))
        return count, open_attempt, started, failures

    async def _resume_thread(
        self, machine: StateMachine, value: Any, frame: Frame, events: list[HistoryEvent]
    ) -> Any:
        """Finish a Map iteration a restart interrupted: from its last recorded state, as `_resume`
        does for the execution (variables it assigned are restored; its current state is not entered again)."""
        top = _top_level_events(events, machine, frame.path)
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
