"""`arn:aws:states:::states:startExecution[.sync[:2]|.waitForTaskToken]`: a workflow starting another on
this engine, with the result shapes and error names Step Functions gives."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from workflows.asl.errors import ASLError, ServiceError
from workflows.engine.tasks import TaskRequest, resource_kind

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def _epoch_millis(value: Any) -> Any:
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else value


def _sdk_error(err: ServiceError) -> ASLError:
    """A Step Functions API error as a task sees it: `StepFunctions.<Code>Exception`, AWS's cause text."""
    code = err.code if err.code.endswith("Exception") else f"{err.code}Exception"
    cause = (
        f"{err.message} (Service: AWSStepFunctions; Status Code: {err.status}; Error Code: {err.code}; "
        f"Request ID: {uuid.uuid4()}; Proxy: null)"
    )
    return ASLError(f"StepFunctions.{code}", cause)


def _described(execution: dict[str, Any], parse: bool) -> dict[str, Any]:
    """DescribeExecution in the integration's PascalCase; `.sync:2` gives Input/Output as JSON values."""

    def payload(text: Any) -> Any:
        return json.loads(text) if parse and isinstance(text, str) else text

    out: dict[str, Any] = {
        "ExecutionArn": execution["executionArn"],
        "Input": payload(execution.get("input")),
        "InputDetails": {"Included": True},
        "Name": execution["name"],
        "StartDate": _epoch_millis(execution["startDate"]),
        "StateMachineArn": execution["stateMachineArn"],
        "Status": execution["status"],
    }
    if execution.get("output") is not None:
        out["Output"] = payload(execution["output"])
        out["OutputDetails"] = {"Included": True}
    for key in ("error", "cause"):
        if execution.get(key) is not None:
            out[key.capitalize()] = execution[key]
    if execution.get("stopDate") is not None:
        out["StopDate"] = _epoch_millis(execution["stopDate"])
    for key in ("redriveCount", "redriveStatus", "redriveStatusReason"):
        if execution.get(key) is not None:
            out[key[0].upper() + key[1:]] = execution[key]
    return out


class NestedExecutionResolver:
    """Starts executions on the same service; `.sync` waits for them to end."""

    def __init__(self, service: Any, poll_seconds: float = 0.02) -> None:
        self.service = service
        self.poll_seconds = poll_seconds

    def handles(self, request: TaskRequest) -> bool:
        _, service, action = resource_kind(request.resource)
        return service == "states" and action.split(".")[0] == "startExecution"

    async def invoke(self, request: TaskRequest) -> Any:
        action = resource_kind(request.resource)[2]
        params = request.parameters if isinstance(request.parameters, dict) else {}
        child_input = params.get("Input", {})
        text = child_input if isinstance(child_input, str) else json.dumps(child_input)
        name = params.get("Name")
        # Without a Name the child's is derived from this attempt (not random): an attempt that a
        # restart interrupted starts the same child, which StartExecution finds already there.
        derived = name is None and request.idempotency_token is not None
        if derived:
            name = request.idempotency_token
        machine_arn = params.get("StateMachineArn", "")
        try:
            started = await self.service.start_execution(stateMachineArn=machine_arn, name=name, input=text)
        except ServiceError as err:
            # StartExecution is idempotent only while the child runs; one that has ended since is
            # ours too if this attempt started it (a derived name, or the attempt a restart interrupted).
            started = None
            if err.code == "ExecutionAlreadyExists" and (derived or request.resumed):
                started = await self._started_before(machine_arn, name, text)
            if started is None:
                raise _sdk_error(err) from err
        if not action.startswith("startExecution.sync"):
            request_id = str(uuid.uuid4())
            date = datetime.now(tz=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
            return {
                "ExecutionArn": started["executionArn"],
                "SdkHttpMetadata": {
                    "AllHttpHeaders": {
                        "x-amzn-RequestId": [request_id],
                        "connection": ["keep-alive"],
                        "Content-Type": ["application/x-amz-json-1.0"],
                        "Date": [date],
                    },
                    "HttpHeaders": {
                        "connection": "keep-alive",
                        "Content-Type": "application/x-amz-json-1.0",
                        "Date": date,
                        "x-amzn-RequestId": request_id,
                    },
                    "HttpStatusCode": 200,
                },
                "SdkResponseMetadata": {"RequestId": request_id},
                "StartDate": _epoch_millis(started["startDate"]),
            }
        execution = await self._until_done(started["executionArn"])
        described = _described(execution, parse=action.endswith(":2"))
        if execution["status"] != "SUCCEEDED":
            # The parent task fails with the child's description as its cause, as on AWS.
            raise ASLError("States.TaskFailed", json.dumps(described, separators=(",", ":")))
        return described

    async def _started_before(self, machine_arn: str, name: Any, text: str) -> dict[str, Any] | None:
        """The execution this attempt started before a restart: same machine, name and input."""
        parts = machine_arn.split(":")
        if len(parts) < 7 or not isinstance(name, str):
            return None
        arn = ":".join([*parts[:5], "execution", parts[6], name])
        try:
            existing = await self.service.describe_execution(executionArn=arn)
        except ServiceError:
            return None
        if existing.get("input") != text:
            return None
        return {"executionArn": arn, "startDate": existing["startDate"]}

    async def _until_done(self, arn: str) -> dict[str, Any]:
        while True:
            execution = await self.service.describe_execution(executionArn=arn)
            if execution["status"] in TERMINAL:
                return dict(execution)
            await asyncio.sleep(self.poll_seconds)
