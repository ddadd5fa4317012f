"""AWS's execution limits: history size and payload size."""

from __future__ import annotations

from workflows.engine.clock import FakeClock
from workflows.engine.interpreter import MAX_HISTORY_EVENTS
from workflows.engine.runner import run_definition


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


def test_wait_for_task_token_passes_its_token_through_parameters_and_resumes_on_success() -> None:
    import asyncio

    from workflows.asl.definition import load_definition
    from workflows.engine.interpreter import Interpreter
    from workflows.engine.runner import execution_info
    from workflows.engine.tasks import CallbackRegistry

    definition = load_definition(
        {
            "StartAt": "Ask",
            "States": {
                "Ask": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}},
                    "End": True,
                }
            },
        }
    )
    sent: list[str] = []
    callbacks = CallbackRegistry()

    class Queue:
        async def invoke(self, request):  # type: ignore[no-untyped-def]
            sent.append(request.parameters["MessageBody"]["token"])
            asyncio.get_running_loop().call_soon(callbacks.complete, request.task_token, {"answer": 42})
            return {"MessageId": "1"}

    async def go():  # type: ignore[no-untyped-def]
        run = Interpreter(definition, resolver=Queue(), clock=FakeClock(), callbacks=callbacks).start(
            execution_info(), {}
        )
        return await run.wait()

    outcome = asyncio.run(go())
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.output == {"answer": 42}
    assert len(sent) == 1 and len(sent[0]) >= 32  # an unguessable token


def test_a_fault_inside_the_engine_still_ends_the_execution() -> None:
    """A task resolver that breaks (not an ASL error) fails the execution instead of leaving it RUNNING."""
    from workflows.engine.resolvers import ChainResolver

    class Broken:
        def handles(self, request):  # type: ignore[no-untyped-def]
            return True

        async def invoke(self, request):  # type: ignore[no-untyped-def]
            raise ZeroDivisionError("boom")

    definition = {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "End": True}},
    }
    run = run_definition(definition, {}, clock=FakeClock(), resolver=ChainResolver(Broken()))
    assert run.outcome is not None
    assert (run.outcome.status, run.outcome.error) == ("FAILED", "States.Runtime")
    assert "ZeroDivisionError" in (run.outcome.cause or "")
    assert run.events[-1].type == "ExecutionFailed"
