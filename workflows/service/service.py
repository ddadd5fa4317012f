"""The Step Functions service: every API operation, over the store and the interpreter.

The HTTP API (api.py) and the web console are two faces of this one class. Each operation is an
async method named after the AWS operation in snake_case, taking the request members as keyword
arguments with AWS's names and returning the response as a dict (timestamps as `datetime`):

    await service.describe_execution(executionArn=arn)
    await service.call("DescribeExecution", {"executionArn": arn})   # + generic request validation

Errors are raised as `ServiceError(code, message)` with AWS's codes and messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from workflows.asl.errors import ServiceError
from workflows.engine.history import MAX_HISTORY_EVENTS
from workflows.service.activities import Activities, ActivityResolver, _ActivityTask
from workflows.service.api_model import service_model, validate_request
from workflows.service.core import (
    GET_ACTIVITY_TASK_WAIT,
    MAX_PAYLOAD,
    TERMINAL_EVENTS,
    _snake,
)
from workflows.service.executions import Executions
from workflows.service.map_runs import MapRuns
from workflows.service.state_machines import StateMachines
from workflows.service.store import EventWriter, Store, StoreError, store_error
from workflows.service.tags import Tags
from workflows.service.versions import Versions

__all__ = [
    "GET_ACTIVITY_TASK_WAIT",
    "MAX_HISTORY_EVENTS",
    "MAX_PAYLOAD",
    "RETENTION_DAYS",
    "ActivityResolver",
    "StepFunctionsService",
]

log = logging.getLogger(__name__)

# AWS keeps a closed Standard execution 90 days: then it can no longer be described, listed or have
# its history read, and its name may be used again. 0 keeps every execution.
RETENTION_DAYS = 90.0
# Executions forgotten per transaction: 25 pipeline-sized ones (60 KB of history each) took 4 ms to
# delete (20 ms at worst), and the event loop serves others for 10 ms before the next 25.
_EXPIRY_BATCH = 25
_EXPIRY_EVERY = 3600.0  # seconds between sweeps
# An ended execution's history is compacted (Store.compact_history) once the store has had no commit
# for _COMPACT_QUIET seconds, looked at every _COMPACT_EVERY: never in the middle of a burst of work.
_COMPACT_QUIET = 0.5
_COMPACT_EVERY = 1.0


class StepFunctionsService(StateMachines, Versions, Executions, Activities, MapRuns, Tags):
    """Every Step Functions operation. See the module docstring for the calling convention.

    Each resource's operations live in their own module (state_machines, versions, executions,
    activities, map_runs, tags) over ServiceCore (core); this class holds their shared state and
    the service's lifecycle.
    """

    def __init__(
        self,
        store: Store,
        *,
        account: str = "123456789012",
        region: str = "us-east-1",
        resolver: Any = None,
        clock: Any = None,
        substitutions: dict[str, Any] | None = None,
        retention_days: float = RETENTION_DAYS,
    ) -> None:
        from workflows.engine.clock import SystemClock

        if not retention_days >= 0:
            raise ValueError(
                f"retention is 0 (keep every execution) or a number of days, not {retention_days}"
            )
        self.retention_days = retention_days
        self.store = store
        self.account = account
        self.region = region
        self.clock = clock or SystemClock()
        self.writer = EventWriter(store)
        self.activities = ActivityResolver(self)
        self.resolver = resolver if resolver is not None else self._default_resolver()
        self.substitutions = substitutions
        self._definitions: dict[str, Any] = {}
        self.callbacks: Any = None
        self._runs: dict[str, Any] = {}
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._activity_tasks: dict[str, _ActivityTask] = {}
        self._activity_queues: dict[str, deque[_ActivityTask]] = {}
        self._pollers: dict[str, asyncio.Event] = {}
        self._done_events: dict[str, asyncio.Event] = {}
        self._records: dict[str, dict[str, Any]] = {}  # the records of executions being run
        self.defer_resume = False
        self._resuming: asyncio.Task[int] | None = None
        self._to_resume: list[dict[str, Any]] = []
        self._expiring: asyncio.Task[None] | None = None
        self._compacting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the writer; resume every RUNNING execution from its stored events in the background.

        With `defer_resume` set, resumption waits for `resume_in_background()`: a server calls it
        once its port is open, so a restart answers the API before it runs anything it resumes."""
        self.writer.start()
        if self.callbacks is None:
            self.callbacks = self._make_callbacks()
        # What was RUNNING before this start; executions started from now on run already.
        self._to_resume = self.store.running_executions()
        if not self.defer_resume:
            self.resume_in_background()
        if self.retention_days > 0 and self._expiring is None:
            self._expiring = asyncio.create_task(
                self._repeat("retention", self.expire_closed, _EXPIRY_EVERY, "forgot %d closed executions")
            )
        if self._compacting is None:
            self._compacting = asyncio.create_task(
                self._repeat(
                    "compaction",
                    lambda: self.compact_quietly(_COMPACT_QUIET),
                    _COMPACT_EVERY,
                    "compacted %d ended executions",
                )
            )

    async def _repeat(self, name: str, work: Callable[[], Awaitable[int]], every: float, did: str) -> None:
        """`work` now and every `every` seconds for the service's life. A store error (busy, disk full)
        or a bug is logged and the next turn tries again: neither ends it."""
        while True:
            try:
                count = await work()
            except (StoreError, sqlite3.Error) as exc:
                log.warning("%s failed, tried again in %.0f s: %s", name, every, exc)
            except Exception:
                log.exception("%s failed; tried again in %.0f s", name, every)
            else:
                if count:
                    log.info(f"{name}: {did}", count)
            await asyncio.sleep(every)

    def _quiet(self, seconds: float) -> bool:
        writer = self.writer
        return not writer.pending and time.monotonic() - writer.last_commit >= seconds

    async def compact_quietly(self, quiet: float) -> int:
        """Compact ended executions' history while the store stays quiet (no commit for `quiet`
        seconds); how many executions were finished. One stretch of history per transaction, the
        event loop served between them; the first commit of new work stops it until the next quiet."""
        finished = 0
        while arns := self.store.to_compact(50):
            for arn in arns:
                while True:
                    if not self._quiet(quiet):
                        return finished
                    with self.store.transaction():
                        compacted = self.store.compact_history(arn)
                    if not compacted:
                        finished += 1
                        break
                    await asyncio.sleep(0)
        return finished

    async def expire_closed(self) -> int:
        """Forget the executions that closed more than `retention_days` ago, as AWS does; how many.

        One transaction per _EXPIRY_BATCH executions, and a pause between them in which the event loop
        serves others: the first sweep of a store kept for years is many short stops, not one long one."""
        if self.retention_days <= 0:
            return 0
        cutoff = self.clock.now() - self.retention_days * 86400
        removed = 0
        while True:
            with self.store.transaction():
                arns = self.store.closed_before(cutoff, _EXPIRY_BATCH)
                self.store.delete_executions(arns)
            removed += len(arns)
            if len(arns) < _EXPIRY_BATCH:
                break
            await asyncio.sleep(0.01)
        if removed:
            with self.store.transaction():
                self.store.forget_unused_snapshots()
        return removed

    def resume_in_background(self) -> asyncio.Task[int]:
        """Resume the RUNNING executions (once); the task's result is how many were resumed."""
        if self._resuming is None:
            self._resuming = asyncio.create_task(self._resume_running())
        return self._resuming

    async def _resume_running(self) -> int:
        resumed = 0
        records, self._to_resume = self._to_resume, []
        await self.writer.flush()  # what the API did meanwhile is in the store
        for record in records:
            if record["executionArn"] in self._tasks:  # redriven meanwhile through the API
                continue
            current = self.store.get_execution(record["executionArn"])
            if current is None or current["status"] != "RUNNING":  # stopped meanwhile
                continue
            record = current
            events = self.store.load_events(record["executionArn"])
            last = events[-1] if events else None
            if last is not None and last.type in TERMINAL_EVENTS:
                self._finish(record, TERMINAL_EVENTS[last.type], last.timestamp, last.details or {})
                continue
            self._launch(record, history=events)
            resumed += 1
            await asyncio.sleep(0)  # the API gets a turn between executions
        await self.writer.flush()
        return resumed

    async def close(self) -> None:
        """Stop accepting work; persist what is queued. RUNNING executions resume on next start."""
        for name in ("_expiring", "_compacting"):
            task = getattr(self, name)
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                setattr(self, name, None)
        if self._resuming is not None and not self._resuming.done():
            self._resuming.cancel()
            with contextlib.suppress(BaseException):
                await self._resuming
        for run in list(self._runs.values()):
            run.shutdown()  # ends without recording: not a StopExecution
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            try:
                await task
            except BaseException:
                pass
        await self.writer.stop()

    def _default_resolver(self) -> Any:
        from workflows.engine.nested import NestedExecutionResolver
        from workflows.engine.resolvers import ChainResolver

        return ChainResolver(self.activities, NestedExecutionResolver(self))

    def _make_callbacks(self) -> Any:
        try:
            from workflows.engine.tasks import CallbackRegistry
        except ImportError:
            return None
        # One secret per data directory: task tokens derived from it stay valid across restarts.
        secret = self.store.get_meta("task_token_secret")
        if secret is None:
            secret = os.urandom(32).hex()
            with self.store.transaction():
                self.store.set_meta("task_token_secret", secret)
        callbacks = CallbackRegistry(secret=bytes.fromhex(secret))
        callbacks.recorded = self.store.get_token  # answers recorded before a restart (activities.py)
        return callbacks

    async def call(self, op: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run an operation by its AWS name after validating the request against botocore's model."""
        if op not in service_model().operation_names:
            raise ServiceError("UnknownOperationException", f"Unknown operation {op}")
        validate_request(op, params)
        self.check_type_support(op, params)
        method = getattr(self, _snake(op))
        try:
            return await method(**params)  # type: ignore[no-any-return]
        except sqlite3.Error as exc:  # a read or write outside a transaction: name the cause
            raise store_error(exc, self.store.path) from exc
