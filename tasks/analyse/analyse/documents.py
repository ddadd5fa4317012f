"""Summaries and checks of simple documents (JSON, CSV, text, PDF); a failed check is data, not an error."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from itertools import accumulate
from typing import IO, TypedDict

from .errors import UnsupportedMediaType

_SAMPLE = 64 * 1024

# Deeper JSON is an invalid document. json.loads recurses once per level and raises RecursionError
# somewhere under Python's recursion limit (1000 frames, less whatever the caller's stack holds), so the
# depth is measured first, without recursion, against a limit well inside that.
MAX_JSON_DEPTH = 256
# A JSON string, escapes included; an unterminated one runs to the end (so matching stays linear).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class DocumentReport(TypedDict):
    format: str
    valid: bool
    error: str | None
    rows: int  # CSV data rows, JSON top-level items (1 for a scalar), text lines, PDF pages (approximate)
    columns: int  # CSV columns, JSON object keys, 0 otherwise
    topLevel: str | None  # JSON: "object" | "array" | "string" | ...
    header: list[str]  # CSV header or JSON object's first keys (at most 20)


def analyse_document(fp: IO[bytes], content_type: str) -> DocumentReport:
    if content_type == "application/json":
        return _json(fp)
    if content_type == "text/csv":
        return _csv(fp)
    if content_type == "text/plain":
        return _text(fp)
    if content_type == "application/pdf":
        return _pdf(fp)
    raise UnsupportedMediaType(f"no document analyser for {content_type}")


def _report(fmt: str, **fields: object) -> DocumentReport:
    base: dict[str, object] = {
        "format": fmt,
        "valid": True,
        "error": None,
        "rows": 0,
        "columns": 0,
        "topLevel": None,
        "header": [],
    }
    base.update(fields)
    return DocumentReport(**base)  # type: ignore[typeddict-item]


def _text_stream(fp: IO[bytes]) -> io.TextIOWrapper:
    return io.TextIOWrapper(fp, encoding="utf-8-sig", errors="strict", newline="")


def json_depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings do not count).

    Regular expressions and C iterators: no recursion, and no Python loop over the characters.
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def _json(fp: IO[bytes]) -> DocumentReport:
    try:
        text = _text_stream(fp).read()
    except UnicodeDecodeError as err:
        return _report("json", valid=False, error=str(err)[:200])
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        return _report(
            "json", valid=False, error=f"nested {depth} levels deep; the limit is {MAX_JSON_DEPTH}"
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return _report("json", valid=False, error=str(err)[:200])
    except RecursionError:  # not expected under MAX_JSON_DEPTH; invalid all the same, never a crash
        return _report("json", valid=False, error="nested too deep to parse")
    top = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )
    if isinstance(value, dict):
        return _report("json", topLevel=top, rows=1, columns=len(value), header=sorted(value)[:20])
    return _report("json", topLevel=top, rows=len(value) if isinstance(value, list) else 1)


def _csv(fp: IO[bytes]) -> DocumentReport:
    stream = _text_stream(fp)
    try:
        sample = stream.read(_SAMPLE)
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
            has_header = csv.Sniffer().has_header(sample)
        except csv.Error:  # ragged rows defeat the sniffer: read as plain comma-separated and report them
            dialect, has_header = csv.excel, True
        stream.seek(0)
        reader = csv.reader(stream, dialect)
        header = next(reader, [])
        width, rows, ragged = len(header), 0 if has_header else 1, 0
        for row in reader:
            rows += 1
            ragged += len(row) != width
    except (UnicodeDecodeError, csv.Error) as err:
        return _report("csv", valid=False, error=str(err)[:200])
    error = f"{ragged} rows do not have {width} columns" if ragged else None
    return _report(
        "csv",
        valid=not ragged,
        error=error,
        rows=rows,
        columns=width,
        header=header[:20] if has_header else [],
    )


def _text(fp: IO[bytes]) -> DocumentReport:
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    try:
        while chunk := fp.read(_SAMPLE):
            lines += decoder.decode(chunk).count("\n")
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError as err:
        return _report("text", valid=False, error=str(err)[:200])
    return _report("text", rows=lines + (1 if tail else 0))


def _pdf(fp: IO[bytes]) -> DocumentReport:
    head = fp.read(16)
    fp.seek(0, io.SEEK_END)
    size = fp.tell()
    fp.seek(max(0, size - 2048))
    tail = fp.read()
    version = head[5:8].decode("ascii", "replace")
    if b"%%EOF" not in tail:
        return _report("pdf", valid=False, error=f"PDF {version} has no %%EOF trailer (truncated?)")
    return _report("pdf", topLevel=version)
