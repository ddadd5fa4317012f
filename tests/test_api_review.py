"""Defects found in review of the durable API layer (store, service, api, server): one test each."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from starlette.testclient import TestClient

from tests.api_replay import client, live_server
from tests.api_replay import wait_for_end as _wait
from workflows.asl.errors import ServiceError
from workflows.service.server import build
from workflows.service.service import StepFunctionsService
from workflows.service.store import Store

ROLE = "arn:aws:iam::123456789012:role/r"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": 1}, "End": True}}})
WAIT = json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}})
FAIL = json.dumps({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "c"}}})


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Any]]:
    with live_server() as (endpoint, service):
        yield endpoint, service


@pytest.fixture(scope="module")
def sfn(served: tuple[str, Any]) -> Any:
    return client(served[0])


def _types(sfn: Any, arn: str) -> list[str]:
    return [e["type"] for e in sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]]


async def _service(tmp_path: Path) -> StepFunctionsService:
    service = StepFunctionsService(Store(tmp_path))
    await service.start()
    return service


def test_concurrent_redrives_start_one_run(tmp_path: Path) -> None:
    """Two RedriveExecution calls at once both succeeded and ran the execution twice (two runs
    writing the same event ids, one silently dropped by INSERT OR IGNORE)."""

    async def scenario() -> None:
        svc = await _service(tmp_path)
        try:
            sm = (await svc.create_state_machine(name="f", definition=FAIL, roleArn=ROLE))["stateMachineArn"]
            arn = (await svc.start_execution(stateMachineArn=sm, name="r"))["executionArn"]
            while (await svc.describe_execution(executionArn=arn))["status"] == "RUNNING":
                await asyncio.sleep(0.01)
            results = await asyncio.gather(
                svc.redrive_execution(executionArn=arn),
                svc.redrive_execution(executionArn=arn),
                return_exceptions=True,
            )
            errors = [r for r in results if isinstance(r, ServiceError)]
            assert len(errors) == 1 and errors[0].code == "ExecutionNotRedrivable", results
            while (await svc.describe_execution(executionArn=arn))["status"] == "RUNNING":
                await asyncio.sleep(0.01)
            events = (await svc.get_execution_history(executionArn=arn))["events"]
            assert [e["type"] for e in events].count("ExecutionRedriven") == 1
            assert [e["type"] for e in events].count("ExecutionFailed") == 2
        finally:
            await svc.close()

    asyncio.run(scenario())


def test_redrive_retried_with_same_client_token_is_idempotent(sfn: Any) -> None:
    """AWS returns the same answer to a retried RedriveExecution (same clientToken); this one said
    ExecutionNotRedrivable because the first call had already made the execution RUNNING."""
    activity = "arn:aws:states:us-east-1:123456789012:activity:redrive-later"
    definition = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": activity, "End": True}}}
    sm = sfn.create_state_machine(name="redrive-token", definition=json.dumps(definition), roleArn=ROLE)
    arn = sfn.start_execution(stateMachineArn=sm["stateMachineArn"], name="t")["executionArn"]
    assert _wait(sfn, arn)["status"] == "FAILED"  # the activity does not exist yet
    sfn.create_activity(name="redrive-later")
    first = sfn.redrive_execution(executionArn=arn, clientToken="token-1")
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"  # waits for a worker
    again = sfn.redrive_execution(executionArn=arn, clientToken="token-1")
    assert first["redriveDate"] == again["redriveDate"]
    with pytest.raises(ClientError) as err:
        sfn.redrive_execution(executionArn=arn, clientToken="token-2")
    assert err.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
    task = sfn.get_activity_task(activityArn=activity, workerName="w")
    sfn.send_task_success(taskToken=task["taskToken"], output="{}")
    assert _wait(sfn, arn)["status"] == "SUCCEEDED"
    assert _types(sfn, arn).count("ExecutionRedriven") == 1


def test_stop_right_after_start_stops_the_execution(tmp_path: Path) -> None:
    """StopExecution before the run's task had started answered success and wrote ABORTED to the row,
    with no ExecutionAborted event, while the execution went on running (and later overwrote it)."""

    async def scenario() -> None:
        svc = await _service(tmp_path)
        try:
            sm = (await svc.create_state_machine(name="w", definition=WAIT, roleArn=ROLE))["stateMachineArn"]
            arn = (await svc.start_execution(stateMachineArn=sm, name="s"))["executionArn"]
            await svc.stop_execution(executionArn=arn, error="Stop", cause="now")
            await asyncio.sleep(0.2)
            out = await svc.describe_execution(executionArn=arn)
            assert (out["status"], out.get("error"), out.get("cause")) == ("ABORTED", "Stop", "now")
            types = [e["type"] for e in (await svc.get_execution_history(executionArn=arn))["events"]]
            assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionAborted", types
            assert "WaitStateAborted" not in types and not svc._tasks  # AWS records none on a stop
        finally:
            await svc.close()

    asyncio.run(scenario())


def test_console_not_served_unauthenticated_off_loopback(tmp_path: Path) -> None:
    """Off loopback the API demands SigV4, but the console's JSON API (start, stop, redrive,
    UpdateStateMachine) was mounted beside it with only a double-submit CSRF check, which any
    non-browser client passes by sending the same value as cookie and header."""
    app, _service = build(str(tmp_path), host="0.0.0.0", credentials={"AKIDGOOD": "s3cret"})
    with TestClient(app, base_url="http://localhost") as http:
        http.cookies.set("wf_csrf", "x")
        listed = http.get("/console/api/state-machines")
        started = http.post(
            "/console/api/start",
            json={"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:nope"},
            headers={"x-csrf-token": "x"},
        )
        assert listed.status_code in (401, 403, 404), listed.text
        assert started.status_code in (401, 403, 404), started.text


def test_sigv4_binds_the_body_when_the_payload_hash_header_is_sent(tmp_path: Path) -> None:
    """A signed X-Amz-Content-SHA256 header was taken as the body's hash without checking it, so a
    captured signed request could be replayed with any other body."""
    import hashlib

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    app, _service = build(str(tmp_path), host="0.0.0.0", credentials={"AKIDGOOD": "s3cret"})
    body = b"{}"
    request = AWSRequest(
        method="POST",
        url="http://localhost/",
        data=body,
        headers={
            "X-Amz-Target": "AWSStepFunctions.ListActivities",
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest(),
        },
    )
    SigV4Auth(Credentials("AKIDGOOD", "s3cret"), "states", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    with TestClient(app, base_url="http://localhost") as http:
        assert http.post("/", content=body, headers=headers).status_code == 200
        forged = http.post("/", content=b'{"maxResults": 1}', headers=headers)
        assert forged.status_code == 403, forged.text
        assert forged.json()["__type"] == "InvalidSignatureException"


def test_engine_fault_before_the_run_ends_the_execution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception other than DefinitionError while compiling left the execution RUNNING forever
    (the task died with it); DefinitionError itself gave a FAILED execution with no history at all,
    on which RedriveExecution failed with InternalFailure (IndexError on the empty history)."""
    import workflows.asl.definition

    def broken(text: str, substitutions: Any = None) -> Any:
        raise RuntimeError("boom")

    async def scenario() -> None:
        svc = await _service(tmp_path)
        try:
            sm = (await svc.create_state_machine(name="p", definition=PASS, roleArn=ROLE))["stateMachineArn"]
            monkeypatch.setattr(workflows.asl.definition, "load_definition", broken)
            arn = (await svc.start_execution(stateMachineArn=sm, name="e"))["executionArn"]
            for _ in range(100):
                if (await svc.describe_execution(executionArn=arn))["status"] != "RUNNING":
                    break
                await asyncio.sleep(0.01)
            out = await svc.describe_execution(executionArn=arn)
            assert (out["status"], out.get("error")) == ("FAILED", "States.Runtime"), out
            types = [e["type"] for e in (await svc.get_execution_history(executionArn=arn))["events"]]
            assert types == ["ExecutionStarted", "ExecutionFailed"]
            monkeypatch.undo()
            await svc.redrive_execution(executionArn=arn)
        finally:
            await svc.close()

    asyncio.run(scenario())
