"""A workflow that starts another (`states:startExecution`, `.sync`, `.sync:2`) on the same engine."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api_replay import client, live_server

ROLE = "arn:aws:iam::123456789012:role/r"


@pytest.fixture(scope="module")
def sfn() -> Iterator[Any]:
    with live_server() as (endpoint, _service):
        yield client(endpoint)


def _machine(sfn: Any, name: str, definition: dict[str, Any]) -> str:
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]


def _run(sfn: Any, arn: str, value: Any) -> dict[str, Any]:
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(value))["executionArn"]
    deadline = time.time() + 20
    while True:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING" or time.time() > deadline:
            return described
        time.sleep(0.02)


def _parent(resource: str) -> dict[str, Any]:
    return {
        "StartAt": "Child",
        "States": {
            "Child": {
                "Type": "Task",
                "Resource": resource,
                "Parameters": {"StateMachineArn.$": "$.arn", "Input.$": "$.input", "Name.$": "$.name"},
                "End": True,
            }
        },
    }


def test_sync_2_waits_for_the_child_and_gives_its_output_as_json(sfn: Any) -> None:
    child = _machine(
        sfn,
        "child-ok",
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"got.$": "$.n"}, "End": True}}},
    )
    parent = _machine(sfn, "parent-sync2", _parent("arn:aws:states:::states:startExecution.sync:2"))
    done = _run(sfn, parent, {"arn": child, "input": {"n": 7}, "name": "kid-1"})
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["Output"] == {"got": 7} and output["Input"] == {"n": 7}
    assert output["Status"] == "SUCCEEDED" and output["Name"] == "kid-1"
    assert output["ExecutionArn"].endswith(":execution:child-ok:kid-1")


def test_sync_fails_the_parent_with_the_childs_description(sfn: Any) -> None:
    child = _machine(
        sfn, "child-bad", {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope", "Cause": "no"}}}
    )
    parent = _machine(sfn, "parent-sync", _parent("arn:aws:states:::states:startExecution.sync"))
    done = _run(sfn, parent, {"arn": child, "input": {}, "name": "kid-2"})
    assert (done["status"], done["error"]) == ("FAILED", "States.TaskFailed")
    cause = json.loads(done["cause"])
    assert (cause["Status"], cause["Error"], cause["Cause"]) == ("FAILED", "Nope", "no")
    assert cause["Input"] == "{}"  # `.sync` keeps payloads as JSON text


def test_fire_and_forget_and_a_missing_machine(sfn: Any) -> None:
    child = _machine(
        sfn, "child-wait", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}}
    )
    parent = _machine(sfn, "parent-start", _parent("arn:aws:states:::states:startExecution"))
    done = _run(sfn, parent, {"arn": child, "input": {}, "name": "kid-3"})
    assert done["status"] == "SUCCEEDED", done
    started = json.loads(done["output"])
    assert started["ExecutionArn"].endswith(":execution:child-wait:kid-3")
    assert isinstance(started["StartDate"], int)
    missing = _run(sfn, parent, {"arn": child + "-gone", "input": {}, "name": "kid-4"})
    assert (missing["status"], missing["error"]) == (
        "FAILED",
        "StepFunctions.StateMachineDoesNotExistException",
    )
    assert "State Machine Does Not Exist" in missing["cause"]
