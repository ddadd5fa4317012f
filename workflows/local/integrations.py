"""Service integrations with real boto3 calls: any `aws-sdk:<service>:<action>`, and the optimized
`sns:publish`, `sqs:sendMessage`, `events:putEvents`, `dynamodb:getItem|putItem|updateItem|deleteItem`,
against configurable endpoints (moto on 127.0.0.1 by default, or real AWS).

Results and errors take the shapes Step Functions gives them:

- aws-sdk: output members PascalCase, timestamps ISO-8601, blobs and streams read as text;
  errors `<Service>.<Code>Exception` (Service as the Java SDK v2 names its client: `S3`, `DynamoDb`,
  `SecretsManager`, `Sfn`), `<Service>.<Service>Exception` when the code is not one the service
  models, cause `<message> (Service: S3, Status Code: 404, Request ID: ...)`.
- optimized: output plus `SdkHttpMetadata` / `SdkResponseMetadata`; errors `SNS.NotFoundException`,
  `SQS.AmazonSQSException`, `DynamoDB.ResourceNotFoundException`, cause
  `<message> (Service: AmazonSNS; Status Code: 404; Error Code: NotFound; Request ID: ...; Proxy: null)`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import boto3
import botocore.config
import botocore.exceptions
import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from workflows.asl.errors import ASLError
from workflows.engine.tasks import TaskRequest, resource_kind
from workflows.service.sdk_names import (
    _modeled_errors,
    _pascal,
    _service_id,
    _snake,
    boto3_service,
    sdk_service_name,
)

__all__ = ["AwsEndpoints", "ServiceIntegrationResolver", "boto3_service", "sdk_service_name"]

LOCAL_CREDENTIALS = ("testing", "testing")  # moto accepts any; never real ones


@dataclass(frozen=True)
class AwsEndpoints:
    """Where AWS calls go. `default` None means real AWS (boto3's own endpoint and credential chain).

    `services` overrides one service: {"stepfunctions": "http://127.0.0.1:8083"} points the SDK's
    Step Functions calls (and the Lambda workers' `AWS_ENDPOINT_URL_SFN`) at this engine."""

    default: str | None = None
    services: Mapping[str, str | None] = field(default_factory=dict)
    region: str = "us-east-1"
    account: str | None = None  # with a local endpoint: moto's account for these calls (x-moto-account-id)

    @classmethod
    def local(cls, port: int = 4566, *, host: str = "127.0.0.1", **kwargs: Any) -> AwsEndpoints:
        return cls(default=f"http://{host}:{port}", **kwargs)

    @property
    def is_local(self) -> bool:
        return self.default is not None

    def url(self, service: str) -> str | None:
        return self.services.get(service, self.default)

    def environment(self) -> dict[str, str]:
        """Variables that point an AWS SDK in a child process (a Lambda worker) at these endpoints."""
        env = {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        if self.default is not None:
            env["AWS_ENDPOINT_URL"] = self.default
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = LOCAL_CREDENTIALS
        for service, url in self.services.items():
            if url is not None:
                env[
                    "AWS_ENDPOINT_URL_" + _service_id(service).upper().replace(" ", "_").replace("-", "_")
                ] = url
        return env

    def client(self, service: str) -> Any:
        return _clients.get(self, service)


class _Clients:
    """One boto3 client per (endpoints, service), shared across threads (boto3 clients are thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[Any, ...], Any] = {}

    def get(self, endpoints: AwsEndpoints, service: str) -> Any:
        key = (
            endpoints.default,
            tuple(sorted(endpoints.services.items())),
            endpoints.region,
            endpoints.account,
            service,
        )
        with self._lock:
            client = self._cache.get(key)
            if client is None:
                client = self._cache[key] = _new_client(endpoints, service)
            return client


_clients = _Clients()


def _new_client(endpoints: AwsEndpoints, service: str) -> Any:
    config = botocore.config.Config(
        retries={"mode": "standard", "max_attempts": 3},
        parameter_validation=False,  # the service validates, and answers with its own message
        s3={"addressing_style": "path"} if endpoints.is_local else None,
    )
    kwargs: dict[str, Any] = {"region_name": endpoints.region, "config": config}
    url = endpoints.url(service)
    if url is not None:
        kwargs["endpoint_url"] = url
    if endpoints.is_local:
        kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"] = LOCAL_CREDENTIALS
    client = boto3.session.Session().client(service, **kwargs)
    if endpoints.is_local and endpoints.account:
        account = endpoints.account

        def add_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account

        client.meta.events.register("before-sign", add_account)
    return client


# ----- JSON <-> SDK shapes ---------------------------------------------------------------------------------


def _to_sdk(value: Any, shape: Shape | None) -> Any:
    """Step Functions' PascalCase JSON as the SDK's members (matched case-insensitively); nulls dropped."""
    if shape is None:
        return value
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        members = {name.lower(): name for name in shape.members}
        out = {}
        for key, item in value.items():
            if item is None:
                continue
            name = members.get(key.lower(), key)
            out[name] = _to_sdk(item, shape.members.get(name))
        return out
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [_to_sdk(v, shape.member) for v in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {k: _to_sdk(v, shape.value) for k, v in value.items()}
    if shape.type_name == "blob":
        if isinstance(value, str):
            return value.encode()
        if not isinstance(value, bytes | bytearray):
            return json.dumps(value, separators=(",", ":")).encode()
    if shape.type_name == "string" and isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return value


def _from_sdk(value: Any, shape: Shape | None) -> Any:
    """An SDK result as Step Functions' JSON: PascalCase members, ISO timestamps, text for blobs."""
    if isinstance(value, dict):
        if isinstance(shape, StructureShape):
            return {
                _pascal(k): _from_sdk(v, shape.members.get(k))
                for k, v in value.items()
                if k != "ResponseMetadata"
            }
        inner = shape.value if isinstance(shape, MapShape) else None
        return {k: _from_sdk(v, inner) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_from_sdk(v, shape.member if isinstance(shape, ListShape) else None) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "read"):
        value = value.read()
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(bytes(value)).decode()
    return value


# ----- the resolver ------------------------------------------------------------------------------------------

_OPTIMIZED: dict[str, tuple[str, str, str, set[str]]] = {
    # sfn service -> (boto3 service, error prefix, SDK v1 service name, actions)
    "sns": ("sns", "SNS", "AmazonSNS", {"publish"}),
    "sqs": ("sqs", "SQS", "AmazonSQS", {"sendMessage"}),
    "events": ("events", "EventBridge", "AmazonEventBridge", {"putEvents"}),
    "dynamodb": (
        "dynamodb",
        "DynamoDB",
        "AmazonDynamoDBv2",
        {"getItem", "putItem", "updateItem", "deleteItem"},
    ),
}

# What a Distributed Map reads and writes (ItemReader, ResultWriter): resource -> S3 operation.
_ITEM_IO = {
    "arn:aws:states:::s3:getObject": "GetObject",
    "arn:aws:states:::s3:listObjectsV2": "ListObjectsV2",
    "arn:aws:states:::s3:putObject": "PutObject",
}

# The headers AWS's SDK reports for each optimized integration's answer (SdkHttpMetadata).
_HEADERS = {
    "sns": ("text/xml", False),
    "sqs": ("application/x-amz-json-1.0", False),
    "events": ("application/x-amz-json-1.1", False),
    "dynamodb": ("application/x-amz-json-1.0", True),
}


class ServiceIntegrationResolver:
    """TaskResolver for `arn:aws:states:::aws-sdk:*` and the optimized SNS/SQS/EventBridge/DynamoDB tasks.

    Calls are blocking boto3 calls in a thread pool, so many executions can wait on AWS at once."""

    def __init__(self, endpoints: AwsEndpoints | None = None, *, max_workers: int = 16) -> None:
        self.endpoints = endpoints if endpoints is not None else AwsEndpoints.local()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="aws-sdk")

    def handles(self, request: TaskRequest) -> bool:
        if request.resource in _ITEM_IO:
            return True
        kind, service, action = resource_kind(request.resource)
        if kind != "service":
            return False
        if service.startswith("aws-sdk:"):
            return True
        spec = _OPTIMIZED.get(service)
        return spec is not None and action.split(".")[0] in spec[3]

    async def invoke(self, request: TaskRequest) -> Any:
        _, service, action = resource_kind(request.resource)
        action = action.split(".")[0]  # .waitForTaskToken: the interpreter waits for the token
        params = request.parameters if isinstance(request.parameters, dict) else {}
        loop = asyncio.get_running_loop()
        if request.resource in _ITEM_IO:
            return await loop.run_in_executor(self._pool, self._item_io_call, request.resource, params)
        if service.startswith("aws-sdk:"):
            return await loop.run_in_executor(
                self._pool,
                self._sdk_call,
                service[len("aws-sdk:") :],
                action,
                params,
                request.idempotency_token,
            )
        return await loop.run_in_executor(self._pool, self._optimized_call, service, action, params)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ----- aws-sdk:* -----

    def _sdk_call(
        self, sfn_service: str, action: str, params: dict[str, Any], idempotency_token: str | None = None
    ) -> Any:
        service = boto3_service(sfn_service)
        client = self.endpoints.client(service)
        operation = _operation(client, action)
        if operation is None:
            raise ASLError("States.Runtime", f"Unsupported aws-sdk action: {sfn_service}:{action}")
        kwargs = _to_sdk(params, operation.input_shape)
        if service == "s3":
            kwargs = _s3_copy_source(kwargs)
            if "Body" in kwargs and isinstance(params.get("Body"), str):
                # Step Functions sends a string Body as its JSON text (recorded: "text data" -> '"text data"').
                kwargs["Body"] = json.dumps(params["Body"]).encode()
        prefix = sdk_service_name(service)
        members = operation.input_shape.members if operation.input_shape is not None else {}
        if idempotency_token is not None:
            kwargs = _with_idempotency_token(kwargs, members, idempotency_token)
        unknown = sorted(key for key in kwargs if key not in members)
        if unknown:
            # A state without Parameters passes its whole input: say which fields the API does not take.
            raise ASLError(
                f"{prefix}.SdkClientException",
                f"{sfn_service}:{action} does not take the parameter(s) {', '.join(unknown)}",
            )
        try:
            result = getattr(client, _snake(operation.name))(**kwargs)
        except botocore.exceptions.ClientError as exc:
            raise _sdk_error(service, prefix, exc) from exc
        except (botocore.exceptions.BotoCoreError, ValueError, TypeError) as exc:
            raise ASLError(f"{prefix}.SdkClientException", str(exc)) from exc
        return _from_sdk(result, operation.output_shape)

    # ----- a Distributed Map's ItemReader and ResultWriter (see workflows/engine/item_io.py) -----

    def _item_io_call(self, resource: str, params: dict[str, Any]) -> Any:
        client = self.endpoints.client("s3")
        action = _ITEM_IO[resource]
        operation = _operation(client, action)
        assert operation is not None
        try:
            if action == "GetObject":
                kwargs = _to_sdk(params, operation.input_shape)
                body = client.get_object(**kwargs)["Body"].read()
                return body.decode("utf-8-sig")
            if action == "PutObject":
                return client.put_object(
                    Bucket=params["Bucket"], Key=params["Key"], Body=str(params["Body"]).encode()
                ).get("ETag")
            kwargs = _to_sdk(
                {k: v for k, v in params.items() if k != "ContinuationToken"}, operation.input_shape
            )
            objects: list[dict[str, Any]] = []
            for page in client.get_paginator("list_objects_v2").paginate(**kwargs):
                for entry in page.get("Contents", []):
                    objects.append(
                        {
                            "Etag": entry.get("ETag"),
                            "Key": entry.get("Key"),
                            "LastModified": int(entry["LastModified"].timestamp()),
                            "Size": entry.get("Size"),
                            "StorageClass": entry.get("StorageClass"),
                        }
                    )
            return objects
        except botocore.exceptions.ClientError as exc:
            raise _sdk_error("s3", "S3", exc) from exc
        except (botocore.exceptions.BotoCoreError, ValueError, TypeError, KeyError) as exc:
            raise ASLError("S3.SdkClientException", str(exc)) from exc

    # ----- optimized integrations -----

    def _optimized_call(self, sfn_service: str, action: str, params: dict[str, Any]) -> Any:
        service, prefix, v1_name, _ = _OPTIMIZED[sfn_service]
        client = self.endpoints.client(service)
        operation = _operation(client, action)
        assert operation is not None
        params = dict(params)
        for name in ("Message", "MessageBody"):  # JSON values are sent as their JSON text
            if params.get(name) is not None and not isinstance(params[name], str):
                params[name] = json.dumps(params[name], separators=(",", ":"))
        if sfn_service == "events":
            params["Entries"] = [_event_entry(e) for e in params.get("Entries") or []]
        kwargs = _to_sdk(params, operation.input_shape)
        try:
            result = getattr(client, _snake(operation.name))(**kwargs)
        except botocore.exceptions.ClientError as exc:
            raise _optimized_error(service, prefix, v1_name, exc) from exc
        except (botocore.exceptions.BotoCoreError, ValueError, TypeError) as exc:
            raise ASLError(f"{prefix}.SdkClientException", str(exc)) from exc
        request_id = str(result.get("ResponseMetadata", {}).get("RequestId") or "")
        if not _UUID.match(request_id):
            request_id = str(uuid.uuid4())  # moto's ids are not AWS-shaped; Content-Length depends on it
        output = _from_sdk(result, operation.output_shape)
        if sfn_service == "events" and output.get("FailedEntryCount"):
            raise ASLError("EventBridge.FailedEntry", json.dumps(output, separators=(",", ":")))
        output.update(_http_metadata(sfn_service, output, request_id))
        return output


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _operation(client: Any, action: str) -> OperationModel | None:
    model = client.meta.service_model
    wanted = action.lower()
    for name in model.operation_names:
        if name.lower() == wanted:
            return model.operation_model(name)  # type: ignore[no-any-return]
    return None


def _with_idempotency_token(
    kwargs: dict[str, Any], members: Mapping[str, Shape], token: str
) -> dict[str, Any]:
    """Fill the API's idempotency-token member (ClientToken, ClientRequestToken...: botocore's model
    marks it) when the state does not: derived from the attempt, so an attempt a restart interrupted
    and invokes again is recognised by the service as the same request, not done twice. (botocore
    would fill it with a random one.)"""
    for name, shape in members.items():
        if shape.metadata.get("idempotencyToken") and name not in kwargs:
            return {**kwargs, name: token}
    return kwargs


def _s3_copy_source(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Step Functions passes CopySource as the URL-encoded header value; boto3 would encode a string again."""
    source = kwargs.get("CopySource")
    if isinstance(source, str):
        path, _, query = source.lstrip("/").partition("?")
        bucket, _, key = path.partition("/")
        parsed: dict[str, str] = {"Bucket": unquote(bucket), "Key": unquote(key)}
        for part in query.split("&"):
            name, _, value = part.partition("=")
            if name == "versionId" and value:
                parsed["VersionId"] = unquote(value)
        kwargs = {**kwargs, "CopySource": parsed}
    return kwargs


def _event_entry(entry: Any) -> Any:
    if isinstance(entry, dict) and "Detail" in entry and not isinstance(entry["Detail"], str):
        return {**entry, "Detail": json.dumps(entry["Detail"], separators=(",", ":"))}
    return entry


def _error_parts(exc: botocore.exceptions.ClientError) -> tuple[str, str, int, str, str | None]:
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    headers = meta.get("HTTPHeaders", {})
    code = str(error.get("Code") or "Unknown")
    message = str(error.get("Message") or "")
    status = int(meta.get("HTTPStatusCode") or 400)
    request_id = str(meta.get("RequestId") or headers.get("x-amzn-requestid") or uuid.uuid4())
    extended = meta.get("HostId") or headers.get("x-amz-id-2")
    return code, message, status, request_id, extended


def _sdk_error(service: str, prefix: str, exc: botocore.exceptions.ClientError) -> ASLError:
    code, message, status, request_id, extended = _error_parts(exc)
    shape = _modeled_errors(service).get(code)
    if shape is None:
        name = f"{prefix}.{prefix}Exception"
    else:
        name = f"{prefix}.{shape if shape.endswith('Exception') else shape + 'Exception'}"
    cause = f"{message} (Service: {prefix}, Status Code: {status}, Request ID: {request_id}"
    if service == "s3":
        cause += f", Extended Request ID: {extended or uuid.uuid4().hex}"
    return ASLError(name, cause + ")")


def _optimized_error(
    service: str, prefix: str, v1_name: str, exc: botocore.exceptions.ClientError
) -> ASLError:
    code, message, status, request_id, _ = _error_parts(exc)
    shape = _modeled_errors(service).get(code)
    if shape is None:
        # The Java SDK v1 names only the errors a service models; the rest are Amazon<Service>Exception.
        name = f"{prefix}.{v1_name.removesuffix('v2')}Exception"
    else:
        name = f"{prefix}.{shape if shape.endswith('Exception') else shape + 'Exception'}"
    cause = (
        f"{message} (Service: {v1_name}; Status Code: {status}; Error Code: {code}; "
        f"Request ID: {request_id}; Proxy: null)"
    )
    return ASLError(name, cause)


def _http_metadata(sfn_service: str, output: dict[str, Any], request_id: str) -> dict[str, Any]:
    """SdkHttpMetadata/SdkResponseMetadata as the Java SDK reports AWS's answer."""
    content_type, dynamo = _HEADERS[sfn_service]
    if sfn_service == "sns":
        body_length = 294 - 72 + len(str(output.get("MessageId", ""))) + len(request_id)
    else:
        body_length = len(json.dumps(output, separators=(",", ":")).encode())
    length = str(body_length)
    date_text = datetime.now(tz=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    if dynamo:
        crc = str(_crc32(json.dumps(output, separators=(",", ":"))))
        headers = {
            "Server": "Server",
            "Connection": "keep-alive",
            "x-amzn-RequestId": request_id,
            "x-amz-crc32": crc,
            "Content-Length": length,
            "Date": date_text,
            "Content-Type": content_type,
        }
        all_headers: dict[str, Any] = {
            k: v if k in ("x-amzn-RequestId", "x-amz-crc32", "Date") else [v] for k, v in headers.items()
        }
        all_headers["Date"] = [date_text]
        all_headers["x-amzn-RequestId"] = [request_id]
        all_headers["x-amz-crc32"] = [crc]
    else:
        headers = {
            "connection": "keep-alive",
            "Content-Length": length,
            "Content-Type": content_type,
            "Date": date_text,
            "x-amzn-RequestId": request_id,
        }
        all_headers = {k: [v] for k, v in headers.items()}
    return {
        "SdkHttpMetadata": {"AllHttpHeaders": all_headers, "HttpHeaders": headers, "HttpStatusCode": 200},
        "SdkResponseMetadata": {"RequestId": request_id},
    }


def _crc32(text: str) -> int:
    import zlib

    return zlib.crc32(text.encode())
