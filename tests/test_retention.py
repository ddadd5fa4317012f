"""Retention, what a long-running server keeps and for how long: a closed execution is kept 90 days,
as AWS keeps it, and then forgotten whole (its row, history, Map Runs and resume records); running
executions are never touched; the sweep works in small transactions; `serve` and `dev` take
--retention-days (0 keeps everything). In memory, nothing of an execution outlives its run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from workflows.asl.errors import ServiceError
from workflows.service import service as service_module
from workflows.service.service import RETENTION_DAYS, StepFunctionsService
from workflows.service.store import Store

ROLE = "arn:aws:iam::123456789012:role/r"
DAY = 86400.0
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


class ManualClock:
    """Time that moves only when the test says: 90 days pass at once, and no timer fires meanwhile
    (FakeClock would run every pending timeout to its end whenever the loop is idle)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def advance(self, seconds: float) -> None:
        self.t += seconds


async def _machine(service: StepFunctionsService, name: str, definition: dict[str, Any]) -> str:
    created = await service.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)
    return str(created["stateMachineArn"])


async def _asking(service: StepFunctionsService, name: str, activity: str) -> str:
    """A machine whose one state waits for a worker of `activity`."""
    task = {"Type": "Task", "Resource": activity, "End": True}
    return await _machine(service, name, {"StartAt": "A", "States": {"A": task}})


async def _run(service: StepFunctionsService, machine: str, name: str) -> str:
    arn = str((await service.start_execution(stateMachineArn=machine, name=name))["executionArn"])
    for _ in range(1000):
        if (await service.describe_execution(executionArn=arn))["status"] != "RUNNING":
            await service.writer.flush()
            return arn
        await asyncio.sleep(0.005)
    raise AssertionError(f"{name} did not end")


async def _missing(service: StepFunctionsService, arn: str) -> None:
    for call in (service.describe_execution, service.get_execution_history):
        with pytest.raises(ServiceError) as info:
            await call(executionArn=arn)
        assert info.value.code == "ExecutionDoesNotExist"


def test_the_default_is_aws_ninety_days() -> None:
    assert RETENTION_DAYS == 90


def test_an_execution_closed_longer_than_the_retention_is_forgotten(tmp_path: Path) -> None:
    async def go() -> None:
        clock = ManualClock()
        service = StepFunctionsService(Store(tmp_path), clock=clock)
        await service.start()
        machine = await _machine(service, "m", PASS)
        activity = (await service.create_activity(name="never-answered"))["activityArn"]
        waiting_machine = await _asking(service, "waits", activity)
        old = await _run(service, machine, "old")
        waiting = (await service.start_execution(stateMachineArn=waiting_machine, name="w"))["executionArn"]
        clock.advance(60 * DAY)
        recent = await _run(service, machine, "recent")
        clock.advance(30 * DAY)

        assert await service.expire_closed() == 0  # 90 days to the second: not yet over
        clock.advance(1)
        assert await service.expire_closed() == 1
        await _missing(service, old)
        assert service.store.count_events(old) == 0
        listed = (await service.list_executions(stateMachineArn=machine))["executions"]
        assert [e["name"] for e in listed] == ["recent"]
        # Running for 90 days is not closed: the activity execution stays, history and all.
        assert (await service.describe_execution(executionArn=waiting))["status"] == "RUNNING"
        assert service.store.count_events(waiting) > 0
        assert (await service.describe_execution(executionArn=recent))["status"] == "SUCCEEDED"
        # The name is free again, as AWS frees it once the execution's data is gone.
        again = await _run(service, machine, "old")
        assert again == old
        assert service.store.count_events(again) > 0
        assert [
            e["name"] for e in (await service.list_executions(stateMachineArn=machine))["executions"]
        ] == [
            "old",
            "recent",
        ]
        await service.close()

    asyncio.run(go())


def test_retention_zero_keeps_every_execution(tmp_path: Path) -> None:
    async def go() -> None:
        clock = ManualClock()
        service = StepFunctionsService(Store(tmp_path), clock=clock, retention_days=0)
        await service.start()
        assert service._expiring is None  # no sweep at all
        arn = await _run(service, await _machine(service, "m", PASS), "kept")
        clock.advance(10_000 * DAY)
        assert await service.expire_closed() == 0
        assert (await service.describe_execution(executionArn=arn))["status"] == "SUCCEEDED"
        await service.close()

    asyncio.run(go())
    with pytest.raises(ValueError, match="retention"):
        StepFunctionsService(Store(tmp_path / "other"), retention_days=-1)


def test_the_sweep_forgets_in_small_transactions_and_lets_others_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "_EXPIRY_BATCH", 3)

    async def go() -> None:
        clock = ManualClock()
        service = StepFunctionsService(Store(tmp_path), clock=clock, retention_days=1)
        await service.start()
        machine = await _machine(service, "m", PASS)
        arns = [await _run(service, machine, f"e{i}") for i in range(7)]
        clock.advance(2 * DAY)
        batches: list[int] = []
        real = service.store.closed_before

        def counted(when: float, limit: int) -> list[str]:
            found = real(when, limit)
            batches.append(len(found))
            return found

        monkeypatch.setattr(service.store, "closed_before", counted)
        ticks = 0

        async def other_work() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        other = asyncio.create_task(other_work())
        await asyncio.sleep(0)
        before = ticks
        assert await service.expire_closed() == 7
        assert batches == [3, 3, 1]
        assert ticks > before  # the loop ran other work between the transactions
        other.cancel()
        for arn in arns:
            await _missing(service, arn)
        await service.close()

    asyncio.run(go())


def test_a_server_started_on_an_old_store_forgets_what_expired(tmp_path: Path) -> None:
    """The sweep runs when the service starts (then hourly), and close() stops it."""

    async def go() -> None:
        clock = ManualClock()
        first = StepFunctionsService(Store(tmp_path), clock=clock)
        await first.start()
        old = await _run(first, await _machine(first, "m", PASS), "old")
        await first.close()
        first.store.close()

        clock.advance(RETENTION_DAYS * DAY + 1)
        second = StepFunctionsService(Store(tmp_path), clock=clock)
        await second.start()
        sweep = second._expiring
        assert sweep is not None
        for _ in range(200):
            if second.store.get_execution(old) is None:
                break
            await asyncio.sleep(0.01)
        await _missing(second, old)
        await second.close()
        assert sweep.done() and second._expiring is None

    asyncio.run(go())


def test_forgetting_an_execution_takes_its_map_runs_and_resume_records(tmp_path: Path) -> None:
    store = Store(tmp_path)
    arn = "arn:aws:states:us-east-1:123456789012:execution:m:e"
    other = "arn:aws:states:us-east-1:123456789012:execution:m:f"
    run = "arn:aws:states:us-east-1:123456789012:mapRun:m/Map:1"
    with store.transaction():
        for a in (arn, other):
            store.insert_execution(
                {
                    "executionArn": a,
                    "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
                    "name": a.rsplit(":", 1)[1],
                    "status": "SUCCEEDED",
                    "startDate": 1.0,
                    "stopDate": 2.0,
                }
            )
            store.write_events([(a, 1, 1, '[[1,0,"ExecutionStarted",1.0,null,null]]')])
            store.put_token(f"t-{a}", a, {"x": 1})
        store.put_resource("maprun", run, run, 1.0, {"mapRunArn": run, "executionArn": arn}, parent=arn)
        store.write_map_items([(run, 0, arn, "1")])
    assert sorted(store.closed_before(3.0, 10)) == sorted([arn, other])
    with store.transaction():
        store.delete_executions([arn])
    assert store.get_execution(arn) is None and store.count_events(arn) == 0
    assert store.get_resource("maprun", run) is None and store.map_items(run) == {}
    assert store.get_token(f"t-{arn}") is None
    # The other execution is whole.
    assert store.get_execution(other) is not None and store.count_events(other) == 1
    assert store.get_token(f"t-{other}") == {"x": 1}
    assert store.closed_before(3.0, 10) == [other]
    assert store.closed_before(2.0, 10) == []  # closed at 2.0 is not before 2.0


def _snapshots(service: StepFunctionsService) -> int:
    return int(service.store.db.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0])


def test_a_revision_is_forgotten_with_the_last_execution_that_ran_it(tmp_path: Path) -> None:
    """Each revision's definition is stored once for its executions; when the last of them expires, it
    goes too (a definition edited a thousand times would otherwise keep a thousand copies)."""

    async def go() -> None:
        clock = ManualClock()
        service = StepFunctionsService(Store(tmp_path), clock=clock)
        await service.start()
        machine = await _machine(service, "m", PASS)
        first = await _run(service, machine, "first")
        clock.advance(60 * DAY)
        edited = {"StartAt": "Q", "States": {"Q": {"Type": "Pass", "Result": 1, "End": True}}}
        await service.update_state_machine(stateMachineArn=machine, definition=json.dumps(edited))
        second = await _run(service, machine, "second")
        also = await _run(service, machine, "also")
        assert _snapshots(service) == 2

        clock.advance(31 * DAY)  # first closed 91 days ago, the others 31
        assert await service.expire_closed() == 1
        await _missing(service, first)
        assert _snapshots(service) == 1
        described = await service.describe_state_machine_for_execution(executionArn=second)
        assert json.loads(described["definition"]) == edited

        clock.advance(60 * DAY)
        assert await service.expire_closed() == 2
        await _missing(service, also)
        assert _snapshots(service) == 0
        await service.close()

    asyncio.run(go())


def test_snapshots_stay_while_a_row_from_an_older_store_may_name_one(tmp_path: Path) -> None:
    """Rows written before the snapshot column name their snapshot only inside their data: while one
    is left, no snapshot is deleted, and the store still reads every execution."""

    async def go() -> None:
        clock = ManualClock()
        service = StepFunctionsService(Store(tmp_path), clock=clock)
        await service.start()
        old = await _machine(service, "old", PASS)
        kept = await _run(service, old, "kept")
        machine = await _machine(service, "m", {"StartAt": "Q", "States": {"Q": {"Type": "Succeed"}}})
        expired = await _run(service, machine, "expired")
        clock.advance(91 * DAY)
        with service.store.transaction():  # as an older store wrote it, and closed a day ago
            service.store.db.execute(
                "UPDATE executions SET snapshot=NULL, stop_date=? WHERE arn=?", (clock.now() - DAY, kept)
            )
        assert await service.expire_closed() == 1
        await _missing(service, expired)
        assert _snapshots(service) == 2  # the expired one's stays: the old row might name it
        assert (await service.describe_state_machine_for_execution(executionArn=kept))["name"] == "old"
        await service.close()

    asyncio.run(go())


@pytest.mark.parametrize("command", ["serve", "dev"])
def test_the_commands_take_retention_days(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from workflows import cli

    cli._register_extras()
    parser = cli.build_parser()
    assert parser.parse_args([command]).retention_days == RETENTION_DAYS
    assert parser.parse_args([command, "--retention-days", "0"]).retention_days == 0
    assert parser.parse_args([command, "--retention-days", "7.5"]).retention_days == 7.5
    for bad in ("-1", "soon", "inf", "nan"):
        with pytest.raises(SystemExit) as info:
            parser.parse_args([command, "--retention-days", bad])
        assert info.value.code == 2
        assert "a number of days, 0 or more" in capsys.readouterr().err


def test_a_finished_execution_leaves_nothing_in_the_servers_memory(tmp_path: Path) -> None:
    """What the service keeps per execution while it runs (its task, record, run, end event, activity
    task, callback) goes when it ends: a server that runs for months must not grow with each one."""

    async def go() -> None:
        service = StepFunctionsService(Store(tmp_path), retention_days=0)
        await service.start()
        plain = await _machine(service, "plain", PASS)
        activity = (await service.create_activity(name="a"))["activityArn"]
        asking = await _asking(service, "asking", activity)
        mapped = await _machine(
            service,
            "mapped",
            {
                "StartAt": "M",
                "States": {
                    "M": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {**PASS}, "End": True}
                },
            },
        )
        for i in range(20):
            await _run(service, plain, f"p{i}")
        for _ in range(5):
            arn = (await service.start_execution(stateMachineArn=mapped, input='{"items": [1, 2, 3]}'))[
                "executionArn"
            ]
            while (await service.describe_execution(executionArn=arn))["status"] == "RUNNING":
                await asyncio.sleep(0.005)
        answered = (await service.start_execution(stateMachineArn=asking))["executionArn"]
        task = await service.get_activity_task(activityArn=activity, wait=5)
        await service.send_task_success(taskToken=task["taskToken"], output="{}")
        stopped = (await service.start_execution(stateMachineArn=asking))["executionArn"]
        await service.get_activity_task(activityArn=activity, wait=5)
        await service.stop_execution(executionArn=stopped)
        for arn in (answered, stopped):
            while (await service.describe_execution(executionArn=arn))["status"] == "RUNNING":
                await asyncio.sleep(0.005)
        for _ in range(100):  # done callbacks run a loop turn after the end
            if not service._tasks:
                break
            await asyncio.sleep(0.01)
        left = {
            name: len(getattr(service, name))
            for name in ("_tasks", "_records", "_runs", "_done_events", "_activity_tasks")
        }
        assert left == dict.fromkeys(left, 0)
        callbacks = service.callbacks
        assert (len(callbacks._waiting), len(callbacks._beats), len(callbacks._owners)) == (0, 0, 0)
        await service.close()

    asyncio.run(go())
