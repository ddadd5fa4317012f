"""Validation messages worded as AWS prints them: missing fields, empty arrays, unsupported fields,
transition targets. Where the API Reference and the Developer Guide give a rule but not its words, the
wording is the one AWS recorded in ../shared/conformance (named in the test) or measured and published
by others against AWS (named too); the rule itself is always the documented one.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from workflows.service.service import StepFunctionsService
from workflows.service.store import Store


def _diagnostics(tmp_path: Path, definition: Any) -> list[dict[str, Any]]:
    async def run() -> dict[str, Any]:
        service = StepFunctionsService(Store(tmp_path))
        try:
            return await service.call(
                "ValidateStateMachineDefinition", {"definition": json.dumps(definition)}
            )
        finally:
            await service.close()

    return asyncio.run(run())["diagnostics"]  # type: ignore[no-any-return]


def _triples(tmp_path: Path, definition: Any) -> list[tuple[str, str, str | None]]:
    return [(d["code"], d["message"], d.get("location")) for d in _diagnostics(tmp_path, definition)]


def test_missing_top_level_fields(tmp_path: Path) -> None:
    """A state machine needs StartAt and States. AWS (api test_create_delete_invalid_sm, recorded) lists
    the missing ones as 'These fields are required: [States, StartAt]' at '/'."""
    assert _triples(tmp_path, {}) == [
        ("SCHEMA_VALIDATION_FAILED", "These fields are required: [States, StartAt]", "/")
    ]
    assert _triples(tmp_path, {"StartAt": "A"}) == [
        ("SCHEMA_VALIDATION_FAILED", "These fields are required: [States]", "/")
    ]


@pytest.mark.parametrize(
    ("state", "missing"),
    [
        ({"End": True}, "Type"),
        ({"Type": "Task", "End": True}, "Resource"),
    ],
)
def test_missing_state_fields(tmp_path: Path, state: dict[str, Any], missing: str) -> None:
    """Every state has a Type; a Task has a Resource. The same 'These fields are required' wording, at the
    state's pointer."""
    found = _triples(tmp_path, {"StartAt": "A", "States": {"A": state}})
    assert ("SCHEMA_VALIDATION_FAILED", f"These fields are required: [{missing}]", "/States/A") in found


def test_choice_rule_without_next(tmp_path: Path) -> None:
    """A top-level choice rule needs Next; AWS (cfn-lint issue 4077, CloudFormation's message) says
    'These fields are required: [Next]' at the rule."""
    definition = {
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$", "StringMatches": "T"}], "Default": "S"},
            "S": {"Type": "Succeed"},
        },
    }
    assert _triples(tmp_path, definition) == [
        ("SCHEMA_VALIDATION_FAILED", "These fields are required: [Next]", "/States/C/Choices[0]")
    ]


def test_wait_needs_a_duration(tmp_path: Path) -> None:
    """Wait state (Developer Guide): exactly one of Seconds, Timestamp, SecondsPath, TimestampPath. None
    of them is a schema error at the state."""
    found = _triples(tmp_path, {"StartAt": "W", "States": {"W": {"Type": "Wait", "End": True}}})
    assert [(code, where) for code, _, where in found] == [("SCHEMA_VALIDATION_FAILED", "/States/W")]
    assert "Seconds" in found[0][1] and "TimestampPath" in found[0][1]
    two = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "Timestamp": "x", "End": True}}}
    assert [code for code, _, _ in _triples(tmp_path, two)] == ["SCHEMA_VALIDATION_FAILED"]


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        (
            {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [], "End": True}}},
            "/States/P/Branches",
        ),
        (
            {
                "StartAt": "C",
                "States": {"C": {"Type": "Choice", "Choices": [], "Default": "D"}, "D": {"Type": "Succeed"}},
            },
            "/States/C/Choices",
        ),
        (
            {
                "StartAt": "T",
                "States": {
                    "T": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::sns:publish",
                        "Retry": [{"ErrorEquals": []}],
                        "End": True,
                    }
                },
            },
            "/States/T/Retry[0]/ErrorEquals",
        ),
    ],
)
def test_empty_arrays(tmp_path: Path, definition: dict[str, Any], field: str) -> None:
    """Branches, Choices and a retrier's ErrorEquals are non-empty arrays (ASL, Developer Guide): an empty
    one is SCHEMA_VALIDATION_FAILED at the field, saying it must not be empty."""
    found = _triples(tmp_path, definition)
    assert any(
        code == "SCHEMA_VALIDATION_FAILED" and where == field and "empty" in text
        for code, text, where in found
    ), found


@pytest.mark.parametrize(
    ("field", "value"),
    [("TimeoutSeconds", 3), ("Catch", [{"ErrorEquals": ["States.ALL"], "Next": "A"}]), ("Retry", [])],
)
def test_field_not_supported_on_a_pass_state(tmp_path: Path, field: str, value: Any) -> None:
    """A field a state type does not take: AWS answers SCHEMA_VALIDATION_FAILED, "Field '<name>' is not
    supported", at the state (measured against AWS and published in floci issue 2735: TimeoutSeconds
    only on Task; Catch and Retry only on Task, Parallel and Map)."""
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", field: value, "End": True}}}
    assert ("SCHEMA_VALIDATION_FAILED", f"Field '{field}' is not supported", "/States/A") in _triples(
        tmp_path, definition
    )


def test_missing_end_state_has_no_location(tmp_path: Path) -> None:
    """MISSING_END_STATE ('Workflow has no terminal state') carries no location, and it alone is
    reported for a loop even with a state nothing reaches (floci PR 2786, measured against AWS)."""
    loop = {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}
    found = _diagnostics(tmp_path, {"StartAt": "A", "States": {**loop, "C": {"Type": "Pass", "Next": "A"}}})
    assert found == [
        {"severity": "ERROR", "code": "MISSING_END_STATE", "message": "Workflow has no terminal state"}
    ]


def test_missing_transition_targets_name_next_everywhere(tmp_path: Path) -> None:
    """MISSING_TRANSITION_TARGET says "Missing 'Next' target: <name>" whichever field names the state
    (Next, Default, a choice rule's Next), at that field's pointer; an unreachable state is "State "<name>"
    is not reachable." at the state (floci PR 2786, measured against AWS)."""
    definition = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.a", "IsPresent": True, "Next": "N1"}],
                "Default": "S",
            },
            "S": {"Type": "Succeed"},
            "U": {"Type": "Succeed"},
        },
    }
    found = _triples(tmp_path, definition)
    assert ("MISSING_TRANSITION_TARGET", "Missing 'Next' target: N1", "/States/C/Choices[0]/Next") in found
    assert ("MISSING_TRANSITION_TARGET", 'State "U" is not reachable.', "/States/U") in found
