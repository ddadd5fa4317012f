"""The benchmark harness in quick mode: every shared definition gives its expected result (no timing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workflows import bench

CASES = bench.load_cases(bench.bench_dir())
pytestmark = pytest.mark.skipif(not CASES, reason=f"no bench definitions in {bench.bench_dir()}")


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
    assert bench.main(["--quick", "--only", CASES[0].name, "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures[CASES[0].name]["matched"] is True


def test_subset_rules() -> None:
    assert bench.subset_problem({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}, "d": 3}) is None
    assert bench.subset_problem({"u": "re:[0-9a-f]{4}"}, {"u": "beef"}) is None
    assert bench.subset_problem({"u": "re:[0-9a-f]{4}"}, {"u": "beefy"}) is not None
    assert bench.subset_problem([1, 2], [1, 2, 3]) is not None
    assert bench.subset_problem({"x": True}, {"x": 1}) is not None
    assert bench.subset_problem({"a": 1}, {}) is not None
