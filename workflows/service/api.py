"""The Step Functions API on the wire: AWS JSON 1.0 over POST /, `X-Amz-Target: AWSStepFunctions.<Op>`.

Every request goes to `StepFunctionsService.call`; a `ServiceError` becomes AWS's error body
`{"__type": code, "message": ...}`. Bound to a non-loopback address the app requires SigV4-signed
requests, checked with botocore's own signer against the configured credentials.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import re
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from workflows.asl.budget import loads as loads_bounded
from workflows.asl.errors import ServiceError
from workflows.service.service import StepFunctionsService

__all__ = ["create_app"]

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIX = "AWSStepFunctions."

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<headers>[^,]+),\s*Signature=(?P<sig>[0-9a-f]+)"
)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json_response(body: dict[str, Any], status: int = 200) -> Response:
    text = json.dumps(body, default=_default, separators=(",", ":"), ensure_ascii=False)
    return Response(text, status_code=status, media_type=CONTENT_TYPE)


def error_response(code: str, message: str, status: int = 400) -> Response:
    return _json_response({"__type": code, "message": message}, status)


def _verify_sigv4(request: Request, body: bytes, credentials: dict[str, str], region: str) -> Response | None:
    """None if the request is signed with one of `credentials` (access key → secret), else AWS's error."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    header = request.headers.get("authorization")
    if not header:
        return error_response("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    match = _AUTH.match(header)
    if not match:
        return error_response(
            "IncompleteSignatureException",
            f"Authorization header requires 'Credential' parameter. Authorization={header}",
            403,
        )
    secret = credentials.get(match["key"])
    if secret is None:
        return error_response(
            "UnrecognizedClientException", "The security token included in the request is invalid.", 403
        )
    signed = match["headers"].split(";")
    url = str(request.url)
    aws_request = AWSRequest(
        method=request.method, url=url, data=body, headers={h: request.headers.get(h, "") for h in signed}
    )
    amz_date = request.headers.get("x-amz-date", "")
    aws_request.context["timestamp"] = amz_date
    signer = SigV4Auth(
        Credentials(match["key"], secret, request.headers.get("x-amz-security-token")),
        match["service"],
        match["region"],
    )
    canonical = signer.canonical_request(aws_request)
    expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    # botocore signs the X-Amz-Content-SHA256 header's value as the payload hash: it must be the body's.
    claimed = request.headers.get("x-amz-content-sha256")
    body_ok = claimed is None or hmac.compare_digest(
        claimed.encode(), hashlib.sha256(body).hexdigest().encode()
    )
    if not hmac.compare_digest(expected, match["sig"]) or not body_ok:
        return error_response(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
            "Access Key and signing method. Consult the service documentation for details.",
            403,
        )
    return _stale_signature(amz_date)


_SIGNATURE_WINDOW = timedelta(minutes=15)


def _stale_signature(amz_date: str, now: datetime | None = None) -> Response | None:
    """AWS refuses a signature dated more than 15 minutes from its clock: a captured request goes stale."""
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return error_response("IncompleteSignatureException", "Date must be in ISO-8601 'basic format'.", 403)
    now = now or datetime.now(tz=UTC)
    stamp = "%Y%m%dT%H%M%SZ"
    if signed_at < now - _SIGNATURE_WINDOW:
        earliest = (now - _SIGNATURE_WINDOW).strftime(stamp)
        return error_response(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than {earliest} ({now.strftime(stamp)} - 15 min.)",
            403,
        )
    if signed_at > now + _SIGNATURE_WINDOW:
        latest = (now + _SIGNATURE_WINDOW).strftime(stamp)
        return error_response(
            "InvalidSignatureException",
            f"Signature not yet current: {amz_date} is still later than {latest} ({now.strftime(stamp)} + 15 min.)",
            403,
        )
    return None


def create_app(
    service: StepFunctionsService,
    *,
    require_auth: bool = False,
    credentials: dict[str, str] | None = None,
    manage_service: bool = True,
    routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The ASGI app. `manage_service` starts the service (resuming executions) and closes it with the app.
    `routes` are served beside the API (the console: `workflows.service.console.create_console`)."""

    async def handle(request: Request) -> Response:
        target = request.headers.get("x-amz-target", "")
        body = await request.body()
        if require_auth:
            denied = _verify_sigv4(request, body, credentials or {}, service.region)
            if denied is not None:
                return denied
        if not target.startswith(TARGET_PREFIX):
            return error_response("UnknownOperationException", "")
        op = target[len(TARGET_PREFIX) :]
        try:
            # (a body nested past budget.MAX_DEPTH is refused before the parser recurses into it)
            params = loads_bounded(body) if body.strip() else {}
        except ValueError:
            return error_response("SerializationException", "Malformed request body")
        try:
            result = await service.call(op, params)
        except ServiceError as err:
            return error_response(err.code, err.message, err.status)
        except TypeError as err:  # a member the operation does not take
            log.debug("bad request for %s: %s", op, err)
            return error_response("SerializationException", str(err))
        except Exception:
            log.exception("internal error in %s", op)
            return error_response(
                "InternalFailure", "The request processing has failed because of an unknown error", 500
            )
        return _json_response(result)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_service:
            await service.start()
        try:
            yield
        finally:
            if manage_service:
                await service.close()

    return Starlette(routes=[Route("/", handle, methods=["POST"]), *routes], lifespan=lifespan)
