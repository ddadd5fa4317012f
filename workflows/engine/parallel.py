"""The Parallel state: branches run concurrently, the first failure cancels the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from workflows.asl.definition import (
    JSONATA,
    State,
    StateMachine,
)
from workflows.asl.errors import ASLError
from workflows.engine import offload
from workflows.engine.frame import Frame, _closing, _copy_context, _gather_fail_fast, _Next

if TYPE_CHECKING:
    from workflows.engine.interpreter import ExecutionRun


async def _parallel(run: ExecutionRun, state: State, value: Any, frame: Frame) -> _Next:
    jsonata = state.query_language == JSONATA
    if jsonata:
        bindings = run._bindings(value, frame)
        effective = (
            await offload.evaluate(state.arguments, bindings) if state.arguments is not None else value
        )
    else:
        effective = run._input_path(state, value, frame)
        if state.parameters is not None:
            effective = await offload.evaluate(state.parameters, effective, frame)
    # How far this Parallel had got, if a restart interrupted it (at whatever depth it runs).
    progress = run._progress.pop(frame.entered_id, None) if run._progress and frame.log_events else None
    if progress is None or not progress.started:
        run._emit(frame, "ParallelStateStarted")
    # Each branch starts a new thread of events: its first event links to none (0), as on AWS.
    branch_frames = [
        frame.child(
            _copy_context(frame.context),
            0,
            place=f"{frame.entered_id}b{i}" if frame.log_events else f"{state.name}[{i}]",
        )
        for i in range(len(state.branches))
    ]
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
        return await offload.evaluate(run._jsonata_result, state, value, results, frame, results)
    return await offload.evaluate(run._jsonpath_result, state, value, effective, results, frame)
