"""History around interruptions: what AWS records when a running state is stopped or abandoned."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from workflows.asl.definition import load_definition
from workflows.engine.clock import FakeClock
from workflows.engine.history import HistoryEvent
from workflows.engine.interpreter import Interpreter
from workflows.engine.runner import execution_info


def crash_and_resume(
    definition: Any, value: Any, crash_when: Callable[[list[str]], bool], pause: float = 0.0
) -> tuple[list[HistoryEvent], Any, Any]:
    """Run until `crash_when(event types)`, keep what had been recorded (as the store would have),
    kill the run, then start again from that history `pause` seconds later: (recorded, run, outcome)."""
    clock = FakeClock()
    info = execution_info(start_time=clock.now())

    async def first_life() -> list[HistoryEvent]:
        run = Interpreter(definition, clock=clock).start(info, value)
        while not crash_when([e.type for e in run.events]):
            await asyncio.sleep(0)
        recorded = list(run.events)
        assert run.task is not None
        run.task.cancel()
        return recorded

    recorded = asyncio.run(first_life())
    clock.advance(pause)

    async def second_life() -> tuple[Any, Any]:
        run = Interpreter(definition, clock=clock).start(info, value, history=recorded)
        return run, await run.wait()

    run, outcome = asyncio.run(second_life())
    return recorded, run, outcome


def test_stopping_an_execution_records_only_execution_aborted() -> None:
    """As AWS recorded a stopped Wait: no WaitStateAborted, ExecutionAborted linked to event 0."""
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
    assert types == ["ExecutionStarted", "WaitStateEntered", "ExecutionAborted"]
    assert run.events[-1].previous_event_id == 0


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


def test_a_resumed_execution_finishes_its_interrupted_state_without_entering_it_again() -> None:
    """After a crash the engine replays the recorded events: the Wait that was running is not entered
    a second time, and it ends at its original deadline."""
    definition = load_definition(
        {
            "StartAt": "Hold",
            "States": {
                "Hold": {"Type": "Wait", "Seconds": 100, "Next": "After"},
                "After": {"Type": "Pass", "Result": "done", "End": True},
            },
        }
    )
    recorded, run, outcome = crash_and_resume(
        definition,
        {},
        lambda types: types[-1:] == ["WaitStateEntered"],
        pause=40,  # restarted 40 s later
    )
    entered_at = recorded[-1].timestamp
    assert (outcome.status, outcome.output) == ("SUCCEEDED", "done")
    types = [e.type for e in run.events]
    assert types.count("WaitStateEntered") == 1
    assert types[-4:] == ["WaitStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]
    assert [e.id for e in run.events] == list(range(1, len(run.events) + 1))
    exited = next(e for e in run.events if e.type == "WaitStateExited")
    assert exited.timestamp == entered_at + 100  # the original deadline, not 100 s after the restart


def test_a_map_resumed_after_a_crash_runs_each_iteration_and_state_once() -> None:
    definition = load_definition(
        {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "MaxConcurrency": 1,
                    "ItemProcessor": {
                        "StartAt": "Hold",
                        "States": {
                            "Hold": {"Type": "Wait", "Seconds": 10, "Next": "Double"},
                            "Double": {
                                "Type": "Pass",
                                "Parameters": {"v.$": "States.MathAdd($, $)"},
                                "End": True,
                            },
                        },
                    },
                    "End": True,
                }
            },
        }
    )
    # crash while the second iteration waits: the first has finished
    _, run, outcome = crash_and_resume(
        definition, [1, 2, 3], lambda types: types.count("WaitStateEntered") >= 2
    )
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.output == [{"v": 2}, {"v": 4}, {"v": 6}]
    types = [e.type for e in run.events]
    assert types.count("MapStateStarted") == 1
    assert types.count("MapIterationStarted") == 3
    assert types.count("MapIterationSucceeded") == 3
    assert types.count("WaitStateEntered") == 3  # the interrupted Wait was not entered again
    assert types.count("PassStateEntered") == 3
    assert [e.id for e in run.events] == list(range(1, len(run.events) + 1))


def test_a_parallel_resumed_after_a_crash_runs_each_branch_state_once() -> None:
    definition = load_definition(
        {
            "StartAt": "Both",
            "States": {
                "Both": {
                    "Type": "Parallel",
                    "Branches": [
                        {
                            "StartAt": "Quick",
                            "States": {
                                "Quick": {"Type": "Wait", "Seconds": 5, "Next": "QuickDone"},
                                "QuickDone": {"Type": "Pass", "Result": "quick", "End": True},
                            },
                        },
                        {
                            "StartAt": "Slow",
                            "States": {
                                "Slow": {"Type": "Wait", "Seconds": 50, "Next": "SlowDone"},
                                "SlowDone": {"Type": "Pass", "Result": "slow", "End": True},
                            },
                        },
                    ],
                    "End": True,
                }
            },
        }
    )
    # crash once the quick branch has finished and the slow one waits
    _, run, outcome = crash_and_resume(definition, {}, lambda types: "PassStateExited" in types)
    assert (outcome.status, outcome.output) == ("SUCCEEDED", ["quick", "slow"])
    types = [e.type for e in run.events]
    assert types.count("ParallelStateStarted") == 1
    assert types.count("WaitStateEntered") == 2
    assert types.count("PassStateEntered") == 2
    assert [e.id for e in run.events] == list(range(1, len(run.events) + 1))


def test_a_task_token_survives_a_restart() -> None:
    """The waiting attempt is invoked again after a restart, with the token it had: a worker holding
    that token can still answer."""
    from workflows.engine.tasks import CallbackRegistry, TaskRequest

    definition = load_definition(
        {
            "StartAt": "Ask",
            "States": {
                "Ask": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"MessageBody": {"token.$": "$$.Task.Token"}},
                    "End": True,
                }
            },
        }
    )
    secret = b"k" * 32
    sent: list[str] = []

    class Queue:
        async def invoke(self, request: TaskRequest) -> Any:
            sent.append(request.parameters["MessageBody"]["token"])
            return {}

    clock = FakeClock()
    info = execution_info(start_time=clock.now())

    async def first_life() -> list[HistoryEvent]:
        run = Interpreter(
            definition, resolver=Queue(), clock=clock, callbacks=CallbackRegistry(secret)
        ).start(info, {})
        while not sent:
            await asyncio.sleep(0)
        recorded = list(run.events)
        assert run.task is not None
        run.task.cancel()
        return recorded

    recorded = asyncio.run(first_life())

    async def second_life() -> Any:
        callbacks = CallbackRegistry(secret)
        run = Interpreter(definition, resolver=Queue(), clock=clock, callbacks=callbacks).start(
            info, {}, history=recorded
        )
        while len(sent) < 2:
            await asyncio.sleep(0)
        assert callbacks.complete(sent[0], {"answer": "from the first worker"})  # the token from before
        return await run.wait()

    outcome = asyncio.run(second_life())
    assert sent[0] == sent[1]
    assert (outcome.status, outcome.output) == ("SUCCEEDED", {"answer": "from the first worker"})
    other = CallbackRegistry(b"other secret")
    assert other.token_for(info.execution_arn, 2, 0) != sent[0]  # derived with the store's secret


def test_a_resumed_execution_keeps_its_execution_timeout_deadline() -> None:
    def waiting(seconds: int) -> Any:
        return load_definition(
            {
                "TimeoutSeconds": 100,
                "StartAt": "Hold",
                "States": {"Hold": {"Type": "Wait", "Seconds": seconds, "End": True}},
            }
        )

    def entered(types: list[str]) -> bool:
        return types[-1:] == ["WaitStateEntered"]

    # restarted 60 s in: the 90 s Wait ends at 90 s, inside the 100 s budget
    _, _, outcome = crash_and_resume(waiting(90), {}, entered, pause=60)
    assert outcome.status == "SUCCEEDED"
    # restarted 95 s in: a 150 s Wait outlives the budget, which ends at 100 s, not 95 + 100
    _, run, outcome = crash_and_resume(waiting(150), {}, entered, pause=95)
    assert (outcome.status, outcome.error) == ("TIMED_OUT", "States.Timeout")
    assert run.events[-1].timestamp - run.events[0].timestamp == 100
