"""Where an image file's own structure ends, and how many bytes follow it.

A JPEG followed by HTML, or a PNG followed by a ZIP, decodes as a plain image: decoders stop at the
image's end and ignore the rest, but a browser sniffing the bytes or an unzip tool reading from the end
sees the other file (a polyglot). The analysis reports the count as a fact; the definition decides.

Each parser walks the container (JPEG markers, PNG chunks, GIF blocks, the RIFF and BMP size fields)
with seeks and small reads, so memory stays bounded whatever the file's size. TIFF keeps its data at
offsets anywhere in the file, so there is no "end" to find: ``None``, as for any other format.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Sequence
from typing import IO

_CHUNK = 64 * 1024
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # markers without a length field
# 0xFF then a byte that is not stuffing (00), a restart marker (D0-D7) or fill (FF): the next marker.
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class _Truncated(Exception):
    """The structure runs past the end of the file: nothing can follow it."""


def trailing_bytes(fp: IO[bytes], fmt: str, mp_offsets: Sequence[int] = ()) -> int | None:
    """Bytes after the end of the image's structure; ``None`` when the format has no findable end.

    ``fmt`` is Pillow's format name. An MPO (a JPEG followed by more JPEGs, as some cameras write) ends
    where its last picture does: ``mp_offsets`` are the pictures' offsets from its MP header (Pillow's
    ``mpinfo[0xB002][n]["DataOffset"]``). A structure that runs past the end of the file has nothing
    after it: 0.
    """
    size = fp.seek(0, io.SEEK_END)
    try:
        if fmt in ("JPEG", "MPO"):
            end, mp_header = _jpeg_end(fp, 0)
            if fmt == "MPO":
                if mp_header is None:
                    return None
                for offset in mp_offsets[1:]:
                    end = max(end, _jpeg_end(fp, mp_header + offset)[0])
        elif fmt == "PNG":
            end = _png_end(fp)
        elif fmt == "GIF":
            end = _gif_end(fp)
        elif fmt == "WEBP":
            end = _riff_end(fp)
        elif fmt == "BMP":
            bmp_end = _bmp_end(fp, size)
            if bmp_end is None:
                return None
            end = bmp_end
        else:
            return None
    except _Truncated:
        return 0
    finally:
        fp.seek(0)
    return max(size - end, 0)


def _read(fp: IO[bytes], offset: int, count: int) -> bytes:
    fp.seek(offset)
    data = fp.read(count)
    if len(data) < count:
        raise _Truncated
    return data


def _jpeg_end(fp: IO[bytes], start: int) -> tuple[int, int | None]:
    """Offset just after the EOI marker of the JPEG stream at ``start``, and where its MP header is."""
    if _read(fp, start, 2) != b"\xff\xd8":
        raise _Truncated  # Pillow decoded the first picture, so only a later MPO picture can be missing
    pos, mp_header = start + 2, None
    while True:
        if _read(fp, pos, 1) != b"\xff":
            raise _Truncated  # not at a marker: damage Pillow tolerated; nothing to measure after it
        while (marker := _read(fp, pos + 1, 1)[0]) == 0xFF:  # fill bytes before a marker
            pos += 1
        pos += 2
        if marker == 0xD9:  # EOI
            return pos, mp_header
        if marker in _STANDALONE:
            continue
        (length,) = struct.unpack(">H", _read(fp, pos, 2))
        if marker == 0xE2 and _read(fp, pos + 2, 4) == b"MPF\x00":  # APP2 "MPF": offsets count from here
            mp_header = pos + 6
        pos += length
        if marker == 0xDA:  # SOS: entropy-coded data runs to the next marker that is not RSTn or stuffing
            pos = _after_entropy_coded_data(fp, pos)


def _after_entropy_coded_data(fp: IO[bytes], pos: int) -> int:
    fp.seek(pos)
    carry = b""
    base = pos
    while True:
        block = fp.read(_CHUNK)
        if not block:
            raise _Truncated
        data = carry + block
        found = _MARKER.search(data)  # a regex scans in C: photos have a 0xFF every few hundred bytes
        if found is not None:
            return base + found.start()
        keep = 1 if data.endswith(b"\xff") else 0  # the byte after 0xFF is in the next block
        base += len(data) - keep
        carry = data[len(data) - keep :]


def _png_end(fp: IO[bytes]) -> int:
    pos = 8  # the signature
    while True:
        length, kind = struct.unpack(">I4s", _read(fp, pos, 8))
        pos += 12 + length  # length, type, data, CRC
        if kind == b"IEND":
            return pos


def _gif_end(fp: IO[bytes]) -> int:
    flags = _read(fp, 10, 1)[0]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # header, screen descriptor, global colours
    while True:
        block = _read(fp, pos, 1)[0]
        if block == 0x3B:  # trailer
            return pos + 1
        if block == 0x21:  # extension: label, then data sub-blocks
            pos = _after_sub_blocks(fp, pos + 2)
        elif block == 0x2C:  # image: descriptor, local colours, LZW code size, data sub-blocks
            flags = _read(fp, pos + 9, 1)[0]
            pos += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
            pos = _after_sub_blocks(fp, pos + 1)
        else:
            raise _Truncated  # not a block: Pillow stopped reading before this


def _after_sub_blocks(fp: IO[bytes], pos: int) -> int:
    while size := _read(fp, pos, 1)[0]:
        pos += 1 + size
    return pos + 1


def _riff_end(fp: IO[bytes]) -> int:
    (length,) = struct.unpack("<I", _read(fp, 4, 4))
    return 8 + length + (length & 1)


def _bmp_end(fp: IO[bytes], size: int) -> int | None:
    (declared,) = struct.unpack("<I", _read(fp, 2, 4))
    # bfSize is the file's size. Some writers leave it 0; one larger than the file was read truncated.
    return declared if 0 < declared <= size else None
