"""The engine's own bounds: the history quota, Map fan-out, variable sizes and the maximum execution time.

Nothing a definition says may stall the event loop, exhaust memory or keep an execution running for
ever; each case here is one that did (see the red-team findings F3, F6, F7 and F12).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from workflows.asl import budget
from workflows.asl.definition import load_definition
from workflows.asl.payload import MAX_PAYLOAD_BYTES, bounded_size, dumps, size
from workflows.engine.clock import FakeClock
from workflows.engine.dataflow import MAX_VARIABLES_BYTES
from workflows.engine.history import MAX_HISTORY_EVENTS
from workflows.engine.runner import run_async, run_definition

ONE_YEAR = 365 * 24 * 3600
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def _outcome(run: Any) -> tuple[str, str | None]:
    assert run.outcome is not None
    return run.outcome.status, run.outcome.error


class Ticker:
    """A task that notes how long the event loop went without giving it a turn (and how many tasks
    it then held)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.most_tasks = 0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last)
            self.most_tasks = max(self.most_tasks, len(asyncio.all_tasks()))
            last = now

    async def during(self, definition: dict[str, Any], input_value: Any = None) -> Any:
        self._task = asyncio.ensure_future(self._tick())
        await asyncio.sleep(0.01)
        try:
            return await run_async(load_definition(definition), {} if input_value is None else input_value)
        finally:
            self._task.cancel()


# ----- F7: the history quota ends the execution, whatever Catch, Retry or a Map's tolerance say ---------


def _failing_map(**map_fields: Any) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "QueryLanguage": "JSONata",
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "Items": "{% [1..40000] %}",
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "StartAt": "F",
                    "States": {"F": {"Type": "Pass", "Next": "G"}, "G": {"Type": "Fail", "Error": "E"}},
                },
                "Output": "{% 'done' %}",
                **map_fields,
            },
        },
    }
    if "Catch" in map_fields:
        definition["States"]["Caught"] = {"Type": "Succeed"}
    return definition


@pytest.mark.parametrize(
    "map_fields",
    [
        {"ToleratedFailurePercentage": 100, "End": True},
        {"ToleratedFailureCount": 100000, "End": True},
        {
            "ToleratedFailurePercentage": 100,
            "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}],
            "Catch": [
                {"ErrorEquals": ["States.Runtime"], "Next": "Caught"},
                {"ErrorEquals": ["States.ALL"], "Next": "Caught"},
            ],
            "End": True,
        },
    ],
    ids=["tolerated-percentage", "tolerated-count", "retry-and-catch"],
)
def test_a_tolerated_map_cannot_carry_the_history_past_its_quota(map_fields: dict[str, Any]) -> None:
    run = run_definition(_failing_map(**map_fields), {}, clock=FakeClock())
    assert _outcome(run) == ("FAILED", "States.Runtime")
    assert "maximum number of history events" in (run.outcome.cause or "")
    assert len(run.events) == MAX_HISTORY_EVENTS
    assert [e.id for e in run.events] == list(range(1, MAX_HISTORY_EVENTS + 1))
    assert run.events[-1].type == "ExecutionFailed"
    assert not any(
        e.type in ("MapStateExited", "MapStateSucceeded", "PassStateEntered") for e in run.events[-1:]
    )


def _spin(prefix: str, catch: bool = False) -> dict[str, Any]:
    """A loop of states that never ends (a Choice that never matches leaves it)."""
    spin: dict[str, Any] = {"Type": "Pass", "Next": f"{prefix}Check"}
    if catch:  # a Parallel that catches everything, back into the loop
        spin = {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": f"{prefix}In", "States": {f"{prefix}In": {"Type": "Pass", "End": True}}}
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": f"{prefix}Spin"}],
            "Next": f"{prefix}Check",
        }
    return {
        "StartAt": f"{prefix}Spin",
        "States": {
            f"{prefix}Spin": spin,
            f"{prefix}Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.stop", "IsPresent": True, "Next": f"{prefix}Done"}],
                "Default": f"{prefix}Spin",
            },
            f"{prefix}Done": {"Type": "Succeed"},
        },
    }


def test_catchers_inside_iterations_do_not_see_the_quota() -> None:
    """Every iteration catches everything it can; the quota still ends the execution."""
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ToleratedFailurePercentage": 100,
                "ItemProcessor": _spin("", catch=True),
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }
    run = run_definition(definition, [{}, {}, {}], clock=FakeClock())
    assert _outcome(run) == ("FAILED", "States.Runtime")
    assert len(run.events) == MAX_HISTORY_EVENTS
    assert run.events[-1].type == "ExecutionFailed"


def test_a_parallel_that_reaches_the_quota_ends_the_execution_with_no_event_after_it() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Branches": [_spin("A"), _spin("B")],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }
    run = run_definition(definition, {}, clock=FakeClock())
    assert _outcome(run) == ("FAILED", "States.Runtime")
    assert len(run.events) == MAX_HISTORY_EVENTS and run.events[-1].type == "ExecutionFailed"


def test_an_execution_may_still_succeed_with_its_closing_event_the_last_allowed() -> None:
    """AWS: when event 25,000 is ExecutionSucceeded, the execution succeeds."""
    # ExecutionStarted + 2 events per Pass state + ExecutionSucceeded = 25,000
    count = (MAX_HISTORY_EVENTS - 2) // 2
    states = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(count - 1)}
    states[f"S{count - 1}"] = {"Type": "Pass", "End": True}
    run = run_definition({"StartAt": "S0", "States": states}, {}, clock=FakeClock())
    assert _outcome(run) == ("SUCCEEDED", None)
    assert len(run.events) == MAX_HISTORY_EVENTS


# ----- F6: a Map's iterations start as they may run, and give the event loop its turns ----------------------


def test_an_inline_map_holds_only_its_running_iterations() -> None:
    class Counting:
        most = 0

        async def invoke(self, request: Any) -> Any:
            Counting.most = max(Counting.most, len(asyncio.all_tasks()))
            await asyncio.sleep(0)
            return request.parameters

    task = {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}},
    }
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "M",
        "States": {"M": {"Type": "Map", "Items": "{% [1..20000] %}", "ItemProcessor": task, "End": True}},
    }
    ticker = Ticker()
    run = run_definition(definition, {}, resolver=Counting(), clock=FakeClock())  # type: ignore[arg-type]
    assert _outcome(run) == ("FAILED", "States.Runtime")  # 7 events an item: the quota, at item 3,571
    # MaxConcurrency 0: a thousand iterations at a time (each Task also has a helper task or two),
    # not one for each of the 20,000 items
    assert 1000 <= Counting.most < 3000
    definition["States"]["M"]["ItemProcessor"] = PASS
    run = asyncio.run(ticker.during(definition))
    assert _outcome(run) == ("FAILED", "States.Runtime")
    assert ticker.most_tasks < 1100
    assert ticker.longest < 0.5


def test_a_distributed_map_starts_its_children_in_bounded_batches() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "Items": "{% [1..20000] %}",
                "MaxConcurrency": 10000,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                    **PASS,
                },
                "Output": "{% $count($states.result) %}",
                "End": True,
            }
        },
    }
    ticker = Ticker()
    run = asyncio.run(ticker.during(definition))
    assert _outcome(run) == ("SUCCEEDED", None) and run.outcome.output == 20000
    assert ticker.most_tasks < 1100
    assert ticker.longest < 0.5


def test_slow_item_selectors_do_not_add_up_on_the_event_loop() -> None:
    """Each ItemSelector stays inside its slice (so runs on the loop); 60 of them must not run in one turn."""
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "Items": "{% [1..60] %}",
                "ItemSelector": "{% $count([1..1500].($ * 2)) %}",
                "ItemProcessor": PASS,
                "Output": "{% $count($states.result) %}",
                "End": True,
            }
        },
    }
    ticker = Ticker()
    run = asyncio.run(ticker.during(definition))
    assert _outcome(run) == ("SUCCEEDED", None) and run.outcome.output == 60
    assert ticker.longest < 0.5


def test_a_long_chain_inside_an_iteration_yields_to_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """100 states of a few milliseconds each, in each of 3 iterations: the loop gets its turns. (No
    evaluation may leave the loop here: on a loaded machine one past its 20 ms slice would wait for the
    worker, and a Map's iterations that really wait may interleave, as on AWS.)"""
    monkeypatch.setattr(budget, "SLICE_SECONDS", 30.0)
    slow = {"Type": "Pass", "Assign": {"x": "{% $count([1..400].($ * 2)) %}"}}
    chain = {f"S{i}": {**slow, "Next": f"S{i + 1}"} for i in range(100)}
    chain["S100"] = {"Type": "Pass", "End": True}
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "Items": "{% [1, 2, 3] %}",
                "ItemProcessor": {"StartAt": "S0", "States": chain},
                "End": True,
            },
        },
    }
    ticker = Ticker()
    run = asyncio.run(ticker.during(definition))
    assert _outcome(run) == ("SUCCEEDED", None)
    assert ticker.longest < 0.5
    _assert_iterations_in_order(run, 3)


def _assert_iterations_in_order(run: Any, count: int) -> None:
    """Each iteration's events run from its MapIterationStarted to its MapIterationSucceeded, one
    iteration after the other in index order (as without yields: they never wait)."""
    current = None
    seen = []
    for event in run.events:
        details = event.details or {}
        if event.type == "MapIterationStarted":
            assert current is None, f"iteration {details['index']} started inside iteration {current}"
            current = details["index"]
            seen.append(current)
        elif event.type == "MapIterationSucceeded":
            assert details["index"] == current
            current = None
        elif event.type.startswith("Pass"):
            assert current is not None
    assert seen == list(range(count))


def test_a_map_that_yields_keeps_its_events_in_their_order() -> None:
    """Turns on the loop do not reorder iterations that never wait (the loop is held 25-95 ms here at
    most, on an idle machine; the bound is for a loaded one)."""
    definition = {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": PASS, "End": True}}}
    ticker = Ticker()
    run = asyncio.run(ticker.during(definition, list(range(5000))))  # 20,003 events: many turns
    assert _outcome(run) == ("SUCCEEDED", None) and run.outcome.output == list(range(5000))
    _assert_iterations_in_order(run, 5000)
    assert ticker.longest < 1.0


def test_map_max_concurrency_bounds_the_tasks_as_well() -> None:
    class Slow:
        peak = 0
        active = 0

        async def invoke(self, request: Any) -> Any:
            Slow.active += 1
            Slow.peak = max(Slow.peak, Slow.active)
            await asyncio.sleep(0)
            Slow.active -= 1
            return request.parameters

    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "MaxConcurrency": 3,
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {
                        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}
                    },
                },
                "End": True,
            }
        },
    }
    run = run_definition(definition, list(range(50)), resolver=Slow(), clock=FakeClock())  # type: ignore[arg-type]
    assert _outcome(run) == ("SUCCEEDED", None) and run.outcome.output == list(range(50))
    assert Slow.peak == 3


# ----- F3: Assign within AWS's variable size limits ---------------------------------------------------------------


def test_a_doubling_variable_fails_the_execution_at_the_limit() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Assign": {"v": "{% 'xxxxxxxxxxxxxxxx' %}", "n": 0}, "Next": "Grow"},
            "Grow": {
                "Type": "Pass",
                "Assign": {"v": "{% {'a': $v, 'b': $v} %}", "n": "{% $n + 1 %}"},
                "Next": "Check",
            },
            "Check": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% $n < 30 %}", "Next": "Grow"}],
                "Default": "Done",
            },
            "Done": {"Type": "Pass", "Output": "{% $n %}", "End": True},
        },
    }
    run = run_definition(definition, {}, clock=FakeClock())
    assert _outcome(run) == ("FAILED", "States.DataLimitExceeded")
    # Named either by the Assign check or by the JSONata evaluator, which counts the result first.
    cause = run.outcome.cause or ""
    assert "'v'" in cause or "'Assign/v'" in cause
    exits = [
        e for e in run.events if e.type == "PassStateExited" and "assignedVariables" in (e.details or {})
    ]
    assert max(len(e.details["assignedVariables"]["v"].encode()) for e in exits) <= MAX_PAYLOAD_BYTES
    assert len(exits) < 20  # it failed at 2^14 leaves, long before 2^30


def _assign(value_expr: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": "A", "States": {"A": {"Type": "Pass", "Assign": value_expr, "End": True}}}


def test_one_variable_of_256_kib_is_assigned_and_one_byte_more_fails() -> None:
    at_limit = "x" * (MAX_PAYLOAD_BYTES - 2)  # its JSON text has two quotes
    run = run_definition(_assign({"v.$": "$.s"}), {"s": at_limit}, clock=FakeClock())
    assert _outcome(run) == ("SUCCEEDED", None)
    run = run_definition(_assign({"v.$": "$.s"}), {"s": at_limit + "x"}, clock=FakeClock())
    # (the input itself is over 256 KiB only with its key: the state input limit is not what fails)
    assert _outcome(run) == ("FAILED", "States.DataLimitExceeded")


def test_the_values_of_one_assign_together_are_at_most_256_kib() -> None:
    half = "x" * (MAX_PAYLOAD_BYTES // 2)
    run = run_definition(_assign({"a.$": "$.s", "b.$": "$.s"}), {"s": half}, clock=FakeClock())
    assert _outcome(run) == ("FAILED", "States.DataLimitExceeded")
    run = run_definition(_assign({"a.$": "$.s", "b.$": "$.s"}), {"s": half[:-100]}, clock=FakeClock())
    assert _outcome(run) == ("SUCCEEDED", None)


def test_all_the_variables_of_an_execution_are_at_most_10_mib() -> None:
    big = "x" * (200 * 1024)
    count = MAX_VARIABLES_BYTES // (200 * 1024) + 2
    states = {
        f"A{i}": {"Type": "Pass", "Assign": {f"v{i}.$": "$.s"}, "Next": f"A{i + 1}"} for i in range(count)
    }
    states[f"A{count}"] = {"Type": "Succeed"}
    run = run_definition({"StartAt": "A0", "States": states}, {"s": big}, clock=FakeClock())
    assert _outcome(run) == ("FAILED", "States.DataLimitExceeded")
    entered = [e for e in run.events if e.type == "PassStateEntered"]
    assert len(entered) == MAX_VARIABLES_BYTES // (len(big) + 2) + 1
    # reassigning the same variable does not add up
    states = {f"A{i}": {"Type": "Pass", "Assign": {"v.$": "$.s"}, "Next": f"A{i + 1}"} for i in range(count)}
    states[f"A{count}"] = {"Type": "Succeed"}
    run = run_definition({"StartAt": "A0", "States": states}, {"s": big}, clock=FakeClock())
    assert _outcome(run) == ("SUCCEEDED", None)


def test_a_catcher_takes_a_variable_over_the_limit() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "In", "States": {"In": {"Type": "Pass", "End": True}}}],
                "Assign": {"v.$": "$[0].s"},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    run = run_definition(definition, {"s": "x" * MAX_PAYLOAD_BYTES}, clock=FakeClock())
    assert _outcome(run) == ("SUCCEEDED", None)
    assert run.outcome.output["Error"] == "States.DataLimitExceeded"


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -1.5,
        1e300,
        "",
        'héllo "quoted" \\ \n \u2028 😀',
        [],
        {},
        {"a": [1, 2, {"b": None, "ü": "€"}], "": [[]], "n": {"m": {}}},
        [{"k": "v" * 100}] * 50,
    ],
)
def test_bounded_size_is_the_exact_payload_size(value: Any) -> None:
    assert bounded_size(value, MAX_PAYLOAD_BYTES) == size(value) == len(dumps(value).encode())


def test_bounded_size_stops_at_the_limit_of_a_value_far_larger() -> None:
    value: Any = "x" * 16
    for _ in range(60):  # 2^60 leaves, shared: its text would be exabytes
        value = {"a": value, "b": value}
    started = time.perf_counter()
    assert bounded_size(value, MAX_PAYLOAD_BYTES) > MAX_PAYLOAD_BYTES
    assert time.perf_counter() - started < 1.0
    assert bounded_size(list(range(10**7)), 1000) > 1000


# ----- F12: a Wait past the maximum execution time times the execution out ---------------------------------------


@pytest.mark.parametrize(
    ("definition", "input_value"),
    [
        ({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10**12, "End": True}}}, {}),
        (
            {
                "StartAt": "W",
                "States": {"W": {"Type": "Wait", "Timestamp": "9999-12-31T23:59:59Z", "End": True}},
            },
            {},
        ),
        (
            {"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": True}}},
            {"s": 10**12},
        ),
        (
            {"StartAt": "W", "States": {"W": {"Type": "Wait", "TimestampPath": "$.t", "End": True}}},
            {"t": "9999-01-01T00:00:00Z"},
        ),
        (
            {
                "QueryLanguage": "JSONata",
                "StartAt": "W",
                "States": {"W": {"Type": "Wait", "Seconds": "{% 1e300 %}", "End": True}},
            },
            {},
        ),
        (
            {
                "StartAt": "M",
                "States": {
                    "M": {
                        "Type": "Map",
                        "ItemProcessor": {
                            "StartAt": "W",
                            "States": {"W": {"Type": "Wait", "Seconds": 10**9, "End": True}},
                        },
                        "End": True,
                    }
                },
            },
            [1, 2],
        ),
    ],
    ids=["seconds", "timestamp", "seconds-path", "timestamp-path", "jsonata", "in-a-map"],
)
def test_a_wait_past_the_maximum_execution_time_times_the_execution_out(
    definition: dict[str, Any], input_value: Any
) -> None:
    clock = FakeClock()
    started = clock.now()
    run = run_definition(definition, input_value, clock=clock)
    assert _outcome(run) == ("TIMED_OUT", "States.Timeout")
    assert clock.now() == started + ONE_YEAR
    assert run.events[-1].type == "ExecutionTimedOut"
    assert "WaitStateAborted" in [e.type for e in run.events]


def test_a_wait_within_the_maximum_execution_time_ends_as_it_says() -> None:
    clock = FakeClock()
    started = clock.now()
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": ONE_YEAR - 1, "End": True}}}
    run = run_definition(definition, {}, clock=clock)
    assert _outcome(run) == ("SUCCEEDED", None)
    assert clock.now() == started + ONE_YEAR - 1


def test_a_timeout_seconds_past_a_year_is_the_year() -> None:
    clock = FakeClock()
    started = clock.now()
    definition = {
        "TimeoutSeconds": 99999999,  # AWS's largest: over three years
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 10**11, "End": True}},
    }
    run = run_definition(definition, {}, clock=clock)
    assert _outcome(run) == ("TIMED_OUT", "States.Timeout")
    assert clock.now() == started + ONE_YEAR


# ----- every field's evaluation takes a slice of the loop, then the worker --------------------------------

SLOW = "$sum([1..15000].($ * 2 + 1))"  # some 0.3-0.4 s: inside the budget, far past a slice


def _each_of_three(processor_state: dict[str, Any]) -> dict[str, Any]:
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "Items": "{% [1, 2, 3] %}",
                "ItemProcessor": {"StartAt": "S", "States": {"S": processor_state}},
                "End": True,
            }
        },
    }


FAILING_BRANCH = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E"}}}


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(
            {
                "Type": "Parallel",
                "Branches": [FAILING_BRANCH],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Output": "{% " + SLOW + " %}", "Next": "D"}],
                "End": True,
            },
            id="catch-output",
        ),
        pytest.param(
            {
                "Type": "Parallel",
                "Branches": [FAILING_BRANCH],
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "Assign": {"v": "{% " + SLOW + " %}"}, "Next": "D"}
                ],
                "End": True,
            },
            id="catch-assign",
        ),
        pytest.param({"Type": "Wait", "Seconds": "{% " + SLOW + " * 0 %}", "Next": "D"}, id="wait-seconds"),
        pytest.param(
            {
                "Type": "Map",
                "Items": "{% [1] %}",
                "MaxConcurrency": "{% " + SLOW + " * 0 + 1 %}",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "Next": "D",
            },
            id="map-max-concurrency",
        ),
    ],
)
def test_a_slow_field_of_an_awaiting_state_is_evaluated_off_the_loop(state: dict[str, Any]) -> None:
    """A Catch's Output and Assign, a Wait's Seconds, a Map's MaxConcurrency: each evaluation has its
    slice on the loop and then the worker, as Parameters and Output do (they ran on the loop with the
    whole 1 s budget: three iterations held it three times)."""
    state = {k: v for k, v in state.items() if k != "End"}
    if "Next" not in state:
        state["Next"] = "D"
    definition = _each_of_three(state)
    definition["States"]["M"]["ItemProcessor"]["States"]["D"] = {"Type": "Pass", "End": True}
    for catcher in state.get("Catch", []):
        catcher["Next"] = "D"
    ticker = Ticker()
    run = asyncio.run(ticker.during(definition))
    assert _outcome(run) == ("SUCCEEDED", None)
    assert ticker.longest < 0.25


def _map_in_map(item_selector: dict[str, Any]) -> dict[str, Any]:
    """A Map over $.a whose iterations each Map over their $.b (a Pass each)."""
    inner = {
        "StartAt": "I",
        "States": {
            "I": {
                "Type": "Map",
                "ItemsPath": "$.b",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "End": True,
            }
        },
    }
    return {
        "StartAt": "O",
        "States": {
            "O": {
                "Type": "Map",
                "ItemsPath": "$.a",
                "ItemSelector": item_selector,
                "ItemProcessor": inner,
                "End": True,
            }
        },
    }


def test_nested_maps_share_the_executions_bound_on_live_iterations() -> None:
    """A Map inside a Map: each bounded by itself kept 300 x 300 iterations alive at once (90,303
    tasks, the loop held 1.9 s, 14 s to reach the history quota). The execution's iterations are
    counted together: past 1,000 a Map keeps one going, so nesting adds and does not multiply."""
    definition = _map_in_map({"b.$": "$.b"})
    ticker = Ticker()
    run = asyncio.run(ticker.during(definition, {"a": list(range(300)), "b": list(range(300))}))
    assert _outcome(run) == ("FAILED", "States.Runtime") and len(run.events) == MAX_HISTORY_EVENTS
    assert ticker.most_tasks < 2500
    assert ticker.longest < 0.5


def test_nested_maps_within_the_bound_run_as_before() -> None:
    """Under the bound nothing changes: a 3 x 4 nested Map's results, in order."""
    definition = _map_in_map({"b.$": "States.ArrayRange(0, $$.Map.Item.Value, 1)"})
    run = run_definition(definition, {"a": [0, 1, 2], "b": []})
    assert _outcome(run) == ("SUCCEEDED", None)
    assert run.outcome.output == [[0], [0, 1], [0, 1, 2]]
