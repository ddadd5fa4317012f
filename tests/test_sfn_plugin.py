"""workflows.testing's pytest plugin: the `sfn` fixture and its helpers, mocks and injected errors,
template functions in process, and --sfn-cov (its table, JSON and HTML, --sfn-cov-fail-under, xdist)."""

from __future__ import annotations

import importlib
import json
import os
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import INSTALLED, PLUGIN
from workflows.testing.runner import StateMachineRunner, TaskError

ROOT = Path(__file__).resolve().parents[1]
CHARGE_ARN = "arn:aws:lambda:us-east-1:123456789012:function:charge"

ORDER = {
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.total", "NumericGreaterThan": 100, "Next": "Charge"}],
            "Default": "Free",
        },
        "Charge": {
            "Type": "Task",
            "Resource": CHARGE_ARN,
            "ResultPath": "$.receipt",
            "Retry": [
                {
                    "ErrorEquals": ["CardDeclinedTemporarily"],
                    "IntervalSeconds": 2,
                    "BackoffRate": 2,
                    "MaxAttempts": 2,
                }
            ],
            "Catch": [{"ErrorEquals": ["CardDeclined"], "ResultPath": "$.error", "Next": "Declined"}],
            "Next": "Done",
        },
        "Free": {"Type": "Pass", "Result": "free", "ResultPath": "$.receipt", "Next": "Done"},
        "Declined": {"Type": "Fail", "Error": "Declined"},
        "Done": {"Type": "Succeed"},
    },
}


def receipt(event: dict[str, Any]) -> dict[str, Any]:
    return {"charged": event["total"]}


def throw(error: str) -> dict[str, Any]:
    return {"Throw": {"Error": error, "Cause": "mocked"}}


def plugin_args() -> list[str]:
    """An installed checkout loads the plugin by entry point; otherwise name it (twice is an error)."""
    return [] if INSTALLED else ["-p", PLUGIN]


# ----- running and reading an execution ----------------------------------------------------------------------


def test_a_run_gives_status_output_path_each_states_io_and_history(sfn: StateMachineRunner) -> None:
    execution = sfn.run(ORDER, {"total": 250}, handlers={"Charge": receipt})
    execution.assert_succeeded()
    execution.assert_path("Check", "Charge", "Done")
    assert execution.output == {"total": 250, "receipt": {"charged": 250}}
    assert execution.input_of("Charge") == {"total": 250}
    assert execution.output_of("Charge") == {"total": 250, "receipt": {"charged": 250}}
    assert execution.state("Charge").parameters == {"total": 250}
    assert execution.state("Charge").result == {"charged": 250}
    assert [e["type"] for e in execution.history][:3] == [
        "ExecutionStarted",
        "ChoiceStateEntered",
        "ChoiceStateExited",
    ]
    assert execution.history[-1]["type"] == "ExecutionSucceeded"
    assert [t.label() for t in execution.transitions] == ["Check Choices[0] -> Charge", "Charge next -> Done"]


def test_assert_path_names_where_the_paths_part(sfn: StateMachineRunner) -> None:
    execution = sfn.run(ORDER, {"total": 5})
    execution.assert_path("Check", "Free", "Done")
    with pytest.raises(AssertionError, match=r"path differs from step 1: expected \['Charge', 'Done'\]"):
        execution.assert_path("Check", "Charge", "Done")
    execution.assert_not_entered("Charge")
    with pytest.raises(AssertionError, match="never entered"):
        execution.assert_entered("Charge")


def test_a_mocked_error_on_the_first_two_attempts_is_retried_as_the_retry_block_says(
    sfn: StateMachineRunner,
) -> None:
    mocks = {"Charge": {"0-1": throw("CardDeclinedTemporarily"), "2": {"Return": {"charged": 250}}}}
    execution = sfn.run(ORDER, {"total": 250}, mocks=mocks)
    execution.assert_succeeded()
    execution.assert_retried("Charge", 2)
    assert execution.state("Charge").attempts == 3
    assert execution.state("Charge").retries == [0, 0]  # both by Retry[0]
    assert execution.elapsed == 2 + 4  # IntervalSeconds 2, BackoffRate 2, on virtual time
    assert execution.output["receipt"] == {"charged": 250}


def test_a_mocked_error_on_attempt_2_is_past_max_attempts_and_not_retried(sfn: StateMachineRunner) -> None:
    execution = sfn.run(ORDER, {"total": 250}, mocks={"Charge": {"0-2": throw("CardDeclinedTemporarily")}})
    execution.assert_failed("CardDeclinedTemporarily")
    execution.assert_retried("Charge", 2)  # MaxAttempts 2: the third failure (attempt 2) ends it
    with pytest.raises(AssertionError, match="was retried 2 time"):
        execution.assert_retried("Charge", 3)


def test_a_mock_without_attempt_ranges_answers_every_attempt(sfn: StateMachineRunner) -> None:
    execution = sfn.run(ORDER, {"total": 250}, mocks={"Charge": throw("CardDeclined")})
    execution.assert_path("Check", "Charge", "Declined")
    execution.assert_caught("Charge", "CardDeclined", index=0)
    execution.assert_failed("Declined")


def test_a_mock_file_as_step_functions_local_reads_it(sfn: StateMachineRunner, tmp_path: Path) -> None:
    config = {
        "StateMachines": {"Order": {"TestCases": {"Flaky": {"Charge": "FlakyCard"}}}},
        "MockedResponses": {
            "FlakyCard": {"0": throw("CardDeclinedTemporarily"), "1": {"Return": {"charged": 1}}}
        },
    }
    (tmp_path / "mocks.json").write_text(json.dumps(config))
    execution = sfn.run(ORDER, {"total": 250}, mocks=tmp_path / "mocks.json", test_case="Flaky")
    execution.assert_succeeded()
    execution.assert_retried("Charge", 1)


def test_an_injected_error_fails_the_attempts_named_then_the_handler_answers(sfn: StateMachineRunner) -> None:
    calls: list[int] = []

    def charge(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(context.attempt)
        return receipt(event)

    sfn.fail("Charge", "CardDeclinedTemporarily", attempts=[0])
    execution = sfn.run(ORDER, {"total": 250}, handlers={"Charge": charge})
    execution.assert_succeeded()
    execution.assert_retried("Charge", 1)
    assert calls == [1]  # the injected attempt never reached the handler
    assert execution.state("Charge").errors == ["CardDeclinedTemporarily"]


def test_an_injected_error_is_caught_as_the_catch_block_says(sfn: StateMachineRunner) -> None:
    execution = sfn.fail("Charge", "CardDeclined", "insufficient funds").run(
        ORDER, {"total": 250}, handlers={"Charge": receipt}
    )
    execution.assert_path("Check", "Charge", "Declined")
    execution.assert_caught("Charge", "CardDeclined", index=0)
    assert execution.output_of("Charge")["error"] == {"Error": "CardDeclined", "Cause": "insufficient funds"}


def test_times_fails_the_first_attempts(sfn: StateMachineRunner) -> None:
    sfn.fail("Charge", "CardDeclinedTemporarily", times=2)
    execution = sfn.run(ORDER, {"total": 250}, handlers={"Charge": receipt})
    execution.assert_succeeded()
    execution.assert_retried("Charge", 2)


def test_a_fault_or_mock_naming_no_task_state_is_refused(sfn: StateMachineRunner) -> None:
    with pytest.raises(ValueError, match=r"sfn.fail names \['Chrage'\]"):
        sfn.fail("Chrage", "X").run(ORDER, {"total": 250})
    sfn.faults.clear()
    with pytest.raises(ValueError, match=r"mocks names \['Free'\]"):
        sfn.run(ORDER, {"total": 250}, mocks={"Free": {"Return": 1}})


def test_a_task_nothing_answers_fails_the_execution_and_says_what_to_give(sfn: StateMachineRunner) -> None:
    execution = sfn.run(ORDER, {"total": 250})
    execution.assert_failed("States.Runtime")
    assert "Nothing answers state 'Charge'" in (execution.cause or "")


def test_handlers_by_state_resource_or_function_and_their_errors(sfn: StateMachineRunner) -> None:
    class CardDeclined(Exception):
        pass

    def declined(event: Any) -> Any:
        raise CardDeclined("no")

    for key in ("Charge", CHARGE_ARN, "charge"):
        execution = sfn.run(ORDER, {"total": 250}, handlers={key: declined})
        execution.assert_caught("Charge", "CardDeclined")
        assert json.loads(execution.output_of("Charge")["error"]["Cause"])["errorMessage"] == "no"

    def named(event: Any) -> Any:
        raise TaskError("CardDeclined", "by TaskError")

    execution = sfn.run(ORDER, {"total": 250}, handlers={"Charge": named})
    assert execution.output_of("Charge")["error"] == {"Error": "CardDeclined", "Cause": "by TaskError"}


def test_map_and_parallel_insides_are_in_the_execution(sfn: StateMachineRunner) -> None:
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Big?",
                    "States": {
                        "Big?": {
                            "Type": "Choice",
                            "Choices": [{"Variable": "$", "NumericGreaterThan": 10, "Next": "Big"}],
                            "Default": "Small",
                        },
                        "Big": {"Type": "Pass", "End": True},
                        "Small": {"Type": "Pass", "End": True},
                    },
                },
                "Next": "Both",
            },
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
                    {"StartAt": "Right", "States": {"Right": {"Type": "Pass", "End": True}}},
                ],
                "End": True,
            },
        },
    }
    execution = sfn.run(definition, [5, 50])
    execution.assert_path("Each", "Both")
    assert execution.path_of("Each", 0) == ["Big?", "Small"]
    assert execution.path_of("Each", 1) == ["Big?", "Big"]
    assert execution.path_of("Both", 1) == ["Right"]
    assert sorted(execution.entered) == sorted(
        ["Each", "Big?", "Small", "Big?", "Big", "Both", "Left", "Right"]
    )


# ----- template functions in process ------------------------------------------------------------------------


def _function_source(tag: str) -> str:
    return textwrap.dedent(
        f"""
        import os

        def handler(event, context):
            return {{"tag": "{tag}", "colour": os.environ["COLOUR"], "name": context.function_name,
                    "memory": context.memory_limit_in_mb, "event": event}}
        """
    )


def test_template_functions_run_in_process_with_their_own_code_and_environment(
    sfn: StateMachineRunner, tmp_path: Path
) -> None:
    # Two functions whose code is both `app.py`, as SAM's samples lay them out: each gets its own.
    for folder in ("red", "blue"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "app.py").write_text(_function_source(folder))
    (tmp_path / "template.yaml").write_text(
        textwrap.dedent(
            """
            Transform: AWS::Serverless-2016-10-31
            Resources:
              Red:
                Type: AWS::Serverless::Function
                Properties: {CodeUri: red/, Handler: app.handler, Runtime: python3.11, MemorySize: 512,
                             Environment: {Variables: {COLOUR: red}}}
              Blue:
                Type: AWS::Serverless::Function
                Properties: {CodeUri: blue/, Handler: app.handler, Runtime: python3.11,
                             Environment: {Variables: {COLOUR: blue}}}
              Machine:
                Type: AWS::Serverless::StateMachine
                Properties:
                  DefinitionUri: machine.asl.json
                  DefinitionSubstitutions: {RedArn: !GetAtt Red.Arn, BlueArn: !GetAtt Blue.Arn}
            """
        )
    )
    machine = {
        "StartAt": "R",
        "States": {
            "R": {"Type": "Task", "Resource": "${RedArn}", "ResultPath": "$.red", "Next": "B"},
            "B": {"Type": "Task", "Resource": "${BlueArn}", "ResultPath": "$.blue", "End": True},
        },
    }
    (tmp_path / "machine.asl.json").write_text(json.dumps(machine))
    before = dict(os.environ)
    execution = sfn.run(tmp_path / "machine.asl.json", {"n": 1}, template=tmp_path / "template.yaml")
    execution.assert_succeeded()
    red, blue = execution.output["red"], execution.output["blue"]
    assert (red["tag"], red["colour"], red["memory"]) == ("red", "red", 512)
    assert (blue["tag"], blue["colour"]) == ("blue", "blue")
    assert red["name"].endswith("-Red") and red["event"] == {"n": 1}
    assert dict(os.environ) == before  # the functions' environment was theirs only while they ran
    assert str(tmp_path / "red") not in sys.path


# ----- the plugin in a pytest run of its own (pytester) ---------------------------------------------------------

INNER_TESTS = f"""
ORDER = {ORDER!r}


def test_big_order(sfn):
    sfn.run(ORDER, {{"total": 250}}, handlers={{"Charge": lambda e: {{"ok": True}}}}).assert_path("Check", "Charge", "Done")


def test_free_order(sfn):
    sfn.run(ORDER, {{"total": 1}}).assert_path("Check", "Free", "Done")
"""


def test_the_fixture_comes_from_the_plugin_and_a_run_without_sfn_cov_reports_nothing(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_inner=INNER_TESTS)
    result = pytester.runpytest(*plugin_args())
    result.assert_outcomes(passed=2)
    assert "state machine coverage" not in result.stdout.str()


def test_sfn_cov_reports_an_uncovered_catch_in_the_table_json_and_html(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER_TESTS)
    result = pytester.runpytest(
        *plugin_args(), "--sfn-cov", "--sfn-cov-report=term,json:out/cov.json,html:out/html"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*state machine coverage*",
            "*<definition *>*2*4/5*2/2*1/1*1/1*0/1*0/1*72.7%*",
            "*not entered: Declined",
            "*not taken:   Charge Retry[[]0[]] -> Charge, Catch[[]0[]] -> Declined",
        ]
    )
    report = json.loads((pytester.path / "out" / "cov.json").read_text())
    (entry,) = report["definitions"]
    catch = next(e for e in entry["edges"] if e["kind"] == "catch")
    assert catch == {
        "from": "Charge",
        "to": "Declined",
        "kind": "catch",
        "index": 0,
        "observable": True,
        "covered": False,
        "hits": 0,
    }
    states = {s["name"]: s["covered"] for s in entry["states"]}
    assert states == {"Check": True, "Charge": True, "Free": True, "Declined": False, "Done": True}
    html = (pytester.path / "out" / "html" / "index.html").read_text()
    assert '<tr class="missed"><td>Charge</td><td>catch</td><td>0</td><td>Declined</td>' in html


def test_sfn_cov_fail_under_fails_a_passing_run_below_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER_TESTS)
    below = pytester.runpytest(*plugin_args(), "--sfn-cov-fail-under=90")
    below.assert_outcomes(passed=2)
    assert below.ret == pytest.ExitCode.TESTS_FAILED
    below.stdout.fnmatch_lines(["*FAIL Required state machine coverage of 90% not reached: 72.73%*"])
    met = pytester.runpytest(*plugin_args(), "--sfn-cov-fail-under=72.5")
    assert met.ret == pytest.ExitCode.OK
    met.stdout.fnmatch_lines(["*Required state machine coverage of 72.5% reached: 72.73%*"])


def test_sfn_cov_include_keeps_to_matching_definitions_and_nothing_measured_is_below_any_threshold(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_inner=INNER_TESTS)
    result = pytester.runpytest(*plugin_args(), "--sfn-cov-include=definitions/*", "--sfn-cov-fail-under=1")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*state machine coverage: no executions of definitions matching definitions/* through the sfn fixture*",
            "*FAIL Required state machine coverage of 1% not reached: 0.00%*",
        ]
    )


@pytest.mark.slow  # a pytest of its own with two xdist workers: seconds, not milliseconds
def test_under_xdist_the_workers_coverage_is_merged(pytester: pytest.Pytester) -> None:
    # Each worker runs the test once (--dist each) and takes a different branch: only a merge of the
    # two workers' coverage has both.
    pytester.makepyfile(
        test_inner=f"""
import os
ORDER = {ORDER!r}

def test_one_branch_per_worker(sfn):
    total = 250 if os.environ["PYTEST_XDIST_WORKER"] == "gw0" else 1
    sfn.run(ORDER, {{"total": total}}, handlers={{"Charge": lambda e: {{}}}}).assert_succeeded()
"""
    )
    result = pytester.runpytest_subprocess(
        *plugin_args(),
        "-n",
        "2",
        "--dist",
        "each",
        "-p",
        "no:cacheprovider",
        "--sfn-cov-report=json:cov.json",
    )
    result.assert_outcomes(passed=2)
    (entry,) = json.loads((pytester.path / "cov.json").read_text())["definitions"]
    assert entry["executions"] == 2
    covered = {(e["from"], e["kind"], e["index"]) for e in entry["edges"] if e["covered"]}
    assert {("Check", "choice", 0), ("Check", "default", None)} <= covered


def test_the_entry_point_names_an_importable_plugin_with_the_fixture(pytester: pytest.Pytester) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    target = pyproject["project"]["entry-points"]["pytest11"]["workflows"]
    module = importlib.import_module(target)
    assert callable(module.pytest_addoption)
    # The module the entry point names, loaded as pytest loads a plugin, gives tests the fixture.
    pytester.makepyfile(
        test_inner="""
def test_uses_the_fixture(sfn):
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    sfn.run(definition).assert_path("P")
"""
    )
    result = pytester.runpytest(*([] if INSTALLED else ["-p", target]), "--fixtures")
    result.stdout.fnmatch_lines(["sfn -- *", "*Run state machine definitions in process*"])
    pytester.runpytest(*([] if INSTALLED else ["-p", target])).assert_outcomes(passed=1)
