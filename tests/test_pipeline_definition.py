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


# ----- a harness for the routing tests (tests/test_pipeline_routing.py) -------------------------------------------


def lambda_error(error_type: str, message: str) -> ASLError:
    """A handler exception as Lambda reports it to Step Functions: the cause is Lambda's JSON, trace and all."""
    cause = {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": "0f5c3d2e-1b2a-4c3d-9e8f-7a6b5c4d3e2f",
        "stackTrace": [
            '  File "/var/task/analyse/app.py", line 83, in handler\n    document = analyse_document(fp)\n',
            '  File "/var/lang/lib/python3.11/json/decoder.py", line 353, in raw_decode\n'
            "    obj, end = self.scan_once(s, idx)\n",
        ],
    }
    return ASLError(error_type, json.dumps(cause))


class FakeTasks:
    """The pipeline's functions answer with canned results, or fail as Lambda reports it; S3 and SNS
    calls are recorded and succeed. `results` and `errors` are keyed Validate / Analyse / Thumbnail."""

    def __init__(self, results: dict[str, Any], errors: dict[str, ASLError] | None = None) -> None:
        self.results = results
        self.errors = errors or {}
        self.calls: list[TaskRequest] = []

    def handles(self, request: TaskRequest) -> bool:
        return True

    async def invoke(self, request: TaskRequest) -> Any:
        self.calls.append(request)
        for name, error in self.errors.items():
            if f"{name}Function" in request.resource:
                raise error
        for name, result in self.results.items():
            if f"{name}Function" in request.resource:
                return result
        return {}

    def copies(self) -> list[dict[str, Any]]:
        return [c.parameters for c in self.calls if c.resource.endswith(":s3:copyObject")]

    def messages(self) -> list[dict[str, Any]]:
        return [c.parameters for c in self.calls if c.resource == "arn:aws:states:::sns:publish"]


def run_pipeline(upload: dict[str, Any], tasks: FakeTasks, name: str = "exec-1") -> Any:
    """Run definitions/pipeline.asl.json, with template.yaml's default substitutions, to its end."""
    stack = load_template(str(ROOT / "template.yaml"))
    spec = next(iter(stack.state_machines.values()))
    definition = load_definition(spec.definition_text())
    run = asyncio.run(
        run_async(
            definition, upload, resolver=tasks, clock=FakeClock(), info=execution_info("Pipeline", name)
        )
    )
    assert run.outcome is not None
    return run.outcome
