"""TestState (workflows/teststate.py) called directly: statuses, inspection data, mocks and their checks."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from workflows.asl.errors import ASLError, ServiceError
from workflows.engine.clock import FakeClock
from workflows.engine.interpreter import ExecutionRun
from workflows.engine.tasks import TaskRequest
from workflows.service.teststate import test_state as run_test_state


class RecordingResolver:
    """The service's own resolver, for tasks tested without a mock."""

    def __init__(self, result: Any = None, error: ASLError | None = None) -> None:
        self.result = result
        self.error = error
        self.requests: list[TaskRequest] = []

    async def invoke(self, request: TaskRequest) -> Any:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return self.result


@dataclass
class FakeService:
    region: str = "us-east-1"
    account: str = "111111111111"
    clock: Any = field(default_factory=FakeClock)
    resolver: Any = field(default_factory=RecordingResolver)


def call(definition: Any, service: FakeService | None = None, **request: Any) -> dict[str, Any]:
    for key in ("input", "variables", "context"):
        if key in request and not isinstance(request[key], str):
            request[key] = json.dumps(request[key])
    mock = request.get("mock")
    if mock is not None and "result" in mock and not isinstance(mock["result"], str):
        request["mock"] = {**mock, "result": json.dumps(mock["result"])}
    text = definition if isinstance(definition, str) else json.dumps(definition)
    return asyncio.run(run_test_state(service or FakeService(), definition=text, **request))


def inspection(response: dict[str, Any]) -> dict[str, Any]:
    data = response["inspectionData"]
    return {k: json.loads(v) if isinstance(v, str) else v for k, v in data.items()}


def refused(definition: Any, **request: Any) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        call(definition, **request)
    return info.value


TASK = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}
MAP = {
    "Type": "Map",
    "QueryLanguage": "JSONata",
    "Items": "{% $states.input.Values %}",
    "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
    "ToleratedFailureCount": 1,
    "End": True,
}


# -- outcomes and inspection data ----------------------------------------------------------------------


def test_pass_records_each_jsonpath_stage_at_debug() -> None:
    definition = {
        "Type": "Pass",
        "InputPath": "$.data",
        "Parameters": {"kept.$": "$.a"},
        "ResultPath": "$.out",
        "Next": "After",
    }
    response = call(definition, input={"data": {"a": 1, "b": 2}}, inspectionLevel="DEBUG")
    assert response["status"] == "SUCCEEDED"
    assert response["nextState"] == "After"
    assert json.loads(response["output"]) == {"data": {"a": 1, "b": 2}, "out": {"kept": 1}}
    assert inspection(response) == {
        "input": {"data": {"a": 1, "b": 2}},
        "afterInputPath": {"a": 1, "b": 2},
        "afterParameters": {"kept": 1},
        "afterResultSelector": {"kept": 1},
        "afterResultPath": {"data": {"a": 1, "b": 2}, "out": {"kept": 1}},
    }


def test_info_level_has_no_inspection_data() -> None:
    response = call({"Type": "Pass", "End": True}, input={"a": 1})
    assert response == {"output": '{"a":1}', "status": "SUCCEEDED"}


def test_choice_names_the_next_state() -> None:
    definition = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.n", "NumericGreaterThan": 5, "Next": "Big"}],
        "Default": "Small",
    }
    assert call(definition, input={"n": 9})["nextState"] == "Big"
    assert call(definition, input={"n": 1})["nextState"] == "Small"


def test_fail_state_fails_with_its_error_and_cause() -> None:
    response = call({"Type": "Fail", "Error": "Oops", "Cause": "why"}, input={})
    assert response == {"error": "Oops", "cause": "why", "status": "FAILED"}


def test_wait_state_does_not_wait() -> None:
    service = FakeService(clock=_WallClock())
    started = time.monotonic()
    response = call({"Type": "Wait", "Seconds": 3600, "End": True}, service, input={"a": 1})
    assert response["status"] == "SUCCEEDED"
    assert time.monotonic() - started < 5


class _WallClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def test_state_name_picks_a_state_nested_in_a_map() -> None:
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Inner",
                    "States": {"Inner": {"Type": "Pass", "Result": 7, "End": True}},
                },
                "End": True,
            }
        },
    }
    response = call(definition, stateName="Inner", input={})
    assert json.loads(response["output"]) == 7


def test_variables_are_readable_and_reported_after_assignment() -> None:
    definition = {
        "Type": "Pass",
        "QueryLanguage": "JSONata",
        "Output": "{% $x + 1 %}",
        "Assign": {"y": "{% $x * 2 %}"},
        "End": True,
    }
    response = call(definition, input={}, variables={"x": 20}, inspectionLevel="TRACE")
    assert json.loads(response["output"]) == 21
    assert inspection(response)["variables"] == {"x": 20, "y": 40}


# -- Task: mock, real resolver, retry and catch --------------------------------------------------------


def test_task_mock_result_goes_through_result_selector_and_result_path() -> None:
    definition = {
        **TASK,
        "Parameters": {"FunctionName": "f", "Payload.$": "$"},
        "ResultSelector": {"body.$": "$.Payload"},
        "ResultPath": "$.task",
    }
    response = call(
        definition, input={"x": 1}, inspectionLevel="TRACE", mock={"result": {"Payload": {"ok": True}}}
    )
    assert response["status"] == "SUCCEEDED"
    assert inspection(response) == {
        "input": {"x": 1},
        "afterInputPath": {"x": 1},
        "afterParameters": {"FunctionName": "f", "Payload": {"x": 1}},
        "result": {"Payload": {"ok": True}},
        "afterResultSelector": {"body": {"ok": True}},
        "afterResultPath": {"x": 1, "task": {"body": {"ok": True}}},
    }


def test_task_without_mock_asks_the_service_resolver() -> None:
    service = FakeService(resolver=RecordingResolver(result={"StatusCode": 200}))
    response = call(
        {**TASK, "Parameters": {"FunctionName": "f"}},
        service,
        input={},
        roleArn="arn:aws:iam::123456789012:role/r",
    )
    assert json.loads(response["output"]) == {"StatusCode": 200}
    assert service.resolver.requests[0].parameters == {"FunctionName": "f"}


def test_retrier_with_attempts_left_makes_the_error_retriable() -> None:
    definition = {**TASK, "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 2, "BackoffRate": 3}]}
    mock = {"errorOutput": {"error": "Boom", "cause": "c"}}
    response = call(
        definition, input={}, mock=mock, stateConfiguration={"retrierRetryCount": 2}, inspectionLevel="DEBUG"
    )
    assert response["status"] == "RETRIABLE"
    assert inspection(response)["errorDetails"] == {"retryIndex": 0, "retryBackoffIntervalSeconds": 18}
    exhausted = call(
        definition, input={}, mock=mock, stateConfiguration={"retrierRetryCount": 3}, inspectionLevel="DEBUG"
    )
    assert exhausted["status"] == "FAILED"
    assert inspection(exhausted)["errorDetails"] == {"retryIndex": 0}


def test_catcher_gives_caught_error_with_its_output_and_next() -> None:
    definition = {
        **TASK,
        "Catch": [
            {"ErrorEquals": ["Other"], "Next": "A"},
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "B"},
        ],
    }
    response = call(
        definition,
        input={"k": 1},
        mock={"errorOutput": {"error": "Boom", "cause": "c"}},
        inspectionLevel="DEBUG",
    )
    assert response["status"] == "CAUGHT_ERROR"
    assert response["nextState"] == "B"
    assert (response["error"], response["cause"]) == ("Boom", "c")
    assert json.loads(response["output"]) == {"k": 1, "err": {"Error": "Boom", "Cause": "c"}}
    assert inspection(response)["errorDetails"] == {"catchIndex": 1}


def test_default_context_object() -> None:
    definition = {**TASK, "QueryLanguage": "JSONata", "Output": "{% $states.context %}"}
    response = call(
        definition, input={"a": 1}, roleArn="arn:aws:iam::111111111111:role/r", mock={"result": {}}
    )
    context = json.loads(response["output"])
    assert context["Execution"]["Input"] == {"a": 1}
    assert context["Execution"]["RoleArn"] == "arn:aws:iam::111111111111:role/r"
    assert ":express:" in context["Execution"]["Id"]
    assert context["State"]["Name"] == "StateName"
    assert context["State"]["RetryCount"] == 0


def test_given_context_object_is_used_as_is() -> None:
    definition = {**TASK, "ResultSelector": {"ctx.$": "$$"}}
    given = {"Execution": {"Id": "exec"}, "State": {}}
    response = call(definition, input={}, context=given, mock={"result": {}})
    assert json.loads(response["output"]) == {"ctx": given}


# -- Map and Parallel stand on their mock --------------------------------------------------------------


def test_map_mock_is_the_result_and_failures_beyond_the_threshold_fail_it() -> None:
    response = call(MAP, input={"Values": [1, 2]}, mock={"result": [5, 6]}, inspectionLevel="TRACE")
    assert json.loads(response["output"]) == [5, 6]
    assert inspection(response) == {
        "input": {"Values": [1, 2]},
        "maxConcurrency": 0,
        "toleratedFailureCount": 1,
    }
    failed = call(
        MAP,
        input={"Values": [1, 2]},
        mock={"result": [0, 0]},
        stateConfiguration={"mapIterationFailureCount": 2},
    )
    assert failed["status"] == "FAILED"
    assert failed["error"] == "States.ExceedToleratedFailureThreshold"


def test_jsonpath_map_reports_items_path_and_checks_it_points_to_an_array() -> None:
    definition = {
        "Type": "Map",
        "ItemsPath": "$.items",
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
        "End": True,
    }
    response = call(definition, input={"items": [1]}, mock={"result": [2]}, inspectionLevel="DEBUG")
    assert inspection(response)["afterItemsPath"] == [1]
    bad = call(definition, input={"items": 1}, mock={"result": [2]})
    assert (bad["status"], bad["error"]) == ("FAILED", "States.Runtime")
    assert bad["cause"] == 'Reference path "$.items" must point to array.'


def test_parallel_mock_must_have_one_item_per_branch() -> None:
    branches = [{"StartAt": name, "States": {name: {"Type": "Pass", "End": True}}} for name in ("A", "B")]
    definition = {"Type": "Parallel", "Branches": branches, "End": True}
    assert json.loads(call(definition, input={}, mock={"result": [1, 2]})["output"]) == [1, 2]
    error = refused(definition, input={}, mock={"result": [1]})
    assert (
        error.message == "Mocked result must contain the same number of items as number of Parallel branches."
    )


# -- request checks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "request_", "code", "message"),
    [
        (
            TASK,
            {"mock": {"result": "{}", "errorOutput": {"error": "E"}}},
            "ValidationException",
            "A test mock should have only one of the following fields: [result, errorOutput].",
        ),
        (
            {"Type": "Succeed"},
            {"mock": {"result": "{}"}},
            "ValidationException",
            "State type 'Succeed' is not supported when a mock is specified",
        ),
        (
            MAP,
            {},
            "InvalidDefinition",
            "TestState API does not support Map or Parallel states. Supported state types include: "
            "[Task, Wait, Pass, Succeed, Fail, Choice]",
        ),
        (TASK, {"mock": {"result": "not json"}}, "ValidationException", "Mocked result must be valid JSON"),
        (
            TASK,
            {"mock": {"result": "{}"}, "revealSecrets": True},
            "ValidationException",
            "TestState does not support RevealSecrets when a mock is specified.",
        ),
        (
            TASK,
            {"mock": {"result": "{}"}, "context": {"Map": {}}},
            "ValidationException",
            "Invalid Context object provided: 'Map' field is not supported when mocking a Context object",
        ),
        (
            TASK,
            {"mock": {"result": "{}"}, "context": {"Execution": {"Id": 1}}},
            "ValidationException",
            "Invalid Context object provided: Execution.Id must be a string",
        ),
        ({"Type": "Nope", "End": True}, {}, "InvalidDefinition", None),
    ],
)
def test_bad_requests_are_refused(
    definition: Any, request_: dict[str, Any], code: str, message: str | None
) -> None:
    error = refused(definition, input={}, **request_)
    assert error.code == code
    if message is not None:
        assert error.message == message


START_EXECUTION = {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution", "End": True}


def test_field_validation_modes() -> None:
    strict = refused(START_EXECUTION, input={}, mock={"result": {}})
    assert strict.message == "Mock result schema validation error: Required field 'ExecutionArn' is missing"
    present = call(START_EXECUTION, input={}, mock={"result": {}, "fieldValidationMode": "PRESENT"})
    assert present["status"] == "SUCCEEDED"
    wrong = refused(
        START_EXECUTION, input={}, mock={"result": {"StartDate": 5}, "fieldValidationMode": "PRESENT"}
    )
    assert wrong.message == "Mock result schema validation error: Field 'StartDate' must be a string"
    anything = call(
        START_EXECUTION, input={}, mock={"result": {"StartDate": 5}, "fieldValidationMode": "NONE"}
    )
    assert json.loads(anything["output"]) == {"StartDate": 5}


def test_field_validation_follows_the_model_into_lists_enums_and_bounds() -> None:
    put_events = {"Type": "Task", "Resource": "arn:aws:states:::events:putEvents", "End": True}
    error = refused(put_events, input={}, mock={"result": {"Entries": [{"EventId": "a"}, {"EventId": 1}]}})
    assert error.message.endswith("Field 'EventId' must be a string")
    get_object = {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject", "End": True}
    error = refused(get_object, input={}, mock={"result": {"StorageClass": "Papyrus"}})
    assert error.message.endswith("Field 'StorageClass' is not an expected value")
    encrypt = {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:kms:encrypt", "End": True}
    error = refused(encrypt, input={}, mock={"result": {"CiphertextBlob": ""}})
    assert error.message.endswith("Field 'CiphertextBlob' is smaller than the minimum length")
    # lambda:invoke hands the function's answer over as JSON, not as the API's blob
    response = call(TASK, input={}, mock={"result": {"Payload": {"a": 1}, "StatusCode": 200}})
    assert response["status"] == "SUCCEEDED"


def test_executions_do_not_inspect() -> None:
    assert ExecutionRun.inspect is None


def test_callback_task_is_answered_by_its_mock() -> None:
    definition = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": "q", "MessageBody": "m"},
        "End": True,
    }
    response = call(definition, input={}, mock={"result": {"done": True}})
    assert json.loads(response["output"]) == {"done": True}
    failed = call(definition, input={}, mock={"errorOutput": {"error": "No", "cause": "c"}})
    assert (failed["status"], failed["error"]) == ("FAILED", "No")
    assert refused(definition, input={}).code == "InvalidDefinition"
