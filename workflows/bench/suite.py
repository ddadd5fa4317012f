"""Benchmark: the interpreter, the HTTP API and the upload pipeline, each beside moto where moto has a peer.

`python -m workflows.bench [--suite asl|http|console|pipeline|all] [--json FILE] [--quick] [--no-moto] ...`
* asl: the shared pure-ASL definitions on this engine and on moto's, each result checked against
  `<name>.expected.json` (options --bench-dir, --only, --budget, --moto-runs);
* http: StartExecution/s and completed 5-state executions/s through our server and moto's, then each
  shared definition one execution at a time through both (`workflows.bench.http`; --http-starts,
  --http-completed, --concurrency, --http-part, --only, --profile FILE);
* console: the console's execution view of a 25,000-event history, and DescribeExecution's latency
  while it opens (`workflows.bench.console`);
* pipeline: upload -> SNS latency and throughput of a 12 MP JPEG in the local world, where its CPU
  goes by process, the analyse task's peak memory on a 100 MP one, and a `workflows upload` of 1,000
  small mixed files with the API's and console's latency meanwhile (`workflows.bench.pipeline`;
  --uploads, --batch).
Ratios (ours / moto), not absolute rates, are the figures that mean something on a shared, noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workflows.bench import corpus

MOTO_ROLE = "arn:aws:iam::123456789012:role/workflows-bench"
MOTO_TIMEOUT = 600.0  # seconds one moto execution may take before the run is given up


# ---------------------------------------------------------------------------------------------------------
# Cases and their expectations


@dataclass(frozen=True)
class Case:
    name: str
    definition: str  # the ASL text
    input: Any
    expected: dict[str, Any]


def bench_dir(cli_value: str | None = None) -> Path:
    """--bench-dir, else the shared corpus's bench/ (see workflows.bench.corpus)."""
    if cli_value:
        return Path(cli_value)
    return corpus.bench_dir()


def load_cases(directory: Path, only: list[str] | None = None) -> list[Case]:
    cases = []
    for path in sorted(directory.glob("*.json")):
        name = path.stem
        if "." in name:  # <name>.input.json / <name>.expected.json
            continue
        if only and name not in only:
            continue
        input_path = directory / f"{name}.input.json"
        expected_path = directory / f"{name}.expected.json"
        cases.append(
            Case(
                name=name,
                definition=path.read_text(),
                input=json.loads(input_path.read_text()) if input_path.exists() else {},
                expected=json.loads(expected_path.read_text()) if expected_path.exists() else {},
            )
        )
    return cases


def subset_problem(expected: Any, actual: Any, where: str = "$") -> str | None:
    """None when `expected` is a recursive subset of `actual` ("re:<regex>" strings match by regex)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected an object, got {json.dumps(actual)[:80]}"
        for key, value in expected.items():
            if key not in actual:
                return f"{where}.{key}: missing"
            problem = subset_problem(value, actual[key], f"{where}.{key}")
            if problem:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{where}: expected a list of {len(expected)}, got {json.dumps(actual)[:80]}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            problem = subset_problem(e, a, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(expected, str) and expected.startswith("re:"):
        if isinstance(actual, str) and re.fullmatch(expected[3:], actual):
            return None
        return f"{where}: {actual!r} does not match /{expected[3:]}/"
    # JSON equality: 1 == 1.0 but True != 1
    if type(expected) is bool or type(actual) is bool:
        ok = type(expected) is type(actual) and expected == actual
    else:
        ok = expected == actual
    return None if ok else f"{where}: expected {json.dumps(expected)}, got {json.dumps(actual)[:80]}"


def check(expected: dict[str, Any], status: str, transitions: int, output: Any) -> str | None:
    """Why a result differs from `<name>.expected.json`, or None when it matches."""
    if "status" in expected and status != expected["status"]:
        return f"status {status}, expected {expected['status']}"
    if "transitions" in expected and transitions != expected["transitions"]:
        return f"{transitions} transitions, expected {expected['transitions']}"
    if "output" in expected:
        return subset_problem(expected["output"], output)
    return None


# ---------------------------------------------------------------------------------------------------------
# One engine's figures for one case


@dataclass
class Result:
    runs: int = 0
    seconds: float = 0.0  # total wall time of the timed runs
    transitions: int = 0  # per execution
    problem: str | None = None  # first mismatch with the expectation, or the error that stopped the run
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return not self.skipped and self.runs > 0 and self.problem is None

    @property
    def per_second(self) -> float | None:
        if not self.runs or self.seconds <= 0:
            return None
        return self.transitions * self.runs / self.seconds

    @property
    def ms_per_run(self) -> float | None:
        return self.seconds / self.runs * 1000 if self.runs else None


@dataclass
class Row:
    name: str
    ours: Result = field(default_factory=Result)
    moto: Result = field(default_factory=Result)

    @property
    def ratio(self) -> float | None:
        a, b = self.ours.per_second, self.moto.per_second
        return a / b if a and b else None

    @property
    def matched(self) -> bool:
        return self.ours.ok and (self.moto.skipped or self.moto.ok)


def _repeat(
    once: Callable[[], tuple[float, str, int, Any]],
    expected: dict[str, Any],
    budget: float,
    min_runs: int,
    max_runs: int,
) -> Result:
    """Run `once` (-> seconds, status, transitions, output) until both the time budget and the
    minimum run count are met, checking every result."""
    result = Result()
    started = time.perf_counter()
    while result.runs < max_runs:
        try:
            seconds, status, transitions, output = once()
        except Exception as exc:  # a crash is a mismatch, and the table should still print
            result.problem = f"{type(exc).__name__}: {exc}"
            break
        result.runs += 1
        result.seconds += seconds
        result.transitions = transitions
        if result.problem is None:
            result.problem = check(expected, status, transitions, output)
        if result.runs >= min_runs and time.perf_counter() - started >= budget:
            break
    return result


# ---------------------------------------------------------------------------------------------------------
# This engine


def bench_ours(case: Case, budget: float, min_runs: int, max_runs: int) -> Result:
    from workflows.asl.definition import load_definition
    from workflows.engine.clock import FakeClock
    from workflows.engine.runner import execution_info, run_async

    definition = load_definition(case.definition)
    loop = asyncio.new_event_loop()
    counter = iter(range(1 << 30))

    def once() -> tuple[float, str, int, Any]:
        clock = FakeClock()
        info = execution_info("bench", f"{case.name}-{next(counter)}", start_time=clock.now())
        t0 = time.perf_counter()
        run = loop.run_until_complete(run_async(definition, case.input, clock=clock, info=info))
        seconds = time.perf_counter() - t0
        assert run.outcome is not None
        transitions = sum(1 for e in run.events if e.type.endswith("StateEntered"))
        return seconds, run.outcome.status, transitions, run.outcome.output

    try:
        return _repeat(once, case.expected, budget, min_runs, max_runs)
    finally:
        loop.close()


# ---------------------------------------------------------------------------------------------------------
# moto (LocalStack's interpreter), in process


@contextmanager
def moto_stepfunctions() -> Iterator[Any]:
    """A moto Step Functions client that really executes machines (on a background thread)."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import boto3
    from moto import mock_aws

    # moto's interpreter logs every failure it handles (retry_catch fails on purpose) at ERROR.
    logger = logging.getLogger("moto")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            yield boto3.client("stepfunctions", region_name="us-east-1")
    finally:
        logger.setLevel(level)


def bench_moto(client: Any, case: Case, budget: float, min_runs: int, max_runs: int) -> Result:
    machine_arn = client.create_state_machine(
        name=f"bench-{case.name}", definition=case.definition, roleArn=MOTO_ROLE
    )["stateMachineArn"]
    counter = iter(range(1 << 30))
    payload = json.dumps(case.input)

    def once() -> tuple[float, str, int, Any]:
        name = f"{case.name}-{next(counter)}-{time.time_ns()}"  # unnamed executions collide
        t0 = time.perf_counter()
        arn = client.start_execution(stateMachineArn=machine_arn, name=name, input=payload)["executionArn"]
        poll = 0.001
        while True:
            described = client.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                break
            if time.perf_counter() - t0 > MOTO_TIMEOUT:
                raise TimeoutError(f"moto execution still running after {MOTO_TIMEOUT:.0f} s")
            time.sleep(poll)
            poll = min(poll * 1.5, 0.02)
        seconds = time.perf_counter() - t0
        transitions = _moto_transitions(client, arn)
        output = json.loads(described["output"]) if described.get("output") else None
        return seconds, described["status"], transitions, output

    return _repeat(once, case.expected, budget, min_runs, max_runs)


def _moto_transitions(client: Any, arn: str) -> int:
    count = 0
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = client.get_execution_history(**kwargs)
        count += sum(1 for e in page["events"] if e["type"].endswith("StateEntered"))
        token = page.get("nextToken")
        if not token:
            return count
        kwargs["nextToken"] = token


# ---------------------------------------------------------------------------------------------------------
# Running and reporting


@dataclass(frozen=True)
class Settings:
    budget: float = 1.0  # seconds of timed runs per definition, ours
    min_runs: int = 3
    max_runs: int = 10_000
    moto: bool = True
    moto_budget: float = 2.0
    moto_min_runs: int = 1
    moto_max_runs: int = 3


QUICK = Settings(budget=0.0, min_runs=1, max_runs=1, moto=False)


def run_bench(
    cases: list[Case], settings: Settings = Settings(), progress: Callable[[str], None] | None = None
) -> list[Row]:
    rows = [Row(case.name) for case in cases]
    for case, row in zip(cases, rows, strict=True):
        if progress:
            progress(f"ours: {case.name}")
        row.ours = bench_ours(case, settings.budget, settings.min_runs, settings.max_runs)
    if not settings.moto:
        for row in rows:
            row.moto.skipped = True
        return rows
    with moto_stepfunctions() as client:
        for case, row in zip(cases, rows, strict=True):
            if progress:
                progress(f"moto: {case.name}")
            row.moto = bench_moto(
                client, case, settings.moto_budget, settings.moto_min_runs, settings.moto_max_runs
            )
    return rows


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def render(rows: list[Row]) -> Any:
    from rich.table import Table

    table = Table(title="transitions per second (higher is better)")
    table.add_column("definition")
    table.add_column("trans.", justify="right")
    table.add_column("ours/s", justify="right")
    table.add_column("ms/run", justify="right")
    table.add_column("moto/s", justify="right")
    table.add_column("ms/run", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("match")
    for row in rows:
        ratio = row.ratio
        ms_ours, ms_moto = row.ours.ms_per_run, row.moto.ms_per_run
        table.add_row(
            row.name,
            str(row.ours.transitions),
            _rate(row.ours.per_second),
            "-" if ms_ours is None else f"{ms_ours:.2f}",
            "skip" if row.moto.skipped else _rate(row.moto.per_second),
            "-" if ms_moto is None else f"{ms_moto:.0f}",
            "-" if ratio is None else f"{ratio:,.0f}x",
            "[green]yes[/green]" if row.matched else "[red]NO[/red]",
        )
    return table


def problems(rows: list[Row]) -> list[str]:
    return [
        f"{row.name} ({who}): {result.problem or 'no run'}"
        for row in rows
        for who, result in (("ours", row.ours), ("moto", row.moto))
        if not result.skipped and not result.ok
    ]


def figures(rows: list[Row]) -> dict[str, Any]:
    """The JSON `--json` writes."""
    out: dict[str, Any] = {}
    for row in rows:
        out[row.name] = {
            "ours": {**asdict(row.ours), "per_second": row.ours.per_second, "ok": row.ours.ok},
            "moto": {**asdict(row.moto), "per_second": row.moto.per_second, "ok": row.moto.ok},
            "ratio": row.ratio,
            "matched": row.matched,
        }
    return out


SUITES = ("asl", "http", "console", "pipeline")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workflows.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=[*SUITES, "all"], default="all", help="what to run (default all)")
    parser.add_argument(
        "--bench-dir",
        help="asl: definitions (default: $WORKFLOWS_SHARED/bench, ../shared/bench or tests/data/shared/bench)",
    )
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON, by suite")
    parser.add_argument("--only", nargs="*", help="asl and http one at a time: definition names to run")
    parser.add_argument(
        "--budget", type=float, default=Settings.budget, help="asl: seconds per definition, ours"
    )
    parser.add_argument(
        "--moto-runs", type=int, default=Settings.moto_max_runs, help="asl: at most this many moto runs"
    )
    parser.add_argument("--no-moto", action="store_true", help="this engine only")
    parser.add_argument(
        "--quick", action="store_true", help="a few runs each, ours only (a correctness check)"
    )
    parser.add_argument("--http-starts", type=int, help="http: StartExecution calls per round, ours")
    parser.add_argument("--http-completed", type=int, help="http: 5-state executions per round, ours")
    parser.add_argument("--concurrency", type=int, help="http: connections per server")
    parser.add_argument(
        "--http-part",
        choices=["all", "concurrent", "serial"],
        default="all",
        help="http: the concurrent measures, the one-at-a-time table, or both (default)",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="http: cProfile our server into FILE (FILE.serial for the one-at-a-time part) and print it",
    )
    parser.add_argument(
        "--uploads", type=int, help="pipeline: sequential and concurrent uploads (default 20)"
    )
    parser.add_argument("--no-memory", action="store_true", help="pipeline: skip the 100 MP memory figure")
    parser.add_argument(
        "--batch", type=int, help="pipeline: files in the `workflows upload` batch (default 1000; 0 skips it)"
    )
    args = parser.parse_args(argv)

    from rich.console import Console

    console = Console()
    suites = SUITES if args.suite == "all" else (args.suite,)
    out: dict[str, Any] = {}
    ok = True
    if "asl" in suites:
        asl_ok, out["asl"] = _main_asl(args, console)
        ok = ok and asl_ok
    if "http" in suites:
        http_ok, out["http"] = _main_http(args, console)
        ok = ok and http_ok
    if "console" in suites:
        console_ok, out["console"] = _main_console(args, console)
        ok = ok and console_ok
    if "pipeline" in suites:
        pipeline_ok, out["pipeline"] = _main_pipeline(args, console)
        ok = ok and pipeline_ok
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0 if ok else 1


def _main_asl(args: argparse.Namespace, console: Any) -> tuple[bool, dict[str, Any]]:
    try:
        directory = bench_dir(args.bench_dir)
    except corpus.CorpusNotFound as exc:
        console.print(str(exc))
        return False, {}
    cases = load_cases(directory, args.only)
    if not cases:
        console.print(f"no definitions in {directory}")
        return False, {}
    if args.quick:
        settings = QUICK
    else:
        settings = Settings(budget=args.budget, moto=not args.no_moto, moto_max_runs=max(args.moto_runs, 1))
    with console.status("benchmarking") as status:
        rows = run_bench(cases, settings, progress=lambda text: status.update(text))
    console.print(render(rows))
    for line in problems(rows):
        console.print(f"[red]mismatch[/red] {line}", highlight=False)
    return all(row.matched for row in rows), figures(rows)


def _main_http(args: argparse.Namespace, console: Any) -> tuple[bool, dict[str, Any]]:
    from dataclasses import replace

    from workflows.bench import http as bench_http

    out: dict[str, Any] = {}
    ok = True
    moto = not (args.no_moto or args.quick)
    if args.http_part in ("all", "concurrent"):
        settings = bench_http.QUICK_HTTP if args.quick else bench_http.HttpSettings()
        changes: dict[str, Any] = {"moto": moto, "profile": args.profile}
        if args.http_starts:
            changes["starts"] = args.http_starts
        if args.http_completed:
            changes["completed"] = args.http_completed
        if args.concurrency:
            changes["concurrency"] = args.concurrency
        settings = replace(settings, **changes)
        with console.status("HTTP API") as status:
            rows = bench_http.run_http(settings, progress=lambda text: status.update(text))
        console.print(bench_http.render_http(rows, settings))
        for line in bench_http.http_problems(rows):
            console.print(f"[red]problem[/red] {line}", highlight=False)
        if args.profile and Path(args.profile).exists():
            bench_http.print_profile(args.profile, console)
        ok = all(row.matched for row in rows)
        out = bench_http.http_figures(rows)
    if args.http_part in ("all", "serial"):
        serial = bench_http.QUICK_SERIAL if args.quick else bench_http.SerialSettings()
        profile = args.profile and (args.profile if args.http_part == "serial" else f"{args.profile}.serial")
        serial = replace(serial, moto=moto, only=tuple(args.only or ()), profile=profile or None)
        with console.status("HTTP API, one execution at a time") as status:
            serial_rows = bench_http.run_serial(serial, progress=lambda text: status.update(text))
        console.print(bench_http.serial_table(serial_rows, serial))
        for line in bench_http.serial_problems(serial_rows):
            console.print(f"[red]mismatch[/red] {line}", highlight=False)
        if serial.profile and Path(serial.profile).exists():
            bench_http.print_profile(serial.profile, console)
        ok = ok and all(row.matched for row in serial_rows)
        out["one at a time"] = bench_http.serial_figures(serial_rows)
    return ok, out


def _main_console(args: argparse.Namespace, console: Any) -> tuple[bool, dict[str, Any]]:
    from workflows.bench import console as bench_console

    settings = bench_console.QUICK_CONSOLE if args.quick else bench_console.ConsoleSettings()
    with console.status("console") as status:
        result = bench_console.run_console(settings, progress=lambda text: status.update(text))
    console.print(bench_console.render_console(result))
    for line in bench_console.console_problems(result):
        console.print(f"[red]problem[/red] {line}", highlight=False)
    return result.ok, bench_console.console_figures(result)


def _main_pipeline(args: argparse.Namespace, console: Any) -> tuple[bool, dict[str, Any]]:
    from dataclasses import replace

    from workflows.bench import pipeline as bench_pipeline

    settings = bench_pipeline.QUICK_PIPELINE if args.quick else bench_pipeline.PipelineSettings()
    if args.uploads:
        settings = replace(settings, sequential=args.uploads, concurrent=args.uploads)
    if args.no_memory:
        settings = replace(settings, memory=False)
    if args.batch is not None:
        settings = replace(settings, batch=args.batch)
    with console.status("pipeline") as status:
        result = bench_pipeline.run_pipeline(settings, progress=lambda text: status.update(text))
    for table in bench_pipeline.render_pipeline(result):
        console.print(table)
    for line in bench_pipeline.pipeline_problems(result):
        console.print(f"[red]problem[/red] {line}", highlight=False)
    figures = bench_pipeline.pipeline_figures(result)
    ok = result.ok
    if settings.batch:
        with console.status("batch upload") as status:
            batch = asyncio.run(
                bench_pipeline.run_batch_upload_async(
                    settings.batch, progress=lambda text: status.update(text)
                )
            )
        console.print(bench_pipeline.render_batch(batch))
        if batch.problem:
            console.print(f"[red]problem[/red] batch: {batch.problem}", highlight=False)
        figures["batch_upload"] = bench_pipeline.batch_figures(batch)
        ok = ok and batch.problem is None
    return ok, figures


if __name__ == "__main__":
    sys.exit(main())
