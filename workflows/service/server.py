"""Runs the Step Functions API with uvicorn; SIGINT/SIGTERM drain requests and flush the store.

What a connection may hold (`server_config`): uvicorn closes an idle keep-alive connection after
`KEEP_ALIVE_SECONDS` and answers 503 past `LIMIT_CONCURRENCY` open connections or requests, but it
has no timeout for reading a request, so a client sending its headers a byte a second would hold
its connection for ever. `BoundedH11Protocol` adds the two: a request's headers must be in within
`HEADER_SECONDS` of its first byte (or of the connection's opening), its body within `BODY_SECONDS`
of its headers; past either the connection is closed. Headers are also capped at h11's 16 KiB.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import sys
from collections.abc import Iterable
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from workflows.service.api import create_app
from workflows.service.console import create_console
from workflows.service.service import RETENTION_DAYS, StepFunctionsService
from workflows.service.store import Store

__all__ = [
    "BODY_SECONDS",
    "HEADER_SECONDS",
    "KEEP_ALIVE_SECONDS",
    "LIMIT_CONCURRENCY",
    "BoundedH11Protocol",
    "ListeningServer",
    "build",
    "check_credentials",
    "is_loopback",
    "serve",
    "server_config",
]

log = logging.getLogger(__name__)


# A client sends a request's headers in well under a second; ten is for a slow link, not a slow sender.
HEADER_SECONDS = 10.0
# A whole body: 1 MiB for the API, 64 MiB for a console upload (loopback only).
BODY_SECONDS = 60.0
KEEP_ALIVE_SECONDS = 5
# Open connections (and requests) past which uvicorn answers 503: well above what one machine's
# clients hold (GetActivityTask long polls included), well below the process's file descriptors.
LIMIT_CONCURRENCY = 1000


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with read timeouts: a request's headers within `header_seconds`, its
    body within `body_seconds`, or the connection is closed (see the module docstring)."""

    header_seconds = HEADER_SECONDS
    body_seconds = BODY_SECONDS
    _read_timer: asyncio.TimerHandle | None = None
    _reading: Any = None  # the h11 state the timer is for: IDLE (headers) or SEND_BODY

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(h11.IDLE)  # a connection that never sends a byte is held no longer than slow headers

    def data_received(self, data: bytes) -> None:
        if self._read_timer is None and self.conn.their_state is h11.IDLE:
            self._arm(h11.IDLE)  # the next request on a kept-alive connection begins
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self._reading is not h11.SEND_BODY:
                self._arm(h11.SEND_BODY)
        elif state is not h11.IDLE:  # the request is read (or the connection is done)
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, reading: Any) -> None:
        self._disarm()
        seconds = self.header_seconds if reading is h11.IDLE else self.body_seconds
        self._reading = reading
        self._read_timer = self.loop.call_later(seconds, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
        self._read_timer = None
        self._reading = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if not self.transport.is_closing():
            # Nothing is answered: the request is not whole, so no answer could be framed for it. An
            # app reading the body is told the client went away (starlette's ClientDisconnect).
            self.transport.close()


def server_config(
    app: Any,
    host: str,
    port: int,
    *,
    log_level: str = "warning",
    header_seconds: float = HEADER_SECONDS,
    body_seconds: float = BODY_SECONDS,
    limit_concurrency: int = LIMIT_CONCURRENCY,
    **options: Any,
) -> uvicorn.Config:
    """uvicorn's configuration for this server: the read timeouts, the keep-alive timeout and the
    connection limit above (tests shorten them), and `options` passed through."""
    protocol = type(
        "BoundedH11Protocol",
        (BoundedH11Protocol,),
        {"header_seconds": header_seconds, "body_seconds": body_seconds},
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        http=protocol,
        limit_concurrency=limit_concurrency,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        **options,
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build(
    data_dir: str = ".workflows",
    *,
    account: str = "123456789012",
    region: str = "us-east-1",
    resolver: Any = None,
    host: str = "127.0.0.1",
    credentials: dict[str, str] | None = None,
    clock: Any = None,
    substitutions: dict[str, Any] | None = None,
    uploads: Any = None,
    sources: dict[str, Any] | None = None,
    allowed_hosts: Iterable[str] = (),
    retention_days: float = RETENTION_DAYS,
) -> tuple[Any, StepFunctionsService]:
    """The ASGI app and its service. Off loopback, requests must be SigV4-signed with `credentials`.
    The web console is served at /console (`uploads`, `sources`: see `workflows.service.console.create_console`),
    on loopback only: it cannot sign requests, and its CSRF check is no authentication.
    Requests are answered for loopback Host names, `host` and `allowed_hosts` only."""
    loopback = is_loopback(host)
    if not loopback:
        check_credentials(host, credentials)
    store = Store(data_dir)
    service = StepFunctionsService(
        store,
        account=account,
        region=region,
        resolver=resolver,
        clock=clock,
        substitutions=substitutions,
        retention_days=retention_days,
    )
    console = create_console(service, uploads=uploads, sources=sources) if loopback else []
    app = create_app(
        service,
        require_auth=not loopback,
        credentials=credentials,
        routes=console,
        allowed_hosts=[host, *allowed_hosts],
    )
    return app, service


def check_credentials(host: str, credentials: dict[str, str] | None) -> None:
    """Refuse to serve off loopback without a key and a non-empty secret: with an empty secret anyone
    can compute the signature, so the server would look guarded and accept everyone."""
    if not credentials:
        raise ValueError(
            f"serving on {host} (not loopback) needs an access key id and its secret to check SigV4 signatures"
        )
    empty = sorted(key for key, secret in credentials.items() if not key or not secret)
    if empty:
        raise ValueError(
            f"serving on {host} (not loopback): the secret for access key id {empty[0]!r} is empty"
        )


def serve(
    host: str = "127.0.0.1",
    port: int = 8083,
    data_dir: str = ".workflows",
    *,
    account: str = "123456789012",
    region: str = "us-east-1",
    resolver: Any = None,
    credentials: dict[str, str] | None = None,
    log_level: str = "warning",
    integrations: list[Any] | None = None,
    allowed_hosts: Iterable[str] = (),
    retention_days: float = RETENTION_DAYS,
) -> None:
    """Serve until SIGINT/SIGTERM; RUNNING executions resume on the next start. `integrations` are
    task resolvers (AWS services, Lambda workers) asked after the service's own. `allowed_hosts`:
    Host names answered besides loopback's and `host` (the names clients reach a wildcard bind by)."""
    app, service = build(
        data_dir,
        account=account,
        region=region,
        resolver=resolver,
        host=host,
        credentials=credentials,
        allowed_hosts=allowed_hosts,
        retention_days=retention_days,
    )
    if integrations:
        from workflows.engine.resolvers import ChainResolver

        service.resolver = ChainResolver(service.resolver, *integrations)
    # A graceful stop waits this long for requests in flight (a GetActivityTask long poll can hold
    # one for a minute): SIGTERM ends the process within a few seconds whatever runs.
    config = server_config(app, host, port, log_level=log_level, timeout_graceful_shutdown=2)
    ListeningServer(config, service).run()


class ListeningServer(uvicorn.Server):
    """uvicorn that resumes the service's RUNNING executions only once its port is open: a restart
    answers the API first, whatever it resumes."""

    def __init__(self, config: uvicorn.Config, service: StepFunctionsService) -> None:
        super().__init__(config)
        service.defer_resume = True
        self.service = service

    async def startup(self, sockets: Any = None) -> None:
        # Evaluations that outgrow their slice of the event loop run on a worker thread
        # (workflows.engine.offload); a shorter switch interval hands the GIL back to the loop sooner.
        sys.setswitchinterval(0.001)
        await super().startup(sockets)
        if self.started:
            # What is alive now lives as long as the server (the app, botocore's service models, the
            # service). Every full garbage collection would scan it again, and executions trigger
            # them every few runs (their history events outlive the young generations): freezing it
            # took a full collection from 27 to 7 ms in the choice_loop benchmark.
            gc.collect()
            gc.freeze()
            self.service.resume_in_background()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8083)
    parser.add_argument("--data-dir", default=".workflows")
    args = parser.parse_args()
    serve(args.host, args.port, args.data_dir)
