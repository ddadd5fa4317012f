"""Who the server answers and how much it reads: secrets, body caps, Host names, SigV4 rules, and
error messages that never quote Python. Each test names the defect it pins down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api_replay import free_port
from workflows.service.server import build

ROOT = Path(__file__).resolve().parents[1]
KEY, SECRET = "AKIDGOOD", "s3cret"


# -- 4. an empty secret ---------------------------------------------------------------------------


def test_serve_off_loopback_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    """`serve --host 0.0.0.0 --access-key-id K` with no secret started and accepted requests signed
    with the empty secret, which anybody can compute."""
    env = {k: v for k, v in os.environ.items() if k != "WORKFLOWS_SECRET_ACCESS_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    command = [
        sys.executable,
        "-m",
        "workflows.cli",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        str(free_port()),
    ]
    command += ["--data-dir", str(tmp_path), "--access-key-id", KEY]
    for secret in (None, ""):
        if secret is not None:
            env["WORKFLOWS_SECRET_ACCESS_KEY"] = secret
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=20, cwd=ROOT)
        except subprocess.TimeoutExpired:
            pytest.fail("serve started (and kept serving) with an empty secret")
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "WORKFLOWS_SECRET_ACCESS_KEY" in lines[0], done.stderr


def test_build_refuses_an_empty_secret_off_loopback(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        build(str(tmp_path), host="0.0.0.0", credentials={KEY: ""})
    with pytest.raises(ValueError):
        build(str(tmp_path), host="0.0.0.0", credentials=None)
