"""Activities and task tokens: workers poll for tasks and answer them by token."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workflows.asl.errors import ASLError, ServiceError
from workflows.engine.history import dumps

if TYPE_CHECKING:
    from workflows.service.service import StepFunctionsService

from workflows.service.core import (
    GET_ACTIVITY_TASK_WAIT,
    ServiceCore,
    _drop_none,
    _dt,
    _entered_state,
    _now,
    _page,
    _strings_in,
    check_tag_count,
    parse_payload,
    valid_name,
)


@dataclass
class _ActivityTask:
    token: str
    activity_arn: str
    input: str
    execution_arn: str
    future: asyncio.Future[Any] | None = None
    worker: str | None = None
    heartbeat: float = field(default_factory=_now)
    on_start: Any = None


class ActivityResolver:
    """Runs a Task whose Resource is an activity ARN: queues it for GetActivityTask and waits for the
    worker's SendTaskSuccess/Failure. The lead's resolver chain delegates activity ARNs here."""

    def __init__(self, service: StepFunctionsService) -> None:
        self.service = service

    @staticmethod
    def handles(request: Any) -> bool:
        from workflows.engine.tasks import resource_kind

        return resource_kind(request.resource)[0] == "activity"

    async def invoke(self, request: Any) -> Any:
        svc = self.service
        resource = request.resource
        if svc.store.get_resource("activity", resource) is None:
            raise ASLError("States.Runtime", f"Activity does not exist: '{resource}'")
        token = getattr(request, "attempt_token", None) or uuid.uuid4().hex + uuid.uuid4().hex
        if getattr(request, "resumed", False):
            answer = svc.store.get_token(token)
            if answer is not None:  # the worker answered before the restart: not handed out again
                from workflows.engine.tasks import recorded_outcome

                return recorded_outcome(answer)
        task = _ActivityTask(token, resource, dumps(request.parameters), request.execution.execution_arn)
        task.future = asyncio.get_running_loop().create_future()
        task.on_start = request.mark_started
        svc._activity_tasks[token] = task
        svc._activity_queue(resource).append(task)
        svc._wake_pollers(resource)
        heartbeat = request.heartbeat_seconds
        try:
            while True:
                timeout = None
                if heartbeat and task.worker is not None:
                    timeout = max(0.0, task.heartbeat + heartbeat - _now())
                try:
                    return await asyncio.wait_for(asyncio.shield(task.future), timeout if heartbeat else None)
                except TimeoutError:
                    if task.worker is None:
                        continue
                    if _now() >= task.heartbeat + heartbeat:
                        raise ASLError("States.HeartbeatTimeout", None)
        finally:
            svc._activity_tasks.pop(token, None)
            queue = svc._activity_queue(resource)
            if task in queue:
                queue.remove(task)


class Activities(ServiceCore):
    """Activities and task tokens: workers poll for tasks and answer them by token."""

    _activity_tasks: dict[str, _ActivityTask]
    _activity_queues: dict[str, deque[_ActivityTask]]
    _pollers: dict[str, asyncio.Event]

    def _token_target(self, token: str) -> _ActivityTask | None:
        return self._activity_tasks.get(token)

    def _answer(self, token: str, answer: dict[str, Any]) -> tuple[_ActivityTask | None, str] | None:
        """Record a worker's answer durably before it takes effect, and say whom it answers (None: no
        task waits on this token, or it was answered already).

        Recorded first, so a restart between the answer and the history that records its effect
        does not hand the task out again (a second SendTaskSuccess would then be counted twice)."""
        task = self._token_target(token)
        if task is not None and task.future is not None and not task.future.done():
            execution = task.execution_arn
        elif self.callbacks is not None and self.callbacks.known(token):
            execution = self.callbacks.owner(token)
        else:
            return None
        if self.store.get_token(token) is not None:
            return None  # answered already (the run has not taken the answer yet)
        with self.store.transaction():
            self.store.put_token(token, execution, answer)
        return task, execution

    async def send_task_success(self, *, taskToken: str, output: str) -> dict[str, Any]:
        value = parse_payload(
            output, lambda reason: ServiceError("InvalidOutput", f"Invalid Output: '{reason}'")
        )
        answered = self._answer(taskToken, {"output": value})
        if answered is None:
            raise ServiceError("TaskDoesNotExist", "Task Does Not Exist")
        task, _ = answered
        if task is not None and task.future is not None and not task.future.done():
            task.future.set_result(value)
        elif self.callbacks is not None:
            self.callbacks.complete(taskToken, value)
        return {}

    async def send_task_failure(
        self, *, taskToken: str, error: str | None = None, cause: str | None = None
    ) -> dict[str, Any]:
        answered = self._answer(taskToken, {"error": error, "cause": cause})
        if answered is None:
            raise ServiceError("TaskDoesNotExist", "Task Does Not Exist")
        task, _ = answered
        if task is not None and task.future is not None and not task.future.done():
            task.future.set_exception(ASLError(error or "", cause))
        elif self.callbacks is not None:
            self.callbacks.fail(taskToken, error, cause)
        return {}

    async def pending_task_tokens(self, *, executionArn: str) -> dict[str, Any]:
        """Not an AWS operation (the console's read): the task tokens this execution is waiting on.

        `.waitForTaskToken` tokens are found where AWS shows them, in TaskScheduled `parameters`
        (passed with `$$.Task.Token`); activity tokens from the activity queue. Each item names
        the state, the resource and how the token is completed (`callback` or `activity`)."""
        record = self._execution(executionArn)
        found: list[dict[str, Any]] = []
        for task in list(self._activity_tasks.values()):
            if task.execution_arn == executionArn and task.future is not None and not task.future.done():
                found.append({"taskToken": task.token, "kind": "activity", "resource": task.activity_arn})
        if record["status"] == "RUNNING" and self.callbacks is not None:
            self.writer.commit(strict=False)
            events = self.store.load_events(executionArn)
            by_id = {e.id: e for e in events}
            for event in events:
                if event.type != "TaskScheduled" or not event.details:
                    continue
                params = event.details.get("parameters")
                try:
                    value = json.loads(params) if isinstance(params, str) else params
                except ValueError:
                    continue
                for token in _strings_in(value):
                    if self.callbacks.known(token):
                        found.append(
                            {
                                "taskToken": token,
                                "kind": "callback",
                                "resource": event.details.get("resource"),
                                "stateName": _entered_state(by_id, event),
                                "scheduledEventId": event.id,
                            }
                        )
        return {"tasks": found}

    async def send_task_heartbeat(self, *, taskToken: str) -> dict[str, Any]:
        task = self._token_target(taskToken)
        if task is not None:
            task.heartbeat = _now()
            return {}
        if self.callbacks is not None and self.callbacks.heartbeat(taskToken):
            return {}
        raise ServiceError("TaskDoesNotExist", "Task Does Not Exist")

    def _activity_queue(self, arn: str) -> deque[_ActivityTask]:
        return self._activity_queues.setdefault(arn, deque())

    def _wake_pollers(self, arn: str) -> None:
        event = self._pollers.get(arn)
        if event is not None:
            event.set()

    async def create_activity(
        self,
        *,
        name: str,
        tags: list[dict[str, str]] | None = None,
        encryptionConfiguration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if not valid_name(name):
            raise ServiceError("InvalidName", f"Invalid Name: '{name}'")
        arn = self._arn("activity", name)
        check_tag_count(arn, tags)
        existing = self.store.get_resource("activity", arn)
        if existing is not None:
            return {"activityArn": arn, "creationDate": _dt(existing["creationDate"])}
        now = _now()
        with self.store.transaction():
            self.store.put_resource(
                "activity",
                arn,
                name,
                now,
                {
                    "activityArn": arn,
                    "name": name,
                    "creationDate": now,
                    "encryptionConfiguration": encryptionConfiguration or {"type": "AWS_OWNED_KEY"},
                },
            )
            if tags:
                self.store.put_tags(arn, [(t["key"], t["value"]) for t in tags])
        return {"activityArn": arn, "creationDate": _dt(now)}

    def _activity(self, arn: str) -> dict[str, Any]:
        self._check_arn(arn)
        record = self.store.get_resource("activity", arn)
        if record is None:
            raise ServiceError("ActivityDoesNotExist", f"Activity Does Not Exist: '{arn}'")
        return record

    async def describe_activity(self, *, activityArn: str) -> dict[str, Any]:
        a = self._activity(activityArn)
        return {
            "activityArn": a["activityArn"],
            "name": a["name"],
            "creationDate": _dt(a["creationDate"]),
            "encryptionConfiguration": a.get("encryptionConfiguration") or {"type": "AWS_OWNED_KEY"},
        }

    async def delete_activity(self, *, activityArn: str) -> dict[str, Any]:
        self._check_arn(activityArn)
        with self.store.transaction():
            self.store.delete_resource(activityArn)
        return {}

    async def list_activities(
        self, *, maxResults: int | None = None, nextToken: str | None = None
    ) -> dict[str, Any]:
        items = sorted(self.store.list_resources("activity"), key=lambda r: r["name"])
        page, nxt = _page(items, maxResults, nextToken, "act")
        out = {
            "activities": [
                {"activityArn": a["activityArn"], "name": a["name"], "creationDate": _dt(a["creationDate"])}
                for a in page
            ]
        }
        return _drop_none({**out, "nextToken": nxt})

    async def get_activity_task(
        self, *, activityArn: str, workerName: str | None = None, wait: float = GET_ACTIVITY_TASK_WAIT
    ) -> dict[str, Any]:
        self._activity(activityArn)
        deadline = time.monotonic() + wait
        queue = self._activity_queue(activityArn)
        while True:
            while queue:
                task = queue.popleft()
                if task.future is not None and not task.future.done():
                    task.worker = workerName or ""
                    task.heartbeat = _now()
                    if task.on_start is not None:
                        task.on_start({"workerName": workerName} if workerName else {})
                        await self.writer.flush()
                    return {"taskToken": task.token, "input": task.input}
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return {}
            event = self._pollers.setdefault(activityArn, asyncio.Event())
            event.clear()
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return {}
