"""`workflows serve` as a user runs it: a process serving the API, with AWS integrations when asked."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import boto3

from tests.api_replay import client
from workflows.local.local_aws import free_port


def test_serve_runs_aws_sdk_tasks_against_the_endpoint_it_is_given(tmp_path: Path) -> None:
    from moto.server import ThreadedMotoServer

    aws_port, port = free_port(), free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=aws_port, verbose=False)
    moto.start()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workflows",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
            "--aws-endpoint",
            f"http://127.0.0.1:{aws_port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PATH": "/usr/bin:/bin",
        },
    )
    try:
        sfn = client(f"http://127.0.0.1:{port}")
        deadline = time.time() + 30
        while True:
            try:
                sfn.list_state_machines()
                break
            except Exception:
                assert server.poll() is None and time.time() < deadline, (
                    server.stderr.read() if server.stderr else ""
                )
                time.sleep(0.1)
        definition = {
            "StartAt": "Make",
            "States": {
                "Make": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:s3:createBucket",
                    "Parameters": {"Bucket": "made-by-a-workflow"},
                    "Next": "List",
                },
                "List": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:s3:listBuckets",
                    "Parameters": {},  # without it the state's input would be the call's parameters
                    "ResultSelector": {"names.$": "$.Buckets[*].Name"},
                    "End": True,
                },
            },
        }
        arn = sfn.create_state_machine(
            name="sdk", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/r"
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
        while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
            time.sleep(0.05)
        assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
        assert "made-by-a-workflow" in json.loads(described["output"])["names"]
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{aws_port}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        assert "made-by-a-workflow" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        server.terminate()
        server.wait(15)
        moto.stop()


def _serve(port: int, data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "workflows", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ready(sfn: object, server: subprocess.Popen[str]) -> None:
    deadline = time.time() + 30
    while True:
        try:
            sfn.list_state_machines()  # type: ignore[attr-defined]
            return
        except Exception:
            assert server.poll() is None and time.time() < deadline
            time.sleep(0.1)


def test_a_graceful_stop_and_restart_resumes_running_executions(tmp_path: Path) -> None:
    """SIGTERM is a shutdown, not a StopExecution: the waiting execution carries on after a restart."""
    import signal

    port = free_port()
    server = _serve(port, tmp_path)
    sfn = client(f"http://127.0.0.1:{port}")
    try:
        _ready(sfn, server)
        definition = {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 2, "End": True}}}
        arn = sfn.create_state_machine(
            name="hold", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/r"
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn, input='{"n": 1}')["executionArn"]
    finally:
        server.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught: the status says SIGTERM
        assert server.wait(20) in (0, -signal.SIGTERM)
    server = _serve(port, tmp_path)
    try:
        _ready(sfn, server)
        deadline = time.time() + 20
        while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
            assert time.time() < deadline
            time.sleep(0.05)
        assert described["status"] == "SUCCEEDED", described
        types = [e["type"] for e in sfn.get_execution_history(executionArn=execution)["events"]]
        assert types.count("WaitStateEntered") == 1 and "ExecutionAborted" not in types
    finally:
        server.terminate()
        server.wait(20)


def test_the_server_freezes_its_startup_heap_once_it_listens(tmp_path: Path) -> None:
    """Full garbage collections would otherwise rescan everything the server loaded at start on every
    few executions: once the port is open, what is alive is frozen out of them."""
    import asyncio
    import gc

    import uvicorn

    from workflows.service.server import ListeningServer, build

    app, service = build(str(tmp_path))
    server = ListeningServer(uvicorn.Config(app, host="127.0.0.1", port=free_port(), lifespan="on"), service)

    async def scenario() -> tuple[int, int]:
        before = gc.get_freeze_count()
        serving = asyncio.create_task(server.serve())
        try:
            for _ in range(1000):
                if server.started:
                    break
                await asyncio.sleep(0.01)
            assert server.started
            return before, gc.get_freeze_count()
        finally:
            server.should_exit = True
            await serving

    try:
        before, after = asyncio.run(scenario())
    finally:
        gc.unfreeze()  # (this test process goes on to other tests)
    assert after > before and after > 10_000  # the modules, the app and botocore's models among them
