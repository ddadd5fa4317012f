"""The `workflows run` / `workflows validate` contract other tools rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conformance import CASES, compare

WORKFLOWS = [sys.executable, "-m", "workflows"]


def workflows(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WORKFLOWS, *args], capture_output=True, text=True, timeout=60, input=input)


def _case_file(fragment: str) -> Path:
    matches = sorted(p for p in CASES.glob("*.json") if fragment in p.name)
    assert matches, fragment
    return matches[0]


@pytest.mark.parametrize(
    "fragment",
    [
        "test_map_state_break_condition_legacy",  # Map + Choice + Fail
        "BASE_SCOPE_PARALLEL",  # Parallel
        "RAISE_FAILURE_PATH_INTRINSIC",
    ],
)
def test_run_prints_the_outcome_aws_recorded(fragment: str) -> None:
    matches = sorted(p for p in CASES.glob("*.json") if fragment in p.name or fragment in p.read_text()[:400])
    case_path = matches[0]
    case: dict[str, Any] = json.loads(case_path.read_text())
    assert not any(n.startswith("lambda:") for n in case["needs"])  # those: see --function below
    result = workflows("run", str(case_path), "--fake-clock")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) >= {"status", "history"}
    outcome = {k: v for k, v in doc.items() if k != "history"}
    assert compare(case, outcome) is None
    assert doc["history"][0]["type"] == "ExecutionStarted"
    assert doc["history"][-1]["type"].startswith("Execution")


def test_run_with_input_and_failure(tmp_path: Path) -> None:
    definition = {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"}],
                "Default": "Small",
            },
            "Big": {"Type": "Succeed"},
            "Small": {"Type": "Fail", "Error": "TooSmall", "Cause": "n must exceed 10"},
        },
    }
    path = tmp_path / "machine.asl.json"
    path.write_text(json.dumps(definition))
    ok = json.loads(workflows("run", str(path), "--input", '{"n": 11}').stdout)
    assert ok["status"] == "SUCCEEDED" and ok["output"] == {"n": 11}
    (tmp_path / "in.json").write_text('{"n": 3}')
    failed = json.loads(workflows("run", str(path), "--input", f"@{tmp_path / 'in.json'}").stdout)
    assert failed["status"] == "FAILED"
    assert (failed["error"], failed["cause"]) == ("TooSmall", "n must exceed 10")
    assert "output" not in failed


def test_run_rejects_an_invalid_definition_with_its_pointer(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}))
    result = workflows("run", str(path))
    assert result.returncode != 0
    assert "MISSING_TRANSITION_TARGET" in result.stderr
    assert "/States/A/Next" in result.stderr
    assert result.stdout == ""


def test_run_with_a_step_functions_local_mock_config(tmp_path: Path) -> None:
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "f", "Payload.$": "$"},
                "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1}],
                "End": True,
            }
        },
    }
    mocks = {
        "StateMachines": {"M": {"TestCases": {"Flaky": {"Call": "ThrottledThenOk"}}}},
        "MockedResponses": {
            "ThrottledThenOk": {
                "0-1": {"Throw": {"Error": "Lambda.TooManyRequestsException", "Cause": "slow down"}},
                "2": {"Return": {"Payload": {"ok": True}}},
            }
        },
    }
    (tmp_path / "d.json").write_text(json.dumps(definition))
    (tmp_path / "m.json").write_text(json.dumps(mocks))
    result = workflows(
        "run",
        str(tmp_path / "d.json"),
        "--mock-config",
        str(tmp_path / "m.json"),
        "--test-case",
        "Flaky",
        "--fake-clock",
    )
    doc = json.loads(result.stdout)
    assert doc["status"] == "SUCCEEDED", doc
    assert doc["output"] == {"Payload": {"ok": True}}
    failed = [e for e in doc["history"] if e["type"] == "TaskFailed"]
    assert len(failed) == 2
    assert failed[0]["taskFailedEventDetails"]["error"] == "Lambda.TooManyRequestsException"


def test_validate_reports_every_problem_and_exits_non_zero(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}))
    ok = workflows("validate", str(good))
    assert ok.returncode == 0 and "OK" in ok.stdout
    result = workflows("validate", str(good), str(bad))
    assert result.returncode == 1
    assert "MISSING_TRANSITION_TARGET" in result.stdout + result.stderr


def test_run_backs_lambda_functions_with_python_handlers(tmp_path: Path) -> None:
    """A recorded case that calls a Lambda function, run with a local handler for it."""
    case_path = next(p for p in sorted(CASES.glob("*.json")) if "test_catch_empty" in p.name)
    case: dict[str, Any] = json.loads(case_path.read_text())
    (arn,) = case["resources"]
    handler = Path(__file__).parent / "lambdas" / "id_function.py"
    result = workflows("run", str(case_path), "--function", f"{arn}={handler}")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert compare(case, {k: v for k, v in doc.items() if k != "history"}) is None
    assert [e["type"] for e in doc["history"]][2:5] == [
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
    ]
    bad = workflows("run", str(case_path), "--function", "no-equals-sign")
    assert bad.returncode == 2 and "--function" in bad.stderr


# -- the client commands: one clear line, never a traceback ---------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
ROLE = "arn:aws:iam::123456789012:role/cli-test"


def run_in(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    import os

    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [*WORKFLOWS, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=environment
    )


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`workflows serve` on a free port with one state machine whose output says an outcome."""
    import time

    import boto3

    from workflows.local.local_aws import free_port

    port = free_port()
    data = tmp_path_factory.mktemp("serve")
    process = subprocess.Popen(
        [*WORKFLOWS, "serve", "--port", str(port), "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "stepfunctions",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            client.list_state_machines()
            break
        except Exception:
            assert time.monotonic() < deadline, "workflows serve did not start"
            time.sleep(0.1)
    definition = {
        "StartAt": "Decide",
        "States": {
            "Decide": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.key", "StringMatches": "*.bad", "Next": "Reject"},
                    {"Variable": "$.key", "StringMatches": "*.crash", "Next": "Crash"},
                ],
                "Default": "Accept",
            },
            "Accept": {"Type": "Pass", "Result": {"outcome": "accepted", "reason": "passed"}, "End": True},
            "Reject": {"Type": "Pass", "Result": {"outcome": "rejected", "reason": "bad"}, "End": True},
            "Crash": {"Type": "Fail", "Error": "Crashed", "Cause": "the handler crashed"},
        },
    }
    machine = client.create_state_machine(name="files", definition=json.dumps(definition), roleArn=ROLE)
    arn = machine["stateMachineArn"]
    long_name = "a-name-longer-than-eighty-columns-allow-" + "x" * 39
    for name, key in (
        ("one", "uploads/good.jpg"),
        ("two", "uploads/worse.bad"),
        (long_name, "uploads/z.jpg"),
    ):
        client.start_execution(stateMachineArn=arn, name=name, input=json.dumps({"bucket": "in", "key": key}))
    for _ in range(100):
        listed = client.list_executions(stateMachineArn=arn)["executions"]
        if all(e["status"] != "RUNNING" for e in listed):
            break
        time.sleep(0.05)
    yield {"endpoint": endpoint, "arn": arn, "long": long_name}
    process.terminate()
    process.wait(10)


def test_executions_show_key_and_outcome_with_filters_and_json(api: Any, tmp_path: Path) -> None:
    listed = run_in(tmp_path, "executions", "--endpoint", api["endpoint"], "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["two"]["key"] == "uploads/worse.bad"
    assert (rows["two"]["outcome"], rows["two"]["reason"]) == ("rejected", "bad")
    assert rows["one"]["bucket"] == "in" and rows["one"]["outcome"] == "accepted"
    by_outcome = run_in(
        tmp_path, "executions", "--endpoint", api["endpoint"], "--outcome", "rejected", "--json"
    )
    assert [r["name"] for r in json.loads(by_outcome.stdout)] == ["two"]
    by_key = run_in(tmp_path, "executions", "files", "--endpoint", api["endpoint"], "--key", "good", "--json")
    assert [r["name"] for r in json.loads(by_key.stdout)] == ["one"]
    # Piped (80 columns by default), the table still shows whole names and keys.
    table = run_in(tmp_path, "executions", "--endpoint", api["endpoint"])
    assert table.returncode == 0
    assert api["long"] in table.stdout and "uploads/worse.bad" in table.stdout
    assert "…" not in table.stdout


def test_history_takes_a_name_and_prints_json(api: Any, tmp_path: Path) -> None:
    result = run_in(tmp_path, "history", "two", "--endpoint", api["endpoint"], "--json")
    assert result.returncode == 0, result.stderr
    events = json.loads(result.stdout)
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    table = run_in(tmp_path, "history", "one", "--endpoint", api["endpoint"])
    assert "ExecutionSucceeded" in table.stdout


def test_history_of_an_unknown_name_or_arn_is_one_line(api: Any, tmp_path: Path) -> None:
    one_line_error(
        run_in(tmp_path, "history", "nobody", "--endpoint", api["endpoint"]), "no execution named nobody"
    )
    unknown = api["arn"].replace(":stateMachine:", ":execution:") + ":nobody"
    one_line_error(
        run_in(tmp_path, "history", unknown, "--endpoint", api["endpoint"]), "ExecutionDoesNotExist"
    )


def test_executions_outside_the_repo_with_no_engine_running(tmp_path: Path) -> None:
    from workflows.local.local_aws import free_port

    nothing = f"http://127.0.0.1:{free_port()}"
    result = run_in(tmp_path, "executions", env={"WORKFLOWS_ENDPOINT": nothing})
    one_line_error(result, f"cannot reach the Step Functions API at {nothing}", "workflows dev")


def test_graph_of_a_missing_file_or_invalid_json(tmp_path: Path) -> None:
    one_line_error(run_in(tmp_path, "graph", "missing.json"), "cannot read missing.json")
    (tmp_path / "bad.json").write_text('{"StartAt": ')
    one_line_error(run_in(tmp_path, "graph", "bad.json"), "bad.json is not valid JSON")
    (tmp_path / "list.json").write_text("[1, 2]")
    one_line_error(run_in(tmp_path, "graph", "list.json"), "not a state machine")


def test_upload_to_a_missing_bucket(tmp_path: Path) -> None:
    from moto.server import ThreadedMotoServer

    from workflows.local.local_aws import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff")
        endpoint = f"http://127.0.0.1:{port}"
        result = run_in(
            tmp_path, "upload", "photo.jpg", "--to", "s3://no-such-bucket/in/", "--endpoint-url", endpoint
        )
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("workflows upload:")]
        assert errors == [f"workflows upload: bucket no-such-bucket does not exist at {endpoint}"]
    finally:
        server.stop()


def test_an_unknown_flag_prints_the_subcommands_usage(tmp_path: Path) -> None:
    result = run_in(tmp_path, "history", "one", "--bogus")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("usage: workflows history")
    assert "unrecognized arguments: --bogus" in result.stderr


def test_run_fills_placeholders_from_the_template_or_says_what_is_left(tmp_path: Path) -> None:
    pipeline = str(ROOT / "definitions" / "pipeline.asl.json")
    left = run_in(tmp_path, "run", pipeline)
    one_line_error(left, "placeholders with no value", "${AcceptedBucket}", "--template template.yaml")
    assert left.stdout == ""
    filled = run_in(ROOT, "run", pipeline, "--template", "template.yaml", "--input", '{"key": "a.jpg"}')
    assert filled.returncode == 0, filled.stderr
    history = json.loads(filled.stdout)["history"]
    configured = next(e for e in history if e["type"] == "PassStateExited")
    limits = json.loads(configured["stateExitedEventDetails"]["output"])["criteria"]["limits"]
    assert limits["maxBytes"] == 104857600  # from template.yaml's MaxObjectBytes default


def test_commands_whose_dependencies_are_missing_say_what_is_missing(tmp_path: Path) -> None:
    # `rich` absent, as before `pip install -e .`: the command exists and names what it needs.
    code = "import sys; sys.modules['rich'] = None; from workflows.cli import main; sys.exit(main(['dev']))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    one_line_error(result, "workflows dev: needs the Python package 'rich'", "pip install -e .")


def test_upload_follows_each_file_and_exits_1_when_an_execution_failed(api: Any, tmp_path: Path) -> None:
    """The S3 rule played by a thread: each new object starts an execution with its bucket and key."""
    import threading

    import boto3
    from moto.server import ThreadedMotoServer

    from workflows.local.local_aws import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    s3_endpoint = f"http://127.0.0.1:{port}"
    keys = dict(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **keys)
    sfn = boto3.client("stepfunctions", endpoint_url=api["endpoint"], **keys)
    s3.create_bucket(Bucket="drop")
    stop = threading.Event()

    def rule() -> None:
        started: set[str] = set()
        while not stop.is_set():
            for obj in s3.list_objects_v2(Bucket="drop").get("Contents", []):
                if obj["Key"] not in started:
                    started.add(obj["Key"])
                    body = json.dumps({"bucket": "drop", "key": obj["Key"]})
                    sfn.start_execution(stateMachineArn=api["arn"], input=body, name=f"up-{len(started)}")
            stop.wait(0.05)

    thread = threading.Thread(target=rule, daemon=True)
    thread.start()
    try:
        for name in ("kept.jpg", "worse.bad", "boom.crash"):
            (tmp_path / name).write_bytes(b"data")
        args = ["--to", "s3://drop/in/", "--endpoint-url", s3_endpoint, "--state-machine", api["arn"]]
        result = run_in(
            tmp_path, "upload", "kept.jpg", "worse.bad", "boom.crash", *args, "--endpoint", api["endpoint"]
        )
        assert "Traceback" not in result.stderr
        assert result.returncode == 1, result.stdout + result.stderr
        rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
        assert result.stdout.splitlines()[0].split() == [
            "key",
            "execution",
            "status",
            "outcome",
            "reason",
            "bucket",
        ]
        assert rows["in/kept.jpg"][2:] == ["SUCCEEDED", "accepted", "passed", "drop"]
        assert rows["in/worse.bad"][2:] == ["SUCCEEDED", "rejected", "bad", "drop"]
        assert rows["in/boom.crash"][2:] == ["FAILED", "-", "Crashed", "drop"]
        assert all(row[1].startswith("up-") for row in rows.values())
        # Without waiting: the S3 URLs only, and success.
        quick = run_in(tmp_path, "upload", "kept.jpg", *args, "--no-wait")
        assert quick.returncode == 0 and quick.stdout.strip() == "s3://drop/in/kept.jpg"
    finally:
        stop.set()
        thread.join(5)
        server.stop()


def test_a_batch_upload_accounts_for_every_execution(tmp_path: Path) -> None:
    """200 files of a folder through the whole local world (moto, the S3 rule, the starter, the
    pipeline's Lambda workers): one row per file, each with the execution its upload started, none
    missing and none started twice; broken files quarantined with their reason, the rest routed."""
    import asyncio
    import threading

    import boto3

    from workflows.bench.pipeline import mixed_batch
    from workflows.local.dev import DevOptions, start_world, stop_world
    from workflows.local.local_aws import free_port

    folder = tmp_path / "batch"
    kinds = mixed_batch(folder, 200)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    data_dir = tmp_path / "data"
    options = DevOptions(
        port=free_port(), aws_port=free_port(), data_dir=str(data_dir), template=str(ROOT / "template.yaml")
    )
    world = asyncio.run_coroutine_threadsafe(start_world(options), loop).result(120)
    try:
        result = run_in(
            tmp_path,
            "upload",
            "batch",
            "--data-dir",
            str(data_dir),
            "--json",
            "--concurrency",
            "8",
            timeout=300,
        )
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 0, result.stderr[-2000:]
        rows = json.loads(result.stdout)
        prefix = world.input_prefix
        assert sorted(r["key"] for r in rows) == sorted(prefix + name for name in kinds)
        assert all(r["status"] == "SUCCEEDED" for r in rows), [r for r in rows if r["status"] != "SUCCEEDED"]
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_kind.setdefault(kinds[row["key"][len(prefix) :]], []).append(row)
        assert {r["reason"] for r in by_kind["corrupt"]} == {"CorruptImage"}
        assert {r["reason"] for r in by_kind["empty"]} == {"EmptyObject"}
        assert all(r["outcome"] == "quarantined" for r in by_kind["corrupt"] + by_kind["empty"])
        assert all(
            r["outcome"] in ("accepted", "review", "rejected") for r in by_kind["image"] + by_kind["document"]
        )
        # The counts the progress bar ended on, and the summary line.
        summary = result.stderr.strip().splitlines()[-1]
        assert "200 file(s) in " in summary and "180 succeeded, 20 quarantined, 0 failed" in summary, summary
        # Every execution is accounted for: as many as files, each named in exactly one row.
        sfn = boto3.client(
            "stepfunctions",
            endpoint_url=world.api_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        machine = next(iter(world.state_machine_arns.values()))
        listed = [
            e["name"]
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
            for e in page["executions"]
        ]
        assert sorted(listed) == sorted(r["execution"] for r in rows)
        assert len(set(listed)) == 200
    finally:
        asyncio.run_coroutine_threadsafe(stop_world(world), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
