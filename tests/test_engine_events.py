"""History around interruptions: what AWS records when a running state is stopped or abandoned."""

from __future__ import annotations

import asyncio

from workflows.clock import FakeClock
from workflows.definition import load_definition
from workflows.interpreter import Interpreter
from workflows.runner import execution_info


def test_stopping_an_execution_aborts_its_running_state_then_the_execution() -> None:
    definition = load_definition(
        {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    )

    async def go():  # type: ignore[no-untyped-def]
        run = Interpreter(definition, clock=FakeClock()).start(execution_info(), {})
        await asyncio.sleep(0)
        run.stop("Operator", "stopped by hand")
        return run, await run.wait()

    run, outcome = asyncio.run(go())
    assert (outcome.status, outcome.error, outcome.cause) == ("ABORTED", "Operator", "stopped by hand")
    types = [e.type for e in run.events]
    assert types == ["ExecutionStarted", "WaitStateEntered", "WaitStateAborted", "ExecutionAborted"]


def test_a_failing_branch_aborts_the_sibling_still_waiting() -> None:
    definition = load_definition(
        {
            "StartAt": "Both",
            "States": {
                "Both": {
                    "Type": "Parallel",
                    "Branches": [
                        {"StartAt": "Slow", "States": {"Slow": {"Type": "Wait", "Seconds": 60, "End": True}}},
                        {
                            "StartAt": "Boom",
                            "States": {"Boom": {"Type": "Fail", "Error": "Boom", "Cause": "no"}},
                        },
                    ],
                    "End": True,
                }
            },
        }
    )

    async def go():  # type: ignore[no-untyped-def]
        run = Interpreter(definition, clock=FakeClock()).start(execution_info(), {})
        return run, await run.wait()

    run, outcome = asyncio.run(go())
    assert (outcome.status, outcome.error) == ("FAILED", "Boom")
    types = [e.type for e in run.events]
    assert "WaitStateAborted" in types
    assert (
        types.index("FailStateEntered") < types.index("WaitStateAborted") < types.index("ParallelStateFailed")
    )
    assert types[-1] == "ExecutionFailed"
