"""Benchmark: the upload pipeline end to end in the local world, and the analyse task's peak memory.

* Latency and throughput: `workflows.local.dev.start_world` (moto on 127.0.0.1, provisioning from
  template.yaml, the engine, the S3 -> EventBridge -> starter bridge and the Lambda workers), a 12 MP
  photo-like JPEG uploaded with boto3 under the rule's prefix, timed from `put_object` returning to the
  pipeline's SNS message reaching the tap queue (its SQS `SentTimestamp`; the moment the long poll
  handed it over is shown beside it). Warm-up uploads first (cold worker processes), then sequential
  uploads for latency and concurrent ones for throughput. Each latency is split at the execution's
  start and stop dates: upload -> execution started -> execution stopped -> message in the queue.
* Memory: the analyse handler in a fresh process on a 100 MP (10000x10000) JPEG held by a moto S3
  server in another process, so the figure is the handler's own: peak RSS (VmHWM) and its growth
  over the process after imports.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TARGET_P50_MS = 80.0  # upload -> SNS, one at a time
TARGET_PER_S = 25.0  # uploads/s, 20 at once
TARGET_PEAK_MIB = 150.0
LOG_PATH = Path(tempfile.gettempdir()) / "workflows-bench-pipeline.log"  # the world's stderr while it runs


# ---------------------------------------------------------------------------------------------------------
# Images


def photo_like_jpeg(width: int = 4000, height: int = 3000, quality: int = 90, seed: int = 7) -> bytes:
    """A JPEG that looks like a photograph to the pipeline's checks: smooth gradients for exposure and
    colour, shapes for edges, and sensor-like noise for sharpness."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    for c, (a, b, d) in enumerate(((60, 120, 40), (90, 60, 70), (150, -60, 30))):
        channel = a + b * y + d * np.sin(6.0 * x + 2.0 * c) * np.cos(4.0 * y)
        channel = channel + rng.normal(0.0, 12.0, size=(height, width)).astype(np.float32)
        rgb[:, :, c] = np.clip(channel, 0, 255).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    del rgb
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width - width // 5)), int(rng.integers(0, height - height // 5))
        colour = tuple(int(v) for v in rng.integers(20, 235, size=3))
        draw.ellipse([x0, y0, x0 + width // 6, y0 + height // 6], fill=colour, outline=(10, 10, 10), width=8)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def huge_jpeg(path: Path, side: int = 10_000, quality: int = 85) -> Path:
    """A `side` x `side` photo-like JPEG, tiled from a smaller one (cheap to make, still photo-like)."""
    from PIL import Image

    if path.exists():
        return path
    tile = Image.open(io.BytesIO(photo_like_jpeg(2000, 2000, quality=95, seed=11)))
    big = Image.new("RGB", (side, side))
    for top in range(0, side, tile.height):
        for left in range(0, side, tile.width):
            big.paste(tile, (left, top))
    big.save(path, "JPEG", quality=quality)
    return path


# ---------------------------------------------------------------------------------------------------------
# Upload -> SNS through the local world


@dataclass
class Trip:
    key: str
    put_seconds: float  # how long put_object took to return
    latency_ms: float | None = None  # put_object returned -> SNS message in the tap queue (SentTimestamp)
    received_ms: float | None = None  # put_object returned -> the long poll handed the message over
    to_start_ms: float | None = (
        None  # put_object returned -> execution startDate (S3 -> EventBridge -> starter)
    )
    start_to_sns_ms: float | None = None  # execution startDate -> SNS message in the queue (the tasks)
    outcome: str | None = None
    status: str | None = None
    problem: str | None = None
    states: dict[str, float] = field(default_factory=dict)  # state name -> ms from entered to exited


@dataclass
class Batch:
    trips: list[Trip] = field(default_factory=list)
    seconds: float = 0.0  # first put_object call -> last message in the queue
    cpu: dict[str, float] = field(default_factory=dict)  # process group -> CPU seconds the batch used

    def cpu_ms_per_upload(self) -> dict[str, float]:
        done = len(self.trips)
        return {name: seconds * 1000 / done for name, seconds in self.cpu.items()} if done else {}

    def latencies(self) -> list[float]:
        return [t.latency_ms for t in self.trips if t.latency_ms is not None]

    def percentile(self, q: float, attr: str = "latency_ms") -> float | None:
        values = sorted(getattr(t, attr) for t in self.trips if getattr(t, attr) is not None)
        if not values:
            return None
        if len(values) == 1:
            return float(values[0])
        return float(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1])

    @property
    def throughput(self) -> float | None:
        done = len(self.latencies())
        return done / self.seconds if done and self.seconds > 0 else None

    @property
    def problems(self) -> list[str]:
        return [f"{t.key}: {t.problem}" for t in self.trips if t.problem]

    @property
    def ok(self) -> bool:
        return bool(self.trips) and not self.problems


@dataclass(frozen=True)
class PipelineSettings:
    warmup: int = 3
    sequential: int = 20
    concurrent: int = 20
    width: int = 4000
    height: int = 3000
    timeout: float = 120.0
    memory: bool = True
    memory_side: int = 10_000
    batch: int = 1000  # files of `workflows upload DIR`; 0 skips it


QUICK_PIPELINE = PipelineSettings(
    warmup=1, sequential=2, concurrent=2, width=800, height=600, memory=False, batch=0
)


@dataclass
class PipelineResult:
    image_bytes: int = 0
    width: int = 0
    height: int = 0
    sequential: Batch = field(default_factory=Batch)
    concurrent: Batch = field(default_factory=Batch)
    memory: dict[str, Any] | None = None
    floor: dict[str, float] = field(default_factory=dict)  # work_floor(): CPU ms no pipeline avoids
    moto_rss_mib: tuple[float, float] | None = None  # moto's resident memory after warm-up, at the end
    problem: str | None = None

    @property
    def p50(self) -> float | None:
        return self.sequential.percentile(50)

    @property
    def p95(self) -> float | None:
        return self.sequential.percentile(95)

    @property
    def latency_met(self) -> bool:
        return self.p50 is not None and self.p50 <= TARGET_P50_MS and self.sequential.ok

    @property
    def throughput_met(self) -> bool:
        per_s = self.concurrent.throughput
        return per_s is not None and per_s >= TARGET_PER_S and self.concurrent.ok

    @property
    def memory_met(self) -> bool | None:
        if not self.memory or "rss_peak_mib" not in self.memory:
            return None
        return bool(self.memory["rss_peak_mib"] <= TARGET_PEAK_MIB)

    @property
    def ok(self) -> bool:
        memory_ok = self.memory is None or "error" not in self.memory
        return self.problem is None and self.sequential.ok and self.concurrent.ok and memory_ok


OWN = "engine + bench client"  # this process in cpu_snapshot, before _client_apart splits it
ENGINE, CLIENT = "engine (this process, less the bench client)", "bench client (its uploads, reads, probes)"


def _client_apart(cpu: dict[str, float], client_seconds: float) -> dict[str, float]:
    """This process's CPU split: what the bench's own threads used (uploading, reading the tap queue,
    probing the API; a person's client runs elsewhere) apart from the engine's."""
    own = cpu.pop(OWN, 0.0)
    client = min(client_seconds, own)
    return {ENGINE: own - client, CLIENT: client, **cpu}


def work_floor(body: bytes, runs: int = 5) -> dict[str, float]:
    """CPU milliseconds an upload of `body` costs whatever carries it, median of `runs`: the analysis
    itself (the analyse task's inspect_image: decode at its reduced scale, statistics, preview; in this
    process, no I/O) and hashing the body as the S3 API has it hashed (the client's SigV4 SHA-256 and
    CRC32 checksum, S3's MD5 for the ETag). What is left of the CPU per upload is carrying it: HTTP,
    S3's copies, the Lambda workers, the engine."""
    import hashlib
    import zlib

    from tasks.analyse.analyse.images import inspect_image

    def cpu_ms(work: Any) -> float:
        used = []
        for _ in range(runs):
            c0 = time.thread_time()
            work()
            used.append((time.thread_time() - c0) * 1000)
        return statistics.median(used)

    return {
        "analysis": cpu_ms(lambda: inspect_image(io.BytesIO(body), None, 256)),
        "hashes": cpu_ms(
            lambda: (hashlib.sha256(body).digest(), zlib.crc32(body), hashlib.md5(body).digest())
        ),
    }


class _Tap:
    """Reads the SNS tap queue on a thread, keeping every pipeline message by object key."""

    def __init__(self, sqs: Any, url: str) -> None:
        self.sqs, self.url = sqs, url
        self.arrived: dict[str, tuple[float, float, dict[str, Any]]] = {}  # key -> (sent, received, message)
        self.cpu = 0.0  # CPU seconds its reading threads used since the last take_cpu()

    def take_cpu(self) -> float:
        used, self.cpu = self.cpu, 0.0
        return used

    def drain(self) -> None:
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return
            for message in messages:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def wait_for(self, keys: set[str], timeout: float) -> None:
        c0 = time.thread_time()
        try:
            self._wait_for(keys, timeout)
        finally:
            self.cpu += time.thread_time() - c0

    def _wait_for(self, keys: set[str], timeout: float) -> None:
        deadline = time.time() + timeout
        while not keys <= self.arrived.keys() and time.time() < deadline:
            response = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageSystemAttributeNames=["SentTimestamp"],
            )
            received = time.time()
            messages = response.get("Messages", [])
            for message in messages:
                sent = int(message.get("Attributes", {}).get("SentTimestamp", 0)) / 1000 or received
                body = json.loads(message["Body"])
                try:
                    key = json.loads(body.get("Message", "{}")).get("key")
                except ValueError:
                    key = None
                if key:
                    self.arrived.setdefault(key, (sent, received, body))
            if messages:
                self.sqs.delete_message_batch(
                    QueueUrl=self.url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                    ],
                )


def _process_cpu(pid: int | str = "self") -> float:
    """User + system CPU seconds of one process so far (0 when it is gone, or there is no /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def cpu_snapshot(world: Any) -> dict[str, dict[int | str, float]]:
    """CPU seconds so far of each process of the world, grouped: this process (the engine, its API and
    the bench's own client), moto, and each Lambda function's workers."""
    groups: dict[str, dict[int | str, float]] = {OWN: {"self": _process_cpu()}}
    aws = getattr(world, "local_aws", None)
    if aws is not None and aws.pid is not None:
        groups["moto (S3, SNS, SQS, EventBridge)"] = {aws.pid: _process_cpu(aws.pid)}
    workers = getattr(world, "workers", None)
    for name, pool in sorted((getattr(workers, "pools", None) or {}).items()):
        groups[f"{name} workers"] = {
            w.process.pid: _process_cpu(w.process.pid) for w in list(getattr(pool, "_all", ()))
        }
    return groups


def rss_mib(pid: int) -> float:
    """A process's resident memory (VmRSS), MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_used(
    before: dict[str, dict[int | str, float]], after: dict[str, dict[int | str, float]]
) -> dict[str, float]:
    """CPU seconds each group used between two snapshots (a worker started in between counts from 0)."""
    return {
        group: sum(max(seconds - before.get(group, {}).get(pid, 0.0), 0.0) for pid, seconds in pids.items())
        for group, pids in after.items()
    }


async def _trips(
    world: Any, tap: _Tap, s3: Any, body: bytes, count: int, parallel: int, timeout: float
) -> Batch:
    """Upload `count` objects, `parallel` at a time, and follow each to its SNS message."""
    prefix, suffix = world.input_prefix, world.input_suffix or ".jpg"
    keys = [f"{prefix}bench/{uuid.uuid4().hex[:12]}{suffix}" for _ in range(count)]
    returned: dict[str, tuple[float, float]] = {}
    client_cpu: list[float] = []  # CPU seconds of each upload's thread: the uploader, not the engine

    def put(key: str) -> None:
        t0, c0 = time.time(), time.thread_time()
        s3.put_object(Bucket=world.input_bucket, Key=key, Body=body, ContentType="image/jpeg")
        returned[key] = (t0, time.time())
        client_cpu.append(time.thread_time() - c0)

    loop = asyncio.get_running_loop()
    batch = Batch()
    cpu_before = cpu_snapshot(world)
    started = time.time()
    if parallel <= 1:
        for key in keys:  # one at a time: the next upload only after the last one's message arrived
            await asyncio.to_thread(put, key)
            await asyncio.to_thread(tap.wait_for, {key}, timeout)
    else:
        with ThreadPoolExecutor(parallel) as pool:
            await asyncio.gather(*(loop.run_in_executor(pool, put, key) for key in keys))
        await asyncio.to_thread(tap.wait_for, set(keys), timeout)
    last = max((tap.arrived[k][0] for k in keys if k in tap.arrived), default=time.time())
    batch.seconds = last - started
    # The message goes out before the execution ends (the thumbnail follows it): wait for the ends.
    deadline = time.time() + timeout
    known: dict[str, str | None] = {}
    while True:
        executions = await _executions_by_key(world, set(keys), known)
        if time.time() > deadline or all(e["status"] != "RUNNING" for e in executions.values()):
            break
        await asyncio.sleep(0.05)
    batch.cpu = _client_apart(cpu_used(cpu_before, cpu_snapshot(world)), sum(client_cpu) + tap.take_cpu())
    for key in keys:
        t0, t1 = returned[key]
        trip = Trip(key=key, put_seconds=t1 - t0)
        execution = executions.get(key)
        if execution is not None:
            trip.states = await _state_times(world, execution["executionArn"])
            trip.status = execution["status"]
            start = execution["startDate"].timestamp()
            trip.to_start_ms = (start - t1) * 1000
        if key in tap.arrived:
            sent, received, message = tap.arrived[key]
            trip.latency_ms = (sent - t1) * 1000
            trip.received_ms = (received - t1) * 1000
            if execution is not None:
                trip.start_to_sns_ms = (sent - execution["startDate"].timestamp()) * 1000
            trip.outcome = (message.get("MessageAttributes", {}).get("outcome") or {}).get("Value")
            if trip.outcome != "accepted":
                reason = (message.get("MessageAttributes", {}).get("reason") or {}).get("Value")
                trip.problem = f"outcome {trip.outcome!r} ({reason}), expected 'accepted'"
        else:
            trip.problem = f"no SNS message within {timeout:.0f} s (execution {trip.status or 'not found'})"
        batch.trips.append(trip)
    return batch


async def _state_times(world: Any, arn: str) -> dict[str, float]:
    """Milliseconds each state took (entered -> exited), from the execution's history."""
    history = await world.service.get_execution_history(executionArn=arn, maxResults=1000)
    entered: dict[str, float] = {}
    times: dict[str, float] = {}
    for event in history["events"]:
        when = event["timestamp"].timestamp()
        if "stateEnteredEventDetails" in event:
            entered[event["stateEnteredEventDetails"]["name"]] = when
        elif "stateExitedEventDetails" in event:
            name = event["stateExitedEventDetails"]["name"]
            if name in entered:
                times[name] = times.get(name, 0.0) + (when - entered[name]) * 1000
    return times


def state_medians(batch: Batch) -> dict[str, float]:
    """Per state, the median time over the batch's executions, in the order the states ran."""
    names: dict[str, list[float]] = {}
    for trip in batch.trips:
        for name, ms in trip.states.items():
            names.setdefault(name, []).append(ms)
    return {name: statistics.median(values) for name, values in names.items()}


async def _executions_by_key(
    world: Any, keys: set[str], known: dict[str, str | None]
) -> dict[str, dict[str, Any]]:
    """The newest execution of each key, as ListExecutions gives it (status, start and stop dates).
    `known` (execution ARN -> key) carries over between calls, so each execution is described once."""
    service = world.service
    arn = next(iter(world.state_machine_arns.values()))
    found: dict[str, dict[str, Any]] = {}
    token = None
    while True:
        page = await service.list_executions(stateMachineArn=arn, maxResults=1000, nextToken=token)
        for item in page["executions"]:
            if item["executionArn"] not in known:
                described = await service.describe_execution(executionArn=item["executionArn"])
                known[item["executionArn"]] = json.loads(described.get("input") or "{}").get("key")
            key = known[item["executionArn"]]
            if key in keys and key not in found:
                found[key] = item
        token = page.get("nextToken")
        if not token or len(found) == len(keys):
            return found


@contextlib.asynccontextmanager
async def _quiet_world(data_dir: str) -> AsyncIterator[Any]:
    """The local world (moto, engine, Lambda workers) on free ports, its workers' stderr in LOG_PATH
    (they log each invocation, as Lambda does to CloudWatch) until it has stopped."""
    from workflows.bench.http import free_port
    from workflows.local.dev import DevOptions, start_world, stop_world

    options = DevOptions(
        port=free_port(), aws_port=free_port(), data_dir=data_dir, template=str(ROOT / "template.yaml")
    )
    saved_stderr = os.dup(2)
    with open(LOG_PATH, "wb") as log_file:
        os.dup2(log_file.fileno(), 2)
    try:
        world = await start_world(options)
        try:
            yield world
        finally:
            await stop_world(world)
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)


async def run_pipeline_async(
    settings: PipelineSettings = PipelineSettings(), progress: Any = None
) -> PipelineResult:
    import logging

    def say(text: str) -> None:
        if progress:
            progress(text)

    result = PipelineResult(width=settings.width, height=settings.height)
    say("pipeline: generating the image")
    body = await asyncio.to_thread(photo_like_jpeg, settings.width, settings.height)
    result.image_bytes = len(body)
    say("pipeline: the CPU of the work itself (analysis, body hashes)")
    result.floor = await asyncio.to_thread(work_floor, body)
    for name in ("workflows", "moto", "werkzeug"):  # the world logs each execution; the table is enough
        logging.getLogger(name).setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="workflows-bench-pipeline-") as data_dir:
        say("pipeline: starting the local world")
        async with _quiet_world(data_dir) as world:
            if not world.input_bucket or not world.tap_queue_url:
                result.problem = "the world has no input bucket or SNS tap queue"
                return result
            s3 = world.endpoints.client("s3")
            tap = _Tap(world.endpoints.client("sqs"), world.tap_queue_url)
            await asyncio.to_thread(tap.drain)
            say(f"pipeline: {settings.warmup} warm-up uploads")
            # At once, so every worker process of each function has had its cold start.
            warm = await _trips(world, tap, s3, body, settings.warmup, settings.warmup, settings.timeout)
            if not warm.ok:
                result.problem = "warm-up: " + "; ".join(warm.problems[:3])
                return result
            moto = world.local_aws.pid if getattr(world, "local_aws", None) is not None else None
            warm_rss = rss_mib(moto) if moto else None
            say(f"pipeline: {settings.sequential} sequential uploads")
            result.sequential = await _trips(world, tap, s3, body, settings.sequential, 1, settings.timeout)
            say(f"pipeline: {settings.concurrent} concurrent uploads")
            result.concurrent = await _trips(
                world, tap, s3, body, settings.concurrent, settings.concurrent, settings.timeout
            )
            if moto and warm_rss is not None:
                result.moto_rss_mib = (warm_rss, rss_mib(moto))
    if settings.memory:
        say("pipeline: analyse peak memory on a 100 MP JPEG")
        result.memory = await asyncio.to_thread(analyse_peak_memory, settings.memory_side)
    return result


def run_pipeline(settings: PipelineSettings = PipelineSettings(), progress: Any = None) -> PipelineResult:
    return asyncio.run(run_pipeline_async(settings, progress))


# ---------------------------------------------------------------------------------------------------------
# A batch of files from the CLI, and how the API and console answer meanwhile


def mixed_batch(directory: Path, count: int) -> dict[str, str]:
    """A mixed batch like a user's folder: small photos in sub-folders, JSON and CSV documents, and a
    tenth that are broken (a JPEG cut after its header, an empty file). Relative path -> its kind
    (image, document, corrupt, empty)."""
    from PIL import Image, ImageDraw

    kinds: dict[str, str] = {}
    for i in range(count):
        if i % 10 == 9:
            name, kind = (f"broken/{i}.jpg", "corrupt") if i % 20 == 9 else (f"broken/{i}.png", "empty")
            data = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(40)) if kind == "corrupt" else b""
        elif i % 5 == 3:
            name, kind = f"docs/{i}.json", "document"
            data = json.dumps({"id": i, "tags": ["a", "b"]}).encode()
        elif i % 5 == 4:
            name, kind = f"docs/{i}.csv", "document"
            data = f"id,value\n{i},{i * 2}\n{i + 1},{i * 3}\n".encode()
        else:
            name, kind = f"photos/{i // 50}/{i}.jpg", "image"
            image = Image.new("RGB", (160, 120), (20 + i % 200, 90, 160))
            ImageDraw.Draw(image).ellipse(
                [30, 20, 130, 100], fill=(240, 230, 200), outline=(0, 0, 0), width=3
            )
            out = io.BytesIO()
            image.save(out, "JPEG", quality=85)
            data = out.getvalue()
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)
        kinds[name] = kind
    return kinds


@dataclass
class BatchUploadResult:
    files: int = 0
    seconds: float = 0.0  # the CLI's run: first upload -> every execution followed to its end
    counts: dict[str, int] = field(default_factory=dict)  # succeeded / quarantined / failed
    accounted: int = 0  # rows with a finished execution, one per file
    exit_code: int | None = None
    describe_ms: list[float] = field(default_factory=list)  # DescribeExecution while the batch ran
    console_ms: list[float] = field(default_factory=list)  # the console's executions list meanwhile
    cpu: dict[str, float] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=dict)  # bytes of text in the store, by table, after it
    history_text: int = 0  # the history as JSON text, what it took before compaction
    compaction_seconds: float | None = None  # the batch's end -> every ended execution compacted
    executions: int = 0  # executions in the store then
    problem: str | None = None

    @property
    def per_second(self) -> float | None:
        return self.files / self.seconds if self.seconds > 0 else None

    @staticmethod
    def percentile(values: list[float], q: int) -> float | None:
        if len(values) < 2:
            return values[0] if values else None
        return float(statistics.quantiles(values, n=100, method="inclusive")[q - 1])


def _probe(url: str, call: Any, stop: Any, out: list[float], every: float = 0.1, cpu: Any = None) -> None:
    """Time `call()` every `every` seconds until `stop` is set (a person clicking around meanwhile);
    the thread's own CPU seconds are appended to `cpu`."""
    c0 = time.thread_time()
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            call()
        except Exception:  # an error is also an answer, but a slow one must still show
            pass
        out.append((time.perf_counter() - t0) * 1000)
        stop.wait(every)
    if cpu is not None:
        cpu.append(time.thread_time() - c0)


async def run_batch_upload_async(
    count: int = 1000, concurrency: int = 8, progress: Any = None
) -> BatchUploadResult:
    """`workflows upload DIR` (a separate process, as a user runs it) of `count` small mixed files into
    the local world, while this process asks DescribeExecution every 100 ms and the console's
    executions list (every execution, its columns filled) every 500 ms: files per second end to end,
    and how long those answers took meanwhile."""
    import logging
    import threading
    import urllib.request

    def say(text: str) -> None:
        if progress:
            progress(text)

    result = BatchUploadResult(files=count)
    for name in ("workflows", "moto", "werkzeug"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="workflows-bench-batch-") as scratch:
        folder = Path(scratch) / "batch"
        say(f"batch: making {count} files")
        await asyncio.to_thread(mixed_batch, folder, count)
        data_dir = Path(scratch) / "data"
        say("batch: starting the local world")
        async with _quiet_world(str(data_dir)) as world:
            s3 = world.endpoints.client("s3")
            tap = _Tap(world.endpoints.client("sqs"), str(world.tap_queue_url))
            warm = await _trips(world, tap, s3, photo_like_jpeg(640, 480), 3, 3, 60.0)  # a known execution
            if not warm.ok:
                result.problem = "warm-up: " + "; ".join(warm.problems[:3])
                return result
            machine = next(iter(world.state_machine_arns.values()))
            known = (await world.service.list_executions(stateMachineArn=machine))["executions"][0][
                "executionArn"
            ]
            sfn = world.endpoints.client("stepfunctions")
            page = f"{world.api_url}/console/api/executions?stateMachineArn={machine}&maxResults=25"
            stop = threading.Event()
            probe_cpu: list[float] = []
            probes = [
                threading.Thread(
                    target=_probe,
                    args=(
                        world.api_url,
                        lambda: sfn.describe_execution(executionArn=known),
                        stop,
                        result.describe_ms,
                        0.1,
                        probe_cpu,
                    ),
                    daemon=True,
                ),
                threading.Thread(  # every 0.5 s: more often than an open console page refreshes it
                    target=_probe,
                    args=(
                        page,
                        lambda: urllib.request.urlopen(page, timeout=30).read(),
                        stop,
                        result.console_ms,
                        0.5,
                        probe_cpu,
                    ),
                    daemon=True,
                ),
            ]
            say(f"batch: workflows upload of {count} files")
            # As `workflows dev` does while serving: the SNS tap is read (its lines go to the log).
            from workflows.local.dev import follow_notifications

            following = asyncio.Event()
            follower = asyncio.create_task(follow_notifications(world, following))
            before = cpu_snapshot(world)
            for thread in probes:
                thread.start()
            command = [sys.executable, "-m", "workflows", "upload", str(folder), "--data-dir", str(data_dir)]
            command += ["--json", "--concurrency", str(concurrency), "--timeout", "300"]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
            t0 = time.time()
            done = await asyncio.to_thread(
                subprocess.run, command, capture_output=True, text=True, cwd=scratch, env=env, timeout=1200
            )
            result.seconds = time.time() - t0
            stop.set()
            following.set()
            await follower
            for thread in probes:  # joined off the loop: a probe's last call is answered by this loop
                await asyncio.to_thread(thread.join, 30)
            result.cpu = _client_apart(cpu_used(before, cpu_snapshot(world)), sum(probe_cpu))
            # Ended executions' history is compacted whenever the store is quiet (the service's own
            # task, between bursts of the batch and after it): measured once it is all done.
            store, t1 = world.service.store, time.monotonic()
            while store.to_compact(1) and time.monotonic() - t1 < 120:
                await asyncio.sleep(0.2)
            if not store.to_compact(1):
                result.compaction_seconds = time.monotonic() - t1
            result.stored, result.executions = _stored_text(store)
            result.history_text = _history_text(store)
            result.exit_code = done.returncode
            try:
                rows = json.loads(done.stdout)
            except ValueError:
                result.problem = f"upload exited {done.returncode}: {done.stderr.strip()[-300:]}"
                return result
            counts = {"succeeded": 0, "quarantined": 0, "failed": 0}
            for row in rows:
                if row["status"] == "SUCCEEDED":
                    counts["quarantined" if row.get("outcome") == "quarantined" else "succeeded"] += 1
                elif row["status"] in ("FAILED", "TIMED_OUT", "ABORTED"):
                    counts["failed"] += 1
            result.counts = counts
            result.accounted = sum(counts.values())
            if result.accounted != count or len({r["execution"] for r in rows}) != count:
                result.problem = f"{result.accounted} of {count} files accounted for by a finished execution"
    return result


def _stored_text(store: Any) -> tuple[dict[str, int], int]:
    """Bytes of text the store holds per table (execution records and their list summaries, machine
    snapshots, history chunks), and how many executions."""
    db = store.db
    sizes = {
        "execution records": "SELECT COALESCE(SUM(length(data) + COALESCE(length(summary), 0)), 0) FROM executions",
        "machine snapshots": "SELECT COALESCE(SUM(length(data)), 0) FROM snapshots",
        "history": "SELECT COALESCE(SUM(length(data)), 0) FROM event_chunks",
    }
    stored = {name: int(db.execute(sql).fetchone()[0]) for name, sql in sizes.items()}
    return stored, int(db.execute("SELECT COUNT(*) FROM executions").fetchone()[0])


def _history_text(store: Any) -> int:
    """Bytes of the history as JSON text: compacted chunks counted as they decompress."""
    import zlib

    rows = store.db.execute("SELECT data FROM event_chunks")
    return sum(len(zlib.decompress(d)) if isinstance(d, bytes) else len(d) for (d,) in rows)


def render_batch(result: BatchUploadResult) -> Any:
    from rich.table import Table

    table = Table(
        title=f"workflows upload of {result.files} small mixed files (a tenth broken), API meanwhile"
    )
    table.add_column("figure")
    table.add_column("measured", justify="right")
    rate = result.per_second
    table.add_row("files / s, upload -> every execution finished", "-" if rate is None else f"{rate:.1f}")
    table.add_row("seconds", f"{result.seconds:.1f}")
    counts = result.counts
    table.add_row(
        "succeeded / quarantined / failed",
        f"{counts.get('succeeded', 0)} / {counts.get('quarantined', 0)} / {counts.get('failed', 0)}",
    )
    for label, values in (
        ("DescribeExecution", result.describe_ms),
        ("console executions list", result.console_ms),
    ):
        p50, p99 = result.percentile(values, 50), result.percentile(values, 99)
        table.add_row(
            f"{label} p50 / p99 / max ms (n={len(values)})",
            f"{_ms(p50)} / {_ms(p99)} / {_ms(max(values, default=None))}",
        )
    per_file = {k: v * 1000 / result.files for k, v in result.cpu.items()} if result.files else {}
    table.add_row("CPU ms per file, all processes of the world", _ms(sum(per_file.values()) or None))
    for name, ms in per_file.items():
        table.add_row(f"  {name}", _ms(ms))
    if result.executions:
        per = {k: v / 1024 / result.executions for k, v in result.stored.items()}
        table.add_row(
            f"KiB stored per execution ({result.executions} executions)", f"{sum(per.values()):.1f}"
        )
        for name, kib in per.items():
            table.add_row(f"  {name}", f"{kib:.1f}")
        done = "-" if result.compaction_seconds is None else f"{result.compaction_seconds:.1f} s"
        table.add_row(
            f"    the history as JSON text, before compaction (all compacted {done} after the batch)",
            f"{result.history_text / 1024 / result.executions:.1f}",
        )
    return table


def batch_figures(result: BatchUploadResult) -> dict[str, Any]:
    return {
        "files": result.files,
        "seconds": result.seconds,
        "files_per_s": result.per_second,
        "counts": result.counts,
        "accounted": result.accounted,
        "exit_code": result.exit_code,
        "describe_ms": {
            "p50": result.percentile(result.describe_ms, 50),
            "p99": result.percentile(result.describe_ms, 99),
            "n": len(result.describe_ms),
        },
        "console_ms": {
            "p50": result.percentile(result.console_ms, 50),
            "p99": result.percentile(result.console_ms, 99),
            "n": len(result.console_ms),
        },
        "cpu_seconds": result.cpu,
        "stored_bytes": result.stored,
        "history_text_bytes": result.history_text,
        "compaction_seconds": result.compaction_seconds,
        "executions": result.executions,
        "problem": result.problem,
    }


# ---------------------------------------------------------------------------------------------------------
# The analyse handler's peak memory


_MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, sys, time, tracemalloc

    def hwm_kib():  # VmHWM is per address space: unlike ru_maxrss it does not inherit the parent's peak
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    from tasks.analyse.analyse import app

    class Context:
        function_name = "analyse"
        function_version = "$LATEST"
        memory_limit_in_mb = 256
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:analyse:live"
        aws_request_id = "52fdfc07-2182-154f-163f-5f0f9a621d72"
        log_group_name = "/aws/lambda/analyse"
        log_stream_name = "bench"

        def get_remaining_time_in_millis(self):
            return 300_000

    app._s3()  # the client made before the baseline: a warm Lambda has it already
    base = hwm_kib()
    tracemalloc.start()
    event = json.loads(sys.argv[1])
    t0 = time.perf_counter()
    report = app.handler(event, Context())
    seconds = time.perf_counter() - t0
    _, traced = tracemalloc.get_traced_memory()
    peak = hwm_kib()
    print(json.dumps({"width": report["image"]["width"], "height": report["image"]["height"],
                      "decodedWidth": report["image"]["decodedWidth"], "seconds": seconds,
                      "traced_mib": traced / 2**20, "rss_base_mib": base / 1024,
                      "rss_growth_mib": (peak - base) / 1024, "rss_peak_mib": peak / 1024}))
    """
)


def analyse_peak_memory(side: int = 10_000, cache_dir: str | None = None) -> dict[str, Any]:
    """Run the analyse handler on a `side` x `side` JPEG in a fresh process; the object sits in a moto
    S3 server of its own process, so only the handler's memory is counted."""
    import boto3

    from workflows.local.local_aws import LocalAws

    directory = Path(cache_dir or tempfile.gettempdir())
    path = huge_jpeg(directory / f"workflows-bench-{side}x{side}.jpg", side)
    aws = LocalAws(port=0, subprocess=True).start()
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=aws.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="bench-input")
        s3.create_bucket(Bucket="bench-previews")
        key = f"uploads/{path.name}"
        s3.upload_file(str(path), "bench-input", key)
        event = {
            "bucket": "bench-input",
            "key": key,
            "versionId": None,
            "contentType": "image/jpeg",
            "objectId": "bench",
            "limits": {"maxPixels": 150_000_000, "maxDecodePixels": 40_000_000},
        }
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": aws.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_NAMESPACE": "Bench",
            "POWERTOOLS_SERVICE_NAME": "bench",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "PREVIEW_BUCKET": "bench-previews",
        }
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_SCRIPT, json.dumps(event)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if out.returncode != 0:
            return {
                "error": out.stderr.strip().splitlines()[-1]
                if out.stderr.strip()
                else f"exit {out.returncode}"
            }
        measured: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        measured["file_mib"] = path.stat().st_size / 2**20
        return measured
    finally:
        aws.stop()


# ---------------------------------------------------------------------------------------------------------
# Reporting


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def render_pipeline(result: PipelineResult) -> list[Any]:
    from rich.table import Table

    mp = result.width * result.height / 1e6
    title = (
        f"upload -> SNS, {result.width}x{result.height} ({mp:.0f} MP) JPEG, "
        f"{result.image_bytes / 2**20:.1f} MiB (ms, lower is better)"
    )
    latency = Table(title=title)
    for name in (
        "uploads",
        "n",
        "p50",
        "p95",
        "max",
        "received p50",
        "put p50",
        "put->start p50",
        "start->SNS p50",
        "per s",
    ):
        latency.add_column(name, justify="left" if name == "uploads" else "right")
    for label, batch in (("sequential", result.sequential), ("concurrent", result.concurrent)):
        put = batch.percentile(50, "put_seconds")
        latency.add_row(
            label,
            str(len(batch.latencies())),
            _ms(batch.percentile(50)),
            _ms(batch.percentile(95)),
            _ms(max(batch.latencies(), default=None)),
            _ms(batch.percentile(50, "received_ms")),
            _ms(None if put is None else put * 1000),
            _ms(batch.percentile(50, "to_start_ms")),
            _ms(batch.percentile(50, "start_to_sns_ms")),
            "-" if batch.throughput is None else f"{batch.throughput:.1f}",
        )
    states = Table(title="where an execution's time goes: median ms per state (entered -> exited)")
    states.add_column("state")
    states.add_column("sequential", justify="right")
    states.add_column("concurrent", justify="right")
    seq, conc = state_medians(result.sequential), state_medians(result.concurrent)
    states.add_row(
        "(upload -> execution started: S3 -> EventBridge -> starter)",
        _ms(result.sequential.percentile(50, "to_start_ms")),
        _ms(result.concurrent.percentile(50, "to_start_ms")),
    )
    for name in dict.fromkeys([*seq, *conc]):
        states.add_row(name, _ms(seq.get(name)), _ms(conc.get(name)))
    cores = os.cpu_count() or 1
    cpu = Table(title=f"where the CPU goes: ms of CPU per upload, by process (all {cores} cores count)")
    cpu.add_column("process")
    cpu.add_column("sequential", justify="right")
    cpu.add_column("concurrent", justify="right")
    seq_cpu, conc_cpu = result.sequential.cpu_ms_per_upload(), result.concurrent.cpu_ms_per_upload()
    for name in dict.fromkeys([*seq_cpu, *conc_cpu]):
        cpu.add_row(name, _ms(seq_cpu.get(name)), _ms(conc_cpu.get(name)))
    cpu.add_row("total", _ms(sum(seq_cpu.values()) or None), _ms(sum(conc_cpu.values()) or None))
    floor = result.floor
    if floor:
        both = sum(floor.values())
        cpu.add_row(
            f"  the work itself: analysis {_ms(floor['analysis'])} + body hashes {_ms(floor['hashes'])}, no I/O",
            _ms(both),
            _ms(both),
        )
        cpu.add_row(
            f"budget at {TARGET_PER_S:.0f} uploads/s on {cores} cores", "", _ms(cores * 1000 / TARGET_PER_S)
        )
    targets = Table(title="pipeline targets")
    targets.add_column("figure")
    targets.add_column("measured", justify="right")
    targets.add_column("target", justify="right")
    targets.add_column("met")
    yes, no = "[green]yes[/green]", "[red]no[/red]"
    targets.add_row(
        "upload -> SNS p50 (sequential)",
        f"{_ms(result.p50)} ms",
        f"<= {TARGET_P50_MS:.0f} ms",
        yes if result.latency_met else no,
    )
    targets.add_row("upload -> SNS p95 (sequential)", f"{_ms(result.p95)} ms", "-", "")
    throughput = result.concurrent.throughput
    targets.add_row(
        f"throughput ({len(result.concurrent.trips)} concurrent)",
        "-" if throughput is None else f"{throughput:.1f} uploads/s",
        f">= {TARGET_PER_S:.0f} uploads/s",
        yes if result.throughput_met else no,
    )
    if result.moto_rss_mib is not None:
        from workflows.local.local_aws import S3_MEMORY_BYTES

        warm, end = result.moto_rss_mib
        uploads = len(result.sequential.trips) + len(result.concurrent.trips)
        targets.add_row(
            f"moto's memory over {uploads} uploads (objects over {S3_MEMORY_BYTES // 1024} KiB on disk)",
            f"{warm:.0f} -> {end:.0f} MiB",
            "",
            "",
        )
    memory = result.memory
    if memory is not None and "error" not in memory:
        met = result.memory_met
        targets.add_row(
            f"analyse peak RSS, {memory['width']}x{memory['height']} JPEG (decoded at {memory['decodedWidth']} px wide)",
            f"{memory['rss_peak_mib']:.0f} MiB = {memory['rss_peak_mib'] * 1.048576:.0f} MB",
            f"<= {TARGET_PEAK_MIB:.0f} MB",
            yes if met else no,
        )
        targets.add_row(
            "  of which: after imports / handler's growth / Python heap (tracemalloc)",
            f"{memory['rss_base_mib']:.0f} / {memory['rss_growth_mib']:.0f} / {memory['traced_mib']:.0f} MiB",
            "",
            "",
        )
        targets.add_row("  handler time", f"{memory['seconds'] * 1000:,.0f} ms", "", "")
    elif memory is not None:
        targets.add_row("analyse peak RSS (100 MP)", f"[red]{memory['error']}[/red]", "", no)
    return [latency, states, cpu, targets]


def pipeline_problems(result: PipelineResult) -> list[str]:
    out = [result.problem] if result.problem else []
    out += [f"sequential {p}" for p in result.sequential.problems]
    out += [f"concurrent {p}" for p in result.concurrent.problems]
    if result.memory and "error" in result.memory:
        out.append(f"memory: {result.memory['error']}")
    return out


def pipeline_figures(result: PipelineResult) -> dict[str, Any]:
    def batch(b: Batch) -> dict[str, Any]:
        return {
            "p50_ms": b.percentile(50),
            "p95_ms": b.percentile(95),
            "throughput_per_s": b.throughput,
            "state_medians_ms": state_medians(b),
            "to_start_p50_ms": b.percentile(50, "to_start_ms"),
            "cpu_ms_per_upload": b.cpu_ms_per_upload(),
            "seconds": b.seconds,
            "trips": [asdict(t) for t in b.trips],
        }

    return {
        "image": {"width": result.width, "height": result.height, "bytes": result.image_bytes},
        "sequential": batch(result.sequential),
        "concurrent": batch(result.concurrent),
        "memory": result.memory,
        "work_floor_cpu_ms": result.floor,
        "moto_rss_mib": result.moto_rss_mib,
        "targets": {
            "p50_ms": TARGET_P50_MS,
            "uploads_per_s": TARGET_PER_S,
            "peak_mib": TARGET_PEAK_MIB,
            "latency_met": result.latency_met,
            "throughput_met": result.throughput_met,
            "memory_met": result.memory_met,
        },
        "ok": result.ok,
    }
