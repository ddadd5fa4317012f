"""JSONPath and JSONata data flow of a state: InputPath, Parameters/Arguments, ResultSelector, ResultPath, OutputPath, Assign."""

from __future__ import annotations

from typing import Any

from workflows.asl import errors
from workflows.asl.definition import (
    State,
    compile_jsonata,
)
from workflows.asl.errors import StateError
from workflows.asl.jsonpath import Path, PathError, Reference, set_path
from workflows.asl.payload import MAX_PAYLOAD_BYTES, bounded_size
from workflows.engine.frame import Frame, RunBase, _assign_template, _Next, _next_of

# AWS's limits on variables ("Passing data between states with variables"): one variable's value and
# all the values one Assign sets are each at most 256 KiB; all of an execution's variables together
# at most 10 MiB. Over them, the state fails with States.DataLimitExceeded.
MAX_VARIABLE_BYTES = MAX_PAYLOAD_BYTES
MAX_ASSIGN_BYTES = MAX_PAYLOAD_BYTES
MAX_VARIABLES_BYTES = 10 * 1024 * 1024


class DataFlow(RunBase):
    """JSONPath and JSONata data flow of a state: InputPath, Parameters/Arguments, ResultSelector, ResultPath, OutputPath, Assign."""

    def _bindings(self, value: Any, frame: Frame, **extra: Any) -> dict[str, Any]:
        states: dict[str, Any] = {"input": value, "context": frame.context}
        states.update(extra)
        bindings = dict(frame.variables)
        bindings["states"] = states
        return bindings

    def _assign_jsonata(self, assign: Any, bindings: dict[str, Any], frame: Frame) -> dict[str, Any] | None:
        if not assign:
            return None
        return _check_assigned(compile_jsonata(assign, "Assign")(bindings), frame)

    def _assign_jsonpath(self, assign: Any, value: Any, frame: Frame) -> dict[str, Any] | None:
        if not assign:
            return None
        return _check_assigned(_assign_template(assign)(value, frame), frame)

    def _input_path(self, state: State, value: Any, frame: Frame) -> Any:
        if state.input_path is None and not state.input_path_null:
            return value  # most states have none: no further call on every state
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
            return path.read(value, frame)
        except PathError as exc:
            raise StateError(errors.RUNTIME, f"Invalid path '{path.text}' : {exc.message}")

    def _output_path(self, state: State, value: Any, frame: Frame) -> Any:
        if state.output_path is None and not state.output_path_null:
            return value
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


def _check_assigned(assigned: Any, frame: Frame) -> Any:
    """The values an Assign made, within AWS's variable limits (each measured only as far as the limit
    it must stay under: a value built far past it is not serialised whole). Their sizes are kept on
    the frame once the state exits (see `Interpreter._exit`), for the execution's total."""
    if not isinstance(assigned, dict) or not assigned:
        return assigned
    sizes: dict[str, int] = {}
    combined = 0
    for name, value in assigned.items():
        size = bounded_size(value, min(MAX_VARIABLE_BYTES, MAX_ASSIGN_BYTES - combined))
        if size > MAX_VARIABLE_BYTES:
            raise _too_large(
                f"The value assigned to the variable '{name}' is larger than {MAX_VARIABLE_BYTES} bytes."
            )
        combined += size
        if combined > MAX_ASSIGN_BYTES:
            raise _too_large(
                f"The variables assigned by this state are larger than {MAX_ASSIGN_BYTES} bytes together."
            )
        sizes[name] = size
    known = frame.var_sizes
    if known:
        total = combined + sum(size for name, size in known.items() if name not in sizes)
        if total > MAX_VARIABLES_BYTES:
            raise _too_large(
                f"The execution's variables would be larger than {MAX_VARIABLES_BYTES} bytes together."
            )
    frame.pending_sizes = (assigned, sizes)
    return assigned


def _too_large(cause: str) -> StateError:
    return StateError(errors.DATA_LIMIT_EXCEEDED, cause)
