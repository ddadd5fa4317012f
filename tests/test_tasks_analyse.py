"""The analyse handler and its preview: generated and real photographs, hostile inputs, bounded memory."""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "UploadPipelineTests")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tests")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3
import pytest
import skimage.data as skdata
from moto import mock_aws
from PIL import Image, ImageFilter

from tasks.analyse.analyse import app as analyse_app
from tasks.analyse.analyse.documents import MAX_JSON_DEPTH, analyse_document, json_depth
from tasks.analyse.analyse.errors import CorruptImage, DecompressionBomb, ImageTooLarge
from tasks.analyse.analyse.images import WORK_SIZE, analyse_image, inspect_image, sharpness

from .test_tasks_validate import FakeLambdaContext, calls_to_s3

EVENTS = Path(__file__).parent / "events"
BUCKET, PREVIEWS = "pipeline-input", "pipeline-previews"
ROOT = Path(__file__).parents[1]
SKDATA = Path(skdata.__file__).parent


@pytest.fixture
def context() -> FakeLambdaContext:
    return FakeLambdaContext(function_name="analyse")


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("PREVIEW_BUCKET", PREVIEWS)
    with mock_aws():
        analyse_app._s3.cache_clear()
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        client.create_bucket(Bucket=PREVIEWS)
        yield client
    analyse_app._s3.cache_clear()


def event(key: str, content_type: str) -> dict:
    return json.loads((EVENTS / "analyse_input.json").read_text("utf-8")) | {
        "key": key,
        "contentType": content_type,
    }


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def test_real_photograph_jpeg_from_sample_event(s3, context):
    photo = Image.open(SKDATA / "chelsea.png")
    ev = event("uploads/cat photo+1 é.jpg", "image/jpeg")
    s3.put_object(Bucket=BUCKET, Key=ev["key"], Body=encoded(photo, "JPEG", quality=90))
    result = analyse_app.handler(ev, context)
    image = result["image"]
    assert (result["kind"], image["format"], image["width"], image["height"]) == ("image", "JPEG", 451, 300)
    assert image["gps"] is False and image["orientation"] == 1
    assert 0.2 < image["brightness"] < 0.8 and image["contrast"] > 0.1 and image["sharpness"] > 20
    assert len(image["dominantColours"]) == 5 and len(image["dhash"]) == len(image["phash"]) == 16
    assert result == analyse_app.handler(ev, context)  # idempotent: same object, same report
    json.dumps(result)


@pytest.mark.parametrize("name", ["astronaut.png", "coffee.png", "camera.png", "rocket.jpg"])
def test_bundled_photographs(name):
    with open(SKDATA / name, "rb") as fp:
        report = analyse_image(fp)
    assert report["width"] > 100 and report["sharpness"] > 0


def _template_default(parameter: str) -> str:
    text = (ROOT / "template.yaml").read_text("utf-8")
    found = re.search(rf"^  {parameter}:\n(?:    .*\n)*?    Default: \"?([^\"\n]+)\"?$", text, re.MULTILINE)
    assert found, parameter
    return found.group(1)


BLUR_RADII = (0, 1, 2, 4, 8, 25)


@pytest.mark.parametrize("name", ["astronaut", "camera", "coffee", "chelsea", "rocket"])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_sharpness_falls_with_blur_and_the_threshold_separates_sharp_from_blurred(name, fmt):
    """Real photographs blurred with Pillow's GaussianBlur: the score falls with every step of radius, the
    originals pass MinSharpness (template default) and radius 4 and more fall below it."""
    from skimage import data

    photo = Image.fromarray(getattr(data, name)())
    threshold = float(_template_default("MinSharpness"))
    scores = []
    for radius in BLUR_RADII:
        blurred = photo.filter(ImageFilter.GaussianBlur(radius)) if radius else photo
        scores.append(
            analyse_image(io.BytesIO(encoded(blurred, fmt, **({"quality": 90} if fmt == "JPEG" else {}))))[
                "sharpness"
            ]
        )
    print(name, fmt, dict(zip(BLUR_RADII, scores, strict=True)))
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores), scores
    assert scores[0] >= 10 * threshold  # sharp originals, with a wide margin
    assert scores[1] >= threshold  # radius 1: softened, not blurry
    assert all(score < threshold for score in scores[3:]), scores  # radius 4, 8, 25


def test_sharpness_ignores_the_border_the_kernel_cannot_filter():
    # Nothing is sharp in a flat dark field or a smooth gradient; their unfiltered borders (raw 30s, or
    # 0..255, beside Laplacian values centred on 128) used to score 218 and 144.
    assert sharpness(Image.new("L", (200, 150), 30)) == 0.0
    assert sharpness(Image.linear_gradient("L").resize((300, 300))) < 1
    assert sharpness(Image.new("L", (2, 2), 0)) == 0.0


def test_perceptual_hash_survives_recompression():
    photo = Image.open(SKDATA / "astronaut.png")
    a = analyse_image(io.BytesIO(encoded(photo, "PNG")))
    b = analyse_image(io.BytesIO(encoded(photo.resize((256, 256)), "JPEG", quality=60)))
    distance = bin(int(a["phash"], 16) ^ int(b["phash"], 16)).count("1")
    assert distance <= 8


def test_dominant_colours_are_the_colours_and_their_shares():
    """65 % red, 30 % blue, 5 % white: each found exactly, in order, with its share of the picture."""
    from PIL import ImageDraw

    picture = Image.new("RGB", (400, 300), (200, 30, 30))
    draw = ImageDraw.Draw(picture)
    draw.rectangle([0, 0, 119, 299], fill=(20, 40, 180))
    draw.rectangle([300, 0, 399, 59], fill=(240, 240, 240))
    colours = analyse_image(io.BytesIO(encoded(picture, "PNG")))["dominantColours"]
    assert [c["hex"] for c in colours[:3]] == ["#c81e1e", "#1428b4", "#f0f0f0"]
    assert [c["fraction"] for c in colours[:3]] == pytest.approx([0.65, 0.30, 0.05], abs=0.01)
    assert sum(c["fraction"] for c in colours) == pytest.approx(1.0, abs=0.001)


def test_gps_and_orientation_from_exif():
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Camera Co"
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)  # GPSLatitude
    data = encoded(Image.new("RGB", (80, 40), (90, 90, 90)), "JPEG", exif=exif)
    report = analyse_image(io.BytesIO(data))
    assert report["gps"] is True and report["orientation"] == 6
    assert report["privacyTags"] == ["gps", "make"]


def test_an_image_gets_an_upright_deterministic_preview_from_the_same_decode(s3, context):
    """The preview is written beside the report: the state machine copies it to an accepted image's
    thumbnail, so nothing downloads or decodes the upload a second time."""
    rotated = Image.open(SKDATA / "astronaut.png").convert("RGB").resize((400, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    ev = event("uploads/astronaut.jpg", "image/jpeg")
    s3.put_object(Bucket=BUCKET, Key=ev["key"], Body=encoded(rotated, "JPEG", exif=exif))
    first = analyse_app.handler(ev, context)
    assert first["preview"] == {
        "bucket": PREVIEWS,
        "key": f"previews/{ev['objectId']}.jpg",
        "width": 128,
        "height": 256,
    }
    stored = s3.get_object(Bucket=PREVIEWS, Key=first["preview"]["key"])
    body = stored["Body"].read()
    assert stored["ContentType"] == "image/jpeg" and stored["Metadata"] == {
        "source-object-id": ev["objectId"]
    }
    assert Image.open(io.BytesIO(body)).size == (128, 256)  # upright: orientation 6 applied
    assert analyse_app.handler(ev, context) == first
    assert s3.get_object(Bucket=PREVIEWS, Key=first["preview"]["key"])["Body"].read() == body


def test_a_document_gets_no_preview(s3, context):
    ev = event("uploads/rows.csv", "text/csv")
    s3.put_object(Bucket=BUCKET, Key=ev["key"], Body=b"id,name\n1,ana\n")
    assert analyse_app.handler(ev, context)["preview"] is None
    assert "Contents" not in s3.list_objects_v2(Bucket=PREVIEWS)


def test_an_image_without_a_preview_bucket_fails_with_the_setting_named(s3, context, monkeypatch):
    monkeypatch.delenv("PREVIEW_BUCKET")
    ev = event("uploads/grey.png", "image/png")
    s3.put_object(Bucket=BUCKET, Key=ev["key"], Body=encoded(Image.new("RGB", (40, 40), (90, 90, 90)), "PNG"))
    with pytest.raises(RuntimeError, match="PREVIEW_BUCKET is not set"):
        analyse_app.handler(ev, context)
    monkeypatch.setenv("PREVIEW_BUCKET", PREVIEWS)
    monkeypatch.setenv("PREVIEW_SIZE", str(WORK_SIZE + 1))
    with pytest.raises(RuntimeError, match=f"PREVIEW_SIZE is 1 to {WORK_SIZE}"):
        analyse_app.handler(ev, context)


def test_the_preview_matches_the_report_it_was_made_with():
    """Report and preview come from one working copy: the preview's mean brightness is the report's."""
    from PIL import ImageStat

    data = encoded(Image.open(SKDATA / "coffee.png").convert("RGB"), "JPEG", quality=92)
    report, preview = inspect_image(io.BytesIO(data), None, 64)
    assert report == analyse_image(io.BytesIO(data))
    assert max(preview.width, preview.height) == 64
    mean = ImageStat.Stat(Image.open(io.BytesIO(preview.data)).convert("L")).mean[0] / 255
    assert abs(mean - report["brightness"]) < 0.02
    with pytest.raises(ValueError, match="a preview is 1 to"):
        inspect_image(io.BytesIO(data), None, 0)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image_is_corrupt(s3, context, fmt):
    data = encoded(Image.open(SKDATA / "coffee.png").convert("RGB"), fmt)
    ev = event(f"uploads/broken.{fmt.lower()}", f"image/{fmt.lower()}")
    s3.put_object(Bucket=BUCKET, Key=ev["key"], Body=data[: len(data) // 2])
    with pytest.raises(CorruptImage):
        analyse_app.handler(ev, context)


def test_garbage_after_magic_is_corrupt():
    with pytest.raises(CorruptImage):
        analyse_image(io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64))


def png_header_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_refused_before_decoding(s3, context):
    ev = event("uploads/bomb.png", "image/png")
    s3.put_object(Bucket=BUCKET, Key=ev["key"], Body=png_header_claiming(100_000, 100_000))
    with pytest.raises(DecompressionBomb):
        analyse_app.handler(ev, context)
    # Just over the limit (Pillow only warns there) is refused all the same.
    with pytest.raises(DecompressionBomb):
        analyse_image(io.BytesIO(png_header_claiming(1001, 1000)), {"maxPixels": 1_000_000})


def test_non_jpeg_beyond_decode_budget_is_too_large():
    with pytest.raises(ImageTooLarge):
        analyse_image(io.BytesIO(png_header_claiming(5000, 5000)), {"maxDecodePixels": 1_000_000})


@pytest.mark.parametrize(
    ("content_type", "body", "valid", "rows"),
    [
        ("application/json", b'[{"a": 1}, {"a": 2}]', True, 2),
        ("application/json", b'{"a": 1,', False, 0),
        ("text/csv", b"id,name\n1,ana\n2,bo\n", True, 2),
        ("text/csv", b"id,name\n1,ana\n2,bo,extra\n3,cy\n", False, 3),
        ("text/plain", "one\ntwo é\n".encode(), True, 2),
        ("application/pdf", b"%PDF-1.7\nbody", False, 0),
    ],
)
def test_documents_summarised_and_checked(content_type, body, valid, rows):
    report = analyse_document(io.BytesIO(body), content_type)
    assert (report["valid"], report["rows"]) == (valid, rows)


HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>\n"


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.html", HTML)
    return out.getvalue()


def test_jpeg_with_html_appended_reports_the_trailing_bytes(s3, context):
    """A real photograph, then HTML: Pillow decodes the picture and stops; the HTML is still there."""
    photo = encoded(Image.open(SKDATA / "chelsea.png"), "JPEG", quality=90)
    ev = event("uploads/cat.jpg", "image/jpeg")
    s3.put_object(Bucket=BUCKET, Key=ev["key"], Body=photo + HTML)
    image = analyse_app.handler(ev, context)["image"]
    assert (image["format"], image["trailingBytes"]) == ("JPEG", len(HTML))
    s3.put_object(Bucket=BUCKET, Key=ev["key"], Body=photo)
    assert analyse_app.handler(ev, context)["image"]["trailingBytes"] == 0


def test_the_object_is_read_with_one_get(s3, context):
    """No HEAD and no managed transfer: one GET streamed to the spool, and one PUT of an image's preview."""
    photo = encoded(Image.open(SKDATA / "chelsea.png"), "JPEG", quality=90)
    ev = event("uploads/cat.jpg", "image/jpeg")
    s3.put_object(Bucket=BUCKET, Key=ev["key"], Body=photo)
    made = calls_to_s3(analyse_app._s3())
    assert analyse_app.handler(ev, context)["image"]["width"] == 451
    assert made == ["GetObject", "PutObject"]
    made.clear()
    ev = event("uploads/rows.csv", "text/csv")
    s3.put_object(Bucket=BUCKET, Key=ev["key"], Body=b"id\n1\n")
    analyse_app.handler(ev, context)
    assert made == ["GetObject"]


@pytest.mark.parametrize("split", [0, 1, 2])
def test_a_marker_split_across_reads_is_found(split):
    """The entropy-coded data is read in blocks: a 0xFF at the end of one block and the EOI's D9 at
    the start of the next still end the image there; stuffed FF00, restart markers and fill bytes
    before them do not."""
    from tasks.analyse.analyse import trailing

    header = b"\xff\xd8\xff\xda\x00\x02"  # SOI, then SOS with an empty segment
    data = b"\x12\xff\x00\x34\xff\xd3\x56" * 9_000 + b"\xff\xff"  # stuffing, RST3, then fill
    pad = trailing._CHUNK - (len(data) % trailing._CHUNK) - split  # puts the end near a block edge
    body = header + b"\x77" * pad + data + b"\xd9" + HTML
    assert trailing.trailing_bytes(io.BytesIO(body), "JPEG") == len(HTML)


def test_png_with_zip_appended_reports_the_trailing_bytes():
    photo = (SKDATA / "astronaut.png").read_bytes()
    archive = zip_archive()
    polyglot = photo + archive
    assert zipfile.ZipFile(io.BytesIO(polyglot)).namelist() == ["payload.html"]  # unzip sees the archive
    assert analyse_image(io.BytesIO(polyglot))["trailingBytes"] == len(archive)
    assert analyse_image(io.BytesIO(photo))["trailingBytes"] == 0


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("JPEG", {"quality": 90}),
        ("JPEG", {"progressive": True}),
        ("JPEG", {"restart_marker_blocks": 1}),  # RSTn markers inside the entropy-coded data
        ("PNG", {}),
        ("GIF", {}),
        ("GIF", {"save_all": True, "append_images": "rotated"}),  # animated
        ("WEBP", {}),
        ("BMP", {}),
        ("MPO", {"save_all": True, "append_images": "rotated"}),  # two JPEGs, as some cameras write
    ],
    ids=["jpeg", "progressive", "restart", "png", "gif", "animated-gif", "webp", "bmp", "mpo"],
)
def test_trailing_bytes_found_after_each_formats_end(fmt, params):
    photo = Image.open(SKDATA / "coffee.png").convert("RGB")
    if params.get("append_images") == "rotated":
        params = params | {"append_images": [photo.rotate(90)]}
    clean = encoded(photo.convert("P") if fmt == "GIF" else photo, fmt, **params)
    assert analyse_image(io.BytesIO(clean))["trailingBytes"] == 0
    for tail in (HTML, zip_archive(), b"\xff\xd9\x00IEND\x3b"):  # including bytes that look like an end
        report = analyse_image(io.BytesIO(clean + tail))
        assert (report["format"], report["trailingBytes"]) == (fmt, len(tail))


def test_tiff_has_no_end_to_find():
    report = analyse_image(io.BytesIO(encoded(Image.open(SKDATA / "camera.png"), "TIFF") + HTML))
    assert report["trailingBytes"] is None


DEEP = 200_000


@pytest.mark.parametrize(
    "body",
    [
        b"[" * DEEP + b"]" * DEEP,
        b'{"a":' * DEEP + b"1" + b"}" * DEEP,
        b"[" * DEEP,  # and never closed
        b'[{"x": ' * (DEEP // 2) + b"null" + b"}]" * (DEEP // 2),
    ],
    ids=["arrays", "objects", "unclosed", "mixed"],
)
def test_deeply_nested_json_is_an_invalid_document_not_a_crash(s3, context, body):
    ev = event("uploads/deep.json", "application/json")
    s3.put_object(Bucket=BUCKET, Key=ev["key"], Body=body)
    result = analyse_app.handler(ev, context)
    document = result["document"]
    assert (result["kind"], document["format"], document["valid"]) == ("document", "json", False)
    assert "deep" in document["error"] and len(document["error"]) <= 200
    json.dumps(result)


def test_json_depth_limit_is_exact_and_ignores_brackets_in_strings():
    at_limit = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert analyse_document(io.BytesIO(at_limit), "application/json")["valid"] is True
    over = b"[" + at_limit + b"]"
    report = analyse_document(io.BytesIO(over), "application/json")
    assert report["valid"] is False and str(MAX_JSON_DEPTH + 1) in report["error"]
    brackets_in_strings = json.dumps({"a": "[[[{{{" * 1000, "b": ['\\"[' * 500]}).encode()
    report = analyse_document(io.BytesIO(brackets_in_strings), "application/json")
    assert (report["valid"], report["topLevel"], report["columns"]) == (True, "object", 2)
    assert json_depth('[{"a": "]]]}}}", "b": [[1]]}]') == 4
    assert json_depth("1") == 0


@pytest.mark.slow
def test_peak_memory_of_a_100_megapixel_jpeg_is_bounded(tmp_path):
    """Decode a 10000x10000 JPEG in a fresh process; report tracemalloc and RSS peaks (Pillow uses malloc)."""
    path = tmp_path / "huge.jpg"
    big = Image.linear_gradient("L").resize((10_000, 10_000)).convert("RGB")
    big.save(path, "JPEG", quality=80)
    del big
    script = textwrap.dedent(
        f"""
        import json, tracemalloc
        from tasks.analyse.analyse.images import WORK_SIZE, analyse_image, inspect_image, sharpness

        def hwm_kib():  # VmHWM is per address space: unlike ru_maxrss it does not inherit the parent's peak
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])

        base = hwm_kib()
        tracemalloc.start()
        with open({str(path)!r}, "rb") as fp:
            report = analyse_image(fp)
        _, traced = tracemalloc.get_traced_memory()
        peak = hwm_kib()
        print(json.dumps({{"width": report["width"], "decoded": report["decodedWidth"],
                          "traced_mib": traced / 2**20, "rss_growth_mib": (peak - base) / 1024,
                          "rss_peak_mib": peak / 1024}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    print("100 MP JPEG analyse:", measured)
    assert measured["width"] == 10_000 and measured["decoded"] <= 2_500
    assert measured["traced_mib"] < 64
    assert measured["rss_growth_mib"] < 200  # the full decode alone would be 286 MiB of RGB
