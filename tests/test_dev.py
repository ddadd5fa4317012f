"""The README's main command: `workflows dev` brings up the local world and a sample flows through it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from workflows.local.local_aws import free_port


def dev_once(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`workflows dev --once ARGS...` from the repository, as the README runs it."""
    return subprocess.run(
        [sys.executable, "-m", "workflows", "dev", "--once", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parent.parent,
    )


def test_dev_once_runs_the_sample_through_the_pipeline(tmp_path: Path) -> None:
    data_dir = tmp_path / ".workflows"
    port, aws_port = free_port(), free_port()
    result = dev_once(
        "--port", str(port), "--aws-port", str(aws_port), "--data-dir", str(data_dir), timeout=240
    )
    assert result.returncode == 0, result.stderr[-3000:]
    endpoints = json.loads((data_dir / "endpoints.json").read_text())
    assert endpoints["stepfunctions"] == f"http://127.0.0.1:{port}"
    assert endpoints["aws"] == f"http://127.0.0.1:{aws_port}"
    assert endpoints["stateMachineArn"].endswith(":stateMachine:workflows-local-PipelineStateMachine")
    assert endpoints["input"] == "s3://workflows-local-inputbucket/uploads/"
    assert "SUCCEEDED" in result.stderr
    assert '"outcome": "accepted"' in result.stderr
    assert "SNS message" in result.stderr


def test_dev_refuses_a_port_in_use_with_the_option_that_picks_another(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = dev_once(
            "--aws-port",
            str(port),
            "--port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / ".workflows"),
            timeout=60,
        )
    assert result.returncode != 0
    assert f"127.0.0.1:{port} is in use" in result.stderr
    assert "--aws-port" in result.stderr


def test_dev_uses_an_aws_endpoint_it_is_given_instead_of_starting_its_own(tmp_path: Path) -> None:
    """Pointed at other endpoints (here a moto server started outside it), the same command provisions
    there and runs the pipeline against it unchanged."""
    from moto.server import ThreadedMotoServer

    aws_port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=aws_port, verbose=False)
    server.start()
    try:
        data_dir = tmp_path / ".workflows"
        result = dev_once(
            "--port",
            str(free_port()),
            "--aws-endpoint",
            f"http://127.0.0.1:{aws_port}",
            "--data-dir",
            str(data_dir),
            timeout=240,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        endpoints = json.loads((data_dir / "endpoints.json").read_text())
        assert endpoints["aws"] == f"http://127.0.0.1:{aws_port}"
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=endpoints["aws"],
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        accepted = s3.list_objects_v2(Bucket=endpoints["buckets"]["AcceptedBucketName"])
        assert [o["Key"] for o in accepted.get("Contents", []) if o["Key"].startswith("uploads/sample-")]
    finally:
        server.stop()


def test_dev_stays_on_loopback(tmp_path: Path) -> None:
    result = dev_once("--host", "0.0.0.0", "--data-dir", str(tmp_path), timeout=60)
    assert result.returncode != 0
    assert "loopback only" in result.stderr and "workflows serve" in result.stderr
