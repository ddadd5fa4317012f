"""The evaluation worker's turns: an evaluation that outgrows its slice on the event loop waits for
the one worker thread, and the executions waiting take turns, so one execution's pile of slow
evaluations does not put everyone else's behind it."""

from __future__ import annotations

import asyncio
import time

from workflows.asl import budget
from workflows.engine import offload


def _slow(tag: str, order: list[str]) -> str:
    """Overtime inline (as an evaluation past its slice); on the worker, a few ms of work."""
    if budget._SLICE.get():
        raise budget.Overtime()
    order.append(tag)
    time.sleep(0.005)
    return tag


async def _as(owner: str, tags: list[str], order: list[str]) -> list[str]:
    offload.owned_by(owner)
    return list(await asyncio.gather(*(offload.evaluate(_slow, t, order) for t in tags)))


def test_executions_take_turns_on_the_worker() -> None:
    async def go() -> list[str]:
        order: list[str] = []
        flood = asyncio.create_task(_as("flood", [f"f{i}" for i in range(20)], order))
        await asyncio.sleep(0)  # the flood's twenty are queued first
        other = asyncio.create_task(_as("other", ["o0", "o1"], order))
        assert await other == ["o0", "o1"]
        assert len(await flood) == 20
        return order

    order = asyncio.run(go())
    # In order of arrival the other execution would come 21st and 22nd; in turns, it alternates.
    assert order[:5] == ["f0", "f1", "o0", "f2", "o1"]
    assert [t for t in order if t.startswith("f")] == [f"f{i}" for i in range(20)]


def test_a_cancelled_waiter_gives_up_its_place_and_the_worker_frees() -> None:
    async def go() -> None:
        order: list[str] = []
        offload.owned_by("one")
        first = asyncio.create_task(offload.evaluate(_slow, "a", order))
        waiting = asyncio.create_task(offload.evaluate(_slow, "b", order))
        third = asyncio.create_task(offload.evaluate(_slow, "c", order))
        await asyncio.sleep(0)
        waiting.cancel()
        assert await first == "a" and await third == "c"
        assert order == ["a", "c"]
        turns = offload._TURNS[asyncio.get_running_loop()]
        assert not turns.busy and not turns.waiting
        assert await offload.evaluate(_slow, "d", order) == "d"

    asyncio.run(go())
