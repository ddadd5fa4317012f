"""Image analysis in bounded memory: header checked first, JPEG decoded at reduced scale, stats and the
preview made from one working copy."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, NamedTuple, TypedDict

from PIL import Image, ImageFilter, ImageStat, UnidentifiedImageError

from .errors import CorruptImage, DecompressionBomb, ImageTooLarge
from .hashing import dhash, phash
from .trailing import trailing_bytes

# Stats and hashes need no more than this; decoding more only costs memory.
WORK_SIZE = 512

_ORIENTATION = 0x0112
_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
# Tags that identify a person, place or device (IFD0 and the Exif sub-IFD).
_PRIVACY_TAGS = {0x010F: "make", 0x0110: "model", 0x013B: "artist", 0x8298: "copyright"}
_PRIVACY_EXIF_TAGS = {0x9003: "dateTimeOriginal", 0xA430: "cameraOwnerName", 0xA431: "bodySerialNumber"}
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_LAPLACIAN = ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], scale=1, offset=128)


class ImageLimits(TypedDict, total=False):
    maxPixels: int  # more than this in the header: a decompression bomb, refused before decoding
    maxDecodePixels: int  # most pixels decoded at once; JPEG is decoded at 1/2..1/8 scale to fit


DEFAULT_IMAGE_LIMITS: ImageLimits = {"maxPixels": 150_000_000, "maxDecodePixels": 40_000_000}


class Colour(TypedDict):
    hex: str
    fraction: float


class ImageReport(TypedDict):
    format: str
    width: int
    height: int
    megapixels: float
    mode: str
    frames: int
    orientation: int
    gps: bool
    privacyTags: list[str]
    decodedWidth: int
    decodedHeight: int
    brightness: float
    contrast: float
    sharpness: float
    dominantColours: list[Colour]
    dhash: str
    phash: str
    trailingBytes: int | None  # bytes after the image's end (a polyglot's other file); None: no end to find


@contextmanager
def open_bounded(
    fp: IO[bytes], limits: ImageLimits | None = None
) -> Iterator[tuple[Image.Image, tuple[int, int]]]:
    """Decode an image within the pixel limits; yield it with its header size. Pillow's failures get names."""
    merged: ImageLimits = {**DEFAULT_IMAGE_LIMITS, **(limits or {})}
    max_pixels, max_decode = merged["maxPixels"], merged["maxDecodePixels"]
    with warnings.catch_warnings():
        # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; both are a bomb for us.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels
        try:
            image = Image.open(fp)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise DecompressionBomb(str(err)) from err
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
            raise CorruptImage(f"cannot identify image: {err}") from err
        finally:
            Image.MAX_IMAGE_PIXELS = previous
    with image:
        width, height = image.size
        if width <= 0 or height <= 0 or width * height > max_pixels:
            raise DecompressionBomb(f"{width}x{height} exceeds {max_pixels} pixels")
        if image.format == "JPEG":
            # draft() picks the DCT scale (1/1..1/8) so the decoder never allocates the full image:
            # the smallest scale that still covers the working copy, since statistics, hashes and
            # thumbnails are all computed at WORK_SIZE or below (a 12 MP photo decodes at 1/4 scale).
            target = (WORK_SIZE, WORK_SIZE)
            image.draft("RGB" if image.mode not in ("L", "CMYK") else image.mode, target)
        decoded_w, decoded_h = image.size
        if decoded_w * decoded_h > max_decode:
            raise ImageTooLarge(f"{width}x{height} {image.format} needs over {max_decode} decoded pixels")
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            raise CorruptImage(f"cannot decode {image.format}: {err}") from err
        yield image, (width, height)


class Preview(NamedTuple):
    """An upright JPEG of the image, no larger than size x size: what an accepted image's thumbnail is."""

    data: bytes
    width: int
    height: int


def analyse_image(fp: IO[bytes], limits: ImageLimits | None = None) -> ImageReport:
    return _inspect(fp, limits)[0]


def inspect_image(
    fp: IO[bytes], limits: ImageLimits | None, preview_size: int
) -> tuple[ImageReport, Preview]:
    """The report and a preview, both from one decode: the costliest step by far (a 12 MP JPEG takes
    35-45 ms to decode even at 1/8 scale; the statistics and the preview together about half that)."""
    if not 1 <= preview_size <= WORK_SIZE:
        raise ValueError(f"a preview is 1 to {WORK_SIZE} pixels on a side, not {preview_size}")
    report, work = _inspect(fp, limits)
    return report, _preview(work, preview_size)


def _inspect(fp: IO[bytes], limits: ImageLimits | None) -> tuple[ImageReport, Image.Image]:
    """The report and the working copy it was measured on (upright 8-bit RGB, at most WORK_SIZE)."""
    with open_bounded(fp, limits) as (image, (width, height)):
        exif = image.getexif()
        orientation = int(exif.get(_ORIENTATION, 1) or 1)
        privacy = _privacy_tags(exif)
        fmt, mode, frames = image.format or "", image.mode, int(getattr(image, "n_frames", 1))
        decoded_w, decoded_h = image.size
        mp_offsets = _mp_offsets(image)
        work = _working_copy(image, orientation)
    trailing = trailing_bytes(fp, fmt, mp_offsets)
    grey = work.convert("L")
    stat = ImageStat.Stat(grey)
    return ImageReport(
        format=fmt,
        width=width,
        height=height,
        megapixels=round(width * height / 1_000_000, 3),
        mode=mode,
        frames=frames,
        orientation=orientation,
        gps="gps" in privacy,
        privacyTags=privacy,
        decodedWidth=decoded_w,
        decodedHeight=decoded_h,
        brightness=round(stat.mean[0] / 255, 4),
        contrast=round(stat.stddev[0] / 128, 4),
        sharpness=sharpness(grey),
        dominantColours=_dominant_colours(work),
        dhash=dhash(work),
        phash=phash(work),
        trailingBytes=trailing,
    ), work


def _preview(work: Image.Image, size: int) -> Preview:
    """The working copy (upright, 8-bit RGB, alpha on white) scaled to fit size x size: the same input
    gives the same bytes."""
    thumb = work.copy()
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=85, optimize=True)
    return Preview(out.getvalue(), thumb.width, thumb.height)


def _mp_offsets(image: Image.Image) -> list[int]:
    """An MPO's pictures as offsets from its MP header (empty for anything else, or an unreadable index)."""
    try:
        return [int(entry["DataOffset"]) for entry in image.mpinfo[0xB002]]  # type: ignore[attr-defined]
    except (AttributeError, KeyError, TypeError, ValueError):
        return []


def sharpness(grey: Image.Image) -> float:
    """Variance of the Laplacian over the pixels the 3x3 kernel can filter.

    Pillow's kernel filter copies the 1-pixel border through unfiltered: raw intensities (0..255) beside
    Laplacian values centred on 128. That border alone kept photographs blurred with a Gaussian of radius
    25 at 8 to 100, against a review threshold of 20, so it is cropped off before measuring.
    """
    width, height = grey.size
    if width < 3 or height < 3:
        return 0.0
    edges = grey.filter(_LAPLACIAN).crop((1, 1, width - 1, height - 1))
    return round(float(ImageStat.Stat(edges).var[0]), 2)


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit and float greyscale scaled to 0..255: `convert("RGB")` clips them at 255 instead,
    so a normal 16-bit PNG/TIFF would measure as white (and a 0..1 float TIFF as black)."""
    if image.mode.startswith("I;16"):
        return image.point(lambda v: v / 257, "L") if image.mode == "I;16" else _to_8bit(image.convert("I"))
    if image.mode not in ("I", "F"):
        return image
    low, high = (float(v) for v in image.getextrema())  # type: ignore[arg-type, union-attr]
    if image.mode == "I":  # 16-bit samples unless the values say otherwise
        scale = 257.0 if high <= 65535 else high / 255
        return image.point(lambda v: v / scale, "L")
    top = 1.0 if low >= 0.0 and high <= 1.0 else max(high, 1.0)  # float: 0..1 unless it says otherwise
    return image.point(lambda v: v * 255 / top).convert("L")


def _working_copy(image: Image.Image, orientation: int, size: int = WORK_SIZE) -> Image.Image:
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    image = _to_8bit(image)
    work = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    if work.mode == "RGBA":
        background = Image.new("RGB", work.size, (255, 255, 255))
        background.paste(work, mask=work.getchannel("A"))
        work = background
    work.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    if orientation in _TRANSPOSE:
        work = work.transpose(_TRANSPOSE[orientation])
    return work


def _privacy_tags(exif: Image.Exif) -> list[str]:
    found = {name for tag, name in _PRIVACY_TAGS.items() if exif.get(tag)}
    try:
        if exif.get_ifd(_GPS_IFD):
            found.add("gps")
        exif_ifd = exif.get_ifd(_EXIF_IFD)
    except (KeyError, OSError, ValueError):  # a malformed sub-IFD: report what IFD0 had
        exif_ifd = {}
    found.update(name for tag, name in _PRIVACY_EXIF_TAGS.items() if exif_ifd.get(tag))
    return sorted(found)


COLOUR_SAMPLE = 128  # dominant colours are a property of the whole picture: a small copy finds them


def _dominant_colours(work: Image.Image, count: int = 5) -> list[Colour]:
    sample = work.copy()
    sample.thumbnail((COLOUR_SAMPLE, COLOUR_SAMPLE), Image.Resampling.BOX)
    # Fast octree: clusters by colour, so a colour covering most of the picture comes out as one entry
    # with its real share. Median cut splits into boxes of equal population instead, and on photographs
    # took 7-30 ms against well under 1-5 ms, on a 128-pixel sample.
    quantized = sample.quantize(colors=count, method=Image.Quantize.FASTOCTREE)
    palette = quantized.getpalette() or []
    colours = sorted(quantized.getcolors(count) or [], key=lambda c: (-c[0], c[1]))
    total = sample.width * sample.height
    out = []
    for n, entry in colours:
        i = int(entry)  # type: ignore[call-overload]  # a palette image's colour is its index
        hex_colour = "#{:02x}{:02x}{:02x}".format(*palette[i * 3 : i * 3 + 3])
        out.append(Colour(hex=hex_colour, fraction=round(n / total, 4)))
    return out


def describe(report: ImageReport) -> dict[str, Any]:
    """The few fields worth a log line."""
    return {k: report[k] for k in ("format", "width", "height", "gps", "sharpness")}  # type: ignore[literal-required]
