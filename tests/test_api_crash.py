"""Crash safety: 1,000 executions, SIGKILL mid-way, restart; every execution ends exactly once, and
no nested execution is started twice nor an activity task completed twice.

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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.api_replay import client, free_port

ROOT = Path(__file__).resolve().parents[1]
N = 1000  # executions of DEFINITION
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
OTHERS = 200  # half parents starting a child each (`.sync:2`, no Name), half handing a task to a worker
CHILD = {
    "StartAt": "Hold",
    "States": {
        "Hold": {"Type": "Wait", "Seconds": 8, "Next": "Done"},
        "Done": {"Type": "Pass", "Result": "child done", "End": True},
    },
}


def _parent(child_arn: str) -> dict[str, Any]:
    return {
        "StartAt": "Child",
        "States": {
            "Child": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn": child_arn, "Input": {"i.$": "$.i"}},
                "OutputPath": "$.Output",
                "End": True,
            }
        },
    }


def _asking(activity_arn: str) -> dict[str, Any]:
    return {"StartAt": "Ask", "States": {"Ask": {"Type": "Task", "Resource": activity_arn, "End": True}}}


class _Worker:
    """An activity worker that keeps polling across the restart and answers each task it gets once
    (retrying its answer while the server is down); it counts the answers the server accepted."""

    def __init__(self, endpoint: str, activity_arn: str) -> None:
        self.sfn = client(endpoint)
        self.activity_arn = activity_arn
        self.accepted: dict[str, int] = {}
        self.handed_out = 0
        self.stopping = False
        self.lock = threading.Lock()

    def start(self, threads: int) -> None:
        for _ in range(threads):
            threading.Thread(target=self.run, daemon=True).start()

    def run(self) -> None:
        while not self.stopping:
            try:
                task = self.sfn.get_activity_task(activityArn=self.activity_arn, workerName="w")
            except Exception:
                time.sleep(0.05)  # the server is down: poll again
                continue
            token = task.get("taskToken")
            if not token:
                continue
            with self.lock:
                self.handed_out += 1
            time.sleep(0.2)  # the work: long enough for the kill to catch some tasks in hand
            self._answer(token, task["input"])

    def _answer(self, token: str, output: str) -> None:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                self.sfn.send_task_success(taskToken=token, output=output)
            except self.sfn.exceptions.TaskDoesNotExist:
                return
            except Exception:
                time.sleep(0.05)
                continue
            with self.lock:
                self.accepted[token] = self.accepted.get(token, 0) + 1
            return


def _serve(port: int, data_dir: str) -> None:
    import uvicorn

    from workflows.engine.resolvers import CallableResolver, ChainResolver
    from workflows.service.server import build

    async def echo(event: Any, context: Any) -> Any:
        await asyncio.sleep(0.3)
        return event

    app, service = build(data_dir)
    # echo here; activities and nested executions by the service's own resolvers
    service.resolver = ChainResolver(CallableResolver({"echo": echo}), service.resolver)
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


def _machine(sfn: Any, name: str, definition: dict[str, Any]) -> str:
    return sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/r"
    )["stateMachineArn"]


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_finishes_every_execution_once(tmp_path: Path) -> None:
    port = free_port()
    proc = _start(port, tmp_path)
    worker: _Worker | None = None
    try:
        sfn = client(f"http://127.0.0.1:{port}", max_pool_connections=16)
        arn = sfn.create_state_machine(
            name="crash", definition=json.dumps(DEFINITION), roleArn="arn:aws:iam::123456789012:role/r"
        )["stateMachineArn"]

        def start(i: int) -> str:
            return sfn.start_execution(stateMachineArn=arn, name=f"e{i}", input=json.dumps({"i": i}))[
                "executionArn"
            ]

        child = _machine(sfn, "child", CHILD)
        parent = _machine(sfn, "parent", _parent(child))
        activity = sfn.create_activity(name="ask")["activityArn"]
        asking = _machine(sfn, "asking", _asking(activity))
        worker = _Worker(f"http://127.0.0.1:{port}", activity)

        def start_other(i: int) -> str:
            machine = parent if i % 2 else asking
            return sfn.start_execution(stateMachineArn=machine, name=f"o{i}", input=json.dumps({"i": i}))[
                "executionArn"
            ]

        # The others are spread among the 1,000, so the kill finds some of each kind mid-run.
        jobs = [
            (kind, i) for j in range(N) for kind, i in [("run", j), ("other", j // 5)][: 1 + (j % 5 == 4)]
        ]
        with ThreadPoolExecutor(8) as pool:
            started = list(
                pool.map(lambda job: start(job[1]) if job[0] == "run" else start_other(job[1]), jobs)
            )
        arns = [a for (kind, _), a in zip(jobs, started, strict=True) if kind == "run"]
        others = [a for (kind, _), a in zip(jobs, started, strict=True) if kind == "other"]
        assert len(others) == OTHERS
        worker.start(4)  # now, so that most tasks are still waiting for it at the kill
        time.sleep(0.5)  # executions are now spread over Wait1 and Echo1; children wait; tasks in hand
        for machine in (parent, asking):
            running = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING", maxResults=1000)
            assert len(running["executions"]) > 10, f"the kill should catch {machine} mid-run"
        running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=1000)[
            "executions"
        ]
        assert len(running) > N // 5, "the kill should catch many executions mid-run"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

        proc = _start(port, tmp_path)
        sfn = client(f"http://127.0.0.1:{port}", max_pool_connections=16)
        deadline = time.time() + 60
        for machine in (arn, parent, child, asking):
            while sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING", maxResults=1)[
                "executions"
            ]:
                assert time.time() < deadline, "executions still RUNNING a minute after the restart"
                time.sleep(0.5)
        worker.stopping = True

        # Side effects once: one child per parent, one accepted answer per activity task.
        children = sfn.list_executions(stateMachineArn=child, maxResults=1000)["executions"]
        assert len(children) == OTHERS // 2, f"{len(children)} child executions for {OTHERS // 2} parents"
        assert sorted(worker.accepted.values()) == [1] * (OTHERS // 2), (
            f"{sum(worker.accepted.values())} accepted answers for {OTHERS // 2} tasks"
        )
        for i, execution_arn in enumerate(others):
            described = sfn.describe_execution(executionArn=execution_arn)
            assert described["status"] == "SUCCEEDED", described
            assert json.loads(described["output"]) == ("child done" if i % 2 else {"i": i})
            types = [e["type"] for e in sfn.get_execution_history(executionArn=execution_arn)["events"]]
            scheduled = "TaskScheduled" if i % 2 else "ActivityScheduled"
            assert types.count(scheduled) == 1, f"{execution_arn}: {types}"

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
        if worker is not None:
            worker.stopping = True
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    _serve(int(sys.argv[1]), sys.argv[2])
