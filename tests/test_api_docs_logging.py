"""Logging and tracing configuration of CreateStateMachine / UpdateStateMachine / DescribeStateMachine,
as the API Reference documents them.

Each test names the field (or error) it checks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api_replay import client, live_server

ROLE = "arn:aws:iam::123456789012:role/r"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
GROUP = "arn:aws:logs:us-east-1:123456789012:log-group:sfn-logs:*"


@pytest.fixture(scope="module")
def sfn() -> Iterator[Any]:
    with live_server() as (endpoint, _service):
        yield client(endpoint)


_count = iter(range(10_000))


def _create(sfn: Any, **kwargs: Any) -> str:
    return sfn.create_state_machine(  # type: ignore[no-any-return]
        name=f"l{next(_count)}", definition=PASS, roleArn=ROLE, **kwargs
    )["stateMachineArn"]


def _destination(arn: str = GROUP) -> list[dict[str, Any]]:
    return [{"cloudWatchLogsLogGroup": {"logGroupArn": arn}}]


def test_defaults(sfn: Any) -> None:
    """DescribeStateMachine (loggingConfiguration, tracingConfiguration): without them, level OFF,
    includeExecutionData false, no destinations; tracing enabled false."""
    described = sfn.describe_state_machine(stateMachineArn=_create(sfn))
    assert described["loggingConfiguration"] == {"level": "OFF", "includeExecutionData": False}
    assert described["tracingConfiguration"] == {"enabled": False}


def test_empty_configurations_take_the_defaults(sfn: Any) -> None:
    """LoggingConfiguration (level defaults to OFF, includeExecutionData to false) and
    TracingConfiguration (enabled defaults to false) given empty."""
    described = sfn.describe_state_machine(
        stateMachineArn=_create(sfn, loggingConfiguration={}, tracingConfiguration={})
    )
    assert described["loggingConfiguration"] == {"level": "OFF", "includeExecutionData": False}
    assert described["tracingConfiguration"] == {"enabled": False}


@pytest.mark.parametrize("level", ["ALL", "ERROR", "FATAL"])
def test_levels_with_a_destination_are_kept(sfn: Any, level: str) -> None:
    """LoggingConfiguration (level, includeExecutionData, destinations): returned as given."""
    config = {"level": level, "includeExecutionData": True, "destinations": _destination()}
    described = sfn.describe_state_machine(stateMachineArn=_create(sfn, loggingConfiguration=config))
    assert described["loggingConfiguration"] == config


@pytest.mark.parametrize(
    "config",
    [
        {"level": "ALL"},
        {"level": "ERROR", "destinations": []},
        {"level": "ALL", "destinations": _destination() + _destination()},
    ],
    ids=["no-destination", "empty-destinations", "two-destinations"],
)
def test_a_level_needs_exactly_one_destination(sfn: Any, config: dict[str, Any]) -> None:
    """LoggingConfiguration (destinations): a level other than OFF logs to one log group; none or
    several → InvalidLoggingConfiguration."""
    with pytest.raises(ClientError) as err:
        _create(sfn, loggingConfiguration=config)
    assert err.value.response["Error"]["Code"] == "InvalidLoggingConfiguration"


def test_destination_must_be_a_log_group_arn_ending_in_star(sfn: Any) -> None:
    """CloudWatchLogsLogGroup (logGroupArn): the ARN of the log group, ending with ':*'; otherwise
    InvalidLoggingConfiguration."""
    with pytest.raises(ClientError) as err:
        _create(sfn, loggingConfiguration={"level": "ALL", "destinations": _destination(GROUP[:-2])})
    assert err.value.response["Error"]["Code"] == "InvalidLoggingConfiguration"


def test_update_logging_and_tracing(sfn: Any) -> None:
    """UpdateStateMachine (loggingConfiguration, tracingConfiguration): replace the configuration;
    each change gives a new revisionId."""
    arn = _create(sfn)
    config = {"level": "ERROR", "includeExecutionData": False, "destinations": _destination()}
    first = sfn.update_state_machine(stateMachineArn=arn, loggingConfiguration=config)["revisionId"]
    second = sfn.update_state_machine(stateMachineArn=arn, tracingConfiguration={"enabled": True})[
        "revisionId"
    ]
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert described["loggingConfiguration"] == config and described["tracingConfiguration"] == {
        "enabled": True
    }
    assert first != second == described["revisionId"]
    sfn.update_state_machine(stateMachineArn=arn, loggingConfiguration={"level": "OFF"})
    assert sfn.describe_state_machine(stateMachineArn=arn)["loggingConfiguration"]["level"] == "OFF"


def test_update_with_nothing_is_missing_required_parameter(sfn: Any) -> None:
    """UpdateStateMachine: at least one of definition, roleArn, loggingConfiguration or
    tracingConfiguration → MissingRequiredParameter."""
    with pytest.raises(ClientError) as err:
        sfn.update_state_machine(stateMachineArn=_create(sfn))
    assert err.value.response["Error"]["Code"] == "MissingRequiredParameter"
