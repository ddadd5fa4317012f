"""What the definition decides from the tasks' facts: routing, derived keys, the messages it publishes.

definitions/pipeline.asl.json runs in process on the engine (template.yaml's default criteria), with
the Lambda functions answering canned reports; S3 copies and SNS publishes are recorded.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

import pytest

from tasks.starter.starter.naming import object_ref_from_eventbridge

from .test_pipeline_definition import ASLError, FakeTasks, lambda_error, run_pipeline

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
        "trailingBytes": 0,
    } | image
    preview = {"bucket": "previews", "key": "previews/p.jpg", "width": 256, "height": 192}
    return {
        "kind": "image",
        "contentType": "image/jpeg",
        "image": report,
        "document": None,
        "preview": preview,
    }


def accepted_copies(tasks: Any, key: str) -> dict[str, Any]:
    """An accepted image's two copies: the upload to its outcome key, then the preview to its thumbnail,
    whose key is the object id's and takes nothing from the upload's key."""
    copy, thumbnail = tasks.copies()
    object_id = upload(key)["objectId"]
    assert (thumbnail["Key"], thumbnail["CopySource"]) == (
        f"thumbnails/{object_id}.jpg",
        "previews/previews/p.jpg",
    )
    return copy


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


@pytest.mark.parametrize(
    ("trailing", "expected"),
    [
        (84, ("review", "trailing-data")),
        (1, ("review", "trailing-data")),
        (0, ("accepted", "passed")),
        (None, ("accepted", "passed")),
    ],
)
def test_data_after_the_image_goes_to_review(trailing: int | None, expected: tuple[str, str]) -> None:
    outcome, tasks = route(image_analysis(trailingBytes=trailing))
    assert (outcome["outcome"], outcome["reason"]) == expected
    [message] = tasks.messages()
    assert message["MessageAttributes"]["reason"]["StringValue"] == expected[1]


def test_trailing_data_is_the_first_review_reason() -> None:
    outcome, _ = route(image_analysis(trailingBytes=500, gps=True, sharpness=1.0, brightness=0.01))
    assert (outcome["outcome"], outcome["reason"]) == ("review", "trailing-data")
    outcome, _ = route(image_analysis(trailingBytes=500, width=10))
    assert (outcome["outcome"], outcome["reason"]) == ("rejected", "too-small")


def document_analysis(fmt: str, content_type: str, valid: bool = True, rows: int = 3) -> dict[str, Any]:
    document = {
        "format": fmt,
        "valid": valid,
        "error": None,
        "rows": rows,
        "columns": 0,
        "topLevel": None,
        "header": [],
    }
    return {"kind": "document", "contentType": content_type, "image": None, "document": document}


@pytest.mark.parametrize(
    ("fmt", "content_type", "valid", "expected"),
    [
        ("text", "text/plain", True, ("review", "unknown-text")),
        ("text", "text/plain", False, ("rejected", "invalid-document")),  # not UTF-8 after all
        ("json", "application/json", True, ("accepted", "passed")),
        ("csv", "text/csv", True, ("accepted", "passed")),
        ("pdf", "application/pdf", True, ("accepted", "passed")),
        ("xml", "application/xml", True, ("review", "unknown-text")),  # a format nobody decided on
    ],
)
def test_accepted_document_types(fmt: str, content_type: str, valid: bool, expected: tuple[str, str]) -> None:
    outcome, tasks = route(
        document_analysis(fmt, content_type, valid),
        validation(content_type, "document"),
        key="uploads/notes.txt",
    )
    assert (outcome["outcome"], outcome["reason"]) == expected
    assert tasks.messages()[0]["MessageAttributes"]["reason"]["StringValue"] == expected[1]


# ----- derived keys: none climbs out of its prefix ------------------------------------------------------------------

HOSTILE_KEYS = [
    "uploads/../../etc/passwd.jpg",
    "uploads/./cat.jpg",
    "/etc/passwd.jpg",
    "//etc//passwd.jpg",
    "uploads/..",
    "..",
    "/",
    "..\\..\\windows\\win.ini",
    "uploads\\..\\..\\x.jpg",
    "uploads/. /.. /... /x.jpg",  # Windows drops trailing dots and spaces: ".. " is ".."
    "uploads/x/" + "a" * 195 + "../../../y.jpg",
    "uploads/xa../" + "y" * 197,  # a safe key whose last 200 characters start with "../"
]


def assert_contained(key: str, prefix: str = "") -> None:
    assert key.startswith(prefix) and len(key) > len(prefix), key
    rest = key[len(prefix) :]
    segments = rest.split("/")
    assert "\\" not in key and not rest.startswith("/"), key
    assert all(segment.strip(". \t") for segment in segments), key  # no "", ".", "..", ".. " segment
    assert posixpath.normpath(rest) == rest and not rest.startswith(".."), key


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_outcome_copy_key_stays_inside_the_bucket(key: str) -> None:
    outcome, tasks = route(image_analysis(), key=key)
    assert outcome["outcome"] == "accepted"
    copy = accepted_copies(tasks, key)
    assert copy["CopySource"] == upload(key)["copySource"]  # the source is the upload, as it is
    assert_contained(copy["Key"])
    message = json.loads(tasks.messages()[0]["Message"])
    assert message["key"] == copy["Key"] and message["source"]["key"] == key


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_quarantine_key_stays_under_its_reason_and_object_id(key: str) -> None:
    tasks = FakeTasks({}, {"Validate": lambda_error("EmptyObject", "no content")})
    outcome = run_pipeline(upload(key), tasks)
    assert outcome.status == "SUCCEEDED"
    [copy] = tasks.copies()
    object_id = upload(key)["objectId"]
    assert_contained(copy["Key"], f"quarantine/EmptyObject/{object_id}/")
    assert len(copy["Key"].encode()) <= 1024


@pytest.mark.parametrize(
    "key", ["uploads/cat photo+1 é.jpg", "uploads/a..b/c.d..jpg", "x/100% (1)&#?=.jpg", "uploads/.hidden"]
)
def test_ordinary_keys_are_copied_under_the_same_key(key: str) -> None:
    _, tasks = route(image_analysis(), key=key)
    assert accepted_copies(tasks, key)["Key"] == key
    tasks = FakeTasks({}, {"Validate": lambda_error("EmptyObject", "no content")})
    run_pipeline(upload(key), tasks)
    assert [c["Key"] for c in tasks.copies()] == [f"quarantine/EmptyObject/{upload(key)['objectId']}/{key}"]


def test_a_long_keys_tail_is_made_safe_after_the_cut() -> None:
    key = "uploads/xa../" + "y" * 197  # nothing unsafe, until the cut to 200 characters leaves "../"
    _, tasks = route(image_analysis(), key=key)
    assert accepted_copies(tasks, key)["Key"] == key
    tasks = FakeTasks({}, {"Validate": lambda_error("EmptyObject", "no content")})
    run_pipeline(upload(key), tasks)
    [copy] = tasks.copies()
    assert copy["Key"] == f"quarantine/EmptyObject/{upload(key)['objectId']}/{'y' * 197}"


# ----- alerts: the error's name and one short line of cause, never a stack trace ---------------------------------

TRACE_MARKS = ("stackTrace", "Traceback", "/var/task", "/var/lang", 'File \\"', ".py")


def assert_no_trace(message: dict[str, Any]) -> None:
    text = json.dumps(message)
    assert not [mark for mark in TRACE_MARKS if mark in text], text


def test_quarantine_alert_carries_the_error_message_not_the_stack_trace() -> None:
    tasks = FakeTasks(
        {"Validate": validation()},
        {"Analyse": lambda_error("CorruptImage", "cannot decode JPEG: image file is truncated")},
    )
    outcome = run_pipeline(upload(), tasks)
    assert outcome.status == "SUCCEEDED"
    [published] = tasks.messages()
    assert_no_trace(published)
    message = json.loads(published["Message"])
    assert (message["outcome"], message["reason"]) == ("quarantined", "CorruptImage")
    assert message["cause"] == "cannot decode JPEG: image file is truncated"
    assert message["source"]["key"] == "uploads/cat.jpg"
    # the execution keeps the whole cause for whoever debugs it; only the alert is trimmed
    assert "stackTrace" in outcome.output["error"]["Cause"]


def test_failure_alert_of_an_unexpected_lambda_error_has_no_stack_trace() -> None:
    error = lambda_error("RecursionError", "maximum recursion depth exceeded while decoding a JSON array")
    tasks = FakeTasks({"Validate": validation("application/json", "document")}, {"Analyse": error})
    outcome = run_pipeline(upload("uploads/deep.json"), tasks)
    assert (outcome.status, outcome.error) == ("FAILED", "RecursionError")
    [published] = tasks.messages()
    assert_no_trace(published)
    message = json.loads(published["Message"])
    assert (message["outcome"], message["error"]) == ("failed", "RecursionError")
    assert message["cause"] == "maximum recursion depth exceeded while decoding a JSON array"
    assert message["source"]["key"] == "uploads/deep.json"


def test_skipped_notice_has_no_stack_trace() -> None:
    tasks = FakeTasks(
        {}, {"Validate": lambda_error("ObjectNotFound", "s3://in/uploads/cat.jpg does not exist")}
    )
    assert run_pipeline(upload(), tasks).status == "SUCCEEDED"
    [published] = tasks.messages()
    assert_no_trace(published)
    assert json.loads(published["Message"])["cause"] == "s3://in/uploads/cat.jpg does not exist"


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        # Lambda's JSON: the first line of errorMessage, JSON escapes decoded
        (
            json.dumps(
                {"errorMessage": 'bad "q" é \\ /\nline two', "errorType": "X", "stackTrace": ["a.py"]}
            ),
            'bad "q" é \\ /',
        ),
        # Lambda runtime errors put errorType first
        (
            '{"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 3.00 seconds"}',
            "Task timed out after 3.00 seconds",
        ),
        # a traceback someone put in the message itself
        (json.dumps({"errorMessage": 'Traceback (most recent call last):\n  File "/var/task/x.py"'}), None),
        # JSON we cannot read (cut short): nothing rather than something unreadable
        ('{"errorMessage": "cut sho', None),
        # a service's plain-text cause: its first line
        (
            "Access Denied (Service: S3, Status Code: 403)\nmore",
            "Access Denied (Service: S3, Status Code: 403)",
        ),
        ("", None),
        (json.dumps({"errorMessage": "x" * 1000}), "x" * 255 + "…"),
    ],
    ids=["lambda", "runtime", "traceback-in-message", "cut-json", "plain-text", "empty", "long"],
)
def test_alert_cause_is_one_short_line(cause: str, expected: str | None) -> None:
    tasks = FakeTasks({}, {"Validate": ASLError("CorruptImage", cause)})
    run_pipeline(upload(), tasks)
    [published] = tasks.messages()
    assert_no_trace(published)
    assert json.loads(published["Message"])["cause"] == expected
