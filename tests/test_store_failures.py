"""The store when it cannot write or read: disk full (simulated with SQLite's `max_page_count`), a
read-only data directory, a corrupt or empty database file. Each is said in one line naming the
cause; a full disk holds executions until there is room again, then they go on by themselves."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.api_replay import client, live_server
from tests.test_exactly_once import ended, machine
from workflows.service.service import StepFunctionsService
from workflows.service.store import Store, StoreError

ROOT = Path(__file__).resolve().parents[1]
ROLE = "arn:aws:iam::123456789012:role/r"


def fill(store: Store) -> int:
    """Make the database full: it may not grow by one more page. Returns the old limit."""
    old = store.db.execute("PRAGMA max_page_count").fetchone()[0]
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")
    return int(old)


def make_room(store: Store, limit: int) -> None:
    store.db.execute(f"PRAGMA max_page_count = {limit}")


def test_a_write_on_a_full_disk_says_disk_full_not_cannot_rollback(tmp_path: Path) -> None:
    store = Store(tmp_path)
    fill(store)
    with pytest.raises(StoreError) as info, store.transaction():
        store.put_resource("activity", "arn:x", "x", 0.0, {"blob": "x" * 200_000})
    assert (info.value.code, info.value.status) == ("ServiceUnavailable", 503)
    assert "disk full" in info.value.message and "rollback" not in info.value.message
    assert not store.db.in_transaction


def test_start_execution_on_a_full_disk_is_a_503_naming_it_and_running_ones_wait_for_room(
    tmp_path: Path,
) -> None:
    definition = {
        "StartAt": "Hold",
        "States": {
            "Hold": {"Type": "Wait", "Seconds": 1, "Next": "Big"},
            # its input and output (100 KB each) need pages the full store does not have
            "Big": {"Type": "Pass", "End": True},
        },
    }
    with live_server(str(tmp_path)) as (endpoint, service):
        sfn = client(endpoint)
        arn = sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=ROLE)[
            "stateMachineArn"
        ]
        running = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"pad": "x" * 100_000}))[
            "executionArn"
        ]
        time.sleep(0.3)  # its first events are written
        limit = fill(service.store)
        try:
            with pytest.raises(sfn.exceptions.ClientError) as info:
                sfn.start_execution(stateMachineArn=arn, input=json.dumps({"pad": "x" * 100_000}))
            error = info.value.response["Error"]
            assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            assert error["Code"] == "ServiceUnavailable" and "disk full" in error["Message"]
            # The running execution reaches the end and cannot record it: it waits, still RUNNING,
            # and reads keep answering with what is durable.
            time.sleep(2)
            assert service.writer.failing is not None
            assert sfn.describe_execution(executionArn=running)["status"] == "RUNNING"
        finally:
            make_room(service.store, limit)
        done = _wait(sfn, running)
        assert done["status"] == "SUCCEEDED"  # went on by itself once there was room
        assert service.writer.failing is None


def _wait(sfn: Any, arn: str) -> dict[str, Any]:
    deadline = time.time() + 10
    while True:
        out = sfn.describe_execution(executionArn=arn)
        if out["status"] != "RUNNING" or time.time() > deadline:
            return dict(out)
        time.sleep(0.05)


def test_a_flush_waits_through_a_full_disk_and_the_execution_finishes(tmp_path: Path) -> None:
    async def go() -> None:
        service = StepFunctionsService(Store(tmp_path))
        await service.start()
        sm = await machine(
            service,
            "m",
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "x" * 50_000, "End": True}}},
        )
        limit = fill(service.store)
        arn = None
        with pytest.raises(StoreError):  # the insert itself cannot be written
            await service.start_execution(stateMachineArn=sm)
        make_room(service.store, limit)
        arn = (await service.start_execution(stateMachineArn=sm))["executionArn"]
        fill(service.store)  # full again while the execution runs: its events wait in the writer
        await asyncio.sleep(0.3)
        assert service.writer.failing is not None and service.writer.pending
        make_room(service.store, limit)
        described = await ended(service, arn)
        assert described["status"] == "SUCCEEDED"
        await service.close()

    asyncio.run(go())


def _serve(data_dir: Path, *, as_root_without_override: bool = False) -> subprocess.CompletedProcess[str]:
    """`workflows serve` on `data_dir`, expected to refuse before it listens (its port is taken, so
    a server that opened the store anyway stops at once instead of serving)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # Root writes through any permission bits; without CAP_DAC_OVERRIDE it is held to them.
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if as_root_without_override else []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        return subprocess.run(
            [
                *prefix,
                sys.executable,
                "-m",
                "workflows.cli",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )


def _refused(result: subprocess.CompletedProcess[str], cause: str) -> None:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and cause in lines[0], result.stderr  # one line, no traceback
    assert "Traceback" not in result.stderr


def test_a_corrupt_database_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "workflows.db").write_bytes(b"this is not a database, it is text " * 200)
    with pytest.raises(StoreError) as info:
        Store(tmp_path)
    assert "corrupt" in info.value.message
    _refused(_serve(tmp_path), "corrupt")


def test_an_empty_database_file_is_refused_unless_it_is_new(tmp_path: Path) -> None:
    (tmp_path / "workflows.db").write_bytes(b"")
    with pytest.raises(StoreError) as info:
        Store(tmp_path)
    assert "empty file" in info.value.message
    _refused(_serve(tmp_path), "empty file")
    fresh = tmp_path / "fresh"
    Store(fresh).close()  # a store created here starts empty, and opens again
    assert (fresh / "workflows.db").stat().st_size > 0
    Store(fresh).close()


def test_a_read_only_data_directory_is_refused_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Store(data).close()  # an existing store, in a directory that is then made read-only
    data.chmod(0o555)
    try:
        _refused(_serve(data, as_root_without_override=os.geteuid() == 0), "read-only")
    finally:
        data.chmod(0o755)
