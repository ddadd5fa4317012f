"""The store's group commit: what is queued is written once, and a failed commit loses nothing (it is
retried, and whoever waits on the flush goes on once it succeeds)."""

from __future__ import annotations

import asyncio
import json
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


def _event(i: int, payload: Any = None) -> HistoryEvent:
    details = {"name": "P", "input": payload if payload is not None else {"i": i}}
    return HistoryEvent(i, i - 1, "PassStateEntered", 1.0 + i, "stateEnteredEventDetails", details)


def test_history_is_stored_in_chunks_and_read_back_in_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One commit of 700 events is a few chunk rows (at most _CHUNK_EVENTS each, two executions kept
    apart); pages forward and backward cross the chunk edges without losing or repeating an event."""
    from workflows.service import store as store_module

    store = Store(str(tmp_path))
    writer = EventWriter(store)
    a, b = (
        "arn:aws:states:us-east-1:123456789012:execution:m:a",
        "arn:aws:states:us-east-1:123456789012:execution:m:b",
    )
    for i in range(1, 701):
        writer.add_event(a, _event(i))
        if i <= 3:
            writer.add_event(b, _event(i))
    writer.commit()
    chunks = store.db.execute(
        "SELECT execution_arn, first_id, last_id FROM event_chunks ORDER BY execution_arn, first_id"
    ).fetchall()
    size = store_module._CHUNK_EVENTS
    assert chunks == [(a, 1, size), (a, size + 1, 2 * size), (a, 2 * size + 1, 700), (b, 1, 3)]
    assert [e.id for e in store.load_events(a)] == list(range(1, 701))
    assert store.load_events(a)[299].details == {"name": "P", "input": {"i": 300}}
    assert store.count_events(a) == 700 and store.count_events(b) == 3

    seen, after = [], None
    while page := store.iter_events(a, after=after, limit=100):
        seen += [e.id for e in page]
        after = page[-1].id
    assert seen == list(range(1, 701))
    seen, after = [], None
    while page := store.iter_events(a, reverse=True, after=after, limit=300):
        seen += [e.id for e in page]
        after = page[-1].id
    assert seen == list(range(700, 0, -1))

    store.delete_events(a, 300)  # inside the second chunk: it keeps 257..299
    assert [e.id for e in store.load_events(a)] == list(range(1, 300))

    # Big payloads close a chunk early: a row holds at most _CHUNK_CHARS of text (or one event).
    monkeypatch.setattr(store_module, "_CHUNK_CHARS", 10_000)
    for i in range(1, 11):
        writer.add_event(b + "2", _event(i, {"blob": "x" * 4000}))
    writer.commit()
    lengths = store.db.execute(
        "SELECT last_id - first_id + 1, length(data) FROM event_chunks WHERE execution_arn=? ORDER BY first_id",
        (b + "2",),
    ).fetchall()
    assert [n for n, _ in lengths] == [2, 2, 2, 2, 2]  # each event is some 4,100 characters
    assert all(length <= 10_000 for _, length in lengths)


def test_a_store_with_one_row_per_event_is_migrated(tmp_path: Path) -> None:
    """A database written before event_chunks is read as it was: each old row becomes a chunk."""
    import json

    db = sqlite3.connect(tmp_path / "workflows.db")
    db.execute(
        "CREATE TABLE events (execution_arn TEXT NOT NULL, id INTEGER NOT NULL, data TEXT NOT NULL,"
        " PRIMARY KEY (execution_arn, id)) WITHOUT ROWID"
    )
    arn = "arn:aws:states:us-east-1:123456789012:execution:m:old"
    db.executemany(
        "INSERT INTO events VALUES (?,?,?)", [(arn, i, json.dumps(_event(i).to_json())) for i in (1, 2, 3)]
    )
    db.commit()
    db.close()
    store = Store(str(tmp_path))
    assert [(e.id, e.details) for e in store.load_events(arn)] == [(i, _event(i).details) for i in (1, 2, 3)]
    tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "events" not in tables
    writer = EventWriter(store)
    writer.add_event(arn, _event(4))
    writer.commit()
    assert [e.id for e in store.iter_events(arn, after=2)] == [3, 4]


@pytest.mark.parametrize(
    "event",
    [
        HistoryEvent(
            1, 0, "ExecutionStarted", 1_700_000_000.123456, "executionStartedEventDetails", {"input": {}}
        ),
        HistoryEvent(
            2, 1, "PassStateEntered", 1_700_000_000.5, "stateEnteredEventDetails", {"name": 'é\ud800"'}
        ),
        HistoryEvent(
            7,
            3,
            "MapIterationStarted",
            1_700_000_001.0,
            "mapIterationStartedEventDetails",
            {"index": 0},
            "/3.0",
        ),
        HistoryEvent(9, 8, "WaitStateAborted", 2.0),
        HistoryEvent(
            3,
            2,
            "PassStateExited",
            1_700_000_000.75,
            "stateExitedEventDetails",
            {"output": {"big": 2**70, "small": -(2**63), "floats": [0.1, 1e16, -0.0, 1.5e-300], "漢": "é"}},
        ),
    ],
    ids=["started", "surrogate", "thread", "no-details", "big-int-floats-unicode"],
)
def test_an_event_record_reads_back_as_the_event(tmp_path: Path, event: HistoryEvent) -> None:
    """Events are stored as JSON arrays of their fields and read back equal, through SQLite: a lone
    surrogate (escaped, which only the standard encoder does) and an integer beyond 64 bits (which
    orjson refuses) as well as what orjson writes; an object written by an older store reads back
    the same."""
    import json

    from workflows.service.store import _event, _record_text

    text = _record_text(event)
    for record in (json.loads(text), json.loads(json.dumps(event.to_json()))):
        back = _event(record)
        assert back.to_json() == event.to_json()
        assert (back.thread, back.details_key) == (event.thread, event.details_key)
    store = Store(str(tmp_path))
    writer = EventWriter(store)
    writer.add_event("arn:x", event)
    writer.commit()
    (stored,) = Store(str(tmp_path)).load_events("arn:x")
    assert stored.to_json() == event.to_json()
    assert json.dumps(stored.details) == json.dumps(event.details)  # -0.0 and float text kept


@pytest.mark.parametrize(
    ("text", "token"), [("NaN", "NaN"), ('{"a": Infinity}', "Infinity"), ("[-Infinity]", "-Infinity")]
)
def test_nan_and_infinity_are_not_json(text: str, token: str) -> None:
    """Python's parser takes NaN and Infinity; JSON (and AWS's parser) does not, and a history record
    could not keep them."""
    import json

    from workflows.asl.budget import loads
    from workflows.asl.errors import ServiceError
    from workflows.service.core import _parse_input

    with pytest.raises(json.JSONDecodeError):
        loads(text)
    with pytest.raises(ServiceError) as refused:  # StartExecution's input
        _parse_input(text)
    assert refused.value.code == "InvalidExecutionInput"
    assert refused.value.message == (
        f"Invalid State Machine Execution Input: 'Non-standard token '{token}': enable "
        "`JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow'"
    )


def test_the_wal_is_checkpointed_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A started writer turns SQLite's automatic checkpoint (run inside a commit, on the event loop)
    off and checkpoints on a thread instead, once the WAL passes 1000 pages: the WAL is then reused
    rather than growing. Stopping the writer hands checkpoints back to SQLite."""
    import os
    import threading

    from workflows.service import store as store_module

    done: list[str] = []
    real = store_module._Checkpointer._checkpoint

    def counted(self: Any, db: sqlite3.Connection) -> None:
        real(self, db)
        done.append(threading.current_thread().name)

    monkeypatch.setattr(store_module._Checkpointer, "_checkpoint", counted)
    store = Store(str(tmp_path))
    writer = EventWriter(store)
    arn = "arn:aws:states:us-east-1:123456789012:execution:m:big"
    wal = store.path + "-wal"
    limit = 1000 * store.db.execute("PRAGMA page_size").fetchone()[0]

    async def go() -> list[int]:
        writer.start()
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        sizes = []
        for batch in range(6):  # ~1.5 MiB of history a batch
            for i in range(batch * 300 + 1, batch * 300 + 301):
                writer.add_event(arn, _event(i, {"blob": f"{i}" + "x" * 5000}))
            await writer.flush()
            sizes.append(os.path.getsize(wal))
            checkpoints = len(done)
            for _ in range(500):  # the thread checkpoints once the WAL is past its limit
                if os.path.getsize(wal) < limit or len(done) > checkpoints:
                    break
                await asyncio.sleep(0.01)
        await writer.stop()
        return sizes

    sizes = asyncio.run(go())
    assert done and set(done) == {"workflows-store-checkpoint"}
    # ~1.5 MiB a batch: past the limit after the third, then reused from its start (9 MiB without)
    assert max(sizes) < 1.5 * limit
    assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    assert not any(t.name == "workflows-store-checkpoint" for t in threading.enumerate())
    assert [e.id for e in store.load_events(arn)][-1] == 1800


def test_a_summary_list_leaves_out_what_no_list_shows(tmp_path: Path) -> None:
    """ListExecutions reads summaries: the machine snapshot (its whole definition), input, output,
    error and cause are dropped in SQL; everything a list row needs is there, and paging still works."""
    store = Store(str(tmp_path))
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:m"
    for i in range(3):
        store.insert_execution(
            {
                "executionArn": f"arn:aws:states:us-east-1:123456789012:execution:m:e{i}",
                "stateMachineArn": machine,
                "mapRunArn": None,
                "name": f"e{i}",
                "status": "SUCCEEDED",
                "startDate": 1000.0 + i,
                "stopDate": 1001.0 + i,
                "machine": {"definition": "{" + " " * 20_000 + "}"},
                "input": '{"key": "uploads/a.jpg"}',
                "output": '{"outcome": "accepted"}',
                "error": None,
                "cause": None,
                "redriveCount": 0,
            }
        )
    full = store.list_executions(state_machine_arn=machine)
    listed = store.list_executions(state_machine_arn=machine, summary=True)
    assert [r["name"] for r in listed] == ["e2", "e1", "e0"]
    dropped = {"machine", "input", "output", "error", "cause"}
    assert [{k: v for k, v in r.items() if k not in dropped} for r in full] == listed
    assert not dropped & set(listed[0])
    assert full[0]["machine"]["definition"].startswith("{")
    page = store.list_executions(
        state_machine_arn=machine, summary=True, before_seq=listed[0]["seq"], limit=1
    )
    assert [r["name"] for r in page] == ["e1"]
    # A row from before summaries (its column NULL) is summarised in SQL as it is listed.
    store.db.execute("UPDATE executions SET summary=NULL WHERE name='e0'")
    assert store.list_executions(state_machine_arn=machine, summary=True) == listed
    store.close()


def test_a_store_from_before_summaries_gets_the_column(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "workflows.db")
    db.execute(
        "CREATE TABLE executions (arn TEXT PRIMARY KEY, state_machine_arn TEXT NOT NULL, map_run_arn TEXT,"
        " name TEXT NOT NULL, status TEXT NOT NULL, start_date REAL NOT NULL, stop_date REAL,"
        " seq INTEGER NOT NULL, data TEXT NOT NULL)"
    )
    record = {"executionArn": "arn:e", "stateMachineArn": "arn:m", "name": "e", "status": "SUCCEEDED"}
    db.execute(
        "INSERT INTO executions VALUES ('arn:e', 'arn:m', NULL, 'e', 'SUCCEEDED', 1.0, 2.0, 1, ?)",
        (json.dumps({**record, "input": "{}", "machine": {"definition": "{}"}, "seq": 1}),),
    )
    db.commit()
    db.close()
    store = Store(str(tmp_path))
    assert store.list_executions(state_machine_arn="arn:m", summary=True) == [{**record, "seq": 1}]
    assert store.get_execution("arn:e")["input"] == "{}"
    store.close()


def test_a_machine_snapshot_is_stored_once_and_read_back_whole(tmp_path: Path) -> None:
    """Executions of one revision share one snapshot row; each record reads back with its machine,
    whether it was written with a reference or (an older store) with the machine inline."""
    store = Store(str(tmp_path))
    machine = {
        "definition": '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}' + " " * 20_000
    }
    machine |= {"name": "m", "roleArn": "arn:aws:iam::123456789012:role/r"}

    def record(i: int, status: str = "RUNNING") -> dict[str, Any]:
        return {
            "executionArn": f"arn:e{i}",
            "stateMachineArn": "arn:m",
            "name": f"e{i}",
            "status": status,
            "startDate": float(i),
            "machine": dict(machine),
            "input": "{}",
        }

    for i in range(3):
        store.insert_execution(record(i))
    store.update_execution(record(0, "SUCCEEDED"))
    assert store.db.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0] == 1
    assert all(size < 1_000 for (size,) in store.db.execute("SELECT length(data) FROM executions"))
    assert store.get_execution("arn:e0") == record(0, "SUCCEEDED")  # as updated (no seq given)
    assert [r["machine"] for r in store.running_executions()] == [machine, machine]
    assert [r["machine"]["roleArn"] for r in store.list_executions(state_machine_arn="arn:m")] == [
        "arn:aws:iam::123456789012:role/r"
    ] * 3
    inline = {**record(9, "SUCCEEDED"), "seq": 9}
    store.db.execute("UPDATE executions SET data=? WHERE arn='arn:e2'", (json.dumps(inline),))
    assert store.get_execution("arn:e2") == inline
    store.close()
