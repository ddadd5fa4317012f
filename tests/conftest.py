"""The suite's plugins, the browser fixtures, and under CI=true nothing skips.

Plugins: pytester (for workflows.testing's own tests) and workflows.testing's `sfn` fixture, which an
installed checkout registers through its pytest11 entry point (loading it twice is an error).

A skip in CI means a green run that checked less than the README says (a missing tool, a missing
corpus, a dependency that did not install): under CI=true a skipped test is reported as a failure,
with the skip's reason. Expected failures (xfail) are not skips and are untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

import pytest

from tests.tools import in_ci

PLUGIN = "workflows.testing.plugin"
INSTALLED = any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))

pytest_plugins = ["pytester", *([] if INSTALLED else [PLUGIN])]


def _reason(longrepr: Any) -> str:
    # A skip's longrepr is (file, line, "Skipped: reason").
    return str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


def _fail_skip(report: Any) -> None:
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every test must run: {_reason(report.longrepr)}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    _fail_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    # A module-level skip (pytest.importorskip, allow_module_level) skips at collection.
    report = yield
    _fail_skip(report)
    return report


# -- moto's server, for tests of the AWS integrations -------------------------------------------------


@pytest.fixture(scope="module")
def moto() -> Iterator[Any]:
    """moto's server on 127.0.0.1 (a free port), one per module: workflows.local.local_aws.LocalAws."""
    from workflows.local.local_aws import LocalAws

    server = LocalAws(port=0).start()
    yield server
    server.stop()


# -- the browser tests' fixtures (tests/browser.py) ----------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless chromium, one per module: sync Playwright keeps an event loop running on this thread
    while it is open, so it must not outlive the module that asked for it."""
    from tests.browser import chromium

    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A 1440x1000 page; any error it logs fails the test, except the module's EXPECTED_PAGE_ERRORS."""
    from tests.browser import watched_page

    with watched_page(browser, tuple(getattr(request.module, "EXPECTED_PAGE_ERRORS", ()))) as pg:
        yield pg
