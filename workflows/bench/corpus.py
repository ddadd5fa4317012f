"""Where the AWS-recorded corpus and the benchmark machines are: the one lookup the tests and the benchmark
share, so that a clean clone and the workspace test the same files.

The corpus is `shared/` (conformance/cases, conformance/api, bench). It is looked for in
$WORKFLOWS_SHARED when set, else in `../shared` beside the repository, else in the copy the repository
commits under `tests/data/shared/`. A corpus that is nowhere is an error, never an empty set of cases:
a test that finds nothing to compare must fail, not pass or skip.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class CorpusNotFound(FileNotFoundError):
    pass


def _candidates() -> list[Path]:
    if os.environ.get("WORKFLOWS_SHARED"):
        # An explicit choice is the only one: falling back would test something else than asked.
        return [Path(os.environ["WORKFLOWS_SHARED"])]
    return [REPO.parent / "shared", REPO / "tests" / "data" / "shared"]


def _find(relative: str, *required: str) -> Path:
    """The first candidate's `relative` directory holding every `required` entry (each a subdirectory or a
    glob that must match at least one file)."""
    looked = []
    for base in _candidates():
        directory = base / relative
        looked.append(str(directory))
        if directory.is_dir() and all(
            (directory / need).is_dir() if "*" not in need else any(directory.glob(need)) for need in required
        ):
            return directory
    raise CorpusNotFound(
        f"the shared corpus ({relative} with {', '.join(required)}) is in none of: {', '.join(looked)};"
        " set WORKFLOWS_SHARED or restore tests/data/shared"
    )


def conformance_dir() -> Path:
    """shared/conformance: `cases/` (recorded executions) and `api/` (recorded API conversations)."""
    directory = _find("conformance", "cases", "api")
    for sub in ("cases", "api"):
        if not any((directory / sub).glob("*.json")):
            raise CorpusNotFound(f"{directory / sub} holds no case")
    return directory


def cases_dir() -> Path:
    return conformance_dir() / "cases"


def api_dir() -> Path:
    return conformance_dir() / "api"


def bench_dir() -> Path:
    """shared/bench: the benchmark's pure-ASL definitions with their inputs and expected results."""
    return _find("bench", "*.expected.json")
