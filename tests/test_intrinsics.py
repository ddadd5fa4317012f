"""Intrinsic functions against executions recorded on AWS, plus direct syntax and runtime error tests."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from workflows.asl import errors
from workflows.asl.errors import ASLError
from workflows.asl.intrinsics import (
    Intrinsic,
    IntrinsicSyntaxError,
    compile_intrinsic,
    is_intrinsic,
)
from workflows.bench import corpus

CASES_DIR = corpus.cases_dir()
PASS_FIELDS = {"Type", "Parameters", "End", "Next", "Comment"}
NONDETERMINISTIC = ("States.UUID(", "States.MathRandom(")
PLACEHOLDER = re.compile(r"<[A-Za-z0-9_:\-]+>")

# A context object good enough for the recorded cases; ARNs and names are placeholders in them.
SM_NAME = "statemachine-abc123"
CONTEXT = {
    "Execution": {"Id": "arn:aws:states:us-east-1:111111111111:execution:sm:exec-1", "Name": "exec-1"},
    "StateMachine": {
        "Id": f"arn:aws:states:us-east-1:111111111111:stateMachine:{SM_NAME}",
        "Name": SM_NAME,
    },
}


# --- a minimal path resolver: $, $.a.b, $.a[0], $$.x, $var.x -----------------------------------


def resolve(path: str, data: Any, context: Any, variables: dict[str, Any]) -> Any:
    if path.startswith("$$"):
        value, rest = context, path[2:]
    elif path == "$" or path.startswith(("$.", "$[")):
        value, rest = data, path[1:]
    else:
        name = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)", path)
        assert name, path
        value, rest = variables[name.group(1)], path[name.end() :]
    for key, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", rest):
        try:
            value = value[int(index)] if index else value[key]
        except (KeyError, IndexError, TypeError):
            raise ASLError(errors.RUNTIME, f"The JSONPath '{path}' could not be found in the input")
    return value


def lookup_for(data: Any, variables: dict[str, Any] | None = None, context: Any = None) -> Any:
    return lambda path: resolve(path, data, context or {}, variables or {})


def evaluate_template(template: Any, lookup: Any) -> Any:
    """Parameters-style payload template: "k.$" keys hold an intrinsic or a path."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                out[key[:-2]] = (
                    compile_intrinsic(value).evaluate(lookup) if is_intrinsic(value) else lookup(value)
                )
            else:
                out[key] = evaluate_template(value, lookup)
        return out
    if isinstance(template, list):
        return [evaluate_template(item, lookup) for item in template]
    return template


def json_equal(actual: Any, expected: Any) -> bool:
    """JSON equality where 1 == 1.0 but true != 1, and placeholder strings match any text."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(json_equal(actual[k], expected[k]) for k in expected)
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(json_equal(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, str) and PLACEHOLDER.search(expected):
        pattern = ".+?".join(re.escape(part) for part in PLACEHOLDER.split(expected))
        return isinstance(actual, str) and re.fullmatch(pattern, actual, re.DOTALL) is not None
    return actual == expected


# --- the recorded cases -------------------------------------------------------------------------


def uses_intrinsic(value: Any) -> bool:
    if isinstance(value, dict):
        return any(
            (k.endswith(".$") and isinstance(v, str) and is_intrinsic(v)) or uses_intrinsic(v)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return any(uses_intrinsic(v) for v in value)
    return False


def pass_parameter_cases() -> list[Any]:
    """Cases whose states are all Pass states with Parameters as their only feature."""
    params = []
    for path in sorted(CASES_DIR.glob("*.json")):
        case = json.loads(path.read_text())
        states = case["definition"]["States"].values()
        if not all(s.get("Type") == "Pass" and set(s) <= PASS_FIELDS for s in states):
            continue
        if not any(uses_intrinsic(s.get("Parameters")) for s in states):
            continue
        params.append(pytest.param(case, id=case["id"]))
    return params


CASES = pass_parameter_cases()


def run_pass_chain(definition: dict[str, Any], data: Any) -> Any:
    context = {**CONTEXT, "Execution": {**CONTEXT["Execution"], "Input": data}}
    name = definition["StartAt"]
    while True:
        state = definition["States"][name]
        if "Parameters" in state:
            data = evaluate_template(state["Parameters"], lookup_for(data, context=context))
        if state.get("End"):
            return data
        name = state["Next"]


def test_the_corpus_has_cases() -> None:
    assert len(CASES) >= 97


@pytest.mark.parametrize("case", CASES)
def test_recorded_case(case: dict[str, Any]) -> None:
    expected = case["expected"]
    if expected["status"] != "SUCCEEDED":
        with pytest.raises(ASLError) as failure:
            run_pass_chain(case["definition"], case["input"])
        assert failure.value.error == expected["error"]
        return
    output = run_pass_chain(case["definition"], case["input"])
    definition_text = json.dumps(case["definition"])
    if "States.UUID(" in definition_text:
        assert str(uuid.UUID(output["FunctionResult"], version=4)) == output["FunctionResult"]
    elif "States.MathRandom(" in definition_text:
        numbers = case["input"]["FunctionInput"]
        value = output["FunctionResult"]
        assert isinstance(value, int)
        assert round(numbers["fst"]) <= value < round(numbers["snd"])
    else:
        assert json_equal(output, expected["output"]), (output, expected["output"])


# --- cases outside Pass.Parameters, replayed by hand ---------------------------------------------


def evaluate(text: str, data: Any = None, **variables: Any) -> Any:
    return compile_intrinsic(text).evaluate(lookup_for(data, variables))


def test_json_merge_with_escaped_literal() -> None:
    """json_merge_escaped_argument: a JSON object in a string literal, merged with context input."""
    text = (
        'States.JsonMerge(States.StringToJson(\'{"constant_in_literal": "false"}\'), '
        "$$.Execution.Input.input_field, false)"
    )
    data = {"input_field": {"constant_input_field": "constant_value"}}
    merged = compile_intrinsic(text).evaluate(lambda p: resolve(p, data, {"Execution": {"Input": data}}, {}))
    assert merged == {"constant_input_field": "constant_value", "constant_in_literal": "false"}


def test_fail_state_error_and_cause_paths() -> None:
    """base/test_state_fail_intrinsic: States.Format in ErrorPath and CausePath."""
    data = {"Error": "error string", "Cause": "cause string"}
    assert evaluate("States.Format('{}', $.Error)", data) == "error string"
    cause = evaluate(
        "States.Format('This is a custom error message for {}, caused by {}.', $.Error, $.Cause)", data
    )
    assert cause == "This is a custom error message for error string, caused by cause string."


def test_variable_references() -> None:
    """assign/BASE_REFERENCE_IN_INTRINSIC_FUNCTION, recorded on AWS."""
    variables = {
        "rawString": "Hello World",
        "encodedString": "SGVsbG8gV29ybGQ=",
        "inputString": "Hash this string",
        "json1": {"a": 1, "b": 2},
        "json2": {"c": 3, "d": 4},
        "jsonString": '{"key":"value"}',
        "jsonObject": {"test": "object"},
        "value1": 5,
        "value2": 3,
        "csvString": "a,b,c,d,e",
        "name": "John",
        "place": "LocalStack",
    }
    expected = {
        "States.Base64Encode($rawString)": "SGVsbG8gV29ybGQ=",
        "States.Base64Decode($encodedString)": "Hello World",
        "States.Hash($inputString, 'SHA-256')": (
            "1cac63f39fd68d8c531f27b807610fb3d50f0fc3f186995767fb6316e7200a3e"
        ),
        "States.JsonMerge($json1, $json2, false)": {"a": 1, "b": 2, "c": 3, "d": 4},
        "States.StringToJson($jsonString)": {"key": "value"},
        "States.JsonToString($jsonObject)": '{"test":"object"}',
        "States.MathAdd($value1, $value2)": 8,
        "States.StringSplit($csvString, ',')": ["a", "b", "c", "d", "e"],
        "States.Format('Hello {}, welcome to {}!', $name, $place)": "Hello John, welcome to LocalStack!",
    }
    for text, value in expected.items():
        assert evaluate(text, **variables) == value, text


def test_nested_math_add_over_variables() -> None:
    text = "States.MathAdd(States.MathAdd(States.MathAdd($yCurrent, $xCurrent), $zCurrent), $bias)"
    assert evaluate(text, yCurrent=1, xCurrent=2, zCurrent=3, bias=-10) == -4


# --- behaviour of each function ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("States.Array()", []),
        ("States.Array('a', 1, -2.5, true, false, null)", ["a", 1, -2.5, True, False, None]),
        ("States.ArrayPartition(States.ArrayRange(1, 5, 1), 2)", [[1, 2], [3, 4], [5]]),
        ("States.ArrayContains(States.Array(1, 2), 2)", True),
        ("States.ArrayContains(States.Array(true), 1)", False),
        ("States.ArrayRange(1, 10, 2)", [1, 3, 5, 7, 9]),
        ("States.ArrayRange(5, 1, -2)", [5, 3, 1]),
        ("States.ArrayGetItem(States.Array('a', 'b'), 1)", "b"),
        ("States.ArrayLength(States.Array())", 0),
        ("States.ArrayUnique(States.Array(1, 2, 2, 'a', 'a', true, null, null))", [1, 2, "a", True, None]),
        ("States.Base64Encode('Data to encode')", "RGF0YSB0byBlbmNvZGU="),
        ("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", "Data to encode"),
        ("States.Hash('input data', 'MD5')", "812f45842bc6d66ee14572ce20db8e86"),
        ("States.Hash('input data', 'SHA-1')", "aaff4a450a104cd177d28d18d74485e8cae074b7"),
        ("States.JsonToString(States.Array(1, 'x', null))", '[1,"x",null]'),
        ("States.StringToJson(' ')", None),
        ("States.MathAdd(0.5, -0.5)", 1),
        ("States.MathAdd(-2.5, 0)", -2),
        ("States.MathAdd(2147483647, -1)", 2147483646),
        ("States.StringSplit('a, b,,c', ', ')", ["a", "b", "c"]),
        ("States.StringSplit('', ',')", []),
        ("States.Format('{} and {}', 1.0, 10000000.5)", "1.0 and 1.00000005E7"),
        ("States.Format('{}', States.Array(1, 'x', true))", "[1, x, true]"),
        ("States.Format('no placeholders')", "no placeholders"),
    ],
)
def test_function(text: str, expected: Any) -> None:
    assert json_equal(evaluate(text), expected)


def test_string_literal_escapes() -> None:
    assert evaluate(r"States.Format('it\'s \{\} {} \\ done', 'x')") == r"it's {} x \ done"
    assert evaluate(r"States.StringSplit('a\'b', '\'')") == ["a", "b"]
    assert evaluate("States.Array('a, b)', 'c')") == ["a, b)", "c"]


def test_format_template_from_a_path() -> None:
    data = {"template": "It's {}!", "value": "Pikachu"}
    assert evaluate("States.Format($.template, $.value)", data) == "It's Pikachu!"


def test_path_arguments_end_at_the_right_place() -> None:
    data = {"a": {"b,c": 1, "list": [10, 20]}}
    seen: list[str] = []

    def lookup(path: str) -> Any:
        seen.append(path)
        return 1

    compile_intrinsic("States.Array($.a['b,c'], $.a.list[1], $, $$.Execution.Id, $var.x)").evaluate(lookup)
    assert seen == ["$.a['b,c']", "$.a.list[1]", "$", "$$.Execution.Id", "$var.x"]
    assert evaluate("States.ArrayGetItem($.a.list, 1)", data) == 20


def test_seeded_math_random_is_repeatable() -> None:
    first = evaluate("States.MathRandom(0, 999, 3)")
    assert first == evaluate("States.MathRandom(0, 999, 3)")
    assert 0 <= first < 999


def test_math_random_stays_in_range() -> None:
    values = {evaluate("States.MathRandom(1, 4)") for _ in range(200)}
    assert values <= {1, 2, 3}


def test_compiled_intrinsic_is_reusable_and_immutable() -> None:
    compiled = compile_intrinsic("States.Format('Hello {}', $.name)")
    assert isinstance(compiled, Intrinsic)
    assert compiled.function == "States.Format"
    assert compiled.evaluate(lookup_for({"name": "A"})) == "Hello A"
    assert compiled.evaluate(lookup_for({"name": "B"})) == "Hello B"
    with pytest.raises(AttributeError):
        compiled.text = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("States.Format('x')", True),
        ("  States.UUID()", False),
        ("States.UUID", False),
        ("$.a", False),
        ("Hello States.Format()", False),
        ("States.MathAdd(1, 2)", True),
    ],
)
def test_is_intrinsic(text: str, expected: bool) -> None:
    assert is_intrinsic(text) is expected


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "States.Nope(1)",
        "States.Format(",
        "States.Format('unterminated)",
        "States.UUID(1)",
        "States.ArrayLength()",
        "States.MathAdd(1, 2, 3)",
        "States.Format('{} {}', 1)",
        "States.Format('{}')",
        "States.Array(1 2)",
        "States.Array(1) extra",
        "States.Array(bogus)",
        "States.MathAdd('1', 2)",
        "States.JsonMerge($.a, $.b, 'false')",
        "Format('x')",
    ],
)
def test_syntax_errors(text: str) -> None:
    with pytest.raises(IntrinsicSyntaxError) as failure:
        compile_intrinsic(text)
    assert isinstance(failure.value, ValueError)
    assert text in str(failure.value)


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("States.ArrayGetItem($.a, 5)", {"a": [1, 2]}),
        ("States.ArrayGetItem($.a, -1)", {"a": [1, 2]}),
        ("States.ArrayGetItem($.a, $.i)", {"a": [1, 2], "i": 1.5}),
        ("States.ArrayPartition($.a, 0)", {"a": [1, 2]}),
        ("States.ArrayRange(0, 1000, 1)", None),
        ("States.ArrayRange(0, 10, 0)", None),
        ("States.ArrayLength($.a)", {"a": "not an array"}),
        ("States.StringToJson($.s)", {"s": "{not json"}),
        ("States.StringToJson($.s)", {"s": 1}),
        ("States.Base64Decode($.s)", {"s": "###"}),
        ("States.Base64Encode($.s)", {"s": "x" * 10_001}),
        ("States.Hash($.s, 'SHA-3')", {"s": "x"}),
        ("States.Hash($.s, 'MD5')", {"s": 12}),
        ("States.JsonMerge($.a, $.b, true)", {"a": {}, "b": {}}),
        ("States.JsonMerge($.a, $.b, false)", {"a": [], "b": {}}),
        ("States.MathAdd($.a, 1)", {"a": "1"}),
        ("States.MathAdd($.a, 1)", {"a": 2**31}),
        ("States.MathRandom(5, 5)", None),
        ("States.Format($.t, 1)", {"t": "no placeholder"}),
        ("States.StringSplit($.a, ',')", {"a": None}),
    ],
)
def test_runtime_errors(text: str, data: Any) -> None:
    with pytest.raises(ASLError) as failure:
        evaluate(text, data)
    assert failure.value.error == errors.RUNTIME
    assert failure.value.cause and text.split("(")[0] in failure.value.cause


def test_lookup_errors_pass_through() -> None:
    with pytest.raises(ASLError) as failure:
        evaluate("States.Format('{}', $.missing)", {})
    assert failure.value.cause == "The JSONPath '$.missing' could not be found in the input"


def test_argument_kinds_are_checked_at_run_time_for_paths_and_nested_calls() -> None:
    """Literal arguments are checked when the text is compiled; a path's or a nested call's value
    only when it is known, and the failure names its argument."""
    with pytest.raises(ASLError) as failure:
        evaluate("States.MathAdd(1, $.a)", {"a": "x"})
    assert failure.value.cause == (
        "The function States.MathAdd failed: argument 2 must be a number but was a string"
    )
    with pytest.raises(ASLError) as failure:
        evaluate("States.ArrayLength(States.Format('{}', $.a))", {"a": 1})
    assert failure.value.cause == (
        "The function States.ArrayLength failed: argument 1 must be an array but was a string"
    )
    assert evaluate("States.MathAdd($.a, States.ArrayLength($.b))", {"a": 2, "b": [1, 2]}) == 4
