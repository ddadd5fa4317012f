"""Content-type detection from an object's first bytes; the file name's extension is only compared."""

from __future__ import annotations

import csv
import posixpath
from dataclasses import dataclass

# (prefix, offset, content type). Order matters only where prefixes overlap.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
    (b"BM", 0, "image/bmp"),
    (b"%PDF-", 0, "application/pdf"),
)

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/tiff", "image/bmp"})
DOCUMENT_TYPES = frozenset({"application/json", "text/csv", "text/plain", "application/pdf"})

_EXTENSIONS: dict[str, frozenset[str]] = {
    "image/jpeg": frozenset({".jpg", ".jpeg", ".jpe"}),
    "image/png": frozenset({".png"}),
    "image/gif": frozenset({".gif"}),
    "image/webp": frozenset({".webp"}),
    "image/tiff": frozenset({".tif", ".tiff"}),
    "image/bmp": frozenset({".bmp"}),
    "application/pdf": frozenset({".pdf"}),
    "application/json": frozenset({".json"}),
    "text/csv": frozenset({".csv", ".tsv", ".txt"}),
    "text/plain": frozenset({".txt", ".text", ".log", ".md", ".csv"}),
}


@dataclass(frozen=True)
class Sniffed:
    content_type: str | None
    kind: str | None  # "image" | "document" | None


def sniff(head: bytes) -> Sniffed:
    """Return the content type the bytes themselves declare, or ``None`` when unsupported."""
    for prefix, offset, content_type in _MAGIC:
        if head[offset : offset + len(prefix)] == prefix:
            if content_type == "image/bmp" and len(head) < 26:
                break  # "BM" alone is too weak a signal for a tiny text file
            return Sniffed(content_type, "image" if content_type in IMAGE_TYPES else "document")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image/webp", "image")
    text = _as_text(head)
    if text is None:
        return Sniffed(None, None)
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in ("{", "["):
        return Sniffed("application/json", "document")
    if _looks_like_csv(text):
        return Sniffed("text/csv", "document")
    return Sniffed("text/plain", "document")


def extension_matches(key: str, content_type: str) -> bool:
    ext = posixpath.splitext(key)[1].lower()
    return ext in _EXTENSIONS.get(content_type, frozenset())


def _as_text(head: bytes) -> str | None:
    if not head or b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        # The sample may cut a multi-byte character at its end; anything earlier is not UTF-8.
        if err.start < len(head) - 3:
            return None
        text = head[: err.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\t\r\n" for ch in text)
    return text if printable >= 0.95 * max(len(text), 1) else None


def _looks_like_csv(text: str) -> bool:
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) < 2:
        return False
    if len(lines) > 2 and not text.endswith("\n"):
        lines = lines[:-1]  # the sample may cut the last line short
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|")
    except csv.Error:
        return False
    widths = {len(row) for row in csv.reader(lines, dialect)}
    return len(widths) == 1 and widths.pop() > 1
