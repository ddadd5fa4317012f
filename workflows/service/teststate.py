"""TestState: run one state of a definition with a given input, mock, context and variables.

The state runs through the interpreter's own handlers and data-processing steps; this module only
prepares the run (definition, context object, a resolver that answers from the mock), records the
inspection data AWS shows, and turns the state's outcome into TestState's answer:

    SUCCEEDED      the state finished: output and nextState
    FAILED         it raised an error that no Retry or Catch handles (or States.Runtime, or a Fail state)
    RETRIABLE      a Retrier handles the error and has attempts left (stateConfiguration.retrierRetryCount)
    CAUGHT_ERROR   a Catcher handles it: its output and Next

Map and Parallel states run only with a mock: the mock stands for what their iterations or branches
returned, so their own input processing and result processing run, and no child state does.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any

from workflows.asl import errors
from workflows.asl.definition import JSONATA, Definition, State, StateMachine, load_definition
from workflows.asl.errors import ASLError, FailStateError, ServiceError, StateError
from workflows.asl.payload import check_size, dumps
from workflows.asl.payload import loads as loads_payload
from workflows.engine import item_io
from workflows.engine.frame import Frame, _error_matches, _Next
from workflows.engine.interpreter import ExecutionInfo, ExecutionRun, Interpreter, MemorySink
from workflows.engine.map import _map_number
from workflows.engine.states import _HANDLERS
from workflows.engine.tasks import CallbackRegistry, TaskRequest, TaskResolver, resource_kind

__all__ = ["test_state"]

# The name AWS gives a state tested on its own; it is also `$$.State.Name` in every test.
STATE_NAME = "StateName"
MOCKABLE = ("Task", "Map", "Parallel")
LEVELS = ("INFO", "DEBUG", "TRACE")
CONTEXT_FIELDS = ("Execution", "State", "StateMachine", "Task")

# Inspection fields AWS shows, by query language and state type, in AWS's order.
_JSONPATH_FIELDS = {
    "Task": ("afterInputPath", "afterParameters", "result", "afterResultSelector", "afterResultPath"),
    "Pass": ("afterInputPath", "afterParameters", "afterResultSelector", "afterResultPath"),
    "PassResult": ("result", "afterResultSelector", "afterResultPath"),
    "Map": ("afterInputPath", "afterItemsPath", "afterResultSelector", "afterResultPath"),
    "Parallel": ("afterResultSelector", "afterResultPath"),
}
_JSONATA_FIELDS: dict[str, tuple[str, ...]] = {"Task": ("afterArguments", "result")}
_MAP_NUMBERS = ("maxConcurrency", "toleratedFailureCount", "toleratedFailurePercentage")


def _invalid(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


class _InspectingResolver:
    """Answers a Task from the mock, or asks the real resolver; records the request and the result."""

    def __init__(self, inner: TaskResolver | None, mock: dict[str, Any] | None, run_inspect: dict[str, Any]):
        self.inner = inner
        self.mock = mock
        self.inspect = run_inspect
        self.language = "JSONPath"
        self.callbacks: CallbackRegistry | None = None
        # TRACE: the HTTP Task's raw request and response (inspectionData.request/response).
        self.trace = False
        self.reveal_secrets = False

    async def invoke(self, request: TaskRequest) -> Any:
        self.inspect["afterArguments" if self.language == JSONATA else "afterParameters"] = request.parameters
        if self.mock is not None:
            failure = self.mock.get("errorOutput")
            token = request.task_token
            if failure is not None:
                if token is not None and self.callbacks is not None:
                    # a .waitForTaskToken task: the mock answers the token, as SendTaskFailure would
                    self.callbacks.fail(token, failure.get("error") or "", failure.get("cause"))
                    return None
                raise ASLError(failure.get("error") or "", failure.get("cause"))
            result = self.mock["parsed"]
            if token is not None and self.callbacks is not None:
                self.callbacks.complete(token, result)
        elif self.inner is None:
            raise ASLError(errors.RUNTIME, f"No task resolver for resource {request.resource}")
        else:
            if self.trace:
                request.trace, request.reveal_secrets = {}, self.reveal_secrets
            try:
                result = await self.inner.invoke(request)
            finally:
                for name in ("request", "response"):
                    if request.trace and name in request.trace:
                        self.inspect[name] = request.trace[name]
        self.inspect["result"] = result
        return result


class _TestRun(ExecutionRun):
    """An ExecutionRun that records the state's InputPath step (its own method boundary)."""

    given_token: str | None = None

    def _task_token(self, frame: Frame, attempt: int) -> str:
        # A task token given in the request's context object is the one the task passes on, as given.
        return self.given_token if self.given_token is not None else super()._task_token(frame, attempt)

    def _input_path(self, state: State, value: Any, frame: Frame) -> Any:
        effective = super()._input_path(state, value, frame)
        if self.inspect is not None:
            self.inspect["afterInputPath"] = effective
        return effective


class _NoWaitClock:
    """A Wait state under test reports its outcome without waiting."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock

    def now(self) -> float:
        return float(self._clock.now())

    async def sleep(self, seconds: float) -> None:
        return None


# ---------------------------------------------------------------------------------------------------------
# The operation


async def test_state(service: Any, **request: Any) -> dict[str, Any]:
    """The TestState operation of `service` (a StepFunctionsService)."""
    mock = request.get("mock")
    config = request.get("stateConfiguration") or {}
    _check_request(request, mock, config)
    definition, state = _load(request["definition"], request.get("stateName"))
    if mock is not None and state.type not in MOCKABLE:
        raise _invalid(f"State type '{state.type}' is not supported when a mock is specified")
    if mock is None and state.type in ("Map", "Parallel"):
        raise ServiceError(
            "InvalidDefinition",
            "TestState API does not support Map or Parallel states. Supported state types include: "
            "[Task, Wait, Pass, Succeed, Fail, Choice]",
        )
    if mock is None and state.type == "Task" and _needs_mock(state.resource or ""):
        # no worker polls for an activity and nothing sends a task token back during a test
        raise ServiceError(
            "InvalidDefinition",
            "TestState API does not support Activity tasks, .sync or .waitForTaskToken service integration "
            "patterns when a mock is not specified.",
        )
    if mock is None and state.type == "Task" and not request.get("roleArn"):
        # TestState's roleArn is optional, but a Task state without a mock calls the service as that role.
        raise _invalid("RoleArn is required to test a Task state when a mock is not specified.")
    context = _parse_json(request["context"], "context") if "context" in request else None
    if context is not None:
        _check_context(context)
        _check_token(context, state)
    if mock is not None:
        mock = _check_mock(mock, state)
    value = _parse_json(request["input"], "input") if "input" in request else {}
    variables = _parse_json(request["variables"], "variables") if "variables" in request else {}
    if not isinstance(variables, dict):
        raise _invalid("Variables must be a JSON object")
    level = request.get("inspectionLevel") or "INFO"
    return await _run(service, definition, state, value, variables, context, mock, config, request, level)


def _check_request(request: dict[str, Any], mock: dict[str, Any] | None, config: dict[str, Any]) -> None:
    if mock is not None:
        if "result" in mock and "errorOutput" in mock:
            raise _invalid("A test mock should have only one of the following fields: [result, errorOutput].")
        if "result" not in mock and "errorOutput" not in mock:
            raise _invalid("A test mock should have one of the following fields: [result, errorOutput].")
        if "errorOutput" in mock and not (mock["errorOutput"] or {}).get("error"):
            # API Reference, MockErrorOutput.error: required when mock.errorOutput is specified.
            raise _invalid("A test mock errorOutput should have the following field: [error].")
        if request.get("revealSecrets"):
            raise _invalid("TestState does not support RevealSecrets when a mock is specified.")
    else:
        if config.get("mapIterationFailureCount") is not None:
            raise _invalid(
                "TestState does not support MapIterationFailureCount when a mock is not specified."
            )
        if "context" in request:
            raise _invalid("TestState does not support Context when a mock is not specified.")
    if request.get("inspectionLevel") not in (None, *LEVELS):
        raise _invalid(f"Invalid inspectionLevel: {request.get('inspectionLevel')}")


def _needs_mock(resource: str) -> bool:
    kind, _service, action = resource_kind(resource)
    return kind == "activity" or action.endswith((".sync", ".sync:2", ".waitForTaskToken"))


def _parse_json(text: Any, name: str) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return loads_payload(text)  # nesting past budget.MAX_DEPTH, or a number out of range: ValueErrors too
    except ValueError:
        if name == "input":
            raise ServiceError(
                "InvalidExecutionInput", "Invalid State Machine Execution Input: 'Invalid JSON'"
            )
        if name == "context":
            raise _invalid("Invalid Context object provided: the Context object must be valid JSON")
        raise _invalid(f"The {name} must be valid JSON")


# ---------------------------------------------------------------------------------------------------------
# The definition: one state on its own, or a state machine and the name of one of its states


def _load(text: str, state_name: str | None) -> tuple[Definition, State]:
    from workflows.asl.validation import invalid_definition_message, validate_definition

    try:
        document = json.loads(text)
    except ValueError:
        diagnostics = validate_definition(text)
        raise ServiceError("InvalidDefinition", invalid_definition_message(diagnostics))
    if not isinstance(document, dict):
        raise ServiceError("InvalidDefinition", "Invalid State Machine Definition: a JSON object is expected")
    whole = state_name is not None or ("States" in document and "Type" not in document)
    if not whole:
        states = {STATE_NAME: document}
        for target in _transitions(document):
            states.setdefault(target, {"Type": "Succeed"})
        document = {"StartAt": STATE_NAME, "States": states}
    diagnostics = [d for d in validate_definition(document) if d.severity == "ERROR"]
    if diagnostics:
        raise ServiceError("InvalidDefinition", invalid_definition_message(diagnostics))
    definition = load_definition(document, validate=False)
    name = state_name if state_name is not None else definition.machine.start_at
    state = _find_state(definition.machine, name)
    if state is None:
        raise _invalid(f"State '{name}' is not defined in the state machine definition")
    return definition, state


def _transitions(spec: dict[str, Any]) -> Iterator[str]:
    """The states a single state can move to: they are outside the definition under test."""
    if isinstance(spec.get("Next"), str):
        yield spec["Next"]
    if isinstance(spec.get("Default"), str):
        yield spec["Default"]
    for key in ("Choices", "Catch"):
        for rule in spec.get(key) or ():
            if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
                yield rule["Next"]


def _find_state(machine: StateMachine, name: str) -> State | None:
    if name in machine.states:
        return machine.states[name]
    for state in machine.states.values():
        for child in (*state.branches, *((state.processor,) if state.processor is not None else ())):
            found = _find_state(child, name)
            if found is not None:
                return found
    return None


# ---------------------------------------------------------------------------------------------------------
# Request parts: context object and mock


def _check_context(context: Any) -> None:
    prefix = "Invalid Context object provided: "
    if not isinstance(context, dict):
        raise _invalid(prefix + "the Context object must be a JSON object")
    for key in context:
        if key == "Map":
            raise _invalid(prefix + "'Map' field is not supported when mocking a Context object")
        if key not in CONTEXT_FIELDS:
            raise _invalid(prefix + f"Field '{key}' is not allowed")
    strings = {
        "Execution": ("Id", "Name", "RoleArn", "StartTime", "RedriveTime"),
        "StateMachine": ("Id", "Name"),
        "State": ("Name", "EnteredTime"),
        "Task": ("Token",),
    }
    for section, names in strings.items():
        part = context.get(section)
        if part is None:
            continue
        if not isinstance(part, dict):
            raise _invalid(prefix + f"{section} must be an object")
        for name in names:
            if name in part and not isinstance(part[name], str):
                raise _invalid(prefix + f"{section}.{name} must be a string")
    for section, name in (("State", "RetryCount"), ("Execution", "RedriveCount")):
        number = (context.get(section) or {}).get(name)
        if number is not None and (not isinstance(number, int) or isinstance(number, bool)):
            raise _invalid(prefix + f"{section}.{name} must be an integer")


def _given_token(context: Any) -> str | None:
    task = context.get("Task") if isinstance(context, dict) else None
    token = task.get("Token") if isinstance(task, dict) else None
    return token if isinstance(token, str) else None


def _check_token(context: Any, state: State) -> None:
    """A task token exists only for the callback (.waitForTaskToken) and .sync integration patterns."""
    if "Task" not in context:
        return
    resource = state.resource or "" if state.type == "Task" else ""
    _kind, _service, action = resource_kind(resource)
    if not action.endswith((".sync", ".sync:2", ".waitForTaskToken")):
        raise _invalid(
            "Invalid Context object provided: 'Task' field is only supported for Task states with the "
            ".sync or .waitForTaskToken integration patterns"
        )


def _check_mock(mock: dict[str, Any], state: State) -> dict[str, Any]:
    """The mock with its result parsed (`parsed`); raises AWS's error for a result that cannot stand."""
    mock = dict(mock)
    if "errorOutput" in mock:
        return mock
    try:
        result = loads_payload(mock["result"])
    except (TypeError, ValueError):
        raise _invalid("Mocked result must be valid JSON")
    mock["parsed"] = result
    if state.type == "Map":
        if "ResultWriter" in state.spec:
            if not isinstance(result, dict):
                raise _invalid("Mocked result must be a JSON object.")
        elif not isinstance(result, list):
            raise _invalid("Mocked result must be an array.")
    elif state.type == "Parallel":
        if not isinstance(result, list):
            raise _invalid("Mocked result must be an array.")
        if len(result) != len(state.branches):
            raise _invalid(
                "Mocked result must contain the same number of items as number of Parallel branches."
            )
    elif state.type == "Task":
        mode = mock.get("fieldValidationMode") or "STRICT"
        if mode != "NONE":
            problem = _field_problem(state.resource or "", result, strict=mode == "STRICT")
            if problem:
                raise _invalid(f"Mock result schema validation error: {problem}")
    return mock


# -- fieldValidationMode: the mocked result against the service API's output shape (botocore's model)

# Fields Step Functions hands over as JSON rather than as the API's type.
_JSON_FIELDS = {("lambda", "Invoke"): frozenset({"Payload"})}
_OPTIMISED_SERVICES = {"states": "stepfunctions"}


@cache
def _output_shape(resource: str) -> tuple[str, Any] | None:
    """(operation key, output shape) of a service integration's action, or None when it has no model."""
    kind, service, action = resource_kind(resource)
    if kind != "service" or not action or "." in action:
        return None  # Lambda ARNs and activities have no model; `.sync` answers with another API's shape
    import botocore.session

    if service.startswith("aws-sdk:"):
        from workflows.service.sdk_names import boto3_service

        try:
            name = boto3_service(service.split(":", 1)[1])
        except ASLError:
            return None
    else:
        name = _OPTIMISED_SERVICES.get(service, service)
    try:
        model = botocore.session.get_session().get_service_model(name)
        operation = model.operation_model(action[0].upper() + action[1:])
    except Exception:  # an unknown service or action: nothing to check against
        return None
    return f"{name}:{operation.name}", operation.output_shape


def _field_problem(resource: str, result: Any, *, strict: bool) -> str | None:
    found = _output_shape(resource)
    if found is None or found[1] is None or not isinstance(result, dict):
        return None
    key, shape = found
    service, operation = key.split(":")
    as_json = _JSON_FIELDS.get((service, operation), frozenset())
    return _structure_problem(shape, result, strict, as_json)


def _structure_problem(
    shape: Any, value: dict[str, Any], strict: bool, as_json: frozenset[str]
) -> str | None:
    required = set(shape.required_members) if strict else set()
    for member, member_shape in shape.members.items():
        name = member[0].upper() + member[1:]
        if name not in value:
            if member in required:
                return f"Required field '{name}' is missing"
            continue
        if name in as_json:
            continue
        problem = _value_problem(name, member_shape, value[name], strict)
        if problem:
            return problem
    return None


def _value_problem(name: str, shape: Any, value: Any, strict: bool) -> str | None:
    kind = shape.type_name
    meta = shape.metadata
    field = f"Field '{name}'"
    if value is None:
        return None
    if kind == "structure":
        if not isinstance(value, dict):
            return f"{field} must be an object"
        return _structure_problem(shape, value, strict, frozenset())
    if kind == "list":
        if not isinstance(value, list):
            return f"{field} must be an array"
        for item in value:
            problem = _value_problem(name, shape.member, item, strict)
            if problem:
                return problem
        return _bounds(field, len(value), meta, "length")
    if kind == "map":
        if not isinstance(value, dict):
            return f"{field} must be an object"
        for item in value.values():
            problem = _value_problem(name, shape.value, item, strict)
            if problem:
                return problem
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else f"{field} must be a boolean"
    if kind in ("integer", "long", "float", "double"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            return f"{field} must be a number"
        return _bounds(field, value, meta, "value")
    if kind in ("string", "blob", "timestamp"):
        if not isinstance(value, str):
            return f"{field} must be a string"
        if getattr(shape, "enum", None) and value not in shape.enum:
            return f"{field} is not an expected value"
        return None if kind == "timestamp" else _bounds(field, len(value), meta, "length")
    return None


def _bounds(field: str, size: float, meta: dict[str, Any], what: str) -> str | None:
    if "min" in meta and size < meta["min"]:
        below = "is smaller than the minimum length" if what == "length" else "is less than the minimum value"
        return f"{field} {below}"
    if "max" in meta and size > meta["max"]:
        return f"{field} exceeds the maximum {what}"
    return None


# ---------------------------------------------------------------------------------------------------------
# The run


def _context(
    service: Any, state: State, value: Any, role_arn: str | None, config: dict[str, Any]
) -> tuple[dict[str, Any], ExecutionInfo]:
    name = str(uuid.uuid4())
    machine_name = str(uuid.uuid4())
    prefix = f"arn:aws:states:{service.region}:{service.account}"
    info = ExecutionInfo(
        execution_arn=f"{prefix}:express:{machine_name}:{name}",
        name=name,
        state_machine_arn=f"{prefix}:stateMachine:{machine_name}",
        state_machine_name=machine_name,
        role_arn=role_arn or "",
        state_machine_type="EXPRESS",
    )
    now = datetime.fromtimestamp(service.clock.now(), tz=UTC).isoformat(timespec="milliseconds")
    now = now.replace("+00:00", "Z")
    state_part: dict[str, Any] = {"Name": STATE_NAME, "EnteredTime": now}
    if state.type in MOCKABLE:
        state_part["RetryCount"] = config.get("retrierRetryCount") or 0
    context = {
        "Execution": {
            "Id": info.execution_arn,
            "Input": value,
            "Name": name,
            "RoleArn": role_arn,
            "StartTime": now,
        },
        "StateMachine": {"Id": info.state_machine_arn, "Name": machine_name},
        "State": state_part,
    }
    return context, info


async def _run(
    service: Any,
    definition: Definition,
    state: State,
    value: Any,
    variables: dict[str, Any],
    given_context: Any,
    mock: dict[str, Any] | None,
    config: dict[str, Any],
    request: dict[str, Any],
    level: str,
) -> dict[str, Any]:
    context, info = _context(service, state, value, request.get("roleArn"), config)
    if given_context is not None:
        context = copy.deepcopy(given_context)
    inspect: dict[str, Any] = {}
    resolver = _InspectingResolver(getattr(service, "resolver", None), mock, inspect)
    resolver.language = state.query_language
    resolver.trace = level == "TRACE"
    resolver.reveal_secrets = bool(request.get("revealSecrets"))
    clock = _NoWaitClock(service.clock) if state.type == "Wait" else service.clock
    interpreter = Interpreter(definition, resolver=resolver, clock=clock)
    resolver.callbacks = interpreter.callbacks
    run = _TestRun(interpreter, info, value, MemorySink(), None)
    run.inspect = inspect
    run.given_token = _given_token(given_context)
    frame = Frame(context, dict(variables), 0, log_events=False)
    out: dict[str, Any] = {}
    error_details: dict[str, Any] = {}
    step: _Next | None
    try:
        if mock is not None and state.type in ("Map", "Parallel"):
            step = await _mocked_children(run, state, value, frame, mock, config)
        else:
            step = await _HANDLERS[state.type](run, state, value, frame)
        if step.output is not value:
            check_size(step.output, state.name)  # over 256 KiB fails the state, as in an execution
        status = "SUCCEEDED"
    except ASLError as err:
        out["error"] = err.error
        if err.cause is not None:
            out["cause"] = err.cause
        status, step = _handle_error(run, state, err, value, frame, config, error_details)
    if step is not None:
        out["output"] = dumps(step.output)
        if step.next is not None:
            out["nextState"] = step.next
        if step.assigned:
            frame.variables.update(step.assigned)
    out["status"] = status
    if level != "INFO":
        data = _inspection_data(state, value, inspect, error_details)
        if frame.variables:
            data["variables"] = dumps(frame.variables)
        out["inspectionData"] = data
    return out


def _handle_error(
    run: ExecutionRun,
    state: State,
    err: ASLError,
    value: Any,
    frame: Frame,
    config: dict[str, Any],
    details: dict[str, Any],
) -> tuple[str, _Next | None]:
    """TestState's outcome for an error: RETRIABLE, CAUGHT_ERROR or FAILED (and the caught output)."""
    if isinstance(err, FailStateError) or err.error == errors.RUNTIME:
        return "FAILED", None
    for index, retrier in enumerate(state.retry):
        if _error_matches(retrier.error_equals, err.error):
            details["retryIndex"] = index
            count = config.get("retrierRetryCount") or 0
            if count < retrier.max_attempts:
                delay = retrier.interval_seconds * retrier.backoff_rate**count
                if retrier.max_delay_seconds is not None:
                    delay = min(delay, retrier.max_delay_seconds)
                details["retryBackoffIntervalSeconds"] = int(delay)
                return "RETRIABLE", None
            break
    for index, catcher in enumerate(state.catch):
        if _error_matches(catcher.error_equals, err.error):
            details["catchIndex"] = index
            return "CAUGHT_ERROR", run._caught(state, catcher, err, value, frame)
    return "FAILED", None


async def _mocked_children(
    run: ExecutionRun, state: State, value: Any, frame: Frame, mock: dict[str, Any], config: dict[str, Any]
) -> _Next:
    """A Map or Parallel state whose iterations or branches answered with the mock: the state's own
    input processing, failure threshold and result processing, through the interpreter's steps."""
    inspect = run.inspect
    assert inspect is not None
    jsonata = state.query_language == JSONATA
    effective = value
    reader_items: list[Any] | None = None
    if state.type == "Map" and "ItemReader" in state.spec and "mapItemReaderData" in config:
        reader_items = _reader_items(state, config["mapItemReaderData"])
    if state.type == "Map":
        if not jsonata and "ItemReader" in state.spec:
            # The items come from the ItemReader (stateConfiguration.mapItemReaderData stands for what it
            # reads): ItemsPath does not apply to them.
            effective = run._input_path(state, value, frame)
        elif not jsonata:
            effective = run._input_path(state, value, frame)
            items = effective
            if state.items_path is not None:
                try:
                    items = state.items_path.read(effective, frame)
                except Exception:
                    items = None
            if not isinstance(items, list):
                text = str(state.spec.get("ItemsPath", "$"))
                shown = text[1:] if text.startswith("$$") else text
                raise StateError(errors.RUNTIME, f'Reference path "{shown}" must point to array.')
            inspect["afterItemsPath"] = items
        numbers = {
            "maxConcurrency": _map_number(run, state, "MaxConcurrency", value, frame) or 0,
            "toleratedFailureCount": _map_number(run, state, "ToleratedFailureCount", value, frame),
            "toleratedFailurePercentage": _map_number(run, state, "ToleratedFailurePercentage", value, frame),
        }
        for key, number in numbers.items():
            if number is not None:
                # AWS reports the concurrency and the count as integers, the percentage as given.
                inspect[key] = number if key == "toleratedFailurePercentage" else int(number)
    elif not jsonata:
        effective = run._input_path(state, value, frame)
        if state.parameters is not None:
            effective = state.parameters(effective, frame)
    failure = mock.get("errorOutput")
    if failure is not None:
        raise ASLError(failure.get("error") or "", failure.get("cause"))
    result = mock["parsed"]
    if state.type == "Map":
        failures = config.get("mapIterationFailureCount") or 0
        iterations = (
            len(reader_items)
            if reader_items is not None
            else len(result)
            if isinstance(result, list)
            else None
        )
        if iterations is not None and failures > iterations:
            # The mocked failures are iterations of this Map: there cannot be more than there are items.
            raise _invalid(
                f"mapIterationFailureCount ({failures}) must not be greater than the number of Map "
                f"iterations ({iterations})"
            )
        _check_threshold(result, config.get("mapIterationFailureCount") or 0, inspect)
    if jsonata:
        return run._jsonata_result(state, value, result, frame, result)
    return run._jsonpath_result(state, value, effective, result, frame)


def _reader_items(state: State, data: Any) -> list[Any]:
    """The items an ItemReader would read from stateConfiguration.mapItemReaderData ("the data read by
    ItemReader ... as found in its original source"): parsed by ReaderConfig for s3:getObject, a JSON
    array of objects for s3:listObjectsV2; limited by a literal MaxItems."""
    reader = state.spec["ItemReader"]
    config = reader.get("ReaderConfig") or {}
    text = data if isinstance(data, str) else dumps(data)
    if reader.get("Resource") == item_io.LIST_OBJECTS:
        items = item_io.parse_json(text)
    else:
        items = item_io.parse_object(text, config)
    limit = config.get("MaxItems")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        items = items[:limit]
    return items


def _check_threshold(result: Any, failures: int, inspect: dict[str, Any]) -> None:
    count = inspect.get("toleratedFailureCount")
    percentage = inspect.get("toleratedFailurePercentage")
    if not failures or (count is None and percentage is None):
        return
    total = len(result) if isinstance(result, list) else 0
    if count is not None and failures <= count:
        return
    if percentage is not None and total and failures * 100 / total <= percentage:
        return
    raise ASLError(
        errors.EXCEED_TOLERATED_FAILURE_THRESHOLD, "The specified tolerated failure threshold was exceeded"
    )


def _inspection_data(
    state: State, value: Any, inspect: dict[str, Any], error_details: dict[str, Any]
) -> dict[str, Any]:
    data: dict[str, Any] = {"input": dumps(value)}
    kind = state.type
    fields: tuple[str, ...]
    if state.query_language == JSONATA:
        fields = _JSONATA_FIELDS.get(kind, ())
    else:
        if kind == "Pass" and state.has_result:
            inspect["result"] = state.result
            kind = "PassResult"
        elif kind == "Fail":
            inspect["afterInputPath"] = value
        fields = _JSONPATH_FIELDS.get(kind, ("afterInputPath",))
    for name in fields:
        if name in inspect:
            data[name] = dumps(inspect[name])
    for name in _MAP_NUMBERS:
        if name in inspect:
            data[name] = inspect[name]
    for name in ("request", "response"):  # TRACE, HTTP Task: objects, not JSON text
        if name in inspect:
            data[name] = inspect[name]
    if error_details:
        data["errorDetails"] = error_details
    return data
