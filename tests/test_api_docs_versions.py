"""State machine versions and aliases as the API Reference documents them.

Each test names the operation and field (or error) of the AWS Step Functions API Reference it checks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api_replay import client, live_server

ROLE = "arn:aws:iam::123456789012:role/r"
OTHER_ROLE = "arn:aws:iam::123456789012:role/other"


def _definition(result: int) -> str:
    return json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": result, "End": True}}})


@pytest.fixture(scope="module")
def sfn() -> Iterator[Any]:
    with live_server() as (endpoint, _service):
        yield client(endpoint)


_count = iter(range(10_000))


def _machine(sfn: Any, **kwargs: Any) -> dict[str, Any]:
    return sfn.create_state_machine(  # type: ignore[no-any-return]
        name=f"m{next(_count)}", definition=_definition(0), roleArn=ROLE, **kwargs
    )


def _error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_create_with_publish_returns_version_1(sfn: Any) -> None:
    """CreateStateMachine (publish, stateMachineVersionArn): publish=true publishes the first
    revision as version 1; the response holds its ARN, and DescribeStateMachine of it holds the
    versionDescription as `description`."""
    out = _machine(sfn, publish=True, versionDescription="first")
    assert out["stateMachineVersionArn"] == out["stateMachineArn"] + ":1"
    described = sfn.describe_state_machine(stateMachineArn=out["stateMachineVersionArn"])
    assert described["description"] == "first" and described["definition"] == _definition(0)


def test_create_without_publish_has_no_version(sfn: Any) -> None:
    """CreateStateMachine (stateMachineVersionArn): returned only when publish is true."""
    out = _machine(sfn)
    assert "stateMachineVersionArn" not in out
    assert (
        sfn.list_state_machine_versions(stateMachineArn=out["stateMachineArn"])["stateMachineVersions"] == []
    )


def test_version_description_requires_publish(sfn: Any) -> None:
    """CreateStateMachine / UpdateStateMachine (versionDescription): may only be set when publish is
    true → ValidationException otherwise."""
    code, _ = _error(
        sfn.create_state_machine, name="vd", definition=_definition(0), roleArn=ROLE, versionDescription="d"
    )
    assert code == "ValidationException"
    arn = _machine(sfn)["stateMachineArn"]
    code, _ = _error(
        sfn.update_state_machine, stateMachineArn=arn, roleArn=OTHER_ROLE, versionDescription="d"
    )
    assert code == "ValidationException"


def test_update_changes_revision_only_when_something_changes(sfn: Any) -> None:
    """UpdateStateMachine (revisionId): a new revision identifier for a changed definition or role;
    an update that changes nothing keeps the current one."""
    arn = _machine(sfn)["stateMachineArn"]
    first = sfn.update_state_machine(stateMachineArn=arn, roleArn=OTHER_ROLE)["revisionId"]
    same = sfn.update_state_machine(stateMachineArn=arn, roleArn=OTHER_ROLE)["revisionId"]
    changed = sfn.update_state_machine(stateMachineArn=arn, definition=_definition(1))["revisionId"]
    assert first == same != changed
    assert sfn.describe_state_machine(stateMachineArn=arn)["revisionId"] == changed


def test_update_with_publish_publishes_a_new_revision(sfn: Any) -> None:
    """UpdateStateMachine (publish, stateMachineVersionArn): publish=true with a change publishes the
    new revision as the next version."""
    out = _machine(sfn, publish=True)
    update = sfn.update_state_machine(
        stateMachineArn=out["stateMachineArn"], definition=_definition(1), publish=True
    )
    assert update["stateMachineVersionArn"] == out["stateMachineArn"] + ":2"
    described = sfn.describe_state_machine(stateMachineArn=update["stateMachineVersionArn"])
    assert described["definition"] == _definition(1) and described["revisionId"] == update["revisionId"]


def test_update_with_publish_and_no_change_returns_the_existing_version(sfn: Any) -> None:
    """UpdateStateMachine (publish) and PublishStateMachineVersion: publishing is idempotent; a
    revision already published is not published twice, its version is returned."""
    out = _machine(sfn, publish=True)
    again = sfn.update_state_machine(
        stateMachineArn=out["stateMachineArn"], definition=_definition(0), publish=True
    )
    assert again["stateMachineVersionArn"] == out["stateMachineVersionArn"]
    versions = sfn.list_state_machine_versions(stateMachineArn=out["stateMachineArn"])["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in versions] == [out["stateMachineVersionArn"]]


def test_publish_checks_the_revision_id(sfn: Any) -> None:
    """PublishStateMachineVersion (revisionId): publishes only if it matches the current revision,
    else ConflictException; INITIAL names the revision of a state machine never updated."""
    arn = _machine(sfn)["stateMachineArn"]
    assert sfn.publish_state_machine_version(stateMachineArn=arn, revisionId="INITIAL")[
        "stateMachineVersionArn"
    ] == (arn + ":1")
    revision = sfn.update_state_machine(stateMachineArn=arn, definition=_definition(1))["revisionId"]
    code, _ = _error(sfn.publish_state_machine_version, stateMachineArn=arn, revisionId="INITIAL")
    assert code == "ConflictException"
    published = sfn.publish_state_machine_version(stateMachineArn=arn, revisionId=revision)
    assert published["stateMachineVersionArn"] == arn + ":2"


def test_version_numbers_are_never_reused(sfn: Any) -> None:
    """DeleteStateMachineVersion / PublishStateMachineVersion: version numbers increase; a deleted
    version's number is not given again."""
    arn = _machine(sfn, publish=True)["stateMachineArn"]
    sfn.update_state_machine(stateMachineArn=arn, definition=_definition(1), publish=True)
    sfn.delete_state_machine_version(stateMachineVersionArn=arn + ":2")
    out = sfn.update_state_machine(stateMachineArn=arn, definition=_definition(2), publish=True)
    assert out["stateMachineVersionArn"] == arn + ":3"
    listed = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in listed] == [arn + ":3", arn + ":1"]  # newest first


def test_version_description_length_limit(sfn: Any) -> None:
    """PublishStateMachineVersion (description): at most 256 characters → ValidationException."""
    arn = _machine(sfn)["stateMachineArn"]
    code, message = _error(sfn.publish_state_machine_version, stateMachineArn=arn, description="x" * 257)
    assert code == "ValidationException" and "256" in message


def test_deleting_a_version_an_alias_routes_to_conflicts(sfn: Any) -> None:
    """DeleteStateMachineVersion: a version referenced by an alias cannot be deleted → ConflictException."""
    out = _machine(sfn, publish=True)
    version = out["stateMachineVersionArn"]
    sfn.create_state_machine_alias(
        name="live", routingConfiguration=[{"stateMachineVersionArn": version, "weight": 100}]
    )
    code, message = _error(sfn.delete_state_machine_version, stateMachineVersionArn=version)
    assert code == "ConflictException" and "live" in message


def test_routing_configuration_rules(sfn: Any) -> None:
    """CreateStateMachineAlias (routingConfiguration): one or two versions, weights summing to 100,
    distinct versions of one state machine → ValidationException otherwise."""
    arn = _machine(sfn, publish=True)["stateMachineArn"]
    sfn.update_state_machine(stateMachineArn=arn, definition=_definition(1), publish=True)
    other = _machine(sfn, publish=True)["stateMachineVersionArn"]
    bad = [
        [{"stateMachineVersionArn": arn + ":1", "weight": 50}],
        [
            {"stateMachineVersionArn": arn + ":1", "weight": 50},
            {"stateMachineVersionArn": arn + ":1", "weight": 50},
        ],
        [
            {"stateMachineVersionArn": arn + ":1", "weight": 50},
            {"stateMachineVersionArn": other, "weight": 50},
        ],
    ]
    for routing in bad:
        assert (
            _error(sfn.create_state_machine_alias, name="a", routingConfiguration=routing)[0]
            == "ValidationException"
        )
    ok = [
        {"stateMachineVersionArn": arn + ":1", "weight": 30},
        {"stateMachineVersionArn": arn + ":2", "weight": 70},
    ]
    alias = sfn.create_state_machine_alias(name="split", routingConfiguration=ok)["stateMachineAliasArn"]
    assert sfn.describe_state_machine_alias(stateMachineAliasArn=alias)["routingConfiguration"] == ok


def test_missing_resources_messages(sfn: Any) -> None:
    """DescribeStateMachine → StateMachineDoesNotExist for a missing state machine or version;
    DescribeStateMachineAlias → ResourceNotFound for a missing alias."""
    arn = _machine(sfn)["stateMachineArn"]
    assert _error(sfn.describe_state_machine, stateMachineArn=arn + "x") == (
        "StateMachineDoesNotExist",
        f"State Machine Does Not Exist: '{arn}x'",
    )
    assert _error(sfn.describe_state_machine, stateMachineArn=arn + ":9")[0] == "StateMachineDoesNotExist"
    assert _error(sfn.describe_state_machine_alias, stateMachineAliasArn=arn + ":nope") == (
        "ResourceNotFound",
        f"Resource not found: '{arn}:nope'",
    )


def test_delete_state_machine_deletes_versions_and_aliases(sfn: Any) -> None:
    """DeleteStateMachine: also deletes all versions and aliases of the state machine."""
    out = _machine(sfn, publish=True)
    alias = sfn.create_state_machine_alias(
        name="gone",
        routingConfiguration=[{"stateMachineVersionArn": out["stateMachineVersionArn"], "weight": 100}],
    )["stateMachineAliasArn"]
    sfn.delete_state_machine(stateMachineArn=out["stateMachineArn"])
    assert _error(sfn.describe_state_machine, stateMachineArn=out["stateMachineVersionArn"])[0] == (
        "StateMachineDoesNotExist"
    )
    assert _error(sfn.describe_state_machine_alias, stateMachineAliasArn=alias)[0] == "ResourceNotFound"


def test_start_execution_of_a_version_and_an_alias(sfn: Any) -> None:
    """StartExecution (stateMachineArn): a version or alias ARN starts that version; DescribeExecution
    names it in stateMachineVersionArn / stateMachineAliasArn."""
    out = _machine(sfn, publish=True)
    version = out["stateMachineVersionArn"]
    sfn.update_state_machine(stateMachineArn=out["stateMachineArn"], definition=_definition(5))
    alias = sfn.create_state_machine_alias(
        name="prod", routingConfiguration=[{"stateMachineVersionArn": version, "weight": 100}]
    )["stateMachineAliasArn"]
    by_version = sfn.start_execution(stateMachineArn=version)["executionArn"]
    by_alias = sfn.start_execution(stateMachineArn=alias)["executionArn"]
    described = sfn.describe_execution(executionArn=by_version)
    assert described["stateMachineVersionArn"] == version and "stateMachineAliasArn" not in described
    described = sfn.describe_execution(executionArn=by_alias)
    assert described["stateMachineAliasArn"] == alias and described["stateMachineVersionArn"] == version
