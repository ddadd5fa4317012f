"""The package's layers, checked on the import graph: each layer imports only itself and the ones below.

    asl      the language              imports nothing else of workflows
    engine   the interpreter           imports asl
    service  the durable service       imports engine and asl
    local    the local AWS world       imports service, engine and asl
    testing  the pytest plugin         imports local, service, engine and asl (not bench or the CLI)
    bench, cli, client, __main__       may import anything

tasks/ (the Lambda handlers) never imports workflows; the layers below local, and testing, never import tasks/
(handlers are found through template.yaml); and the console reaches executions only through
the service (it never opens the store or SQLite itself).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ALLOWED: dict[str, set[str]] = {
    "asl": set(),
    "engine": {"asl"},
    "service": {"engine", "asl"},
    "local": {"service", "engine", "asl"},
    "testing": {"local", "service", "engine", "asl"},
}
# Packages above the layers: they may import anything (bench measures, testing is a layer of its own).
TOP_PACKAGES = {"bench"}
# Modules of `service` that serve the console: they reach executions only through the service object.
CONSOLE_MODULES = ("workflows.service.console", "workflows.service.console_data")
CONSOLE_FORBIDDEN = ("workflows.service.store", "sqlite3")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str) -> set[str]:
    """Every module the file imports, absolute, at any depth of the file (lazy imports count too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def violations(root: Path) -> list[str]:
    """The walls broken under `root` (a checkout holding workflows/ and tasks/), as readable lines."""
    broken: list[str] = []
    for path in sorted((root / "workflows").rglob("*.py")):
        module = module_name(path, root)
        parts = module.split(".")
        layer = parts[1] if len(parts) > 1 else ""
        for target in sorted(imports_of(path, module)):
            tparts = target.split(".")
            if tparts[0] == "tasks" and layer in ("asl", "engine", "service", "testing"):
                broken.append(
                    f"{module} ({layer}) imports {target}: handlers are found through template.yaml"
                )
            if tparts[0] != "workflows" or len(tparts) < 2:
                if module in CONSOLE_MODULES and target in CONSOLE_FORBIDDEN:
                    broken.append(f"{module} imports {target}: the console goes through the service")
                continue
            tlayer = tparts[1]
            if layer in ALLOWED and tlayer != layer and tlayer not in ALLOWED[layer] and tlayer in ALLOWED:
                broken.append(f"{module} ({layer}) imports {target} ({tlayer})")
            if layer in ALLOWED and tlayer not in ALLOWED and tlayer != layer and tlayer not in ("",):
                broken.append(f"{module} ({layer}) imports {target}, which is above every layer")
            if module in CONSOLE_MODULES and any(target.startswith(f) for f in CONSOLE_FORBIDDEN):
                broken.append(f"{module} imports {target}: the console goes through the service")
    for path in sorted((root / "tasks").rglob("*.py")):
        module = module_name(path, root)
        for target in imports_of(path, module):
            if target.split(".")[0] == "workflows":
                broken.append(f"{module} imports {target}: tasks/ deploys without workflows/")
    return broken


def test_the_walls_hold() -> None:
    assert violations(ROOT) == []


def test_every_module_sits_in_a_layer() -> None:
    top = {p.name for p in (ROOT / "workflows").iterdir() if p.suffix == ".py"}
    assert top == {"__init__.py", "__main__.py", "cli.py", "client.py"}
    packages = {p.name for p in (ROOT / "workflows").iterdir() if (p / "__init__.py").exists()}
    assert packages == set(ALLOWED) | TOP_PACKAGES


@pytest.mark.parametrize(
    ("where", "text", "expected"),
    [
        ("workflows/asl/x.py", "from workflows.engine.clock import Clock\n", "workflows.asl.x (asl) imports"),
        ("workflows/engine/x.py", "def f():\n    from workflows.service import store\n", "(engine) imports"),
        ("workflows/engine/x.py", "from ..local import dev\n", "(engine) imports workflows.local"),
        ("workflows/service/x.py", "import workflows.local.dev\n", "(service) imports workflows.local.dev"),
        ("workflows/service/x.py", "from workflows.cli import main\n", "above every layer"),
        (
            "workflows/local/x.py",
            "from workflows.testing import runner\n",
            "(local) imports workflows.testing",
        ),
        ("workflows/testing/x.py", "from workflows.bench import suite\n", "above every layer"),
        ("workflows/testing/x.py", "import workflows.cli\n", "above every layer"),
        ("workflows/service/console.py", "import sqlite3\n", "the console goes through the service"),
        (
            "workflows/service/console.py",
            "from .store import Store\n",
            "the console goes through the service",
        ),
        ("tasks/a/b.py", "from workflows.asl import errors\n", "tasks/ deploys without workflows/"),
        ("workflows/engine/x.py", "from tasks.analyse import app\n", "found through template.yaml"),
        ("workflows/testing/x.py", "import tasks.validate\n", "found through template.yaml"),
    ],
)
def test_a_broken_wall_is_reported(tmp_path: Path, where: str, text: str, expected: str) -> None:
    for layer in ("asl", "engine", "service", "local", "testing"):
        (tmp_path / "workflows" / layer).mkdir(parents=True)
    (tmp_path / "tasks").mkdir()
    assert violations(tmp_path) == []
    target = tmp_path / where
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    found = violations(tmp_path)
    assert len(found) >= 1 and any(expected in line for line in found), found
