"""The shared corpus is found the same way everywhere, and a clean clone carries all of it."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

import pytest

from workflows.bench import corpus

ROOT = Path(__file__).resolve().parents[1]
COPY = ROOT / "tests" / "data" / "shared"


def _corpus(base: Path) -> None:
    for sub in ("conformance/cases", "conformance/api", "bench"):
        (base / sub).mkdir(parents=True)
    (base / "conformance/cases/a.json").write_text("{}")
    (base / "conformance/api/b.json").write_text("{}")
    (base / "bench/c.json").write_text("{}")
    (base / "bench/c.expected.json").write_text("{}")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("WORKFLOWS_SHARED", raising=False)
    monkeypatch.setattr(corpus, "REPO", tmp_path / "repo")
    return tmp_path / "repo"


def test_prefers_the_workspace_corpus_beside_the_repo(repo: Path) -> None:
    _corpus(repo.parent / "shared")
    _corpus(repo / "tests/data/shared")
    assert corpus.conformance_dir() == repo.parent / "shared/conformance"
    assert corpus.bench_dir() == repo.parent / "shared/bench"


def test_a_clean_clone_uses_the_committed_copy(repo: Path) -> None:
    _corpus(repo / "tests/data/shared")
    assert corpus.api_dir() == repo / "tests/data/shared/conformance/api"
    assert corpus.cases_dir() == repo / "tests/data/shared/conformance/cases"
    assert corpus.bench_dir() == repo / "tests/data/shared/bench"


def test_an_incomplete_workspace_corpus_falls_back_to_the_copy(repo: Path) -> None:
    (repo.parent / "shared/conformance/cases").mkdir(parents=True)  # no api/
    _corpus(repo / "tests/data/shared")
    assert corpus.api_dir() == repo / "tests/data/shared/conformance/api"


def test_a_missing_corpus_is_an_error_not_an_empty_suite(repo: Path) -> None:
    repo.mkdir()
    with pytest.raises(corpus.CorpusNotFound, match="tests/data/shared"):
        corpus.conformance_dir()
    with pytest.raises(corpus.CorpusNotFound):
        corpus.bench_dir()
    (repo / "tests/data/shared/conformance/cases").mkdir(parents=True)
    (repo / "tests/data/shared/conformance/api").mkdir(parents=True)
    with pytest.raises(corpus.CorpusNotFound, match="no case"):
        corpus.conformance_dir()


def test_workflows_shared_is_the_only_place_looked_at_when_set(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _corpus(repo / "tests/data/shared")
    monkeypatch.setenv("WORKFLOWS_SHARED", str(tmp_path / "elsewhere"))
    with pytest.raises(corpus.CorpusNotFound, match="elsewhere"):
        corpus.conformance_dir()
    _corpus(tmp_path / "elsewhere")
    assert corpus.conformance_dir() == tmp_path / "elsewhere/conformance"


def test_the_committed_copy_holds_the_whole_corpus() -> None:
    """What the conformance, history, API and bench tests count on: 867 recorded executions, 267 API
    conversations, the benchmark machines; identical to the workspace's corpus when that is beside."""
    assert len(list((COPY / "conformance/cases").glob("*.json"))) >= 867
    assert len(list((COPY / "conformance/api").glob("*.json"))) >= 267
    assert list((COPY / "bench").glob("*.expected.json"))
    workspace = ROOT.parent / "shared"
    for sub in ("conformance/cases", "conformance/api", "bench"):
        if (workspace / sub).is_dir():
            names = sorted(p.name for p in (workspace / sub).iterdir() if p.is_file())
            assert sorted(p.name for p in (COPY / sub).iterdir() if p.is_file()) == names, sub
            _, mismatch, errors = filecmp.cmpfiles(workspace / sub, COPY / sub, names, shallow=False)
            assert not mismatch and not errors, (sub, mismatch, errors)


def test_no_absolute_machine_paths_in_the_repository() -> None:
    """The repository runs from any clone: no file names a directory of one machine."""
    markers = ["/" + "work/", "/" + "root/", "/" + "home/"]
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    found = []
    for name in filter(None, tracked):
        path = ROOT / name.decode()
        if not path.is_file():
            continue
        text = path.read_bytes()
        found += [f"{name.decode()}: {m}" for m in markers if m.encode() in text]
    assert not found, found
