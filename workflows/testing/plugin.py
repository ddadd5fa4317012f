"""The pytest plugin: the `sfn` fixture, and `--sfn-cov` coverage of the definitions it runs.

Registered as the `workflows` pytest11 entry point. Under pytest-xdist each worker keeps its own
coverage and hands it to the controller in `workeroutput` when it finishes; the controller merges,
reports, and applies `--sfn-cov-fail-under`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from workflows.service.coverage import Coverage
    from workflows.testing.runner import StateMachineRunner

# Installed, this module loads in every pytest run of the environment: the engine is imported only
# when a test asks for the fixture or coverage is on.

_WORKER_KEY = "workflows_sfn_coverage"
_PLUGIN_NAME = "workflows-sfn-coverage"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("workflows", "state machine tests (workflows.testing)")
    group.addoption(
        "--sfn-cov",
        action="store_true",
        default=False,
        help="measure which states and transitions of each definition the `sfn` fixture's runs covered",
    )
    group.addoption(
        "--sfn-cov-report",
        action="append",
        default=[],
        metavar="TYPE",
        help="term (default), term:skip-missing, json:FILE, html:DIR; comma-separated or repeated; "
        "implies --sfn-cov",
    )
    group.addoption(
        "--sfn-cov-include",
        action="append",
        default=[],
        metavar="PATTERN",
        help="measure only definitions whose path (relative to the rootdir) matches this fnmatch pattern; "
        "repeatable (default: the sfn_cov_include ini value, else every definition)",
    )
    parser.addini(
        "sfn_cov_include",
        type="linelist",
        default=[],
        help="fnmatch patterns of the definitions --sfn-cov measures (paths relative to the rootdir)",
    )
    group.addoption(
        "--sfn-cov-fail-under",
        type=float,
        default=None,
        metavar="PERCENT",
        help="fail the run when states and transitions covered, over all definitions, are below PERCENT; "
        "implies --sfn-cov",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(CoveragePlugin(config), _PLUGIN_NAME)


class CoveragePlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        reports = [r.strip() for item in config.getoption("sfn_cov_report") or [] for r in item.split(",")]
        self.reports = [r for r in reports if r]
        self.fail_under: float | None = config.getoption("sfn_cov_fail_under")
        self.enabled = bool(config.getoption("sfn_cov") or self.reports or self.fail_under is not None)
        self._coverage: Coverage | None = None
        self.include: list[str] = list(
            config.getoption("sfn_cov_include") or config.getini("sfn_cov_include") or []
        )
        self.failed_under: float | None = None
        for report in self.reports:
            kind = report.partition(":")[0]
            if kind not in ("term", "json", "html"):
                raise pytest.UsageError(
                    f"--sfn-cov-report: unknown report {report!r} (term, json:FILE, html:DIR)"
                )

    @property
    def coverage(self) -> Coverage:
        if self._coverage is None:
            from workflows.service.coverage import Coverage

            self._coverage = Coverage(self.include)
        return self._coverage

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    # ----- xdist: workers hand their coverage to the controller -----

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
        if data:
            from workflows.service.coverage import Coverage

            self.coverage.merge(Coverage.from_json(json.loads(data)))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.enabled:
            return
        if self.is_worker:
            # workeroutput crosses execnet: plain text is the safe shape.
            self.config.workeroutput[_WORKER_KEY] = json.dumps(self.coverage.to_json())  # type: ignore[attr-defined]
            return
        if self.fail_under is not None and self._total() < self.fail_under:
            self.failed_under = self._total()
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _total(self) -> float:
        # Nothing measured is not 100 %: a threshold asked for must see executions.
        return self.coverage.percent() if self.coverage else 0.0

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.enabled or self.is_worker:
            return
        writer = terminalreporter
        terms = [r for r in self.reports if r.startswith("term")] or (["term"] if not self.reports else [])
        if not self.coverage:
            which = f" of definitions matching {', '.join(self.include)}" if self.include else ""
            writer.write_sep("-", f"state machine coverage: no executions{which} through the sfn fixture")
        else:
            for term in terms:
                width = getattr(writer, "_tw", None)
                text = self.coverage.table(
                    color=bool(getattr(width, "hasmarkup", False)),
                    width=max(getattr(width, "fullwidth", 120), 100),
                    show_missing=term != "term:skip-missing",
                )
                writer.write_sep("-", "state machine coverage")
                writer.write(text)
            for report in self.reports:
                kind, _, target = report.partition(":")
                if kind == "json":
                    path = self.coverage.write_json(target or "sfn-coverage.json")
                    writer.write_line(f"state machine coverage JSON written to {path}")
                elif kind == "html":
                    path = self.coverage.write_html(target or "sfn-coverage-html")
                    writer.write_line(f"state machine coverage HTML written to {path}")
        if self.fail_under is not None:
            total = self._total()
            if self.failed_under is not None:
                writer.write_line(
                    f"FAIL Required state machine coverage of {self.fail_under:g}% not reached: {total:.2f}%",
                    red=True,
                    bold=True,
                )
            else:
                writer.write_line(
                    f"Required state machine coverage of {self.fail_under:g}% reached: {total:.2f}%"
                )


@pytest.fixture
def sfn(request: pytest.FixtureRequest) -> Iterator[StateMachineRunner]:
    """Run state machine definitions in process, on virtual time: `sfn.run(path, input, ...)`."""
    from workflows.testing.runner import StateMachineRunner

    plugin = request.config.pluginmanager.get_plugin(_PLUGIN_NAME)
    coverage = plugin.coverage if isinstance(plugin, CoveragePlugin) and plugin.enabled else None
    yield StateMachineRunner(request.config.rootpath, coverage)
