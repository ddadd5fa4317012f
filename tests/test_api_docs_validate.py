"""ValidateStateMachineDefinition as the API Reference documents it: result, diagnostics (codes and
severities), severity filter, maxResults and truncated.

Each test names the request or response field and the documented statement it checks.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from workflows.service.service import StepFunctionsService
from workflows.service.store import Store


def _validate(tmp_path: Path, definition: Any, **kwargs: Any) -> dict[str, Any]:
    text = definition if isinstance(definition, str) else json.dumps(definition)

    async def run() -> dict[str, Any]:
        service = StepFunctionsService(Store(tmp_path))
        try:
            return await service.call("ValidateStateMachineDefinition", {"definition": text, **kwargs})
        finally:
            await service.close()

    return asyncio.run(run())


def _codes(out: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d["code"], d["severity"]) for d in out["diagnostics"]]


def _pass(name: str, **fields: Any) -> dict[str, Any]:
    return {"StartAt": name, "States": {name: {"Type": "Pass", "End": True, **fields}}}


# A definition with only warnings: a Choice comparing with a path in StringEquals (NO_PATH) and a
# Parameters value that looks like a path without ".$" (NO_DOLLAR).
WARNED = {
    "StartAt": "C",
    "States": {
        "C": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.a", "StringEquals": "$.b", "Next": "T"}],
            "Default": "T",
        },
        "T": {"Type": "Pass", "Parameters": {"x": "$.y"}, "End": True},
    },
}


def test_valid_definition_is_ok_with_no_diagnostics(tmp_path: Path) -> None:
    """result: OK when the definition can be created; diagnostics empty, truncated false."""
    assert _validate(tmp_path, _pass("P")) == {"result": "OK", "diagnostics": [], "truncated": False}


def test_non_json_is_invalid_json_description(tmp_path: Path) -> None:
    """INVALID_JSON_DESCRIPTION: JSON syntax problem found (ERROR; result FAIL)."""
    out = _validate(tmp_path, "{not json")
    assert out["result"] == "FAIL" and _codes(out) == [("INVALID_JSON_DESCRIPTION", "ERROR")]


def test_blank_definition_is_missing_description(tmp_path: Path) -> None:
    """MISSING_DESCRIPTION: received a null or empty workflow input."""
    out = _validate(tmp_path, "   ")
    assert out["result"] == "FAIL" and _codes(out) == [("MISSING_DESCRIPTION", "ERROR")]


@pytest.mark.parametrize("definition", ["{}", "[]", '{"StartAt": "A"}'])
def test_not_a_state_machine_is_schema_validation_failed(tmp_path: Path, definition: str) -> None:
    """SCHEMA_VALIDATION_FAILED: schema validation reported errors (missing States/StartAt, not an object)."""
    out = _validate(tmp_path, definition)
    assert out["result"] == "FAIL" and ("SCHEMA_VALIDATION_FAILED", "ERROR") in _codes(out)


def test_documented_error_codes(tmp_path: Path) -> None:
    """INVALID_RESOURCE, MISSING_TRANSITION_TARGET, MISSING_END_STATE, DUPLICATE_STATE_NAME,
    INVALID_STATE_NAME and DUPLICATE_LABEL_NAME are each reported for their fault, as ERROR."""
    cases = {
        "INVALID_RESOURCE": {
            "StartAt": "T",
            "States": {"T": {"Type": "Task", "Resource": "not-an-arn", "End": True}},
        },
        "MISSING_TRANSITION_TARGET": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Nowhere"}}},
        "MISSING_END_STATE": {
            "StartAt": "A",
            "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}},
        },
        "DUPLICATE_STATE_NAME": {
            "StartAt": "P",
            "States": {
                "P": {
                    "Type": "Parallel",
                    "Branches": [_pass("P")],
                    "End": True,
                }
            },
        },
        "INVALID_STATE_NAME": _pass("x" * 81),
        "DUPLICATE_LABEL_NAME": {
            "StartAt": "M1",
            "States": {
                "M1": {"Type": "Map", "Label": "Same", "ItemProcessor": _pass("A"), "Next": "M2"},
                "M2": {"Type": "Map", "Label": "Same", "ItemProcessor": _pass("B"), "End": True},
            },
        },
    }
    for code, definition in cases.items():
        out = _validate(tmp_path, definition)
        assert out["result"] == "FAIL" and (code, "ERROR") in _codes(out), (code, out)


def test_severity_defaults_to_error_only(tmp_path: Path) -> None:
    """severity: the minimum level returned; the default is ERROR, so warnings are left out, and the
    result is OK (warnings do not prevent creating the state machine)."""
    assert _validate(tmp_path, WARNED) == {"result": "OK", "diagnostics": [], "truncated": False}


def test_severity_warning_returns_warnings_and_errors(tmp_path: Path) -> None:
    """severity WARNING returns WARNING and ERROR diagnostics; NO_PATH (a path-looking value in a field
    not ending in 'Path') and NO_DOLLAR (a path-looking value without '.$') are warnings; result OK."""
    out = _validate(tmp_path, WARNED, severity="WARNING")
    assert out["result"] == "OK"
    assert sorted(_codes(out)) == [("NO_DOLLAR", "WARNING"), ("NO_PATH", "WARNING")]
    assert {d["location"] for d in out["diagnostics"]} == {
        "/States/C/Choices[0]/StringEquals",
        "/States/T/Parameters/x",
    }


def test_pass_result_is_static_is_a_warning(tmp_path: Path) -> None:
    """PASS_RESULT_IS_STATIC: a path used in the Result of a Pass state (WARNING)."""
    out = _validate(tmp_path, _pass("P", Result={"a.$": "$.x"}), severity="WARNING")
    assert out["result"] == "OK" and _codes(out) == [("PASS_RESULT_IS_STATIC", "WARNING")]


def test_max_results_truncates(tmp_path: Path) -> None:
    """maxResults: diagnostics returned per call; when more were found, truncated is true."""
    definition = {"StartAt": "A", "States": {"A": {"Type": "Bogus"}, "B": {"Type": "Nope"}}}
    everything = _validate(tmp_path, definition)
    assert len(everything["diagnostics"]) >= 2 and everything["truncated"] is False
    one = _validate(tmp_path, definition, maxResults=1)
    assert len(one["diagnostics"]) == 1 and one["truncated"] is True and one["result"] == "FAIL"


def test_max_results_zero_means_the_default(tmp_path: Path) -> None:
    """maxResults: 0 also uses the default of 100."""
    definition = {"StartAt": "A", "States": {"A": {"Type": "Bogus"}, "B": {"Type": "Nope"}}}
    out = _validate(tmp_path, definition, maxResults=0)
    assert len(out["diagnostics"]) >= 2 and out["truncated"] is False


def test_type_express_refuses_callbacks(tmp_path: Path) -> None:
    """type: the target type; EXPRESS refuses .waitForTaskToken where STANDARD accepts it."""
    definition = {
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "End": True}
        },
    }
    assert _validate(tmp_path, definition)["result"] == "OK"
    out = _validate(tmp_path, definition, type="EXPRESS")
    assert out["result"] == "FAIL" and ("SCHEMA_VALIDATION_FAILED", "ERROR") in _codes(out)
