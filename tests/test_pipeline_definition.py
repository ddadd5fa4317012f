"""definitions/pipeline.asl.json in process: the branches no local upload can reach (operational failures)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from workflows.asl.definition import load_definition
from workflows.asl.errors import ASLError
from workflows.engine.clock import FakeClock
from workflows.engine.runner import execution_info, run_async
from workflows.engine.tasks import TaskRequest
from workflows.local.template import load_template

ROOT = Path(__file__).resolve().parents[1]


class Recorder:
    """Lambda functions that fail as the Lambda service does, and every other integration recorded."""

    def __init__(self, failing: str) -> None:
        self.failing = failing
        self.calls: list[TaskRequest] = []

    def handles(self, request: TaskRequest) -> bool:
        return True

    async def invoke(self, request: TaskRequest) -> Any:
        self.calls.append(request)
        if self.failing in request.resource:
            raise ASLError("Lambda.ServiceException", "Rate exceeded (Service: Lambda; Status Code: 500)")
        return {}


def test_an_operational_failure_alerts_with_the_object_and_execution_then_fails() -> None:
    stack = load_template(str(ROOT / "template.yaml"))
    spec = next(iter(stack.state_machines.values()))
    definition = load_definition(spec.definition_text())
    recorder = Recorder(failing="ValidateFunction")
    upload = {"bucket": "in", "key": "uploads/cat.jpg", "versionId": "v1", "size": 10, "etag": "e"}
    clock = FakeClock()
    run = asyncio.run(
        run_async(
            definition, upload, resolver=recorder, clock=clock, info=execution_info("Pipeline", "exec-1")
        )
    )
    assert run.outcome is not None
    assert (run.outcome.status, run.outcome.error) == ("FAILED", "Lambda.ServiceException")
    validate_calls = [c for c in recorder.calls if "ValidateFunction" in c.resource]
    assert len(validate_calls) == 6  # the first try and five retries, with backoff (virtual time)
    publishes = [c for c in recorder.calls if c.resource == "arn:aws:states:::sns:publish"]
    assert len(publishes) == 1
    published = publishes[0].parameters
    assert published["MessageAttributes"]["outcome"]["StringValue"] == "failed"
    assert published["MessageAttributes"]["alert"]["StringValue"] == "true"
    message = json.loads(published["Message"])
    assert message["error"] == "Lambda.ServiceException"
    assert message["source"]["key"] == "uploads/cat.jpg"
    assert message["execution"].endswith(":exec-1")
