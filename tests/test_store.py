"""The store's group commit: what is queued is written once, and a failed commit loses nothing (it is
retried, and whoever waits on the flush goes on once it succeeds)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from workflows.engine.history import HistoryEvent
from workflows.service.store import EventWriter, Store


def test_a_failed_commit_keeps_its_events_for_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(str(tmp_path))
    writer = EventWriter(store)
    arn = "arn:aws:states:us-east-1:123456789012:execution:m:e"
    for i in (1, 2):
        writer.add_event(
            arn, HistoryEvent(i, i - 1, "PassStateEntered", 1.0, "stateEnteredEventDetails", {"name": "P"})
        )

    real = store.write_events
    calls = {"n": 0}

    def flaky(events: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise sqlite3.OperationalError("database or disk is full")
        real(events)

    monkeypatch.setattr(store, "write_events", flaky)

    async def go() -> None:
        await writer.flush()  # the first commit fails; the flush waits for the retry, which succeeds
        assert calls["n"] == 2
        writer.add_event(
            arn, HistoryEvent(3, 2, "PassStateExited", 1.0, "stateExitedEventDetails", {"name": "P"})
        )
        await writer.flush()

    asyncio.run(go())
    assert [e.id for e in store.load_events(arn)] == [1, 2, 3]
    assert not writer.pending
