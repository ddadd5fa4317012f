"""One bad definition costs one execution, never the server: evaluation budgets, linear-time
matching, an API that keeps answering, a restart that listens first, a SIGTERM that stops."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import stress_serve
from tests.api_replay import client
from workflows.asl.budget import EVALUATION_SECONDS, MAX_DEPTH
from workflows.asl.definition import _string_matches
from workflows.asl.jsonpath import PathError, compile_path
from workflows.engine.clock import FakeClock
from workflows.engine.runner import run_definition
from workflows.service.service import StepFunctionsService
from workflows.service.store import Store

ROLE = "arn:aws:iam::123456789012:role/r"
TAIL_RECURSION = "{% ($f := function($x){ $f($x) }; $f(1)) %}"


def _within(seconds: float, work: Callable[[], Any]) -> Any:
    """`work()`, failing the test (not hanging it) when it has not returned after `seconds`."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the test below
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


def _pass(output: str) -> dict[str, Any]:
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Output": output, "End": True}},
    }


# ----- budgets on evaluation ----------------------------------------------------------------------------


def test_a_jsonata_tail_recursion_fails_its_state_with_a_query_evaluation_error() -> None:
    run = _within(30, lambda: run_definition(_pass(TAIL_RECURSION), {}, clock=FakeClock()))
    assert run.outcome.status == "FAILED"
    assert run.outcome.error == "States.QueryEvaluationError"
    assert "specified for the field 'Output' threw an error during evaluation" in run.outcome.cause
    assert f"time budget of {round(EVALUATION_SECONDS * 1000)} ms" in run.outcome.cause


def test_test_state_on_the_same_state_fails_it_instead_of_hanging() -> None:
    from tests.test_teststate import call

    state = {"Type": "Pass", "QueryLanguage": "JSONata", "Output": TAIL_RECURSION, "End": True}
    response = _within(30, lambda: call(state, input={}))
    assert response["status"] == "FAILED"
    assert response["error"] == "States.QueryEvaluationError"


def test_a_jsonata_string_that_doubles_in_a_loop_fails_before_it_fills_memory() -> None:
    doubling = "{% ($f := function($s, $n){ $n = 0 ? $s : $f($s & $s, $n - 1) }; $f('a', 60)) %}"
    run = _within(30, lambda: run_definition(_pass(doubling), {}, clock=FakeClock()))
    assert (run.outcome.status, run.outcome.error) == ("FAILED", "States.QueryEvaluationError")
    assert "string longer than" in run.outcome.cause


def test_a_huge_jsonata_range_fails_without_being_built() -> None:
    run = _within(30, lambda: run_definition(_pass("{% $count([1..9999999]) %}"), {}, clock=FakeClock()))
    assert (run.outcome.status, run.outcome.error) == ("FAILED", "States.QueryEvaluationError")
    assert "array longer than" in run.outcome.cause


def test_jsonata_regexes_run_in_linear_time_on_re2() -> None:
    definition = _pass("{% [$contains($states.input.s, /(a+)+b/), $contains('xaby', /A+B/i)] %}")
    run = _within(30, lambda: run_definition(definition, {"s": "a" * 100_000}, clock=FakeClock()))
    assert run.outcome.status == "SUCCEEDED"
    assert run.outcome.output == [False, True]


def test_a_jsonata_regex_re2_cannot_run_fails_the_state_when_used() -> None:
    run = run_definition(_pass("{% $match('aa', /(a)\\1/) %}"), {}, clock=FakeClock())
    assert (run.outcome.status, run.outcome.error) == ("FAILED", "States.QueryEvaluationError")
    assert "unsupported regular expression" in run.outcome.cause


def test_string_matches_is_linear_where_a_regex_backtracks() -> None:
    definition = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.s", "StringMatches": "*a*a*a*a*a*a*b", "Next": "Yes"}],
                "Default": "No",
            },
            "Yes": {"Type": "Pass", "Result": "yes", "End": True},
            "No": {"Type": "Pass", "Result": "no", "End": True},
        },
    }
    run = _within(30, lambda: run_definition(definition, {"s": "a" * 200_000}, clock=FakeClock()))
    assert run.outcome.output == "no"


@pytest.mark.parametrize(
    ("value", "pattern", "matches"),
    [
        ("log-2024.txt", "log-*.txt", True),
        ("log-2024.txt", "*.csv", False),
        ("abc", "abc", True),
        ("abc", "ab", False),
        ("", "*", True),
        ("a*b", "a\\*b", True),
        ("axb", "a\\*b", False),
        ("a\\b", "a\\\\b", True),
        ("aXbYc", "a*b*c", True),
        ("abcbc", "*bc", True),
        ("ab", "a*b*", True),
        ("ba", "a*", False),
        ("aaa", "a*a*a*a", False),
        ("aaaa", "a*a*a*a", True),
    ],
)
def test_string_matches_follows_the_glob_rules(value: str, pattern: str, matches: bool) -> None:
    assert _string_matches(value, pattern) is matches


def test_a_jsonpath_filter_regex_runs_on_re2_and_a_quadratic_query_is_budgeted() -> None:
    items = [{"name": "a" * 40} for _ in range(200)]
    assert _within(30, lambda: compile_path("$.items[?(@.name =~ /(a+)+b/)]").get({"items": items})) == []
    nested: Any = {"y": 1}
    wide = [{"x": [dict(nested) for _ in range(60)]} for _ in range(400)]
    with pytest.raises(PathError) as caught:
        _within(30, lambda: compile_path("$..[?(@..y)]..[?(@..y)]").get({"w": wide}))
    assert "time budget" in caught.value.message


def test_string_to_json_on_deep_nesting_names_the_limit_not_a_recursion_error() -> None:
    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"v.$": "States.StringToJson($.s)"}, "End": True}},
    }
    run = run_definition(definition, {"s": "[" * 100_000 + "]" * 100_000}, clock=FakeClock())
    assert (run.outcome.status, run.outcome.error) == ("FAILED", "States.Runtime")
    assert f"deeper than {MAX_DEPTH} levels" in run.outcome.cause
    assert "RecursionError" not in run.outcome.cause
    shallow = run_definition(definition, {"s": "[" * 50 + "]" * 50}, clock=FakeClock())
    assert shallow.outcome.status == "SUCCEEDED"


# ----- the service --------------------------------------------------------------------------------------


WAIT = json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}})


def test_start_resumes_in_the_background_and_a_server_defers_it_until_it_listens(tmp_path: Path) -> None:
    async def scenario() -> None:
        first = StepFunctionsService(Store(tmp_path))
        await first.start()
        sm = (await first.create_state_machine(name="w", definition=WAIT, roleArn=ROLE))["stateMachineArn"]
        arn = (await first.start_execution(stateMachineArn=sm))["executionArn"]
        await asyncio.sleep(0.05)
        await first.close()  # a shutdown: the execution stays RUNNING for the next start

        second = StepFunctionsService(Store(tmp_path))
        second.defer_resume = True
        await second.start()
        await asyncio.sleep(0.05)
        assert second._resuming is None  # nothing runs before the server says it listens
        assert await second.resume_in_background() == 1
        assert (await second.describe_execution(executionArn=arn))["status"] == "RUNNING"
        await second.close()

    asyncio.run(scenario())


def _spinning_definition() -> str:
    # The evaluation runs to its budget, fails the branch, and Retry starts it again: the engine
    # stays busy with it for as long as the test runs.
    branch = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Output": TAIL_RECURSION, "End": True}}}
    retry = {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 99999999, "BackoffRate": 1}
    spin = {"Type": "Parallel", "Branches": [branch], "Retry": [retry], "End": True}
    return json.dumps({"QueryLanguage": "JSONata", "StartAt": "Spin", "States": {"Spin": spin}})


def _describe_p99(url: str, arn: str, calls: int = 50) -> tuple[float, float]:
    """(p50, p99) of DescribeExecution latencies in milliseconds."""
    sfn = client(url)
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        sfn.describe_execution(executionArn=arn)
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.02)
    return stress_serve.percentile(latencies, 0.5), stress_serve.percentile(latencies, 0.99)


def _best_p99(url: str, arn: str) -> tuple[float, float]:
    # The better of two windows of 50 calls: one scheduler hiccup on a shared machine should not
    # decide the test (the server it guards against never answered at all).
    return min(_describe_p99(url, arn), _describe_p99(url, arn), key=lambda pair: pair[1])


def _p99_limit(url: str, arn: str) -> float:
    # 100 ms; on a machine so loaded that the idle server misses that, three times its idle p99.
    return max(stress_serve.P99_LIMIT_MS, 3 * _describe_p99(url, arn)[1])


def test_the_api_keeps_answering_while_an_execution_evaluates_without_end(tmp_path: Path) -> None:
    with stress_serve.serving(str(tmp_path)) as (url, _server):
        sfn = client(url)
        sm = sfn.create_state_machine(name="spin", definition=_spinning_definition(), roleArn=ROLE)
        idle = sfn.create_state_machine(name="w", definition=WAIT, roleArn=ROLE)
        probe = sfn.start_execution(stateMachineArn=idle["stateMachineArn"])["executionArn"]
        limit = _p99_limit(url, probe)
        spin = sfn.start_execution(stateMachineArn=sm["stateMachineArn"])["executionArn"]
        time.sleep(0.2)
        p50, p99 = _best_p99(url, probe)
        assert p99 <= limit, f"DescribeExecution p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        assert sfn.describe_execution(executionArn=spin)["status"] == "RUNNING"
        sfn.stop_execution(executionArn=spin)


def test_a_restart_listens_before_it_resumes_a_spinning_execution(tmp_path: Path) -> None:
    with stress_serve.serving(str(tmp_path)) as (url, server):
        sfn = client(url)
        sm = sfn.create_state_machine(name="spin", definition=_spinning_definition(), roleArn=ROLE)
        idle = sfn.create_state_machine(name="w", definition=WAIT, roleArn=ROLE)
        limit = _p99_limit(url, sfn.start_execution(stateMachineArn=idle["stateMachineArn"])["executionArn"])
        spin = sfn.start_execution(stateMachineArn=sm["stateMachineArn"])["executionArn"]
        time.sleep(0.5)
        server.kill()  # a crash: the execution is RUNNING in the store
        server.wait()
    # (`serving` fails unless the restarted server answers within 30 s: before, it never did)
    with stress_serve.serving(str(tmp_path)) as (url, server):
        sfn = client(url)
        assert sfn.describe_execution(executionArn=spin)["status"] == "RUNNING"
        p50, p99 = _best_p99(url, spin)
        assert p99 <= limit, f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        events = sfn.get_execution_history(executionArn=spin, maxResults=1000)["events"]
        assert any(e["type"] == "ParallelStateEntered" for e in events)


def test_sigterm_ends_the_server_within_five_seconds_whatever_runs(tmp_path: Path) -> None:
    with stress_serve.serving(str(tmp_path)) as (url, server):
        sfn = client(url)
        sm = sfn.create_state_machine(name="spin", definition=_spinning_definition(), roleArn=ROLE)
        sfn.start_execution(stateMachineArn=sm["stateMachineArn"])
        time.sleep(0.5)
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        assert time.monotonic() - started < 5


def test_the_stress_script_keeps_the_server_live_bounded_and_loses_nothing() -> None:
    """Up to three runs, for the latency figure only: on two cores shared with the suite's other
    worker a run can miss 100 ms through the machine's load alone (seen at load 7.5: p99 162 ms),
    while an evaluation that held the event loop would cost its whole 1 s budget in every run. Any
    other failure (memory, a lost execution, a wrong outcome) fails the first run."""
    for _ in range(3):
        figures = stress_serve.stress(4)
        assert figures["executions"] >= len(stress_serve.CATEGORIES)
        others = [f for f in figures["failures"] if not f.startswith("DescribeExecution p99")]
        assert others == [], json.dumps(figures, indent=2)
        if not figures["failures"]:
            return
    raise AssertionError(json.dumps(figures, indent=2))
