"""The local AWS world: moto's server on 127.0.0.1, provisioned from template.yaml, and a bridge that turns
uploads to the input bucket into EventBridge "Object Created" events for the engine.

How S3 events reach the engine: moto delivers S3 -> EventBridge into its own rules, and an EventBridge
rule can target an SQS queue, so `S3EventBridgeBridge` creates a rule (source aws.s3, detail-type
Object Created, the buckets) that targets a queue of its own and long-polls that queue. This path was
chosen over S3 -> SQS notifications because the EventBridge event carries the object's version id
(the S3 notification record moto writes has none, and the execution name pins the version), and
because the same rule + queue work unchanged against real AWS. Events are then normalised to AWS's exact
shape (moto writes `time` as a number, `eTag`, a constant id and sequencer) and matched against the
template rule's own pattern (prefix, suffix, wildcard, ...) here, since moto's matcher knows fewer
operators. A message is deleted only after `on_event` returns, so a failing start is retried after the
visibility timeout and, after `max_receives`, lands in the rule's dead-letter queue as on AWS.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import inspect
import ipaddress
import json
import logging
import os
import socket
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workflows.local.integrations import AwsEndpoints
from workflows.local.template import RuleSpec, Stack

__all__ = [
    "LocalAws",
    "Provisioned",
    "S3EventBridgeBridge",
    "event_matches",
    "free_port",
    "provision",
    "start_input",
]

log = logging.getLogger(__name__)

_MOTO_EVENT_ID = "17793124-05d4-b198-2fde-7ededc63b103"
_MOTO_SEQUENCER = "617f08299329d189"
_REASONS = {
    "ObjectCreated": "PutObject",  # moto writes the event category, not the API; PutObject is the common case
    "Put": "PutObject",
    "Post": "POSTObject",
    "Copy": "CopyObject",
    "CompleteMultipartUpload": "CompleteMultipartUpload",
}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# ----- moto's server ----------------------------------------------------------------------------------------


def _moto_main() -> None:  # pragma: no cover - runs in the moto process, moto and werkzeug only
    """moto's server as `python -m moto.server` runs it, less what it pays for nothing: time (below)
    and memory that grew with every message and object (its model registry, SNS certificates). It
    exits when the process that started it is gone, killed without a stop(), instead of keeping the port.

    moto matches each request's Host against its service names by listing its package directory (a
    listdir and an isdir per service, a third of a small request's time); the list cannot change while
    the server runs, so it is read once. Werkzeug's one log line per request goes nowhere here. And a
    CopyObject hashed the bytes it copied again for the new object's ETag (7 ms for a 3.4 MiB photo);
    the copy takes the source's, which is the MD5 of the same bytes. SQS asks the clock through two
    datetime conversions and an import, several times per message of a queue on every send and receive
    (its attribute counts): the same clock is read with time.time(), which took most of moto's time out
    of a 1,000-file batch."""
    import base64
    import datetime
    import os
    import resource
    import signal
    import sys
    import threading
    import time
    import uuid
    from typing import Any  # noqa: F401 - the annotations below run: this source runs alone in moto

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.x509.oid import NameOID
    from moto import backends
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.common_models import BaseModel
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.s3.models import S3Backend
    from moto.sns.models import Subscription, sns_backends
    from moto.sqs import models as sqs_models
    from werkzeug.serving import make_server

    exact_unix_time, exact_unix_time_millis = sqs_models.unix_time, sqs_models.unix_time_millis

    def unix_time(dt: Any = None) -> float:  # seconds since the epoch, now unless given a (naive UTC) dt
        return time.time() if dt is None else exact_unix_time(dt)

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else exact_unix_time_millis(dt)

    sqs_models.unix_time, sqs_models.unix_time_millis = unix_time, unix_time_millis

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules

    copying = threading.local()  # the source's ETag while this thread's copy_object stores the new key
    put_object, copy_object = S3Backend.put_object, S3Backend.copy_object

    def put_keeping_etag(self: S3Backend, *args: Any, **kwargs: Any) -> Any:
        key = put_object(self, *args, **kwargs)
        etag = getattr(copying, "etag", None)
        if etag and getattr(key, "_etag", "") is None:
            key._etag = etag
        return key

    def copy_keeping_etag(self: S3Backend, src_key: Any, *args: Any, **kwargs: Any) -> Any:
        single_part = not getattr(src_key, "multipart", None)  # a multipart ETag is not an MD5
        copying.etag = getattr(src_key, "_etag", None) if single_part else None
        try:
            return copy_object(self, src_key, *args, **kwargs)
        finally:
            copying.etag = None

    S3Backend.put_object = put_keeping_etag  # type: ignore[assignment,method-assign]
    S3Backend.copy_object = copy_keeping_etag  # type: ignore[assignment,method-assign]

    def untracked(cls: type, *args: Any, **kwargs: Any) -> Any:
        return super(BaseModel, cls).__new__(cls)  # type: ignore[misc]

    # moto lists every model object it ever made (each SQS message, each S3 object and version, even
    # deleted) for its /moto-api/data.json dashboard, so none is ever freed: 4 KB per SNS message
    # through a queue. Nothing here reads the dashboard's contents (wait_ready only asks it to answer).
    BaseModel.__new__ = staticmethod(untracked)  # type: ignore[assignment,method-assign]

    def signing(self: Subscription) -> tuple[Any, str]:
        """The subscription's signing key and the name its certificate is served under, made once."""
        made = getattr(self, "_workflows_signing", None)
        if made is None:
            key = self.private_key()
            now = datetime.datetime.now(datetime.UTC)
            issuer = [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Amazon RSA 2048 M01"),
            ]
            cert = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")]))
                .issuer_name(x509.Name(issuer))
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=365))
                .sign(key, hashes.SHA256())
            )
            name = f"SimpleNotificationService-{uuid.uuid4().hex}.pem"
            # moto serves certificates at sns.<region>.amazonaws.com/<name>, from the default account.
            keys = sns_backends[DEFAULT_ACCOUNT_ID][self.topic.sns_backend.region_name]._message_public_keys
            keys[name] = cert.public_bytes(serialization.Encoding.PEM)
            made = (key, name)
            self._workflows_signing = made  # type: ignore[attr-defined]
        return made

    def get_post_data(
        self: Subscription,
        message: str,
        message_id: str,
        subject: str | None,
        message_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The envelope an SQS subscriber receives, signed as AWS documents SignatureVersion 2:
        SHA256withRSA over "name\\nvalue\\n" for Message, MessageId, Subject (if any), Timestamp,
        TopicArn and Type. moto made a certificate for each message and kept it (1.2 KB each, and a
        second RSA signature); SNS signs with one certificate for a long time."""
        key, name = signing(self)
        region = self.topic.sns_backend.region_name
        timestamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        signed = [("Message", message), ("MessageId", message_id)]
        if subject:
            signed.append(("Subject", subject))
        signed += [("Timestamp", timestamp), ("TopicArn", self.topic.arn), ("Type", "Notification")]
        text = "".join(f"{field}\n{value}\n" for field, value in signed)
        signature = key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
        data: dict[str, Any] = {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": self.topic.arn,
            "Message": message,
            "Timestamp": timestamp,
            "SignatureVersion": "2",
            "Signature": base64.b64encode(signature).decode("ascii"),
            "SigningCertURL": f"https://sns.{region}.amazonaws.com/{name}",
            "UnsubscribeURL": f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={self.arn}",
        }
        if subject:
            data["Subject"] = subject
        if message_attributes:
            data["MessageAttributes"] = message_attributes
        return data

    Subscription.get_post_data = get_post_data  # type: ignore[method-assign]

    class QuietHandler(MotoRequestHandler):
        def log_request(self, code: object = "-", size: object = "-") -> None:
            pass

    # S3 objects above MOTO_S3_DEFAULT_KEY_BUFFER_SIZE (LocalAws sets it) spill to unlinked temporary
    # files, one descriptor each while the object exists: the soft limit (often 1,024) would refuse
    # the second thousand photos, the hard limit (often 524,288) does not.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    parent = os.getppid()

    def exit_with_parent() -> None:  # the engine was killed (no stop()): its local AWS goes too
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=exit_with_parent, daemon=True).start()

    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(host, port, app, threaded=True, request_handler=QuietHandler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Ctrl-C reaches the whole process group: the engine stops its S3 bridge and then this process
    # (stop()), which otherwise died first and left the bridge's last poll failing with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    server.serve_forever()


_MOTO_BOOTSTRAP = textwrap.dedent(inspect.getsource(_moto_main)) + "\n_moto_main()\n"


# S3 objects larger than this are kept in a temporary file by moto's own process rather than in its
# memory (moto keeps up to 5 MiB of each object in memory by default: 9.4 MiB of RAM per 12 MP upload
# once copied, so a folder of 1,000 photos would take 9 GB).
S3_MEMORY_BYTES = 256 * 1024


class LocalAws:
    """moto's server on 127.0.0.1, in a thread of this process (default) or in a process of its own.

    In its own process (`subprocess=True`, what `workflows dev` runs) moto's request handling, a few
    milliseconds of Python per request and more for megabytes of object data, runs beside the engine
    instead of taking turns with it for this process's GIL, and S3 objects over S3_MEMORY_BYTES are
    held in unlinked temporary files in `spool_dir` (default: the system's temporary directory), so
    memory does not grow with what is uploaded. `port=0` picks a free port. `endpoints` is what the
    resolvers, workers and provisioning use."""

    def __init__(
        self,
        port: int = 4566,
        *,
        host: str = "127.0.0.1",
        subprocess: bool = False,
        region: str = "us-east-1",
        spool_dir: str | None = None,
    ):
        self.host = host
        self.port = port if port else free_port(host)
        self.subprocess = subprocess
        self.region = region
        self.spool_dir = spool_dir
        self._server: Any = None
        self._process: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def endpoints(self, **services: str | None) -> AwsEndpoints:
        return AwsEndpoints(default=self.url, services=services, region=self.region)

    def start(self, timeout: float = 20.0) -> LocalAws:
        if self.subprocess:
            import subprocess
            import sys

            env = {
                **os.environ,
                "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(S3_MEMORY_BYTES),
                # Each request thread's megabyte buffers otherwise stay in its own malloc arena once
                # freed: moto grew 370 MiB over 400 photo uploads with the default arenas, 170-200 MiB
                # with two, at the same throughput.
                "MALLOC_ARENA_MAX": "2",
            }
            if self.spool_dir is not None:
                os.makedirs(self.spool_dir, exist_ok=True)
                env["TMPDIR"] = self.spool_dir  # where Python's tempfile, and so moto, spills objects
            self._process = subprocess.Popen(
                [sys.executable, "-c", _MOTO_BOOTSTRAP, self.host, str(self.port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        else:
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
            self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
            self._server.start()
        self.wait_ready(timeout)
        return self

    @property
    def pid(self) -> int | None:
        """The moto process's id when it runs as a subprocess (None in a thread of this process)."""
        return self._process.pid if self._process is not None else None

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self._process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"moto did not answer on {self.url} within {timeout}s")
            time.sleep(0.05)

    def reset(self) -> None:
        """Forget every resource (moto's /moto-api/reset)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=5):
            pass

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except Exception:
                self._process.kill()
            self._process = None

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ----- provisioning ---------------------------------------------------------------------------------------


@dataclass
class Provisioned:
    """What provisioning created: logical id -> name/ARN/URL as the endpoints answer to them."""

    buckets: dict[str, str] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> queue URL
    subscriptions: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # logical id -> the key id the endpoint made


def provision(stack: Stack, endpoints: AwsEndpoints) -> Provisioned:
    """Create the template's buckets, topics, queues, subscriptions (with filter policies) and KMS keys.

    Idempotent: creating what exists is a no-op on these APIs. Meant for the local endpoints; on real
    AWS the stack is deployed with `sam deploy` and only the bridge runs."""
    out = Provisioned()
    kms = endpoints.client("kms")
    for key in stack.keys.values():
        key_id = kms.create_key(Description=f"{stack.stack_name} {key.logical_id}")["KeyMetadata"]["KeyId"]
        out.keys[key.logical_id] = key_id
        for alias in key.aliases:
            with contextlib.suppress(kms.exceptions.AlreadyExistsException):
                kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    s3 = endpoints.client("s3")
    for bucket in stack.buckets.values():
        kwargs: dict[str, Any] = {"Bucket": bucket.name}
        if endpoints.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": endpoints.region}
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(**kwargs)
        if bucket.versioned:
            s3.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})
        if bucket.eventbridge:
            s3.put_bucket_notification_configuration(
                Bucket=bucket.name, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
        out.buckets[bucket.logical_id] = bucket.name
    sns = endpoints.client("sns")
    for topic in stack.topics.values():
        attributes = {"FifoTopic": "true"} if topic.fifo else {}
        out.topics[topic.logical_id] = sns.create_topic(Name=topic.name, Attributes=attributes)["TopicArn"]
    sqs = endpoints.client("sqs")
    for queue in stack.queues.values():
        attributes = {"FifoQueue": "true"} if queue.fifo else {}
        out.queues[queue.logical_id] = sqs.create_queue(QueueName=queue.name, Attributes=attributes)[
            "QueueUrl"
        ]
    for sub in stack.subscriptions.values():
        attributes = {"FilterPolicyScope": sub.filter_policy_scope}
        if sub.raw_message_delivery:
            attributes["RawMessageDelivery"] = "true"
        if sub.filter_policy is not None:
            attributes["FilterPolicy"] = json.dumps(sub.filter_policy)
        response = sns.subscribe(
            TopicArn=sub.topic_arn,
            Protocol=sub.protocol,
            Endpoint=sub.endpoint,
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )
        out.subscriptions[sub.logical_id] = response["SubscriptionArn"]
    return out


# ----- EventBridge patterns -----------------------------------------------------------------------------------


def event_matches(pattern: Any, event: Any) -> bool:
    """EventBridge content filtering: exact values, prefix, suffix, wildcard, anything-but, exists,
    equals-ignore-case, numeric, cidr, $or."""
    if not isinstance(pattern, dict):
        return False
    for key, rule in pattern.items():
        if key == "$or":
            if not any(event_matches(p, event) for p in rule):
                return False
            continue
        present = isinstance(event, dict) and key in event
        value = event.get(key) if isinstance(event, dict) else None
        if isinstance(rule, dict):
            if not present or not event_matches(rule, value):
                return False
            continue
        values = value if isinstance(value, list) else [value]
        if not any(_matches_one(r, v, present) for r in rule for v in values):
            return False
    return True


def _matches_one(rule: Any, value: Any, present: bool) -> bool:
    if not isinstance(rule, dict):
        return present and rule == value
    ((op, arg),) = rule.items()
    if op == "exists":
        return present is bool(arg)
    if not present:
        return False
    if op == "prefix":
        if isinstance(arg, dict):
            return isinstance(value, str) and value.lower().startswith(str(arg["equals-ignore-case"]).lower())
        return isinstance(value, str) and value.startswith(arg)
    if op == "suffix":
        if isinstance(arg, dict):
            return isinstance(value, str) and value.lower().endswith(str(arg["equals-ignore-case"]).lower())
        return isinstance(value, str) and value.endswith(arg)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(arg).lower()
    if op == "wildcard":
        return isinstance(value, str) and fnmatch.fnmatchcase(value, str(arg).replace("[", "[[]"))
    if op == "anything-but":
        if isinstance(arg, dict):
            return not _matches_one(arg, value, present)
        excluded = arg if isinstance(arg, list) else [arg]
        return value not in excluded
    if op == "numeric":
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        checks = {
            "<": float.__lt__,
            "<=": float.__le__,
            "=": float.__eq__,
            ">": float.__gt__,
            ">=": float.__ge__,
        }
        return all(checks[arg[i]](float(value), float(arg[i + 1])) for i in range(0, len(arg), 2))
    if op == "cidr":
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(arg, strict=False)
        except ValueError:
            return False
    return False


# ----- S3 -> EventBridge -> the engine ------------------------------------------------------------------------

OnEvent = Callable[[dict[str, Any]], Awaitable[Any] | Any]


def start_input(event: dict[str, Any], *, prefix: str = "s3") -> tuple[str, dict[str, Any]]:
    """(execution name, execution input) for an "Object Created" event, as the starter Lambda computes them."""
    from tasks.starter.starter.naming import execution_name, object_ref_from_eventbridge

    ref = object_ref_from_eventbridge(event)
    name = execution_name(ref["bucket"], ref["key"], ref["versionId"], ref["sequencer"], prefix=prefix)
    return name, dict(ref)


class S3EventBridgeBridge:
    """Every object created in the rules' buckets becomes an EventBridge "Object Created" event, matched
    against each rule's pattern and handed to `on_event(event)` (sync or async) once per match."""

    def __init__(
        self,
        endpoints: AwsEndpoints,
        rules: Iterable[RuleSpec],
        on_event: OnEvent,
        *,
        name: str = "workflows-local-s3-events",
        account: str = "123456789012",
        wait_seconds: int = 1,
        visibility_timeout: int = 5,
        max_receives: int = 10,
        dead_letter_arn: str | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.rules = [r for r in rules if _is_s3_object_created(r.pattern)]
        self.on_event = on_event
        self.name = name
        self.account = account
        self.wait_seconds = wait_seconds
        self.visibility_timeout = visibility_timeout
        self.max_receives = max_receives
        self.dead_letter_arn = dead_letter_arn or next(
            (r.dead_letter_arn for r in self.rules if r.dead_letter_arn), None
        )
        self.queue_url: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @classmethod
    def for_stack(
        cls, stack: Stack, endpoints: AwsEndpoints, on_event: OnEvent, **kwargs: Any
    ) -> S3EventBridgeBridge:
        kwargs.setdefault("name", f"{stack.stack_name}-s3-events")
        kwargs.setdefault("account", stack.account)
        return cls(endpoints, stack.rules.values(), on_event, **kwargs)

    def buckets(self) -> list[str]:
        names: list[str] = []
        for rule in self.rules:
            for name in (rule.pattern.get("detail", {}).get("bucket", {}) or {}).get("name", []):
                if isinstance(name, str) and name not in names:
                    names.append(name)
        return names

    def setup(self) -> str:
        """Create the queue and the EventBridge rule targeting it (idempotent); returns the queue URL."""
        sqs = self.endpoints.client("sqs")
        attributes = {"VisibilityTimeout": str(self.visibility_timeout)}
        if self.dead_letter_arn:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": self.dead_letter_arn, "maxReceiveCount": str(self.max_receives)}
            )
        url = sqs.create_queue(QueueName=self.name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        detail: dict[str, Any] = {}
        if self.buckets():
            detail = {"detail": {"bucket": {"name": self.buckets()}}}
        events = self.endpoints.client("events")
        events.put_rule(
            Name=self.name,
            EventPattern=json.dumps({"source": ["aws.s3"], "detail-type": ["Object Created"], **detail}),
            State="ENABLED",
        )
        events.put_targets(Rule=self.name, Targets=[{"Id": "engine", "Arn": arn}])
        self.queue_url = url
        return url

    async def start(self) -> None:
        if self.queue_url is None:
            await asyncio.to_thread(self.setup)
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="s3-eventbridge-bridge")

    async def stop(self) -> None:
        """Finish the poll in flight (at most `wait_seconds`) and stop."""
        self._stopping = True
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.wait_seconds + 5)
            except TimeoutError:
                self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("polling %s failed; retrying", self.name)
                await asyncio.sleep(1)

    async def poll_once(self, wait_seconds: int | None = None) -> int:
        """Receive one batch; hand each matching event to on_event. Returns the number of events handed over."""
        if self.queue_url is None:
            await asyncio.to_thread(self.setup)
        assert self.queue_url is not None
        sqs = self.endpoints.client("sqs")
        response = await asyncio.to_thread(
            sqs.receive_message,
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=self.wait_seconds if wait_seconds is None else wait_seconds,
            MessageSystemAttributeNames=["SentTimestamp"],
        )
        messages = response.get("Messages", [])
        # The batch's events start their executions at once (each a starter invocation and a
        # StartExecution); one DeleteMessageBatch then drops those that were handed over.
        outcomes = await asyncio.gather(*(self._hand_over(message) for message in messages))
        done = [message for message, (ok, _) in zip(messages, outcomes, strict=True) if ok]
        if done:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
            await asyncio.to_thread(sqs.delete_message_batch, QueueUrl=self.queue_url, Entries=entries)
        return sum(handed for _, handed in outcomes)

    async def _hand_over(self, message: dict[str, Any]) -> tuple[bool, int]:
        """(whether the message may be deleted, how many rules' on_event took its event)."""
        try:
            event = normalise_event(json.loads(message["Body"]), message, self.account)
        except (ValueError, KeyError, TypeError):
            log.warning("dropping a message that is not an S3 EventBridge event")
            return True, 0
        ok, handed = True, 0
        for rule in self.rules:
            if not event_matches(rule.pattern, event):
                continue
            try:
                result = self.on_event(event)
                if inspect.isawaitable(result):
                    await result
                handed += 1
            except Exception:
                ok = False  # left on the queue: redelivered after the visibility timeout, then DLQ
                log.exception(
                    "on_event failed for s3://%s/%s",
                    event["detail"]["bucket"]["name"],
                    event["detail"]["object"]["key"],
                )
        return ok, handed


def _is_s3_object_created(pattern: dict[str, Any]) -> bool:
    return "aws.s3" in (pattern.get("source") or []) and "Object Created" in (
        pattern.get("detail-type") or []
    )


def normalise_event(
    event: dict[str, Any], message: dict[str, Any] | None = None, account: str = "123456789012"
) -> dict[str, Any]:
    """An S3 "Object Created" event in the exact shape EventBridge delivers it; moto's quirks corrected."""
    message = message or {}
    detail = dict(event["detail"])
    obj = dict(detail["object"])
    # moto copied AWS's documentation example for its constants (id, sequencer, request id, IP): only
    # an event moto wrote (numeric time, `eTag`) has them replaced; a real event passes unchanged.
    from_moto = not isinstance(event.get("time"), str) or "eTag" in obj
    sent_ms = int((message.get("Attributes") or {}).get("SentTimestamp") or time.time() * 1000)
    message_id = str(message.get("MessageId") or uuid.uuid4())
    digest = hashlib.sha256(message_id.encode()).hexdigest()
    if "eTag" in obj and "etag" not in obj:
        obj["etag"] = obj.pop("eTag")
    version_id = obj.pop("version-id", None)
    sequencer = obj.pop("sequencer", None)
    if not sequencer or (from_moto and sequencer == _MOTO_SEQUENCER):
        sequencer = f"{sent_ms:012X}{digest[:6].upper()}"  # unique per write, stable across redelivery
    normal_obj: dict[str, Any] = {"key": obj["key"], "size": obj.get("size"), "etag": obj.get("etag")}
    if version_id and version_id != "null":
        normal_obj["version-id"] = version_id
    normal_obj["sequencer"] = sequencer
    when = event.get("time")
    if not isinstance(when, str):
        stamp = float(when) if isinstance(when, int | float) else sent_ms / 1000
        when = datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event_id = event.get("id")
    if not event_id or (from_moto and event_id == _MOTO_EVENT_ID):
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, message_id))
    request_id = detail.get("request-id")
    if not request_id or (from_moto and request_id == "N4N7GDK58NMKJ12R"):
        request_id = digest[6:22].upper()
    source_ip = detail.get("source-ip-address")
    if not source_ip or (from_moto and source_ip == "1.2.3.4"):
        source_ip = "127.0.0.1"
    reason = str(detail.get("reason", "PutObject"))
    bucket = detail["bucket"]["name"]
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": str(event.get("account") or account),
        "time": when,
        "region": str(event.get("region") or "us-east-1"),
        "resources": list(event.get("resources") or [f"arn:aws:s3:::{bucket}"]),
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": normal_obj,
            "request-id": request_id,
            "requester": str(detail.get("requester") or account),
            "source-ip-address": source_ip,
            "reason": _REASONS.get(reason, reason),
        },
    }
