"""EXPRESS and STANDARD state machines: which operations each supports, from the API Reference.

Each test names the operation and the statement of the AWS Step Functions API Reference it checks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api_replay import client, live_server

ROLE = "arn:aws:iam::123456789012:role/r"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
EXPRESS_ARN_REFUSED = "Invalid Arn: 'Resource type not valid in this context: express'"
TYPE_NOT_SUPPORTED = "This operation is not supported by this type of state machine"


@pytest.fixture(scope="module")
def sfn() -> Iterator[Any]:
    with live_server() as (endpoint, _service):
        yield client(endpoint)


@pytest.fixture(scope="module")
def express(sfn: Any) -> tuple[str, str]:
    """(state machine ARN, an ended asynchronous express execution's ARN)."""
    arn = sfn.create_state_machine(name="fast", definition=PASS, roleArn=ROLE, type="EXPRESS")[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    time.sleep(0.2)
    return arn, execution


def _error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_start_execution_of_express_returns_an_express_arn(express: tuple[str, str]) -> None:
    """StartExecution (executionArn): an EXPRESS state machine's executions have `express` ARNs."""
    assert ":express:fast:" in express[1]


@pytest.mark.parametrize(
    "operation",
    [
        "describe_execution",
        "get_execution_history",
        "stop_execution",
        "redrive_execution",
        "describe_state_machine_for_execution",
    ],
)
def test_execution_operations_refuse_express_executions(
    sfn: Any, express: tuple[str, str], operation: str
) -> None:
    """DescribeExecution, GetExecutionHistory, StopExecution, RedriveExecution and
    DescribeStateMachineForExecution: "not supported by EXPRESS state machines"; the express ARN is
    refused as InvalidArn (its resource type is not valid there)."""
    code, message = _error(getattr(sfn, operation), executionArn=express[1])
    assert (code, message) == ("InvalidArn", EXPRESS_ARN_REFUSED)


def test_list_executions_refuses_an_express_state_machine(sfn: Any, express: tuple[str, str]) -> None:
    """ListExecutions: "not supported by EXPRESS state machines" → StateMachineTypeNotSupported."""
    assert _error(sfn.list_executions, stateMachineArn=express[0]) == (
        "StateMachineTypeNotSupported",
        TYPE_NOT_SUPPORTED,
    )


def test_start_sync_execution_refuses_a_standard_state_machine(sfn: Any) -> None:
    """StartSyncExecution: "not available for STANDARD workflows" → StateMachineTypeNotSupported."""
    arn = sfn.create_state_machine(name="slow", definition=PASS, roleArn=ROLE)["stateMachineArn"]
    assert _error(sfn.start_sync_execution, stateMachineArn=arn) == (
        "StateMachineTypeNotSupported",
        TYPE_NOT_SUPPORTED,
    )


def test_start_sync_execution_runs_an_express_state_machine(sfn: Any, express: tuple[str, str]) -> None:
    """StartSyncExecution: starts a synchronous Express execution and answers with its outcome
    (status, output, an `express` executionArn, the stateMachineArn)."""
    out = sfn.start_sync_execution(stateMachineArn=express[0], input='{"a": 1}')
    assert out["status"] == "SUCCEEDED" and json.loads(out["output"]) == {"a": 1}
    assert ":express:" in out["executionArn"] and out["stateMachineArn"] == express[0]


def test_standard_executions_keep_every_operation(sfn: Any) -> None:
    """DescribeExecution, GetExecutionHistory and ListExecutions serve STANDARD executions."""
    arn = sfn.create_state_machine(name="std", definition=PASS, roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert sfn.describe_execution(executionArn=execution)["executionArn"] == execution
    assert sfn.get_execution_history(executionArn=execution)["events"]
    assert sfn.list_executions(stateMachineArn=arn)["executions"]


@pytest.mark.parametrize(
    "resource",
    [
        "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "arn:aws:states:::states:startExecution.sync",
        "arn:aws:states:us-east-1:123456789012:activity:act",
    ],
)
def test_express_definitions_refuse_callbacks_sync_and_activities(sfn: Any, resource: str) -> None:
    """CreateStateMachine (type EXPRESS): Express workflows do not support .waitForTaskToken, .sync
    or activities (Developer Guide, Standard vs Express) → InvalidDefinition; STANDARD accepts them."""
    definition = json.dumps(
        {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "End": True}}}
    )
    code, message = _error(
        sfn.create_state_machine, name="cb", definition=definition, roleArn=ROLE, type="EXPRESS"
    )
    assert code == "InvalidDefinition" and "SCHEMA_VALIDATION_FAILED" in message
    arn = sfn.create_state_machine(name="cb-std", definition=definition, roleArn=ROLE)["stateMachineArn"]
    sfn.delete_state_machine(stateMachineArn=arn)
