"""An execution's history read back against its definition: the threads of control (the execution,
each Parallel branch, each Map iteration), the states each entered in order, and which transition of
the definition each state took (its Next, a Choice rule by index, the Default, a Catch by index) and
which Retry each failed attempt used.

History events carry no rule or catcher index, so this module works them out:

- a state's thread comes from `previousEventId`: an event links to the one before it in its own
  thread. The exceptions are AWS's: a Parallel branch's first state links to 0 (it joins the oldest
  branch of that Parallel still waiting to start), and a Map or Parallel's closing events link to
  whatever came last;
- a Choice rule: when exactly one rule (or the Default) leads to the state entered next, that one.
  Otherwise the rules are evaluated again, in order, on the input recorded in `ChoiceStateEntered`,
  with the variables rebuilt from `assignedVariables` and the context object from the history; the
  first that matches must lead where the execution went, or the transition stays unresolved (a note
  says so) rather than credited to a guess;
- a Catch: the error of the attempt that failed last (a task's failure event, a Fail state's Error,
  or what a Map iteration or Parallel branch failed with) picks the first catcher whose ErrorEquals
  matches, as the interpreter does, and it must lead where the execution went. When the error is
  not recorded, a catcher that alone leads there, or the error its ResultPath kept in the output;
- a Retry: each failed attempt followed by another attempt of the same state used the first retrier
  matching its error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workflows.asl import errors
from workflows.asl.definition import JSONATA, Definition, State, StateMachine
from workflows.asl.errors import ASLError
from workflows.asl.jsonata_eval import evaluate_field, expression_text
from workflows.asl.jsonpath import PathError, compile_reference
from workflows.engine.history import HistoryEvent

__all__ = ["Step", "Thread", "Trace", "Transition", "error_matches", "trace_history"]

# Task events of the three task kinds: Lambda functions, activities and service integrations.
_TASK_PREFIXES = ("LambdaFunction", "Activity", "Task")
_ATTEMPT_STARTS = frozenset(p + "Scheduled" for p in _TASK_PREFIXES)
_TASK_FAILURES = frozenset(
    p + s
    for p in _TASK_PREFIXES
    for s in ("Failed", "TimedOut", "ScheduleFailed", "StartFailed", "SubmitFailed")
)
_FAIL_SPEC_ERROR = "Error"


@dataclass(frozen=True, slots=True)
class Transition:
    """One edge of a definition: `kind` is next, default, choice, catch or retry; `index` numbers the
    Choice rule, catcher or retrier (None for next and default). A retry goes from a state to itself."""

    source: str
    target: str
    kind: str
    index: int | None = None

    def label(self) -> str:
        where = {"choice": "Choices", "catch": "Catch", "retry": "Retry"}.get(self.kind)
        edge = f"{self.kind}" if where is None else f"{where}[{self.index}]"
        return f"{self.source} {edge} -> {self.target}"

    def to_json(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, "kind": self.kind, "index": self.index}


@dataclass(eq=False)
class Step:
    """One visit of a state: what it was given and gave, its attempts, and where it went."""

    name: str
    type: str
    input: Any
    thread: Thread
    entered_id: int
    entered_at: float | None = None
    output: Any = None
    exited_id: int | None = None
    parameters: Any = None  # what a Task sent to its resource, on its latest attempt
    result: Any = None  # what the resource answered, before ResultSelector / ResultPath
    attempts: int = 0
    errors: list[str | None] = field(default_factory=list)  # the error of each failed attempt
    retries: list[int | None] = field(default_factory=list)  # the retrier each retry used
    caught: int | None = None  # the catcher that took the error, once resolved
    error: str | None = None  # the error the state ended with (caught or not)
    next: str | None = None  # the state entered next in the same thread
    transition: Transition | None = None
    children: list[Thread] = field(default_factory=list)  # Parallel branches, Map iterations
    # Working state while reading the history
    pending: bool = False  # the latest attempt failed and nothing has followed it yet
    closed: bool = False  # a Map or Parallel that recorded its failure: it runs no further attempt
    child_error: str | None = None  # the latest error raised inside a branch or iteration of it
    variables: dict[str, Any] | None = None  # variables in scope on entry (kept for Choice states)

    @property
    def exited(self) -> bool:
        return self.exited_id is not None

    @property
    def retried(self) -> int:
        return len(self.retries)

    def __repr__(self) -> str:
        return f"Step({self.name!r}, next={self.next!r}, attempts={self.attempts})"


@dataclass(eq=False)
class Thread:
    """The execution itself, one Parallel branch or one Map iteration: its steps, in order."""

    kind: str  # execution | branch | iteration
    machine: StateMachine
    parent: Step | None = None
    index: int = 0
    steps: list[Step] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    started: bool = False

    @property
    def path(self) -> list[str]:
        return [step.name for step in self.steps]

    @property
    def open(self) -> Step | None:
        step = self.steps[-1] if self.steps else None
        return step if step is not None and not step.exited and not _never_exits(step) else None


@dataclass
class Trace:
    """A history read back: the root thread, every step in the order entered, and notes on what
    could not be resolved."""

    root: Thread
    steps: list[Step]
    status: str | None = None
    notes: list[str] = field(default_factory=list)

    def transitions(self) -> list[Transition]:
        """Every resolved transition taken, retries included, in the order steps were entered."""
        out: list[Transition] = []
        for step in self.steps:
            out.extend(Transition(step.name, step.name, "retry", i) for i in step.retries if i is not None)
            if step.transition is not None:
                out.append(step.transition)
        return out


@dataclass
class _Event:
    id: int
    prev: int
    type: str
    timestamp: float | None
    details: dict[str, Any]


error_matches = errors.error_matches  # by the interpreter's rules (asl/errors.py)


def trace_history(
    definition: Definition,
    events: Iterable[HistoryEvent | Mapping[str, Any]],
    *,
    context: Mapping[str, Any] | None = None,
) -> Trace:
    """Read `events` (HistoryEvent objects, or events as GetExecutionHistory returns them) against the
    definition they ran. `context` is the context object's Execution and StateMachine parts, when
    known (for re-evaluating Choice rules that read `$$`); otherwise they come from the history."""
    return _Reader(definition, context).read([_event(e) for e in events])


# ----- reading ---------------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, definition: Definition, context: Mapping[str, Any] | None) -> None:
        self.definition = definition
        self.base_context = dict(context or {})
        # State names are unique in a whole definition (AWS validates it), so a name finds its state
        # and the (sub)machine it belongs to.
        self.states: dict[str, tuple[State, StateMachine]] = {}
        _index(definition.machine, self.states)
        self.root = Thread("execution", definition.machine)
        self.owner: dict[int, Thread] = {}
        self.threads: list[Thread] = [self.root]
        self.steps: list[Step] = []
        self.notes: list[str] = []
        self.status: str | None = None

    def read(self, events: list[_Event]) -> Trace:
        for event in events:
            self._event(event)
        for thread in self.threads:
            for step, after in zip(thread.steps, thread.steps[1:], strict=False):
                if step.exited:
                    step.next = after.name
            for step in thread.steps:
                self._resolve(step)
        return Trace(self.root, self.steps, self.status, self.notes)

    # ----- events to threads -----

    def _event(self, e: _Event) -> None:
        kind = e.type
        if kind == "ExecutionStarted":
            self.root.context = self._root_context(e)
            self.owner[e.id] = self.root
            return
        if kind.startswith("Execution"):
            self.owner[e.id] = self.root
            if kind in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
                self.status = kind.removeprefix("Execution").upper().replace("TIMEDOUT", "TIMED_OUT")
            return
        if kind.endswith("StateEntered"):
            self._entered(e)
            return
        if kind.endswith("StateExited"):
            self._exited(e)
            return
        if kind == "MapIterationStarted":
            self._iteration_started(e)
            return
        if kind in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
            thread = self._iteration(e)
            self.owner[e.id] = thread or self.owner.get(e.prev, self.root)
            return
        if kind in ("MapStateStarted", "ParallelStateStarted"):
            self._composite_started(e)
            return
        if kind in ("MapStateFailed", "ParallelStateFailed"):
            step = self._enclosing(e, kind.removesuffix("StateFailed"))
            if step is not None:
                self.owner[e.id] = step.thread
                self._failed(step, self._composite_error(step))
                step.closed = True
            return
        if kind.startswith(("MapState", "ParallelState", "MapRun")):
            step = self._enclosing(e, "Parallel" if kind.startswith("Parallel") else "Map")
            self.owner[e.id] = step.thread if step is not None else self.owner.get(e.prev, self.root)
            return
        thread = self.owner.get(e.prev, self.root)
        self.owner[e.id] = thread
        step = thread.open
        if step is None:
            return
        if kind in _ATTEMPT_STARTS:
            self._attempt(step)
            sent = e.details.get("input", e.details.get("parameters"))
            step.parameters = _json_text(sent) if "parameters" in e.details else sent
        elif kind.endswith("Succeeded") and kind.startswith(_TASK_PREFIXES):
            step.result = e.details.get("output")
        elif kind in _TASK_FAILURES:
            default = errors.TIMEOUT if kind.endswith("TimedOut") else None
            self._failed(step, e.details.get("error", default))
        elif kind == "EvaluationFailed":
            self._attempt(step)
            self._failed(step, e.details.get("error"))

    def _entered(self, e: _Event) -> None:
        name = e.details.get("name", "")
        found = self.states.get(name)
        if found is None:
            self.notes.append(f"event {e.id}: state {name!r} is not in the definition")
            self.owner[e.id] = self.owner.get(e.prev, self.root)
            return
        state, machine = found
        thread = self.owner.get(e.prev) if e.prev else None
        if thread is None or thread.machine is not machine or thread.open is not None:
            thread = self._thread_for(machine)
        thread.started = True
        step = Step(name, state.type, e.details.get("input"), thread, e.id, e.timestamp)
        if state.type == "Choice":
            step.variables = dict(thread.variables)
        elif state.type == "Fail":
            step.error = self._fail_error(state, step)
            self._propagate(thread, step.error)
        thread.steps.append(step)
        self.steps.append(step)
        self.owner[e.id] = thread

    def _thread_for(self, machine: StateMachine) -> Thread:
        """The thread a state whose entry links to nothing of its own belongs to: the execution, the
        oldest branch of a Parallel not yet started, or (after a redrive) the last thread of it."""
        if machine is self.definition.machine:
            return self.root
        waiting = [t for t in self.threads if t.machine is machine and not t.started]
        if waiting:
            return waiting[0]
        idle = [t for t in self.threads if t.machine is machine and t.open is None]
        if idle:
            return idle[-1]
        thread = Thread("branch", machine)
        self.threads.append(thread)
        return thread

    def _exited(self, e: _Event) -> None:
        name = e.details.get("name", "")
        thread = self.owner.get(e.prev)
        if thread is None or thread.open is None or thread.open.name != name:
            candidates = [t for t in self.threads if t.open is not None and t.open.name == name]
            thread = candidates[-1] if candidates else None
        if thread is None or thread.open is None:
            self.owner[e.id] = self.owner.get(e.prev, self.root)
            return
        step = thread.open
        step.exited_id = e.id
        step.output = e.details.get("output")
        assigned = e.details.get("assignedVariables") or {}
        for key, text in assigned.items():
            thread.variables[key] = _json_text(text)
        self.owner[e.id] = thread

    def _composite_started(self, e: _Event) -> None:
        type_ = "Map" if e.type.startswith("Map") else "Parallel"
        thread = self.owner.get(e.prev, self.root)
        step = thread.open
        if step is None or step.type != type_ or step.entered_id != e.prev:
            # Not its first attempt: a retried Map or Parallel starts again after its failed children.
            step = self._enclosing(e, type_)
        if step is None:
            self.owner[e.id] = thread
            return
        self.owner[e.id] = step.thread
        if step.attempts and not step.pending:
            # A Map or Parallel that is retried records no failure of its own: it starts again.
            step.pending = True
            step.errors.append(self._composite_error(step))
        self._attempt(step)
        if step.type == "Parallel":
            state = self.states[step.name][0]
            for i, branch in enumerate(state.branches):
                child = Thread("branch", branch, step, i, variables=dict(step.thread.variables))
                child.context = dict(step.thread.context)
                step.children.append(child)
                self.threads.append(child)

    def _iteration_started(self, e: _Event) -> None:
        name = e.details.get("name", "")
        index = int(e.details.get("index", 0))
        step = self._open_composite(self.owner.get(e.prev), name)
        if step is None:
            candidates = [s for s in self.steps if s.name == name and not s.exited]
            step = candidates[-1] if candidates else None
        if step is None:
            self.owner[e.id] = self.owner.get(e.prev, self.root)
            return
        state = self.states[step.name][0]
        assert state.processor is not None
        child = Thread("iteration", state.processor, step, index, variables=dict(step.thread.variables))
        child.context = {
            **step.thread.context,
            "Map": {"Item": {"Index": index, "Value": self._item(step, index)}},
        }
        step.children.append(child)
        self.threads.append(child)
        self.owner[e.id] = child

    def _iteration(self, e: _Event) -> Thread | None:
        name, index = e.details.get("name", ""), e.details.get("index")
        thread = self.owner.get(e.prev)
        while thread is not None:
            if thread.kind == "iteration" and thread.parent is not None and thread.parent.name == name:
                if thread.index == index:
                    return thread
                break
            thread = thread.parent.thread if thread.parent is not None else None
        for step in reversed(self.steps):
            if step.name == name:
                for child in step.children:
                    if child.index == index:
                        return child
        return None

    def _open_composite(self, thread: Thread | None, name: str) -> Step | None:
        """The open Map or Parallel step named `name` at or above `thread`."""
        while thread is not None:
            step = thread.open
            if step is not None and step.name == name:
                return step
            if thread.parent is not None and thread.parent.name == name:
                return thread.parent
            thread = thread.parent.thread if thread.parent is not None else None
        return None

    def _enclosing(self, e: _Event, type_: str) -> Step | None:
        """The running Map or Parallel step an event without a name belongs to: up from the thread of
        the event it links to (past any that already recorded their failure); failing that, the
        latest running one."""
        thread = self.owner.get(e.prev)
        while thread is not None:
            step = thread.open
            if step is not None and step.type == type_ and not step.closed:
                return step
            parent = thread.parent
            if parent is not None and parent.type == type_ and not parent.exited and not parent.closed:
                return parent
            thread = parent.thread if parent is not None else None
        for step in reversed(self.steps):
            if step.type == type_ and not step.exited and not step.closed:
                return step
        return None

    # ----- attempts, failures -----

    def _attempt(self, step: Step) -> None:
        if step.pending:
            # The attempt before failed and another followed: a retrier took it.
            step.pending = False
            step.retries.append(self._retrier(step, step.errors[-1] if step.errors else None))
        step.attempts += 1

    def _failed(self, step: Step, error: str | None) -> None:
        step.pending = True
        step.errors.append(error)
        step.error = error
        self._propagate(step.thread, error)

    def _propagate(self, thread: Thread, error: str | None) -> None:
        if error is None:
            return
        parent = thread.parent
        while parent is not None:
            parent.child_error = error
            parent = parent.thread.parent

    def _composite_error(self, step: Step) -> str | None:
        state = self.states[step.name][0]
        spec = state.spec
        tolerance = ("ToleratedFailureCount", "ToleratedFailurePercentage")
        if state.type == "Map" and (
            (state.processor is not None and state.processor.processor_mode == "DISTRIBUTED")
            or any(k in spec or k + "Path" in spec for k in tolerance)
        ):
            return errors.EXCEED_TOLERATED_FAILURE_THRESHOLD
        return step.child_error

    def _retrier(self, step: Step, error: str | None) -> int | None:
        retry = self.states[step.name][0].retry
        if error is not None:
            for i, retrier in enumerate(retry):
                if error_matches(retrier.error_equals, error):
                    return i
        if len(retry) == 1:
            return 0  # a retry happened, and only one retrier could have made it
        self.notes.append(f"{step.name}: a retry of error {error!r} matches no single retrier")
        return None

    def _fail_error(self, state: State, step: Step) -> str | None:
        spec = state.spec
        value = spec.get(_FAIL_SPEC_ERROR)
        if isinstance(value, str) and expression_text(value) is None:
            return value
        if "ErrorPath" in spec and state.query_language != JSONATA:
            try:
                found = compile_reference(spec["ErrorPath"]).get(
                    step.input, self._context(step), step.thread.variables
                )
            except PathError:
                return None
            return found if isinstance(found, str) else None
        return None

    # ----- transitions -----

    def _resolve(self, step: Step) -> None:
        if step.next is None:
            return
        state = self.states[step.name][0]
        if state.type == "Choice":
            step.transition = self._choice(step, state)
        elif step.pending or (step.next != state.next and state.catch):
            step.transition = self._catch(step, state)
        elif step.next == state.next:
            step.transition = Transition(step.name, step.next, "next")
        if step.transition is None:
            self.notes.append(
                f"{step.name}: went to {step.next!r}, which no transition of the definition explains"
            )

    def _choice(self, step: Step, state: State) -> Transition | None:
        target = step.next
        assert target is not None
        leading = [i for i, rule in enumerate(state.choices) if rule.next == target]
        by_default = state.default == target
        if len(leading) + by_default == 1:
            if by_default:
                return Transition(step.name, target, "default")
            return Transition(step.name, target, "choice", leading[0])
        try:
            matched = self._evaluate(step, state)
        except (ASLError, PathError, TypeError, ValueError, KeyError) as exc:
            self.notes.append(f"{step.name}: its Choice rules could not be evaluated again: {exc}")
            return None
        if matched is None and by_default:
            return Transition(step.name, target, "default")
        if matched is not None and state.choices[matched].next == target:
            return Transition(step.name, target, "choice", matched)
        self.notes.append(f"{step.name}: its Choice rules, evaluated again, do not lead to {target!r}")
        return None

    def _evaluate(self, step: Step, state: State) -> int | None:
        """The index of the first rule that matches the recorded input, or None."""
        context = self._context(step)
        variables = step.variables or {}
        value = step.input
        if state.query_language == JSONATA:
            bindings = dict(variables)
            bindings["states"] = {"input": value, "context": context}
            for i, rule in enumerate(state.choices):
                text = expression_text(rule.condition)
                matched = (
                    evaluate_field(text, f"Choices[{i}].Condition", bindings) if text else rule.condition
                )
                if matched is True:
                    return i
            return None
        env = _Env(context, variables)
        if state.input_path_null:
            value = {}
        elif state.input_path is not None:
            value = state.input_path.get(value, context, variables)
        for i, rule in enumerate(state.choices):
            assert rule.predicate is not None
            if rule.predicate(value, env):
                return i
        return None

    def _catch(self, step: Step, state: State) -> Transition | None:
        target = step.next
        assert target is not None
        error = step.errors[-1] if step.pending and step.errors else step.error
        if error is not None:
            index = self._first_catcher(state, error)
            if index is not None and state.catch[index].next == target:
                step.caught = index
                return Transition(step.name, target, "catch", index)
        leading = [i for i, c in enumerate(state.catch) if c.next == target]
        if len(leading) == 1 and error is None:
            step.caught = leading[0]
            return Transition(step.name, target, "catch", leading[0])
        for i in leading:  # the error as the catcher's ResultPath kept it in the output
            kept = self._kept_error(state, i, step.output)
            if kept is not None and self._first_catcher(state, kept) == i:
                step.caught, step.error = i, kept
                return Transition(step.name, target, "catch", i)
        if not step.pending and step.next == state.next:
            return Transition(step.name, target, "next")
        return None

    @staticmethod
    def _first_catcher(state: State, error: str) -> int | None:
        for i, catcher in enumerate(state.catch):
            if error_matches(catcher.error_equals, error):
                return i
        return None

    @staticmethod
    def _kept_error(state: State, index: int, output: Any) -> str | None:
        catcher = state.catch[index]
        if catcher.has_output or catcher.result_path_null:
            return None
        found: Any = output
        if catcher.result_path is not None:
            try:
                found = catcher.result_path.get(output)
            except PathError:
                return None
        error = found.get("Error") if isinstance(found, dict) else None
        return error if isinstance(error, str) else None

    # ----- context object -----

    def _root_context(self, e: _Event) -> dict[str, Any]:
        base = self.base_context
        execution = {
            "Id": "",
            "Input": e.details.get("input"),
            "Name": "",
            "RoleArn": e.details.get("roleArn", ""),
            "StartTime": _iso(e.timestamp),
            "RedriveCount": 0,
            **dict(base.get("Execution") or {}),
        }
        return {
            "Execution": execution,
            "StateMachine": dict(base.get("StateMachine") or {"Id": "", "Name": ""}),
        }

    def _context(self, step: Step) -> dict[str, Any]:
        return {**step.thread.context, "State": {"Name": step.name, "EnteredTime": _iso(step.entered_at)}}

    def _item(self, step: Step, index: int) -> Any:
        """The Map item an iteration was given (for `$$.Map.Item.Value`), where JSONPath says which."""
        state = self.states[step.name][0]
        if state.query_language == JSONATA or "ItemBatcher" in state.spec:
            return None
        try:
            value = step.input
            context, variables = self._context(step), step.thread.variables
            if state.input_path is not None:
                value = state.input_path.get(value, context, variables)
            items = state.items_path.get(value, context, variables) if state.items_path is not None else value
        except PathError:
            return None
        return items[index] if isinstance(items, list) and 0 <= index < len(items) else None


class _Env:
    """What a compiled JSONPath Choice rule reads besides its input: the context object and variables."""

    __slots__ = ("context", "variables")

    def __init__(self, context: dict[str, Any], variables: dict[str, Any]) -> None:
        self.context = context
        self.variables = variables


def _index(machine: StateMachine, out: dict[str, tuple[State, StateMachine]]) -> None:
    for name, state in machine.states.items():
        out[name] = (state, machine)
        for branch in state.branches:
            _index(branch, out)
        if state.processor is not None:
            _index(state.processor, out)


def _never_exits(step: Step) -> bool:
    # A Fail state is entered and ends its thread; every other state records its exit.
    return step.type == "Fail"


def _event(raw: HistoryEvent | Mapping[str, Any]) -> _Event:
    if isinstance(raw, HistoryEvent):
        return _Event(raw.id, raw.previous_event_id, raw.type, raw.timestamp, dict(raw.details or {}))
    details: dict[str, Any] = {}
    for key, value in raw.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            details = {k: _text_payload(k, v) for k, v in value.items()}
    stamp = raw.get("timestamp")
    if isinstance(stamp, datetime):
        timestamp: float | None = stamp.timestamp()
    elif isinstance(stamp, int | float):
        timestamp = float(stamp)
    elif isinstance(stamp, str):
        try:
            timestamp = datetime.fromisoformat(stamp).timestamp()
        except ValueError:
            timestamp = None
    else:
        timestamp = None
    return _Event(int(raw["id"]), int(raw.get("previousEventId", 0)), str(raw["type"]), timestamp, details)


def _text_payload(key: str, value: Any) -> Any:
    # The API gives payloads as JSON text; HistoryEvent keeps them as values.
    if key in ("input", "output") and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _json_text(text: Any) -> Any:
    # assignedVariables hold each value as JSON text, in HistoryEvent and in the API alike.
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


def _iso(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
