"""TestState as the API Reference and the Developer Guide (testing states) document it.

Each test names the request field (or rule) it checks.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from workflows.asl.errors import ServiceError
from workflows.service.service import StepFunctionsService
from workflows.service.store import Store

ROLE = "arn:aws:iam::123456789012:role/r"
LAMBDA = {
    "Type": "Task",
    "Resource": "arn:aws:states:::lambda:invoke",
    "Parameters": {"FunctionName": "f", "Payload.$": "$"},
    "ResultSelector": {"p.$": "$.Payload"},
    "End": True,
}
CALLBACK = {
    "Type": "Task",
    "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
    "Parameters": {"FunctionName": "f", "Payload": {"token.$": "$$.Task.Token"}},
    "End": True,
}
MAP = {
    "Type": "Map",
    "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": True}}},
    "End": True,
}


def _test_state(tmp_path: Path, definition: Any, **request: Any) -> dict[str, Any]:
    params = {"definition": json.dumps(definition), **request}

    async def run() -> dict[str, Any]:
        service = StepFunctionsService(Store(tmp_path))
        try:
            return await service.call("TestState", params)
        finally:
            await service.close()

    return asyncio.run(run())


def _refused(tmp_path: Path, definition: Any, **request: Any) -> ServiceError:
    with pytest.raises(ServiceError) as err:
        _test_state(tmp_path, definition, **request)
    return err.value


def test_task_without_mock_needs_a_role(tmp_path: Path) -> None:
    """roleArn: optional, but required to test a Task state when no mock is given → ValidationException."""
    assert _refused(tmp_path, LAMBDA, input="{}").code == "ValidationException"


def test_task_with_mock_needs_no_role(tmp_path: Path) -> None:
    """roleArn / mock: a mocked Task state runs without a role; the mock result is the task result."""
    out = _test_state(tmp_path, LAMBDA, input="{}", mock={"result": '{"Payload": 7}'})
    assert out["status"] == "SUCCEEDED" and json.loads(out["output"]) == {"p": 7}


def test_flow_states_need_no_role(tmp_path: Path) -> None:
    """roleArn: Pass, Wait, Choice, Succeed and Fail states are tested without one."""
    for definition in (
        {"Type": "Pass", "End": True},
        {"Type": "Wait", "Seconds": 1, "End": True},
        {"Type": "Succeed"},
    ):
        assert _test_state(tmp_path, definition, input="{}")["status"] == "SUCCEEDED"
    assert _test_state(tmp_path, {"Type": "Fail", "Error": "E"})["status"] == "FAILED"


def test_task_token_only_for_callback_and_sync(tmp_path: Path) -> None:
    """context (Task.Token): a task token exists only for the .waitForTaskToken and .sync patterns;
    given for a request-response Task → ValidationException."""
    context = json.dumps({"Task": {"Token": "my-token"}})
    err = _refused(tmp_path, LAMBDA, input="{}", mock={"result": "{}"}, context=context)
    assert err.code == "ValidationException"


def test_given_task_token_is_used_as_given(tmp_path: Path) -> None:
    """context (Task.Token): the token given in the context object is the one $$.Task.Token reads."""
    out = _test_state(
        tmp_path,
        CALLBACK,
        input="{}",
        mock={"result": "{}"},
        context=json.dumps({"Task": {"Token": "my-token"}}),
        inspectionLevel="DEBUG",
    )
    parameters = json.loads(out["inspectionData"]["afterParameters"])
    assert parameters["Payload"] == {"token": "my-token"}


def test_context_needs_a_mock(tmp_path: Path) -> None:
    """context: supported only when a mock is specified → ValidationException otherwise."""
    err = _refused(tmp_path, {"Type": "Pass", "End": True}, context="{}")
    assert err.code == "ValidationException"


def test_context_map_field_is_refused(tmp_path: Path) -> None:
    """context: the Map field cannot be mocked in the context object → ValidationException."""
    err = _refused(tmp_path, LAMBDA, mock={"result": "{}"}, context=json.dumps({"Map": {"Item": {}}}))
    assert err.code == "ValidationException"


def test_map_failure_count_cannot_exceed_the_iterations(tmp_path: Path) -> None:
    """stateConfiguration (mapIterationFailureCount): failed iterations of the mocked Map; more than
    its iterations → ValidationException."""
    err = _refused(
        tmp_path,
        MAP,
        input="[1, 2]",
        mock={"result": "[1, 2]"},
        stateConfiguration={"mapIterationFailureCount": 3},
    )
    assert err.code == "ValidationException"


def test_map_failure_count_over_the_tolerance_fails(tmp_path: Path) -> None:
    """stateConfiguration (mapIterationFailureCount) with ToleratedFailureCount: more failures than
    tolerated → States.ExceedToleratedFailureThreshold."""
    out = _test_state(
        tmp_path,
        {**MAP, "ToleratedFailureCount": 1},
        input="[1, 2, 3]",
        mock={"result": "[1, 2, 3]"},
        stateConfiguration={"mapIterationFailureCount": 2},
    )
    assert out["status"] == "FAILED" and out["error"] == "States.ExceedToleratedFailureThreshold"


def test_map_and_parallel_need_a_mock(tmp_path: Path) -> None:
    """TestState supports Map and Parallel states only when a mock is specified."""
    assert _refused(tmp_path, MAP, input="[]").code == "InvalidDefinition"


def test_callback_tasks_need_a_mock(tmp_path: Path) -> None:
    """TestState supports .waitForTaskToken (and .sync, activities) only when a mock is specified."""
    assert _refused(tmp_path, CALLBACK, input="{}", roleArn=ROLE).code == "InvalidDefinition"


def test_mock_has_one_of_result_and_error_output(tmp_path: Path) -> None:
    """mock: one of result and errorOutput → ValidationException for both or neither."""
    both = {"result": "{}", "errorOutput": {"error": "E", "cause": "c"}}
    assert _refused(tmp_path, LAMBDA, mock=both).code == "ValidationException"


def test_mocked_error_output_fails_the_state(tmp_path: Path) -> None:
    """mock (errorOutput): the Task fails with the mocked error and cause."""
    out = _test_state(tmp_path, LAMBDA, input="{}", mock={"errorOutput": {"error": "Boom", "cause": "why"}})
    assert (out["status"], out["error"], out["cause"]) == ("FAILED", "Boom", "why")


def test_state_name_picks_a_state_of_a_full_definition(tmp_path: Path) -> None:
    """stateName: the state to test in a full state machine definition; its nextState is reported."""
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {"Type": "Pass", "Result": 2, "Next": "C"},
            "C": {"Type": "Succeed"},
        },
    }
    out = _test_state(tmp_path, definition, stateName="B", input="{}")
    assert json.loads(out["output"]) == 2 and out["nextState"] == "C"


def test_unknown_state_name_is_refused(tmp_path: Path) -> None:
    """stateName: a name not in the definition → ValidationException."""
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    assert _refused(tmp_path, definition, stateName="Nope").code == "ValidationException"


def test_inspection_level_info_has_no_inspection_data(tmp_path: Path) -> None:
    """inspectionLevel INFO (the default): only the final state output."""
    out = _test_state(tmp_path, {"Type": "Pass", "End": True}, input='{"a": 1}')
    assert "inspectionData" not in out and json.loads(out["output"]) == {"a": 1}


@pytest.mark.parametrize("level", ["DEBUG", "TRACE"])
def test_inspection_level_debug_shows_the_data_flow(tmp_path: Path, level: str) -> None:
    """inspectionLevel DEBUG (and TRACE, which adds HTTP data for HTTP Tasks): the output plus each
    step of input and output processing (inspectionData input, afterInputPath, afterParameters,
    result, afterResultSelector, afterResultPath)."""
    definition = {**LAMBDA, "InputPath": "$.in", "ResultPath": "$.out"}
    out = _test_state(
        tmp_path,
        definition,
        input='{"in": {"x": 1}}',
        mock={"result": '{"Payload": 5}'},
        inspectionLevel=level,
    )
    data = {k: json.loads(v) if isinstance(v, str) else v for k, v in out["inspectionData"].items()}
    assert data["input"] == {"in": {"x": 1}} and data["afterInputPath"] == {"x": 1}
    assert data["afterParameters"] == {"FunctionName": "f", "Payload": {"x": 1}}
    assert data["result"] == {"Payload": 5} and data["afterResultSelector"] == {"p": 5}
    assert data["afterResultPath"] == {"in": {"x": 1}, "out": {"p": 5}}


def test_choice_reports_the_next_state(tmp_path: Path) -> None:
    """nextState: the state the tested state transitions to (Choice: the matching rule's Next)."""
    definition = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.a", "NumericEquals": 1, "Next": "One"}],
        "Default": "Other",
    }
    assert _test_state(tmp_path, definition, input='{"a": 1}')["nextState"] == "One"
    assert _test_state(tmp_path, definition, input='{"a": 2}')["nextState"] == "Other"


def test_mocked_error_output_needs_an_error(tmp_path: Path) -> None:
    """mock.errorOutput.error (API Reference, MockErrorOutput): required if mock.errorOutput is
    specified → ValidationException without it."""
    err = _refused(tmp_path, LAMBDA, input="{}", mock={"errorOutput": {"cause": "why"}})
    assert err.code == "ValidationException"


def test_mock_only_for_task_map_and_parallel(tmp_path: Path) -> None:
    """mock: can only be specified for Task, Map, or Parallel states; for another state type an
    exception is thrown (ValidationException)."""
    for definition in (
        {"Type": "Pass", "End": True},
        {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": True, "Next": "X"}], "Default": "X"},
    ):
        err = _refused(tmp_path, definition, input="{}", mock={"result": "{}"})
        assert err.code == "ValidationException"


@pytest.mark.parametrize(
    ("mode", "result", "accepted"),
    [
        ("STRICT", "{}", False),  # StartExecution's required executionArn / startDate are missing
        ("PRESENT", "{}", True),  # nothing present, nothing to check
        ("PRESENT", '{"StartDate": true}', False),  # present, but not a timestamp
        ("NONE", '{"StartDate": true}', True),
        (None, "{}", False),  # STRICT is the default
    ],
)
def test_field_validation_modes(tmp_path: Path, mode: str | None, result: str, accepted: bool) -> None:
    """mock.fieldValidationMode: STRICT (the default) needs every required field present and every
    present field to match the API's model; PRESENT checks only the fields present; NONE checks nothing.
    The model is the service's own (botocore's, here states:StartExecution)."""
    definition = {
        "Type": "Task",
        "Resource": "arn:aws:states:::states:startExecution",
        "Parameters": {"StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:x"},
        "End": True,
    }
    mock: dict[str, Any] = {"result": result}
    if mode is not None:
        mock["fieldValidationMode"] = mode
    if accepted:
        assert _test_state(tmp_path, definition, input="{}", mock=mock)["status"] == "SUCCEEDED"
    else:
        err = _refused(tmp_path, definition, input="{}", mock=mock)
        assert err.code == "ValidationException" and "Mock result schema validation error" in str(err)


@pytest.mark.parametrize(
    ("definition", "fields"),
    [
        (
            {"Type": "Pass", "InputPath": "$.a", "Parameters": {"x.$": "$"}, "End": True},
            {"input", "afterInputPath", "afterParameters", "afterResultSelector", "afterResultPath"},
        ),
        (
            {"Type": "Pass", "Result": 1, "End": True},
            {"input", "result", "afterResultSelector", "afterResultPath"},
        ),
        ({"Type": "Wait", "Seconds": 1, "End": True}, {"input", "afterInputPath"}),
        (
            {
                "Type": "Choice",
                "Choices": [{"Variable": "$.a", "NumericEquals": 1, "Next": "X"}],
                "Default": "Y",
            },
            {"input", "afterInputPath"},
        ),
        ({"Type": "Succeed"}, {"input", "afterInputPath"}),
        (
            {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $states.input.a %}", "End": True},
            {"input"},
        ),
    ],
)
def test_debug_inspection_data_by_state_type(
    tmp_path: Path, definition: dict[str, Any], fields: set[str]
) -> None:
    """inspectionData (API Reference): input is the raw state input; afterInputPath, afterParameters,
    afterResultSelector and afterResultPath are JSONPath steps, "not populated when QueryLanguage is
    JSONata"; result is the state's raw result (a Pass state's Result). A state shows the steps it has."""
    out = _test_state(tmp_path, definition, input='{"a": 1}', inspectionLevel="DEBUG")
    assert set(out["inspectionData"]) == fields


def test_jsonata_task_inspection_has_arguments_not_jsonpath_steps(tmp_path: Path) -> None:
    """inspectionData.afterArguments: the input after Arguments, present only for JSONata; the JSONPath
    steps are absent."""
    definition = {
        "Type": "Task",
        "QueryLanguage": "JSONata",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Arguments": {"FunctionName": "f", "Payload": "{% $states.input %}"},
        "End": True,
    }
    out = _test_state(tmp_path, definition, input='{"a": 1}', mock={"result": "{}"}, inspectionLevel="TRACE")
    data = out["inspectionData"]
    assert json.loads(data["afterArguments"]) == {"FunctionName": "f", "Payload": {"a": 1}}
    assert not {"afterInputPath", "afterParameters", "afterResultSelector", "afterResultPath"} & set(data)


def test_variables_after_the_state(tmp_path: Path) -> None:
    """inspectionData.variables: the workflow variables after the state ran: those set up in the request
    and those the state assigned."""
    definition = {"Type": "Pass", "Assign": {"b.$": "$.a"}, "End": True}
    out = _test_state(tmp_path, definition, input='{"a": 1}', variables='{"v": 0}', inspectionLevel="DEBUG")
    assert json.loads(out["inspectionData"]["variables"]) == {"v": 0, "b": 1}


def test_item_reader_data_stands_for_what_the_reader_reads(tmp_path: Path) -> None:
    """stateConfiguration.mapItemReaderData: the data an ItemReader reads, as found in its source; with a
    JSONPath Map it is parsed by ReaderConfig (here CSV) and counts the iterations a mocked failure count
    is checked against; the state input is not the items (ItemsPath does not apply)."""
    definition = {
        **MAP,
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
            "Parameters": {"Bucket": "b", "Key": "k"},
        },
        "ItemProcessor": {**MAP["ItemProcessor"], "ProcessorConfig": {"Mode": "DISTRIBUTED"}},
    }
    request = {"input": '{"Bucket": "b"}', "mock": {"result": "[1, 2]"}}
    out = _test_state(tmp_path, definition, **request, stateConfiguration={"mapItemReaderData": "h\n1\n2\n"})
    assert out["status"] == "SUCCEEDED" and json.loads(out["output"]) == [1, 2]
    err = _refused(
        tmp_path,
        definition,
        **request,
        stateConfiguration={"mapItemReaderData": "h\n1\n2\n", "mapIterationFailureCount": 3},
    )
    assert err.code == "ValidationException"
