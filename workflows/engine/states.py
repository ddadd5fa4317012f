"""The state types: Pass, Task, Choice, Wait, Succeed, Fail (Map and Parallel have their own modules), and the table the run loop dispatches on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from workflows.asl import errors
from workflows.asl.definition import (
    JSONATA,
    State,
    jsonata_or_value,
    parse_timestamp,
)
from workflows.asl.errors import ASLError, FailStateError, StateError
from workflows.asl.jsonata_eval import evaluate_field, expression_text
from workflows.asl.jsonpath import PathError, compile_reference
from workflows.engine import offload
from workflows.engine.frame import Frame, _Next, _next_of
from workflows.engine.history import dumps
from workflows.engine.map import _map
from workflows.engine.parallel import _parallel

if TYPE_CHECKING:
    from workflows.engine.interpreter import ExecutionRun


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
            assign = rule.assign or state.assign
            assigned = run._assign_jsonpath(assign, effective, frame) if assign else None
            return _Next(run._output_path(state, effective, frame), rule.next, assigned)
    if state.default is None:
        raise ASLError(errors.NO_CHOICE_MATCHED, "No Matches!")
    assigned = run._assign_jsonpath(state.assign, effective, frame) if state.assign else None
    return _Next(run._output_path(state, effective, frame), state.default, assigned)


async def _wait(run: ExecutionRun, state: State, value: Any, frame: Frame) -> _Next:
    spec = state.spec
    now = run.clock.now()
    if state.query_language == JSONATA:
        bindings = run._bindings(value, frame)
        if "Seconds" in spec:
            seconds = await offload.evaluate(jsonata_or_value, spec["Seconds"], "Seconds", bindings)
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
                raise StateError(
                    errors.QUERY_EVALUATION_ERROR,
                    f"The Seconds field must be a non-negative integer: {dumps(seconds)}",
                    "Seconds",
                )
            delay = float(seconds) - (now - frame.entered_at)
        else:
            stamp = await offload.evaluate(jsonata_or_value, spec.get("Timestamp"), "Timestamp", bindings)
            parsed = parse_timestamp(stamp)
            if parsed is None:
                raise StateError(
                    errors.QUERY_EVALUATION_ERROR,
                    "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format "
                    f"string: {stamp}",
                    "Timestamp",
                )
            delay = parsed.timestamp() - now
        await run._sleep(max(delay, 0.0))
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
            seconds = compile_reference(text).read(effective, frame)
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
            stamp = compile_reference(text).read(effective, frame)
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
    await run._sleep(max(delay, 0.0))
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


if TYPE_CHECKING:
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
        return await offload.evaluate(handler, run, state, value, frame)

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
