"""Resume at any depth: a Map or Parallel nested in an interrupted iteration or branch goes on from
where it stood (each state entered once), and a Distributed Map's finished items are not run again."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from workflows.asl.definition import load_definition
from workflows.engine.clock import FakeClock, SystemClock
from workflows.engine.history import HistoryEvent
from workflows.engine.interpreter import Interpreter
from workflows.engine.runner import execution_info
from workflows.engine.tasks import TaskRequest


class KeepingSink:
    """Keeps what the service's sink keeps across a restart: the events (through their stored
    form) and a Distributed Map's finished items."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.items: dict[str, dict[int, Any]] = {}

    def emit(self, event: HistoryEvent) -> None:
        self.events.append(event.to_json())

    async def flush(self) -> None:
        pass

    def map_item(self, map_run_arn: str, index: int, output: Any) -> None:
        self.items.setdefault(map_run_arn, {})[index] = output

    def map_items(self, map_run_arn: str) -> dict[int, Any]:
        return dict(self.items.get(map_run_arn, {}))


def crash_and_resume(
    definition: Any,
    value: Any,
    crash_when: Callable[[list[str]], bool],
    resolver: Any = None,
    clock: Any = None,
    sink: KeepingSink | None = None,
) -> tuple[Any, Any]:
    """Run until `crash_when(event types)`, kill the run, start again from the stored history."""
    clock = clock or FakeClock()
    info = execution_info(start_time=clock.now())
    sink = sink or KeepingSink()

    async def first_life() -> list[HistoryEvent]:
        run = Interpreter(definition, clock=clock, resolver=resolver).start(info, value, sink)
        while not crash_when([e.type for e in run.events]):
            assert run.task is not None and not run.task.done(), "ended before the crash"
            await asyncio.sleep(0)
        assert run.task is not None
        run.shutdown()
        await asyncio.gather(run.task, return_exceptions=True)
        return [HistoryEvent.from_json(e) for e in sink.events]

    recorded = asyncio.run(first_life())

    async def second_life() -> tuple[Any, Any]:
        run = Interpreter(definition, clock=clock, resolver=resolver).start(
            info, value, sink, history=recorded
        )
        return run, await run.wait()

    return asyncio.run(second_life())


def _inner_map(name: str) -> dict[str, Any]:
    """A Map over `$.waits` whose iterations wait that many seconds, then say so."""
    return {
        "Type": "Map",
        "ItemsPath": "$.waits",
        "ItemProcessor": {
            "StartAt": "Hold",
            "States": {
                "Hold": {"Type": "Wait", "SecondsPath": "$", "Next": "Said"},
                "Said": {"Type": "Pass", "Parameters": {"waited.$": "$"}, "End": True},
            },
        },
        "End": True,
    }


# Map (outer) > Parallel (Both) > Map (Inner): three levels.
THREE_DEEP = {
    "StartAt": "Outer",
    "States": {
        "Outer": {
            "Type": "Map",
            "ItemProcessor": {
                "StartAt": "Both",
                "States": {
                    "Both": {
                        "Type": "Parallel",
                        "Branches": [
                            {"StartAt": "Inner", "States": {"Inner": _inner_map("Inner")}},
                            {
                                "StartAt": "Other",
                                "States": {
                                    "Other": {"Type": "Wait", "Seconds": 50, "Next": "OtherDone"},
                                    "OtherDone": {"Type": "Pass", "Result": "other", "End": True},
                                },
                            },
                        ],
                        "End": True,
                    }
                },
            },
            "End": True,
        }
    },
}


def test_a_map_in_a_parallel_in_a_map_resumes_each_iteration_where_it_stood() -> None:
    definition = load_definition(THREE_DEEP)
    value = [{"waits": [1, 30]}, {"waits": [2, 40]}]
    # crash once the short inner waits have finished (their iterations succeeded) and the long wait
    # and the other branch are still waiting
    run, outcome = crash_and_resume(
        definition, value, lambda types: types.count("MapIterationSucceeded") >= 2
    )
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.output == [
        [[{"waited": 1}, {"waited": 30}], "other"],
        [[{"waited": 2}, {"waited": 40}], "other"],
    ]
    counts = Counter(e.type for e in run.events)
    assert counts["MapStateStarted"] == 3  # the outer Map and the two inner ones, once each
    assert counts["ParallelStateStarted"] == 2
    assert counts["MapIterationStarted"] == 2 + 4
    assert counts["WaitStateEntered"] == 4 + 2  # inner holds and the other branch's waits, once each
    assert counts["PassStateEntered"] == 4 + 2
    assert counts["MapIterationSucceeded"] == 6
    assert [e.id for e in run.events] == list(range(1, len(run.events) + 1))


def test_a_parallel_in_a_map_in_a_parallel_resumes_its_branches() -> None:
    definition = load_definition(
        {
            "StartAt": "Top",
            "States": {
                "Top": {
                    "Type": "Parallel",
                    "Branches": [
                        {
                            "StartAt": "Each",
                            "States": {
                                "Each": {
                                    "Type": "Map",
                                    "ItemProcessor": {
                                        "StartAt": "Pair",
                                        "States": {
                                            "Pair": {
                                                "Type": "Parallel",
                                                "Branches": [
                                                    {
                                                        "StartAt": "Short",
                                                        "States": {
                                                            "Short": {
                                                                "Type": "Wait",
                                                                "Seconds": 1,
                                                                "End": True,
                                                            }
                                                        },
                                                    },
                                                    {
                                                        "StartAt": "Long",
                                                        "States": {
                                                            "Long": {
                                                                "Type": "Wait",
                                                                "Seconds": 60,
                                                                "End": True,
                                                            }
                                                        },
                                                    },
                                                ],
                                                "End": True,
                                            }
                                        },
                                    },
                                    "End": True,
                                }
                            },
                        },
                        {"StartAt": "Quick", "States": {"Quick": {"Type": "Pass", "Result": 1, "End": True}}},
                    ],
                    "End": True,
                }
            },
        }
    )
    run, outcome = crash_and_resume(definition, [1, 2, 3], lambda types: types.count("WaitStateExited") >= 3)
    assert (outcome.status, outcome.output) == ("SUCCEEDED", [[[1, 1], [2, 2], [3, 3]], 1])
    counts = Counter(e.type for e in run.events)
    assert counts["WaitStateEntered"] == 6  # three short, three long, none again
    assert counts["ParallelStateStarted"] == 1 + 3
    assert counts["MapStateStarted"] == 1


def test_a_distributed_maps_finished_items_do_not_run_again() -> None:
    calls: Counter[int] = Counter()
    finished: list[int] = []

    class Slow:
        async def invoke(self, request: TaskRequest) -> Any:
            item = request.parameters
            calls[item] += 1
            await asyncio.sleep(0.002 * item)  # real time: later items finish later
            finished.append(item)
            return item * 10

    definition = load_definition(
        {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                        "StartAt": "Work",
                        "States": {
                            "Work": {
                                "Type": "Task",
                                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:work",
                                "End": True,
                            }
                        },
                    },
                    "End": True,
                }
            },
        }
    )
    items = list(range(1, 21))
    before: set[int] = set()
    sink = KeepingSink()

    def crash_when(types: list[str]) -> bool:
        kept = {i for outputs in sink.items.values() for i in outputs}
        if len(kept) >= 5:  # a few items have finished (and were kept), the rest are running
            before.update(i + 1 for i in kept)  # kept by index
            return True
        return False

    # the real clock: a fake one would jump to the tasks' timeout while they sleep
    run, outcome = crash_and_resume(
        definition, items, crash_when, resolver=Slow(), clock=SystemClock(), sink=sink
    )
    assert (outcome.status, outcome.output) == ("SUCCEEDED", [i * 10 for i in items])
    assert before and len(before) < len(items)
    assert {i for i in items if calls[i] == 1} == before  # finished before: not run again
    assert all(calls[i] == 2 for i in items if i not in before)  # running at the crash: run again
    counts = Counter(e.type for e in run.events)
    assert counts["MapRunStarted"] == 1 and counts["MapStateStarted"] == 1


def test_the_service_keeps_a_distributed_maps_items_and_nested_threads_across_a_restart(
    tmp_path: Any,
) -> None:
    """Through the store: finished Distributed Map items and each event's thread survive a restart;
    the API's history does not show the thread."""
    import json

    from tests.test_exactly_once import crash, ended, machine
    from workflows.engine.resolvers import CallableResolver, ChainResolver
    from workflows.service.service import StepFunctionsService
    from workflows.service.store import Store

    calls: Counter[int] = Counter()

    before_crash = {"on": True}

    async def work(event: Any, context: Any) -> Any:
        calls[event] += 1
        # Before the crash, the later items wait: the crash must find the Map mid-run however fast
        # the machine is (otherwise the whole Map could end before the test looks).
        if before_crash["on"] and event > 8:
            await asyncio.sleep(3600)
        await asyncio.sleep(0.002 * event)
        return event * 10

    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Work",
                    "States": {
                        "Work": {
                            "Type": "Task",
                            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:work",
                            "End": True,
                        }
                    },
                },
                "End": True,
            }
        },
    }

    def service() -> StepFunctionsService:
        svc = StepFunctionsService(Store(tmp_path))
        svc.resolver = ChainResolver(CallableResolver({"work": work}), svc.resolver)
        return svc

    async def go() -> None:
        first = service()
        await first.start()
        sm = await machine(first, "dmap", definition)
        arn = (await first.start_execution(stateMachineArn=sm, input=json.dumps(list(range(1, 21)))))[
            "executionArn"
        ]
        deadline = asyncio.get_running_loop().time() + 10
        while first.store.db.execute("SELECT COUNT(*) FROM map_items").fetchone()[0] < 5:
            assert asyncio.get_running_loop().time() < deadline, "no Distributed Map item was kept"
            await asyncio.sleep(0.001)
        kept = {i + 1 for (i,) in first.store.db.execute("SELECT idx FROM map_items")}
        await crash(first)
        before_crash["on"] = False

        second = service()
        await second.start()
        described = await ended(second, arn)
        assert json.loads(described["output"]) == [i * 10 for i in range(1, 21)]
        assert {i for i in range(1, 21) if calls[i] == 1} >= kept
        history = await second.get_execution_history(executionArn=arn)
        assert all("thread" not in e for e in history["events"])
        assert second.store.db.execute("SELECT COUNT(*) FROM map_items").fetchone()[0] == 0  # ended
        await second.close()

    asyncio.run(go())


def test_a_resumed_task_keeps_the_retries_it_used_and_is_not_scheduled_again() -> None:
    """Two attempts failed and were retried, the third was running at the crash: after the restart
    the third goes on (not scheduled again) and, failing, has no retry left (MaxAttempts 2)."""
    from workflows.asl.errors import ASLError

    calls: list[tuple[str, int]] = []
    life = {"n": 1}

    class Flaky:
        async def invoke(self, request: TaskRequest) -> Any:
            calls.append((f"life{life['n']}", request.attempt))
            if life["n"] == 1 and request.attempt == 2:
                await asyncio.Event().wait()  # running when the engine stops
            raise ASLError("Boom", "again")

    definition = load_definition(
        {
            "StartAt": "Work",
            "States": {
                "Work": {
                    "Type": "Task",
                    "Resource": "arn:aws:lambda:us-east-1:123456789012:function:work",
                    "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 2, "IntervalSeconds": 1}],
                    "End": True,
                }
            },
        }
    )

    def crash_when(types: list[str]) -> bool:
        if types.count("LambdaFunctionScheduled") == 3 and len(calls) == 3:
            life["n"] = 2
            return True
        return False

    run, outcome = crash_and_resume(definition, {}, crash_when, resolver=Flaky())
    assert (outcome.status, outcome.error) == ("FAILED", "Boom")
    assert calls == [("life1", 0), ("life1", 1), ("life1", 2), ("life2", 2)]  # the same attempt, once
    counts = Counter(e.type for e in run.events)
    assert counts["LambdaFunctionScheduled"] == 3 and counts["LambdaFunctionFailed"] == 3
