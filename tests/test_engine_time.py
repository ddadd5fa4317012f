"""Time-driven semantics on a virtual clock: Retry backoff, MaxDelaySeconds, jitter, Wait, timeouts."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from workflows.asl.definition import load_definition
from workflows.asl.errors import ASLError
from workflows.engine.clock import FakeClock
from workflows.engine.interpreter import Interpreter
from workflows.engine.runner import execution_info
from workflows.engine.tasks import CallbackRegistry, TaskRequest


class Flaky:
    """Fails `failures` times with `error`, then returns; records the virtual time of each call."""

    def __init__(self, clock: FakeClock, failures: int, error: str = "Transient") -> None:
        self.clock, self.failures, self.error = clock, failures, error
        self.times: list[float] = []

    async def invoke(self, request: TaskRequest) -> Any:
        self.times.append(self.clock.now())
        if len(self.times) <= self.failures:
            raise ASLError(self.error, "try again")
        return {"attempts": len(self.times)}


def run(
    definition: dict[str, Any],
    resolver: Any = None,
    clock: FakeClock | None = None,
    input: Any = None,
    **kw: Any,
) -> Any:
    clock = clock or FakeClock()

    async def go() -> Any:
        execution = Interpreter(load_definition(definition), resolver=resolver, clock=clock, **kw).start(
            execution_info(start_time=clock.now()), {} if input is None else input
        )
        return execution, await execution.wait()

    return asyncio.run(go())


def task(retry: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Retry": retry,
                "End": True,
                **extra,
            }
        },
    }


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 6) for a, b in itertools.pairwise(times)]


def test_retry_backs_off_exponentially_up_to_max_delay() -> None:
    clock = FakeClock()
    flaky = Flaky(clock, failures=4)
    retry = [
        {
            "ErrorEquals": ["Transient"],
            "IntervalSeconds": 2,
            "BackoffRate": 3,
            "MaxAttempts": 5,
            "MaxDelaySeconds": 10,
        }
    ]
    _execution, outcome = run(task(retry), flaky, clock)
    assert outcome.status == "SUCCEEDED" and outcome.output == {"attempts": 5}
    assert gaps(flaky.times) == [2, 6, 10, 10]  # 2, 2*3, min(18, 10), min(54, 10)


def test_full_jitter_waits_at_most_the_backoff() -> None:
    clock = FakeClock()
    flaky = Flaky(clock, failures=3)
    retry = [
        {
            "ErrorEquals": ["States.ALL"],
            "IntervalSeconds": 4,
            "BackoffRate": 2,
            "MaxAttempts": 3,
            "JitterStrategy": "FULL",
        }
    ]
    _, outcome = run(task(retry), flaky, clock)
    assert outcome.status == "SUCCEEDED"
    for gap, ceiling in zip(gaps(flaky.times), [4, 8, 16], strict=True):
        assert 0 <= gap <= ceiling


def test_retries_exhausted_fail_with_the_task_error_and_max_attempts_zero_never_retries() -> None:
    clock = FakeClock()
    flaky = Flaky(clock, failures=10)
    retry = [{"ErrorEquals": ["Transient"], "MaxAttempts": 2}]
    _, outcome = run(task(retry), flaky, clock)
    assert (outcome.status, outcome.error, outcome.cause) == ("FAILED", "Transient", "try again")
    assert len(flaky.times) == 3
    once = Flaky(FakeClock(), failures=10)
    _, outcome = run(task([{"ErrorEquals": ["Transient"], "MaxAttempts": 0}]), once)
    assert outcome.status == "FAILED" and len(once.times) == 1


def test_a_one_hour_wait_takes_no_time_and_moves_the_clock() -> None:
    clock = FakeClock()
    start = clock.now()
    _, outcome = run(
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}, clock=clock
    )
    assert outcome.status == "SUCCEEDED"
    assert clock.now() - start == 3600


def test_execution_timeout_ends_timed_out() -> None:
    definition = {
        "TimeoutSeconds": 5,
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}},
    }
    execution, outcome = run(definition)
    assert (outcome.status, outcome.error) == ("TIMED_OUT", "States.Timeout")
    assert execution.events[-1].type == "ExecutionTimedOut"


def test_task_timeout_and_heartbeat_timeout() -> None:
    class Silent:
        async def invoke(self, request: TaskRequest) -> Any:
            return {}  # sends the token nowhere: nobody calls back

    token_task = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "End": True,
                "TimeoutSeconds": 300,
                "HeartbeatSeconds": 30,
            }
        },
    }
    execution, outcome = run(token_task, Silent(), callbacks=CallbackRegistry())
    assert (outcome.status, outcome.error) == ("FAILED", "States.HeartbeatTimeout")
    assert "TaskTimedOut" in [e.type for e in execution.events]

    class Slow:
        def __init__(self, clock: FakeClock) -> None:
            self.clock = clock

        async def invoke(self, request: TaskRequest) -> Any:
            await self.clock.sleep(120)
            return {}

    clock = FakeClock()
    slow = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "TimeoutSeconds": 10,
                "End": True,
            }
        },
    }
    _, outcome = run(slow, Slow(clock), clock)
    assert (outcome.status, outcome.error) == ("FAILED", "States.Timeout")


def test_map_max_concurrency_is_honoured() -> None:
    class Gauge:
        def __init__(self, clock: FakeClock) -> None:
            self.clock, self.active, self.peak = clock, 0, 0

        async def invoke(self, request: TaskRequest) -> Any:
            self.active += 1
            self.peak = max(self.peak, self.active)
            await self.clock.sleep(1)
            self.active -= 1
            return request.parameters

    def fan_out(limit: int) -> dict[str, Any]:
        return {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "MaxConcurrency": limit,
                    "ItemProcessor": {
                        "StartAt": "Work",
                        "States": {
                            "Work": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::lambda:invoke",
                                "End": True,
                            }
                        },
                    },
                    "End": True,
                }
            },
        }

    for limit, expected_peak in ((2, 2), (0, 10)):
        clock = FakeClock()
        gauge = Gauge(clock)
        _, outcome = run(fan_out(limit), gauge, clock, input=list(range(10)))
        assert outcome.status == "SUCCEEDED" and outcome.output == list(range(10))
        assert gauge.peak == expected_peak


def test_context_times_are_datetimes_text_to_the_millisecond() -> None:
    """`$$.State.EnteredTime` text is built once per millisecond and reused: it must still be what
    datetime gives for every instant, including fractions that round up to the next millisecond."""
    import random
    from datetime import UTC, datetime

    from workflows.engine.frame import _iso

    rng = random.Random(14)
    base = [1_700_000_000.0, 1_700_000_000.9999996, 1_393_732_808.3899994, 1_699_999_999.0005, 0.0]
    seconds = [rng.randint(1_000_000_000, 2_000_000_000) for _ in range(20_000)]
    near = [s + rng.randint(0, 999_999) / 1e6 + rng.choice((0.0, 4.9e-7, 5e-7, -5e-7)) for s in seconds]
    for epoch in base + near + [rng.uniform(1e9, 2e9) for _ in range(20_000)]:
        expected = datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds")
        assert _iso(epoch) == expected.replace("+00:00", "Z"), epoch
        assert _iso(epoch) == _iso(epoch)  # the reused text


def test_context_state_is_stamped_on_first_read_with_that_states_entry() -> None:
    """The context object's `State` is built only when something reads `$$`: it must still name the
    state that reads it, carry that state's entry time (its StateEntered event's), and leave a
    context object an earlier state kept untouched."""
    from workflows.engine.frame import _iso

    definition = {
        "StartAt": "Keep",
        "States": {
            "Keep": {"Type": "Pass", "Parameters": {"kept.$": "$$.State"}, "Next": "Quiet"},
            "Quiet": {"Type": "Pass", "Next": "Later"},
            "Later": {"Type": "Wait", "Seconds": 3, "Next": "Which"},
            "Which": {
                "Type": "Choice",
                "Choices": [{"Variable": "$$.State.Name", "StringEquals": "Which", "Next": "Read"}],
                "Default": "Wrong",
            },
            "Wrong": {"Type": "Fail", "Error": "Stale"},
            "Read": {
                "Type": "Pass",
                "Parameters": {"kept.$": "$.kept", "now.$": "$$.State"},
                "End": True,
            },
        },
    }
    clock = FakeClock()
    execution, outcome = run(definition, clock=clock)
    assert outcome.status == "SUCCEEDED", outcome
    entered = {e.details["name"]: e.timestamp for e in execution.events if e.type.endswith("StateEntered")}
    assert outcome.output == {
        "kept": {"Name": "Keep", "EnteredTime": _iso(entered["Keep"])},
        "now": {"Name": "Read", "EnteredTime": _iso(entered["Read"])},
    }
    assert entered["Read"] - entered["Keep"] == 3
