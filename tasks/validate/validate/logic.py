"""Pure validation rules: limits, size class, metadata schema, and the result the definition reads."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, TypedDict

from jsonschema import Draft202012Validator

from .errors import EmptyObject, ImageTooLarge, InvalidMetadata, ObjectTooLarge, UnsupportedMediaType
from .sniff import extension_matches, sniff

# How many leading bytes the content-type sniffer reads.
HEAD_BYTES = 4096


class Limits(TypedDict, total=False):
    """Thresholds the definition passes in (DefinitionSubstitutions), so they are data, not code."""

    maxBytes: int
    maxImageBytes: int
    smallMaxBytes: int
    mediumMaxBytes: int


DEFAULT_LIMITS: Limits = {
    "maxBytes": 100 * 1024 * 1024,
    "maxImageBytes": 50 * 1024 * 1024,
    "smallMaxBytes": 1024 * 1024,
    "mediumMaxBytes": 20 * 1024 * 1024,
}


class ValidateInput(TypedDict, total=False):
    bucket: str
    key: str
    versionId: str | None
    size: int | None
    etag: str | None
    limits: Limits


class ValidateResult(TypedDict):
    bucket: str
    key: str
    versionId: str | None
    size: int
    sizeClass: str
    etag: str | None
    contentType: str
    kind: str
    extensionMatches: bool
    metadata: dict[str, str]


def size_class(size: int, limits: Limits) -> str:
    if size <= limits["smallMaxBytes"]:
        return "small"
    return "medium" if size <= limits["mediumMaxBytes"] else "large"


@cache
def _metadata_validator() -> Draft202012Validator:
    schema = json.loads(resources.files(__package__).joinpath("metadata.schema.json").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def check_metadata(metadata: dict[str, str]) -> None:
    errors = sorted(_metadata_validator().iter_errors(metadata), key=lambda e: list(e.absolute_path))
    if errors:
        problems = "; ".join(f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5])
        raise InvalidMetadata(problems)


def validate_object(
    *,
    bucket: str,
    key: str,
    version_id: str | None,
    size: int,
    etag: str | None,
    metadata: dict[str, str],
    head: bytes,
    limits: Limits | None = None,
) -> ValidateResult:
    """Apply every rule to what S3 said about the object and its first bytes; raise the first failure."""
    merged: Limits = {**DEFAULT_LIMITS, **(limits or {})}
    if size == 0 or not head:
        raise EmptyObject(f"s3://{bucket}/{key} has no content")
    if size > merged["maxBytes"]:
        raise ObjectTooLarge(f"{size} bytes exceeds the limit of {merged['maxBytes']}")
    sniffed = sniff(head[:HEAD_BYTES])
    if sniffed.content_type is None or sniffed.kind is None:
        raise UnsupportedMediaType(f"first bytes {head[:8].hex()} match no supported type")
    if sniffed.kind == "image" and size > merged["maxImageBytes"]:
        raise ImageTooLarge(f"{size} bytes exceeds the image limit of {merged['maxImageBytes']}")
    check_metadata(metadata)
    return ValidateResult(
        bucket=bucket,
        key=key,
        versionId=version_id,
        size=size,
        sizeClass=size_class(size, merged),
        etag=etag,
        contentType=sniffed.content_type,
        kind=sniffed.kind,
        extensionMatches=extension_matches(key, sniffed.content_type),
        metadata=metadata,
    )


def parse_limits(raw: dict[str, Any] | None) -> Limits:
    return Limits(**{k: int(v) for k, v in (raw or {}).items() if k in DEFAULT_LIMITS})  # type: ignore[typeddict-item]
