"""Run a definition in a unit test: in process, on virtual time, with each Task answered by a Python
handler, a mocked response (Step Functions Local's MockedResponses), an injected error, or the
project's own Lambda handler found through template.yaml; and the execution read back as a test
wants it (status, output, path, each state's input and output, retries, history).

Template functions run in the test's own process, not in worker processes as `workflows serve` runs
them: virtual time (FakeClock) moves whenever every task on the event loop is blocked, so work done
in another process or thread would let a Task's TimeoutSeconds fire at once. In process, a handler
also sees the test's moto `mock_aws` and monkeypatches, and coverage.py and debuggers see its code.
What it does not get is Lambda's isolation: its environment (the template's Variables over the
test's own) is applied to `os.environ` while it is imported and called, its CodeUri is put first on
`sys.path`, and no timeout or memory limit is enforced.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import json
import os
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflows.asl import errors
from workflows.asl.definition import Definition, load_definition
from workflows.asl.errors import ASLError
from workflows.asl.payload import dumps
from workflows.engine.clock import FakeClock
from workflows.engine.history import HistoryEvent
from workflows.engine.interpreter import ExecutionRun
from workflows.engine.resolvers import (
    LambdaContext,
    MockConfigResolver,
    _invoke_payload,
    function_name,
    invoke_response,
    lambda_error,
)
from workflows.engine.runner import execution_info, run_async
from workflows.engine.tasks import TaskRequest, resource_kind
from workflows.local.template import FunctionSpec, Stack, load_template
from workflows.service.coverage import Coverage
from workflows.service.trace import Step, Trace, Transition, trace_history

__all__ = ["Execution", "StateMachineRunner", "TaskContext", "TaskError"]

Handler = Callable[..., Any]

# An ASL error a handler can raise to fail its task with that name and cause, whatever the resource.
TaskError = ASLError

_EVERY_ATTEMPT = "0-1000000000"


class TaskContext(LambdaContext):
    """What a handler receives as its second argument: Lambda's context object, plus which state,
    resource and attempt (0 is the first try) it is answering."""

    def __init__(
        self, request: TaskRequest, attempt: int, name: str, timeout: float | None, memory_mb: int = 128
    ) -> None:
        super().__init__(name, timeout, memory_mb)
        self.state_name = request.state_name
        self.resource = request.resource
        self.attempt = attempt
        self.execution_arn = request.execution.execution_arn
        self.task_token = request.task_token


@dataclass(frozen=True)
class _Fault:
    state: str
    error: str
    cause: str | None
    attempts: frozenset[int] | None  # None: every attempt


# ----- the execution, as a test reads it ---------------------------------------------------------------------


class Execution:
    """A finished execution: its outcome, the states it went through and the transitions it took."""

    def __init__(self, run: ExecutionRun, trace: Trace, key: str, started: float, ended: float) -> None:
        assert run.outcome is not None
        self.status: str = run.outcome.status
        self.output: Any = run.outcome.output
        self.error: str | None = run.outcome.error
        self.cause: str | None = run.outcome.cause
        self.arn: str = run.info.execution_arn
        self.definition = key
        self.trace = trace
        self.events: list[HistoryEvent] = list(run.events)
        self.elapsed: float = ended - started  # virtual seconds: Waits and retry intervals

    def __repr__(self) -> str:
        return f"Execution({self.status}, path={self.path})"

    # ----- reading -----

    @property
    def history(self) -> list[dict[str, Any]]:
        """The events as GetExecutionHistory gives them (timestamps as ISO text)."""
        return [event.to_api(iso=True) for event in self.events]

    @property
    def path(self) -> list[str]:
        """The states the execution itself entered, in order (not those inside a Map or Parallel)."""
        return self.trace.root.path

    @property
    def entered(self) -> list[str]:
        """Every state entered, at any depth, in the order entered."""
        return [step.name for step in self.trace.steps]

    @property
    def steps(self) -> list[Step]:
        return list(self.trace.steps)

    @property
    def transitions(self) -> list[Transition]:
        """Every transition taken (Next, Default, Choice rule, Catch, Retry), as coverage counts them."""
        return self.trace.transitions()

    def visits(self, state: str) -> list[Step]:
        """Each time `state` was entered, in order."""
        return [step for step in self.trace.steps if step.name == state]

    def state(self, state: str, visit: int = 0) -> Step:
        """One visit of a state (the first by default): `.input`, `.output`, `.attempts`, `.retries`,
        `.error`, `.caught`, `.next`, `.children` (a Map's iterations, a Parallel's branches)."""
        found = self.visits(state)
        if len(found) <= visit:
            raise AssertionError(f"{state!r} was entered {len(found)} time(s){self._said()}")
        return found[visit]

    def input_of(self, state: str, visit: int = 0) -> Any:
        return self.state(state, visit).input

    def output_of(self, state: str, visit: int = 0) -> Any:
        step = self.state(state, visit)
        if not step.exited:
            raise AssertionError(f"{state!r} never exited{self._said()}")
        return step.output

    def path_of(self, state: str, index: int = 0, visit: int = 0) -> list[str]:
        """The states a Parallel's branch `index`, or a Map's iteration `index`, entered in order."""
        for child in self.state(state, visit).children:
            if child.index == index:
                return child.path
        raise AssertionError(f"{state!r} has no branch or iteration {index}{self._said()}")

    def retries(self, state: str) -> int:
        """How many times `state` was retried, over all its visits."""
        return sum(step.retried for step in self.visits(state))

    # ----- asserting -----

    def assert_path(self, *states: str) -> None:
        """The execution entered exactly these states, in this order (Map and Parallel insides apart:
        see `path_of`)."""
        if list(states) != self.path:
            raise AssertionError(_path_difference(list(states), self.path) + self._said())

    def assert_entered(self, *states: str) -> None:
        missing = [s for s in states if s not in self.entered]
        if missing:
            raise AssertionError(f"never entered {missing}; entered {self.entered}{self._said()}")

    def assert_not_entered(self, *states: str) -> None:
        found = [s for s in states if s in self.entered]
        if found:
            raise AssertionError(f"entered {found}; entered {self.entered}{self._said()}")

    def assert_retried(self, state: str, times: int) -> None:
        actual = self.retries(state)
        if actual != times:
            errors_seen = [e for step in self.visits(state) for e in step.errors]
            raise AssertionError(
                f"{state!r} was retried {actual} time(s), not {times} (errors: {errors_seen}){self._said()}"
            )

    def assert_caught(self, state: str, error: str | None = None, *, index: int | None = None) -> None:
        """`state` failed and one of its catchers took it (the error and catcher index, when given)."""
        caught = [s for s in self.visits(state) if s.caught is not None]
        if not caught:
            raise AssertionError(f"no error of {state!r} was caught{self._said()}")
        step = caught[-1]
        if error is not None and step.error != error:
            raise AssertionError(f"{state!r} caught {step.error!r}, not {error!r}{self._said()}")
        if index is not None and step.caught != index:
            raise AssertionError(f"{state!r} was caught by Catch[{step.caught}], not Catch[{index}]")

    def assert_succeeded(self) -> None:
        if self.status != "SUCCEEDED":
            raise AssertionError(f"the execution did not succeed{self._said()}")

    def assert_failed(self, error: str | None = None) -> None:
        if self.status != "FAILED" or (error is not None and self.error != error):
            wanted = "failed" + (f" with {error!r}" if error else "")
            raise AssertionError(f"the execution was expected to have {wanted}{self._said()}")

    def _said(self) -> str:
        out = f"\n  status: {self.status}"
        if self.error is not None:
            out += f", error: {self.error}"
        if self.cause:
            cause = self.cause if len(self.cause) < 500 else self.cause[:500] + "..."
            out += f"\n  cause: {cause}"
        out += f"\n  path: {self.path}"
        return out


def _path_difference(expected: list[str], actual: list[str]) -> str:
    i = 0
    while i < min(len(expected), len(actual)) and expected[i] == actual[i]:
        i += 1
    where = f"from step {i}: expected {expected[i : i + 3]}..., got {actual[i : i + 3]}..."
    return f"path differs {where}\n  expected: {expected}\n  actual:   {actual}"


# ----- the fixture ------------------------------------------------------------------------------------------


class StateMachineRunner:
    """The `sfn` fixture: runs definitions and gives back `Execution`s.

    `sfn.run(definition, input, template=..., handlers=..., mocks=...)` runs one execution to its end.
    `sfn.fail(state, error, attempts=[...])` makes the next runs' `state` fail on those attempts."""

    def __init__(self, root: str | os.PathLike[str] = ".", coverage: Coverage | None = None) -> None:
        self.root = Path(root)
        self.coverage = coverage
        self.faults: list[_Fault] = []
        self.executions: list[Execution] = []

    def fail(
        self,
        state: str,
        error: str = errors.TASK_FAILED,
        cause: str | None = None,
        *,
        attempts: list[int] | tuple[int, ...] | None = None,
        times: int | None = None,
    ) -> StateMachineRunner:
        """Make `state` fail with `error` (and `cause`) on the given attempts, counted from 0 (the first
        try) as the mock file's keys are; `times=N` fails the first N attempts; neither fails them all.
        The attempt's handler or mock is not called. Applies to every later `run` of this test."""
        if attempts is not None and times is not None:
            raise ValueError("give attempts or times, not both")
        chosen = (
            frozenset(range(times))
            if times is not None
            else frozenset(attempts)
            if attempts is not None
            else None
        )
        self.faults.append(_Fault(state, error, cause, chosen))
        return self

    def run(
        self,
        definition: str | os.PathLike[str] | Mapping[str, Any],
        input: Any = None,
        **options: Any,
    ) -> Execution:
        """Run `definition` (a file, or the definition itself) with `input` to its end. See `run_async`."""
        return asyncio.run(self.run_async(definition, input, **options))

    async def run_async(
        self,
        definition: str | os.PathLike[str] | Mapping[str, Any],
        input: Any = None,
        *,
        template: str | os.PathLike[str] | None = None,
        state_machine: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        substitutions: Mapping[str, Any] | None = None,
        handlers: Mapping[str, Handler] | None = None,
        mocks: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        test_case: str | None = None,
        name: str | None = None,
    ) -> Execution:
        """Run one execution on virtual time and return it.

        - `template`: a SAM template whose state machine (the one whose DefinitionUri is this file, or
          `state_machine`, its logical id) gives the DefinitionSubstitutions, and whose functions back
          Lambda tasks no handler or mock answers; `parameters` override the template's parameters;
          `substitutions` add to or override its DefinitionSubstitutions.
        - `handlers`: callables `(event, context)` (or `(event)`) by state name, by Resource, or by
          Lambda function (name, logical id or ARN). A Lambda handler's exception fails the task as
          Lambda reports it (error = the exception's class name); raise `TaskError(error, cause)` to
          choose both.
        - `mocks`: MockedResponses by state name, as in Step Functions Local's mock file: attempt
          ranges ("0", "1-2") to `{"Return": ...}` or `{"Throw": {"Error": ..., "Cause": ...}}`, or a
          single `{"Return": ...}` for every attempt. Or the path of a mock file, with `test_case`
          (and `state_machine`, its name in the file, when it holds several).
        """
        key, loaded, stack, sm_name = self._load(
            definition, template, state_machine, parameters, substitutions
        )
        mocked = self._mocks(mocks, test_case, state_machine)
        _check_states(loaded, [f.state for f in self.faults], "sfn.fail")
        if mocked is not None:
            _check_states(loaded, list(mocked.by_state), "mocks")
        clock = FakeClock()
        resolver = _Resolver(handlers or {}, mocked, self.faults, stack, clock)
        started = clock.now()
        info = execution_info(sm_name, name or f"test-{len(self.executions) + 1}", start_time=started)
        run = await run_async(
            loaded, {} if input is None else input, resolver=resolver, clock=clock, info=info
        )
        context = {
            "Execution": {"Id": info.execution_arn, "Name": info.name, "RoleArn": info.role_arn},
            "StateMachine": {"Id": info.state_machine_arn, "Name": info.state_machine_name},
        }
        trace = trace_history(loaded, run.events, context=context)
        execution = Execution(run, trace, key, started, clock.now())
        self.executions.append(execution)
        if self.coverage is not None:
            self.coverage.add(key, loaded, trace)
        return execution

    # ----- loading -----

    def _resolve_path(self, path: str | os.PathLike[str]) -> Path:
        candidate = Path(path)
        if candidate.is_absolute():
            return candidate
        for base in (self.root, Path.cwd()):
            if (base / candidate).exists():
                return (base / candidate).resolve()
        raise FileNotFoundError(f"{path}: not found under {self.root} or the current directory")

    def _load(
        self,
        definition: str | os.PathLike[str] | Mapping[str, Any],
        template: str | os.PathLike[str] | None,
        state_machine: str | None,
        parameters: Mapping[str, Any] | None,
        substitutions: Mapping[str, Any] | None,
    ) -> tuple[str, Definition, Stack | None, str]:
        stack = _stack(self._resolve_path(template), parameters) if template is not None else None
        if isinstance(definition, Mapping):
            document: Any = dict(definition)
            path = None
            text = json.dumps(document, sort_keys=True)
            key = f"<definition {_digest(text)}>"
            sm_name = "TestMachine"
        else:
            path = self._resolve_path(definition)
            text = path.read_text()
            key = _relative(path, self.root)
            sm_name = path.name.split(".")[0] or "TestMachine"
        filled: dict[str, Any] = {}
        if stack is not None:
            spec = _state_machine_of(stack, path, state_machine)
            filled.update(spec.substitutions)
            sm_name = spec.name
        filled.update(substitutions or {})
        return key, _compiled(text, tuple(sorted((k, str(v)) for k, v in filled.items()))), stack, sm_name

    def _mocks(
        self,
        mocks: Mapping[str, Any] | str | os.PathLike[str] | None,
        test_case: str | None,
        state_machine: str | None,
    ) -> MockConfigResolver | None:
        if mocks is None:
            return None
        if isinstance(mocks, str | os.PathLike):
            if test_case is None:
                raise ValueError("a mock file needs test_case=")
            config = json.loads(self._resolve_path(mocks).read_text())
            return MockConfigResolver(config, state_machine, test_case)
        responses = {}
        for state, mocked in mocks.items():
            if "Return" in mocked or "Throw" in mocked:
                mocked = {_EVERY_ATTEMPT: mocked}
            responses[f"mock:{state}"] = mocked
        config = {
            "StateMachines": {"test": {"TestCases": {"case": {s: f"mock:{s}" for s in mocks}}}},
            "MockedResponses": responses,
        }
        return MockConfigResolver(config, "test", "case")


def _check_states(definition: Definition, names: list[str], what: str) -> None:
    """A fault or mock names a Task state of the definition: a typo must not pass silently."""
    tasks: set[str] = set()
    machines = [definition.machine]
    while machines:
        machine = machines.pop()
        for name, state in machine.states.items():
            if state.type == "Task":
                tasks.add(name)
            machines.extend(state.branches)
            if state.processor is not None:
                machines.append(state.processor)
    unknown = sorted(set(names) - tasks)
    if unknown:
        raise ValueError(
            f"{what} names {unknown}, which are not Task states of the definition ({sorted(tasks)})"
        )


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:10]


# Templates and definitions are read and compiled once per process: a suite runs the same few often.
_STACKS: dict[tuple[str, int, tuple[tuple[str, str], ...]], Stack] = {}
_DEFINITIONS: dict[tuple[str, tuple[tuple[str, str], ...]], Definition] = {}


def _stack(path: Path, parameters: Mapping[str, Any] | None) -> Stack:
    key = (
        str(path),
        path.stat().st_mtime_ns,
        tuple(sorted((k, str(v)) for k, v in (parameters or {}).items())),
    )
    stack = _STACKS.get(key)
    if stack is None:
        stack = _STACKS[key] = load_template(path, parameters=parameters)
    return stack


def _compiled(text: str, substitutions: tuple[tuple[str, str], ...]) -> Definition:
    key = (text, substitutions)
    found = _DEFINITIONS.get(key)
    if found is None:
        if len(_DEFINITIONS) > 256:
            _DEFINITIONS.clear()
        found = _DEFINITIONS[key] = load_definition(text, dict(substitutions))
    return found


def _state_machine_of(stack: Stack, path: Path | None, logical_id: str | None) -> Any:
    machines = stack.state_machines
    if logical_id is not None:
        if logical_id not in machines:
            raise ValueError(f"no state machine {logical_id!r} in the template (it has {sorted(machines)})")
        return machines[logical_id]
    if path is not None:
        for spec in machines.values():
            if spec.definition_uri is not None and spec.definition_uri.resolve() == path.resolve():
                return spec
    if len(machines) == 1:
        return next(iter(machines.values()))
    raise ValueError(f"the template has several state machines {sorted(machines)}: pass state_machine=")


# ----- answering tasks --------------------------------------------------------------------------------------


class _Resolver:
    """Each Task attempt, in order of precedence: an injected fault, a mocked response, a handler (by
    state, resource or function), the template's function in process."""

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        mocks: MockConfigResolver | None,
        faults: list[_Fault],
        stack: Stack | None,
        clock: FakeClock,
    ) -> None:
        self.clock = clock
        self.handlers = dict(handlers)
        self.mocks = mocks
        self.faults = list(faults)
        self.stack = stack
        self.attempts: dict[str, int] = {}

    def handles(self, request: TaskRequest) -> bool:
        return True

    async def invoke(self, request: TaskRequest) -> Any:
        state = request.state_name
        attempt = self.attempts.get(state, 0)
        self.attempts[state] = attempt + 1
        for fault in self.faults:
            if fault.state == state and (fault.attempts is None or attempt in fault.attempts):
                raise ASLError(fault.error, fault.cause)
        if self.mocks is not None and state in self.mocks.by_state:
            return self.mocks.respond(state, attempt)
        kind, service, action = resource_kind(request.resource)
        is_lambda = kind == "lambda" or (service == "lambda" and action.split(".")[0] == "invoke")
        target = self._function_target(request, kind) if is_lambda else None
        handler = self._handler(request, target)
        params: dict[str, Any] = request.parameters if isinstance(request.parameters, dict) else {}
        event = (
            request.parameters
            if not is_lambda or kind == "lambda"
            else _invoke_payload(params.get("Payload"))
        )
        memory = 128
        if handler is None and target is not None and self.stack is not None:
            spec = self.stack.function_for(target)
            if spec is not None:
                handler, memory = _function(spec), spec.memory_size
        if handler is None:
            raise ASLError(
                errors.RUNTIME,
                f"Nothing answers state {state!r} (Resource {request.resource}): give it a handler or a "
                "mock (by state name, resource or function), or a template whose function backs it",
            )
        name = function_name(target) if target is not None else state
        context = TaskContext(request, attempt, name, request.timeout_seconds, memory)
        context.clock = self.clock  # an async handler can `await context.clock.sleep(s)` in virtual time
        try:
            result = _call(handler, event, context)
            if inspect.isawaitable(result):
                result = await result
        except ASLError:
            raise
        except Exception as exc:
            if is_lambda:
                raise lambda_error(exc) from exc
            raise ASLError(type(exc).__name__, str(exc)) from exc
        result = json.loads(dumps(result))  # what crosses the wire is JSON
        if is_lambda and kind != "lambda":
            return invoke_response(result, log_tail=params.get("LogType") == "Tail")
        return result

    @staticmethod
    def _function_target(request: TaskRequest, kind: str) -> str:
        if kind == "lambda":
            return request.resource
        params = request.parameters if isinstance(request.parameters, dict) else {}
        return str(params.get("FunctionName", ""))

    def _handler(self, request: TaskRequest, target: str | None) -> Handler | None:
        for key in (request.state_name, request.resource):
            if key in self.handlers:
                return self.handlers[key]
        if target is None:
            return None
        names = {target, function_name(target)}
        if self.stack is not None:
            spec = self.stack.function_for(target)
            if spec is not None:
                names |= {spec.name, spec.logical_id, spec.arn}
        for key, handler in self.handlers.items():
            if key in names or function_name(key) in names:
                return handler
        return None


def _call(handler: Handler, event: Any, context: Any) -> Any:
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return handler(event, context)
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if len(positional) == 1 and positional[0].kind != inspect.Parameter.VAR_POSITIONAL:
        return handler(event)
    return handler(event, context)


# ----- template functions, in process ------------------------------------------------------------------------

_FUNCTIONS: dict[tuple[str, str, str], _InProcessFunction] = {}


def _function(spec: FunctionSpec) -> _InProcessFunction:
    key = (str(spec.code_uri), spec.handler, json.dumps(spec.environment, sort_keys=True))
    found = _FUNCTIONS.get(key)
    if found is None:
        found = _FUNCTIONS[key] = _InProcessFunction(spec)
    return found


class _InProcessFunction:
    """A template function's handler, imported from its CodeUri with its environment, called in process.

    Its package is imported under its own name (as Lambda's runtime does); when another function has
    already taken that name (two functions whose code is `app.py`), it is imported aside and swapped
    into `sys.modules` for each call."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.module_name, _, self.attribute = spec.handler.rpartition(".")
        self.top = self.module_name.split(".")[0]
        self.private: dict[str, types.ModuleType] | None = None
        self.handler: Handler | None = None

    def environment(self) -> dict[str, str]:
        spec = self.spec
        env = {
            "_HANDLER": spec.handler,
            "LAMBDA_TASK_ROOT": str(spec.code_uri),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            # No X-Ray daemon in a test: powertools' Tracer would patch botocore for the whole process.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        # The test's region (moto's, say) stays; Lambda's default otherwise.
        env["AWS_REGION"] = os.environ.get("AWS_REGION", "us-east-1")
        env["AWS_DEFAULT_REGION"] = os.environ.get("AWS_DEFAULT_REGION", env["AWS_REGION"])
        env.update(spec.environment)  # the function's own variables win, as on Lambda
        return env

    def __call__(self, event: Any, context: Any) -> Any:
        with self._scope():
            if self.handler is None:
                self.handler = self._import()
            return self.handler(event, context)

    def _owns(self, module: types.ModuleType) -> bool:
        where = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", []) or []), None)
        if where is None:
            return False
        return Path(where).resolve().is_relative_to(self.spec.code_uri.resolve())

    def _import(self) -> Handler:
        existing = sys.modules.get(self.top)
        if existing is not None and not self._owns(existing):
            # Another function's package holds this name: import ours aside, keep theirs.
            theirs = self._take_modules()
            try:
                module = importlib.import_module(self.module_name)
            finally:
                self.private = self._take_modules()
                sys.modules.update(theirs)
        else:
            module = importlib.import_module(self.module_name)
        handler = getattr(module, self.attribute, None)
        if handler is None:
            raise ASLError(
                "Runtime.HandlerNotFound",
                f"Handler '{self.attribute}' missing on module '{self.module_name}'",
            )
        return handler  # type: ignore[no-any-return]

    def _take_modules(self) -> dict[str, types.ModuleType]:
        taken = {k: m for k, m in sys.modules.items() if k == self.top or k.startswith(self.top + ".")}
        for key in taken:
            del sys.modules[key]
        return taken

    @contextlib.contextmanager
    def _scope(self) -> Iterator[None]:
        env = self.environment()
        saved_env = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        root = str(self.spec.code_uri)
        sys.path.insert(0, root)
        theirs: dict[str, types.ModuleType] | None = None
        if self.private is not None:
            theirs = self._take_modules()
            sys.modules.update(self.private)
        try:
            yield
        finally:
            if theirs is not None:
                self.private = self._take_modules()
                sys.modules.update(theirs)
            with contextlib.suppress(ValueError):
                sys.path.remove(root)
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
