"""Definition validation: AWS's recorded diagnostics, the accepted corpus, and one test per check."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from workflows.asl.errors import Diagnostic
from workflows.asl.validation import invalid_definition_message, main_validate, validate_definition
from workflows.bench import corpus

CONFORMANCE = corpus.conformance_dir()

DEFINITION_OPS = ("ValidateStateMachineDefinition", "CreateStateMachine", "UpdateStateMachine")


def _recorded_steps() -> list[Any]:
    """Every recorded definition check in the API corpus: (id, op, request, expect)."""
    steps = []
    for path in sorted((CONFORMANCE / "api").glob("*.json")):
        case = json.loads(path.read_text())
        for i, step in enumerate(case["steps"]):
            if step.get("op") not in DEFINITION_OPS or "definition" not in step.get("request", {}):
                continue
            expect = step.get("expect") or {}
            error = expect.get("error") or {}
            response = expect.get("response") or {}
            if error.get("code") == "InvalidDefinition" or "diagnostics" in response:
                steps.append(pytest.param(step["op"], step["request"], expect, id=f"{path.stem}#{i}"))
    return steps


def _errors(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "ERROR"]


@pytest.mark.parametrize(("op", "request_", "expect"), _recorded_steps())
def test_replays_aws_recorded_diagnostics(op: str, request_: dict[str, Any], expect: dict[str, Any]) -> None:
    kind = request_.get("type", "STANDARD")
    diagnostics = validate_definition(request_["definition"], state_machine_type=kind)
    if op == "ValidateStateMachineDefinition":
        # The API returns ERROR diagnostics only unless asked for warnings.
        assert [d.to_api() for d in _errors(diagnostics)] == expect["response"]["diagnostics"]
    else:
        assert invalid_definition_message(diagnostics) == expect["error"]["message"]


def test_recorded_steps_were_found() -> None:
    assert len(_recorded_steps()) >= 14


def test_every_accepted_corpus_definition_is_valid() -> None:
    failures = []
    cases = sorted((CONFORMANCE / "cases").glob("*.json"))
    assert len(cases) >= 800
    for path in cases:
        case = json.loads(path.read_text())
        kind = "EXPRESS" if case.get("state_machine_type") == "EXPRESS" else "STANDARD"
        errors = _errors(validate_definition(case["definition"], state_machine_type=kind))
        if errors:
            failures.append(f"{path.name}: {'; '.join(str(d) for d in errors)}")
    assert not failures, f"{len(failures)} accepted definitions rejected:\n" + "\n".join(failures[:40])


def test_every_definition_aws_accepted_in_the_api_corpus_is_valid() -> None:
    failures, checked = [], 0
    for path in sorted((CONFORMANCE / "api").glob("*.json")):
        for i, step in enumerate(json.loads(path.read_text())["steps"]):
            expect = step.get("expect") or {}
            if step.get("op") not in DEFINITION_OPS or "definition" not in step.get("request", {}):
                continue
            if expect.get("error") or step.get("raises"):
                continue
            if (expect.get("response") or {}).get("result", "OK") != "OK":
                continue
            checked += 1
            request = step["request"]
            errors = _errors(
                validate_definition(request["definition"], state_machine_type=request.get("type", "STANDARD"))
            )
            if errors:
                failures.append(f"{path.name}#{i}: {'; '.join(str(d) for d in errors)}")
    assert checked >= 100
    assert not failures, "\n".join(failures)


# -- unit tests, one per check ------------------------------------------------------------------------

BASE: dict[str, Any] = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}


def machine(**states: Any) -> dict[str, Any]:
    return {"StartAt": next(iter(states)), "States": states}


def codes(definition: Any, **kwargs: Any) -> list[tuple[str, str]]:
    return [(d.code, d.location) for d in validate_definition(definition, **kwargs) if d.severity == "ERROR"]


def has(definition: Any, code: str, location: str, **kwargs: Any) -> bool:
    return (code, location) in codes(definition, **kwargs)


def test_valid_minimal_definition() -> None:
    assert validate_definition(BASE) == []
    assert validate_definition(json.dumps(BASE)) == []


def test_bad_json_is_one_diagnostic() -> None:
    [diagnostic] = validate_definition("not a definition")
    assert diagnostic.code == "INVALID_JSON_DESCRIPTION"
    assert diagnostic.location == '[Source: (String)"not a definition"; line: 1, column: 4]'
    [diagnostic] = validate_definition('{"StartAt": ')
    assert diagnostic.code == "INVALID_JSON_DESCRIPTION"


def test_empty_text_is_missing_description() -> None:
    assert codes("  ") == [("MISSING_DESCRIPTION", "")]


def test_never_raises_on_odd_input() -> None:
    for odd in (
        [],
        3,
        "null",
        "[]",
        {"States": []},
        {"StartAt": 1, "States": {"A": 5}},
        {"States": {"": {}}},
    ):
        assert validate_definition(odd)  # type: ignore[arg-type]
    deep: Any = {}
    for _ in range(5000):
        deep = {"a": deep}
    validate_definition(deep)
    validate_definition("[" * 100000)


def test_required_top_level_fields() -> None:
    [d] = validate_definition({})
    assert d.to_api() == {
        "severity": "ERROR",
        "code": "SCHEMA_VALIDATION_FAILED",
        "message": "These fields are required: [States, StartAt]",
        "location": "/",
    }


def test_unknown_top_level_field() -> None:
    assert has({**BASE, "Coment": "x"}, "SCHEMA_VALIDATION_FAILED", "/")


def test_top_level_timeout_and_query_language() -> None:
    assert has({**BASE, "TimeoutSeconds": 0}, "SCHEMA_VALIDATION_FAILED", "/TimeoutSeconds")
    assert has({**BASE, "QueryLanguage": "XPath"}, "SCHEMA_VALIDATION_FAILED", "/QueryLanguage")
    assert codes({**BASE, "TimeoutSeconds": 10, "Version": "1.0", "QueryLanguage": "JSONata"}) == []


def test_state_type() -> None:
    assert has(machine(A={"End": True}), "SCHEMA_VALIDATION_FAILED", "/States/A")
    assert has(machine(A={"Type": "Nope", "End": True}), "SCHEMA_VALIDATION_FAILED", "/States/A/Type")


def test_unsupported_field_per_type() -> None:
    for kind in ("Pass", "Wait", "Choice", "Succeed", "Fail"):
        state = {"Type": kind, "Retry": []}
        assert has(machine(A=state), "SCHEMA_VALIDATION_FAILED", "/States/A"), kind
    [d] = [d for d in validate_definition(machine(A={"Type": "Pass", "End": True, "TimeoutSeconds": 3}))]
    assert d.message == "Field 'TimeoutSeconds' is not supported"


def test_required_fields_per_type() -> None:
    assert has(machine(A={"Type": "Task", "End": True}), "SCHEMA_VALIDATION_FAILED", "/States/A")
    assert has(machine(A={"Type": "Map", "End": True}), "SCHEMA_VALIDATION_FAILED", "/States/A")
    assert has(machine(A={"Type": "Pass"}), "SCHEMA_VALIDATION_FAILED", "/States/A")


@pytest.mark.parametrize(
    "fields",
    [
        {"Type": "Pass", "Next": "B", "End": True},
        {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "End": True,
            "TimeoutSeconds": 5,
            "TimeoutSecondsPath": "$.t",
        },
        {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "End": True,
            "HeartbeatSeconds": 5,
            "HeartbeatSecondsPath": "$.t",
        },
        {"Type": "Wait", "End": True, "Seconds": 1, "Timestamp": "2020-01-01T00:00:00Z"},
        {"Type": "Wait", "End": True, "SecondsPath": "$.s", "TimestampPath": "$.t"},
        {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"},
        {"Type": "Fail", "Cause": "C", "CausePath": "$.c"},
        {"Type": "Map", "End": True, "ItemProcessor": BASE, "Iterator": BASE},
        {"Type": "Map", "End": True, "ItemProcessor": BASE, "ItemSelector": {}, "Parameters": {}},
    ],
)
def test_mutually_exclusive_fields(fields: dict[str, Any]) -> None:
    definition = machine(A=fields, B={"Type": "Succeed"})
    assert has(definition, "SCHEMA_VALIDATION_FAILED", "/States/A")


def test_query_language_fields() -> None:
    jsonpath_state = machine(A={"Type": "Pass", "End": True, "Output": "{% 1 %}"})
    [d] = validate_definition(jsonpath_state)
    assert d.message == (
        "The QueryLanguage is set to 'JSONPath', but field 'Output' is only supported "
        "for the 'JSONata' QueryLanguage"
    )
    assert d.location == "/States/A"
    jsonata_state = machine(A={"Type": "Pass", "End": True, "QueryLanguage": "JSONata", "InputPath": "$"})
    assert has(jsonata_state, "SCHEMA_VALIDATION_FAILED", "/States/A")
    downgrade = {
        **machine(A={"Type": "Pass", "End": True, "QueryLanguage": "JSONPath"}),
        "QueryLanguage": "JSONata",
    }
    assert has(downgrade, "SCHEMA_VALIDATION_FAILED", "/States/A")


def test_missing_transition_targets() -> None:
    definition = machine(
        A={
            "Type": "Choice",
            "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "X1"}],
            "Default": "X2",
        },
    )
    assert has(definition, "MISSING_TRANSITION_TARGET", "/States/A/Choices[0]/Next")
    assert has(definition, "MISSING_TRANSITION_TARGET", "/States/A/Default")
    task = machine(
        A={
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Next": "X3",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "X4"}],
        },
        B={"Type": "Succeed"},
    )
    assert has(task, "MISSING_TRANSITION_TARGET", "/States/A/Next")
    assert has(task, "MISSING_TRANSITION_TARGET", "/States/A/Catch[0]/Next")
    [d] = [d for d in validate_definition(task) if d.location == "/States/A/Next"]
    assert d.message == "Missing 'Next' target: X3"
    assert has({"StartAt": "Z", "States": BASE["States"]}, "MISSING_TRANSITION_TARGET", "/StartAt")


def test_aws_message_for_dangling_and_unreachable() -> None:
    definition = machine(pass1={"Type": "Pass", "Next": "pass3"}, pass2={"Type": "Pass", "End": True})
    assert invalid_definition_message(validate_definition(definition)) == (
        "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: pass3 at "
        '/States/pass1/Next, MISSING_TRANSITION_TARGET: State "pass2" is not reachable. at /States/pass2\''
    )


def test_missing_end_state() -> None:
    loop = machine(
        A={"Type": "Pass", "Next": "B"}, B={"Type": "Pass", "Next": "A"}, C={"Type": "Pass", "Next": "A"}
    )
    # AWS: no location, and no unreachable-state walk after it.
    assert codes(loop) == [("MISSING_END_STATE", "")]


def test_nested_scopes_are_separate() -> None:
    branch = {"StartAt": "In", "States": {"In": {"Type": "Pass", "Next": "Out"}}}
    definition = machine(Out={"Type": "Parallel", "Branches": [branch], "End": True})
    assert has(definition, "MISSING_TRANSITION_TARGET", "/States/Out/Branches[0]/States/In/Next")
    mapped = machine(
        M={
            "Type": "Map",
            "End": True,
            "ItemProcessor": {
                "StartAt": "P",
                "States": {"P": {"Type": "Pass", "End": True}, "Q": {"Type": "Pass", "End": True}},
            },
        }
    )
    assert codes(mapped) == [("MISSING_TRANSITION_TARGET", "/States/M/ItemProcessor/States/Q")]


def test_duplicate_state_names_across_scopes() -> None:
    definition = machine(A={"Type": "Parallel", "Branches": [BASE], "End": True})
    assert has(definition, "DUPLICATE_STATE_NAME", "/States/A/Branches[0]/States/A")


def test_invalid_state_name() -> None:
    long_name = "x" * 81
    assert has(machine(**{long_name: {"Type": "Succeed"}}), "INVALID_STATE_NAME", f"/States/{long_name}")
    assert codes(machine(**{"x" * 80: {"Type": "Succeed"}})) == []


def test_invalid_resource_and_placeholders() -> None:
    assert has(
        machine(A={"Type": "Task", "Resource": "lambda", "End": True}),
        "INVALID_RESOURCE",
        "/States/A/Resource",
    )
    assert codes(machine(A={"Type": "Task", "Resource": "${LambdaArn}", "End": True})) == []
    assert (
        codes(machine(A={"Type": "Task", "Resource": "${LambdaArn}", "InputPath": "${Path}", "End": True}))
        == []
    )


def test_express_only_checks() -> None:
    activity = machine(A={"Type": "Task", "Resource": "arn:aws:states:us-east-1:1:activity:a", "End": True})
    assert codes(activity) == []
    assert has(activity, "SCHEMA_VALIDATION_FAILED", "/States/A/Resource", state_machine_type="EXPRESS")


def test_timeouts() -> None:
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}
    assert has(
        machine(A={**task, "TimeoutSeconds": 0}), "SCHEMA_VALIDATION_FAILED", "/States/A/TimeoutSeconds"
    )
    assert has(
        machine(A={**task, "TimeoutSeconds": 1.5}), "SCHEMA_VALIDATION_FAILED", "/States/A/TimeoutSeconds"
    )
    assert has(
        machine(A={**task, "TimeoutSeconds": 5, "HeartbeatSeconds": 5}),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/HeartbeatSeconds",
    )
    assert codes(machine(A={**task, "TimeoutSeconds": 5, "HeartbeatSeconds": 4})) == []


def test_retry_and_catch() -> None:
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}
    assert has(
        machine(A={**task, "Retry": [{"ErrorEquals": []}]}),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Retry[0]/ErrorEquals",
    )
    assert has(
        machine(A={**task, "Retry": [{"ErrorEquals": ["States.ALL", "X"]}]}),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Retry[0]/ErrorEquals",
    )
    not_last = [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]
    assert has(
        machine(A={**task, "Retry": not_last}), "SCHEMA_VALIDATION_FAILED", "/States/A/Retry[0]/ErrorEquals"
    )
    assert has(
        machine(A={**task, "Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5}]}),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Retry[0]/BackoffRate",
    )
    assert has(
        machine(A={**task, "Catch": [{"ErrorEquals": ["X"]}]}),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Catch[0]",
    )


def choice(rule: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return machine(
        C={"Type": "Choice", "Choices": [{**rule, "Next": "E"}], "Default": "E", **extra},
        E={"Type": "Succeed"},
    )


def test_choice_rules() -> None:
    assert codes(choice({"Variable": "$.x", "NumericGreaterThanPath": "$.y"})) == []
    assert (
        codes(
            choice(
                {
                    "And": [
                        {"Variable": "$.x", "IsNull": False},
                        {"Not": {"Variable": "$.y", "StringMatches": "a*"}},
                    ]
                }
            )
        )
        == []
    )
    assert has(choice({"Variable": "$.x"}), "SCHEMA_VALIDATION_FAILED", "/States/C/Choices[0]")
    assert has(
        choice({"Variable": "$.x", "IsNull": True, "IsPresent": True}),
        "SCHEMA_VALIDATION_FAILED",
        "/States/C/Choices[0]",
    )
    assert has(choice({"NumericEquals": 1}), "SCHEMA_VALIDATION_FAILED", "/States/C/Choices[0]")
    assert has(
        choice({"Variable": "$.x", "NumericEquals": "1"}),
        "SCHEMA_VALIDATION_FAILED",
        "/States/C/Choices[0]/NumericEquals",
    )
    assert has(
        choice({"Variable": "$.x", "StringEqualsPath": "x"}),
        "SCHEMA_VALIDATION_FAILED",
        "/States/C/Choices[0]/StringEqualsPath",
    )
    assert has(
        choice({"And": [{"Variable": "$.x", "IsNull": True, "Next": "E"}]}),
        "SCHEMA_VALIDATION_FAILED",
        "/States/C/Choices[0]/And[0]",
    )
    assert has(choice({"Condition": "{% true %}"}), "SCHEMA_VALIDATION_FAILED", "/States/C/Choices[0]")


def test_jsonata_choice_rules() -> None:
    assert codes(choice({"Condition": "{% $states.input.x > 1 %}"}, QueryLanguage="JSONata")) == []
    assert has(
        choice({"Variable": "$.x", "IsNull": True}, QueryLanguage="JSONata"),
        "SCHEMA_VALIDATION_FAILED",
        "/States/C/Choices[0]",
    )
    assert has(
        choice({"Condition": "{% 1 + %}"}, QueryLanguage="JSONata"),
        "INVALID_JSONATA_EXPRESSION",
        "/States/C/Choices[0]/Condition",
    )


def test_path_syntax() -> None:
    pass_ = {"Type": "Pass", "End": True}
    assert has(machine(A={**pass_, "InputPath": "a.b"}), "SCHEMA_VALIDATION_FAILED", "/States/A/InputPath")
    assert has(machine(A={**pass_, "OutputPath": "$.a["}), "SCHEMA_VALIDATION_FAILED", "/States/A/OutputPath")
    assert has(
        machine(A={**pass_, "ResultPath": "$.a[*]"}), "SCHEMA_VALIDATION_FAILED", "/States/A/ResultPath"
    )
    assert has(machine(A={**pass_, "ResultPath": "$..a"}), "SCHEMA_VALIDATION_FAILED", "/States/A/ResultPath")
    ok = {**pass_, "InputPath": "$$.Execution.Input", "OutputPath": None, "ResultPath": "$.a.b[0]"}
    assert codes(machine(A=ok)) == []


def test_dollar_keys_need_paths_or_intrinsics() -> None:
    pass_ = {"Type": "Pass", "End": True}
    bad = machine(A={**pass_, "Parameters": {"x": {"JobName.$": "foo"}}})
    [d] = validate_definition(bad)
    assert (d.code, d.location) == ("SCHEMA_VALIDATION_FAILED", "/States/A/Parameters/x/JobName.$")
    assert d.message == "The value for the field 'JobName.$' must be a valid JSONPath"
    good = machine(
        A={**pass_, "Parameters": {"a.$": "$.x", "b.$": "States.Format('{}', $.x)", "c.$": "$$.Task"}}
    )
    assert codes(good) == []


def test_warnings() -> None:
    pass_ = {"Type": "Pass", "End": True}
    no_dollar = validate_definition(machine(A={**pass_, "Parameters": {"a": "$.x"}}))
    assert [(d.code, d.severity, d.location) for d in no_dollar] == [
        ("NO_DOLLAR", "WARNING", "/States/A/Parameters/a")
    ]
    static = validate_definition(machine(A={**pass_, "Result": {"a.$": "$.x"}}))
    assert [(d.code, d.severity) for d in static] == [("PASS_RESULT_IS_STATIC", "WARNING")]


def test_errors_come_first_and_max_results() -> None:
    definition = machine(
        A={"Type": "Pass", "Parameters": {"a": "$.x"}, "Next": "B"},
        B={"Type": "Pass", "End": True, "InputPath": "x", "OutputPath": "y", "ResultPath": "z"},
    )
    found = validate_definition(definition)
    assert [d.severity for d in found] == ["ERROR", "ERROR", "ERROR", "WARNING"]
    assert len(validate_definition(definition, max_results=2)) == 2


def test_jsonata_expressions() -> None:
    bad = {
        **machine(A={"Type": "Pass", "End": True, "Output": {"v": "{% 1 + %}"}}),
        "QueryLanguage": "JSONata",
    }
    [d] = validate_definition(bad)
    assert (d.code, d.location, d.message) == (
        "INVALID_JSONATA_EXPRESSION",
        "/States/A/Output/v",
        "Unexpected end of expression",
    )
    good = {
        **machine(A={"Type": "Pass", "End": True, "Output": {"v": "{% $states.input %}"}}),
        "QueryLanguage": "JSONata",
    }
    assert codes(good) == []


def test_assign_variable_names() -> None:
    pass_ = {"Type": "Pass", "End": True}
    assert codes(machine(A={**pass_, "Assign": {"ok_1": 1, "x.$": "$.x"}})) == []
    assert has(
        machine(A={**pass_, "Assign": {"1bad": 1}}), "SCHEMA_VALIDATION_FAILED", "/States/A/Assign/1bad"
    )
    assert has(
        machine(A={**pass_, "Assign": {"states": 1}}), "SCHEMA_VALIDATION_FAILED", "/States/A/Assign/states"
    )


def test_map_fields() -> None:
    inner = copy.deepcopy(BASE)
    inner["States"] = {"I": {"Type": "Pass", "End": True}}
    inner["StartAt"] = "I"
    ok = machine(
        M={
            "Type": "Map",
            "End": True,
            "ItemProcessor": {**inner, "ProcessorConfig": {"Mode": "INLINE"}},
            "ItemsPath": "$.items",
            "MaxConcurrency": 2,
            "Label": "ok",
        }
    )
    assert codes(ok) == []
    bad_label = machine(M={"Type": "Map", "End": True, "ItemProcessor": inner, "Label": "a b"})
    assert has(bad_label, "INVALID_LABEL_NAME", "/States/M/Label")
    ql = machine(M={"Type": "Map", "End": True, "ItemProcessor": {**inner, "QueryLanguage": "JSONata"}})
    assert has(ql, "SCHEMA_VALIDATION_FAILED", "/States/M/ItemProcessor")
    bad_mode = machine(
        M={"Type": "Map", "End": True, "ItemProcessor": {**inner, "ProcessorConfig": {"Mode": "SIDEWAYS"}}}
    )
    assert has(bad_mode, "SCHEMA_VALIDATION_FAILED", "/States/M/ItemProcessor/ProcessorConfig/Mode")


def test_too_deeply_nested() -> None:
    definition: dict[str, Any] = {"StartAt": "L", "States": {"L": {"Type": "Pass", "End": True}}}
    for i in range(40):
        definition = {
            "StartAt": f"P{i}",
            "States": {f"P{i}": {"Type": "Parallel", "Branches": [definition], "End": True}},
        }
    assert "TOO_DEEPLY_NESTED" in [code for code, _ in codes(definition)]


def test_invalid_definition_message_skips_warnings_and_missing_locations() -> None:
    diagnostics = [
        Diagnostic("MISSING_END_STATE", "Workflow has no terminal state", ""),
        Diagnostic("NO_DOLLAR", "w", "/States/A", "WARNING"),
    ]
    assert invalid_definition_message(diagnostics) == (
        "Invalid State Machine Definition: 'MISSING_END_STATE: Workflow has no terminal state'"
    )


def test_main_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.asl.json"
    good.write_text(json.dumps(BASE))
    bad = tmp_path / "bad.asl.json"
    bad.write_text(json.dumps({"StartAt": "A"}))
    assert main_validate([str(good)]) == 0
    assert main_validate([str(good), str(bad), str(tmp_path / "missing.json")]) == 1
    out = capsys.readouterr().out
    assert f"{good}: OK" in out
    assert f"{bad}: ERROR SCHEMA_VALIDATION_FAILED at /: These fields are required: [States]" in out


def test_each_jsonata_expression_is_reported_once_at_its_pointer() -> None:
    bad = "{% 1 + %}"
    processor = {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": True, "Output": bad}}}
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Condition": bad, "Next": "M", "Assign": {"a": bad}}],
                "Default": "M",
            },
            "M": {
                "Type": "Map",
                "ItemProcessor": processor,
                "ItemSelector": {"a": bad},
                "Assign": {"b": bad},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "M", "Output": bad}],
                "End": True,
            },
        },
    }
    assert sorted(codes(definition)) == [
        ("INVALID_JSONATA_EXPRESSION", "/States/C/Choices[0]/Assign/a"),
        ("INVALID_JSONATA_EXPRESSION", "/States/C/Choices[0]/Condition"),
        ("INVALID_JSONATA_EXPRESSION", "/States/M/Assign/b"),
        ("INVALID_JSONATA_EXPRESSION", "/States/M/Catch[0]/Output"),
        ("INVALID_JSONATA_EXPRESSION", "/States/M/ItemProcessor/States/X/Output"),
        ("INVALID_JSONATA_EXPRESSION", "/States/M/ItemSelector/a"),
    ]


def test_dollar_keys_with_bad_intrinsics() -> None:
    bad = machine(
        A={"Type": "Pass", "End": True, "Parameters": {"a.$": "States.Format(", "b.$": "States.Nope(1)"}}
    )
    assert codes(bad) == [
        ("SCHEMA_VALIDATION_FAILED", "/States/A/Parameters/a.$"),
        ("SCHEMA_VALIDATION_FAILED", "/States/A/Parameters/b.$"),
    ]
