"""What the browser tests share: the server on a thread of its own, Chromium, pages and screenshots.

`LiveServer` runs an ASGI app under uvicorn on a free 127.0.0.1 port, on an event loop of its own
in a thread; `call` runs a coroutine on that loop (the service belongs to it). The `browser` and
`page` fixtures (tests/conftest.py) drive Debian's chromium through Playwright; a page fails its
test on any script error or console error, except what the module's `EXPECTED_PAGE_ERRORS` names.
Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from tests import tools

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 1000}


class LiveServer:
    """An app served from a thread: `serve(app)` returns once the port answers."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.background: list[Callable[[], Awaitable[Any]]] = []  # run beside the server, cancelled with it

    def serve(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert time.monotonic() < deadline, "the test server did not start"
            assert self.thread.is_alive(), "the test server stopped while starting"
            time.sleep(0.02)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        for start in self.background:
            self.loop.create_task(start())
        self.loop.run_until_complete(self.server.serve())
        # Executions still waiting (a one-hour Wait) end with the loop, not as stray tasks.
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    def call(self, coro: Any, timeout: float = 15) -> Any:
        """Run `coro` on the server's loop (before `serve`, on this thread)."""
        if not getattr(self, "thread", None):
            return self.loop.run_until_complete(coro)
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium, headless (tests/tools.py finds it; under CI a missing one fails the run)."""
    executable = tools.chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def watched_page(browser: Any, expected: tuple[str, ...] = (), **context: Any) -> Iterator[Any]:
    """A page in a context of its own (dialogs accepted); on leaving, any script or console error
    not matching one of `expected` (substrings) fails the test."""
    ctx = browser.new_context(**{"viewport": VIEWPORT, **context})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: errors.append(f"{msg.text} {msg.location.get('url')}") if msg.type == "error" else None,
    )
    page.on("dialog", lambda dialog: dialog.accept())
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        ctx.close()
    real = [e for e in errors if not any(x in e for x in expected)]
    assert not real, real


def shot(page: Any, name: str, full_page: bool = False) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
