"""What the definition decides from the tasks' facts: routing, derived keys, the messages it publishes.

definitions/pipeline.asl.json runs in process on the engine (template.yaml's default criteria), with
the Lambda functions answering canned reports; S3 copies and SNS publishes are recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tasks.starter.starter.naming import object_ref_from_eventbridge

from .test_pipeline_definition import FakeTasks, run_pipeline

EVENTS = Path(__file__).parent / "events"


def upload(key: str = "uploads/cat.jpg") -> dict[str, Any]:
    """The execution input the starter builds for an upload of `key`."""
    event = json.loads((EVENTS / "eventbridge_object_created.json").read_text("utf-8"))
    event["detail"]["object"]["key"] = key
    return dict(object_ref_from_eventbridge(event))


def validation(content_type: str = "image/jpeg", kind: str = "image", **extra: Any) -> dict[str, Any]:
    return {
        "bucket": "pipeline-input",
        "key": "uploads/cat.jpg",
        "versionId": "v1",
        "size": 5000,
        "sizeClass": "small",
        "etag": "e",
        "contentType": content_type,
        "kind": kind,
        "extensionMatches": True,
        "metadata": {},
    } | extra


def image_analysis(**image: Any) -> dict[str, Any]:
    report = {
        "format": "JPEG",
        "width": 640,
        "height": 480,
        "gps": False,
        "sharpness": 500.0,
        "brightness": 0.5,
        "contrast": 0.4,
    } | image
    return {"kind": "image", "contentType": "image/jpeg", "image": report, "document": None}


def route(analysis: dict[str, Any], valid: dict[str, Any] | None = None, key: str = "uploads/cat.jpg") -> Any:
    tasks = FakeTasks({"Validate": valid or validation(), "Analyse": analysis})
    outcome = run_pipeline(upload(key), tasks)
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    return outcome.output["outcome"], tasks


@pytest.mark.parametrize("brightness", [0.02, 0.99])
def test_a_badly_exposed_picture_is_reviewed_for_exposure_not_blur(brightness: float) -> None:
    # A dark or washed-out picture has little contrast, so little Laplacian variance: exposure is the cause.
    outcome, _ = route(image_analysis(brightness=brightness, sharpness=0.5))
    assert (outcome["outcome"], outcome["reason"]) == ("review", "exposure")


def test_a_well_exposed_blurry_picture_is_reviewed_as_blurry() -> None:
    outcome, _ = route(image_analysis(sharpness=3.0))
    assert (outcome["outcome"], outcome["reason"]) == ("review", "blurry")
    outcome, _ = route(image_analysis())
    assert (outcome["outcome"], outcome["reason"]) == ("accepted", "passed")
