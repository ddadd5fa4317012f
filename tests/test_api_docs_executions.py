"""StopExecution and DescribeExecution of ended executions, as the API Reference documents them.

Each test names the operation and the field (or history event) it checks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api_replay import client, live_server

ROLE = "arn:aws:iam::123456789012:role/r"
WAIT = json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}})
TIMEOUT = json.dumps(
    {"TimeoutSeconds": 1, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}
)
FAIL = json.dumps({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Oops", "Cause": "because"}}})
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "End": True}}})


@pytest.fixture(scope="module")
def sfn() -> Iterator[Any]:
    with live_server() as (endpoint, _service):
        yield client(endpoint)


_count = iter(range(10_000))


def _start(sfn: Any, definition: str) -> str:
    arn = sfn.create_state_machine(name=f"x{next(_count)}", definition=definition, roleArn=ROLE)[
        "stateMachineArn"
    ]
    return sfn.start_execution(stateMachineArn=arn)["executionArn"]  # type: ignore[no-any-return]


def _ended(sfn: Any, arn: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.time() + timeout
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.time() > deadline:
            return described  # type: ignore[no-any-return]
        time.sleep(0.02)


def _events(sfn: Any, arn: str) -> list[dict[str, Any]]:
    return sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]  # type: ignore[no-any-return]


def _wait_entered(sfn: Any, arn: str) -> None:
    deadline = time.time() + 5
    while not any(e["type"] == "WaitStateEntered" for e in _events(sfn, arn)) and time.time() < deadline:
        time.sleep(0.02)


def test_stop_with_error_and_cause(sfn: Any) -> None:
    """StopExecution (error, cause): the execution ends ABORTED; its last event is ExecutionAborted
    whose executionAbortedEventDetails hold the given error and cause; DescribeExecution shows status
    ABORTED, a stopDate (StopExecution's), the error and cause, and no output."""
    arn = _start(sfn, WAIT)
    _wait_entered(sfn, arn)
    stopped = sfn.stop_execution(executionArn=arn, error="Halt", cause="operator")
    described = _ended(sfn, arn)
    assert described["status"] == "ABORTED" and described["stopDate"] == stopped["stopDate"]
    assert (described["error"], described["cause"]) == ("Halt", "operator") and "output" not in described
    events = _events(sfn, arn)
    assert [e["type"] for e in events][-2:] == ["WaitStateEntered", "ExecutionAborted"]
    assert events[-1]["executionAbortedEventDetails"] == {"error": "Halt", "cause": "operator"}


def test_stop_without_error_or_cause(sfn: Any) -> None:
    """StopExecution: error and cause are optional; without them ExecutionAborted's details and
    DescribeExecution hold neither."""
    arn = _start(sfn, WAIT)
    _wait_entered(sfn, arn)
    sfn.stop_execution(executionArn=arn)
    described = _ended(sfn, arn)
    assert described["status"] == "ABORTED" and "error" not in described and "cause" not in described
    last = _events(sfn, arn)[-1]
    assert last["type"] == "ExecutionAborted" and not last.get("executionAbortedEventDetails")


def test_stop_records_only_execution_aborted(sfn: Any) -> None:
    """StopExecution's history, as AWS recorded it (LocalStack's test_stop_execution snapshot, a Wait
    state stopped): ExecutionStarted, WaitStateEntered, ExecutionAborted; the interrupted state records
    no event of its own and ExecutionAborted's previousEventId is 0."""
    arn = _start(sfn, WAIT)
    _wait_entered(sfn, arn)
    sfn.stop_execution(executionArn=arn)
    _ended(sfn, arn)
    events = _events(sfn, arn)
    assert [(e["type"], e["previousEventId"]) for e in events] == [
        ("ExecutionStarted", 0),
        ("WaitStateEntered", 0),
        ("ExecutionAborted", 0),
    ]


def test_stopped_execution_is_redrivable(sfn: Any) -> None:
    """DescribeExecution (redriveStatus): an ABORTED execution can be redriven (REDRIVABLE)."""
    arn = _start(sfn, WAIT)
    _wait_entered(sfn, arn)
    sfn.stop_execution(executionArn=arn)
    described = _ended(sfn, arn)
    assert described["redriveStatus"] == "REDRIVABLE" and described["redriveCount"] == 0


def test_describe_failed_execution(sfn: Any) -> None:
    """DescribeExecution of a FAILED execution: error and cause of the failure, stopDate, no output;
    redriveStatus REDRIVABLE."""
    described = _ended(sfn, _start(sfn, FAIL))
    assert described["status"] == "FAILED" and "stopDate" in described
    assert (described["error"], described["cause"]) == ("Oops", "because") and "output" not in described
    assert described["redriveStatus"] == "REDRIVABLE"


def test_describe_timed_out_execution(sfn: Any) -> None:
    """DescribeExecution of an execution past its TimeoutSeconds, as AWS recorded it (LocalStack's
    test_global_timeout snapshot): executionArn, stateMachineArn, name, status TIMED_OUT, startDate,
    stopDate, input and inputDetails, redriveCount 0 and redriveStatus REDRIVABLE, and nothing else: no
    output, no error, no cause. The history ends with ExecutionTimedOut, whose details name States.Timeout."""
    arn = _start(sfn, TIMEOUT)
    described = _ended(sfn, arn, timeout=15)
    described.pop("ResponseMetadata", None)
    assert set(described) == {
        "executionArn",
        "stateMachineArn",
        "name",
        "status",
        "startDate",
        "stopDate",
        "input",
        "inputDetails",
        "redriveCount",
        "redriveStatus",
    }
    assert described["status"] == "TIMED_OUT" and described["redriveStatus"] == "REDRIVABLE"
    last = _events(sfn, arn)[-1]
    assert last["type"] == "ExecutionTimedOut"
    assert last["executionTimedOutEventDetails"]["error"] == "States.Timeout"


def test_describe_succeeded_execution(sfn: Any) -> None:
    """DescribeExecution of a SUCCEEDED execution: output (set only on success), no error or cause;
    redriveStatus NOT_REDRIVABLE with a reason."""
    described = _ended(sfn, _start(sfn, PASS))
    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == 1
    assert "error" not in described and "cause" not in described
    assert described["redriveStatus"] == "NOT_REDRIVABLE" and described["redriveStatusReason"]


def test_describe_running_execution(sfn: Any) -> None:
    """DescribeExecution of a RUNNING execution: no stopDate, output, error or cause."""
    arn = _start(sfn, WAIT)
    described = sfn.describe_execution(executionArn=arn)
    assert described["status"] == "RUNNING"
    assert not {"stopDate", "output", "error", "cause"} & set(described)
    sfn.stop_execution(executionArn=arn)


def test_an_execution_that_reached_the_history_quota_is_not_redrivable(sfn: Any) -> None:
    """DescribeExecution (redriveStatusReason) and RedriveExecution: a redrive appends events to the
    history, so an execution whose history holds 24,999 events or more is NOT_REDRIVABLE with
    "Execution history event limit exceeded." and RedriveExecution answers ExecutionNotRedrivable."""
    loop = json.dumps(
        {
            "StartAt": "A",
            "States": {
                "A": {"Type": "Pass", "Next": "B"},
                "B": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.stop", "IsPresent": True, "Next": "Done"}],
                    "Default": "A",
                },
                "Done": {"Type": "Succeed"},
            },
        }
    )
    arn = _start(sfn, loop)
    described = _ended(sfn, arn, timeout=60)
    assert described["status"] == "FAILED"
    assert (described["redriveStatus"], described["redriveStatusReason"]) == (
        "NOT_REDRIVABLE",
        "Execution history event limit exceeded.",
    )
    with pytest.raises(sfn.exceptions.ExecutionNotRedrivable) as info:
        sfn.redrive_execution(executionArn=arn)
    assert info.value.response["Error"]["Message"] == "Execution history event limit exceeded."
