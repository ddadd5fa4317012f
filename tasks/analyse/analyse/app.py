"""Lambda handler of the analyse function: a report on the content and, for an image, a preview.

The preview is written to the preview bucket from the same decode as the report; the state machine
copies an accepted image's preview to its thumbnail key, so no upload is downloaded or decoded twice."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import closing
from functools import cache
from typing import IO, Any, TypedDict

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from .documents import DocumentReport, analyse_document
from .errors import S3Unavailable
from .images import WORK_SIZE, ImageLimits, ImageReport, Preview, describe, inspect_image

logger = Logger()
tracer = Tracer()
metrics = Metrics()

_TRANSIENT = frozenset({"500", "503", "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"})
_STREAM_ERRORS = (ResponseStreamingError, IncompleteReadError, ReadTimeoutError, ConnectionClosedError)
_CHUNK = 1024 * 1024
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/tiff", "image/bmp"})


class AnalyseInput(TypedDict, total=False):
    bucket: str
    key: str
    versionId: str | None
    contentType: str
    objectId: str
    limits: ImageLimits


class PreviewRef(TypedDict):
    bucket: str
    key: str
    width: int
    height: int


class AnalyseResult(TypedDict):
    kind: str
    contentType: str
    image: ImageReport | None
    document: DocumentReport | None
    preview: PreviewRef | None


@cache
def _s3() -> Any:
    return boto3.client("s3")  # endpoint from AWS_ENDPOINT_URL(_S3) when set


@tracer.capture_method
def _download(event: AnalyseInput) -> IO[bytes]:
    """Spool the object to /tmp so memory holds only what the decoder needs, not the whole file.

    One GET streamed to the spool: a managed download (download_fileobj) asks HEAD first and starts a
    thread pool, for an object the size of a photo a request and threads more than needed."""
    extra = {"VersionId": event["versionId"]} if event.get("versionId") else {}
    where = f"s3://{event['bucket']}/{event['key']}"
    spool = tempfile.TemporaryFile(dir=os.environ.get("TMPDIR"))  # noqa: SIM115 - the caller closes it
    try:
        response = _s3().get_object(Bucket=event["bucket"], Key=event["key"], **extra)
        with closing(response["Body"]) as body:
            shutil.copyfileobj(body, spool, _CHUNK)
    except ClientError as err:
        spool.close()
        code = err.response.get("Error", {}).get("Code", "")
        if code in _TRANSIENT:
            raise S3Unavailable(f"{code} reading {where}") from err
        raise
    except _STREAM_ERRORS as err:  # the connection failed mid-body: transient, retried by the definition
        spool.close()
        raise S3Unavailable(f"{type(err).__name__} reading {where}") from err
    spool.seek(0)
    return spool


def _limits(event: AnalyseInput) -> ImageLimits:
    return ImageLimits(**{k: int(v) for k, v in (event.get("limits") or {}).items()})  # type: ignore[typeddict-item]


def preview_key(object_id: str) -> str:
    return f"previews/{object_id}.jpg"


def _preview_settings() -> tuple[str, int]:
    """PREVIEW_BUCKET (required for images) and PREVIEW_SIZE (1..WORK_SIZE, default 256)."""
    bucket = os.environ.get("PREVIEW_BUCKET")
    if not bucket:
        raise RuntimeError("PREVIEW_BUCKET is not set: the function has nowhere to write an image's preview")
    size = int(os.environ.get("PREVIEW_SIZE", "256"))
    if not 1 <= size <= WORK_SIZE:
        raise RuntimeError(f"PREVIEW_SIZE is 1 to {WORK_SIZE}, not {size}")
    return bucket, size


@tracer.capture_method
def _put_preview(event: AnalyseInput, preview: Preview, bucket: str) -> PreviewRef:
    key = preview_key(event["objectId"])
    try:
        _s3().put_object(
            Bucket=bucket,
            Key=key,
            Body=preview.data,
            ContentType="image/jpeg",
            Metadata={"source-object-id": event["objectId"]},
        )
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code in _TRANSIENT:
            raise S3Unavailable(f"{code} writing s3://{bucket}/{key}") from err
        raise
    return PreviewRef(bucket=bucket, key=key, width=preview.width, height=preview.height)


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context
def handler(event: AnalyseInput, context: LambdaContext) -> AnalyseResult:
    content_type = event["contentType"]
    logger.append_keys(bucket=event["bucket"], key=event["key"], content_type=content_type)
    if content_type in IMAGE_TYPES:
        bucket, size = _preview_settings()
        with _download(event) as fp:
            image, preview = inspect_image(fp, _limits(event), size)
        logger.info("image analysed", **describe(image))
        ref = _put_preview(event, preview, bucket)
        result = AnalyseResult(
            kind="image", contentType=content_type, image=image, document=None, preview=ref
        )
    else:
        with _download(event) as fp:
            document = analyse_document(fp, content_type)
        logger.info("document analysed", valid=document["valid"], rows=document["rows"])
        result = AnalyseResult(
            kind="document", contentType=content_type, image=None, document=document, preview=None
        )
    metrics.add_metric(name="Analysed", unit=MetricUnit.Count, value=1)
    return result
