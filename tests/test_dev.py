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
    assert endpoints["store"] == str(data_dir / "workflows.db") and endpoints["retentionDays"] == 90
    assert "kept 90 days after they close" in result.stderr
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


def test_upload_follows_each_file_to_its_outcome_and_dev_says_how_to_reach_it(tmp_path: Path) -> None:
    """A running `workflows dev`: the environment lines it prints work for the AWS CLI, the terminal
    keeps to the summary (handler logs go to lambda.log), and `workflows upload` reports each file's
    execution and outcome."""
    import os
    import time

    from workflows.local.dev import sample_image

    data_dir = tmp_path / ".workflows"
    port, aws_port = free_port(), free_port()
    log = (tmp_path / "dev.err").open("w")
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "workflows", "dev", "--no-sample", "--port", str(port)),
            *("--aws-port", str(aws_port), "--data-dir", str(data_dir)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        cwd=root,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while "Serving." not in (tmp_path / "dev.err").read_text():
            assert process.poll() is None, (tmp_path / "dev.err").read_text()
            assert time.monotonic() < deadline, "workflows dev did not start"
            time.sleep(0.2)
        printed = (tmp_path / "dev.err").read_text()
        exports = dict(
            line.strip()[len("export ") :].split("=", 1)
            for line in printed.splitlines()
            if line.strip().startswith("export ")
        )
        assert exports["AWS_ACCESS_KEY_ID"] == "testing" and exports["AWS_DEFAULT_REGION"] == "us-east-1"
        assert exports["AWS_ENDPOINT_URL_SFN"] == f"http://127.0.0.1:{port}"
        aws = [str(Path(sys.executable).with_name("aws"))]

        def run(command: list[str], timeout: float, **extra_env: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**env, **extra_env},
                cwd=tmp_path,
            )

        listed = run([*aws, "stepfunctions", "list-state-machines"], 60, **exports)
        assert listed.returncode == 0, listed.stderr
        assert "workflows-local-PipelineStateMachine" in listed.stdout

        (tmp_path / "good.jpg").write_bytes(sample_image())
        (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a JPEG")
        upload = run(
            [
                *(sys.executable, "-m", "workflows", "upload", "good.jpg", "broken.jpg"),
                *("--data-dir", str(data_dir), "--timeout", "90"),
            ],
            120,
        )
        assert upload.returncode == 0, upload.stderr
        lines = {line.split()[0]: line.split() for line in upload.stdout.splitlines()[1:]}
        good, broken = lines["uploads/good.jpg"], lines["uploads/broken.jpg"]
        assert good[2:5] == ["SUCCEEDED", "accepted", "passed"]
        assert broken[2:5] == ["SUCCEEDED", "quarantined", "CorruptImage"]
        assert good[1].startswith("s3-") and good[5] == "workflows-local-inputbucket"
        # The terminal follows each upload to its SNS message, and reading them keeps the tap queue empty.
        feed: list[str] = []
        while len(feed) < 2 and time.monotonic() < deadline + 60:
            feed = [
                line for line in (tmp_path / "dev.err").read_text().splitlines() if line.startswith("SNS ")
            ]
            time.sleep(0.2)
        by_key = {line.split()[3]: line.split() for line in feed}
        assert by_key["uploads/good.jpg"][1:3] == ["accepted", "passed"], feed
        assert "s3://workflows-local-acceptedbucket/uploads/good.jpg" in by_key["uploads/good.jpg"], feed
        assert by_key["uploads/broken.jpg"][1:3] == ["quarantined", "CorruptImage"], feed
        endpoints = json.loads((data_dir / "endpoints.json").read_text())
        tap = endpoints["snsTapQueueUrl"]
        left = run(
            [
                *(*aws, "sqs", "get-queue-attributes", "--queue-url", tap, "--attribute-names", "All"),
                *("--endpoint-url", endpoints["aws"]),
            ],
            60,
            **exports,
        )
        assert left.returncode == 0, left.stderr
        counts = json.loads(left.stdout)["Attributes"]
        assert counts["ApproximateNumberOfMessages"] == counts["ApproximateNumberOfMessagesNotVisible"] == "0"
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    terminal = (tmp_path / "dev.err").read_text()
    assert "subject=None" not in terminal
    assert "No application metrics" not in terminal and '"level"' not in terminal
    assert (data_dir / "lambda.log").stat().st_size > 0


def test_make_dev_installs_the_runtime_once_and_test_adds_the_dev_tools(tmp_path: Path) -> None:
    """pip runs when pyproject.toml changed, not on every `make dev`; dev never installs test tools."""
    import shutil

    if shutil.which("make") is None:
        import pytest

        pytest.skip("needs make")
    root = Path(__file__).resolve().parent.parent
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(root / name, tmp_path / name)
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\necho "python $*"\n')
    fake.chmod(0o755)

    def make(target: str) -> list[str]:
        result = subprocess.run(
            # The tool installer (apt, sam, checkov) is .ci/install-tools' own business: left out here.
            ["make", "-s", target, "INSTALL_TOOLS=true"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        return [line for line in result.stdout.splitlines() if "pip install" in line]

    assert make("dev") == ["python -m pip install -q -e ."]
    assert make("dev") == []  # nothing changed: straight to `workflows dev`
    assert make("test") == ["python -m pip install -q -e .[dev]"]
    assert make("test") == [] and make("dev") == []
    (tmp_path / "pyproject.toml").touch()
    assert make("dev") == ["python -m pip install -q -e ."]


def test_verbose_handler_logs_are_prefixed_by_their_function(tmp_path: Path, capsys: object) -> None:
    import os
    import time

    from workflows.local import dev

    class Pool:
        stderr: object = None

    class Workers:
        functions = {"starter": object(), "validate": object()}
        stderr: object = None

        def __init__(self) -> None:
            self.pools = {name: Pool() for name in self.functions}

        def pool(self, name: str) -> Pool:
            return self.pools[name]

    workers = Workers()
    closers = dev._route_handler_logs(workers, tmp_path, verbose=True)
    os.write(workers.pools["validate"].stderr, b'{"level":"INFO","message":"checked"}\n')  # type: ignore[arg-type]
    os.write(workers.pools["starter"].stderr, b"No application metrics to publish\n")  # type: ignore[arg-type]
    for close in closers:
        close()
    deadline = time.monotonic() + 5
    seen = ""
    while time.monotonic() < deadline and seen.count("\n") < 2:
        seen += capsys.readouterr().err  # type: ignore[attr-defined]
        time.sleep(0.02)
    assert 'validate | {"level":"INFO","message":"checked"}' in seen
    assert "starter | No application metrics to publish" in seen

    quiet = Workers()
    for close in dev._route_handler_logs(quiet, tmp_path, verbose=False):
        close()
    assert getattr(quiet.stderr, "name", "") == str(tmp_path / "lambda.log")


def test_ctrl_c_stops_dev_cleanly_and_frees_its_ports(tmp_path: Path) -> None:
    """Ctrl-C reaches every process of the terminal's group: moto waits for the engine to stop it, so
    the S3 bridge's last poll does not fail with a traceback, and both ports are free afterwards."""
    import os
    import signal
    import socket
    import time

    port, aws_port = free_port(), free_port()
    log = tmp_path / "dev.err"
    with log.open("w") as err:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "workflows", "dev", "--no-sample", "--port", str(port)),
                *("--aws-port", str(aws_port), "--data-dir", str(tmp_path / ".workflows")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=Path(__file__).resolve().parent.parent,
            start_new_session=True,  # its own process group, as a terminal gives it
        )
    try:
        deadline = time.monotonic() + 120
        while "Serving." not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "workflows dev did not start"
            time.sleep(0.2)
        time.sleep(1)  # the bridge is polling
        os.killpg(process.pid, signal.SIGINT)
        process.wait(30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    printed = log.read_text()
    assert "Traceback" not in printed and "ERROR" not in printed, printed[-2000:]
    for taken in (port, aws_port):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", taken))  # raises if moto or the API still holds it
