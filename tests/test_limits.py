"""AWS's execution limits: history size and payload size."""

from __future__ import annotations

import json
from typing import Any

import pytest

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


# ----- the 256 KiB payload limit, wherever AWS applies it ---------------------------------------------------

LIMIT = 256 * 1024


def _largest_payload(run: Any) -> int:
    from workflows.asl.payload import dumps

    sizes = [0]
    for event in run.events:
        for key in ("input", "output", "parameters"):
            if event.details and key in event.details:
                sizes.append(len(dumps(event.details[key]).encode()))
    return max(sizes)


def test_a_pass_chain_that_doubles_its_state_stops_at_the_limit() -> None:
    double = {"Type": "Pass", "Parameters": {"a.$": "$", "b.$": "$"}}
    states = {f"D{i}": {**double, "Next": f"D{i + 1}"} for i in range(30)}
    states["D30"] = {"Type": "Succeed"}
    run = run_definition({"StartAt": "D0", "States": states}, {"x": "x" * 100}, clock=FakeClock())
    assert run.outcome is not None
    assert (run.outcome.status, run.outcome.error) == ("FAILED", "States.DataLimitExceeded")
    assert run.outcome.cause is not None and run.outcome.cause.startswith("The state/task 'D")
    assert "exceeding the maximum number of bytes service limit" in run.outcome.cause
    assert _largest_payload(run) <= LIMIT  # nothing over the limit was ever recorded
    assert run.events[-2].type == "PassStateEntered"  # the state failed: no StateExited for it


def _exactly(size: int, filler: str = "x") -> dict[str, Any]:
    # {"v":"..."} is 8 bytes around the string
    per = len(filler.encode())
    return {"v": filler * ((size - 8) // per) + "x" * ((size - 8) % per)}


def test_the_limit_is_exact_at_256_kib_of_utf8() -> None:
    from workflows.asl.payload import exceeds_limit

    for filler in ("x", "é", "€", "😀"):
        assert not exceeds_limit(_exactly(LIMIT, filler))
        assert exceeds_limit(_exactly(LIMIT + 1, filler))
    # characters under the limit, bytes over it
    assert exceeds_limit({"v": "€" * (LIMIT // 3)})


def test_a_state_output_one_byte_over_fails_and_one_at_the_limit_passes() -> None:
    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"v.$": "$.s"}, "End": True}},
    }
    ok = run_definition(definition, {"s": "é" * ((LIMIT - 8) // 2)}, clock=FakeClock())
    over = run_definition(definition, {"s": "é" * ((LIMIT - 8) // 2) + "x"}, clock=FakeClock())
    assert ok.outcome is not None and ok.outcome.status == "SUCCEEDED"
    assert over.outcome is not None
    assert (over.outcome.status, over.outcome.error) == ("FAILED", "States.DataLimitExceeded")


def test_an_output_growing_a_little_each_state_fails_at_the_limit() -> None:
    """Each state adds to its input (ResultPath): the size check bounds the output from the input's
    bound without serialising it, and still fails the state whose output is over the limit, recording
    nothing over it."""
    chunk = 30 * 1024
    states: dict[str, Any] = {
        f"S{i}": {
            "Type": "Pass",
            "Parameters": {"s.$": "$.seed"},
            "ResultPath": f"$.k{i}",
            "Next": f"S{i + 1}",
        }
        for i in range(12)
    }
    states["S12"] = {"Type": "Succeed"}
    run = run_definition({"StartAt": "S0", "States": states}, {"seed": "x" * chunk}, clock=FakeClock())
    assert run.outcome is not None
    assert (run.outcome.status, run.outcome.error) == ("FAILED", "States.DataLimitExceeded")
    # {"seed": 30 KiB} and 30 KiB more per state: the output of S7 (nine strings) is the first over
    assert "'S7'" in (run.outcome.cause or "")
    assert _largest_payload(run) <= LIMIT


@pytest.mark.parametrize(
    ("state", "growth"),
    [
        # disjoint paths: together at most the input once; fixed = the template's keys and constants
        ({"Parameters": {"a.$": "$.x", "b.$": "$.y[0]", "c": 1}}, (2 + 6 * 3 + 4 + 6 * 3 + 4 + 6 + 4 + 1, 1)),
        # one path inside another: each may be all of the input
        ({"Parameters": {"a.$": "$.x", "b.$": "$.x.y"}}, (2 + 2 * (6 * 3 + 4), 2)),
        ({"Parameters": {"a.$": "$", "b.$": "$"}}, (2 + 2 * (6 * 3 + 4), 2)),
        # a number-valued intrinsic has a bounded result; a string-building one has not
        ({"Parameters": {"n.$": "States.MathAdd($.n, 1)"}}, (2 + 6 * 3 + 4 + 24, 0)),
        ({"Parameters": {"s.$": "States.Format('{}{}', $.s, $.s)"}}, None),
        # the context object, variables and indefinite paths are not parts of the input
        ({"Parameters": {"c.$": "$$.Execution.Input"}}, None),
        ({"Parameters": {"v.$": "$..x"}}, None),
        ({"InputPath": "$$.Execution.Input"}, None),
        # ResultPath puts the result into the input (and may make an object per step)
        ({"Parameters": {"a.$": "$.x"}, "ResultPath": "$.r"}, (2 + 6 * 3 + 4 + 6 * 1 + 6, 2)),
        ({"Result": {"k": "v"}, "ResultPath": "$.a.b"}, (len('{"k":"v"}') + 2 * (6 + 6), 1)),
        ({"Parameters": {"a.$": "$.x"}, "ResultPath": None}, (0, 1)),
        ({"Parameters": {"a.$": "$.x"}, "OutputPath": None}, (2, 0)),
        ({"OutputPath": "$.a"}, (0, 1)),
    ],
)
def test_a_pass_state_knows_how_its_output_grows(state: dict[str, Any], growth: Any) -> None:
    from workflows.asl.definition import load_definition

    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", **state, "End": True}}}
    compiled = load_definition(json.dumps(definition)).machine.states["P"]
    assert compiled.output_growth == growth


def test_the_growth_of_a_pass_state_bounds_its_real_output() -> None:
    """For templates over random inputs, the output is never larger than the bound said."""
    import random

    from workflows.asl.definition import load_definition
    from workflows.asl.payload import size

    rng = random.Random(5)
    templates = [
        {"Parameters": {"a.$": "$.x", "b.$": "$.y", "nested": {"c.$": "$.z[0]", "k": "é\n"}}},
        {
            "Parameters": {"a.$": "$", "b.$": "$.x", "n.$": "States.ArrayLength($.z)"},
            "ResultPath": "$.x.deep",
        },
        {"Parameters": ["$.x", {"a.$": "$.y"}], "ResultPath": "$.list"},
        {"Result": ["€", 1.5e300], "ResultPath": "$.y"},
        {"InputPath": "$.x", "Parameters": {"u.$": "States.UUID()", "x.$": "$"}},
    ]

    def text() -> str:
        return "".join(rng.choice(["a", '"', "\x00", "😀", "é"]) for _ in range(rng.randrange(20)))

    for template in templates:
        definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", **template, "End": True}}}
        growth = load_definition(json.dumps(definition)).machine.states["P"].output_growth
        assert growth is not None, template
        for _ in range(50):
            value = {"x": {"t": text()}, "y": [text(), -(10**17)], "z": [text(), {"q": 0.1}]}
            run = run_definition(definition, value, clock=FakeClock())
            assert run.outcome is not None and run.outcome.status == "SUCCEEDED"
            assert size(run.outcome.output) <= growth[0] + growth[1] * size(value)


def test_a_catcher_for_states_all_takes_an_output_over_the_limit() -> None:
    branch = {
        "StartAt": "Big",
        "States": {"Big": {"Type": "Pass", "Parameters": {"a.$": "$.s", "b.$": "$.s"}, "End": True}},
    }
    definition = {
        "StartAt": "Par",
        "States": {
            "Par": {
                "Type": "Parallel",
                "Branches": [branch],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Done"}],
                "End": True,
            },
            "Done": {"Type": "Pass", "Parameters": {"error.$": "$.error.Error"}, "End": True},
        },
    }
    run = run_definition(definition, {"s": "x" * (LIMIT // 2)}, clock=FakeClock())
    assert run.outcome is not None and run.outcome.status == "SUCCEEDED"
    assert run.outcome.output == {"error": "States.DataLimitExceeded"}


def test_task_parameters_over_the_limit_fail_before_the_task_is_invoked() -> None:
    from workflows.engine.resolvers import CallableResolver

    calls: list[Any] = []
    resolver = CallableResolver({"echo": lambda event, context: calls.append(event) or event})
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:echo",
                "Parameters": {"a.$": "$.s", "b.$": "$.s"},
                "End": True,
            }
        },
    }
    run = run_definition(definition, {"s": "x" * (LIMIT // 2)}, resolver=resolver, clock=FakeClock())
    assert run.outcome is not None
    assert (run.outcome.status, run.outcome.error) == ("FAILED", "States.DataLimitExceeded")
    assert calls == []


def test_a_map_item_selector_over_the_limit_fails_the_map() -> None:
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"a.$": "$.s", "b.$": "$.s"},
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "End": True,
            }
        },
    }
    run = run_definition(definition, {"items": [1], "s": "x" * (LIMIT // 2)}, clock=FakeClock())
    assert run.outcome is not None
    assert (run.outcome.status, run.outcome.error) == ("FAILED", "States.DataLimitExceeded")


def test_test_state_fails_an_output_over_the_limit() -> None:
    from tests.test_teststate import call

    definition = {"Type": "Pass", "Parameters": {"a.$": "$.s", "b.$": "$.s"}, "End": True}
    response = call(definition, input={"s": "x" * (LIMIT // 2)})
    assert response["status"] == "FAILED"
    assert response["error"] == "States.DataLimitExceeded"


# ----- deep nesting: refused where it is parsed, never a RecursionError ---------------------------------------


def _post(http: Any, op: str, body: str) -> Any:
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"AWSStepFunctions.{op}"}
    return http.post("/", content=body.encode(), headers=headers)


def test_nesting_too_deep_for_the_parser_gets_aws_errors_not_a_500(tmp_path: Any) -> None:
    from starlette.testclient import TestClient

    from workflows.service.server import build

    app, _ = build(str(tmp_path))
    deep = "[" * 100_000 + "]" * 100_000
    with TestClient(app, base_url="http://localhost") as http:
        response = _post(http, "ListStateMachines", '{"nextToken": ' + deep + "}")
        assert response.status_code == 400
        assert response.json()["__type"].endswith("SerializationException")
        definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
        created = _post(
            http,
            "CreateStateMachine",
            json.dumps(
                {"name": "p", "definition": json.dumps(definition), "roleArn": "arn:aws:iam::1:role/r"}
            ),
        ).json()
        started = _post(
            http,
            "StartExecution",
            json.dumps({"stateMachineArn": created["stateMachineArn"], "input": "[" * 5000 + "]" * 5000}),
        )
        assert started.status_code == 400
        assert started.json()["__type"].endswith("InvalidExecutionInput")
        assert "nesting depth" in started.json()["message"]
        shallow = _post(
            http,
            "StartExecution",
            json.dumps({"stateMachineArn": created["stateMachineArn"], "input": "[" * 900 + "]" * 900}),
        )
        assert shallow.status_code == 200


def test_test_state_refuses_input_nested_too_deep() -> None:
    from tests.test_teststate import call
    from workflows.asl.errors import ServiceError

    with pytest.raises(ServiceError) as caught:
        call({"Type": "Pass", "End": True}, input="[" * 50_000 + "]" * 50_000)
    assert caught.value.code == "InvalidExecutionInput"
