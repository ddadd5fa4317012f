"""Evaluation off the event loop: a slice inline, then the whole budget on a worker thread.

Most evaluations finish well inside `budget.SLICE_SECONDS` and run inline, at no cost. One that
outgrows its slice raises `Overtime` and runs again from the start on the worker thread, where
only `budget.EVALUATION_SECONDS` bounds it, while the loop goes on answering the API. Evaluations
are pure functions of the state's input, context and variables, so running one twice is safe.

The worker takes the executions waiting for it in turn, not in order of arrival: a Map whose thousand
iterations each evaluate for a second must not put every other execution's slow evaluation behind
its thousand. Each execution's run sets its `owner` (see `owned_by`); its Map iterations and Parallel
branches, tasks made from its context, share it.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from workflows.asl.budget import Overtime, in_slice

__all__ = ["evaluate", "owned_by"]

T = TypeVar("T")

# One worker: slow evaluations queue rather than contend for the GIL with the loop and each other.
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="workflows-evaluation")

_OWNER: contextvars.ContextVar[Hashable] = contextvars.ContextVar("workflows_evaluation_owner", default=None)


def owned_by(owner: Hashable) -> None:
    """Evaluations from this task (and the tasks it makes from now on) queue as `owner`'s."""
    _OWNER.set(owner)


class _Turns:
    """Who uses the worker next, on one event loop: the owners waiting take turns, one evaluation
    each, first come first served within an owner."""

    def __init__(self) -> None:
        self.busy = False
        self.waiting: OrderedDict[Hashable, deque[asyncio.Future[None]]] = OrderedDict()

    async def take(self, owner: Hashable) -> None:
        if not self.busy:
            self.busy = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(owner, deque()).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.give_back()  # the turn was handed over as the waiter was cancelled: pass it on
            else:
                queue = self.waiting.get(owner)
                if queue is not None and turn in queue:
                    queue.remove(turn)
                    if not queue:
                        del self.waiting[owner]
            raise

    def give_back(self) -> None:
        while self.waiting:
            owner, queue = next(iter(self.waiting.items()))
            turn = queue.popleft()
            if queue:
                self.waiting.move_to_end(owner)  # its next evaluation waits for the other owners
            else:
                del self.waiting[owner]
            if not turn.done():
                turn.set_result(None)  # busy stays True: the turn passes straight to this waiter
                return
        self.busy = False


_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turns] = weakref.WeakKeyDictionary()


async def evaluate(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)`, inline while it stays inside a slice, else on the worker thread."""
    try:
        return in_slice(function, *args)  # type: ignore[no-any-return]
    except Overtime:
        pass
    loop = asyncio.get_running_loop()
    turns = _TURNS.get(loop)
    if turns is None:
        turns = _TURNS[loop] = _Turns()
    await turns.take(_OWNER.get())
    try:
        return await loop.run_in_executor(_POOL, function, *args)
    finally:
        turns.give_back()
