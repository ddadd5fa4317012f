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
import unicodedata
from typing import Any, TypedDict
from urllib.parse import quote, unquote_plus

__all__ = [
    "MAX_NAME_LENGTH",
    "ObjectRef",
    "copy_source",
    "execution_name",
    "object_id",
    "object_ref_from_eventbridge",
    "object_ref_from_s3_record",
    "readable_tail",
]

# StartExecution accepts 1-80 characters and refuses whitespace, brackets, wildcards and "#%\^|~`$&,;:/
# among others; it allows "." but, as its documentation says, CloudWatch Logs logging (which template.yaml
# turns on) needs names of [0-9A-Za-z_-] only. So names use that set and nothing else.
MAX_NAME_LENGTH = 80
MAX_PREFIX_LENGTH = 40
NAME_HASH_HEX = 16  # 64 bits of the object id: a collision also needs the same key tail, within 90 days
_NAME_OK = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class ObjectRef(TypedDict):
    """The execution input: one uploaded object version."""

    bucket: str
    key: str
    versionId: str | None
    size: int | None
    etag: str | None
    sequencer: str | None
    eventTime: str | None
    objectId: str  # 40 hex digits; part of output keys (the execution name ends with its first 16)
    copySource: str  # URL-encoded "bucket/key[?versionId=...]" for s3:CopyObject


def object_id(bucket: str, key: str, version_id: str | None = None, sequencer: str | None = None) -> str:
    """40 hex digits naming one object version.

    The identity is (bucket, key, versionId); without a version (unversioned bucket) the event's
    sequencer stands in, which S3 makes unique per write of a key. With neither, the id is per key,
    so a re-upload of the same key counts as a duplicate: pass a sequencer when you have one.
    """
    if version_id:
        identity = f"v:{version_id}"
    elif sequencer:
        identity = f"s:{sequencer}"
    else:
        identity = "-"
    return hashlib.sha256("\x1f".join((bucket, key, identity)).encode("utf-8")).hexdigest()[:40]


def execution_name(
    bucket: str,
    key: str,
    version_id: str | None = None,
    sequencer: str | None = None,
    *,
    prefix: str = "s3",
) -> str:
    """The execution name for one object version: ``{prefix}-{key tail}-{16 hex of object_id(...)}``.

    The tail is the key's last path segment reduced to ``[A-Za-z0-9_-]`` (accents dropped, anything else
    becoming ``_``), cut from the left to fit 80 characters, so a person can tell executions apart; the
    hash makes the name unique per object version. A key with nothing readable gives ``{prefix}-{hash}``.
    """
    if not _NAME_OK.match(prefix) or len(prefix) > MAX_PREFIX_LENGTH:
        raise ValueError(f"prefix {prefix!r} must be 1-{MAX_PREFIX_LENGTH} characters of [A-Za-z0-9_-]")
    digest = object_id(bucket, key, version_id, sequencer)[:NAME_HASH_HEX]
    room = MAX_NAME_LENGTH - len(prefix) - NAME_HASH_HEX - 2  # two "-" separators
    tail = readable_tail(key, room)
    return f"{prefix}-{tail}-{digest}" if tail else f"{prefix}-{digest}"


def readable_tail(key: str, length: int) -> str:
    """The key's last segment as at most ``length`` characters of ``[A-Za-z0-9_-]`` (may be empty)."""
    segment = re.split(r"[/\\]", key.rstrip("/\\"))[-1]
    ascii_only = unicodedata.normalize("NFKD", segment).encode("ascii", "ignore").decode("ascii")
    cleaned = _NAME_UNSAFE.sub("_", ascii_only)
    return cleaned[-length:].strip("_-") if length > 0 else ""


def copy_source(bucket: str, key: str, version_id: str | None = None) -> str:
    """The ``x-amz-copy-source`` value, URL-encoded as the S3 CopyObject API requires.

    boto3 percent-encodes a *string* CopySource itself, so a boto3 caller must pass
    ``{"Bucket": ..., "Key": ..., "VersionId": ...}`` (or unquote this) to avoid double encoding.
    """
    source = f"{bucket}/{quote(key, safe='/~')}"
    return f"{source}?versionId={quote(version_id, safe='')}" if version_id else source


def _ref(bucket: str, key: str, version_id: str | None, size: Any, etag: Any, seq: Any, t: Any) -> ObjectRef:
    return ObjectRef(
        bucket=bucket,
        key=key,
        versionId=version_id,
        size=size,
        etag=etag,
        sequencer=seq,
        eventTime=t,
        objectId=object_id(bucket, key, version_id, seq),
        copySource=copy_source(bucket, key, version_id),
    )


def object_ref_from_eventbridge(event: dict[str, Any]) -> ObjectRef:
    """Build the execution input from an EventBridge ``aws.s3`` "Object Created" event (key not encoded)."""
    detail = event["detail"]
    obj = detail["object"]
    return _ref(
        detail["bucket"]["name"],
        obj["key"],
        obj.get("version-id") or None,
        obj.get("size"),
        obj.get("etag"),
        obj.get("sequencer"),
        event.get("time"),
    )


def object_ref_from_s3_record(record: dict[str, Any]) -> ObjectRef:
    """Build the execution input from one S3 event-notification record (key form-URL-encoded)."""
    s3 = record["s3"]
    obj = s3["object"]
    return _ref(
        s3["bucket"]["name"],
        unquote_plus(obj["key"]),
        obj.get("versionId") or None,
        obj.get("size"),
        obj.get("eTag"),
        obj.get("sequencer"),
        record.get("eventTime"),
    )
