"""What a running state carries and returns: its frame (context, variables, events), its outcome, and the timers it races."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from workflows.asl import errors
from workflows.asl.definition import (
    State,
    StateMachine,
)
from workflows.asl.errors import ASLError
from workflows.asl.payload import SizeCheck
from workflows.engine.clock import Clock
from workflows.engine.history import EventLog, HistoryEvent


class Frame:
    """One thread of control: the execution, a Parallel branch or a Map iteration."""

    __slots__ = (
        "_context",
        "_stamped",
        "entered_at",
        "entered_id",
        "interleave",
        "log_events",
        "path",
        "pending_sizes",
        "prev",
        "sizes",
        "steps",
        "var_sizes",
        "variables",
    )

    def __init__(
        self, context: dict[str, Any], variables: dict[str, Any], prev: int, log_events: bool = True
    ):
        self._context = context
        # The state whose entry the context object has yet to be stamped with (see `stamp`).
        self._stamped: str | None = None
        self.variables = variables
        self.prev = prev
        self.log_events = log_events
        # Parallel branches take turns after each state entry, so their events interleave as AWS's
        # do (every branch's first state is entered before any exits).
        self.interleave = False
        self.entered_at = 0.0  # when the current state was entered (a resumed Wait keeps its deadline)
        self.entered_id = 0  # its StateEntered event (task tokens are derived from it)
        # Where this thread sits: "" the execution's own, then one step per Map iteration or
        # Parallel branch (`<entered id>.<index>`, `<entered id>b<branch>`). Its events carry it
        # (HistoryEvent.thread), so a restart finds each nested iteration's events. A frame that
        # records no events (a Distributed Map's items) has no event ids to derive task tokens
        # from: its place (`Map[index]`) and a count of the states it entered stand in for them,
        # the same on every run of the item.
        self.path = ""
        self.steps = 0
        # Every state output over 256 KiB fails its state (Retry and Catch see it), as on AWS. Each
        # thread keeps its own bound: its next state's input is its last output, whatever other
        # branches or iterations did in between.
        self.sizes = SizeCheck()
        # The payload size of each variable this thread assigned (the execution's total is bounded);
        # variables it inherited or a restart restored count from their next assignment.
        self.var_sizes: dict[str, int] = {}
        self.pending_sizes: tuple[dict[str, Any], dict[str, int]] | None = None  # the last Assign's

    @property
    def context(self) -> dict[str, Any]:
        """The context object (`$$`), stamped with the current state. Most states never read it, so
        the stamp is made when first read after an entry, from the entry's name and time."""
        name = self._stamped
        if name is not None:
            self._stamped = None
            self._context = {
                **self._context,
                "State": {"Name": name, "EnteredTime": _iso(self.entered_at)},
            }
        return self._context

    @context.setter
    def context(self, value: dict[str, Any]) -> None:
        self._stamped = None
        self._context = value

    def stamp(self, name: str, entered_at: float, entered_id: int) -> None:
        """A state was entered: the context object's `State` is theirs from now on. The object is
        replaced, never mutated (`$$` values may already sit in outputs); see `context`."""
        self.entered_at = entered_at
        self.entered_id = entered_id
        self._stamped = name

    def child(
        self, context: dict[str, Any], prev: int, log_events: bool | None = None, place: str = ""
    ) -> Frame:
        frame = Frame(
            context, dict(self.variables), prev, self.log_events if log_events is None else log_events
        )
        frame.path = f"{self.path}/{place}" if place else self.path
        if self.var_sizes:
            frame.var_sizes = dict(self.var_sizes)
        return frame

    @property
    def site(self) -> int | str:
        """Where the current state runs, the same after a restart: its StateEntered id, or for a frame
        that records no events, its place and how many states it had entered."""
        return self.entered_id if self.log_events else f"{self.path}#{self.steps}"


class _Next:
    """A state's outcome: its output and the next state (None: the machine ends)."""

    __slots__ = ("assigned", "next", "output")

    def __init__(self, output: Any, next: str | None, assigned: dict[str, Any] | None = None) -> None:
        self.output = output
        self.next = next
        self.assigned = assigned


def _iso(epoch: float) -> str:
    """ISO 8601 UTC text to the millisecond (the context object's times), e.g. 2024-01-01T00:00:00.123Z.

    Every state entry stamps the context object. States follow each other faster than a millisecond
    passes, so the text is built once per millisecond (from the time rounded to the microsecond, as
    datetime does, then cut to the millisecond) and reused until the clock moves past it."""
    global _last_iso
    last = _last_iso
    if last[0] == epoch:  # the same instant (a fake clock, or states within a clock tick)
        return last[2]
    # datetime.fromtimestamp's rounding: the fraction of the second to the microsecond, half to even
    fraction, whole = math.modf(epoch)
    micros = round(fraction * 1e6)
    millis = int(whole) * 1000 + micros // 1000  # (floor division also carries a negative fraction)
    if last[1] == millis:
        text = last[2]
    else:
        seconds, ms = divmod(millis, 1000)
        text = f"{datetime.fromtimestamp(seconds, tz=UTC).isoformat()[:19]}.{ms:03d}Z"
    _last_iso = (epoch, millis, text)
    return text


_last_iso: tuple[float, int, str] = (float("nan"), -1, "")


# Compiled Assign templates of the compiled states, by identity (the spec dicts live as long as
# their definition, which the entry keeps alive).
_ASSIGN_TEMPLATES: dict[int, tuple[Any, Callable[[Any, Any], Any]]] = {}


def _assign_template(assign: Any) -> Callable[[Any, Any], Any]:
    entry = _ASSIGN_TEMPLATES.get(id(assign))
    if entry is None or entry[0] is not assign:
        from workflows.asl.definition import compile_payload

        if len(_ASSIGN_TEMPLATES) > 4096:
            _ASSIGN_TEMPLATES.clear()
        entry = _ASSIGN_TEMPLATES[id(assign)] = (assign, compile_payload(assign))
    return entry[1]


def _error_matches(equals: tuple[str, ...], error: str) -> bool:
    return errors.error_matches(equals, error)


def _closing(err: ASLError, event_type: str) -> ASLError:
    """Mark an error with the event its state records if the error leaves it (not retried)."""
    err.closing = event_type  # type: ignore[attr-defined]
    return err


class _ExecutionTimeout(Exception):
    pass


class _TaskTimeout(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class _Resumed(Exception):
    def __init__(self, output: Any) -> None:
        super().__init__("resumed")
        self.output = output


async def _race(work: Awaitable[Any], timer: Awaitable[Any], on_timeout: Callable[[], BaseException]) -> Any:
    """Run `work`; if `timer` finishes first, cancel the work and raise `on_timeout()`."""
    work_task = asyncio.ensure_future(work)
    timer_task = asyncio.ensure_future(timer)
    try:
        done, _ = await asyncio.wait({work_task, timer_task}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        work_task.cancel()
        timer_task.cancel()
        with contextlib.suppress(BaseException):
            await work_task
        raise
    if work_task in done:
        timer_task.cancel()
        return work_task.result()
    work_task.cancel()
    with contextlib.suppress(BaseException):
        await work_task
    raise on_timeout()


def _next_of(state: State) -> str | None:
    return None if state.end else state.next


def _loads(text: Any) -> Any:
    import json

    return json.loads(text) if isinstance(text, str) else text


async def _gather_fail_fast(tasks: Sequence[asyncio.Future[Any]]) -> list[Any]:
    """Results in order; on the first failure cancel the rest and raise it."""
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                if t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
        return [t.result() for t in tasks]
    finally:
        await _cancel_all(tasks)


async def _cancel_all(tasks: Sequence[asyncio.Future[Any]]) -> None:
    """Cancel the tasks not yet done, in order, and wait for each to end."""
    for t in tasks:
        if not t.done():
            t.cancel()
    for t in tasks:
        if not t.done():
            with contextlib.suppress(BaseException):
                await t


class LiveIterations:
    """The iterations alive in one execution, all its Maps together, against `limit`: a Map inside a
    Map would otherwise multiply each one's bound (1,000 x 1,000 tasks). Past the limit a Map still
    keeps one iteration going, so every Map progresses and nesting adds, not multiplies."""

    __slots__ = ("limit", "live")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.live = 0


async def _run_bounded(
    count: int, limit: int, work: Callable[[int], Awaitable[Any]], shared: LiveIterations | None = None
) -> list[Any]:
    """`work(i)` for every i below `count`, at most `limit` at once, started in index order; results
    in order. On the first failure the rest are cancelled (in index order) and it is raised. With
    `shared`, a second and further iteration start only while the execution's live iterations are
    under its limit (see LiveIterations).

    Only the running ones exist: the next is started when one ends, from inside it, exactly where a
    semaphore released there would wake the next waiter; and the caller hears of the end two loop
    hops later, as through `asyncio.wait`. So a bounded run records what `_gather_fail_fast` over
    every task behind a semaphore recorded, in the same order, holding `limit` tasks, not `count`."""
    loop = asyncio.get_running_loop()
    results: list[Any] = [None] * count
    running: dict[int, asyncio.Future[Any]] = {}  # in index order
    ended = loop.create_future()
    started = 0
    left = count
    closed = False
    most = max(limit, 1)

    def settle(outcome: BaseException | None) -> None:
        if not ended.done():
            if outcome is None:
                ended.set_result(None)
            else:
                ended.set_exception(outcome)

    def may_start() -> bool:
        return shared is None or not running or shared.live < shared.limit

    def start_next() -> None:
        nonlocal started
        index = started
        started += 1
        if shared is not None:
            shared.live += 1
        running[index] = asyncio.ensure_future(one(index))

    async def one(index: int) -> None:
        nonlocal left, closed
        try:
            results[index] = await work(index)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # (kept for the caller: the task itself ends quietly)
            if not closed:
                closed = True  # start no more; the caller cancels the rest
                loop.call_soon(settle, exc)
        finally:
            running.pop(index, None)
            if shared is not None:
                shared.live -= 1
            left -= 1
            # One for the one that ended, and more if the execution's iterations left room again.
            while not closed and started < count and len(running) < most and may_start():
                start_next()
            if left == 0 and not closed:
                loop.call_soon(settle, None)

    if count == 0:
        return results
    while started < min(count, most) and may_start():
        start_next()
    try:
        await ended
        return results
    finally:
        closed = True
        await _cancel_all(list(running.values()))


def _copy_context(context: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in context.items() if k != "Task"}


class RunBase:
    """What the parts of an ExecutionRun (run loop, data flow, tasks, resume) share.

    ExecutionRun (interpreter.py) sets these attributes and composes the parts; each part reads them,
    and calls the run loop's own steps declared here for the type checker.
    """

    inspect: dict[str, Any] | None = None
    interpreter: Any
    machine: StateMachine
    info: Any
    input: Any
    sink: Any
    clock: Clock
    log: EventLog
    prior: list[HistoryEvent]
    _stop: tuple[str | None, str | None] | None
    _resume_entry: tuple[int, int, float] | None
    _tokens_issued: dict[int | str, int]
    _reattach: dict[int, bool]
    _shutting_down: bool
    _progress: dict[int, Any]
    _near: dict[str, list[HistoryEvent]] | None
    _live_iterations: LiveIterations

    if TYPE_CHECKING:  # the run loop's steps (interpreter.py) that the parts call

        async def _run_machine(
            self,
            machine: StateMachine,
            value: Any,
            frame: Frame,
            start_at: str | None = None,
            entry: tuple[int, int, float] | None = None,
        ) -> Any: ...

        def _emit(
            self,
            frame: Frame,
            type: str,
            details: dict[str, Any] | None = None,
            advance: bool = True,
            latest: bool = False,
        ) -> int: ...
