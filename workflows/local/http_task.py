"""The HTTP Task (`arn:aws:states:::http:invoke`): an HTTP API called with an EventBridge connection's
authorization, as the Developer Guide's "Call HTTPS APIs in Step Functions workflows" describes it.

The request is built from the state's `ApiEndpoint`, `Method`, `Headers`, `QueryParameters`,
`RequestBody` and `Transform`, merged with the connection's invocation parameters (the connection's
value wins on a clash of keys), and authorized by the connection (API key header, HTTP Basic, or an
OAuth client-credentials token). The result is `{Headers, ResponseBody, StatusCode, StatusText}`;
a non-2xx answer fails the state with `States.Http.StatusCode.<code>`.

What a definition can do to the server is bounded here:

- the exchange runs on a worker thread, never on the event loop, and ends after 60 s (AWS's hard
  quota for an HTTP Task) with `States.Http.Socket`: the socket is shut from the loop's side, so a
  hung or slow-dripping endpoint frees its thread at the deadline, and a cancelled task (TimeoutSeconds,
  StopExecution) frees it at once;
- at most 256 KiB of response body is read (AWS's `Range: bytes=0-262144`); a longer body, or a
  Content-Length that says so, fails the state with `States.DataLimitExceeded` without being buffered;
- redirects are not followed: a 3xx is a non-2xx answer like any other;
- the connection's secrets go into the request only: never into the state's parameters, output,
  error cause or a log line, and TestState shows them only with `revealSecrets`.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import botocore.exceptions

from workflows.asl import budget, errors
from workflows.asl.errors import ASLError
from workflows.asl.validation import HTTP_ARRAY_FORMATS, HTTP_BODY_ENCODINGS, HTTP_METHODS
from workflows.engine.tasks import TaskRequest, resource_kind
from workflows.local.integrations import AwsEndpoints

__all__ = ["HttpTaskResolver", "encode_form"]

# "HTTP Task duration — time to send an HTTP request and receive a response: 60 seconds (Hard quota)".
TIMEOUT_SECONDS = 60.0
# Step Functions asks for the first 256 KiB only (its Range header); the state's output cannot be
# larger anyway. A body past this fails the state: reading stops at this many bytes plus one.
MAX_RESPONSE_BYTES = 262144
RANGE = f"bytes=0-{MAX_RESPONSE_BYTES}"
# An OAuth token answer is a small JSON object.
MAX_TOKEN_BYTES = 64 * 1024
# AWS's cause field holds at most this many characters.
MAX_CAUSE_CHARS = 32768

SOCKET = "States.Http.Socket"
STATUS_PREFIX = "States.Http.StatusCode."
CONNECTION_PREFIX = "Events.ConnectionResource."

# Headers a definition may not set: the HTTP Task fails with States.Runtime.
FORBIDDEN_HEADERS = frozenset(
    name.lower()
    for name in [
        "A-IM",
        "Accept-Charset",
        "Accept-Datetime",
        "Accept-Encoding",
        "Authorization",
        "Cache-Control",
        "Connection",
        "Content-Encoding",
        "Content-MD5",
        "Date",
        "Expect",
        "Forwarded",
        "From",
        "Host",
        "HTTP2-Settings",
        "If-Match",
        "If-Modified-Since",
        "If-None-Match",
        "If-Range",
        "If-Unmodified-Since",
        "Max-Forwards",
        "Origin",
        "Pragma",
        "Proxy-Authorization",
        "Referer",
        "Server",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Via",
        "Warning",
    ]
)
FORBIDDEN_PREFIXES = ("x-forwarded-", "x-amz-", "x-amzn-")
# A response with one of these content types fails the state with States.Runtime.
UNSUPPORTED_TYPES = ("application/octet-stream",)
UNSUPPORTED_TYPE_PREFIXES = ("image/", "video/", "audio/")
# What TestState shows for a value the connection inserted, unless revealSecrets is set.
REDACTED = "<redacted>"


def _runtime(cause: str) -> ASLError:
    return ASLError(errors.RUNTIME, cause)


def _connection_error(name: str, cause: str) -> ASLError:
    return ASLError(CONNECTION_PREFIX + name, cause)


# ----- the connection ---------------------------------------------------------------------------------


@dataclass
class Connection:
    """What an EventBridge connection adds to a request: its authorization and invocation parameters.
    Every value is a secret of the connection (TestState redacts them all without revealSecrets)."""

    arn: str
    authorization_type: str
    api_key: tuple[str, str] | None = None
    basic: tuple[str, str] | None = None
    oauth: dict[str, Any] | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    query: list[tuple[str, str]] = field(default_factory=list)
    body: list[tuple[str, str]] = field(default_factory=list)


def _norm(value: Any) -> Any:
    """Keys compared without case or underscores: Secrets Manager holds the connection's parameters in
    snake_case (`api_key_value`, `o_auth_http_parameters`), the EventBridge API in PascalCase."""
    if isinstance(value, dict):
        return {str(k).replace("_", "").lower(): _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def _pairs(section: Any, name: str) -> list[tuple[str, str]]:
    items = section.get(name) if isinstance(section, dict) else None
    out = []
    for item in items or []:
        if isinstance(item, dict) and item.get("key") is not None:
            out.append((str(item["key"]), _text(item.get("value"))))
    return out


def connection_from(arn: str, description: Mapping[str, Any], secret: Mapping[str, Any]) -> Connection:
    """A Connection from DescribeConnection's answer and the connection's secret (its parameters with
    the secret values, which DescribeConnection leaves out)."""
    described = _norm(dict(description.get("AuthParameters") or {}))
    stored = _norm(dict(secret))
    kind = str(description.get("AuthorizationType") or "")
    connection = Connection(arn=arn, authorization_type=kind)
    if kind == "API_KEY":
        key = stored.get("apikeyauthparameters") or stored
        name = key.get("apikeyname") or (described.get("apikeyauthparameters") or {}).get("apikeyname")
        if not name or key.get("apikeyvalue") is None:
            raise _connection_error("AccessDenied", f"The secret of connection {arn} holds no API key.")
        connection.api_key = (str(name), _text(key["apikeyvalue"]))
    elif kind == "BASIC":
        basic = stored.get("basicauthparameters") or stored
        user = basic.get("username") or (described.get("basicauthparameters") or {}).get("username")
        if user is None or basic.get("password") is None:
            raise _connection_error("AccessDenied", f"The secret of connection {arn} holds no password.")
        connection.basic = (str(user), _text(basic["password"]))
    elif kind == "OAUTH_CLIENT_CREDENTIALS":
        oauth = stored.get("oauthparameters") or stored
        shown = described.get("oauthparameters") or {}
        client = oauth.get("clientparameters") or {}
        endpoint = oauth.get("authorizationendpoint") or shown.get("authorizationendpoint")
        if not endpoint or client.get("clientsecret") is None:
            raise _connection_error(
                "AccessDenied", f"The secret of connection {arn} holds no OAuth client secret."
            )
        extra = oauth.get("oauthhttpparameters") or shown.get("oauthhttpparameters") or {}
        connection.oauth = {
            "endpoint": str(endpoint),
            "method": str(oauth.get("httpmethod") or shown.get("httpmethod") or "POST").upper(),
            "client_id": _text(
                client.get("clientid") or (shown.get("clientparameters") or {}).get("clientid")
            ),
            "client_secret": _text(client["clientsecret"]),
            "headers": _pairs(extra, "headerparameters"),
            "query": _pairs(extra, "querystringparameters"),
            "body": _pairs(extra, "bodyparameters"),
        }
    invocation = stored.get("invocationhttpparameters") or described.get("invocationhttpparameters") or {}
    connection.headers = _pairs(invocation, "headerparameters")
    connection.query = _pairs(invocation, "querystringparameters")
    connection.body = _pairs(invocation, "bodyparameters")
    return connection


def _connection_name(arn: str) -> str | None:
    """`arn:aws:events:<region>:<account>:connection/<name>/<id>` -> name."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "events" or not parts[5].startswith("connection/"):
        return None
    name = parts[5].split("/")
    return name[1] if len(name) >= 2 and name[1] else None


def lookup_connection(endpoints: AwsEndpoints, arn: str) -> Connection:
    """The connection behind `arn`: DescribeConnection for its state and type, then the secret it keeps
    in Secrets Manager (SecretArn) for the values DescribeConnection does not return. Without those the
    request is not sent: the state fails with Events.ConnectionResource.AccessDenied."""
    name = _connection_name(arn)
    if name is None:
        raise _connection_error("ResourceNotFound", f"Invalid connection ARN: {arn}")
    try:
        description = endpoints.client("events").describe_connection(Name=name)
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise _connection_error("ResourceNotFound", f"Connection {arn} does not exist.") from None
        if code in ("AccessDeniedException", "AccessDenied"):
            raise _connection_error("AccessDenied", f"Not allowed to describe connection {arn}.") from None
        raise _connection_error("InternalError", f"DescribeConnection failed for {arn}: {code}") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise _connection_error("InternalError", f"DescribeConnection failed for {arn}: {exc}") from None
    if description.get("ConnectionArn") not in (None, arn):
        raise _connection_error("ResourceNotFound", f"Connection {arn} does not exist.")
    state = description.get("ConnectionState")
    if state == "AUTHORIZING":
        raise _connection_error("AuthInProgress", f"Connection {arn} is being authorized.")
    if state not in (None, "AUTHORIZED"):
        raise _connection_error("InvalidConnectionState", f"Connection {arn} is in state {state}.")
    secret_arn = description.get("SecretArn")
    secret: Any = None
    if secret_arn:
        try:
            text = (
                endpoints.client("secretsmanager").get_secret_value(SecretId=secret_arn).get("SecretString")
            )
            secret = json.loads(text) if isinstance(text, str) else None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, ValueError):
            secret = None
    if not isinstance(secret, dict):
        # Never the secret's content: only where it should have been.
        raise _connection_error(
            "AccessDenied",
            f"The credentials of connection {arn} could not be read from its secret {secret_arn}.",
        )
    return connection_from(arn, description, secret)


# ----- the request ---------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """One request as it goes on the wire, and the values in it that came from the connection."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes | None
    secrets: list[str] = field(default_factory=list)


def _text(value: Any) -> str:
    """A parameter value as text: strings as they are, other JSON as its JSON text."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _pairs_of(value: Any, name: str) -> list[tuple[str, Any]]:
    """Headers or QueryParameters: a JSON object, a JSON array of objects, or a string
    (`name: value` lines for headers, a query string for query parameters)."""
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list):
        pairs: list[tuple[str, Any]] = []
        for item in value:
            if not isinstance(item, dict):
                raise _runtime(f"The {name} field must be a JSON object, an array of objects or a string.")
            pairs.extend(item.items())
        return pairs
    if isinstance(value, str):
        if name == "QueryParameters":
            return list(parse_qsl(value.lstrip("?"), keep_blank_values=True))
        lines = [line for line in value.replace("\r\n", "\n").split("\n") if line.strip()]
        pairs = []
        for line in lines:
            key, sep, item = line.partition(":")
            if not sep:
                raise _runtime(f"The {name} field is not 'name: value' lines: {line!r}")
            pairs.append((key.strip(), item.strip()))
        return pairs
    raise _runtime(f"The {name} field must be a JSON object, an array of objects or a string.")


def _header_value(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if isinstance(value, dict):
        raise _runtime("A header value must be a string, a number, a boolean or an array of them.")
    return _text(value)


def _check_header(name: str, value: str) -> None:
    if not name or any(c in name for c in " \t\r\n:") or any(c in value for c in "\r\n\0"):
        raise _runtime(f"Invalid header: {name!r}")


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    return _text(value)


def encode_form(body: Mapping[str, Any], array_format: str = "INDICES") -> str:
    """A JSON object as `application/x-www-form-urlencoded` text. Nested objects are `key[sub]`; arrays
    follow `array_format`: INDICES `a[0]=x&a[1]=y`, REPEAT `a=x&a=y`, BRACKETS `a[]=x&a[]=y`, COMMAS
    `a=x,y`. Keys and values are percent-encoded (a space is %20, brackets %5B %5D); the commas that
    join COMMAS items stay literal, so a comma inside an item stays distinguishable (%2C)."""
    parts: list[str] = []

    def add(key: str, value: Any) -> None:
        if isinstance(value, dict):
            for sub, item in value.items():
                add(f"{key}[{sub}]", item)
        elif isinstance(value, list):
            scalars = all(not isinstance(v, dict | list) for v in value)
            if array_format == "COMMAS" and scalars:
                parts.append(quote(key, safe="") + "=" + ",".join(quote(_scalar(v), safe="") for v in value))
                return
            for index, item in enumerate(value):
                if array_format == "REPEAT":
                    add(key, item)
                elif array_format == "BRACKETS":
                    add(f"{key}[]", item)
                else:  # INDICES, and COMMAS for arrays that hold objects or arrays
                    add(f"{key}[{index}]", item)
        else:
            parts.append(quote(key, safe="") + "=" + quote(_scalar(value), safe=""))

    for key, value in body.items():
        add(str(key), value)
    return "&".join(parts)


def prepare(parameters: Any, connection: Connection, region: str) -> Prepared:
    """The request an HTTP Task sends: the state's fields merged with the connection's, authorized.

    Raises States.Runtime for what the Developer Guide says fails the task: a forbidden header, a string
    RequestBody with connection body parameters, an unknown method or encoding."""
    if not isinstance(parameters, dict):
        raise _runtime("The parameters of an HTTP Task must be a JSON object.")
    endpoint = parameters.get("ApiEndpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise _runtime("The field 'ApiEndpoint' must be a URL string.")
    split = urlsplit(endpoint)
    if split.scheme not in ("http", "https") or not split.hostname:
        raise _runtime(f"The ApiEndpoint must be an http(s) URL: {endpoint}")
    method = parameters.get("Method")
    if method not in HTTP_METHODS:
        raise _runtime(f"The field 'Method' should have one of these values: [{', '.join(HTTP_METHODS)}]")

    transform = parameters.get("Transform") or {}
    if not isinstance(transform, dict):
        raise _runtime("The field 'Transform' must be a JSON object.")
    encoding = transform.get("RequestBodyEncoding", "NONE")
    if encoding not in HTTP_BODY_ENCODINGS:
        raise _runtime(
            f"The field 'RequestBodyEncoding' should have one of these values: [{', '.join(HTTP_BODY_ENCODINGS)}]"
        )
    options = transform.get("RequestEncodingOptions") or {}
    array_format = options.get("ArrayFormat", "INDICES") if isinstance(options, dict) else None
    if array_format not in HTTP_ARRAY_FORMATS:
        raise _runtime(
            f"The field 'ArrayFormat' should have one of these values: [{', '.join(HTTP_ARRAY_FORMATS)}]"
        )

    # Headers: the definition's, then the connection's, which win on a clash (names without case).
    headers: dict[str, tuple[str, str]] = {}
    for name, value in _pairs_of(parameters.get("Headers"), "Headers"):
        name = str(name)
        text = _header_value(value)
        _check_header(name, text)
        lowered = name.lower()
        if lowered in FORBIDDEN_HEADERS or lowered.startswith(FORBIDDEN_PREFIXES):
            raise _runtime(f"The header '{name}' cannot be set in an HTTP Task definition.")
        headers[lowered] = (name, text)
    secrets: list[str] = []
    for name, text in connection.headers:
        _check_header(name, text)
        headers[name.lower()] = (name, text)
        secrets.append(text)

    # Query parameters: the connection's replace the definition's of the same name.
    query: list[tuple[str, str]] = []
    for name, value in _pairs_of(parameters.get("QueryParameters"), "QueryParameters"):
        if isinstance(value, list):
            query.extend((str(name), _scalar(v)) for v in value)
        else:
            query.append((str(name), _scalar(value)))
    if connection.query:
        replaced = {name for name, _ in connection.query}
        query = [(k, v) for k, v in query if k not in replaced] + list(connection.query)
        secrets.extend(v for _, v in connection.query)
    url_query = split.query
    if query:
        url_query = (url_query + "&" if url_query else "") + urlencode(query, quote_via=quote)
    url = urlunsplit((split.scheme, split.netloc, split.path or "/", url_query, ""))

    # The body: merged with the connection's body parameters first, then transformed and serialized.
    body_value = parameters.get("RequestBody")
    if connection.body:
        if body_value is not None and not isinstance(body_value, dict):
            raise _runtime(
                "The RequestBody cannot be merged with the connection's body parameters: it is not a JSON object."
            )
        body_value = {**(body_value or {}), **dict(connection.body)}
        secrets.extend(v for _, v in connection.body)
    body: bytes | None = None
    if body_value is not None:
        if isinstance(body_value, str):
            body = body_value.encode()
        elif encoding == "URL_ENCODED":
            if not isinstance(body_value, dict):
                raise _runtime("A URL_ENCODED RequestBody must be a JSON object.")
            body = encode_form(body_value, str(array_format)).encode()
        else:
            body = json.dumps(body_value, separators=(",", ":"), ensure_ascii=False).encode()
        if encoding == "NONE" and "content-type" not in headers:
            headers["content-type"] = ("Content-Type", "application/json; charset=UTF-8")

    # Step Functions sets these itself.
    headers["user-agent"] = ("User-Agent", f"Amazon|StepFunctions|HttpInvoke|{region}")
    headers["range"] = ("Range", RANGE)
    if connection.api_key is not None:
        name, value = connection.api_key
        _check_header(name, value)
        headers[name.lower()] = (name, value)
        secrets.append(value)
    elif connection.basic is not None:
        user, password = connection.basic
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["authorization"] = ("Authorization", f"Basic {token}")
        secrets.extend((token, password))
    return Prepared(str(method), url, list(headers.values()), body, secrets)


# ----- the exchange ---------------------------------------------------------------------------------------


class _Exchange:
    """The deadline of one HTTP Task's requests, and their sockets, which the event loop's side can shut
    from its thread: a read blocked in the worker thread then returns at once."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.aborted = False

    def timed_out(self) -> ASLError:
        return ASLError(SOCKET, f"The HTTP request did not complete within {self.timeout:g} seconds.")

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0 or self.aborted:
            raise self.timed_out()
        return left

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            aborted = self.aborted
        if aborted:
            raise self.timed_out()

    def release(self) -> None:
        """Close this call's sockets: nothing is kept alive between requests."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                # shut first: a file made from the socket (http.client's response) would keep it open
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@dataclass
class Response:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes


def _exchange(
    call: _Exchange, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes | None, limit: int
) -> Response:
    """Send one request and read its answer, within the call's deadline and `limit` bytes of body."""
    split = urlsplit(url)
    host = split.hostname or ""
    port = split.port or (443 if split.scheme == "https" else 80)
    connection: http.client.HTTPConnection | None = None
    try:
        sock = socket.create_connection((host, port), timeout=min(call.remaining(), TIMEOUT_SECONDS))
        call.attach(sock)
        if split.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            call.attach(sock)
        connection = http.client.HTTPConnection(host, port, timeout=call.remaining())
        connection.sock = sock
        target = urlunsplit(("", "", split.path or "/", split.query, ""))
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        elif method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", "0")
        sock.settimeout(call.remaining())
        connection.endheaders(body)
        sock.settimeout(call.remaining())
        response = connection.getresponse()
        length = response.getheader("Content-Length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            raise _TooLarge()
        _check_content_type(response.getheader("Content-Type"))
        sock.settimeout(call.remaining())
        data = response.read(limit + 1) if method != "HEAD" else b""
        call.remaining()
        if len(data) > limit:
            raise _TooLarge()
        version = "HTTP/1.0" if response.version == 10 else "HTTP/1.1"
        return Response(response.status, response.reason, version, list(response.getheaders()), data)
    except TimeoutError:
        raise call.timed_out() from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if call.aborted or time.monotonic() >= call.deadline:
            raise call.timed_out() from None
        raise ASLError(SOCKET, f"The HTTP request failed: {type(exc).__name__}: {exc}") from None
    finally:
        call.release()
        if connection is not None:
            connection.close()  # and the response it read: nothing is kept alive


class _TooLarge(Exception):
    pass


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _check_content_type(content_type: str | None) -> None:
    media = _media_type(content_type)
    if media in UNSUPPORTED_TYPES or media.startswith(UNSUPPORTED_TYPE_PREFIXES):
        raise _runtime(f"The HTTP response has an unsupported content type: {media}")


def _is_json(content_type: str | None) -> bool:
    media = _media_type(content_type)
    return media == "application/json" or media.endswith("+json")


def output_of(response: Response) -> dict[str, Any]:
    """The state's result: the response headers (each name with the list of its values), the body
    (parsed when the response says it is JSON), the status code and the reason phrase."""
    try:
        text = response.body.decode("utf-8")
    except UnicodeDecodeError:
        raise _runtime("The HTTP response body cannot be read as a valid string.") from None
    headers: dict[str, list[str]] = {}
    for name, value in response.headers:
        headers.setdefault(name, []).append(value)
    content_type = next((v for k, v in response.headers if k.lower() == "content-type"), None)
    body: Any = text
    if text and _is_json(content_type):
        try:
            body = budget.loads(text)
        except (ValueError, budget.TooDeep):
            body = text
    return {
        "Headers": headers,
        "ResponseBody": body,
        "StatusCode": response.status,
        "StatusText": response.reason,
    }


def _oauth_token(call: _Exchange, oauth: dict[str, Any]) -> str:
    """An access token for the connection's client credentials (RFC 6749, section 4.4): the client id
    and secret as HTTP Basic, grant_type and the connection's OAuth body parameters as a form."""
    credentials = base64.b64encode(f"{oauth['client_id']}:{oauth['client_secret']}".encode()).decode()
    headers = [
        ("Authorization", f"Basic {credentials}"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]
    headers.extend(oauth["headers"])
    form = urlencode([("grant_type", "client_credentials"), *oauth["body"]], quote_via=quote).encode()
    url = oauth["endpoint"]
    if oauth["query"]:
        url += ("&" if "?" in url else "?") + urlencode(oauth["query"], quote_via=quote)
    method = oauth["method"] if oauth["method"] in HTTP_METHODS else "POST"
    try:
        answer = _exchange(call, method, url, headers, form, MAX_TOKEN_BYTES)
    except _TooLarge:
        answer = None
    except ASLError as err:
        if err.error == SOCKET and call.aborted:
            raise
        answer = None
    token = None
    if answer is not None and 200 <= answer.status < 300:
        try:
            token = budget.loads(answer.body).get("access_token")
        except (ValueError, AttributeError, budget.TooDeep):
            token = None
    if not isinstance(token, str) or not token:
        status = f"HTTP {answer.status}" if answer is not None else "no answer"
        raise _connection_error(
            "InvalidConnectionState",
            f"The connection's OAuth authorization endpoint gave no access token ({status}).",
        )
    return token


def _cause(output: dict[str, Any]) -> str:
    text = json.dumps(output, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= MAX_CAUSE_CHARS else text[:MAX_CAUSE_CHARS]


def _trace_headers(headers: Iterable[tuple[str, str]], secrets: list[str], reveal: bool) -> str:
    lines = []
    for name, value in headers:
        if not reveal and any(s and s in value for s in secrets):
            value = REDACTED
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def _redact(text: str, secrets: list[str], reveal: bool) -> str:
    if reveal:
        return text
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED).replace(quote(secret, safe=""), REDACTED)
    return text


# ----- the resolver ----------------------------------------------------------------------------------------


class HttpTaskResolver:
    """TaskResolver for `arn:aws:states:::http:invoke`. The connection is looked up through `endpoints`
    (moto's EventBridge and Secrets Manager locally, or AWS); the call runs on this resolver's threads."""

    def __init__(
        self,
        endpoints: AwsEndpoints | None = None,
        *,
        max_workers: int = 32,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.endpoints = endpoints if endpoints is not None else AwsEndpoints.local()
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="http-task")
        self._active: set[_Exchange] = set()

    def handles(self, request: TaskRequest) -> bool:
        kind, service, action = resource_kind(request.resource)
        return kind == "service" and service == "http" and action == "invoke"

    async def invoke(self, request: TaskRequest) -> Any:
        call = _Exchange(self.timeout)
        self._active.add(call)
        future = asyncio.get_running_loop().run_in_executor(self._pool, self._call, call, request)
        # After a timeout or a cancellation nobody awaits the worker's outcome: take it, unlogged.
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            call.abort()
            raise call.timed_out() from None
        except BaseException:
            if not future.done():
                call.abort()  # the task was cancelled (TimeoutSeconds, StopExecution): free the thread now
            raise
        finally:
            self._active.discard(call)

    def close(self) -> None:
        for call in list(self._active):
            call.abort()  # a request in flight must not hold the process's exit for its 60 s
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _call(self, call: _Exchange, request: TaskRequest) -> Any:
        parameters = request.parameters
        arn = None
        if isinstance(parameters, dict):
            for name in ("InvocationConfig", "Authentication"):
                part = parameters.get(name)
                if isinstance(part, dict) and isinstance(part.get("ConnectionArn"), str):
                    arn = part["ConnectionArn"]
                    break
        if arn is None:
            raise _runtime(
                "An HTTP Task needs a connection: Authentication.ConnectionArn or InvocationConfig.ConnectionArn."
            )
        connection = lookup_connection(self.endpoints, arn)
        call.remaining()
        prepared = prepare(parameters, connection, request.execution.region or self.endpoints.region)
        if connection.oauth is not None:
            token = _oauth_token(call, connection.oauth)
            prepared.headers = [h for h in prepared.headers if h[0].lower() != "authorization"]
            prepared.headers.append(("Authorization", f"Bearer {token}"))
            prepared.secrets.append(token)
        trace = request.trace
        if trace is not None:
            reveal = request.reveal_secrets
            trace["request"] = {
                "protocol": "HTTP/1.1",
                "method": prepared.method,
                "url": _redact(prepared.url, prepared.secrets, reveal),
                "headers": _trace_headers(prepared.headers, prepared.secrets, reveal),
                "body": _redact((prepared.body or b"").decode("utf-8", "replace"), prepared.secrets, reveal),
            }
        try:
            response = _exchange(
                call, prepared.method, prepared.url, prepared.headers, prepared.body, MAX_RESPONSE_BYTES
            )
        except _TooLarge:
            raise ASLError(
                errors.DATA_LIMIT_EXCEEDED,
                f"The HTTP response body is larger than {MAX_RESPONSE_BYTES} bytes, the most a state's output can hold.",
            ) from None
        output = output_of(response)
        if trace is not None:
            trace["response"] = {
                "protocol": response.version,
                "statusCode": str(response.status),
                "statusMessage": response.reason,
                "headers": _trace_headers(response.headers, [], True),
                "body": response.body.decode("utf-8", "replace"),
            }
        if not 200 <= response.status < 300:
            raise ASLError(f"{STATUS_PREFIX}{response.status}", _cause(output))
        return output
