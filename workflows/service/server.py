"""Runs the Step Functions API with uvicorn; SIGINT/SIGTERM drain requests and flush the store."""

from __future__ import annotations

import gc
import ipaddress
import logging
import sys
from collections.abc import Iterable
from typing import Any

import uvicorn

from workflows.service.api import create_app
from workflows.service.console import create_console
from workflows.service.service import RETENTION_DAYS, StepFunctionsService
from workflows.service.store import Store

__all__ = ["ListeningServer", "build", "check_credentials", "is_loopback", "serve"]

log = logging.getLogger(__name__)


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
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, lifespan="on", timeout_graceful_shutdown=2
    )
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
