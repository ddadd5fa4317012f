"""The Step Functions API on the wire: AWS JSON 1.0 over POST /, `X-Amz-Target: AWSStepFunctions.<Op>`.

Every request goes to `StepFunctionsService.call`; a `ServiceError` becomes AWS's error body
`{"__type": code, "message": ...}`. Bound to a non-loopback address the app requires SigV4-signed
requests, checked with botocore's own signer against the configured credentials: the credential
scope must be `<date>/<this server's region>/states/aws4_request` with the date of X-Amz-Date, the
signature must cover Host, Content-Type and every x-amz-* header sent, and it must be no more than
15 minutes from the server's clock.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from workflows.asl.budget import loads as loads_bounded
from workflows.asl.errors import ServiceError
from workflows.service.access import AccessGuard
from workflows.service.core import json_bytes
from workflows.service.service import StepFunctionsService

__all__ = ["create_app"]

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIX = "AWSStepFunctions."
SIGNING_NAME = "states"  # the service name in a SigV4 credential scope

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<headers>[^,]+),\s*Signature=(?P<sig>[0-9a-f]+)"
)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json_bytes(body, _default), status_code=status, media_type=CONTENT_TYPE)


def error_response(code: str, message: str, status: int = 400) -> Response:
    return _json_response({"__type": code, "message": message}, status)


class _Authorization(NamedTuple):
    """An Authorization header that passed the checks made before the body is read."""

    key: str
    secret: str
    region: str
    signed: list[str]
    signature: str
    amz_date: str


def _header_name(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


def _check_authorization(
    request: Request, credentials: dict[str, str], region: str
) -> Response | _Authorization:
    """What can be judged from the headers alone, before a byte of the body is read: AWS's error, or
    the parsed Authorization header. The scope must name this service and this server's region, and
    the signature must cover Host, Content-Type and every x-amz-* header the request carries (the
    SigV4 rules for canonical headers): otherwise a signature over `host;x-amz-date` alone could be
    replayed with another X-Amz-Target or body type."""
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
    signed = match["headers"].split(";")
    if "host" not in signed:
        return error_response(
            "IncompleteSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization.", 403
        )
    for name in sorted(set(request.headers)):
        if (name.startswith("x-amz-") or name == "content-type") and name not in signed:
            return error_response(
                "IncompleteSignatureException",
                f"'{_header_name(name)}' must be a 'SignedHeader' in the AWS Authorization.",
                403,
            )
    amz_date = request.headers.get("x-amz-date")
    if amz_date is None:
        return error_response(
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            f"Authorization={header}",
            403,
        )
    if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date):
        return error_response("IncompleteSignatureException", "Date must be in ISO-8601 'basic format'.", 403)
    if match["date"] != amz_date[:8]:
        return error_response(
            "InvalidSignatureException",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{match['date']}' != '{amz_date[:8]}', from '{amz_date}'.",
            403,
        )
    if match["service"] != SIGNING_NAME:
        return error_response(
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{SIGNING_NAME}'. ",
            403,
        )
    if match["region"] != region:
        return error_response(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region, not '{match['region']}'. ",
            403,
        )
    secret = credentials.get(match["key"])
    if not secret:  # an unknown key; an empty secret is refused at start, and never matches here
        return error_response(
            "UnrecognizedClientException", "The security token included in the request is invalid.", 403
        )
    return _Authorization(match["key"], secret, match["region"], signed, match["sig"], amz_date)


def _check_signature(request: Request, body: bytes, auth: _Authorization) -> Response | None:
    """None if `auth`'s signature is the one botocore's own signer computes over this request."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    # A header sent twice is signed as its values joined by commas, as the SigV4 canonical form says.
    headers = {h: ",".join(v.strip() for v in request.headers.getlist(h)) for h in auth.signed}
    aws_request = AWSRequest(method=request.method, url=str(request.url), data=body, headers=headers)
    aws_request.context["timestamp"] = auth.amz_date
    signer = SigV4Auth(
        Credentials(auth.key, auth.secret, request.headers.get("x-amz-security-token")),
        SIGNING_NAME,
        auth.region,
    )
    canonical = signer.canonical_request(aws_request)
    expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    # botocore signs the X-Amz-Content-SHA256 header's value as the payload hash: it must be the body's.
    claimed = request.headers.get("x-amz-content-sha256")
    body_ok = claimed is None or hmac.compare_digest(
        claimed.encode(), hashlib.sha256(body).hexdigest().encode()
    )
    if not hmac.compare_digest(expected, auth.signature) or not body_ok:
        return error_response(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
            "Access Key and signing method. Consult the service documentation for details.",
            403,
        )
    return _stale_signature(auth.amz_date)


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
    allowed_hosts: Iterable[str] = (),
) -> Starlette:
    """The ASGI app. `manage_service` starts the service (resuming executions) and closes it with the app.
    `routes` are served beside the API (the console: `workflows.service.console.create_console`).
    Every route answers only loopback Host names and `allowed_hosts`, and reads bodies only up to
    its cap (`workflows.service.access`)."""

    async def handle(request: Request) -> Response:
        target = request.headers.get("x-amz-target", "")
        auth: _Authorization | None = None
        if require_auth:
            # Judged on the headers first: an unsigned request costs no body read at all.
            checked = _check_authorization(request, credentials or {}, service.region)
            if isinstance(checked, Response):
                return checked
            auth = checked
        try:
            body = await request.body()
        except ClientDisconnect:  # gone, or cut off by the server's read timeout: no one to answer
            return Response(status_code=400)
        if auth is not None:
            denied = _check_signature(request, body, auth)
            if denied is not None:
                return denied
        if not target.startswith(TARGET_PREFIX):
            return error_response("UnknownOperationException", "")
        op = target[len(TARGET_PREFIX) :]
        try:
            # (a body nested past budget.MAX_DEPTH is refused before the parser recurses into it)
            params = loads_bounded(body) if body.strip() else {}
        except (ValueError, RecursionError):
            return error_response("SerializationException", "Malformed request body")
        try:
            # Encoded here, in the try: a value that cannot be written is our fault, answered as one.
            return _json_response(await service.call(op, params))
        except ServiceError as err:
            return error_response(err.code, err.message, err.status)
        except Exception:
            # The model check has already refused whatever the client could get wrong, so anything
            # else is ours: logged here, and never worded from the Python exception to the client.
            log.exception("internal error in %s", op)
            return error_response(
                "InternalFailure", "The request processing has failed because of an unknown error", 500
            )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_service:
            await service.start()
        try:
            yield
        finally:
            if manage_service:
                await service.close()

    return Starlette(
        routes=[Route("/", handle, methods=["POST"]), *routes],
        lifespan=lifespan,
        middleware=[Middleware(AccessGuard, allowed_hosts=list(allowed_hosts))],
    )
