"""How tests find the programs they run, and why nothing may skip under CI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import tools

ROOT = Path(__file__).resolve().parents[1]


def _script(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No tool anywhere: empty PATH, no *_BIN, an empty .ci-tools, a venv without scripts."""
    for var in ("SAM_BIN", "CHECKOV_BIN", "CHROMIUM_BIN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(tools, "CI_TOOLS", tmp_path / ".ci-tools")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    return tmp_path


@pytest.mark.parametrize("find", [tools.sam, tools.checkov, tools.chromium])
def test_a_missing_tool_fails_under_ci_and_skips_elsewhere(
    nowhere: Path, monkeypatch: pytest.MonkeyPatch, find: object
) -> None:
    assert callable(find)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI every test must run"):
        find()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="make test installs it"):
        find()


def test_linters_are_found_in_ci_tools_or_their_variables(
    nowhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sam = _script(nowhere / ".ci-tools" / "sam" / "bin" / "sam")
    checkov = _script(nowhere / ".ci-tools" / "checkov" / "bin" / "checkov")
    assert (tools.sam(), tools.checkov()) == (str(sam), str(checkov))
    own = _script(nowhere / "elsewhere" / "sam")
    monkeypatch.setenv("SAM_BIN", str(own))
    assert tools.sam() == str(own)


def test_the_aws_cli_is_found_beside_the_interpreter_before_path(
    nowhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make test` runs .venv/bin/python without .venv/bin on PATH: the venv's aws must still be found."""
    on_path = _script(nowhere / "path" / "aws")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert tools.aws_cli() == str(on_path)
    venv = _script(nowhere / "venv" / "bin" / "aws")
    assert tools.aws_cli() == str(venv)


def test_a_missing_aws_cli_fails_even_outside_ci(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.fail.Exception, match="dev dependency"):
        tools.aws_cli()


def test_under_ci_a_skip_is_a_failure(tmp_path: Path) -> None:
    (tmp_path / "test_skips.py").write_text(
        textwrap.dedent(
            """
            import pytest

            def test_skipped():
                pytest.skip("no such tool")

            @pytest.mark.xfail(reason="known")
            def test_expected_failure():
                assert False

            def test_passes():
                pass
            """
        )
    )
    (tmp_path / "test_module_skip.py").write_text("import pytest\npytest.importorskip('no_such_module')\n")

    def run(ci: str | None, *files: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PYTHONPATH": str(ROOT)}
        if ci:
            env["CI"] = ci
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.conftest", "-q", *files],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    local = run(None)
    assert local.returncode == 0, local.stdout
    assert "1 passed, 2 skipped, 1 xfailed" in local.stdout
    ci = run("true", "test_skips.py")
    assert ci.returncode == 1, ci.stdout
    assert "skipped under CI=true, where every test must run: Skipped: no such tool" in ci.stdout
    assert "1 failed, 1 passed, 1 xfailed" in ci.stdout
    # A module skipped at import is a collection error under CI: the run stops and fails.
    ci = run("true", "test_module_skip.py")
    assert ci.returncode != 0, ci.stdout
    assert "every test must run: Skipped: could not import 'no_such_module'" in ci.stdout
