"""End to end over the real local world (`workflows dev`'s `start_world`): moto provisioned from
template.yaml, the engine and its API, a Lambda worker process per function, and the
S3 -> EventBridge -> starter-function bridge.

Every case is a real upload into the input bucket under the rule's prefix. The execution it starts is
found by the name the starter gives it (one per object version), followed to a terminal state, and
then checked where the definition says it lands: the outcome bucket (same key, tags), the thumbnail,
the quarantine copy (`quarantine/<Error>/<objectId>/<key>` in the rejected bucket, reason in metadata
and tags), and the SNS message with its attributes, read from an unfiltered tap queue and from the
template's ReviewQueue (FilterPolicy outcome=review).

The uploads are made all at once by one module-scoped fixture and waited on together, so the module
costs one world start and roughly the slowest execution, not their sum. Each xdist worker that runs
tests of this module starts its own world (own ports, own data dir, own moto): nothing is shared.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import boto3
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageStat

from tasks.starter.starter.naming import execution_name, object_id
from tests import tools
from workflows.local.dev import TERMINAL, DevOptions, DevWorld, start_world, stop_world
from workflows.local.lambda_workers import LambdaWorkerResolver
from workflows.local.local_aws import S3EventBridgeBridge, free_port

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pipeline_e2e")]

EXECUTION_TIMEOUT = 40.0  # every upload of the batch, together
MESSAGE_TIMEOUT = 10.0


# ----- the world, in an event loop thread of its own ---------------------------------------------------------


class LoopThread:
    """An asyncio loop running forever in a daemon thread; tests submit coroutines to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="e2e-world", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


@dataclass
class Upload:
    case: str
    key: str
    body: bytes
    version_id: str
    bucket: str
    name: str  # the execution name the starter computes
    object_id: str
    execution: dict[str, Any] | None = None
    stored: str = ""  # the key of its copies (outcome bucket, quarantine tail): `key` made safe

    def __post_init__(self) -> None:
        self.stored = self.stored or self.key

    @property
    def status(self) -> str | None:
        return None if self.execution is None else self.execution["status"]

    @property
    def output(self) -> dict[str, Any]:
        return json.loads((self.execution or {}).get("output") or "{}")


@dataclass
class Message:
    body: dict[str, Any]
    attributes: dict[str, str]
    raw: dict[str, Any] = field(repr=False)


class E2E:
    """The running world and the clients and queues the tests read it through."""

    def __init__(self, world: DevWorld, loop: LoopThread, data_dir: Path) -> None:
        self.world = world
        self.loop = loop
        self.data_dir = data_dir
        assert world.aws_url and world.input_bucket and world.tap_queue_url
        self.input_bucket: str = world.input_bucket
        kwargs: dict[str, Any] = {
            "endpoint_url": world.aws_url,
            "region_name": world.stack.region,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        self.s3 = boto3.client("s3", **kwargs)
        self.sqs = boto3.client("sqs", **kwargs)
        outputs = world.stack.outputs
        self.accepted = outputs["AcceptedBucketName"]
        self.previews = outputs["PreviewBucketName"]
        self.review = outputs["ReviewBucketName"]
        self.rejected = outputs["RejectedBucketName"]
        self.topic = outputs["TopicArn"]
        self.machine_arn = next(iter(world.state_machine_arns.values()))
        self.review_queue_url = self.sqs.get_queue_url(QueueName=outputs["ReviewQueueUrl"].rsplit("/", 1)[1])[
            "QueueUrl"
        ]
        self.bridge: S3EventBridgeBridge = world.bridge
        self.workers: LambdaWorkerResolver = world.workers
        # Every EventBridge event the bridge hands to the rule's target, recorded once it returned.
        self.events: list[dict[str, Any]] = []
        deliver = self.bridge.on_event

        async def recording(event: dict[str, Any]) -> None:
            result = deliver(event)
            if asyncio.iscoroutine(result):
                await result
            self.events.append(copy.deepcopy(event))

        self.bridge.on_event = recording
        self.tap: list[Message] = []
        self.reviewed: list[Message] = []
        self._lock = threading.Lock()

    # --- uploads and executions ---

    def upload(self, case: str, key: str, body: bytes, **extra: Any) -> Upload:
        version = self.s3.put_object(Bucket=self.input_bucket, Key=key, Body=body, **extra)["VersionId"]
        return self.expect(case, self.input_bucket, key, body, version)

    def expect(self, case: str, bucket: str, key: str, body: bytes, version: str) -> Upload:
        return Upload(
            case=case,
            key=key,
            body=body,
            version_id=version,
            bucket=bucket,
            name=execution_name(bucket, key, version),
            object_id=object_id(bucket, key, version),
        )

    def executions(self) -> list[dict[str, Any]]:
        async def go() -> list[dict[str, Any]]:
            listed: list[dict[str, Any]] = []
            token: str | None = None
            while True:
                page = await self.world.service.list_executions(
                    stateMachineArn=self.machine_arn,
                    maxResults=1000,
                    **({"nextToken": token} if token else {}),
                )
                listed.extend(page["executions"])
                token = page.get("nextToken")
                if not token:
                    return listed

        return self.loop.run(go())

    def describe(self, arn: str) -> dict[str, Any]:
        return self.loop.run(self.world.service.describe_execution(executionArn=arn))

    def history(self, arn: str) -> list[dict[str, Any]]:
        async def go() -> list[dict[str, Any]]:
            events: list[dict[str, Any]] = []
            token: str | None = None
            while True:
                page = await self.world.service.get_execution_history(
                    executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {})
                )
                events.extend(page["events"])
                token = page.get("nextToken")
                if not token:
                    return events

        return self.loop.run(go())

    def wait(self, uploads: list[Upload], timeout: float = EXECUTION_TIMEOUT) -> None:
        """Poll list_executions until each upload's execution exists and is terminal (or time is up)."""
        pending = {u.name: u for u in uploads if u.status not in TERMINAL}
        deadline = time.monotonic() + timeout
        delay = 0.05
        while pending and time.monotonic() < deadline:
            for item in self.executions():
                upload = pending.get(item["name"])
                if upload is not None and item["status"] in TERMINAL:
                    upload.execution = self.describe(item["executionArn"])
                    del pending[item["name"]]
            if pending:
                time.sleep(delay)
                delay = min(delay * 1.5, 0.5)
        for upload in pending.values():  # report what it is doing, for the assertion message
            for item in self.executions():
                if item["name"] == upload.name:
                    upload.execution = self.describe(item["executionArn"])

    # --- SNS, through the tap (unfiltered) and the review queue (outcome=review) ---

    def _drain(self, url: str, into: list[Message], raw_delivery: bool) -> int:
        got = 0
        while True:
            response = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
            )
            messages = response.get("Messages", [])
            if not messages:
                return got
            for m in messages:
                if raw_delivery:
                    body = json.loads(m["Body"])
                    attributes = {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}
                else:
                    envelope = json.loads(m["Body"])
                    body = json.loads(envelope["Message"])
                    attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
                into.append(Message(body=body, attributes=attributes, raw=m))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                got += 1

    def drain(self) -> None:
        with self._lock:
            self._drain(self.world.tap_queue_url or "", self.tap, raw_delivery=False)
            self._drain(self.review_queue_url, self.reviewed, raw_delivery=True)

    def messages_for(self, upload: Upload, *, queue: str = "tap") -> list[Message]:
        arn = (upload.execution or {}).get("executionArn")
        source = (upload.bucket, upload.key, upload.version_id)
        found = []
        for m in self.tap if queue == "tap" else self.reviewed:
            s = m.body.get("source") if isinstance(m.body, dict) else None
            if m.body.get("execution") == arn or (
                isinstance(s, dict) and (s.get("bucket"), s.get("key"), s.get("versionId")) == source
            ):
                found.append(m)
        return found

    def wait_messages(self, uploads: list[Upload], timeout: float = MESSAGE_TIMEOUT) -> None:
        """Drain the queues until every upload has its message on the tap (SNS -> SQS is asynchronous)."""
        deadline = time.monotonic() + timeout
        while True:
            self.drain()
            if all(self.messages_for(u) for u in uploads) or time.monotonic() > deadline:
                return
            time.sleep(0.1)

    # --- S3 ---

    def head(self, bucket: str, key: str) -> dict[str, Any] | None:
        try:
            return self.s3.head_object(Bucket=bucket, Key=key)
        except self.s3.exceptions.ClientError as err:
            if err.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def tags(self, bucket: str, key: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}

    def get(self, bucket: str, key: str) -> bytes:
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def keys(self, bucket: str) -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    data_dir = tmp_path_factory.mktemp("e2e-world")
    loop = LoopThread()
    world: DevWorld | None = None
    last: BaseException | None = None
    for _ in range(3):  # free_port() can race another process for the port: pick again
        options = DevOptions(
            port=free_port(),
            aws_port=free_port(),
            data_dir=str(data_dir),
            template=str(ROOT / "template.yaml"),
            workers=4,
        )
        try:
            world = loop.run(start_world(options), timeout=60)
            break
        except (OSError, SystemExit) as err:
            last = err
    if world is None:
        loop.close()
        raise RuntimeError(f"the local world did not start: {last!r}")
    try:
        yield E2E(world, loop, data_dir)
    finally:
        loop.run(stop_world(world), timeout=60)
        loop.close()


# ----- content ----------------------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **kwargs: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def photo_like(size: tuple[int, int] = (640, 480), seed: int = 1) -> Image.Image:
    """Sharp, well exposed, photo-ish: a gradient sky, shapes with hard edges, a little noise."""
    w, h = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([90 + 100 * x / w, 120 + 80 * y / h, 200 - 90 * y / h], axis=-1)
    base += rng.normal(0, 6, base.shape)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for i in range(12):
        x0, y0 = int(rng.integers(0, w - 80)), int(rng.integers(0, h - 80))
        colour = tuple(int(c) for c in rng.integers(20, 235, 3))
        (draw.rectangle if i % 2 else draw.ellipse)(
            [x0, y0, x0 + 70, y0 + 60], fill=colour, outline=(0, 0, 0), width=3
        )
    return image


def with_gps(image: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "QA Camera"  # make
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 29.0)
    gps[3] = "E"
    gps[4] = (2.0, 17.0, 40.0)
    return encode(image, "JPEG", quality=90, exif=exif)


def skimage_photo(name: str) -> Image.Image:
    from skimage import data

    array = getattr(data, name)()
    return Image.fromarray(array)


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid PNG signature and IHDR claiming width x height, then a tiny IDAT: no decoder should try."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("payload.exe", b"MZ" + b"\x00" * 200)
    return out.getvalue()


HTML_TAIL = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>\n"


def camera_16bit_png() -> bytes:
    array = np.asarray(skimage_photo("camera"), dtype=np.uint16) * 257
    return encode(Image.fromarray(array), "PNG")


def float_tiff() -> bytes:
    array = np.asarray(photo_like().convert("L"), dtype=np.float32) / 255
    return encode(Image.fromarray(array), "TIFF")


def big_canvas_png() -> bytes:
    """8000 x 6000 = 48 MP, under the bomb limit (150 MP) but over the decode budget (40 MP)."""
    return encode(Image.new("L", (8000, 6000), 128), "PNG", optimize=False)


# ----- the batch: every case uploaded at once, then followed together ------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    key: str
    make: Callable[[], bytes]
    outcome: str  # accepted | review | rejected | quarantined | skipped
    reason: str
    extra: dict[str, Any] = field(default_factory=dict)
    stored: str | None = None  # the copies' key (after the prefix) when `key` is not safe as it is


def _accepted_sharp() -> bytes:
    return encode(photo_like(), "JPEG", quality=92)


CASES: list[Case] = [
    # generated images
    Case("sharp-jpeg", "gen/sharp photo.jpg", _accepted_sharp, "accepted", "passed"),
    Case("sharp-png", "gen/sharp.png", lambda: encode(photo_like(seed=2), "PNG"), "accepted", "passed"),
    Case(
        "dark",
        "gen/dark.jpg",
        lambda: encode(photo_like().point(lambda v: v // 12), "JPEG"),
        "review",
        "exposure",
    ),
    Case(
        "overexposed",
        "gen/bright.jpg",
        lambda: encode(photo_like().point(lambda v: 250 + v // 60), "JPEG"),
        "review",
        "exposure",
    ),
    Case(
        "blurry",
        "gen/blurry.jpg",
        lambda: encode(photo_like().filter(ImageFilter.GaussianBlur(10)), "JPEG"),
        "review",
        "blurry",
    ),
    Case("gps", "gen/gps.jpg", lambda: with_gps(photo_like()), "review", "gps-location"),
    Case(
        "too-small",
        "gen/tiny.png",
        lambda: encode(photo_like().resize((40, 30)), "PNG"),
        "rejected",
        "too-small",
    ),
    Case(
        "png-named-jpg",
        "gen/really-a-png.jpg",
        lambda: encode(photo_like(seed=3), "PNG"),
        "review",
        "extension-mismatch",
    ),
    # documents: the definition's other branch
    Case("json", "docs/data.json", lambda: json.dumps({"a": 1, "b": [1, 2]}).encode(), "accepted", "passed"),
    Case("csv", "docs/table.csv", lambda: b"id,name,score\n1,ann,3\n2,bob,4\n3,cy,5\n", "accepted", "passed"),
    Case("bad-json", "docs/broken.json", lambda: b'{"a": 1, "b": [1, 2', "rejected", "invalid-document"),
    # nested 200,000 levels: json.loads would raise RecursionError and fail the execution
    Case(
        "deep-json", "docs/deep.json", lambda: b"[" * 200_000 + b"]" * 200_000, "rejected", "invalid-document"
    ),
    # real photographs (scikit-image's bundled data), encoded with Pillow
    Case(
        "astronaut",
        "photos/astronaut.jpg",
        lambda: encode(skimage_photo("astronaut"), "JPEG", quality=90),
        "accepted",
        "passed",
    ),
    Case(
        "chelsea", "photos/chelsea.png", lambda: encode(skimage_photo("chelsea"), "PNG"), "accepted", "passed"
    ),
    Case(
        "coffee", "photos/coffee.jpeg", lambda: encode(skimage_photo("coffee"), "JPEG"), "accepted", "passed"
    ),
    Case(
        "camera-grey",
        "photos/camera.png",
        lambda: encode(skimage_photo("camera"), "PNG"),
        "accepted",
        "passed",
    ),
    Case(
        "rocket-gps",
        "photos/rocket.jpg",
        lambda: with_gps(skimage_photo("rocket")),
        "review",
        "gps-location",
    ),
    Case(
        "chelsea-blurred",
        "photos/chelsea-blurred.jpg",
        lambda: encode(skimage_photo("chelsea").filter(ImageFilter.GaussianBlur(8)), "JPEG"),
        "review",
        "blurry",
    ),
    Case(  # heavily blurred: the unfiltered 1-px border used to score it 32, over MinSharpness
        "astronaut-blurred",
        "photos/astronaut-blurred.jpg",
        lambda: encode(skimage_photo("astronaut").filter(ImageFilter.GaussianBlur(25)), "JPEG"),
        "review",
        "blurry",
    ),
    Case(
        "hubble-dark",
        "photos/hubble.jpg",
        lambda: encode(skimage_photo("hubble_deep_field").point(lambda v: v // 3), "JPEG"),
        "review",
        "exposure",
    ),
    Case(
        "coffee-thumb",
        "photos/coffee-small.jpg",
        lambda: encode(skimage_photo("coffee").resize((60, 40)), "JPEG"),
        "rejected",
        "too-small",
    ),
    # polyglots: a picture that is also another file goes to a person, however good the picture
    Case(
        "jpeg-then-html",
        "photos/astronaut-html.jpg",
        lambda: encode(skimage_photo("astronaut"), "JPEG", quality=90) + HTML_TAIL,
        "review",
        "trailing-data",
    ),
    Case(
        "png-then-zip",
        "photos/coffee-zip.png",
        lambda: encode(skimage_photo("coffee"), "PNG") + zip_bytes(),
        "review",
        "trailing-data",
    ),
    # high bit depth: scaled, not clipped, to measure exposure (a real photo as 16-bit PNG, a float TIFF)
    Case("camera-16bit", "photos/camera16.png", lambda: camera_16bit_png(), "accepted", "passed"),
    Case("float-tiff", "gen/float.tif", lambda: float_tiff(), "accepted", "passed"),
    # keys that need encoding in CopySource, with content the pipeline accepts
    Case("unicode-key", "ünïcødé ☃.jpg", lambda: encode(photo_like(seed=4), "JPEG"), "accepted", "passed"),
    Case("plus-space-key", "a+b c.jpg", lambda: encode(photo_like(seed=5), "JPEG"), "accepted", "passed"),
    Case("odd-key", "x/100% (1)&#?=.jpg", lambda: encode(photo_like(seed=6), "JPEG"), "accepted", "passed"),
    # hostile uploads: the upload's fault, so quarantined with the error's name
    Case("empty", "hostile/empty.jpg", lambda: b"", "quarantined", "EmptyObject"),
    # a key near S3's 1,024-byte limit: its quarantine copy must still have a legal key
    Case("long-key", "hostile/" + "é-long-" * 120 + "end.jpg", lambda: b"", "quarantined", "EmptyObject"),
    Case(
        "truncated-jpeg",
        "hostile/truncated.jpg",
        lambda: _accepted_sharp()[:3000],
        "quarantined",
        "CorruptImage",
    ),
    Case(
        "truncated-png",
        "hostile/truncated.png",
        lambda: encode(photo_like(seed=7), "PNG")[:5000],
        "quarantined",
        "CorruptImage",
    ),
    Case("bomb", "hostile/bomb.png", png_bomb, "quarantined", "DecompressionBomb"),
    Case("too-many-pixels", "hostile/canvas.png", big_canvas_png, "quarantined", "ImageTooLarge"),
    Case("zip-as-jpg", "hostile/archive.jpg", zip_bytes, "quarantined", "UnsupportedMediaType"),
    Case(
        "jpeg-magic-garbage",
        "hostile/garbage.jpg",
        lambda: b"\xff\xd8\xff" + os.urandom(2000),
        "quarantined",
        "CorruptImage",
    ),
    Case(
        "bad-metadata",
        "hostile/meta.jpg",
        _accepted_sharp,
        "quarantined",
        "InvalidMetadata",
        {"Metadata": {"uploader": "two words", "unexpected": "x"}},
    ),
    Case("unicode-empty", "hostile/ünï ☃ +.jpg", lambda: b"", "quarantined", "EmptyObject"),
    # the key is an argument of States.Format in the quarantine key: braces and quotes stay as they are;
    # a backslash is a path separator to some tools, so it becomes "/"
    Case(
        "format-chars-key",
        "hostile/{} {0} 'q' \\b $.x.jpg",
        lambda: b"",
        "quarantined",
        "EmptyObject",
        stored="hostile/{} {0} 'q' /b $.x.jpg",
    ),
    # keys that climb: no copy may leave its prefix (the bucket's root, or quarantine/<reason>/<id>/)
    Case(
        "dot-dot-key",
        "hostile/../../etc/passwd.jpg",
        lambda: encode(photo_like(seed=12), "JPEG"),
        "accepted",
        "passed",
        stored="hostile/etc/passwd.jpg",
    ),
    Case(
        "backslash-dot-dot-key",
        "hostile\\..\\..\\.\\win.jpg",
        lambda: encode(photo_like(seed=13), "JPEG"),
        "accepted",
        "passed",
        stored="hostile/win.jpg",
    ),
    Case(
        "dot-dot-empty",
        "hostile/./../../../etc/empty.jpg",
        lambda: b"",
        "quarantined",
        "EmptyObject",
        stored="hostile/etc/empty.jpg",
    ),
    # plain text is not an accepted document: a person looks at it, whatever its name says
    Case(
        "plain-text", "docs/notes.txt", lambda: b"just some text\nnothing to see\n", "review", "unknown-text"
    ),
    Case(
        "text-as-png",
        "hostile/notes.png",
        lambda: b"just some text\nnothing to see\n",
        "review",
        "unknown-text",
    ),
    # an accepted document whose name lies
    Case(
        "json-named-csv",
        "docs/really-json.csv",
        lambda: json.dumps([{"a": 1}]).encode(),
        "review",
        "extension-mismatch",
    ),
]

QUARANTINED = [c for c in CASES if c.outcome == "quarantined"]
PROCESSED = [c for c in CASES if c.outcome != "quarantined"]


@pytest.fixture(scope="module")
def batch(e2e: E2E) -> dict[str, Upload]:
    uploads: dict[str, Upload] = {}
    for case in CASES:
        key = f"{e2e.world.input_prefix}{case.key}"
        uploads[case.name] = e2e.upload(case.name, key, case.make(), **case.extra)
        if case.stored is not None:
            uploads[case.name].stored = f"{e2e.world.input_prefix}{case.stored}"
    e2e.wait(list(uploads.values()))
    e2e.wait_messages([u for u in uploads.values() if u.status in TERMINAL])
    return uploads


def _ids(cases: list[Case]) -> list[str]:
    return [c.name for c in cases]


# ----- every upload ends, once, and the engine survives --------------------------------------------------------


def test_every_upload_starts_one_execution_that_ends(e2e: E2E, batch: dict[str, Upload]) -> None:
    not_done = {u.case: u.status for u in batch.values() if u.status not in TERMINAL}
    assert not not_done, f"not terminal after {EXECUTION_TIMEOUT}s: {not_done}"
    names = [item["name"] for item in e2e.executions()]
    for upload in batch.values():
        assert names.count(upload.name) == 1, upload.case
        assert json.loads(upload.execution["input"])["key"] == upload.key  # type: ignore[index]
    # handled outcomes all Succeed: a failure here is an operational failure the definition did not expect
    failed = {u.case: (u.execution or {}).get("error") for u in batch.values() if u.status != "SUCCEEDED"}
    assert not failed


def test_engine_still_serves_and_nothing_is_left_running(e2e: E2E, batch: dict[str, Upload]) -> None:
    running = [item["name"] for item in e2e.executions() if item["status"] == "RUNNING"]
    assert running == []
    # the API (HTTP) answers, not only the service object
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=e2e.world.api_url,
        region_name=e2e.world.stack.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    listed = sfn.list_executions(stateMachineArn=e2e.machine_arn, maxResults=1000)["executions"]
    assert {u.name for u in batch.values()} <= {e["name"] for e in listed}


# ----- processed uploads: bucket, key, tags, thumbnail, SNS ------------------------------------------------------


@pytest.mark.parametrize("case", PROCESSED, ids=_ids(PROCESSED))
def test_processed_upload_lands_in_its_bucket(e2e: E2E, batch: dict[str, Upload], case: Case) -> None:
    upload = batch[case.name]
    assert upload.status == "SUCCEEDED", upload.execution
    output = upload.output
    assert output["outcome"]["outcome"] == case.outcome, output.get("analysis")
    assert output["outcome"]["reason"] == case.reason, output.get("analysis")
    bucket = {"accepted": e2e.accepted, "review": e2e.review, "rejected": e2e.rejected}[case.outcome]
    assert output["outcome"]["bucket"] == bucket
    # the same key, the same bytes, only in the outcome bucket
    assert e2e.get(bucket, upload.stored) == upload.body
    for other in {e2e.accepted, e2e.review, e2e.rejected} - {bucket}:
        assert e2e.head(other, upload.stored) is None
    assert e2e.tags(bucket, upload.stored) == {
        "outcome": case.outcome,
        "reason": case.reason,
        "object-id": upload.object_id,
    }
    # thumbnails only for accepted images
    thumbnail_key = f"thumbnails/{upload.object_id}.jpg"
    is_image = output["validation"]["kind"] == "image"
    if case.outcome == "accepted" and is_image:
        assert output["thumbnail"] == {
            "thumbnailBucket": e2e.accepted,
            "thumbnailKey": thumbnail_key,
            "width": output["thumbnail"]["width"],
            "height": output["thumbnail"]["height"],
        }
        thumb = Image.open(io.BytesIO(e2e.get(e2e.accepted, thumbnail_key)))
        assert thumb.format == "JPEG"
        assert max(thumb.size) == 256 and thumb.size == (
            output["thumbnail"]["width"],
            output["thumbnail"]["height"],
        )
        src = output["analysis"]["image"]
        assert abs(thumb.size[0] / thumb.size[1] - src["width"] / src["height"]) < 0.02
        # the thumbnail is analyse's preview, copied: the upload was decoded once
        preview = output["analysis"]["preview"]
        assert (preview["bucket"], preview["key"]) == (e2e.previews, f"previews/{upload.object_id}.jpg")
        assert e2e.get(e2e.accepted, thumbnail_key) == e2e.get(e2e.previews, preview["key"])
    else:
        assert "thumbnail" not in output
        assert e2e.head(e2e.accepted, thumbnail_key) is None


@pytest.mark.parametrize("case", PROCESSED, ids=_ids(PROCESSED))
def test_processed_upload_publishes_one_message(e2e: E2E, batch: dict[str, Upload], case: Case) -> None:
    upload = batch[case.name]
    messages = e2e.messages_for(upload)
    assert len(messages) == 1, [m.body for m in messages]
    message = messages[0]
    validation = upload.output["validation"]
    assert message.attributes == {
        "outcome": case.outcome,
        "reason": case.reason,
        "alert": "false",
        "contentType": validation["contentType"],
        "kind": validation["kind"],
        "sizeClass": validation["sizeClass"],
    }
    bucket = {"accepted": e2e.accepted, "review": e2e.review, "rejected": e2e.rejected}[case.outcome]
    assert message.body == {
        "outcome": case.outcome,
        "reason": case.reason,
        "bucket": bucket,
        "key": upload.stored,
        "source": {"bucket": e2e.input_bucket, "key": upload.key, "versionId": upload.version_id},
        "objectId": upload.object_id,
        "contentType": validation["contentType"],
        "size": len(upload.body),
        "execution": upload.execution["executionArn"],  # type: ignore[index]
    }


def test_review_queue_filter_policy(e2e: E2E, batch: dict[str, Upload]) -> None:
    """The template's ReviewQueue (FilterPolicy outcome=review, raw delivery) gets review outcomes only."""
    e2e.drain()
    for upload in batch.values():
        case = next(c for c in CASES if c.name == upload.case)
        got = e2e.messages_for(upload, queue="review")
        if case.outcome == "review":
            assert len(got) == 1, case.name
            assert got[0].attributes["outcome"] == "review"
            assert got[0].attributes["reason"] == case.reason
            assert got[0].body["key"] == upload.stored
        else:
            assert got == [], case.name
    assert {m.attributes["outcome"] for m in e2e.reviewed} == {"review"}


# ----- hostile uploads: quarantined with a reason, an alert, a Succeed -------------------------------------------


@pytest.mark.parametrize("case", QUARANTINED, ids=_ids(QUARANTINED))
def test_hostile_upload_is_quarantined_with_reason_and_alert(
    e2e: E2E, batch: dict[str, Upload], case: Case
) -> None:
    upload = batch[case.name]
    assert upload.status == "SUCCEEDED", upload.execution  # a handled outcome, not counted as a failure
    output = upload.output
    assert output["error"]["Error"] == case.reason, output["error"]
    assert output["error"]["Cause"]
    tail = upload.stored if len(upload.stored) <= 200 else upload.stored[-200:]  # S3 keys stop at 1,024 bytes
    quarantine_key = f"quarantine/{case.reason}/{upload.object_id}/{tail}"
    assert len(quarantine_key.encode()) <= 1024
    head = e2e.head(e2e.rejected, quarantine_key)
    assert head is not None, e2e.keys(e2e.rejected)
    assert e2e.get(e2e.rejected, quarantine_key) == upload.body
    assert head["Metadata"] == {"quarantine-reason": case.reason, "object-id": upload.object_id}
    assert e2e.tags(e2e.rejected, quarantine_key) == {
        "outcome": "quarantined",
        "reason": case.reason,
        "object-id": upload.object_id,
    }
    # nothing in an outcome bucket under the upload's own key
    for bucket in (e2e.accepted, e2e.review, e2e.rejected):
        assert e2e.head(bucket, upload.key) is None and e2e.head(bucket, upload.stored) is None
    messages = e2e.messages_for(upload)
    assert len(messages) == 1, [m.body for m in messages]
    message = messages[0]
    assert message.attributes == {"outcome": "quarantined", "reason": case.reason, "alert": "true"}
    assert message.body["bucket"] == e2e.rejected
    assert message.body["key"] == quarantine_key
    assert message.body["reason"] == case.reason
    assert message.body["source"] == {
        "bucket": e2e.input_bucket,
        "key": upload.key,
        "versionId": upload.version_id,
    }
    # the alert says the cause in one line (Lambda's errorMessage); the stack trace stays in the execution
    assert "stackTrace" in output["error"]["Cause"]
    line = json.loads(output["error"]["Cause"])["errorMessage"].splitlines()[0]
    assert message.body["cause"] == (line if len(line) <= 256 else line[:255] + "…")
    assert "stackTrace" not in json.dumps(message.raw) and "Traceback" not in json.dumps(message.raw)
    assert e2e.messages_for(upload, queue="review") == []


def test_bomb_is_refused_before_decoding(e2e: E2E, batch: dict[str, Upload]) -> None:
    upload = batch["bomb"]
    assert "50000x50000" in upload.output["error"]["Cause"] or "2500000000" in upload.output["error"]["Cause"]
    # refused by Analyse on the header, with no retry of the task
    arn = upload.execution["executionArn"]  # type: ignore[index]
    scheduled = [e for e in e2e.history(arn) if e["type"] == "TaskStateEntered"]
    assert [e["stateEnteredEventDetails"]["name"] for e in scheduled] == [
        "Validate",
        "Analyse",
        "Quarantine",
        "NotifyQuarantined",
    ]


# ----- one execution per object version ---------------------------------------------------------------------------


def _recorded_event(e2e: E2E, upload: Upload, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in e2e.events:
            obj = event["detail"]["object"]
            if obj["key"] == upload.key and obj.get("version-id") == upload.version_id:
                return event
        time.sleep(0.05)
    raise AssertionError(f"no Object Created event recorded for {upload.key}")


def _starter_pool(e2e: E2E) -> tuple[Any, str]:
    stack = e2e.world.stack
    rule = next(r for r in stack.rules.values() if r.target_function)
    fn = stack.functions[rule.target_function]
    return e2e.workers.pool(fn.name), fn.arn


def test_redelivered_event_starts_nothing_and_publishes_nothing(e2e: E2E, batch: dict[str, Upload]) -> None:
    upload = batch["sharp-jpeg"]
    event = _recorded_event(e2e, upload)
    before = len(e2e.events)

    # 1. the rule's target gets the same event again, twice at once (as EventBridge's at-least-once may)
    async def redeliver() -> None:
        await asyncio.gather(
            e2e.bridge.on_event(copy.deepcopy(event)), e2e.bridge.on_event(copy.deepcopy(event))
        )

    e2e.loop.run(redeliver())
    # 2. the same event arrives on the bridge's queue twice, through the whole S3 -> EventBridge path
    for _ in range(2):
        e2e.sqs.send_message(QueueUrl=e2e.bridge.queue_url, MessageBody=json.dumps(event))
    deadline = time.monotonic() + 15
    while len(e2e.events) < before + 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(e2e.events) == before + 4
    assert [item["name"] for item in e2e.executions()].count(upload.name) == 1
    assert e2e.describe(upload.execution["executionArn"])["startDate"] == upload.execution["startDate"]  # type: ignore[index]
    e2e.drain()
    assert len(e2e.messages_for(upload)) == 1


def test_concurrent_duplicate_starts_race_to_one_execution(e2e: E2E, batch: dict[str, Upload]) -> None:
    """Duplicates while the first is still RUNNING: the starter function invoked 4 times at once."""
    template = _recorded_event(e2e, batch["sharp-jpeg"])
    key = "elsewhere/dup.jpg"  # outside the rule's prefix, so only these invocations start anything
    body = encode(photo_like(seed=9), "JPEG")
    put = e2e.s3.put_object(Bucket=e2e.input_bucket, Key=key, Body=body)
    event = copy.deepcopy(template)
    event["detail"]["object"].update(
        key=key, size=len(body), etag=put["ETag"].strip('"'), **{"version-id": put["VersionId"]}
    )
    pool, arn = _starter_pool(e2e)

    async def storm() -> list[Any]:
        return await asyncio.gather(*(pool.invoke(copy.deepcopy(event), invoked_arn=arn) for _ in range(4)))

    results = e2e.loop.run(storm())
    upload = e2e.expect("dup", e2e.input_bucket, key, body, put["VersionId"])
    assert {r["executionName"] for r in results} == {upload.name}
    # As on AWS: a StartExecution with the same name and input as a RUNNING execution succeeds with
    # the same ARN (idempotent); once it is closed, ExecutionAlreadyExists. Either way, one execution.
    assert {r["executionArn"] for r in results if r["started"]} <= {
        f"{e2e.machine_arn.replace(':stateMachine:', ':execution:')}:{upload.name}"
    }
    assert any(r["started"] for r in results)
    e2e.wait([upload], timeout=20)
    assert upload.status == "SUCCEEDED"
    assert [item["name"] for item in e2e.executions()].count(upload.name) == 1
    e2e.wait_messages([upload])
    time.sleep(0)  # no fixed sleep: any second message would have been published before SUCCEEDED
    e2e.drain()
    assert len(e2e.messages_for(upload)) == 1
    assert e2e.messages_for(upload)[0].attributes["outcome"] == "accepted"


def test_a_new_version_of_the_same_key_is_a_new_execution(e2e: E2E, batch: dict[str, Upload]) -> None:
    first = batch["sharp-png"]
    second = e2e.upload("sharp-png-v2", first.key, encode(photo_like(seed=10), "PNG"))
    assert second.name != first.name
    e2e.wait([second], timeout=20)
    assert second.status == "SUCCEEDED"
    assert second.output["outcome"]["outcome"] == "accepted"
    # same key in the accepted bucket: the copy overwrote (the newest version is the new bytes)
    assert e2e.get(e2e.accepted, first.key) == second.body


def test_object_deleted_before_processing_is_skipped(e2e: E2E, batch: dict[str, Upload]) -> None:
    """ObjectNotFound: the starter gets an event for a version that no longer exists."""
    template = _recorded_event(e2e, batch["sharp-jpeg"])
    key = "elsewhere/gone.jpg"
    body = encode(photo_like(seed=11), "JPEG")
    put = e2e.s3.put_object(Bucket=e2e.input_bucket, Key=key, Body=body)
    e2e.s3.delete_object(Bucket=e2e.input_bucket, Key=key, VersionId=put["VersionId"])
    event = copy.deepcopy(template)
    event["detail"]["object"].update(key=key, size=len(body), **{"version-id": put["VersionId"]})
    pool, arn = _starter_pool(e2e)
    result = e2e.loop.run(pool.invoke(event, invoked_arn=arn))
    assert result["started"] is True
    upload = e2e.expect("gone", e2e.input_bucket, key, body, put["VersionId"])
    e2e.wait([upload], timeout=20)
    assert upload.status == "SUCCEEDED", upload.execution
    assert upload.output["notification"]["outcome"] == "skipped"
    assert upload.output["error"]["Error"] == "ObjectNotFound"
    e2e.wait_messages([upload])
    [message] = e2e.messages_for(upload)
    assert message.attributes == {"outcome": "skipped", "reason": "ObjectNotFound", "alert": "false"}


# ----- `workflows upload` ---------------------------------------------------------------------------------------


def test_workflows_upload_command_starts_an_execution(
    e2e: E2E, batch: dict[str, Upload], tmp_path: Path
) -> None:
    path = tmp_path / "from cli ü.jpg"
    path.write_bytes(encode(skimage_photo("astronaut"), "JPEG", quality=85))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [sys.executable, "-m", "workflows", "upload", str(path), "--data-dir", str(e2e.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    key = f"{e2e.world.input_prefix}{path.name}"
    # One line per file: key, execution, status, outcome, reason, bucket (the key has a space).
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith(key) and line.split()[-4:] == ["SUCCEEDED", "accepted", "passed", e2e.input_bucket]
    version = e2e.s3.head_object(Bucket=e2e.input_bucket, Key=key)["VersionId"]
    upload = e2e.expect("cli", e2e.input_bucket, key, path.read_bytes(), version)
    e2e.wait([upload], timeout=20)
    assert upload.status == "SUCCEEDED", upload.execution
    assert upload.output["outcome"] == {"outcome": "accepted", "reason": "passed", "bucket": e2e.accepted}
    assert e2e.get(e2e.accepted, key) == upload.body


# ----- high bit depth (tasks/analyse): the statistics the Choice reads ------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        camera_16bit_png,
        float_tiff,
        lambda: encode(Image.fromarray(np.full((80, 90), 30000, np.uint16)), "TIFF"),
    ],
    ids=["16-bit-png", "float-tiff", "16-bit-tiff"],
)
def test_high_bit_depth_brightness_is_scaled_not_clipped(make: Callable[[], bytes]) -> None:
    from tasks.analyse.analyse.images import inspect_image

    data = make()
    report, preview = inspect_image(io.BytesIO(data), None, 64)
    assert 0.2 < report["brightness"] < 0.8, report["brightness"]
    mean = ImageStat.Stat(Image.open(io.BytesIO(preview.data)).convert("L")).mean[0]
    assert 50 < mean < 205


def test_aws_cli_upload_starts_an_execution_and_one_outside_the_prefix_does_not(
    e2e: E2E, batch: dict[str, Upload], tmp_path: Path
) -> None:
    """`aws s3 cp --endpoint-url` as a user would type it; the rule's prefix decides what starts."""
    aws = tools.aws_cli()
    path = tmp_path / "via aws cli.png"
    path.write_bytes(encode(skimage_photo("coffee"), "PNG"))
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    key = f"{e2e.world.input_prefix}{path.name}"
    outside = f"not-{e2e.world.input_prefix}{path.name}"
    for target in (key, outside):
        done = subprocess.run(
            [
                str(aws),
                "s3",
                "cp",
                str(path),
                f"s3://{e2e.input_bucket}/{target}",
                "--endpoint-url",
                e2e.world.aws_url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert done.returncode == 0, done.stderr
    version = e2e.s3.head_object(Bucket=e2e.input_bucket, Key=key)["VersionId"]
    upload = e2e.expect("aws-cli", e2e.input_bucket, key, path.read_bytes(), version)
    e2e.wait([upload], timeout=20)
    assert upload.status == "SUCCEEDED", upload.execution
    assert upload.output["outcome"]["bucket"] == e2e.accepted
    outside_version = e2e.s3.head_object(Bucket=e2e.input_bucket, Key=outside)["VersionId"]
    stray = e2e.expect("outside", e2e.input_bucket, outside, path.read_bytes(), outside_version)
    e2e.wait([stray], timeout=3)  # the rule does not match: no execution by that name appears
    assert stray.execution is None
    assert stray.name not in {item["name"] for item in e2e.executions()}
