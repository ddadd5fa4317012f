"""Evaluation off the event loop: a slice inline, then the whole budget on a worker thread.

Most evaluations finish well inside `budget.SLICE_SECONDS` and run inline, at no cost. One that
outgrows its slice raises `Overtime` and runs again from the start on the worker thread, where
only `budget.EVALUATION_SECONDS` bounds it, while the loop goes on answering the API. Evaluations
are pure functions of the state's input, context and variables, so running one twice is safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from workflows.asl.budget import Overtime, in_slice

__all__ = ["evaluate"]

T = TypeVar("T")

# One worker: slow evaluations queue rather than contend for the GIL with the loop and each other.
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="workflows-evaluation")


async def evaluate(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)`, inline while it stays inside a slice, else on the worker thread."""
    try:
        return in_slice(function, *args)  # type: ignore[no-any-return]
    except Overtime:
        pass
    return await asyncio.get_running_loop().run_in_executor(_POOL, function, *args)
