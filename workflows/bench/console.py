"""Benchmark: the console's execution view of a 25,000-event history, and the API's latency meanwhile.

Our server runs in a process of its own (`workflows.bench.http.our_server`, SQLite in a temporary
directory). A Map over 6,249 items, one Pass state each, leaves a history of 25,002 events. Then:

* open: the time until the page has what it draws (the graph's state statuses, the summary, the
  first page of events): `GET /console/api/execution`, cold (nothing cached), then warm. A history
  the server has not finished reading within its budget is answered with what is read, and the page
  asks `execution/summary` until it is complete: both moments are reported;
* DescribeExecution p50/p99/max on another connection while the cold open runs, beside the same
  figures on an idle server;
* GetExecutionHistory: one page of 100 from the start, and one from the end (`reverseOrder`), which
  must not cost a read of the whole history.

moto has no console, so there is no peer; the idle DescribeExecution figures are the yardstick.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from typing import Any

from workflows.bench.http import Connection, Pool, _create_machine, our_server

MAP_ITEMS = 6249  # 4 events an item, 6 around them: 25,002 events
TARGET_OPEN = 1.0  # seconds, issue 14


def large_map() -> dict[str, Any]:
    return {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {"StartAt": "Touch", "States": {"Touch": {"Type": "Pass", "End": True}}},
                "ResultPath": None,
                "End": True,
            }
        },
    }


class _Http(Connection):
    """A plain GET beside the AWS JSON calls: what the console's page asks for."""

    async def get(self, path: str) -> tuple[int, bytes]:
        head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAccept: application/json\r\n\r\n"
        if self.writer is None:
            await self._open()
        assert self.writer is not None
        self.writer.write(head.encode())
        status, headers, payload = await self._response()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, payload


@dataclass(frozen=True)
class ConsoleSettings:
    items: int = MAP_ITEMS
    idle_calls: int = 300  # DescribeExecution calls on the idle server
    opens: int = 3  # warm opens after the cold one; the median is reported
    timeout: float = 300.0


QUICK_CONSOLE = ConsoleSettings(items=300, idle_calls=50, opens=1)


@dataclass
class Latency:
    calls: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        if not seconds:
            return cls()
        ordered = sorted(seconds)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        return cls(len(ordered), statistics.median(ordered) * 1000, p99 * 1000, ordered[-1] * 1000)


@dataclass
class ConsoleResult:
    events: int = 0
    open_cold_s: float | None = None  # until every state's status is known
    first_answer_s: float | None = None  # the first answer (complete or not)
    open_warm_s: float | None = None
    first_response_bytes: int = 0
    first_events: int = 0
    describe_idle: Latency = field(default_factory=Latency)
    describe_during_open: Latency = field(default_factory=Latency)
    history_first_page_ms: float | None = None
    history_last_page_ms: float | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.open_cold_s is not None


async def _describe_loop(conn: Connection, arn: str, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        await conn.call("DescribeExecution", {"executionArn": arn})
        out.append(time.perf_counter() - t0)
        await asyncio.sleep(0.002)


async def _bench(port: int, settings: ConsoleSettings, result: ConsoleResult, progress: Any) -> None:
    pool = Pool(port, 1)
    web, side = _Http(port), Connection(port)
    try:
        if progress:
            progress(f"console: a Map over {settings.items:,} items")
        machine = await _create_machine(pool, f"bench-console-{time.time_ns()}", large_map())
        started = await pool.call(
            "StartExecution",
            {"stateMachineArn": machine, "input": json.dumps({"items": list(range(settings.items))})},
        )
        arn = started["executionArn"]
        deadline = time.perf_counter() + settings.timeout
        while (await pool.call("DescribeExecution", {"executionArn": arn}))["status"] == "RUNNING":
            if time.perf_counter() > deadline:
                raise TimeoutError("the large execution is still running")
            await asyncio.sleep(0.1)

        t0 = time.perf_counter()
        first = await pool.call("GetExecutionHistory", {"executionArn": arn, "maxResults": 100})
        result.history_first_page_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        last = await pool.call(
            "GetExecutionHistory", {"executionArn": arn, "maxResults": 100, "reverseOrder": True}
        )
        result.history_last_page_ms = (time.perf_counter() - t0) * 1000
        result.events = int(last["events"][0]["id"])
        if len(first["events"]) != 100 or not first.get("nextToken"):
            raise AssertionError("GetExecutionHistory did not page at maxResults=100")

        if progress:
            progress("console: DescribeExecution on an idle server")
        idle: list[float] = []
        for _ in range(settings.idle_calls):
            t0 = time.perf_counter()
            await side.call("DescribeExecution", {"executionArn": arn})
            idle.append(time.perf_counter() - t0)
        result.describe_idle = Latency.of(idle)

        if progress:
            progress(f"console: opening the view of {result.events:,} events")
        path = "/console/api/execution?" + urllib.parse.urlencode({"arn": arn})
        during: list[float] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(_describe_loop(side, arn, stop, during))
        await asyncio.sleep(0.05)  # the sampler is going before the open starts
        t0 = time.perf_counter()
        status, body = await web.get(path)
        result.first_answer_s = time.perf_counter() - t0
        if status != 200:
            raise AssertionError(f"GET {path} answered {status}: {body[:200]!r}")
        data = json.loads(body)
        result.first_response_bytes = len(body)
        result.first_events = len(data.get("events", []))
        summary = data["summary"]
        while not summary.get("complete"):
            await asyncio.sleep(0.05)  # as the page does, a little more often
            status, more = await web.get(path.replace("/execution?", "/execution/summary?"))
            summary = json.loads(more)["summary"]
        result.open_cold_s = time.perf_counter() - t0
        stop.set()
        await sampler
        if summary.get("events") != result.events:
            raise AssertionError(f"the summary counts {summary.get('events')} events of {result.events}")
        result.describe_during_open = Latency.of(during)
        warm = []
        for _ in range(settings.opens):
            t0 = time.perf_counter()
            await web.get(path)
            warm.append(time.perf_counter() - t0)
        result.open_warm_s = statistics.median(warm) if warm else None
    finally:
        for conn in (web, side):
            await conn.close()
        await pool.close()


async def run_console_async(
    settings: ConsoleSettings = ConsoleSettings(), progress: Any = None
) -> ConsoleResult:
    result = ConsoleResult()
    with tempfile.TemporaryDirectory(prefix="workflows-bench-console-") as data_dir:
        try:
            async with our_server(data_dir) as server:
                await _bench(server.port, settings, result, progress)
        except Exception as exc:
            result.problem = f"{type(exc).__name__}: {exc}"
    return result


def run_console(settings: ConsoleSettings = ConsoleSettings(), progress: Any = None) -> ConsoleResult:
    return asyncio.run(run_console_async(settings, progress))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def render_console(result: ConsoleResult) -> Any:
    from rich.table import Table

    table = Table(title=f"the console's execution view of {result.events:,} events (lower is better)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("note")
    cold = result.open_cold_s
    table.add_row(
        "open, cold: every status",
        "-" if cold is None else f"{cold * 1000:,.0f} ms",
        f"target {TARGET_OPEN * 1000:.0f} ms"
        + ("" if cold is None else " [green]met[/green]" if cold <= TARGET_OPEN else " [red]missed[/red]"),
    )
    warm = result.open_warm_s
    first = result.first_answer_s
    table.add_row(
        "first answer", "-" if first is None else f"{first * 1000:,.0f} ms", "graph and first events"
    )
    table.add_row("open, again", "-" if warm is None else f"{warm * 1000:,.0f} ms", "the summary is kept")
    table.add_row(
        "first response",
        f"{result.first_response_bytes / 1024:,.0f} KiB",
        f"{result.first_events} events; the rest are paged",
    )
    for label, lat in (("idle", result.describe_idle), ("during the open", result.describe_during_open)):
        table.add_row(
            f"DescribeExecution, {label}",
            f"p99 {_ms(lat.p99_ms)} ms",
            f"p50 {_ms(lat.p50_ms)}, max {_ms(lat.max_ms)} ms, {lat.calls} calls",
        )
    table.add_row("GetExecutionHistory, first 100", f"{_ms(result.history_first_page_ms)} ms", "")
    table.add_row("GetExecutionHistory, last 100", f"{_ms(result.history_last_page_ms)} ms", "reverseOrder")
    return table


def console_problems(result: ConsoleResult) -> list[str]:
    out = [result.problem] if result.problem else []
    if result.open_cold_s is not None and result.open_cold_s > TARGET_OPEN:
        out.append(f"opening took {result.open_cold_s:.2f} s, over the {TARGET_OPEN:.0f} s target")
    return out


def console_figures(result: ConsoleResult) -> dict[str, Any]:
    return {**asdict(result), "ok": result.ok}
