"""Durable state of the engine: SQLite in WAL mode, events written ahead of their effects.

Resources (state machines, versions, aliases, activities, map runs) are JSON records keyed by ARN;
executions are rows with their status columns; history events are appended per execution through
a group-committing writer. The service layer is the only caller; no SQL lives anywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from workflows.asl.errors import ServiceError
from workflows.engine.history import HistoryEvent

__all__ = ["EventWriter", "Store", "StoreError", "store_error"]

log = logging.getLogger(__name__)


# The fields of an execution's record that no list shows: the machine snapshot (its whole definition),
# input, output, error, cause. A row keeps the rest as its `summary`; rows written before that column
# existed have them removed in SQL (SQLite's JSON functions) as they are listed.
_LIST_DROPS = ("machine", "input", "output", "error", "cause")
_SNAPSHOT = "$snapshot"  # a stored record's `machine`: {"$snapshot": id} in the snapshots table
_SUMMARY = "COALESCE(summary, json_remove(data, " + ", ".join(f"'$.{k}'" for k in _LIST_DROPS) + "))"


def _summary_text(record: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in record.items() if k not in _LIST_DROPS})


@functools.cache
def _has_json1(db: sqlite3.Connection) -> bool:
    """Whether this SQLite has the JSON functions (built in since 3.38; an older one lists in full)."""
    try:
        db.execute("SELECT json_remove('{}', '$.a')").fetchone()
    except sqlite3.OperationalError:
        return False
    return True


class StoreError(ServiceError):
    """The store cannot do what was asked (disk full, read-only, corrupt), said in one line: an
    AWS-style error on the API (ServiceUnavailable 503 when it may pass, so clients retry;
    InternalFailure 500 otherwise), and the one line `workflows serve` prints when it refuses to start.
    """


# SQLite's primary result codes (sqlite3.Error.sqlite_errorcode & 0xff)
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26


def store_error(exc: BaseException, path: str) -> StoreError:
    """A SQLite failure as a StoreError that names its cause."""
    if isinstance(exc, StoreError):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc)
    if primary == _FULL or "disk is full" in text:
        return StoreError(
            "ServiceUnavailable",
            f"The store {path} is out of space (disk full: {text}); executions go on once there is room",
            503,
        )
    if primary == _READONLY or "readonly" in text:
        return StoreError("InternalFailure", f"The store {path} is read-only ({text})", 500)
    if primary in (_CORRUPT, _NOTADB) or "malformed" in text or "not a database" in text:
        return StoreError("InternalFailure", f"The store {path} is corrupt ({text})", 500)
    if primary in (_BUSY, _LOCKED):
        return StoreError("ServiceUnavailable", f"The store {path} is busy ({text})", 503)
    if primary == _CANTOPEN:
        return StoreError("InternalFailure", f"The store {path} cannot be opened ({text})", 500)
    if primary == _IOERR:
        return StoreError("ServiceUnavailable", f"The store {path} had an I/O error ({text})", 503)
    return StoreError("InternalFailure", f"The store {path} failed ({text})", 500)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    arn TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    parent TEXT,
    name TEXT NOT NULL,
    created REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_kind ON resources (kind, parent, name);
CREATE TABLE IF NOT EXISTS tags (
    arn TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);
CREATE TABLE IF NOT EXISTS executions (
    arn TEXT PRIMARY KEY,
    state_machine_arn TEXT NOT NULL,
    map_run_arn TEXT,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    start_date REAL NOT NULL,
    stop_date REAL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    summary TEXT,  -- `data` without what no list shows (_LIST_DROPS); NULL in rows older than it
    snapshot TEXT  -- the id of the machine snapshot `data` refers to, "" for none; NULL in older rows
);
-- The machine as an execution saw it (its definition, role, configurations) is the same for every
-- execution of a revision: stored once here by its hash, and referred to from each record.
CREATE TABLE IF NOT EXISTS snapshots (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS executions_sm ON executions (state_machine_arn, seq);
CREATE INDEX IF NOT EXISTS executions_status ON executions (status);
-- Closed executions by when they closed: what the retention sweep (expire_closed) reads first.
CREATE INDEX IF NOT EXISTS executions_closed ON executions (stop_date) WHERE stop_date IS NOT NULL;
-- An execution's history in runs of consecutive events: `data` is a JSON array of the records of
-- events first_id..last_id (see _record_text). One row per commit and execution (split past
-- _CHUNK_EVENTS events or _CHUNK_CHARS of text), not one per event: a row costs SQLite several
-- microseconds whatever its size, which was most of recording a Pass or Choice state.
CREATE TABLE IF NOT EXISTS event_chunks (
    execution_arn TEXT NOT NULL,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (execution_arn, first_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS task_tokens (
    token TEXT PRIMARY KEY,
    execution_arn TEXT NOT NULL,
    activity_arn TEXT,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS map_items (
    map_run_arn TEXT NOT NULL,
    idx INTEGER NOT NULL,
    execution_arn TEXT NOT NULL,
    output TEXT NOT NULL,
    PRIMARY KEY (map_run_arn, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Executions that ended with history not yet compacted (see Store.compact_history).
CREATE TABLE IF NOT EXISTS compaction (execution_arn TEXT PRIMARY KEY) WITHOUT ROWID;
"""

# A store written before event_chunks kept one row per event: each becomes a chunk of one.
_MIGRATE_EVENTS = """
INSERT OR IGNORE INTO event_chunks (execution_arn, first_id, last_id, data)
    SELECT execution_arn, id, id, '[' || data || ']' FROM events;
DROP TABLE events;
"""
# Bounds of one chunk row: a page of history decodes at most this much beyond what it returns.
_CHUNK_EVENTS = 256
_CHUNK_CHARS = 1 << 20
# zlib level of compacted chunks: level 1 took a pipeline execution's 61 KB of history to 8.7 KB
# (level 6: 7.9 KB for a third more time); choice_loop's 658 KB took 2.3 ms.
_COMPACT_LEVEL = 1


def _chunk_records(data: str | bytes) -> list[Any]:
    """A chunk row's event records: JSON text as written, or zlib-compressed JSON once compacted."""
    return json.loads(zlib.decompress(data) if isinstance(data, bytes) else data)  # type: ignore[no-any-return]


# Event records as compact JSON with non-ASCII escaped (a lone surrogate in a payload stays storable),
# through one C encoder built here rather than one per json.dumps call.
_RECORD_ENCODER = json.JSONEncoder(separators=(",", ":"))
_record_encode: Any = (
    json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None,
        _RECORD_ENCODER.default,
        json.encoder.encode_basestring_ascii,
        None,
        ":",
        ",",
        False,
        False,
        True,
    )
    if getattr(json.encoder, "c_make_encoder", None) is not None
    else None
)


def _encode_record(value: Any) -> str:
    """Compact JSON of an event record. orjson first (a tenth of the standard encoder's time, and
    recording history is most of a durable transition's cost); what orjson refuses, a lone surrogate
    or an integer beyond 64 bits, goes through the standard encoder, which stores both."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        pass
    if _record_encode is None:  # pragma: no cover - CPython always has the C encoder
        return _RECORD_ENCODER.encode(value)
    return "".join(_record_encode(value, 0))


def _record_text(event: HistoryEvent) -> str:
    """An event as stored: a JSON array of HistoryEvent's arguments in order (id, previous id, type,
    timestamp, details key, details[, thread]). An array is one C-encoder call with no key text, a
    third cheaper to write and to read than `event.to_json()`'s object; stores written before hold
    those objects, and `_event` reads both."""
    if event.thread:
        return _encode_record(
            (
                event.id,
                event.previous_event_id,
                event.type,
                event.timestamp,
                event.details_key,
                event.details,
                event.thread,
            )
        )
    return _encode_record(
        (event.id, event.previous_event_id, event.type, event.timestamp, event.details_key, event.details)
    )


def _event(record: Any) -> HistoryEvent:
    if type(record) is list:
        return HistoryEvent(*record)
    return HistoryEvent.from_json(record)


# Execution columns kept outside the JSON record, so listing and filtering need no parsing.
_EXEC_COLUMNS = ("state_machine_arn", "map_run_arn", "name", "status", "start_date", "stop_date")


class Store:
    """One SQLite database in `data_dir`. All calls run on the event loop's thread (they are short)."""

    def __init__(self, data_dir: str | os.PathLike[str] = ".workflows", *, filename: str = "workflows.db"):
        """Open (or create) the store; StoreError, naming the cause, if it is not one to run on:
        read-only, corrupt, not SQLite, or an empty file that was there before (a truncated store
        must not silently become an empty one; only a file created here starts empty)."""
        self.path = os.path.join(os.fspath(data_dir), filename)
        try:
            os.makedirs(data_dir, exist_ok=True)
            existed = os.path.exists(self.path)
            if existed and os.path.getsize(self.path) == 0:
                raise StoreError(
                    "InternalFailure",
                    f"The store {self.path} is an empty file (0 bytes), not a database: truncated, or "
                    "not this engine's; move it away to start a new store",
                    500,
                )
        except OSError as exc:
            raise StoreError(
                "InternalFailure", f"The store {self.path} cannot be opened ({exc})", 500
            ) from exc
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._checkpointer: _Checkpointer | None = None
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable against a process crash (SIGKILL) in WAL mode; FULL adds power-loss safety.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=5000")
            self.db.executescript(_SCHEMA)
            self._migrate()
            self._seq = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM executions").fetchone()[0]
            # A write now, so a read-only store is refused at start rather than at its first execution.
            with self.transaction():
                self.set_meta("opened", str(time.time()))
        except (sqlite3.Error, StoreError) as exc:
            self.db.close()
            if not os.access(data_dir, os.W_OK):  # SQLite says "unable to open" for this too
                raise StoreError(
                    "InternalFailure",
                    f"The store {self.path} is read-only (its directory is not writable: {exc})",
                    500,
                ) from exc
            raise store_error(exc, self.path) from exc

    def close(self) -> None:
        self.stop_checkpoints()
        self.db.close()

    # -- checkpoints ------------------------------------------------------------------------------

    def start_checkpoints(self) -> None:
        """Copy the WAL into the database on a thread of its own instead of inside a commit.

        SQLite's automatic checkpoint runs in the commit that fills the WAL past 1000 pages: it
        copies those pages and syncs the file (the only fsync in synchronous=NORMAL), on the event
        loop, stalling every execution for tens of milliseconds every few megabytes of history.
        The thread checkpoints (PASSIVE: never blocks the writer) once the WAL passes the same size,
        or a second after the last commit; SQLite releases the GIL while it works. What is durable
        when is unchanged: a commit is in the WAL when it returns, as before."""
        if self._checkpointer is None:
            self.db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = _Checkpointer(self.path)

    def stop_checkpoints(self) -> None:
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()
            with contextlib.suppress(sqlite3.Error):
                self.db.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")

    def committed(self) -> None:
        """A transaction has been committed: the checkpointer looks at the WAL's size."""
        if self._checkpointer is not None:
            self._checkpointer.wake.set()

    def _migrate(self) -> None:
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(executions)")}
        if "summary" not in columns:  # a store from before summaries: its rows are summarised as listed
            self.db.execute("ALTER TABLE executions ADD COLUMN summary TEXT")
        if "snapshot" not in columns:  # from before snapshots were forgotten: see forget_unused_snapshots
            self.db.execute("ALTER TABLE executions ADD COLUMN snapshot TEXT")
        self.db.execute("CREATE INDEX IF NOT EXISTS executions_snapshot ON executions (snapshot)")
        if self.get_meta("compaction_queued") is None:  # a store from before compaction: its ended executions
            with self.transaction():
                self.db.execute(
                    "INSERT OR IGNORE INTO compaction SELECT arn FROM executions WHERE status!='RUNNING'"
                )
                self.set_meta("compaction_queued", "1")
        old = self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='events'").fetchone()
        if old is not None:
            with self.transaction():
                for statement in _MIGRATE_EVENTS.split(";"):
                    if statement.strip():
                        self.db.execute(statement)

    # -- transactions -------------------------------------------------------------------------

    def transaction(self) -> _Tx:
        """`with store.transaction():` commits, or rolls back and raises StoreError naming the cause."""
        return _Tx(self.db, self.path)

    # -- resources ----------------------------------------------------------------------------

    def put_resource(
        self, kind: str, arn: str, name: str, created: float, data: dict[str, Any], parent: str | None = None
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO resources (arn, kind, parent, name, created, data) VALUES (?,?,?,?,?,?)",
            (arn, kind, parent, name, created, json.dumps(data)),
        )

    def get_resource(self, kind: str, arn: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT data FROM resources WHERE arn=? AND kind=?", (arn, kind)).fetchone()
        return json.loads(row[0]) if row else None

    def list_resources(self, kind: str, parent: str | None = None) -> list[dict[str, Any]]:
        if parent is None:
            rows = self.db.execute("SELECT data FROM resources WHERE kind=? ORDER BY created, arn", (kind,))
        else:
            rows = self.db.execute(
                "SELECT data FROM resources WHERE kind=? AND parent=? ORDER BY created, arn", (kind, parent)
            )
        return [json.loads(r[0]) for r in rows]

    def delete_resource(self, arn: str) -> None:
        self.db.execute("DELETE FROM resources WHERE arn=?", (arn,))
        self.db.execute("DELETE FROM tags WHERE arn=?", (arn,))

    # -- tags ---------------------------------------------------------------------------------

    def put_tags(self, arn: str, tags: Iterable[tuple[str, str]]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO tags (arn, key, value) VALUES (?,?,?)", [(arn, k, v) for k, v in tags]
        )

    def delete_tags(self, arn: str, keys: Iterable[str]) -> None:
        self.db.executemany("DELETE FROM tags WHERE arn=? AND key=?", [(arn, k) for k in keys])

    def get_tags(self, arn: str) -> list[tuple[str, str]]:
        return list(self.db.execute("SELECT key, value FROM tags WHERE arn=? ORDER BY rowid", (arn,)))

    # -- executions ---------------------------------------------------------------------------

    def _record_text(self, record: dict[str, Any]) -> tuple[str, str]:
        """The record as stored, and the id of its machine snapshot ("" for none): the snapshot is replaced
        by a reference to the one row that holds it (a pipeline definition is some 29 KB of every 36 KB
        record, the same for each execution)."""
        machine = record.get("machine")
        if not isinstance(machine, dict) or not machine:
            return json.dumps(record), ""
        text = json.dumps(machine, sort_keys=True)
        ref = hashlib.sha256(text.encode()).hexdigest()[:32]
        # Every write, not once per id: a write in a transaction that rolls back must not leave a
        # reference to a row that is not there (nor may forget_unused_snapshots between two writes of a
        # running execution). Known ids cost SQLite a key lookup.
        self.db.execute("INSERT OR IGNORE INTO snapshots (id, data) VALUES (?,?)", (ref, text))
        return json.dumps({**record, "machine": {_SNAPSHOT: ref}}), ref

    def _record(self, text: str | bytes) -> dict[str, Any]:
        """A stored record (JSON text, or zlib-compressed once its execution was compacted) as the
        service uses it, its machine snapshot read back in."""
        record: dict[str, Any] = json.loads(zlib.decompress(text) if isinstance(text, bytes) else text)
        machine = record.get("machine")
        if isinstance(machine, dict) and len(machine) == 1 and _SNAPSHOT in machine:
            row = self.db.execute("SELECT data FROM snapshots WHERE id=?", (machine[_SNAPSHOT],)).fetchone()
            if row is None:
                raise StoreError(
                    "InternalFailure",
                    f"The store {self.path} has lost the machine snapshot of {record.get('executionArn')}",
                    500,
                )
            record["machine"] = json.loads(row[0])
        return record

    def insert_execution(self, record: dict[str, Any]) -> None:
        self._seq += 1
        record["seq"] = self._seq
        self.db.execute(
            "INSERT INTO executions (arn, state_machine_arn, map_run_arn, name, status, start_date, stop_date,"
            " seq, data, snapshot, summary) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                record["executionArn"],
                record["stateMachineArn"],
                record.get("mapRunArn"),
                record["name"],
                record["status"],
                record["startDate"],
                record.get("stopDate"),
                self._seq,
                *self._record_text(record),
                _summary_text(record),
            ),
        )

    def update_execution(self, record: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE executions SET status=?, stop_date=?, data=?, snapshot=?, summary=? WHERE arn=?",
            (
                record["status"],
                record.get("stopDate"),
                *self._record_text(record),
                _summary_text(record),
                record["executionArn"],
            ),
        )

    def get_execution(self, arn: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT data FROM executions WHERE arn=?", (arn,)).fetchone()
        return self._record(row[0]) if row else None

    def list_executions(
        self,
        *,
        state_machine_arn: str | None = None,
        map_run_arn: str | None = None,
        status: str | None = None,
        before_seq: int | None = None,
        limit: int = 1000,
        summary: bool = False,
    ) -> list[dict[str, Any]]:
        """Newest first, as AWS lists them; `before_seq` continues a page. With `summary`, records come
        without what a list never shows (the machine snapshot with its definition, input, output, error,
        cause), read from the row's summary. A pipeline execution's record is about 30 KB, nearly all
        definition, so a console listing 1,000 executions decoded 30 MB on each refresh."""
        where: list[str] = []
        args: list[Any] = []
        if state_machine_arn is not None:
            where.append("state_machine_arn=?")
            args.append(state_machine_arn)
        if map_run_arn is not None:
            where.append("map_run_arn=?")
            args.append(map_run_arn)
        if status is not None:
            where.append("status=?")
            args.append(status)
        if before_seq is not None:
            where.append("seq<?")
            args.append(before_seq)
        column = "data" if not summary else _SUMMARY if _has_json1(self.db) else "COALESCE(summary, data)"
        sql = f"SELECT {column} FROM executions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        rows = self.db.execute(sql, args).fetchall()
        return [json.loads(r[0]) for r in rows] if summary else [self._record(r[0]) for r in rows]

    def running_executions(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT data FROM executions WHERE status='RUNNING' ORDER BY seq").fetchall()
        return [self._record(r[0]) for r in rows]

    def count_running(self, state_machine_arn: str) -> int:
        return self.db.execute(
            "SELECT COUNT(*) FROM executions WHERE state_machine_arn=? AND status='RUNNING'",
            (state_machine_arn,),
        ).fetchone()[0]

    def closed_before(self, when: float, limit: int) -> list[str]:
        """ARNs of up to `limit` executions that closed before `when` (epoch seconds), oldest first."""
        rows = self.db.execute(
            "SELECT arn FROM executions WHERE stop_date<? AND status!='RUNNING' ORDER BY stop_date LIMIT ?",
            (when, limit),
        )
        return [arn for (arn,) in rows]

    def delete_executions(self, arns: Iterable[str]) -> None:
        """Forget executions entirely: their rows, history, Map Runs and what they kept to resume. The
        machine snapshots they referred to stay until forget_unused_snapshots (one per revision, shared
        with newer executions)."""
        args = [(a,) for a in arns]
        self.db.executemany("DELETE FROM event_chunks WHERE execution_arn=?", args)
        self.delete_tokens_of(a for (a,) in args)
        self.db.executemany("DELETE FROM resources WHERE kind='maprun' AND parent=?", args)
        self.db.executemany("DELETE FROM compaction WHERE execution_arn=?", args)
        self.db.executemany("DELETE FROM executions WHERE arn=?", args)

    def forget_unused_snapshots(self) -> int:
        """Delete the machine snapshots no execution refers to any more; how many. A store's rows from
        before the `snapshot` column (NULL) name theirs only inside their data: until the last of them
        has expired, nothing is deleted."""
        if self.db.execute("SELECT 1 FROM executions WHERE snapshot IS NULL LIMIT 1").fetchone():
            return 0
        cursor = self.db.execute(
            "DELETE FROM snapshots WHERE NOT EXISTS (SELECT 1 FROM executions WHERE snapshot=snapshots.id)"
        )
        return cursor.rowcount

    # -- history ------------------------------------------------------------------------------

    def load_events(self, execution_arn: str) -> list[HistoryEvent]:
        rows = self.db.execute(
            "SELECT data FROM event_chunks WHERE execution_arn=? ORDER BY first_id", (execution_arn,)
        )
        return [_event(record) for (data,) in rows for record in _chunk_records(data)]

    def iter_events(
        self, execution_arn: str, *, reverse: bool = False, after: int | None = None, limit: int = 1000
    ) -> list[HistoryEvent]:
        """Up to `limit` events after id `after` (before it when `reverse`, newest first)."""
        out: list[HistoryEvent] = []
        if reverse:
            bound = after if after is not None else 2**62
            rows = self.db.execute(
                "SELECT data FROM event_chunks WHERE execution_arn=? AND first_id<? ORDER BY first_id DESC",
                (execution_arn, bound),
            )
            for (data,) in rows:
                for record in reversed(_chunk_records(data)):
                    event = _event(record)
                    if event.id < bound:
                        out.append(event)
                        if len(out) >= limit:
                            return out
            return out
        start = after or 0
        rows = self.db.execute(
            "SELECT data FROM event_chunks WHERE execution_arn=? AND last_id>? ORDER BY first_id",
            (execution_arn, start),
        )
        for (data,) in rows:
            for record in _chunk_records(data):
                event = _event(record)
                if event.id > start:
                    out.append(event)
                    if len(out) >= limit:
                        return out
        return out

    def count_events(self, execution_arn: str) -> int:
        return self.db.execute(
            "SELECT COALESCE(SUM(last_id - first_id + 1), 0) FROM event_chunks WHERE execution_arn=?",
            (execution_arn,),
        ).fetchone()[0]

    def delete_events(self, execution_arn: str, from_id: int) -> None:
        """Drop events `from_id` on; a chunk that straddles it keeps its earlier events."""
        straddling = self.db.execute(
            "SELECT first_id, data FROM event_chunks WHERE execution_arn=? AND first_id<? AND last_id>=?",
            (execution_arn, from_id, from_id),
        ).fetchone()
        self.db.execute(
            "DELETE FROM event_chunks WHERE execution_arn=? AND last_id>=?", (execution_arn, from_id)
        )
        if straddling is not None:
            first_id, data = straddling
            kept = [_event(r) for r in _chunk_records(data)]
            kept = [e for e in kept if e.id < from_id]
            text = "[" + ",".join(_record_text(e) for e in kept) + "]"
            self.write_events([(execution_arn, first_id, kept[-1].id, text)])

    def write_events(self, rows: list[tuple[str, int, int, str]]) -> None:
        """Chunks of (execution ARN, first id, last id, JSON array of event records)."""
        # OR IGNORE: a chunk already stored (a commit retried after it had in fact succeeded) is not doubled.
        self.db.executemany(
            "INSERT OR IGNORE INTO event_chunks (execution_arn, first_id, last_id, data) VALUES (?,?,?,?)",
            rows,
        )

    # -- task tokens --------------------------------------------------------------------------

    def put_token(
        self, token: str, execution_arn: str, data: dict[str, Any], activity_arn: str | None = None
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO task_tokens (token, execution_arn, activity_arn, data) VALUES (?,?,?,?)",
            (token, execution_arn, activity_arn, json.dumps(data)),
        )

    def get_token(self, token: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT data FROM task_tokens WHERE token=?", (token,)).fetchone()
        return json.loads(row[0]) if row else None

    def delete_token(self, token: str) -> None:
        self.db.execute("DELETE FROM task_tokens WHERE token=?", (token,))

    def to_compact(self, limit: int) -> list[str]:
        """Up to `limit` ended executions whose history has not been compacted yet."""
        rows = self.db.execute("SELECT execution_arn FROM compaction LIMIT ?", (limit,))
        return [arn for (arn,) in rows]

    def compact_history(self, execution_arn: str) -> int:
        """Compact the first stretch of an ended execution's history still as written: consecutive
        chunk rows (one per commit while it ran) joined into rows of up to _CHUNK_EVENTS events and
        _CHUNK_CHARS of text, each zlib-compressed. One stretch per call, so a caller can let others
        run between them (a stretch is at most 1 MiB of text: a few ms); returns the characters of
        history it compacted, 0 once there is nothing left, when the execution is dropped from the
        queue. A running execution (redriven since) is dropped too: it is queued again when it ends.
        Call inside a transaction."""
        status = self.db.execute("SELECT status FROM executions WHERE arn=?", (execution_arn,)).fetchone()
        rows = []
        if status is not None and status[0] != "RUNNING":
            rows = self.db.execute(
                "SELECT first_id, last_id, data FROM event_chunks WHERE execution_arn=? AND typeof(data)='text'"
                " ORDER BY first_id",
                (execution_arn,),
            ).fetchall()
        run: list[tuple[int, int, str]] = []
        events = chars = 0
        for first_id, last_id, data in rows:
            if run and (
                first_id != run[-1][1] + 1  # a compacted row in between: runs do not cross it
                or events + last_id - first_id + 1 > _CHUNK_EVENTS
                or chars + len(data) > _CHUNK_CHARS
            ):
                break
            run.append((first_id, last_id, data))
            events += last_id - first_id + 1
            chars += len(data)
        if not run:
            if status is not None and status[0] != "RUNNING":
                # The record too (its input and output): lists read its summary, which stays text, and
                # a redrive writes it as text again.
                row = self.db.execute(
                    "SELECT data FROM executions WHERE arn=? AND typeof(data)='text' AND summary IS NOT NULL",
                    (execution_arn,),
                ).fetchone()
                if row is not None:
                    packed = zlib.compress(row[0].encode(), _COMPACT_LEVEL)
                    self.db.execute("UPDATE executions SET data=? WHERE arn=?", (packed, execution_arn))
            self.db.execute("DELETE FROM compaction WHERE execution_arn=?", (execution_arn,))
            return 0
        text = "[" + ",".join(data[1:-1] for _, _, data in run) + "]"
        self.db.executemany(
            "DELETE FROM event_chunks WHERE execution_arn=? AND first_id=?",
            [(execution_arn, first_id) for first_id, _, _ in run],
        )
        self.db.execute(
            "INSERT INTO event_chunks (execution_arn, first_id, last_id, data) VALUES (?,?,?,?)",
            (execution_arn, run[0][0], run[-1][1], zlib.compress(text.encode(), _COMPACT_LEVEL)),
        )
        return chars

    def queue_compaction(self, execution_arns: Iterable[str]) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO compaction (execution_arn) VALUES (?)", [(a,) for a in execution_arns]
        )

    def delete_tokens_of(self, execution_arns: Iterable[str]) -> None:
        """What an execution kept only to resume (task answers, Distributed Map items): it has ended."""
        arns = [(a,) for a in execution_arns]
        self.db.executemany("DELETE FROM task_tokens WHERE execution_arn=?", arns)
        self.db.executemany("DELETE FROM map_items WHERE execution_arn=?", arns)

    # -- Distributed Map items ---------------------------------------------------------------

    def write_map_items(self, rows: list[tuple[str, int, str, str]]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO map_items (map_run_arn, idx, execution_arn, output) VALUES (?,?,?,?)",
            rows,
        )

    def map_items(self, map_run_arn: str) -> dict[int, Any]:
        rows = self.db.execute("SELECT idx, output FROM map_items WHERE map_run_arn=?", (map_run_arn,))
        return {idx: json.loads(output) for idx, output in rows}

    def pending_activity_tokens(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT data FROM task_tokens WHERE activity_arn IS NOT NULL ORDER BY rowid")
        return [json.loads(r[0]) for r in rows]

    # -- meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?,?)", (key, value))


# SQLite's default automatic checkpoint size, in pages; the checkpointer uses the same.
_CHECKPOINT_PAGES = 1000
_IDLE_CHECKPOINT_SECONDS = 1.0


class _Checkpointer:
    """The thread that checkpoints the WAL (see Store.start_checkpoints), with its own connection."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="workflows-store-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            log.warning("the store's checkpoint thread cannot open %s: %s", self.path, exc)
            return
        try:
            db.execute("PRAGMA busy_timeout=5000")
            page_size = db.execute("PRAGMA page_size").fetchone()[0]
            limit = _CHECKPOINT_PAGES * page_size
            while not self._stopping:
                woken = self.wake.wait(_IDLE_CHECKPOINT_SECONDS)
                self.wake.clear()
                if self._stopping:
                    break
                try:
                    wal = os.path.getsize(self.path + "-wal")
                except OSError:
                    continue
                # after a burst of commits, or once things are quiet: never with nothing new
                if wal >= limit or (not woken and wal > 0):
                    self._checkpoint(db)
        finally:
            db.close()

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # a full disk, say: the next attempt may succeed
            log.warning("checkpoint of %s failed: %s", self.path, exc)

    def stop(self) -> None:
        self._stopping = True
        self.wake.set()
        self._thread.join(timeout=30)


class _Tx:
    def __init__(self, db: sqlite3.Connection, path: str) -> None:
        self.db = db
        self.path = path

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) from exc
        return self.db

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self._rollback()  # SQLite may have rolled back already (SQLITE_FULL does)
            if isinstance(exc, sqlite3.Error):
                raise store_error(exc, self.path) from exc
            return
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as err:
            self._rollback()  # leave no transaction open behind a failed commit
            raise store_error(err, self.path) from err

    def _rollback(self) -> None:
        # Only if one is open: "cannot rollback - no transaction is active" would hide the real error.
        if self.db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")


class EventWriter:
    """Group commit for history events and the execution rows they change.

    `emit` queues; `flush` commits everything queued by every execution in one transaction, so
    a thousand executions flushing at once cost a few commits, not a thousand. A background task
    also flushes every `interval` seconds so idle executions' events reach disk promptly.
    """

    def __init__(self, store: Store, interval: float = 0.05) -> None:
        self.store = store
        self.interval = interval
        self._events: list[tuple[str, int, str]] = []
        self._executions: dict[str, dict[str, Any]] = {}
        self._ended: set[str] = set()  # executions whose recorded task answers can go
        self._map_items: list[tuple[str, int, str, str]] = []
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._flush_scheduled = False
        self._failing: StoreError | None = None  # the last commit's failure, until one succeeds
        self._backoff = interval
        self.last_commit = time.monotonic()  # when the last commit succeeded (idle work waits for quiet)

    def add_event(self, execution_arn: str, event: HistoryEvent) -> None:
        # Serialised now, as the event is made: the commit only joins texts (and a payload that
        # something changed later could not change what was recorded).
        self._events.append((execution_arn, event.id, _record_text(event)))

    def update_execution(self, record: dict[str, Any]) -> None:
        self._executions[record["executionArn"]] = record
        if record.get("status") != "RUNNING":
            self._ended.add(record["executionArn"])

    def add_map_item(self, execution_arn: str, map_run_arn: str, index: int, output: Any) -> None:
        self._map_items.append((map_run_arn, index, execution_arn, json.dumps(output)))

    @property
    def pending(self) -> bool:
        return bool(self._events or self._executions or self._map_items)

    def commit(self, *, strict: bool = True) -> None:
        """Write everything queued, synchronously. A failure keeps it all queued and raises
        StoreError, or with `strict=False` (a read that would like to see it) is only logged."""
        if not self.pending:
            return
        events, self._events = self._events, []
        executions, self._executions = self._executions, {}
        ended, self._ended = self._ended, set()
        items, self._map_items = self._map_items, []
        try:
            with self.store.transaction():
                self.store.write_events(_chunks(events))
                if items:
                    self.store.write_map_items(items)
                for record in executions.values():
                    self.store.update_execution(record)
                if ended:
                    self.store.delete_tokens_of(ended)
                    self.store.queue_compaction(ended)
            self.store.committed()
            self.last_commit = time.monotonic()
        except Exception:
            # Nothing was written (the transaction rolled back): queue it all again, ahead of
            # anything added meanwhile, so the next flush retries instead of losing it.
            self._events[:0] = events
            for arn, record in executions.items():
                self._executions.setdefault(arn, record)
            self._ended |= ended
            self._map_items[:0] = items
            if strict:
                raise
            log.warning("the store did not take queued events yet", exc_info=True)

    async def flush(self) -> None:
        """Durable once this returns. Callers in the same loop turn share one commit."""
        if not self.pending:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append(fut)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush_now)
        await fut

    def _flush_now(self) -> None:
        self._flush_scheduled = False
        waiters, self._waiters = self._waiters, []
        try:
            self.commit()
        except StoreError as exc:
            # Disk full, read-only for now, busy: nothing is lost (commit keeps it queued). The
            # executions waiting here stay waiting, and go on by themselves once a retry succeeds.
            self._waiters[:0] = waiters
            self._retry_later(exc)
            return
        except Exception as exc:  # surface the failure to every execution that waited on it
            for w in waiters:
                if not w.done():
                    w.set_exception(exc)
            return
        if self._failing is not None:
            log.warning("the store takes writes again: %d executions go on", len(waiters))
            self._failing, self._backoff = None, self.interval
        for w in waiters:
            if not w.done():
                w.set_result(None)

    def _retry_later(self, exc: StoreError) -> None:
        if self._failing is None:
            log.error("%s; events stay queued and are retried", exc.message)
        self._failing = exc
        self._flush_scheduled = True
        asyncio.get_running_loop().call_later(self._backoff, self._flush_now)
        self._backoff = min(self._backoff * 2, 1.0)

    @property
    def failing(self) -> StoreError | None:
        """Why the store does not take writes at the moment (None: it does)."""
        return self._failing

    def start(self) -> None:
        if self._task is None:
            self.store.start_checkpoints()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self.pending and not self._flush_scheduled:
                self._flush_now()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        try:
            self.commit()
        except StoreError as exc:  # what is lost resumes from the last committed event, as after a crash
            log.error("%s; events not yet written are lost", exc.message)
        self.store.stop_checkpoints()

    def iter_pending(self, execution_arn: str) -> Iterator[tuple[str, int, str]]:
        return (row for row in self._events if row[0] == execution_arn)


def _chunks(events: list[tuple[str, int, str]]) -> list[tuple[str, int, int, str]]:
    """Queued (ARN, id, record text) rows as event_chunks rows: each execution's events in the order
    they were queued, cut into runs of at most _CHUNK_EVENTS events and about _CHUNK_CHARS of text."""
    by_execution: dict[str, tuple[list[int], list[str]]] = {}
    for arn, event_id, text in events:
        queued = by_execution.get(arn)
        if queued is None:
            queued = by_execution[arn] = ([], [])
        queued[0].append(event_id)
        queued[1].append(text)
    rows: list[tuple[str, int, int, str]] = []
    for arn, (ids, texts) in by_execution.items():
        start, size = 0, 0
        for i, text in enumerate(texts):
            if i > start and (i - start >= _CHUNK_EVENTS or size + len(text) > _CHUNK_CHARS):
                rows.append((arn, ids[start], ids[i - 1], "[" + ",".join(texts[start:i]) + "]"))
                start, size = i, 0
            size += len(text) + 1
        rows.append((arn, ids[start], ids[-1], "[" + ",".join(texts[start:]) + "]"))
    return rows
