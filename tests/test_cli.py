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
