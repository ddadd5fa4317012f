"""The benchmark harness in quick mode: every shared definition gives its expected result, the HTTP and
pipeline suites run and check what they count (correctness only: no figure is asserted)."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from workflows.bench import http as bench_http
from workflows.bench import pipeline as bench_pipeline
from workflows.bench import suite as bench

CASES = bench.load_cases(bench.bench_dir())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_ours_matches_expected(case: bench.Case) -> None:
    (row,) = bench.run_bench([case], bench.QUICK)
    assert row.ours.runs == 1
    assert row.ours.problem is None, row.ours.problem
    assert row.matched


def test_moto_runs_the_smallest_definition() -> None:
    """The peer side of the harness works: moto executes a small definition and it matches too."""
    small = [c for c in CASES if c.name == "intrinsics"] or CASES[:1]
    settings = bench.Settings(budget=0.0, min_runs=1, max_runs=1, moto_budget=0.0, moto_max_runs=1)
    (row,) = bench.run_bench(small, settings)
    assert row.moto.runs == 1
    assert row.moto.problem is None, row.moto.problem
    assert row.matched


def test_main_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    assert bench.main(["--suite", "asl", "--quick", "--only", CASES[0].name, "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert list(figures) == ["asl"]
    assert figures["asl"][CASES[0].name]["matched"] is True


def test_subset_rules() -> None:
    assert bench.subset_problem({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}, "d": 3}) is None
    assert bench.subset_problem({"u": "re:[0-9a-f]{4}"}, {"u": "beef"}) is None
    assert bench.subset_problem({"u": "re:[0-9a-f]{4}"}, {"u": "beefy"}) is not None
    assert bench.subset_problem([1, 2], [1, 2, 3]) is not None
    assert bench.subset_problem({"x": True}, {"x": 1}) is not None
    assert bench.subset_problem({"a": 1}, {}) is not None


def test_percentiles() -> None:
    batch = bench_pipeline.Batch(
        trips=[bench_pipeline.Trip(key=str(i), put_seconds=0.0, latency_ms=float(i)) for i in range(1, 101)]
    )
    assert batch.percentile(50) == pytest.approx(50.5)
    assert batch.percentile(95) == pytest.approx(95.05)
    assert bench_pipeline.Batch().percentile(50) is None


# ---------------------------------------------------------------------------------------------------------
# HTTP suite


def test_http_quick_counts_every_start_and_completion() -> None:
    """Our server under uvicorn with its store: every start answered, every 5-Pass execution SUCCEEDED
    with the expected output (checked by the harness)."""
    settings = replace(bench_http.QUICK_HTTP, moto=False)
    rows = bench_http.run_http(settings)
    assert bench_http.http_problems(rows) == []
    starts, completed = rows
    assert starts.ours.ok and starts.ours.done == starts.ours.count == settings.starts
    assert completed.ours.ok and completed.ours.done == completed.ours.count == settings.completed
    assert starts.moto.skipped and completed.moto.skipped
    figures = bench_http.http_figures(rows)
    assert figures["StartExecution"]["ours"]["ok"] is True


def test_http_moto_peer_executes() -> None:
    """moto's server, configured over /moto-api/config, runs the same requests to SUCCEEDED."""
    settings = replace(bench_http.QUICK_HTTP, starts=5, completed=5, moto_starts=5, moto_completed=5)
    rows = bench_http.run_http(settings)
    assert bench_http.http_problems(rows) == []
    assert all(row.moto.ok and row.moto.done == 5 for row in rows)
    assert all(row.matched for row in rows)


def test_console_quick_opens_the_view_and_samples_describe_meanwhile() -> None:
    """The console suite on a small Map: the view opens with every event counted, its first answer
    holds one page of events, and DescribeExecution was sampled while it opened."""
    from workflows.bench import console as bench_console

    result = bench_console.run_console(bench_console.QUICK_CONSOLE)
    assert result.problem is None and result.ok
    assert result.events == 4 * bench_console.QUICK_CONSOLE.items + 6
    assert result.first_events == 100 and result.open_cold_s is not None
    assert result.describe_idle.calls == bench_console.QUICK_CONSOLE.idle_calls
    assert result.describe_during_open.calls >= 1
    assert bench_console.console_figures(result)["ok"] is True


def test_http_reports_a_failed_start() -> None:
    """A refused call is counted as a problem, not as a start."""

    async def scenario() -> bench_http.Measure:
        import tempfile

        with tempfile.TemporaryDirectory() as data_dir:
            async with bench_http.our_server(data_dir) as server:
                pool = bench_http.Pool(server.port, 2)
                try:
                    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:missing"
                    return await bench_http.measure_starts(pool, arn, 3, timeout=5)
                finally:
                    await pool.close()

    import asyncio

    measure = asyncio.run(scenario())
    assert measure.done == 0 and not measure.ok
    assert measure.problem and "StateMachineDoesNotExist" in measure.problem


# ---------------------------------------------------------------------------------------------------------
# Pipeline suite


def test_photo_like_jpeg_is_a_jpeg_of_the_asked_size() -> None:
    from PIL import Image

    data = bench_pipeline.photo_like_jpeg(400, 300)
    image = Image.open(io.BytesIO(data))
    assert (image.format, image.size) == ("JPEG", (400, 300))


def test_pipeline_quick_every_upload_reaches_sns_accepted() -> None:
    """Through start_world: each upload's SNS message is matched to its key, accepted, and its
    execution's states are timed from its history."""
    result = bench_pipeline.run_pipeline(bench_pipeline.QUICK_PIPELINE)
    assert bench_pipeline.pipeline_problems(result) == []
    assert result.ok
    for batch, n in ((result.sequential, 2), (result.concurrent, 2)):
        assert len(batch.latencies()) == n
        assert all(t.outcome == "accepted" and t.status == "SUCCEEDED" for t in batch.trips)
        assert all({"Validate", "Analyse", "Notify"} <= t.states.keys() for t in batch.trips)
        # This process's CPU is split: the bench's uploads and tap reads apart from the engine's work.
        assert batch.cpu[bench_pipeline.CLIENT] > 0 and batch.cpu[bench_pipeline.ENGINE] > 0
        assert bench_pipeline.OWN not in batch.cpu
    figures = bench_pipeline.pipeline_figures(result)
    assert figures["ok"] is True and len(figures["sequential"]["trips"]) == 2
    # The work no pipeline avoids is measured beside what carrying it costs.
    assert figures["work_floor_cpu_ms"].keys() == {"analysis", "hashes"}
    assert all(ms > 0 for ms in figures["work_floor_cpu_ms"].values())


def test_analyse_peak_memory_measures_the_handler(tmp_path: Path) -> None:
    measured = bench_pipeline.analyse_peak_memory(side=1200, cache_dir=str(tmp_path))
    assert "error" not in measured, measured
    assert (measured["width"], measured["height"]) == (1200, 1200)
    assert measured["rss_peak_mib"] >= measured["rss_base_mib"] > 0


def test_batch_upload_accounts_for_every_file_and_times_the_api_meanwhile() -> None:
    """The batch figure's harness: `workflows upload DIR` in its own process, every file's execution
    found finished, and DescribeExecution and the console's list timed while it ran."""
    import asyncio

    result = asyncio.run(bench_pipeline.run_batch_upload_async(20))
    assert result.problem is None, result.problem
    assert result.exit_code == 0
    assert result.accounted == 20 and result.counts == {"succeeded": 18, "quarantined": 2, "failed": 0}
    assert result.describe_ms and result.console_ms
    assert result.cpu[bench_pipeline.CLIENT] > 0 and result.cpu[bench_pipeline.ENGINE] > 0
    figures = bench_pipeline.batch_figures(result)
    assert figures["files_per_s"] > 0 and figures["describe_ms"]["p99"] is not None
    # 20 files and the 3 warm-up uploads; one machine revision, so one snapshot of its definition.
    assert result.executions == 23
    definition = (bench_pipeline.ROOT / "definitions" / "pipeline.asl.json").stat().st_size
    assert definition < result.stored["machine snapshots"] < 2 * definition
    assert 0 < result.stored["execution records"] < 23 * definition  # each record refers to the snapshot
    assert result.stored["history"] > 0
    # The quiet store compacts the ended executions' history: the same events in a fraction of it.
    assert result.compaction_seconds is not None
    assert 0 < result.stored["history"] * 3 < result.history_text


# ---------------------------------------------------------------------------------------------------------
# HTTP suite, one execution at a time


def test_serial_runs_every_definition_through_our_server() -> None:
    """Each shared definition through our server and boto3, one at a time: the result matches its
    expected output, transitions are counted from the history and its timestamps give an engine time
    no longer than the wall time the client saw. A result that differs from its expectation (the last
    case, given a wrong transition count) is a problem, not a figure."""
    (intrinsics,) = [c for c in CASES if c.name == "intrinsics"]
    wrong = replace(intrinsics, name="wrong", expected={**intrinsics.expected, "transitions": 5})
    *rows, mismatch = bench_http.run_serial(bench_http.QUICK_SERIAL, cases=[*CASES, wrong])
    assert bench_http.serial_problems(rows) == []
    assert [row.name for row in rows] == [case.name for case in CASES]
    for row, case in zip(rows, CASES, strict=True):
        assert row.matched and row.ours.runs == 1 and row.moto.skipped
        if "transitions" in case.expected:
            assert row.ours.transitions == case.expected["transitions"]
        assert 0 < row.ours.engines[0] <= row.ours.walls[0]
        assert row.ours.per_second is not None
    figures = bench_http.serial_figures(rows)
    assert figures["choice_loop"]["ours"]["ok"] is True
    assert not mismatch.matched
    assert mismatch.ours.problem == "4 transitions, expected 5"
    assert bench_http.serial_problems([mismatch]) == ["wrong (ours): 4 transitions, expected 5"]


def test_serial_moto_peer_and_ratio() -> None:
    """moto's server runs the smallest definition too; the ratio compares the two wall times."""
    small = [c for c in CASES if c.name == "intrinsics"]
    settings = replace(bench_http.QUICK_SERIAL, moto=True, moto_budget=0.0, moto_max_runs=1)
    (row,) = bench_http.run_serial(settings, cases=small)
    assert bench_http.serial_problems([row]) == []
    assert row.moto.runs == 1 and row.moto.transitions == small[0].expected["transitions"]
    assert row.ratio == pytest.approx(row.moto.wall_ms / row.ours.wall_ms)  # type: ignore[operator]


def test_main_http_serial_part_writes_its_table(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    args = ["--suite", "http", "--http-part", "serial", "--quick", "--only", "pass_chain_100"]
    assert bench.main([*args, "--json", str(out)]) == 0
    figures = json.loads(out.read_text())["http"]["one at a time"]
    assert list(figures) == ["pass_chain_100"]
    assert figures["pass_chain_100"]["ours"]["durable_per_second"] > 0
