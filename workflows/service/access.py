"""The server's front door: which Host names it answers, and how many body bytes it will read.

`AccessGuard` wraps the whole ASGI app (API, console pages, console JSON API, static files), so no
route can forget either check:

- **Host.** Only loopback names (`localhost`, `127.0.0.1`, `[::1]`, any port) and the names the
  server was configured with are answered; any other Host gets 403. A web page that rebinds its own
  DNS name to 127.0.0.1 reaches the socket, but its requests still carry its own name, so they
  stop here (DNS rebinding).
- **Body size.** A declared Content-Length over the route's cap is refused before a byte of the body
  is read; an undeclared (chunked) body is counted as it streams and refused at the cap, so memory
  never holds more than the cap whatever a client sends, signed or not.

Caps: AWS documents a hard quota of 1 MB for a whole Step Functions API request, headers included
("Maximum request size", Step Functions service quotas), and 1 MB for a definition. The API and the
console's JSON routes carry the same payloads (definitions, inputs, outputs), so they read at most
`MAX_API_BODY`: 1 MiB plus 64 KiB, a margin above anything AWS itself would take. The console's
upload route carries files, not API payloads: it reads at most `MAX_UPLOAD_BODY` (64 MiB); larger
files go through `workflows upload` or `aws s3 cp`, which upload in parts.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

__all__ = [
    "LOOPBACK_NAMES",
    "MAX_API_BODY",
    "MAX_UPLOAD_BODY",
    "UPLOAD_PATH",
    "AccessGuard",
    "host_name",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_API_BODY = 1024 * 1024 + 64 * 1024
MAX_UPLOAD_BODY = 64 * 1024 * 1024
UPLOAD_PATH = "/console/api/uploads"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
API_PATH = "/"


def host_name(value: str) -> str:
    """The name part of a Host header or a --host value, lower-cased, without its port; an IPv6
    literal keeps its brackets (`[::1]:8083` and `::1` both give `[::1]`)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end > 0 else value
    if value.count(":") > 1:  # a bare IPv6 literal, as --host takes it
        return f"[{value}]"
    name, _, _port = value.partition(":")
    return name.rstrip(".")


class AccessGuard:
    """ASGI middleware: refuse foreign Host names, and bodies over the route's cap while reading."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Iterable[str] = (),
        max_body: int = MAX_API_BODY,
        max_upload: int = MAX_UPLOAD_BODY,
    ) -> None:
        self.app = app
        self.allowed = LOOPBACK_NAMES | {host_name(h) for h in allowed_hosts if h}
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan: nothing to guard
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host", "")
        if host_name(host) not in self.allowed:
            names = ", ".join(sorted(self.allowed))
            await _refuse(
                scope,
                send,
                403,
                "InvalidHostHeader",
                f"Host {host!r} is not served here; use one of: {names}",
            )
            return
        cap = self.max_upload if scope.get("path") == UPLOAD_PATH else self.max_body
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await _refuse(scope, send, 400, "SerializationException", "Invalid Content-Length header")
                return
            if int(declared) > cap:
                await _refuse(scope, send, 413, *_too_large(cap))
                return
        await self._forward(scope, receive, send, cap)

    async def _forward(self, scope: Scope, receive: Receive, send: Send, cap: int) -> None:
        """Run the app with a receive that counts body bytes and stops at `cap`. Past the cap the app
        is told the client went away, whatever it then answers is dropped, and the 413 goes out."""
        seen = 0
        tripped = False
        started = False

        async def counted_receive() -> Message:
            nonlocal seen, tripped
            if tripped:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    tripped = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if tripped and not started:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not tripped:
                raise
        if tripped and not started:
            await _refuse(scope, send, 413, *_too_large(cap))


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers, first value of each name (as Starlette's `Request.headers.get`)."""
    found: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return found


def _too_large(cap: int) -> tuple[str, str]:
    return "RequestEntityTooLargeException", f"Request body must be at most {cap} bytes"


async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    """An error in the shape the route's clients read: AWS JSON 1.0 for the API, the console's own
    `{"error", "message"}` elsewhere."""
    if scope.get("path") == API_PATH and scope.get("method") == "POST":
        body = {"__type": code, "message": message}
        media = "application/x-amz-json-1.0"
    else:
        body = {"error": code, "message": message}
        media = "application/json"
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media.encode()),
                (b"content-length", str(len(payload)).encode()),
                # The message may echo the refused Host: never let a browser read it as anything else.
                (b"x-content-type-options", b"nosniff"),
                # The body was not read to its end: the connection cannot carry another request.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
