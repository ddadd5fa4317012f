"""Runs the Step Functions API with uvicorn; SIGINT/SIGTERM drain requests and flush the store."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import Any

import uvicorn

from workflows.service.api import create_app
from workflows.service.console import create_console
from workflows.service.service import StepFunctionsService
from workflows.service.store import Store

__all__ = ["build", "check_credentials", "is_loopback", "serve"]

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
        store, account=account, region=region, resolver=resolver, clock=clock, substitutions=substitutions
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
    )
    if integrations:
        from workflows.engine.resolvers import ChainResolver

        service.resolver = ChainResolver(service.resolver, *integrations)
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, lifespan="on", timeout_graceful_shutdown=10
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8083)
    parser.add_argument("--data-dir", default=".workflows")
    args = parser.parse_args()
    serve(args.host, args.port, args.data_dir)
