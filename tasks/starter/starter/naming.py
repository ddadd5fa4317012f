"""Deterministic execution names and inputs for S3 uploads, shared by the starter Lambda and the local engine.

Stdlib only: the local engine imports this module (``tasks.starter.starter.naming``) without powertools.

Key encoding differs by source, and getting it wrong looks up a different object:

* EventBridge "Object Created" events (``detail.object.key``) carry the key as stored: no decoding.
* S3 event notifications (``Records[].s3.object.key``: SNS, SQS, Lambda targets) URL-encode it
  form-style, a space becoming ``+`` and a literal ``+`` becoming ``%2B``: decode with ``unquote_plus``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, TypedDict
from urllib.parse import unquote_plus

__all__ = [
    "MAX_NAME_LENGTH",
    "ObjectRef",
    "execution_name",
    "object_ref_from_eventbridge",
    "object_ref_from_s3_record",
]

# Step Functions: 1-80 characters of [A-Za-z0-9-_] is safe for both STANDARD and EXPRESS and for
# CloudWatch log stream names.
MAX_NAME_LENGTH = 80
_NAME_OK = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


class ObjectRef(TypedDict):
    """The execution input: one uploaded object version."""

    bucket: str
    key: str
    versionId: str | None
    size: int | None
    etag: str | None
    sequencer: str | None
    eventTime: str | None


def execution_name(
    bucket: str,
    key: str,
    version_id: str | None = None,
    sequencer: str | None = None,
    *,
    prefix: str = "s3",
) -> str:
    """Return the execution name for one object version: ``{prefix}-{40 hex digits}``.

    The identity is (bucket, key, versionId); without a version (unversioned bucket) the event's
    sequencer stands in, which S3 makes unique per write of a key. With neither, the name is per key,
    so a re-upload of the same key is treated as a duplicate: pass a sequencer when you have one.
    """
    if not _NAME_OK.match(prefix) or len(prefix) > MAX_NAME_LENGTH - 41:
        raise ValueError(f"prefix {prefix!r} must be 1-39 characters of [A-Za-z0-9_-]")
    if version_id:
        identity = f"v:{version_id}"
    elif sequencer:
        identity = f"s:{sequencer}"
    else:
        identity = "-"
    digest = hashlib.sha256("\x1f".join((bucket, key, identity)).encode("utf-8")).hexdigest()
    return f"{prefix}-{digest[:40]}"


def object_ref_from_eventbridge(event: dict[str, Any]) -> ObjectRef:
    """Build the execution input from an EventBridge ``aws.s3`` "Object Created" event (key not encoded)."""
    detail = event["detail"]
    obj = detail["object"]
    return ObjectRef(
        bucket=detail["bucket"]["name"],
        key=obj["key"],
        versionId=obj.get("version-id") or None,
        size=obj.get("size"),
        etag=obj.get("etag"),
        sequencer=obj.get("sequencer"),
        eventTime=event.get("time"),
    )


def object_ref_from_s3_record(record: dict[str, Any]) -> ObjectRef:
    """Build the execution input from one S3 event-notification record (key form-URL-encoded)."""
    s3 = record["s3"]
    obj = s3["object"]
    return ObjectRef(
        bucket=s3["bucket"]["name"],
        key=unquote_plus(obj["key"]),
        versionId=obj.get("versionId") or None,
        size=obj.get("size"),
        etag=obj.get("eTag"),
        sequencer=obj.get("sequencer"),
        eventTime=record.get("eventTime"),
    )
