"""Benchmark: the Step Functions API over HTTP, this engine's server beside moto's, in one run.

Both servers run in their own process on a free 127.0.0.1 port: ours is `workflows serve`'s
`workflows.service.server.serve` with its SQLite store (durable history) in a temporary directory; moto's is
`moto.server.ThreadedMotoServer` with `execute_state_machine` switched on. One load generator drives
both with the same raw AWS JSON 1.0 requests (`X-Amz-Target: AWSStepFunctions.<Op>`) from concurrent
keep-alive connections, so the figures compare servers, not client libraries:

* starts/s: named StartExecution calls of a one-state machine, until every call has answered;
* completed/s: named StartExecution calls of a five-Pass machine, from the first call until every
  execution has left RUNNING (polled with ListExecutions), each then checked to be SUCCEEDED;
* one at a time: each shared bench definition (`../shared/bench`) run as one execution after another
  through boto3 clients, StartExecution -> the DescribeExecution that first shows a terminal status
  (wall), beside moto's server, each result checked against `<name>.expected.json`. Our engine time is
  the span of the history's own timestamps (ExecutionStarted -> the closing event), so durable
  transitions/s = transitions / engine time; the history was committed before DescribeExecution could
  see the end (see `serial_table`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROLE = "arn:aws:iam::123456789012:role/workflows-bench"
# moto tells services apart by the credential scope; our server ignores the header on loopback.
AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/states/aws4_request, "
    "SignedHeaders=host;x-amz-target, Signature=0000"
)
TRIVIAL = {"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": True}}}
FIVE_PASS = {
    "StartAt": "P1",
    "States": {
        **{
            f"P{i}": {"Type": "Pass", "Result": {"step": i}, "ResultPath": f"$.s{i}", "Next": f"P{i + 1}"}
            for i in range(1, 5)
        },
        "P5": {"Type": "Pass", "Result": {"step": 5}, "ResultPath": "$.s5", "End": True},
    },
}
FIVE_PASS_OUTPUT = {"n": 1, **{f"s{i}": {"step": i} for i in range(1, 6)}}
TARGETS = {"starts": 1000.0, "completed": 500.0}  # per second, on 2 cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------------------
# A lean HTTP/1.1 client: one keep-alive connection per worker, Content-Length bodies


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {body.get('__type', '')} {body.get('message', '')}".strip())
        self.status = status
        self.body = body


class Connection:
    """AWS JSON 1.0 calls over one persistent connection (reopened if the server closes it)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            self.reader = self.writer = None

    async def call(self, op: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params, separators=(",", ":")).encode()
        head = (
            f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"X-Amz-Target: AWSStepFunctions.{op}\r\nContent-Type: application/x-amz-json-1.0\r\n"
            f"Authorization: {AUTH}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        for attempt in (0, 1):
            if self.writer is None:
                await self._open()
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(head + body)
                status, headers, payload = await self._response()
                break
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()  # a keep-alive connection the server dropped: once more, afresh
                if attempt:
                    raise
        if headers.get("connection", "").lower() == "close":
            await self.close()
        data = json.loads(payload) if payload.strip() else {}
        if status != 200:
            raise ApiError(status, data)
        return data  # type: ignore[no-any-return]

    async def _response(self) -> tuple[int, dict[str, str], bytes]:
        assert self.reader is not None
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            payload = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            payload = b"".join(chunks)
        else:
            payload = await self.reader.read()
            headers["connection"] = "close"
        return status, headers, payload


class Pool:
    """`size` connections to one server; `run` spreads calls over them as concurrent workers."""

    def __init__(self, port: int, size: int) -> None:
        self.port = port
        self.connections = [Connection(port) for _ in range(size)]

    async def call(self, op: str, params: dict[str, Any]) -> dict[str, Any]:
        return await self.connections[0].call(op, params)

    async def run(self, op: str, requests: list[dict[str, Any]]) -> list[dict[str, Any] | Exception]:
        results: list[dict[str, Any] | Exception] = [ApiError(0, {})] * len(requests)
        todo = iter(range(len(requests)))

        async def worker(conn: Connection) -> None:
            for i in todo:
                try:
                    results[i] = await conn.call(op, requests[i])
                except Exception as exc:
                    results[i] = exc

        await asyncio.gather(*(worker(c) for c in self.connections))
        return results

    async def close(self) -> None:
        for conn in self.connections:
            await conn.close()


# ---------------------------------------------------------------------------------------------------------
# The servers, each in a process of its own


_OURS = """
import sys
from workflows.service.server import serve
serve("127.0.0.1", int(sys.argv[2]), sys.argv[1])
"""

_OURS_PROFILED = """
import cProfile, sys, uvicorn
from workflows.service.server import ListeningServer, build
app, service = build(sys.argv[1])
profile = cProfile.Profile()
config = uvicorn.Config(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", lifespan="on",
                        timeout_graceful_shutdown=5)
profile.enable()
try:
    ListeningServer(config, service).run()
finally:
    profile.disable()
    profile.dump_stats(sys.argv[3])
"""

_MOTO = """
import logging, signal, sys, threading
from moto.server import ThreadedMotoServer
logging.getLogger("moto").setLevel(logging.CRITICAL)
logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
stop.wait()
server.stop()
"""


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    profile_path: str | None = None


async def _wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with status {process.returncode}")
        conn = Connection(port)
        try:
            await conn.call("ListStateMachines", {})
            return
        except (OSError, ApiError):
            if time.perf_counter() > deadline:
                raise
            await asyncio.sleep(0.05)
        finally:
            await conn.close()


@contextlib.contextmanager
def _process(args: list[str], cwd: str | None = None) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()


@contextlib.asynccontextmanager
async def our_server(data_dir: str, profile_path: str | None = None) -> Any:
    port = free_port()
    root = str(Path(__file__).resolve().parents[2])
    if profile_path:
        args = [sys.executable, "-c", _OURS_PROFILED, data_dir, str(port), profile_path]
    else:
        args = [sys.executable, "-c", _OURS, data_dir, str(port)]
    with _process(args, cwd=root) as process:
        await _wait_ready(port, process)
        yield Server("ours", port, process, profile_path)
        process.send_signal(signal.SIGINT)  # uvicorn drains, the service flushes, the profile is written
        await asyncio.to_thread(process.wait, 30)


@contextlib.asynccontextmanager
async def moto_server() -> Any:
    port = free_port()
    with _process([sys.executable, "-c", _MOTO, str(port)]) as process:
        await _wait_ready(port, process)
        await _moto_config(port)
        yield Server("moto", port, process)


async def _moto_config(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    writer.write(
        f"POST /moto-api/config HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    response = await reader.read()
    writer.close()
    if not response.startswith(b"HTTP/1.1 2") and not response.startswith(b"HTTP/1.0 2"):
        raise RuntimeError(f"moto refused its config: {response[:200]!r}")


# ---------------------------------------------------------------------------------------------------------
# The two measurements


@dataclass
class Measure:
    count: int = 0  # requests sent / executions started
    done: int = 0  # answered without error / completed SUCCEEDED
    seconds: float = 0.0
    problem: str | None = None
    skipped: bool = False

    @property
    def per_second(self) -> float | None:
        return self.done / self.seconds if self.done and self.seconds > 0 else None

    @property
    def ok(self) -> bool:
        return not self.skipped and self.problem is None and self.count > 0 and self.done == self.count


async def _create_machine(pool: Pool, name: str, definition: dict[str, Any]) -> str:
    created = await pool.call(
        "CreateStateMachine", {"name": name, "definition": json.dumps(definition), "roleArn": ROLE}
    )
    return str(created["stateMachineArn"])


def _first_problem(results: list[dict[str, Any] | Exception]) -> str | None:
    for r in results:
        if isinstance(r, Exception):
            return f"{type(r).__name__}: {r}"
        if "executionArn" not in r:
            return f"no executionArn in {json.dumps(r)[:100]}"
    return None


async def _wait_until_done(pool: Pool, machine: str, timeout: float) -> float:
    """Poll until no execution of `machine` is RUNNING; the moment it was first seen so."""
    deadline = time.perf_counter() + timeout
    poll = 0.002
    while True:
        page = await pool.call(
            "ListExecutions", {"stateMachineArn": machine, "statusFilter": "RUNNING", "maxResults": 1}
        )
        now = time.perf_counter()
        if not page.get("executions"):
            return now
        if now > deadline:
            raise TimeoutError(f"executions still running after {timeout:.0f} s")
        await asyncio.sleep(poll)
        poll = min(poll * 1.5, 0.02)


async def _list_all(pool: Pool, machine: str, status: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"stateMachineArn": machine, "statusFilter": status, "maxResults": 1000}
    while True:
        page = await pool.call("ListExecutions", params)
        items.extend(page.get("executions", []))
        token = page.get("nextToken")
        if not token:
            return items
        params = {**params, "nextToken": token}


def _start_requests(machine: str, tag: str, count: int, payload: str) -> list[dict[str, Any]]:
    stamp = time.time_ns()
    return [
        {"stateMachineArn": machine, "name": f"{tag}-{stamp}-{i}", "input": payload} for i in range(count)
    ]


async def measure_starts(pool: Pool, machine: str, count: int, timeout: float) -> Measure:
    """StartExecution calls of the one-state machine: answered calls per second."""
    result = Measure(count=count)
    requests = _start_requests(machine, "start", count, "{}")
    t0 = time.perf_counter()
    answers = await pool.run("StartExecution", requests)
    result.seconds = time.perf_counter() - t0
    result.done = sum(1 for r in answers if not isinstance(r, Exception) and "executionArn" in r)
    result.problem = _first_problem(answers)
    with contextlib.suppress(Exception):  # let them finish so they do not weigh on the next measurement
        await _wait_until_done(pool, machine, timeout)
    return result


async def measure_completed(
    pool: Pool, machine: str, count: int, timeout: float, check_outputs: int = 3
) -> Measure:
    """Start `count` five-Pass executions at once; completed SUCCEEDED executions per second."""
    result = Measure(count=count)
    requests = _start_requests(machine, "five", count, json.dumps({"n": 1}))
    t0 = time.perf_counter()
    answers = await pool.run("StartExecution", requests)
    result.problem = _first_problem(answers)
    if result.problem:
        result.seconds = time.perf_counter() - t0
        return result
    try:
        t1 = await _wait_until_done(pool, machine, timeout)
    except TimeoutError as exc:
        result.problem = str(exc)
        t1 = time.perf_counter()
    result.seconds = t1 - t0
    mine = {r["name"] for r in requests}
    succeeded = [e for e in await _list_all(pool, machine, "SUCCEEDED") if e["name"] in mine]
    result.done = len(succeeded)
    if result.problem is None and result.done != count:
        result.problem = f"{result.done} of {count} executions SUCCEEDED"
    for item in succeeded[:check_outputs]:  # a few full results, checked against the expected output
        described = await pool.call("DescribeExecution", {"executionArn": item["executionArn"]})
        output = json.loads(described.get("output") or "null")
        if output != FIVE_PASS_OUTPUT and result.problem is None:
            result.problem = f"output {json.dumps(output)[:100]}, expected {json.dumps(FIVE_PASS_OUTPUT)}"
    return result


# ---------------------------------------------------------------------------------------------------------
# Running and reporting


@dataclass(frozen=True)
class HttpSettings:
    starts: int = 2000  # StartExecution calls, ours
    completed: int = 2000  # five-Pass executions, ours
    moto_starts: int = 300
    moto_completed: int = 200
    concurrency: int = 32  # connections per server
    rounds: int = 2  # each measurement this many times; the best round is reported
    moto: bool = True
    timeout: float = 300.0
    profile: str | None = None  # write our server's cProfile stats here


QUICK_HTTP = HttpSettings(starts=40, completed=40, moto_starts=10, moto_completed=10, concurrency=8, rounds=1)


@dataclass
class HttpRow:
    name: str
    unit: str
    target: float
    ours: Measure = field(default_factory=Measure)
    moto: Measure = field(default_factory=Measure)

    @property
    def ratio(self) -> float | None:
        a, b = self.ours.per_second, self.moto.per_second
        return a / b if a and b else None

    @property
    def met(self) -> bool:
        return self.ours.ok and (self.ours.per_second or 0) >= self.target

    @property
    def matched(self) -> bool:
        return self.ours.ok and (self.moto.skipped or self.moto.ok)


def _best(measures: list[Measure]) -> Measure:
    bad = [m for m in measures if not m.ok]
    if bad:
        return bad[0]
    return max(measures, key=lambda m: m.per_second or 0.0)


async def _bench_server(
    server: Server, starts: int, completed: int, settings: HttpSettings, progress: Any
) -> tuple[Measure, Measure]:
    pool = Pool(server.port, settings.concurrency)
    try:
        trivial = await _create_machine(pool, f"bench-trivial-{time.time_ns()}", TRIVIAL)
        five = await _create_machine(pool, f"bench-five-{time.time_ns()}", FIVE_PASS)
        # warm up: connections opened, code paths imported, the store's first pages in cache
        await pool.run("StartExecution", _start_requests(five, "warm", settings.concurrency, "{}"))
        await _wait_until_done(pool, five, settings.timeout)
        start_runs, completed_runs = [], []
        for i in range(settings.rounds):
            if progress:
                progress(f"{server.name}: StartExecution/s, round {i + 1}")
            start_runs.append(await measure_starts(pool, trivial, starts, settings.timeout))
            if progress:
                progress(f"{server.name}: completed 5-state executions/s, round {i + 1}")
            completed_runs.append(await measure_completed(pool, five, completed, settings.timeout))
        return _best(start_runs), _best(completed_runs)
    finally:
        await pool.close()


async def run_http_async(settings: HttpSettings = HttpSettings(), progress: Any = None) -> list[HttpRow]:
    rows = [
        HttpRow("StartExecution", "starts/s", TARGETS["starts"]),
        HttpRow("completed 5-Pass executions", "executions/s", TARGETS["completed"]),
    ]
    with tempfile.TemporaryDirectory(prefix="workflows-bench-http-") as data_dir:
        try:
            async with our_server(data_dir, settings.profile) as server:
                rows[0].ours, rows[1].ours = await _bench_server(
                    server, settings.starts, settings.completed, settings, progress
                )
        except Exception as exc:
            for row in rows:
                if row.ours.problem is None and not row.ours.ok:
                    row.ours.problem = f"{type(exc).__name__}: {exc}"
    if not settings.moto:
        for row in rows:
            row.moto.skipped = True
        return rows
    try:
        async with moto_server() as server:
            rows[0].moto, rows[1].moto = await _bench_server(
                server, settings.moto_starts, settings.moto_completed, settings, progress
            )
    except Exception as exc:
        for row in rows:
            if row.moto.problem is None and not row.moto.ok:
                row.moto.problem = f"{type(exc).__name__}: {exc}"
    return rows


def run_http(settings: HttpSettings = HttpSettings(), progress: Any = None) -> list[HttpRow]:
    return asyncio.run(run_http_async(settings, progress))


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def render_http(rows: list[HttpRow], settings: HttpSettings) -> Any:
    from rich.table import Table

    profiled = "; OURS UNDER cProfile, SLOWED BY IT" if settings.profile else ""
    table = Table(
        title=f"Step Functions API over HTTP ({settings.concurrency} connections each, durable store; "
        f"best of {settings.rounds} rounds; higher is better{profiled})"
    )
    for name, justify in (
        ("measure", "left"),
        ("ours", "right"),
        ("n", "right"),
        ("moto", "right"),
        ("n", "right"),
        ("ratio", "right"),
        ("target", "right"),
        ("met", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        ratio = row.ratio
        table.add_row(
            f"{row.name} ({row.unit})",
            _rate(row.ours.per_second),
            str(row.ours.count),
            "skip" if row.moto.skipped else _rate(row.moto.per_second),
            "-" if row.moto.skipped else str(row.moto.count),
            "-" if ratio is None else f"{ratio:,.1f}x",
            _rate(row.target),
            "[green]yes[/green]" if row.met else "[red]no[/red]",
        )
    return table


def _problems(rows: list[Any], missing: str) -> list[str]:
    """Each side (ours, moto) of each row that ran and failed, with its problem."""
    return [
        f"{row.name} ({who}): {side.problem or missing}"
        for row in rows
        for who, side in (("ours", row.ours), ("moto", row.moto))
        if not side.skipped and not side.ok
    ]


def http_problems(rows: list[HttpRow]) -> list[str]:
    return _problems(rows, "no result")


def http_figures(rows: list[HttpRow]) -> dict[str, Any]:
    return {
        row.name: {
            "unit": row.unit,
            "target": row.target,
            "met": row.met,
            "ratio": row.ratio,
            "ours": {**asdict(row.ours), "per_second": row.ours.per_second, "ok": row.ours.ok},
            "moto": {**asdict(row.moto), "per_second": row.moto.per_second, "ok": row.moto.ok},
        }
        for row in rows
    }


def print_profile(path: str, console: Any, top: int = 35) -> None:
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(path, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    console.print(out.getvalue(), highlight=False, markup=False)


# ---------------------------------------------------------------------------------------------------------
# One execution at a time: the shared bench definitions through boto3, ours beside moto's server


@dataclass(frozen=True)
class SerialSettings:
    budget: float = 1.0  # seconds of timed runs per definition, ours (at least min_runs)
    min_runs: int = 5
    max_runs: int = 200
    moto: bool = True
    moto_budget: float = 2.0
    moto_min_runs: int = 1
    moto_max_runs: int = 3
    only: tuple[str, ...] = ()  # definition names; empty: all of ../shared/bench
    timeout: float = 600.0  # seconds one execution may take
    profile: str | None = None  # write our server's cProfile stats here


QUICK_SERIAL = SerialSettings(budget=0.0, min_runs=1, max_runs=1, moto=False)


@dataclass
class SerialResult:
    walls: list[float] = field(default_factory=list)  # seconds, StartExecution -> terminal status seen
    engines: list[float] = field(default_factory=list)  # seconds, first -> last history timestamp
    transitions: int = 0  # StateEntered events per execution
    problem: str | None = None
    skipped: bool = False

    @property
    def runs(self) -> int:
        return len(self.walls)

    @property
    def ok(self) -> bool:
        return not self.skipped and self.runs > 0 and self.problem is None

    @property
    def wall_ms(self) -> float | None:
        return _median(self.walls) * 1000 if self.walls else None

    @property
    def engine_ms(self) -> float | None:
        return _median(self.engines) * 1000 if self.engines else None

    @property
    def per_second(self) -> float | None:
        """Durable transitions per second of engine time (median run)."""
        engine = _median(self.engines) if self.engines else 0.0
        return self.transitions / engine if self.transitions and engine > 0 else None

    @property
    def wall_per_second(self) -> float | None:
        wall = _median(self.walls) if self.walls else 0.0
        return self.transitions / wall if self.transitions and wall > 0 else None


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


@dataclass
class SerialRow:
    name: str
    ours: SerialResult = field(default_factory=SerialResult)
    moto: SerialResult = field(default_factory=SerialResult)

    @property
    def ratio(self) -> float | None:
        """How many times faster ours finishes one execution (median wall times)."""
        a, b = self.ours.wall_ms, self.moto.wall_ms
        return b / a if a and b else None

    @property
    def matched(self) -> bool:
        return self.ours.ok and (self.moto.skipped or self.moto.ok)


def sfn_client(port: int) -> Any:
    """A boto3 Step Functions client for a server on 127.0.0.1 (no retries: a failure is a result)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "stepfunctions",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=120),
    )


def _history(client: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = client.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def run_one(client: Any, machine_arn: str, payload: str, name: str, timeout: float) -> dict[str, Any]:
    """Start one execution and poll DescribeExecution until it is no longer RUNNING.

    The poll interval grows with the time waited (1/20 of it, 0.5 to 20 ms), so the wall time
    overshoots the end by about 5 % on either server, and the polls do not slow a slow server down.
    """
    t0 = time.perf_counter()
    arn = client.start_execution(stateMachineArn=machine_arn, name=name, input=payload)["executionArn"]
    while True:
        described = client.describe_execution(executionArn=arn)
        elapsed = time.perf_counter() - t0
        if described["status"] != "RUNNING":
            break
        if elapsed > timeout:
            raise TimeoutError(f"execution still running after {timeout:.0f} s")
        time.sleep(min(max(elapsed / 20, 0.0005), 0.02))
    events = _history(client, arn)
    stamps = [e["timestamp"].timestamp() for e in events]
    return {
        "wall": elapsed,
        "engine": max(stamps) - min(stamps) if stamps else 0.0,
        "status": described["status"],
        "output": json.loads(described["output"]) if described.get("output") else None,
        "transitions": sum(1 for e in events if e["type"].endswith("StateEntered")),
    }


def bench_serial(
    client: Any, case: Any, tag: str, budget: float, min_runs: int, max_runs: int, timeout: float
) -> SerialResult:
    from workflows.bench.suite import check

    result = SerialResult()
    try:
        machine = client.create_state_machine(
            name=f"serial-{case.name}-{time.time_ns()}", definition=case.definition, roleArn=ROLE
        )["stateMachineArn"]
    except Exception as exc:
        result.problem = f"CreateStateMachine: {type(exc).__name__}: {exc}"
        return result
    payload = json.dumps(case.input)
    started = time.perf_counter()
    while result.runs < max_runs:
        try:
            run = run_one(client, machine, payload, f"{tag}-{result.runs}-{time.time_ns()}", timeout)
        except Exception as exc:  # a crash is a result, and the table should still print
            result.problem = f"{type(exc).__name__}: {exc}"
            break
        result.walls.append(run["wall"])
        result.engines.append(run["engine"])
        result.transitions = run["transitions"]
        if result.problem is None:
            result.problem = check(case.expected, run["status"], run["transitions"], run["output"])
        if result.runs >= min_runs and time.perf_counter() - started >= budget:
            break
    return result


def _serial_cases(settings: SerialSettings) -> list[Any]:
    from workflows.bench.suite import bench_dir, load_cases

    return load_cases(bench_dir(), list(settings.only) or None)


async def run_serial_async(
    settings: SerialSettings = SerialSettings(), progress: Any = None, cases: list[Any] | None = None
) -> list[SerialRow]:
    cases = cases if cases is not None else _serial_cases(settings)
    rows = [SerialRow(case.name) for case in cases]

    def side(port: int, who: str, budget: float, min_runs: int, max_runs: int) -> list[SerialResult]:
        client = sfn_client(port)
        out = []
        for case in cases:
            if progress:
                progress(f"{who}: {case.name}, one execution at a time")
            if who == "ours":  # one untimed run first: the definition compiled, the code paths warm
                bench_serial(client, case, "warm", 0.0, 1, 1, settings.timeout)
            out.append(bench_serial(client, case, who, budget, min_runs, max_runs, settings.timeout))
        return out

    with tempfile.TemporaryDirectory(prefix="workflows-bench-serial-") as data_dir:
        try:
            async with our_server(data_dir, settings.profile) as server:
                results = await asyncio.to_thread(
                    side, server.port, "ours", settings.budget, settings.min_runs, settings.max_runs
                )
                for row, result in zip(rows, results, strict=True):
                    row.ours = result
        except Exception as exc:
            for row in rows:
                if row.ours.problem is None and not row.ours.ok:
                    row.ours.problem = f"{type(exc).__name__}: {exc}"
    if not settings.moto:
        for row in rows:
            row.moto.skipped = True
        return rows
    try:
        async with moto_server() as server:
            results = await asyncio.to_thread(
                side,
                server.port,
                "moto",
                settings.moto_budget,
                settings.moto_min_runs,
                settings.moto_max_runs,
            )
            for row, result in zip(rows, results, strict=True):
                row.moto = result
    except Exception as exc:
        for row in rows:
            if row.moto.problem is None and not row.moto.ok:
                row.moto.problem = f"{type(exc).__name__}: {exc}"
    return rows


def run_serial(
    settings: SerialSettings = SerialSettings(), progress: Any = None, cases: list[Any] | None = None
) -> list[SerialRow]:
    return asyncio.run(run_serial_async(settings, progress, cases))


def serial_table(rows: list[SerialRow], settings: SerialSettings) -> Any:
    from rich.table import Table

    profiled = "; OURS UNDER cProfile, SLOWED BY IT" if settings.profile else ""
    table = Table(
        title="One execution at a time over HTTP (boto3; wall = StartExecution -> DescribeExecution shows "
        "the end, median; engine = first -> last history timestamp; durable/s = transitions / engine; "
        f"ratio = moto wall / ours{profiled})"
    )
    for name, justify in (
        ("definition", "left"),
        ("trans.", "right"),
        ("ours ms", "right"),
        ("engine ms", "right"),
        ("durable/s", "right"),
        ("runs", "right"),
        ("moto ms", "right"),
        ("runs", "right"),
        ("ratio", "right"),
        ("match", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        ours, moto, ratio = row.ours, row.moto, row.ratio
        table.add_row(
            row.name,
            str(ours.transitions),
            "-" if ours.wall_ms is None else f"{ours.wall_ms:.1f}",
            "-" if ours.engine_ms is None else f"{ours.engine_ms:.1f}",
            _rate(ours.per_second),
            str(ours.runs),
            "skip" if moto.skipped else ("-" if moto.wall_ms is None else f"{moto.wall_ms:,.0f}"),
            "-" if moto.skipped else str(moto.runs),
            "-" if ratio is None else f"{ratio:,.0f}x",
            "[green]yes[/green]" if row.matched else "[red]NO[/red]",
        )
    return table


def serial_problems(rows: list[SerialRow]) -> list[str]:
    return _problems(rows, "no run")


def serial_figures(rows: list[SerialRow]) -> dict[str, Any]:
    def one(r: SerialResult) -> dict[str, Any]:
        return {
            **asdict(r),
            "runs": r.runs,
            "ok": r.ok,
            "wall_ms": r.wall_ms,
            "engine_ms": r.engine_ms,
            "durable_per_second": r.per_second,
            "wall_per_second": r.wall_per_second,
        }

    return {
        row.name: {"ours": one(row.ours), "moto": one(row.moto), "ratio": row.ratio, "matched": row.matched}
        for row in rows
    }
