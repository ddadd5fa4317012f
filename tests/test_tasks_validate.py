"""The validate and starter tasks against moto's S3, called with the sample events and a fake context."""

from __future__ import annotations

import copy
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "UploadPipelineTests")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tests")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from tasks.starter.starter import naming
from tasks.validate.validate import app as validate_app
from tasks.validate.validate.errors import (
    EmptyObject,
    ImageTooLarge,
    InvalidMetadata,
    ObjectNotFound,
    ObjectTooLarge,
    UnsupportedMediaType,
)
from tasks.validate.validate.sniff import sniff

EVENTS = Path(__file__).parent / "events"
BUCKET = "pipeline-input"


@dataclass(frozen=True)
class FakeLambdaContext:
    """The attributes powertools reads from a Lambda context."""

    function_name: str = "validate"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:validate:live"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    log_group_name: str = "/aws/lambda/validate"
    log_stream_name: str = "2026/11/27/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        validate_app._s3.cache_clear()
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client
    validate_app._s3.cache_clear()


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text("utf-8"))


def png_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def jpeg_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 200, 30)).save(out, "JPEG")
    return out.getvalue()


def run(s3, context, key: str, body: bytes, metadata: dict[str, str] | None = None, **overrides):
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=metadata or {})
    event = load("validate_input.json") | {"key": key, "size": len(body)} | overrides
    return validate_app.handler(event, context)


def test_sample_event_with_unicode_plus_and_space_in_key(s3, context):
    event = load("validate_input.json")
    s3.put_object(
        Bucket=BUCKET, Key=event["key"], Body=jpeg_bytes(), Metadata={"uploader": "ana", "source": "web"}
    )
    result = validate_app.handler(event, context)
    assert result["contentType"] == "image/jpeg"
    assert result["kind"] == "image"
    assert result["extensionMatches"] is True
    assert result["sizeClass"] == "small"
    assert result["metadata"] == {"uploader": "ana", "source": "web"}
    json.dumps(result)  # the state machine needs JSON


@pytest.mark.parametrize(
    ("key", "body", "content_type", "matches"),
    [
        ("a.png", png_bytes(), "image/png", True),
        ("a.jpg", png_bytes(), "image/png", False),  # the bytes win over the name
        ("d.json", b'{"a": [1, 2]}', "application/json", True),
        ("d.csv", b"id,name\n1,ana\n2,bo\n", "text/csv", True),
        ("notes.txt", "just some words, é\n".encode(), "text/plain", True),
        ("doc.pdf", b"%PDF-1.7\n%%EOF\n", "application/pdf", True),
    ],
)
def test_content_type_from_magic_bytes(s3, context, key, body, content_type, matches):
    result = run(s3, context, key, body)
    assert (result["contentType"], result["extensionMatches"]) == (content_type, matches)


def test_magic_bytes_of_other_image_formats():
    for fmt, expected in (
        ("GIF", "image/gif"),
        ("WEBP", "image/webp"),
        ("TIFF", "image/tiff"),
        ("BMP", "image/bmp"),
    ):
        out = io.BytesIO()
        Image.new("RGB", (8, 8)).save(out, fmt)
        assert sniff(out.getvalue()).content_type == expected, fmt


def test_zip_named_jpg_is_unsupported(s3, context):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("x.txt", "hello")
    with pytest.raises(UnsupportedMediaType):
        run(s3, context, "uploads/holiday.jpg", archive.getvalue())


def test_binary_garbage_is_unsupported(s3, context):
    with pytest.raises(UnsupportedMediaType):
        run(s3, context, "x.bin", bytes(range(256)) * 4)


def test_zero_bytes(s3, context):
    with pytest.raises(EmptyObject):
        run(s3, context, "empty.jpg", b"")


def calls_to_s3(client) -> list[str]:
    """The S3 operations the client makes from now on, by name, in order."""
    made: list[str] = []
    client.meta.events.register("before-call.s3", lambda model, **_: made.append(model.name))
    return made


def test_one_ranged_get_answers_for_size_version_and_metadata(s3, context):
    """One request per object: the ranged GET's Content-Range gives the whole size (not the 4 KiB
    part), and it carries the version, ETag and metadata a HEAD would."""
    body = jpeg_bytes((400, 300)) + b"\0" * 10_000  # well past the bytes the sniffer reads
    made = calls_to_s3(validate_app._s3())
    result = run(s3, context, "big.jpg", body, {"uploader": "ana"})
    assert made == ["GetObject"]
    version = s3.head_object(Bucket=BUCKET, Key="big.jpg").get("VersionId")
    assert (result["size"], result["metadata"], result["versionId"]) == (
        len(body),
        {"uploader": "ana"},
        version,
    )
    assert result["etag"] == s3.head_object(Bucket=BUCKET, Key="big.jpg")["ETag"].strip('"')


def test_zero_bytes_is_asked_again_with_head(s3, context):
    """S3 refuses a range of an empty object (InvalidRange): a HEAD confirms it is empty."""
    made = calls_to_s3(validate_app._s3())
    with pytest.raises(EmptyObject):
        run(s3, context, "empty.png", b"")
    assert made == ["GetObject", "HeadObject"]


def test_size_limits_come_from_the_input(s3, context):
    limits = load("validate_input.json")["limits"]
    with pytest.raises(ObjectTooLarge):
        run(s3, context, "a.json", b"[1,2,3]", limits=limits | {"maxBytes": 4})
    with pytest.raises(ImageTooLarge):
        run(s3, context, "a.png", png_bytes(), limits=limits | {"maxImageBytes": 10})


def test_metadata_schema(s3, context):
    with pytest.raises(InvalidMetadata, match="consent"):
        run(s3, context, "a.png", png_bytes(), {"consent": "maybe"})
    with pytest.raises(InvalidMetadata):
        run(s3, context, "a.png", png_bytes(), {"unexpected": "x"})


def test_missing_object(s3, context):
    with pytest.raises(ObjectNotFound):
        validate_app.handler(load("validate_input.json") | {"key": "nope.png"}, context)


def test_error_class_name_is_the_asl_error_name():
    # Lambda reports errorType = the class name; the definition's Catch matches exactly these.
    definition = json.loads((Path(__file__).parents[1] / "definitions/pipeline.asl.json").read_text())
    caught = {e for c in definition["States"]["Validate"]["Catch"] for e in c["ErrorEquals"]}
    for err in (
        EmptyObject,
        ImageTooLarge,
        InvalidMetadata,
        ObjectNotFound,
        ObjectTooLarge,
        UnsupportedMediaType,
    ):
        assert err.__name__ in caught


# --- naming (shared by the starter and the local engine) ---------------------------------------------


def test_eventbridge_key_is_literal_and_s3_notification_key_is_decoded():
    bridged = naming.object_ref_from_eventbridge(load("eventbridge_object_created.json"))
    notified = naming.object_ref_from_s3_record(load("s3_notification_put.json")["Records"][0])
    assert bridged["key"] == notified["key"] == "uploads/cat photo+1 é.jpg"
    assert bridged["objectId"] == notified["objectId"]
    assert bridged["copySource"] == (
        "pipeline-input/uploads/cat%20photo%2B1%20%C3%A9.jpg?versionId=IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"
    )


def test_execution_name_is_deterministic_and_valid():
    a = naming.execution_name("b", "k", "v1")
    assert a == naming.execution_name("b", "k", "v1")
    assert a != naming.execution_name("b", "k", "v2")
    assert a != naming.execution_name("other", "k", "v1")
    assert naming.execution_name("b", "k", None, "seq1") != naming.execution_name("b", "k", None, "seq2")
    assert len(a) <= naming.MAX_NAME_LENGTH and a.startswith("s3-")
    with pytest.raises(ValueError):
        naming.execution_name("b", "k", prefix="bad prefix")
    with pytest.raises(ValueError):
        naming.execution_name("b", "k", prefix="p" * (naming.MAX_PREFIX_LENGTH + 1))


def test_execution_name_shows_the_key_tail_and_a_hash_of_the_version():
    name = naming.execution_name("in", "uploads/photo-dark.jpg", "v1")
    digest = naming.object_id("in", "uploads/photo-dark.jpg", "v1")[:16]
    assert name == f"s3-photo-dark_jpg-{digest}"
    # same file name elsewhere, or another version: the readable part is the same, the hash is not
    assert naming.execution_name("in", "other/photo-dark.jpg", "v1") != name
    assert naming.execution_name("in", "uploads/photo-dark.jpg", "v2").startswith("s3-photo-dark_jpg-")
    assert naming.execution_name("in", "uploads/photo-dark.jpg", "v2") != name
    assert naming.execution_name("in", "x/cat photo+1 é.jpg", "v1").startswith("s3-cat_photo_1_e_jpg-")


# StartExecution refuses these in a name; CloudWatch Logs logging wants only [0-9A-Za-z_-].
_FORBIDDEN = set(' \t\n<>{}[]?*"#%\\^|~`$&,;:/.') | {chr(c) for c in range(0x20)} | {chr(0x7F)}


@pytest.mark.parametrize(
    "key",
    [
        "uploads/photo-dark.jpg",
        "ünïcødé ☃.jpg",
        "x/100% (1)&#?=.jpg",
        "hostile/{} {0} 'q' \\b $.x.jpg",
        "uploads/../../etc/passwd.jpg",
        "tab\there\nnewline\x00nul\x7f.png",
        "uploads/" + "é-long-" * 140 + "end.jpg",  # near S3's 1,024-byte limit
        "uploads/" + "x" * 200,
        "☃☃☃",
        "uploads/",
        "/",
        "-_-.jpg",
        "🙂/[brackets]<angle>{curly}.gif",
    ],
)
def test_execution_name_is_within_aws_rules_for_any_key(key):
    name = naming.execution_name("pipeline-input", key, "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e")
    assert 1 <= len(name) <= naming.MAX_NAME_LENGTH
    assert re.fullmatch(r"[A-Za-z0-9_-]+", name), name
    assert not set(name) & _FORBIDDEN
    assert name.startswith("s3-") and not name.endswith(("-", "_"))
    digest = naming.object_id("pipeline-input", key, "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e")[:16]
    assert name.endswith(f"-{digest}")
    assert len(naming.execution_name("b", key, "v1", prefix="p" * naming.MAX_PREFIX_LENGTH)) <= 80


def test_execution_input_keeps_the_full_object_id():
    ref = naming.object_ref_from_eventbridge(load("eventbridge_object_created.json"))
    assert re.fullmatch(r"[0-9a-f]{40}", ref["objectId"])
    name = naming.execution_name(ref["bucket"], ref["key"], ref["versionId"], ref["sequencer"])
    assert name.endswith(ref["objectId"][:16])


def test_starter_starts_once_per_object_version(monkeypatch, context):
    from tasks.starter.starter import app as starter_app

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    with mock_aws():
        starter_app._sfn.cache_clear()
        sfn = boto3.client("stepfunctions")
        arn = sfn.create_state_machine(
            name="pipeline",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        monkeypatch.setenv("STATE_MACHINE_ARN", arn)
        event = load("eventbridge_object_created.json")
        first = starter_app.handler(event, context)
        second = starter_app.handler(copy.deepcopy(event), context)
        assert first["started"] is True
        assert second["executionName"] == first["executionName"]
        executions = sfn.list_executions(stateMachineArn=arn)["executions"]
        assert [e["name"] for e in executions] == [first["executionName"]]
        started = json.loads(sfn.describe_execution(executionArn=executions[0]["executionArn"])["input"])
        assert started["key"] == "uploads/cat photo+1 é.jpg"
    starter_app._sfn.cache_clear()
