"""The API through real clients: boto3, the AWS CLI and the `stepfunctions` SDK, unchanged; SigV4 off loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from starlette.testclient import TestClient

from tests import tools
from tests.api_replay import client, live_server
from tests.api_replay import wait_for_end as _wait
from workflows.service.server import build

ROLE = "arn:aws:iam::123456789012:role/r"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": 1}, "End": True}}})
WAIT = json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}})
ACTIVITY_DEF = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "", "End": True}}}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with live_server() as (endpoint, _service):
        yield endpoint


@pytest.fixture(scope="module")
def sfn(server: str) -> Any:
    return client(server)


def test_boto3_lifecycle_history_and_paging(sfn: Any) -> None:
    arn = sfn.create_state_machine(name="life", definition=PASS, roleArn=ROLE)["stateMachineArn"]
    arns = [sfn.start_execution(stateMachineArn=arn, name=f"x{i}")["executionArn"] for i in range(5)]
    for a in arns:
        assert _wait(sfn, a)["status"] == "SUCCEEDED"
    assert json.loads(sfn.describe_execution(executionArn=arns[0])["output"]) == {"ok": 1}
    page = sfn.list_executions(stateMachineArn=arn, maxResults=2)
    assert [e["name"] for e in page["executions"]] == ["x4", "x3"]
    rest = sfn.list_executions(stateMachineArn=arn, maxResults=10, nextToken=page["nextToken"])
    assert [e["name"] for e in rest["executions"]] == ["x2", "x1", "x0"] and "nextToken" not in rest
    history = sfn.get_execution_history(executionArn=arns[0], reverseOrder=True, includeExecutionData=False)
    assert history["events"][0]["type"] == "ExecutionSucceeded"
    assert "output" not in history["events"][0]["executionSucceededEventDetails"]
    with pytest.raises(ClientError) as err:
        sfn.start_execution(stateMachineArn=arn, name="x0")
    assert err.value.response["Error"]["Code"] == "ExecutionAlreadyExists"


def test_idempotent_start_while_running_and_stop(sfn: Any) -> None:
    arn = sfn.create_state_machine(name="waits", definition=WAIT, roleArn=ROLE)["stateMachineArn"]
    first = sfn.start_execution(stateMachineArn=arn, name="same", input='{"a": 1}')
    again = sfn.start_execution(stateMachineArn=arn, name="same", input='{"a": 1}')
    assert first["executionArn"] == again["executionArn"] and first["startDate"] == again["startDate"]
    with pytest.raises(ClientError) as err:
        sfn.start_execution(stateMachineArn=arn, name="same", input='{"a": 2}')
    assert err.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
    sfn.stop_execution(executionArn=first["executionArn"], error="Stop", cause="test")
    out = sfn.describe_execution(executionArn=first["executionArn"])
    assert (out["status"], out["error"], out["cause"]) == ("ABORTED", "Stop", "test")
    types = [e["type"] for e in sfn.get_execution_history(executionArn=first["executionArn"])["events"]]
    assert types[-1] == "ExecutionAborted" and types.count("ExecutionAborted") == 1


def test_activity_worker_round_trip(sfn: Any) -> None:
    activity = sfn.create_activity(name="work")["activityArn"]
    definition = json.loads(json.dumps(ACTIVITY_DEF))
    definition["States"]["A"]["Resource"] = activity
    arn = sfn.create_state_machine(name="act", definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(stateMachineArn=arn, input='{"n": 2}')["executionArn"]
    task = sfn.get_activity_task(activityArn=activity, workerName="w1")
    assert json.loads(task["input"]) == {"n": 2}
    sfn.send_task_heartbeat(taskToken=task["taskToken"])
    sfn.send_task_success(taskToken=task["taskToken"], output='{"done": true}')
    out = _wait(sfn, execution)
    assert out["status"] == "SUCCEEDED" and json.loads(out["output"]) == {"done": True}
    types = [e["type"] for e in sfn.get_execution_history(executionArn=execution)["events"]]
    assert [t for t in types if "Activity" in t] == [
        "ActivityScheduled",
        "ActivityStarted",
        "ActivitySucceeded",
    ]
    with pytest.raises(ClientError) as err:
        sfn.send_task_success(taskToken=task["taskToken"], output="{}")
    assert err.value.response["Error"]["Code"] == "TaskDoesNotExist"


def test_versions_aliases_and_redrive(sfn: Any) -> None:
    fail = json.dumps({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "c"}}})
    created = sfn.create_state_machine(name="ver", definition=fail, roleArn=ROLE, publish=True)
    version = created["stateMachineVersionArn"]
    assert version.endswith(":1")
    alias = sfn.create_state_machine_alias(
        name="live", routingConfiguration=[{"stateMachineVersionArn": version, "weight": 100}]
    )["stateMachineAliasArn"]
    execution = sfn.start_execution(stateMachineArn=alias)["executionArn"]
    out = _wait(sfn, execution)
    assert out["status"] == "FAILED" and out["stateMachineAliasArn"] == alias
    assert out["stateMachineVersionArn"] == version and out["redriveStatus"] == "REDRIVABLE"
    sfn.redrive_execution(executionArn=execution)
    out = _wait(sfn, execution)
    assert out["status"] == "FAILED" and out["redriveCount"] == 1
    types = [e["type"] for e in sfn.get_execution_history(executionArn=execution)["events"]]
    assert types.count("ExecutionRedriven") == 1 and types[-1] == "ExecutionFailed"
    with pytest.raises(ClientError) as err:
        sfn.delete_state_machine_version(stateMachineVersionArn=version)
    assert err.value.response["Error"]["Code"] == "ConflictException"


def test_express_sync_execution(sfn: Any) -> None:
    arn = sfn.create_state_machine(name="fast", definition=PASS, roleArn=ROLE, type="EXPRESS")[
        "stateMachineArn"
    ]
    out = sfn.start_sync_execution(stateMachineArn=arn, input="{}")
    assert out["status"] == "SUCCEEDED" and json.loads(out["output"]) == {"ok": 1}
    assert ":express:" in out["executionArn"]


def test_validation_errors_follow_the_service_model(sfn: Any) -> None:
    raw = client(sfn.meta.endpoint_url, validate=False)
    with pytest.raises(ClientError) as err:
        raw.list_state_machines(maxResults=1001)
    assert err.value.response["Error"]["Message"] == (
        "1 validation error detected: Value '1001' at 'maxResults' failed to satisfy constraint: "
        "Member must have value less than or equal to 1000"
    )
    with pytest.raises(ClientError) as err:
        raw.describe_execution()
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_aws_cli(server: str) -> None:
    cli = tools.aws_cli()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIDTEST",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }

    def aws(*args: str) -> Any:
        out = subprocess.run(
            [cli, "stepfunctions", *args, "--endpoint-url", server, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else None

    arn = aws("create-state-machine", "--name", "cli", "--definition", PASS, "--role-arn", ROLE)[
        "stateMachineArn"
    ]
    execution = aws("start-execution", "--state-machine-arn", arn, "--input", "{}")["executionArn"]
    deadline = time.time() + 10
    while (
        aws("describe-execution", "--execution-arn", execution)["status"] == "RUNNING"
        and time.time() < deadline
    ):
        time.sleep(0.05)
    events = aws("get-execution-history", "--execution-arn", execution)["events"]
    assert events[-1]["type"] == "ExecutionSucceeded"
    assert any(m["name"] == "cli" for m in aws("list-state-machines")["stateMachines"])


def test_stepfunctions_sdk(sfn: Any) -> None:
    import stepfunctions.workflow as workflow_module

    arn = sfn.create_state_machine(name="sdk", definition=PASS, roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name="one")["executionArn"]
    _wait(sfn, execution)
    workflow = workflow_module.Workflow.attach(arn, client=sfn)
    assert workflow.name == "sdk"
    executions = workflow.list_executions()
    assert [e.name for e in executions] == ["one"]
    events = executions[0].list_events()
    assert [e["type"] for e in events][-1] == "ExecutionSucceeded"
    assert executions[0].get_output() == {"ok": 1}


def _send_signed(http: TestClient, key: str, secret: str) -> httpx.Response:
    """A ListActivities request as boto3 signs it with (key, secret), sent through `http`."""
    session = boto3.session.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1"
    )
    captured: dict[str, Any] = {}

    def send(request: Any, **_: Any) -> Any:
        captured["request"] = request
        raise _Captured

    sfn = session.client(
        "stepfunctions", endpoint_url="http://localhost", config=Config(retries={"total_max_attempts": 1})
    )
    sfn.meta.events.register_first("before-send.*", send)
    with pytest.raises(_Captured):
        sfn.list_activities()
    req = captured["request"]
    return http.post("/", content=req.body, headers=dict(req.headers.items()))


def test_sigv4_required_off_loopback(tmp_path: Path) -> None:
    app, _service = build(str(tmp_path), host="0.0.0.0", credentials={"AKIDGOOD": "s3cret"})
    with TestClient(app, base_url="http://localhost") as http:

        def signed(key: str, secret: str) -> httpx.Response:
            return _send_signed(http, key, secret)

        ok = signed("AKIDGOOD", "s3cret")
        assert ok.status_code == 200, ok.text
        bad_secret = signed("AKIDGOOD", "wrong")
        assert bad_secret.status_code == 403 and bad_secret.json()["__type"] == "InvalidSignatureException"
        unknown = signed("AKIDNOPE", "s3cret")
        assert unknown.status_code == 403 and unknown.json()["__type"] == "UnrecognizedClientException"
        unsigned = http.post(
            "/",
            content=b"{}",
            headers={
                "X-Amz-Target": "AWSStepFunctions.ListActivities",
                "Content-Type": "application/x-amz-json-1.0",
            },
        )
        assert (
            unsigned.status_code == 403 and unsigned.json()["__type"] == "MissingAuthenticationTokenException"
        )


class _Captured(Exception):
    pass


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


def test_distributed_map_runs_are_listed_and_described(sfn: Any) -> None:
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "MaxConcurrency": 3,
                "ToleratedFailureCount": 1,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "End": True}},
                },
                "End": True,
            }
        },
    }
    arn = sfn.create_state_machine(name="map-runs", definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps([1, 2, 3, 4]))["executionArn"]
    assert _wait(sfn, execution)["status"] == "SUCCEEDED"
    runs = sfn.list_map_runs(executionArn=execution)["mapRuns"]
    assert len(runs) == 1 and runs[0]["executionArn"] == execution
    described = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
    assert described["status"] == "SUCCEEDED"
    assert described["maxConcurrency"] == 3 and described["toleratedFailureCount"] == 1
    assert described["itemCounts"]["total"] == 4 and described["itemCounts"]["succeeded"] == 4
    history = sfn.get_execution_history(executionArn=execution)["events"]
    started = next(e for e in history if e["type"] == "MapRunStarted")
    assert started["mapRunStartedEventDetails"]["mapRunArn"] == runs[0]["mapRunArn"]


def test_a_signature_older_than_fifteen_minutes_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A captured signed request cannot be replayed later: AWS's 15-minute window."""
    import datetime as dt

    import botocore.auth

    app, _service = build(str(tmp_path), host="0.0.0.0", credentials={"AKIDGOOD": "s3cret"})
    with TestClient(app, base_url="http://localhost") as http:

        def signed_at(moment: dt.datetime) -> httpx.Response:
            monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: moment.replace(tzinfo=None))
            return _send_signed(http, "AKIDGOOD", "s3cret")

        now = dt.datetime.now(tz=dt.UTC)
        assert signed_at(now).status_code == 200
        stale = signed_at(now - dt.timedelta(minutes=20))
        assert stale.status_code == 403 and stale.json()["__type"] == "InvalidSignatureException"
        assert "Signature expired" in stale.json()["message"]
        early = signed_at(now + dt.timedelta(minutes=20))
        assert early.status_code == 403 and "not yet current" in early.json()["message"]


def test_an_activity_token_still_works_after_the_server_restarts(tmp_path: Path) -> None:
    """A worker took an activity task, the server restarted, the worker answers with its token."""
    from botocore.exceptions import ClientError

    data_dir = str(tmp_path / "data")
    with live_server(data_dir) as (endpoint, _service):
        sfn = client(endpoint)
        activity = sfn.create_activity(name="slow-worker")["activityArn"]
        definition = {
            "StartAt": "Work",
            "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
        }
        arn = sfn.create_state_machine(name="uses-activity", definition=json.dumps(definition), roleArn=ROLE)[
            "stateMachineArn"
        ]
        execution = sfn.start_execution(stateMachineArn=arn, input='{"job": 1}')["executionArn"]
        task = sfn.get_activity_task(activityArn=activity, workerName="w1")
        token = task["taskToken"]
        assert json.loads(task["input"]) == {"job": 1}
    with live_server(data_dir) as (endpoint, _service):  # the same store: the execution resumes
        sfn = client(endpoint)
        deadline = time.time() + 10
        while True:
            try:
                sfn.send_task_success(taskToken=token, output='{"done": true}')
                break
            except ClientError as err:
                assert err.response["Error"]["Code"] == "TaskDoesNotExist" and time.time() < deadline
                time.sleep(0.05)
        described = _wait(sfn, execution)
        assert described["status"] == "SUCCEEDED", described
        assert json.loads(described["output"]) == {"done": True}
