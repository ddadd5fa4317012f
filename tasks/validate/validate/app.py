"""Lambda handler of the validate task: read the object's head and first bytes, apply the rules."""

from __future__ import annotations

from contextlib import closing
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from .errors import EmptyObject, ObjectNotFound, S3Unavailable
from .logic import HEAD_BYTES, ValidateInput, ValidateResult, parse_limits, validate_object

logger = Logger()
tracer = Tracer()
metrics = Metrics()

_MISSING = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NotFound"})
_TRANSIENT = frozenset({"500", "503", "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"})


@cache
def _s3() -> Any:
    # The endpoint comes from AWS_ENDPOINT_URL(_S3) when set: a local moto server or real AWS.
    return boto3.client("s3")


@tracer.capture_method
def _read(bucket: str, key: str, version_id: str | None) -> tuple[dict[str, Any], bytes]:
    """What S3 says of the object (size, version, ETag, metadata) and its first bytes, in one request:
    a ranged GET answers with everything a HEAD does, and its Content-Range carries the whole size.
    An empty object has no byte 0 to ask for (S3 answers InvalidRange): a HEAD answers for it."""
    version = {"VersionId": version_id} if version_id else {}
    try:
        try:
            response = _s3().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{HEAD_BYTES - 1}", **version)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "InvalidRange":
                raise
            return _s3().head_object(Bucket=bucket, Key=key, **version), b""
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code in _MISSING:
            raise ObjectNotFound(f"s3://{bucket}/{key} (version {version_id}) does not exist") from err
        if code in _TRANSIENT:
            raise S3Unavailable(f"{code} reading s3://{bucket}/{key}") from err
        raise  # access denied and the like: a fault of the deployment, caught by States.ALL
    with closing(response["Body"]) as stream:
        first = stream.read(HEAD_BYTES)  # at most this much, should a server send more than asked
    return {**response, "ContentLength": _object_size(response)}, first


def _object_size(response: dict[str, Any]) -> int:
    """The whole object's size: after the slash of `Content-Range: bytes 0-4095/3526061`; a server
    that ignored the Range sent the whole object, and its Content-Length is the size."""
    total = str(response.get("ContentRange") or "").rpartition("/")[2]
    return int(total) if total.isdigit() else int(response["ContentLength"])


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context
def handler(event: ValidateInput, context: LambdaContext) -> ValidateResult:
    bucket, key, version_id = event["bucket"], event["key"], event.get("versionId")
    logger.append_keys(bucket=bucket, key=key, version_id=version_id)
    head, first = _read(bucket, key, version_id)
    size = int(head["ContentLength"])
    if size == 0:
        raise EmptyObject(f"s3://{bucket}/{key} has no content")
    result = validate_object(
        bucket=bucket,
        key=key,
        version_id=head.get("VersionId") or version_id,
        size=size,
        etag=(head.get("ETag") or "").strip('"') or event.get("etag"),
        metadata=dict(head.get("Metadata") or {}),
        head=first,
        limits=parse_limits(event.get("limits")),  # type: ignore[arg-type]
    )
    metrics.add_metric(name="Validated", unit=MetricUnit.Count, value=1)
    metrics.add_dimension(name="kind", value=result["kind"])
    logger.info("validated", content_type=result["contentType"], size=size)
    return result
