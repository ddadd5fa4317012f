"""AWS's execution limits: history size and payload size."""

from __future__ import annotations

from workflows.clock import FakeClock
from workflows.interpreter import MAX_HISTORY_EVENTS
from workflows.runner import run_definition


def test_an_endless_loop_fails_when_its_history_reaches_the_quota() -> None:
    loop = {
        "StartAt": "Spin",
        "States": {
            "Spin": {"Type": "Pass", "Next": "Check"},
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.stop", "IsPresent": True, "Next": "Done"}],
                "Default": "Spin",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    run = run_definition(loop, {}, clock=FakeClock())
    assert run.outcome is not None
    assert run.outcome.status == "FAILED"
    assert run.outcome.error == "States.Runtime"
    assert len(run.events) == MAX_HISTORY_EVENTS
    assert run.events[-1].type == "ExecutionFailed"


def test_a_static_result_over_256_kib_fails_the_state() -> None:
    big = {"StartAt": "Big", "States": {"Big": {"Type": "Pass", "Result": "x" * (256 * 1024), "End": True}}}
    run = run_definition(big, {}, clock=FakeClock())
    assert run.outcome is not None
    assert (run.outcome.status, run.outcome.error) == ("FAILED", "States.DataLimitExceeded")
