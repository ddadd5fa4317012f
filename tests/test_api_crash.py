"""Crash safety: 1,000 executions, SIGKILL mid-way, restart; every execution ends exactly once.

Run as a script, this file is the server under test: `python -m tests.test_api_crash PORT DATA_DIR`
serves the API with an `echo` Lambda that takes a moment, so executions are caught mid-task.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.api_replay import client, free_port

ROOT = Path(__file__).resolve().parents[1]
N = 1000
DEFINITION = {
    "StartAt": "Wait1",
    "States": {
        "Wait1": {"Type": "Wait", "Seconds": 2, "Next": "Echo1"},
        "Echo1": {
            "Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:echo",
            "Next": "Wait2",
        },
        "Wait2": {"Type": "Wait", "Seconds": 3, "Next": "Echo2"},
        "Echo2": {
            "Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:echo",
            "End": True,
        },
    },
}
TERMINAL = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}


def _serve(port: int, data_dir: str) -> None:
    import uvicorn

    from workflows.engine.resolvers import CallableResolver, ChainResolver
    from workflows.service.server import build

    async def echo(event: Any, context: Any) -> Any:
        await asyncio.sleep(0.3)
        return event

    app, service = build(data_dir)
    service.resolver = ChainResolver(CallableResolver({"echo": echo}), service.activities)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


def _start(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.test_api_crash", str(port), str(data_dir)], cwd=ROOT
    )
    sfn = client(f"http://127.0.0.1:{port}")
    deadline = time.time() + 20
    while True:
        try:
            sfn.list_state_machines()
            return proc
        except Exception:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("server did not start") from None
            time.sleep(0.1)


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_finishes_every_execution_once(tmp_path: Path) -> None:
    port = free_port()
    proc = _start(port, tmp_path)
    try:
        sfn = client(f"http://127.0.0.1:{port}", max_pool_connections=16)
        arn = sfn.create_state_machine(
            name="crash", definition=json.dumps(DEFINITION), roleArn="arn:aws:iam::123456789012:role/r"
        )["stateMachineArn"]

        def start(i: int) -> str:
            return sfn.start_execution(stateMachineArn=arn, name=f"e{i}", input=json.dumps({"i": i}))[
                "executionArn"
            ]

        with ThreadPoolExecutor(8) as pool:
            arns = list(pool.map(start, range(N)))
        time.sleep(0.5)  # executions are now spread over Wait1 and Echo1
        running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=1000)[
            "executions"
        ]
        assert len(running) > N // 2, "the kill should catch most executions mid-run"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

        proc = _start(port, tmp_path)
        sfn = client(f"http://127.0.0.1:{port}", max_pool_connections=16)
        deadline = time.time() + 60
        while sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=1)["executions"]:
            assert time.time() < deadline, "executions still RUNNING a minute after the restart"
            time.sleep(0.5)

        def check(execution_arn: str) -> tuple[str, int, int | None]:
            events = []
            kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
            while True:
                page = sfn.get_execution_history(**kwargs)
                events += page["events"]
                if "nextToken" not in page:
                    break
                kwargs["nextToken"] = page["nextToken"]
            ids = [e["id"] for e in events]
            assert ids == list(range(1, len(ids) + 1)), f"{execution_arn}: event ids {ids}"
            terminal = [e for e in events if e["type"] in TERMINAL]
            status = sfn.describe_execution(executionArn=execution_arn)["status"]
            last = events[-1]["id"] if terminal and terminal[-1] is events[-1] else None
            return status, len(terminal), last

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(check, arns))
        assert all(count == 1 for _, count, _ in results), "an execution without exactly one terminal event"
        assert all(last is not None for _, _, last in results), "a terminal event that is not the last event"
        assert {status for status, _, _ in results} == {"SUCCEEDED"}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    _serve(int(sys.argv[1]), sys.argv[2])
