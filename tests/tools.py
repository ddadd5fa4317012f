"""The programs tests run beside Python: where each is found, and what its absence means.

`make test` (through .ci/install-tools) installs all of them. A test whose tool is missing fails under
CI=true, where a skip would report a green run that checked less than it claims; on a developer's
machine it is skipped with the command that installs the tool.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Where .ci/install-tools puts the template linters whose pins conflict with the project's boto3.
CI_TOOLS = ROOT / ".ci-tools"


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def missing(what: str, install: str) -> NoReturn:
    message = f"{what} is not installed ({install})"
    if in_ci():
        pytest.fail(f"{message}; under CI every test must run", pytrace=False)
    pytest.skip(message)


def _executable(path: Path | str | None) -> str | None:
    return str(path) if path and os.access(path, os.X_OK) and Path(path).is_file() else None


def aws_cli() -> str:
    """The AWS CLI of the project's own venv (a pinned dev dependency), else the one on PATH.

    `make test` runs `.venv/bin/python -m pytest` without .venv/bin on PATH, so PATH alone misses it."""
    found = _executable(Path(sys.executable).parent / "aws") or shutil.which("aws")
    if found is None:
        # A dependency from pyproject.toml, not an optional tool: missing means a broken install.
        pytest.fail("the AWS CLI (awscli, a dev dependency) is in neither the venv nor PATH", pytrace=False)
    return found


def sam() -> str:
    found = _executable(os.environ.get("SAM_BIN")) or _executable(CI_TOOLS / "sam" / "bin" / "sam")
    return found or missing("aws-sam-cli (its own venv, .ci-tools/sam, or SAM_BIN)", "make test installs it")


def checkov() -> str:
    found = _executable(os.environ.get("CHECKOV_BIN")) or _executable(
        CI_TOOLS / "checkov" / "bin" / "checkov"
    )
    return found or missing(
        "checkov (its own venv, .ci-tools/checkov, or CHECKOV_BIN)", "make test installs it"
    )


def chromium() -> str:
    """Debian's chromium (Playwright drives it; no browser download is possible here)."""
    found = _executable(os.environ.get("CHROMIUM_BIN")) or shutil.which("chromium")
    return found or missing("Debian's chromium", "make test installs it with apt-get install chromium")
