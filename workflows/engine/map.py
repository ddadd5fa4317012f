"""The Map state, inline and distributed: items, ItemSelector, batching, concurrency, tolerated failures, Map Runs."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any

from workflows.asl import errors
from workflows.asl.definition import (
    JSONATA,
    State,
    compile_jsonata,
    jsonata_or_value,
)
from workflows.asl.errors import ASLError, StateError
from workflows.asl.jsonata_eval import expression_text
from workflows.asl.jsonpath import compile_reference
from workflows.engine import item_io, offload
from workflows.engine.frame import Frame, _closing, _copy_context, _Next, _run_bounded
from workflows.engine.history import dumps

if TYPE_CHECKING:
    from workflows.engine.interpreter import ExecutionRun

# At most this many iterations (or a Distributed Map's child executions) exist at once, whatever
# MaxConcurrency says (0: no limit): the next starts when one ends, so a Map of 200,000 items holds
# the tasks and frames of a thousand, not of every item. (AWS runs an inline Map's iterations up to
# 40 at a time.)
MAX_RUNNING_ITERATIONS = 1000


async def _map(run: ExecutionRun, state: State, value: Any, frame: Frame) -> _Next:
    spec = state.spec
    jsonata = state.query_language == JSONATA
    reader = spec.get("ItemReader")
    if reader is not None:
        # The items come from S3 once the Map Run has started; ItemsPath and Items do not apply
        # ("only if you use a JSON input passed from a previous state", and AWS recorded an ItemsPath
        # that matches nothing being ignored).
        effective = value if jsonata else run._input_path(state, value, frame)
        items: list[Any] = []
    elif jsonata:
        bindings = run._bindings(value, frame)
        items_spec = spec.get("Items")
        items = (
            value
            if items_spec is None
            else await offload.evaluate(compile_jsonata(items_spec, "Items"), bindings)
        )
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
    if batcher and reader is None:
        items = await offload.evaluate(_batch, run, state, batcher, items, value, frame)
    # MaxConcurrency is read before the Map starts, the failure tolerance after (as AWS records).
    max_concurrency = await offload.evaluate(_map_number, run, state, "MaxConcurrency", value, frame) or 0
    # How far this Map had got, if a restart interrupted it (at whatever depth it runs).
    progress = run._progress.pop(frame.entered_id, None) if run._progress and frame.log_events else None
    if progress is None or not progress.started:
        run._emit(frame, "MapStateStarted", {"length": len(items)})
    # AWS reads the concurrency and failure tolerance once the Map has started.
    tolerated_count = await offload.evaluate(_map_number, run, state, "ToleratedFailureCount", value, frame)
    tolerated_pct = await offload.evaluate(
        _map_number, run, state, "ToleratedFailurePercentage", value, frame
    )
    if tolerated_count is not None and tolerated_count < 0:
        raise StateError(errors.RUNTIME, "ToleratedFailureCount cannot be negative.")
    if tolerated_pct is not None and not 0 <= tolerated_pct <= 100:
        raise StateError(errors.RUNTIME, "ToleratedFailurePercentage must be between 0 and 100.")
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
            # Its items record no history: the sink kept the outputs of those that finished.
            progress.done.update(run._map_items_done(progress.map_run_arn))
        else:
            run._emit(frame, "MapRunStarted", {"mapRunArn": map_run["mapRunArn"]})
        if reader is not None:
            try:
                items = await item_io.read_items(run, state, reader, value, effective, frame)
            except ASLError as read_error:
                run._emit(frame, "MapRunFailed")
                run._map_run(map_run)
                run._map_run_ended(map_run, "FAILED", 0, 0)
                raise _closing(read_error, "MapStateFailed") from read_error
            if batcher:
                items = await offload.evaluate(_batch, run, state, batcher, items, value, frame)
            total = len(items)
            map_run["itemCounts"] = map_run["executionCounts"] = _map_run_counts(total, 0, 0)
        run._map_run(map_run)

    def tolerated() -> bool:
        if tolerated_count is not None and failures <= tolerated_count and failures:
            return True
        return bool(
            tolerated_pct is not None and total and failures * 100 / total <= tolerated_pct and failures
        )

    entered = frame.entered_id
    stopping = False
    state_selector = state.item_selector
    writer = spec.get("ResultWriter") if distributed else None
    children: dict[int, dict[str, Any]] = {}  # what ResultWriter exports of each child execution

    async def iterate(index: int) -> Any:
        nonlocal failures, stopping
        item = items[index]
        if time.perf_counter() > run._turn_ends:  # the execution's turn is over: the loop's now
            await run._next_turn()
        context = _copy_context(frame.context)
        context["Map"] = {"Item": {"Index": index, "Value": item}}
        if stopping:
            return None  # another iteration failed: start no more (the Map fails with its error)
        if writer is not None:
            children[index] = {"item": item, "start": run.clock.now()}
        if progress is not None and index in progress.done:
            return progress.done[index]  # finished before the restart: not run again
        logged = frame.log_events and not distributed
        child = frame.child(
            context,
            frame.prev,
            log_events=None if logged else False,
            place=f"{entered}.{index}" if logged else f"{state.name}[{index}]",
        )
        resumed = progress.running.get(index) if progress is not None else None
        if resumed is not None:
            child.prev = resumed.last_id
        elif not distributed:
            run._emit(child, "MapIterationStarted", {"index": index, "name": state.name})
        if jsonata:
            selector = spec.get("ItemSelector")
            if selector is not None:
                b = run._bindings(value, child)
                element = await offload.evaluate(compile_jsonata(selector, "ItemSelector"), b)
            else:
                element = item
        elif state_selector is not None:
            element = await offload.evaluate(state_selector, effective, child)
        else:
            element = item
        try:
            if element is not item:  # (and the first state's size check starts from its bound)
                child.sizes.measure(element, state.name)
            if resumed is not None:
                result = await run._resume_thread(processor, element, child, resumed.events)
            else:
                result = await run._run_machine(processor, element, child)
        except ASLError as err:
            failures += 1
            if writer is not None:
                children[index].update(element=element, error=err, stop=run.clock.now())
            if not distributed:
                run._emit(child, "MapIterationFailed", {"index": index, "name": state.name}, advance=False)
            if tolerated():
                return _IterationFailed(err)
            stopping = True
            raise _MapFailure(err, child) from err
        except asyncio.CancelledError:
            if not distributed and not run._shutting_down and run._stop is None:
                run._emit(child, "MapIterationAborted", {"index": index, "name": state.name})
            raise
        if not distributed:
            run._emit(child, "MapIterationSucceeded", {"index": index, "name": state.name}, advance=False)
            frame.prev = child.prev  # the next iteration links to this one's last event
        elif map_run is not None:
            run._map_item_done(map_run["mapRunArn"], index, result)
        if writer is not None:
            children[index].update(element=element, output=result, stop=run.clock.now())
        return result

    limit = min(int(max_concurrency) or MAX_RUNNING_ITERATIONS, MAX_RUNNING_ITERATIONS)
    try:
        results = await _run_bounded(len(items), limit, iterate, run._live_iterations)
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
    written = 0
    if writer is not None and map_run is not None:
        try:
            results, written = await item_io.write_results(
                run, state, writer, value, effective, frame, map_run["mapRunArn"], children, results
            )
        except ASLError as write_error:
            run._emit(frame, "MapRunFailed")
            run._map_run_ended(map_run, "FAILED", total, failures)
            raise _closing(write_error, "MapStateFailed") from write_error
    if distributed:
        # AWS (since late 2024) links the Map's exit to MapRunStarted: these two close without moving on.
        run._emit(frame, "MapRunSucceeded", advance=False, latest=True)
        run._map_run_ended(map_run, "SUCCEEDED", total, failures, results_written=written)
        run._emit(frame, "MapStateSucceeded", advance=False, latest=True)
    else:
        frame.prev = run.log.last_id
        run._emit(frame, "MapStateSucceeded", advance=False)
    if jsonata:
        return await offload.evaluate(run._jsonata_result, state, value, results, frame, results)
    return await offload.evaluate(run._jsonpath_result, state, value, effective, results, frame)


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


def _batch(
    run: ExecutionRun, state: State, batcher: dict[str, Any], items: list[Any], value: Any, frame: Frame
) -> list[dict[str, Any]]:
    max_items = _batch_limit(run, state, batcher, "MaxItemsPerBatch", value, frame)
    max_bytes = _batch_limit(run, state, batcher, "MaxInputBytesPerBatch", value, frame)
    batch_input = batcher.get("BatchInput", {})
    return _batches(items, max_items or len(items) or 1, max_bytes, batch_input)


def _batch_limit(
    run: ExecutionRun, state: State, batcher: dict[str, Any], name: str, value: Any, frame: Frame
) -> int | None:
    """ItemBatcher's MaxItemsPerBatch / MaxInputBytesPerBatch, given as a number, a JSONata expression,
    or (`...Path`) read from the state input: the Developer Guide documents all three."""
    if name in batcher:
        raw = batcher[name]
        if state.query_language == JSONATA:
            raw = jsonata_or_value(raw, name, run._bindings(value, frame))
    elif name + "Path" in batcher:
        raw = run._read_path(compile_reference(batcher[name + "Path"]), value, frame)
        if isinstance(raw, str):  # numeric text is read as a number, as for the Map's other ...Path fields
            try:
                raw = int(raw)
            except ValueError:
                pass
    else:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not float(raw).is_integer() or raw < 1:
        field = name if name in batcher else name + "Path"
        raise StateError(
            errors.RUNTIME, f"The value for the field '{field}' must be a positive integer: {dumps(raw)}"
        )
    return int(raw)


def _batches(
    items: list[Any], max_items: int, max_bytes: int | None, batch_input: Any
) -> list[dict[str, Any]]:
    """Items grouped in batches of at most `max_items` items and, when given, `max_bytes` bytes of batch
    JSON; an item too large on its own still makes a batch of one. Sizes add up item by item (linear)."""
    extra = {"BatchInput": batch_input} if batch_input else {}
    empty = len(dumps({"Items": [], **extra}).encode())
    batches: list[dict[str, Any]] = []
    current: list[Any] = []
    size = empty
    for item in items:
        item_size = len(dumps(item).encode()) + (1 if current else 0)  # and its comma
        if current and (
            len(current) >= max_items or (max_bytes is not None and size + item_size > max_bytes)
        ):
            batches.append({"Items": current, **extra})
            current, size, item_size = [], empty, item_size - 1
        current.append(item)
        size += item_size
    if current:
        batches.append({"Items": current, **extra})
    return batches
