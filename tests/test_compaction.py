"""Compaction: once an execution has ended and the store is quiet, its history (one chunk row per
commit while it ran) is rewritten as fewer zlib-compressed rows. Every read answers as before; a
running execution is left alone; a redrive can still cut a compacted row."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest

from workflows.engine.history import HistoryEvent
from workflows.service.service import StepFunctionsService
from workflows.service.store import _CHUNK_EVENTS, EventWriter, Store

ARN = "arn:aws:states:us-east-1:123456789012:execution:m:e"
ROLE = "arn:aws:iam::123456789012:role/r"


def _event(i: int) -> HistoryEvent:
    details = {"name": f"S{i}", "input": json.dumps({"i": i, "text": "payload " * 20})}
    return HistoryEvent(i, i - 1, "PassStateEntered", 1.0 + i, "stateEnteredEventDetails", details)


def _fields(events: list[HistoryEvent]) -> list[tuple[Any, ...]]:
    """What an event is made of (HistoryEvent compares by identity)."""
    return [
        (e.id, e.previous_event_id, e.type, e.timestamp, e.details_key, e.details, e.thread) for e in events
    ]


def _record(arn: str, status: str) -> dict[str, Any]:
    return {
        "executionArn": arn,
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
        "name": arn.rsplit(":", 1)[1],
        "status": status,
        "startDate": 1.0,
        "stopDate": None if status == "RUNNING" else 2.0,
    }


def _written(store: Store, arn: str, count: int, per_commit: int, status: str = "SUCCEEDED") -> None:
    """`count` events committed `per_commit` at a time, as a running execution writes them."""
    writer = EventWriter(store)
    with store.transaction():
        store.insert_execution(_record(arn, "RUNNING"))
    for start in range(1, count + 1, per_commit):
        for i in range(start, min(start + per_commit, count + 1)):
            writer.add_event(arn, _event(i))
        writer.commit()
    writer.update_execution(_record(arn, status))
    writer.commit()


def _rows(store: Store, arn: str) -> list[tuple[int, int, str, int]]:
    return store.db.execute(
        "SELECT first_id, last_id, typeof(data), length(data) FROM event_chunks WHERE execution_arn=? ORDER BY first_id",
        (arn,),
    ).fetchall()


def _compact_all(store: Store, arn: str) -> int:
    stretches = 0
    while True:
        with store.transaction():
            if not store.compact_history(arn):
                return stretches
        stretches += 1


def test_an_ended_history_is_compacted_into_fewer_compressed_rows_that_read_the_same(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _written(store, ARN, 600, per_commit=3)
    assert store.to_compact(10) == [ARN]  # queued by the commit that ended it
    before = _rows(store, ARN)
    assert len(before) == 200 and {kind for _, _, kind, _ in before} == {"text"}
    events = _fields(store.load_events(ARN))

    # Whole rows of 3 events, up to _CHUNK_EVENTS (256) a row: 255 + 255 + 90.
    assert _compact_all(store, ARN) == 3
    after = _rows(store, ARN)
    assert [(first, last, kind) for first, last, kind, _ in after] == [
        (1, 255, "blob"),
        (256, 510, "blob"),
        (511, 600, "blob"),
    ]
    assert all(last - first < _CHUNK_EVENTS for first, last, _, _ in after)
    assert sum(size for *_, size in after) * 5 < sum(size for *_, size in before)
    assert store.to_compact(10) == []

    assert _fields(store.load_events(ARN)) == events
    assert store.count_events(ARN) == 600
    for after_id in (0, 100, 254, 255, 256, 590):  # pages across the compacted rows' edges
        page = store.iter_events(ARN, after=after_id, limit=100)
        assert _fields(page) == events[after_id : after_id + 100]
    newest_first = events[::-1]
    assert _fields(store.iter_events(ARN, reverse=True, limit=300)) == newest_first[:300]
    assert _fields(store.iter_events(ARN, reverse=True, after=258, limit=5)) == events[252:257][::-1]


def test_a_running_execution_is_left_as_written(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _written(store, ARN, 20, per_commit=2, status="RUNNING")
    store.queue_compaction([ARN])  # e.g. queued when it ended, then redriven
    assert _compact_all(store, ARN) == 0
    assert {kind for _, _, kind, _ in _rows(store, ARN)} == {"text"}
    assert store.to_compact(10) == []  # dropped; its end queues it again


def test_a_redrive_cuts_a_compacted_row_and_appends_as_written(tmp_path: Path) -> None:
    """Redrive drops the events from the failure on (delete_events) and the run writes new ones."""
    store = Store(tmp_path)
    _written(store, ARN, 300, per_commit=7, status="FAILED")
    _compact_all(store, ARN)
    events = _fields(store.load_events(ARN))
    with store.transaction():
        store.delete_events(ARN, 200)
    assert _fields(store.load_events(ARN)) == events[:199]
    writer = EventWriter(store)
    for i in range(200, 211):
        writer.add_event(ARN, _event(i))
    writer.update_execution(_record(ARN, "SUCCEEDED"))
    writer.commit()
    assert [e.id for e in store.load_events(ARN)] == list(range(1, 211))
    _compact_all(store, ARN)  # the new stretch is compacted on its own; rows never overlap
    rows = _rows(store, ARN)
    assert all(prev[1] + 1 == row[0] for prev, row in itertools.pairwise(rows))
    assert [e.id for e in store.load_events(ARN)] == list(range(1, 211))


def test_a_store_from_before_compaction_queues_its_ended_executions(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _written(store, ARN, 10, per_commit=1)
    running = ARN + "-running"
    _written(store, running, 10, per_commit=1, status="RUNNING")
    with store.transaction():  # as an older version left it: no queue, no marker
        store.db.execute("DELETE FROM compaction")
        store.db.execute("DELETE FROM meta WHERE key='compaction_queued'")
    store.close()
    reopened = Store(tmp_path)
    assert reopened.to_compact(10) == [ARN]


def test_the_service_compacts_only_when_the_store_is_quiet(tmp_path: Path) -> None:
    definition = {
        "StartAt": "S0",
        "States": {
            **{
                f"S{i}": {"Type": "Pass", "Result": {"step": i, "text": "x" * 300}, "Next": f"S{i + 1}"}
                for i in range(30)
            },
            "S30": {"Type": "Succeed"},
        },
    }

    async def go() -> None:
        service = StepFunctionsService(Store(tmp_path), retention_days=0)
        await service.start()
        machine = (
            await service.create_state_machine(name="m", definition=json.dumps(definition), roleArn=ROLE)
        )["stateMachineArn"]
        arns = [(await service.start_execution(stateMachineArn=machine))["executionArn"] for _ in range(5)]
        for arn in arns:
            while (await service.describe_execution(executionArn=arn))["status"] == "RUNNING":
                await asyncio.sleep(0.01)
        await service.writer.flush()
        histories = [await service.get_execution_history(executionArn=a, maxResults=1000) for a in arns]
        size = "SELECT SUM(length(data)) FROM event_chunks"
        written = service.store.db.execute(size).fetchone()[0]

        service.writer.last_commit = time.monotonic()  # a commit just now: not quiet
        assert await service.compact_quietly(quiet=5.0) == 0
        assert len(service.store.to_compact(10)) == 5

        described = [await service.describe_execution(executionArn=a) for a in arns]
        listed = (await service.list_executions(stateMachineArn=machine))["executions"]
        record_kinds = "SELECT DISTINCT typeof(data) FROM executions"
        assert service.store.db.execute(record_kinds).fetchall() == [("text",)]

        service.writer.last_commit = time.monotonic() - 10
        assert await service.compact_quietly(quiet=5.0) == 5
        assert service.store.to_compact(10) == []
        assert service.store.db.execute(size).fetchone()[0] * 3 < written
        assert service.store.db.execute(record_kinds).fetchall() == [("blob",)]  # input, output too
        for arn, history in zip(arns, histories, strict=True):
            assert await service.get_execution_history(executionArn=arn, maxResults=1000) == history
        assert [await service.describe_execution(executionArn=a) for a in arns] == described
        assert (await service.list_executions(stateMachineArn=machine))["executions"] == listed
        await service.close()

    asyncio.run(go())


def test_the_periodic_compaction_runs_by_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workflows.service import service as service_module

    monkeypatch.setattr(service_module, "_COMPACT_EVERY", 0.05)
    monkeypatch.setattr(service_module, "_COMPACT_QUIET", 0.05)
    store = Store(tmp_path)
    _written(store, ARN, 40, per_commit=4)
    real = store.compact_history
    calls = {"n": 0}

    def fails_once(arn: str) -> int:  # an unexpected error must not end compaction for good
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug")
        return real(arn)

    monkeypatch.setattr(store, "compact_history", fails_once)

    async def go() -> None:
        service = StepFunctionsService(store, retention_days=0)
        await service.start()
        for _ in range(200):
            if not store.to_compact(1):
                break
            await asyncio.sleep(0.02)
        assert store.to_compact(1) == [] and calls["n"] > 1
        assert {kind for _, _, kind, _ in _rows(store, ARN)} == {"blob"}
        await service.close()

    asyncio.run(go())


def test_a_compacted_failed_execution_can_be_redriven(tmp_path: Path) -> None:
    async def go() -> None:
        service = StepFunctionsService(Store(tmp_path), retention_days=0)
        await service.start()
        activity = (await service.create_activity(name="a"))["activityArn"]
        steps = {f"P{i}": {"Type": "Pass", "Result": "x" * 200, "Next": f"P{i + 1}"} for i in range(10)}
        steps["P10"] = {"Type": "Pass", "Next": "Ask"}
        steps["Ask"] = {"Type": "Task", "Resource": activity, "End": True}
        definition = {"StartAt": "P0", "States": steps}
        machine = (
            await service.create_state_machine(name="m", definition=json.dumps(definition), roleArn=ROLE)
        )["stateMachineArn"]
        arn = (await service.start_execution(stateMachineArn=machine, input='{"n": 1}'))["executionArn"]
        task = await service.get_activity_task(activityArn=activity, wait=5)
        await service.send_task_failure(taskToken=task["taskToken"], error="Broken", cause="first try")
        while (await service.describe_execution(executionArn=arn))["status"] == "RUNNING":
            await asyncio.sleep(0.005)
        await service.writer.flush()
        before = (await service.get_execution_history(executionArn=arn, maxResults=1000))["events"]
        service.writer.last_commit = time.monotonic() - 10
        assert await service.compact_quietly(quiet=1.0) == 1
        assert _rows(service.store, arn)[0][2] == "blob"

        await service.redrive_execution(executionArn=arn)
        task = await service.get_activity_task(activityArn=activity, wait=5)
        assert json.loads(task["input"]) == "x" * 200  # the redriven Task runs again, on what it had
        await service.send_task_success(taskToken=task["taskToken"], output='{"ok": true}')
        while (await service.describe_execution(executionArn=arn))["status"] == "RUNNING":
            await asyncio.sleep(0.005)
        described = await service.describe_execution(executionArn=arn)
        assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"ok": True})
        assert described["redriveCount"] == 1 and json.loads(described["input"]) == {"n": 1}
        after = (await service.get_execution_history(executionArn=arn, maxResults=1000))["events"]
        assert [e["id"] for e in after] == list(range(1, len(after) + 1))
        assert after[: len(before) - 1] == before[:-1]  # what ran before the failure reads as it did
        assert after[-1]["type"] == "ExecutionSucceeded"
        await service.close()

    asyncio.run(go())
