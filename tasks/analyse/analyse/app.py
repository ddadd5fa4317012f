"""Lambda handlers of the analyse function: ``handler`` reports on content, ``thumbnail`` writes one."""

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
from .errors import S3Unavailable, UnsupportedMediaType
from .images import ImageLimits, ImageReport, analyse_image, describe, make_thumbnail

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


class AnalyseResult(TypedDict):
    kind: str
    contentType: str
    image: ImageReport | None
    document: DocumentReport | None


class ThumbnailResult(TypedDict):
    thumbnailBucket: str
    thumbnailKey: str
    width: int
    height: int


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


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context
def handler(event: AnalyseInput, context: LambdaContext) -> AnalyseResult:
    content_type = event["contentType"]
    logger.append_keys(bucket=event["bucket"], key=event["key"], content_type=content_type)
    with _download(event) as fp:
        if content_type in IMAGE_TYPES:
            image = analyse_image(fp, _limits(event))
            logger.info("image analysed", **describe(image))
            result = AnalyseResult(kind="image", contentType=content_type, image=image, document=None)
        else:
            document = analyse_document(fp, content_type)
            logger.info("document analysed", valid=document["valid"], rows=document["rows"])
            result = AnalyseResult(kind="document", contentType=content_type, image=None, document=document)
    metrics.add_metric(name="Analysed", unit=MetricUnit.Count, value=1)
    return result


def thumbnail_key(object_id: str) -> str:
    return f"thumbnails/{object_id}.jpg"


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context
def thumbnail(event: AnalyseInput, context: LambdaContext) -> ThumbnailResult:
    if event["contentType"] not in IMAGE_TYPES:
        raise UnsupportedMediaType(f"no thumbnail for {event['contentType']}")
    bucket = os.environ["THUMBNAIL_BUCKET"]
    size = int(os.environ.get("THUMBNAIL_SIZE", "256"))
    with _download(event) as fp:
        data, width, height = make_thumbnail(fp, size, _limits(event))
    key = thumbnail_key(event["objectId"])
    _s3().put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        ContentType="image/jpeg",
        Metadata={"source-object-id": event["objectId"]},
    )
    metrics.add_metric(name="Thumbnails", unit=MetricUnit.Count, value=1)
    return ThumbnailResult(thumbnailBucket=bucket, thumbnailKey=key, width=width, height=height)
