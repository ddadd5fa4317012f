"""Side effects after a restart: a nested execution is started once, an activity task answered once,
an SDK call carries the same idempotency token; the work a restart interrupted goes on, it is not
scheduled again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from workflows.asl.errors import ServiceError
from workflows.engine.nested import NestedExecutionResolver
from workflows.engine.resolvers import ChainResolver
from workflows.engine.tasks import TaskRequest
from workflows.service.service import StepFunctionsService
from workflows.service.store import Store

ROLE = "arn:aws:iam::123456789012:role/r"


async def crash(service: StepFunctionsService) -> None:
    """Stop as a SIGKILL would: runs end where they stand, events not yet committed are lost."""
    for run in list(service._runs.values()):
        run.shutdown()
    for task in list(service._tasks.values()):
        task.cancel()
    await asyncio.gather(*service._tasks.values(), return_exceptions=True)
    if service.writer._task is not None:
        service.writer._task.cancel()
    service.writer._events.clear()
    service.writer._executions.clear()
    service.store.close()


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.01)):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def ended(service: StepFunctionsService, arn: str) -> dict[str, Any]:
    async def done() -> bool:
        return (await service.describe_execution(executionArn=arn))["status"] != "RUNNING"

    await until(done)
    return await service.describe_execution(executionArn=arn)


async def types_of(service: StepFunctionsService, arn: str) -> list[str]:
    history = await service.get_execution_history(executionArn=arn, maxResults=1000)
    return [e["type"] for e in history["events"]]


async def machine(service: StepFunctionsService, name: str, definition: dict[str, Any]) -> str:
    created = await service.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)
    return str(created["stateMachineArn"])


def test_a_resumed_parent_waits_for_the_child_it_started_instead_of_starting_another(tmp_path: Path) -> None:
    async def go() -> None:
        first = StepFunctionsService(Store(tmp_path))
        # The parent looks at its child rarely, so the child ends while the parent has not noticed.
        first.resolver = ChainResolver(first.activities, NestedExecutionResolver(first, poll_seconds=60))
        await first.start()
        child = await machine(
            first, "child", {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "hi", "End": True}}}
        )
        parent = await machine(
            first,
            "parent",
            {
                "StartAt": "Child",
                "States": {
                    "Child": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::states:startExecution.sync:2",
                        "Parameters": {"StateMachineArn": child, "Input": {"n": 1}},
                        "OutputPath": "$.Output",
                        "End": True,
                    }
                },
            },
        )
        arn = (await first.start_execution(stateMachineArn=parent))["executionArn"]

        async def child_done() -> bool:
            found = (await first.list_executions(stateMachineArn=child))["executions"]
            return bool(found) and found[0]["status"] == "SUCCEEDED"

        await until(child_done)
        await crash(first)

        second = StepFunctionsService(Store(tmp_path))
        await second.start()
        described = await ended(second, arn)
        assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", "hi")
        children = (await second.list_executions(stateMachineArn=child))["executions"]
        assert len(children) == 1  # the old code started a second child with a new random name
        types = await types_of(second, arn)
        assert types.count("TaskScheduled") == 1 and types.count("TaskStarted") == 1
        await second.close()

    asyncio.run(go())


def _activity_machine(activity: str) -> dict[str, Any]:
    return {"StartAt": "Ask", "States": {"Ask": {"Type": "Task", "Resource": activity, "End": True}}}


def test_an_answered_activity_task_is_not_handed_out_again_after_a_restart(tmp_path: Path) -> None:
    async def go() -> None:
        first = StepFunctionsService(Store(tmp_path))
        await first.start()
        activity = (await first.create_activity(name="ask"))["activityArn"]
        sm = await machine(first, "asking", _activity_machine(activity))
        arn = (await first.start_execution(stateMachineArn=sm, input='{"q": 1}'))["executionArn"]
        task = await first.get_activity_task(activityArn=activity, workerName="w", wait=5)
        assert json.loads(task["input"]) == {"q": 1}
        await first.send_task_success(taskToken=task["taskToken"], output='{"a": 1}')
        await crash(first)  # before the run recorded what the answer did

        second = StepFunctionsService(Store(tmp_path))
        await second.start()
        described = await ended(second, arn)
        assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"a": 1})
        assert await second.get_activity_task(activityArn=activity, wait=0) == {}  # nothing handed out
        with pytest.raises(ServiceError) as info:  # the answer counts once
            await second.send_task_success(taskToken=task["taskToken"], output='{"a": 2}')
        assert info.value.code == "TaskDoesNotExist"
        types = await types_of(second, arn)
        assert types.count("ActivityScheduled") == 1 and types.count("ActivityStarted") == 1
        assert types[-2:] == ["TaskStateExited", "ExecutionSucceeded"]
        await second.close()

    asyncio.run(go())


def test_an_activity_task_in_hand_at_a_restart_is_handed_out_again_under_its_token(tmp_path: Path) -> None:
    async def go() -> None:
        first = StepFunctionsService(Store(tmp_path))
        await first.start()
        activity = (await first.create_activity(name="ask"))["activityArn"]
        sm = await machine(first, "asking", _activity_machine(activity))
        arn = (await first.start_execution(stateMachineArn=sm, input='{"q": 1}'))["executionArn"]
        held = await first.get_activity_task(activityArn=activity, workerName="w", wait=5)
        await crash(first)

        second = StepFunctionsService(Store(tmp_path))
        await second.start()
        again = await second.get_activity_task(activityArn=activity, workerName="w2", wait=5)
        assert again["taskToken"] == held["taskToken"]  # at least once to workers, one token
        await second.send_task_success(taskToken=held["taskToken"], output='{"a": "first"}')
        with pytest.raises(ServiceError) as info:
            await second.send_task_success(taskToken=again["taskToken"], output='{"a": "second"}')
        assert info.value.code == "TaskDoesNotExist"
        described = await ended(second, arn)
        assert json.loads(described["output"]) == {"a": "first"}
        types = await types_of(second, arn)
        assert types.count("ActivityScheduled") == 1 and types.count("ActivityStarted") == 1
        await second.close()

    asyncio.run(go())


def test_an_sdk_call_carries_a_token_derived_from_its_attempt() -> None:
    from workflows.engine.interpreter import ExecutionInfo
    from workflows.engine.tasks import idempotency_token
    from workflows.local.integrations import AwsEndpoints, ServiceIntegrationResolver

    endpoints = AwsEndpoints.local(2)  # nothing listens: the call is caught before it is sent
    sent: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        sent.append(dict(params))
        raise RuntimeError("caught")

    for service in ("secretsmanager", "s3"):
        endpoints.client(service).meta.events.register("provide-client-params.*.*", capture)
    info = ExecutionInfo("arn:aws:states:us-east-1:123456789012:execution:sm:e", "e", "arn:sm", "sm")
    token = idempotency_token(info.execution_arn, 7, 0)
    resolver = ServiceIntegrationResolver(endpoints)

    def call(resource: str, parameters: dict[str, Any]) -> None:
        request = TaskRequest(
            resource=resource,
            parameters=parameters,
            state_name="T",
            execution=info,
            context={},
            idempotency_token=token,
        )
        with pytest.raises(RuntimeError):
            asyncio.run(resolver.invoke(request))

    try:
        call("arn:aws:states:::aws-sdk:secretsmanager:createSecret", {"Name": "s"})
        call(
            "arn:aws:states:::aws-sdk:secretsmanager:createSecret",
            {"Name": "s", "ClientRequestToken": "mine"},
        )
        call("arn:aws:states:::aws-sdk:s3:copyObject", {"Bucket": "b", "Key": "k", "CopySource": "a/b"})
    finally:
        resolver.close()
    assert sent[0]["ClientRequestToken"] == token
    assert sent[1]["ClientRequestToken"] == "mine"  # the state's own is kept
    assert "ClientToken" not in sent[2] and "ClientRequestToken" not in sent[2]  # S3 takes none
    assert token == idempotency_token(info.execution_arn, 7, 0) != idempotency_token(info.execution_arn, 7, 1)
