"""Hostile JSONata: built-ins, pictures and results that once held the server for seconds or filled
its memory now fail their state within the budget, and normal uses give the same results."""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import pytest

from tests.test_liveness import _pass, _within
from workflows.asl.budget import MAX_DEPTH, Overtime, in_slice
from workflows.asl.definition import load_definition
from workflows.asl.errors import ASLError
from workflows.asl.jsonata_eval import evaluate_field, syntax_error
from workflows.engine.clock import FakeClock
from workflows.engine.runner import run_definition

# Generous: each of these took from 5 s to minutes before; the budget is 1 s.
PROMPTLY = 8.0
DAG = "($a := {'x': [1..1000]}; $b := {'y': [1..1000].($a)}; [1..10].($b))"


def _evaluate(expression: str) -> Any:
    return evaluate_field(expression, "Output", {})


def _failure(expression: str) -> ASLError:
    with pytest.raises(ASLError) as caught:
        _within(30, lambda: _evaluate(expression))
    return caught.value


def _fails_promptly(expression: str) -> ASLError:
    started = time.monotonic()
    error = _failure(expression)
    assert time.monotonic() - started < PROMPTLY
    return error


def _slice_ends_promptly(expression: str) -> None:
    """On the event loop (slice mode) the evaluation gives way (Overtime) or fails, well inside a second."""
    started = time.monotonic()
    with pytest.raises((Overtime, ASLError)):
        in_slice(_evaluate, expression)
    assert time.monotonic() - started < 0.5


# ----- F1: pictures never run a backtracking regex ----------------------------------------------------


def test_a_hostile_to_millis_picture_ends_at_once_instead_of_backtracking() -> None:
    expression = "$toMillis('" + "one" * 30 + "x', '" + "[Dw]" * 8 + "')"  # 13 s on Python's re
    started = time.monotonic()
    with pytest.raises(ASLError, match="returned nothing"):  # no match: undefined, as before
        _within(30, lambda: _evaluate(expression))
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("expression", "millis"),
    [
        ("$toMillis('2017-11-07T15:07:54.972Z')", 1510067274972),
        ("$toMillis('2018-05-24', '[Y0001]-[M01]-[D01]')", 1527120000000),
        ("$toMillis('2018-05-24 13:45:12', '[Y0001]-[M01]-[D01] [H01]:[m01]:[s01]')", 1527169512000),
        ("$toMillis('21st August 2018', '[D1o] [MNn] [Y]')", 1534809600000),
        (
            "$toMillis('Tuesday, 21st August 2018 at 3:05pm', '[FNn], [D1o] [MNn] [Y] at [h]:[m01][P]')",
            1534863900000,
        ),
        (
            "$toMillis('2018-05-24T10:11:12.123+0100', '[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01].[f001][Z0100]')",
            1527153072123,
        ),
        ("$toMillis('2018-05-24\n', '[Y0001]-[M01]-[D01]')", 1527120000000),  # `$` before a final newline
    ],
)
def test_to_millis_pictures_read_timestamps_as_before(expression: str, millis: int) -> None:
    assert _evaluate(expression) == millis


def test_a_time_only_picture_reads_the_time_of_day() -> None:
    assert _evaluate("$toMillis('13:45:12', '[H01]:[m01]:[s01]')") % 86_400_000 == 49_512_000


def test_format_functions_give_the_same_results() -> None:
    assert _evaluate(
        "[$formatNumber(12345.6, '#,###.00'), $formatNumber(0.14, '01%'), $formatNumber(1234.5678, '00.000e0'),"
        " $formatInteger(1999, 'I'), $formatInteger(12, 'w'), $parseInteger('MCMXCIX', 'I'),"
        " $fromMillis(1521801216617, '[D1o] [MNn] [Y]'), $fromMillis(0)]"
    ) == [
        "12,345.60",
        "14%",
        "12.346e2",
        "MCMXCIX",
        "twelve",
        1999,
        "23rd March 2018",
        "1970-01-01T00:00:00.000Z",
    ]


def test_format_number_refuses_a_separator_that_would_be_a_regex() -> None:
    error = _fails_promptly("$formatNumber(1234.5, '#,##0.00', {'exponent-separator': '(a+)+$'})")
    assert error.error == "States.QueryEvaluationError"
    assert "must be a single character" in (error.cause or "")
    assert _evaluate(
        "$formatNumber(1234.5, '#.##0,00', {'decimal-separator': ',', 'grouping-separator': '.'})"
    ) == ("1.234,50")


# ----- F4: built-ins look at the budget ------------------------------------------------------------------


def test_distinct_is_linear_and_keeps_jsonata_equality_and_order() -> None:
    assert _within(30, lambda: _evaluate("$count($distinct([1..60000]))")) == 60000  # 16.5 s when quadratic
    assert _evaluate("$distinct([3, 1, 3.0, true, 1, 'a', 'a', null, null, true])") == [3, 1, True, "a", None]
    assert _evaluate("$distinct([{'a': 1, 'b': [2]}, {'b': [2], 'a': 1}, [1], [true], [1]])") == [
        {"a": 1, "b": [2]},
        [1],
        [True],
    ]


@pytest.mark.parametrize(
    "expression",
    [
        "$count($distinct([1..60000]))",
        "$length($replace($pad('', 200000, 'a'), 'a', 'bb'))",
        "$count($sort([1..200000], function($a, $b){ $a < $b }))",
        DAG,
    ],
)
def test_a_built_in_given_a_large_argument_leaves_the_event_loop_at_once(expression: str) -> None:
    _slice_ends_promptly(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "($s := $pad('', 4000000, 'x'); $length($replace($s, /x/, 'yy')))",
        "($s := $pad('', 1000000, 'x'); $length($replace($s, /y/, 'z', 100000000)))",
        "$count($match($pad('', 1000000, 'x'), /x/))",
        "$count($split($pad('', 1000000, 'x'), /x/))",
    ],
)
def test_regex_built_ins_with_millions_of_matches_fail_within_the_budget(expression: str) -> None:
    error = _fails_promptly(expression)
    assert error.error == "States.QueryEvaluationError"
    assert "time budget" in (error.cause or "") or "longer than" in (error.cause or "")


def test_replace_gives_the_same_results() -> None:
    assert _evaluate(
        "[$replace('a.b.c', '.', '$0$0'), $replace('aaa', 'a', 'b', 2.5), $replace('aaa', 'a', 'b', 0),"
        " $replace('abcabc', 'b', '[$0$$]', 1), $replace('abcabc', /(b)/, '<$1>'),"
        " $replace('hello', 'l', function($m){ $uppercase($m.match) })]"
    ) == ["a..b..c", "bbb", "aaa", "a[b$]cabc", "a<b>ca<b>c", "heLLo"]
    assert _evaluate("$split('a1b2c', /([0-9])/)") == ["a", "1", "b", "2", "c"]
    assert _evaluate("$split('a1b2c', /[0-9]/, 1)") == ["a"]
    assert _evaluate("$length($replace($pad('', 200000, 'a'), 'a', 'bb'))") == 400000


# ----- F8: caps before building -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "($s := $pad('', 4000000, 'x'); $length($join([1..100].($s))))",  # 400 MB before
        "($s := $pad('', 4000000, 'x'); $length($replace($s, 'x', 'yyyyyyyyyyyyyyyyyyyy')))",
        "($s := $pad('', 3000000, 'x'); $length($replace($s, /x/, 'yyyyyyyyyy')))",
        "$count($split($pad('', 1000000, 'x'), ''))",
    ],
)
def test_a_built_in_whose_result_would_pass_the_caps_fails_before_building_it(expression: str) -> None:
    tracemalloc.start()
    try:
        error = _fails_promptly(expression)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.error == "States.QueryEvaluationError"
    assert "longer than" in (error.cause or "") or "time budget" in (error.cause or "")
    assert peak < 120 * 1024 * 1024


@pytest.mark.parametrize("expression", [f"$length($string({DAG}))", f"$length('' & {DAG})"])
def test_serialising_a_shared_structure_fails_within_the_budget(expression: str) -> None:
    error = _fails_promptly(expression)
    assert "time budget" in (error.cause or "") or "longer than" in (error.cause or "")


# ----- F2: results copied within the payload limit ------------------------------------------------------------


def test_a_result_sharing_one_object_many_times_fails_with_the_data_limit() -> None:
    started = time.monotonic()
    run = _within(30, lambda: run_definition(_pass("{% " + DAG + " %}"), {}, clock=FakeClock()))
    assert time.monotonic() - started < PROMPTLY  # 4.9 s on the event loop before, 330 MB
    assert (run.outcome.status, run.outcome.error) == ("FAILED", "States.DataLimitExceeded")
    assert "exceeding the maximum number of bytes service limit" in (run.outcome.cause or "")


def test_a_result_within_the_payload_limit_is_copied_whole() -> None:
    value = _evaluate("($a := {'x': [1..100]}; [1..100].($a))")
    assert len(value) == 100 and value[0] == {"x": list(range(1, 101))}
    assert value[0] is not value[1]  # plain JSON, shared nothing


# ----- nesting ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    ["(" * 50_000 + "1" + ")" * 50_000, "[" * 50_000 + "]" * 50_000, "-" * 20_000 + "1"],
)
def test_deeply_nested_expressions_fail_with_a_named_error(expression: str) -> None:
    message = syntax_error(expression)
    assert message is not None and f"deeper than {MAX_DEPTH} levels" in message
    # At run time (a definition validation let through, TestState, a JSONata field of an older store):
    definition = load_definition(_pass("{% " + expression + " %}"), validate=False)
    run = _within(30, lambda: run_definition(definition, {}, clock=FakeClock()))
    assert (run.outcome.status, run.outcome.error) == ("FAILED", "States.QueryEvaluationError")
    assert f"deeper than {MAX_DEPTH} levels" in (run.outcome.cause or "")
    assert "RecursionError" not in (run.outcome.cause or "")


def test_nesting_within_the_limit_still_evaluates() -> None:
    assert syntax_error("(" * 500 + "'(((' & \"[[[\"" + ")" * 500) is None
    assert _evaluate("(" * 500 + "1" + ")" * 500) == 1


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("$decodeUrlComponent('%ED%A0%80')", "does not decode to valid UTF-8"),
        ("$fromMillis(0, '[Y0001,1000000-1000000]')", "out of range"),
    ],
)
def test_library_faults_get_words_of_their_own_not_pythons(expression: str, message: str) -> None:
    definition = load_definition(_pass("{% " + expression + " %}"), validate=False)
    run = _within(30, lambda: run_definition(definition, {}, clock=FakeClock()))
    assert (run.outcome.status, run.outcome.error) == ("FAILED", "States.QueryEvaluationError")
    cause = run.outcome.cause or ""
    assert message in cause
    assert "codec" not in cause and "float" not in cause
