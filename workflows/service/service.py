"""The Step Functions service: every API operation, over the store and the interpreter.

The HTTP API (api.py) and the web console are two faces of this one class. Each operation is an
async method named after the AWS operation in snake_case, taking the request members as keyword
arguments with AWS's names and returning the response as a dict (timestamps as `datetime`):

    await service.describe_execution(executionArn=arn)
    await service.call("DescribeExecution", {"executionArn": arn})   # + generic request validation

Errors are raised as `ServiceError(code, message)` with AWS's codes and messages.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workflows.asl.errors import ASLError, DefinitionError, ServiceError
from workflows.engine.history import HistoryEvent, dumps
from workflows.service.api_model import service_model, validate_request
from workflows.service.store import EventWriter, Store

__all__ = ["MAX_HISTORY_EVENTS", "MAX_PAYLOAD", "ActivityResolver", "StepFunctionsService"]

MAX_HISTORY_EVENTS = 25_000
MAX_PAYLOAD = 256 * 1024
GET_ACTIVITY_TASK_WAIT = 60.0
REDRIVE_WINDOW = 14 * 24 * 3600

TERMINAL_EVENTS = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}

_ARN_PREFIX = re.compile(r"^arn:aws(-[a-z]+)*:states:")
# AWS: names may not hold whitespace, brackets, wildcards, these specials or control characters.
_ILLEGAL_NAME = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
_ALIAS_NAME = re.compile(r"^(?=.*[a-zA-Z_\-.])[a-zA-Z0-9_\-.]+$")
_ALIAS_PATTERN_TEXT = r"^(?=.*[a-zA-Z_\-\.])[a-zA-Z0-9_\-\.]+$"
# Java's enum-set order, which AWS's validation message shows.


def _now() -> float:
    return time.time()


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _snake(op: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower()


def valid_name(name: str) -> bool:
    return 1 <= len(name) <= 80 and not _ILLEGAL_NAME.search(name)


# -- JSON input errors in the words of AWS (Jackson) ----------------------------------------------


def _jackson_message(text: str) -> str:
    try:
        json.loads(text)
        return ""
    except json.JSONDecodeError as err:
        pos = err.pos
        ch = text[pos] if pos < len(text) else ""
        if err.msg.startswith("Expecting property name"):
            return f"Unexpected character ('{ch}' (code {ord(ch)})): was expecting double-quote to start field name"
        if err.msg == "Expecting value" and ch and (ch.isalpha() or ch == "_"):
            token = re.match(r"[A-Za-z_0-9]*", text[pos:]).group(0)  # type: ignore[union-attr]
            return (
                f"Unrecognized token '{token}': was expecting (JSON String, Number, Array, Object or token "
                "'null', 'true' or 'false')"
            )
        if ch:
            return f"Unexpected character ('{ch}' (code {ord(ch)})): expected a valid value"
        return "Invalid execution input."


def _parse_input(text: str | None) -> Any:
    if text is None:
        return {}
    if len(text.encode()) > MAX_PAYLOAD:
        raise ServiceError(
            "InvalidExecutionInput", "Invalid State Machine Execution Input: 'Input too large.'"
        )
    if not text.strip():
        raise ServiceError(
            "InvalidExecutionInput", "Invalid State Machine Execution Input: 'Invalid execution input.'"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ServiceError(
            "InvalidExecutionInput", f"Invalid State Machine Execution Input: '{_jackson_message(text)}'"
        )


# -- page tokens -------------------------------------------------------------------------------------


def _encode_token(offset: int | str, salt: str) -> str:
    raw = json.dumps({"o": offset, "s": salt}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str | None, salt: str) -> Any:
    if token is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["s"] != salt:
            raise ValueError
        return data["o"]
    except Exception:
        raise ServiceError("InvalidToken", "Invalid Token: 'Invalid token'")


def _page(
    items: list[Any], max_results: int | None, token: str | None, salt: str
) -> tuple[list[Any], str | None]:
    start = _decode_token(token, salt) or 0
    size = max_results or 100
    page = items[start : start + size]
    nxt = _encode_token(start + size, salt) if start + size < len(items) else None
    return page, nxt


# -- activities --------------------------------------------------------------------------------------


@dataclass
class _ActivityTask:
    token: str
    activity_arn: str
    input: str
    execution_arn: str
    future: asyncio.Future[Any] | None = None
    worker: str | None = None
    heartbeat: float = field(default_factory=_now)
    on_start: Any = None


class ActivityResolver:
    """Runs a Task whose Resource is an activity ARN: queues it for GetActivityTask and waits for the
    worker's SendTaskSuccess/Failure. The lead's resolver chain delegates activity ARNs here."""

    def __init__(self, service: StepFunctionsService) -> None:
        self.service = service

    @staticmethod
    def handles(request: Any) -> bool:
        from workflows.engine.interpreter import resource_kind

        return resource_kind(request.resource)[0] == "activity"

    async def invoke(self, request: Any) -> Any:
        svc = self.service
        resource = request.resource
        if svc.store.get_resource("activity", resource) is None:
            raise ASLError("States.Runtime", f"Activity does not exist: '{resource}'")
        token = getattr(request, "attempt_token", None) or uuid.uuid4().hex + uuid.uuid4().hex
        task = _ActivityTask(token, resource, dumps(request.parameters), request.execution.execution_arn)
        task.future = asyncio.get_running_loop().create_future()
        task.on_start = request.mark_started
        svc._activity_tasks[token] = task
        svc._activity_queue(resource).append(task)
        svc._wake_pollers(resource)
        heartbeat = request.heartbeat_seconds
        try:
            while True:
                timeout = None
                if heartbeat and task.worker is not None:
                    timeout = max(0.0, task.heartbeat + heartbeat - _now())
                try:
                    return await asyncio.wait_for(asyncio.shield(task.future), timeout if heartbeat else None)
                except TimeoutError:
                    if task.worker is None:
                        continue
                    if _now() >= task.heartbeat + heartbeat:
                        raise ASLError("States.HeartbeatTimeout", None)
        finally:
            svc._activity_tasks.pop(token, None)
            queue = svc._activity_queue(resource)
            if task in queue:
                queue.remove(task)


# -- the service ------------------------------------------------------------------------------------


class _Sink:
    """Where one execution's events go: queued for group commit, execution row updated on the end."""

    def __init__(self, service: StepFunctionsService, record: dict[str, Any], count: int = 0) -> None:
        self.service = service
        self.record = record
        self.count = count

    def emit(self, event: HistoryEvent) -> None:
        self.count += 1
        self.service.writer.add_event(self.record["executionArn"], event)
        status = TERMINAL_EVENTS.get(event.type)
        if status is not None:
            self.service._finish(self.record, status, event.timestamp, event.details or {})

    async def flush(self) -> None:
        await self.service.writer.flush()

    def map_run(self, record: dict[str, Any]) -> None:
        """A Distributed Map's Map Run started or ended: kept for ListMapRuns / DescribeMapRun."""
        self.service.record_map_run(record)


class StepFunctionsService:
    """Every Step Functions operation. See the module docstring for the calling convention."""

    def __init__(
        self,
        store: Store,
        *,
        account: str = "123456789012",
        region: str = "us-east-1",
        resolver: Any = None,
        clock: Any = None,
        substitutions: dict[str, Any] | None = None,
    ) -> None:
        from workflows.engine.clock import SystemClock

        self.store = store
        self.account = account
        self.region = region
        self.clock = clock or SystemClock()
        self.writer = EventWriter(store)
        self.activities = ActivityResolver(self)
        self.resolver = resolver if resolver is not None else self._default_resolver()
        self.substitutions = substitutions
        self._definitions: dict[str, Any] = {}
        self.callbacks: Any = None
        self._runs: dict[str, Any] = {}
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._activity_tasks: dict[str, _ActivityTask] = {}
        self._activity_queues: dict[str, deque[_ActivityTask]] = {}
        self._pollers: dict[str, asyncio.Event] = {}
        self._done_events: dict[str, asyncio.Event] = {}
        self._records: dict[str, dict[str, Any]] = {}  # the records of executions being run

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> int:
        """Start the writer and resume every RUNNING execution from its stored events."""
        self.writer.start()
        if self.callbacks is None:
            self.callbacks = self._make_callbacks()
        resumed = 0
        for record in self.store.running_executions():
            events = self.store.load_events(record["executionArn"])
            last = events[-1] if events else None
            if last is not None and last.type in TERMINAL_EVENTS:
                self._finish(record, TERMINAL_EVENTS[last.type], last.timestamp, last.details or {})
                continue
            self._launch(record, history=events)
            resumed += 1
        await self.writer.flush()
        return resumed

    async def close(self) -> None:
        """Stop accepting work; persist what is queued. RUNNING executions resume on next start."""
        for run in list(self._runs.values()):
            run.shutdown()  # ends without recording: not a StopExecution
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            try:
                await task
            except BaseException:
                pass
        await self.writer.stop()

    def _default_resolver(self) -> Any:
        from workflows.engine.nested import NestedExecutionResolver
        from workflows.engine.resolvers import ChainResolver

        return ChainResolver(self.activities, NestedExecutionResolver(self))

    def _make_callbacks(self) -> Any:
        try:
            from workflows.engine.interpreter import CallbackRegistry
        except ImportError:
            return None
        # One secret per data directory: task tokens derived from it stay valid across restarts.
        secret = self.store.get_meta("task_token_secret")
        if secret is None:
            secret = os.urandom(32).hex()
            with self.store.transaction():
                self.store.set_meta("task_token_secret", secret)
        return CallbackRegistry(secret=bytes.fromhex(secret))

    # -- dispatch ----------------------------------------------------------------------------------

    async def call(self, op: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run an operation by its AWS name after validating the request against botocore's model."""
        if op not in service_model().operation_names:
            raise ServiceError("UnknownOperationException", f"Unknown operation {op}")
        validate_request(op, params)
        method = getattr(self, _snake(op))
        return await method(**params)

    # -- ARNs --------------------------------------------------------------------------------------

    def _arn(self, kind: str, rest: str) -> str:
        return f"arn:aws:states:{self.region}:{self.account}:{kind}:{rest}"

    @staticmethod
    def _check_arn(arn: str) -> None:
        if not _ARN_PREFIX.match(arn):
            raise ServiceError("InvalidArn", f"Invalid Arn: 'Invalid ARN prefix: {arn}'")

    def _split_sm_arn(self, arn: str) -> tuple[str, str | None]:
        """(base state machine ARN, qualifier): `:7` is a version, `:name` an alias."""
        self._check_arn(arn)
        parts = arn.split(":")
        if len(parts) < 7 or parts[5] != "stateMachine":
            raise ServiceError(
                "InvalidArn",
                f"Invalid Arn: 'Resource type not valid in this context: {parts[5] if len(parts) > 5 else arn}'",
            )
        if len(parts) == 7:
            return arn, None
        return ":".join(parts[:7]), ":".join(parts[7:])

    def _sm(self, arn: str) -> dict[str, Any]:
        sm = self.store.get_resource("sm", arn)
        if sm is None:
            raise ServiceError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
        return sm

    def _execution(self, arn: str) -> dict[str, Any]:
        self._check_arn(arn)
        record = self.store.get_execution(arn)
        if record is None:
            raise ServiceError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
        return record

    # -- definitions -------------------------------------------------------------------------------

    def _validate_definition(self, definition: str, sm_type: str) -> None:
        from workflows.asl.validation import invalid_definition_message, validate_definition

        diagnostics = [
            d for d in validate_definition(definition, state_machine_type=sm_type) if d.severity == "ERROR"
        ]
        if diagnostics:
            raise ServiceError("InvalidDefinition", invalid_definition_message(diagnostics))

    @staticmethod
    def _check_logging(cfg: dict[str, Any] | None) -> dict[str, Any]:
        if cfg is None:
            return {"level": "OFF", "includeExecutionData": False}
        level = cfg.get("level", "OFF")
        destinations = cfg.get("destinations") or []
        if len(destinations) > 1 or (level != "OFF" and len(destinations) != 1):
            raise ServiceError(
                "InvalidLoggingConfiguration",
                "Invalid Logging Configuration: Must specify exactly one Log Destination.",
            )
        for d in destinations:
            group = (d.get("cloudWatchLogsLogGroup") or {}).get("logGroupArn", "")
            if not group.endswith(":*"):
                raise ServiceError(
                    "InvalidLoggingConfiguration", "Invalid Logging Configuration: Log Destination not found."
                )
        out = {"level": level, "includeExecutionData": bool(cfg.get("includeExecutionData", False))}
        if destinations:
            out["destinations"] = destinations
        return out

    # -- state machines ----------------------------------------------------------------------------

    async def create_state_machine(
        self,
        *,
        name: str,
        definition: str,
        roleArn: str,
        type: str = "STANDARD",
        loggingConfiguration: dict[str, Any] | None = None,
        tracingConfiguration: dict[str, Any] | None = None,
        tags: list[dict[str, str]] | None = None,
        publish: bool = False,
        versionDescription: str | None = None,
        encryptionConfiguration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if not valid_name(name):
            raise ServiceError("InvalidName", f"Invalid Name: '{name}'")
        if versionDescription is not None and not publish:
            raise ServiceError(
                "ValidationException", "Version description can only be set when publish is true"
            )
        self._validate_definition(definition, type)
        logging = self._check_logging(loggingConfiguration)
        arn = self._arn("stateMachine", name)
        existing = self.store.get_resource("sm", arn)
        if existing is not None:
            same = (
                existing["definition"] == definition
                and existing["roleArn"] == roleArn
                and existing["type"] == type
                and existing["loggingConfiguration"] == logging
            )
            if not same:
                raise ServiceError("StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'")
            out = {"stateMachineArn": arn, "creationDate": _dt(existing["creationDate"])}
            return out
        now = _now()
        sm = {
            "stateMachineArn": arn,
            "name": name,
            "type": type,
            "definition": definition,
            "roleArn": roleArn,
            "loggingConfiguration": logging,
            "tracingConfiguration": tracingConfiguration or {"enabled": False},
            "encryptionConfiguration": encryptionConfiguration or {"type": "AWS_OWNED_KEY"},
            "creationDate": now,
            "updateDate": now,
            "revisionId": None,
            "versionCounter": 0,
            "publishedRevision": None,
        }
        with self.store.transaction():
            self.store.put_resource("sm", arn, name, now, sm)
            if tags:
                self.store.put_tags(arn, [(t["key"], t["value"]) for t in tags])
            out = {"stateMachineArn": arn, "creationDate": _dt(now)}
            if publish:
                out["stateMachineVersionArn"] = self._publish(sm, versionDescription, now)
        return out

    def _publish(self, sm: dict[str, Any], description: str | None, now: float) -> str:
        revision = sm["revisionId"] or "initial"
        latest = sm.get("latestVersionArn")
        if sm.get("publishedRevision") == revision and latest and self.store.get_resource("version", latest):
            return latest
        sm["versionCounter"] += 1
        arn = f"{sm['stateMachineArn']}:{sm['versionCounter']}"
        version = {
            k: sm[k]
            for k in (
                "name",
                "type",
                "definition",
                "roleArn",
                "loggingConfiguration",
                "tracingConfiguration",
                "encryptionConfiguration",
                "revisionId",
            )
        }
        version.update(
            {
                "stateMachineArn": arn,
                "baseArn": sm["stateMachineArn"],
                "creationDate": now,
                "description": description,
                "version": sm["versionCounter"],
            }
        )
        sm["publishedRevision"] = revision
        sm["latestVersionArn"] = arn
        self.store.put_resource(
            "version", arn, str(sm["versionCounter"]), now, version, parent=sm["stateMachineArn"]
        )
        self.store.put_resource("sm", sm["stateMachineArn"], sm["name"], sm["creationDate"], sm)
        return arn

    async def describe_state_machine(
        self, *, stateMachineArn: str, includedData: str | None = None
    ) -> dict[str, Any]:
        base, qualifier = self._split_sm_arn(stateMachineArn)
        if qualifier is not None and not qualifier.isdigit():
            alias = await self.describe_state_machine_alias(stateMachineAliasArn=stateMachineArn)
            return alias  # AWS answers DescribeStateMachine on an alias ARN with the alias
        if qualifier is not None:
            record = self.store.get_resource("version", stateMachineArn)
            if record is None:
                raise ServiceError(
                    "StateMachineDoesNotExist", f"State Machine Does Not Exist: '{stateMachineArn}'"
                )
        else:
            record = self._sm(base)
        out = {
            "stateMachineArn": stateMachineArn,
            "name": record["name"],
            "status": "ACTIVE",
            "definition": record["definition"],
            "roleArn": record["roleArn"],
            "type": record["type"],
            "creationDate": _dt(record["creationDate"]),
            "loggingConfiguration": record["loggingConfiguration"],
            "tracingConfiguration": record["tracingConfiguration"],
            "encryptionConfiguration": record["encryptionConfiguration"],
            "revisionId": record.get("revisionId"),
            "description": record.get("description"),
            "variableReferences": self._variable_references(record["definition"]),
        }
        return _drop_none(out)

    @staticmethod
    def _variable_references(definition: str) -> dict[str, list[str]] | None:
        try:
            return variable_references(json.loads(definition)) or None
        except (ValueError, AttributeError, TypeError):
            return None

    async def update_state_machine(
        self,
        *,
        stateMachineArn: str,
        definition: str | None = None,
        roleArn: str | None = None,
        loggingConfiguration: dict[str, Any] | None = None,
        tracingConfiguration: dict[str, Any] | None = None,
        publish: bool = False,
        versionDescription: str | None = None,
        encryptionConfiguration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        base, qualifier = self._split_sm_arn(stateMachineArn)
        if qualifier is not None:
            raise ServiceError(
                "ValidationException", "Operation is not supported on a qualified state machine ARN"
            )
        if (
            definition is None
            and roleArn is None
            and loggingConfiguration is None
            and tracingConfiguration is None
            and encryptionConfiguration is None
        ):
            raise ServiceError(
                "MissingRequiredParameter",
                "Either the definition, the role ARN, the "
                "LoggingConfiguration, or the TracingConfiguration must be specified",
            )
        if versionDescription is not None and not publish:
            raise ServiceError(
                "ValidationException", "Version description can only be set when publish is true"
            )
        sm = self._sm(base)
        if definition is not None:
            self._validate_definition(definition, sm["type"])
        logging = self._check_logging(loggingConfiguration) if loggingConfiguration is not None else None
        changed = False
        for key, value in (
            ("definition", definition),
            ("roleArn", roleArn),
            ("loggingConfiguration", logging),
            ("tracingConfiguration", tracingConfiguration),
            ("encryptionConfiguration", encryptionConfiguration),
        ):
            if value is not None and sm[key] != value:
                sm[key] = value
                changed = True
        now = _now()
        if changed or sm["revisionId"] is None:
            sm["revisionId"] = str(uuid.uuid4())
            sm["updateDate"] = now
        out: dict[str, Any] = {"updateDate": _dt(sm["updateDate"]), "revisionId": sm["revisionId"]}
        with self.store.transaction():
            self.store.put_resource("sm", base, sm["name"], sm["creationDate"], sm)
            if publish:
                out["stateMachineVersionArn"] = self._publish(sm, versionDescription, now)
        return out

    async def delete_state_machine(self, *, stateMachineArn: str) -> dict[str, Any]:
        base, qualifier = self._split_sm_arn(stateMachineArn)
        if qualifier is not None:
            raise ServiceError("ValidationException", f"Invalid Arn: '{stateMachineArn}'")
        if self.store.get_resource("sm", base) is None:
            return {}
        with self.store.transaction():
            for kind in ("version", "alias"):
                for r in self.store.list_resources(kind, parent=base):
                    self.store.delete_resource(
                        r["stateMachineArn"] if kind == "version" else r["stateMachineAliasArn"]
                    )
            self.store.delete_resource(base)
        return {}

    async def list_state_machines(
        self, *, maxResults: int | None = None, nextToken: str | None = None
    ) -> dict[str, Any]:
        items = sorted(self.store.list_resources("sm"), key=lambda r: r["name"])
        page, nxt = _page(items, maxResults, nextToken, "sm")
        out = {
            "stateMachines": [
                {
                    "stateMachineArn": r["stateMachineArn"],
                    "name": r["name"],
                    "type": r["type"],
                    "creationDate": _dt(r["creationDate"]),
                }
                for r in page
            ]
        }
        return _drop_none({**out, "nextToken": nxt})

    async def describe_state_machine_for_execution(
        self, *, executionArn: str, includedData: str | None = None
    ) -> dict[str, Any]:
        record = self._execution(executionArn)
        sm = record["machine"]
        out = {
            "stateMachineArn": record["stateMachineArn"],
            "name": sm["name"],
            "definition": sm["definition"],
            "roleArn": sm["roleArn"],
            "updateDate": _dt(sm["updateDate"]),
            "loggingConfiguration": sm["loggingConfiguration"],
            "tracingConfiguration": sm["tracingConfiguration"],
            "encryptionConfiguration": sm.get("encryptionConfiguration"),
            "revisionId": sm.get("revisionId"),
            "mapRunArn": record.get("mapRunArn"),
            "variableReferences": self._variable_references(sm["definition"]),
        }
        return _drop_none(out)

    # -- versions ----------------------------------------------------------------------------------

    async def publish_state_machine_version(
        self, *, stateMachineArn: str, revisionId: str | None = None, description: str | None = None
    ) -> dict[str, Any]:
        base, _ = self._split_sm_arn(stateMachineArn)
        sm = self._sm(base)
        if (
            revisionId is not None
            and revisionId != (sm["revisionId"] or "INITIAL")
            and revisionId != sm["revisionId"]
        ):
            raise ServiceError(
                "ConflictException",
                f"Failed to publish the State Machine version for revision {revisionId}. "
                f"The current State Machine revision is {sm['revisionId']}.",
            )
        now = _now()
        with self.store.transaction():
            arn = self._publish(sm, description, now)
        version = self.store.get_resource("version", arn) or {}
        return {"stateMachineVersionArn": arn, "creationDate": _dt(version.get("creationDate", now))}

    async def list_state_machine_versions(
        self, *, stateMachineArn: str, nextToken: str | None = None, maxResults: int | None = None
    ) -> dict[str, Any]:
        base, _ = self._split_sm_arn(stateMachineArn)
        self._sm(base)
        items = sorted(self.store.list_resources("version", parent=base), key=lambda r: -r["version"])
        page, nxt = _page(items, maxResults, nextToken, "v:" + base)
        out = {
            "stateMachineVersions": [
                {"stateMachineVersionArn": r["stateMachineArn"], "creationDate": _dt(r["creationDate"])}
                for r in page
            ]
        }
        return _drop_none({**out, "nextToken": nxt})

    async def delete_state_machine_version(self, *, stateMachineVersionArn: str) -> dict[str, Any]:
        base, qualifier = self._split_sm_arn(stateMachineVersionArn)
        if qualifier is None or not qualifier.isdigit():
            raise ServiceError("ValidationException", f"Invalid Arn: '{stateMachineVersionArn}'")
        if self.store.get_resource("version", stateMachineVersionArn) is None:
            return {}
        users = [
            a["name"]
            for a in self.store.list_resources("alias", parent=base)
            if any(r["stateMachineVersionArn"] == stateMachineVersionArn for r in a["routingConfiguration"])
        ]
        if users:
            raise ServiceError(
                "ConflictException",
                "Version to be deleted must not be referenced by an alias. "
                f"Current list of aliases referencing this version: [{', '.join(users)}]",
            )
        with self.store.transaction():
            self.store.delete_resource(stateMachineVersionArn)
        return {}

    # -- aliases -----------------------------------------------------------------------------------

    def _check_routing(self, routing: list[dict[str, Any]]) -> str:
        arns = [r["stateMachineVersionArn"] for r in routing]
        bases = set()
        for arn in arns:
            self._check_arn(arn)
            base, qualifier = self._split_sm_arn(arn)
            if qualifier is None or not qualifier.isdigit():
                raise ServiceError(
                    "ValidationException",
                    "Routing configuration must contain state machine version "
                    f"ARNs. Received: [{', '.join(arns)}]",
                )
            bases.add(base)
        if len(set(arns)) != len(arns):
            raise ServiceError(
                "ValidationException",
                "Routing configuration must contain distinct state machine "
                f"version ARNs. Received: [{', '.join(arns)}]",
            )
        if len(bases) > 1:
            raise ServiceError(
                "ValidationException",
                "Routing configuration must contain state machine version "
                f"ARNs of the same state machine. Received: [{', '.join(arns)}]",
            )
        weights = [r["weight"] for r in routing]
        if sum(weights) != 100:
            raise ServiceError(
                "ValidationException",
                "Sum of routing configuration weights must equal 100. "
                f"Received: [{', '.join(map(str, weights))}]",
            )
        for arn in arns:
            if self.store.get_resource("version", arn) is None:
                raise ServiceError("ResourceNotFound", f"Resource not found: '{arn}'")
        return next(iter(bases))

    async def create_state_machine_alias(
        self, *, name: str, routingConfiguration: list[dict[str, Any]], description: str | None = None
    ) -> dict[str, Any]:
        if not _ALIAS_NAME.match(name):
            raise ServiceError(
                "ValidationException",
                f"1 validation error detected: Value '{name}' at 'name' failed "
                f"to satisfy constraint: Member must satisfy regular expression pattern: "
                f"{_ALIAS_PATTERN_TEXT}",
            )
        base = self._check_routing(routingConfiguration)
        self._sm(base)
        arn = f"{base}:{name}"
        existing = self.store.get_resource("alias", arn)
        if existing is not None:
            if (
                existing["routingConfiguration"] != routingConfiguration
                or existing.get("description") != description
            ):
                raise ServiceError(
                    "ConflictException",
                    "Failed to create alias because an alias with the same name "
                    "and a different routing configuration already exists.",
                )
            return {"stateMachineAliasArn": arn, "creationDate": _dt(existing["creationDate"])}
        now = _now()
        alias = {
            "stateMachineAliasArn": arn,
            "name": name,
            "description": description,
            "routingConfiguration": routingConfiguration,
            "creationDate": now,
            "updateDate": now,
        }
        with self.store.transaction():
            self.store.put_resource("alias", arn, name, now, alias, parent=base)
        return {"stateMachineAliasArn": arn, "creationDate": _dt(now)}

    def _alias(self, arn: str) -> dict[str, Any]:
        _base, qualifier = self._split_sm_arn(arn)
        alias = self.store.get_resource("alias", arn) if qualifier else None
        if alias is None:
            raise ServiceError("ResourceNotFound", f"Resource not found: '{arn}'")
        return alias

    async def describe_state_machine_alias(self, *, stateMachineAliasArn: str) -> dict[str, Any]:
        a = self._alias(stateMachineAliasArn)
        return _drop_none(
            {
                "stateMachineAliasArn": a["stateMachineAliasArn"],
                "name": a["name"],
                "description": a.get("description"),
                "routingConfiguration": a["routingConfiguration"],
                "creationDate": _dt(a["creationDate"]),
                "updateDate": _dt(a["updateDate"]),
            }
        )

    async def update_state_machine_alias(
        self,
        *,
        stateMachineAliasArn: str,
        description: str | None = None,
        routingConfiguration: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        a = self._alias(stateMachineAliasArn)
        if description is None and routingConfiguration is None:
            raise ServiceError(
                "ValidationException", "Either the description or the RoutingConfiguration must be specified"
            )
        if routingConfiguration is not None:
            self._check_routing(routingConfiguration)
            a["routingConfiguration"] = routingConfiguration
        if description is not None:
            a["description"] = description
        a["updateDate"] = _now()
        base, _ = self._split_sm_arn(stateMachineAliasArn)
        with self.store.transaction():
            self.store.put_resource(
                "alias", a["stateMachineAliasArn"], a["name"], a["creationDate"], a, parent=base
            )
        return {"updateDate": _dt(a["updateDate"])}

    async def delete_state_machine_alias(self, *, stateMachineAliasArn: str) -> dict[str, Any]:
        self._split_sm_arn(stateMachineAliasArn)
        with self.store.transaction():
            self.store.delete_resource(stateMachineAliasArn)
        return {}

    async def list_state_machine_aliases(
        self, *, stateMachineArn: str, nextToken: str | None = None, maxResults: int | None = None
    ) -> dict[str, Any]:
        base, _ = self._split_sm_arn(stateMachineArn)
        self._sm(base)
        items = sorted(self.store.list_resources("alias", parent=base), key=lambda r: r["name"])
        page, nxt = _page(items, maxResults, nextToken, "a:" + base)
        out = {
            "stateMachineAliases": [
                {"stateMachineAliasArn": r["stateMachineAliasArn"], "creationDate": _dt(r["creationDate"])}
                for r in page
            ]
        }
        return _drop_none({**out, "nextToken": nxt})

    # -- executions --------------------------------------------------------------------------------

    def _resolve_target(self, arn: str) -> tuple[dict[str, Any], str, str | None, str | None]:
        """(definition record, base ARN, version ARN, alias ARN) for StartExecution's stateMachineArn."""
        base, qualifier = self._split_sm_arn(arn)
        sm = self._sm(base)
        if qualifier is None:
            return sm, base, None, None
        alias_arn = None
        version_arn = arn
        if not qualifier.isdigit():
            alias = self.store.get_resource("alias", arn)
            if alias is None:
                raise ServiceError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
            alias_arn = arn
            version_arn = _weighted_choice(alias["routingConfiguration"])
        version = self.store.get_resource("version", version_arn)
        if version is None:
            raise ServiceError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
        record = dict(version)
        record["updateDate"] = version["creationDate"]
        return record, base, version_arn, alias_arn

    async def start_execution(
        self,
        *,
        stateMachineArn: str,
        name: str | None = None,
        input: str | None = None,
        traceHeader: str | None = None,
    ) -> dict[str, Any]:
        machine, base, version_arn, alias_arn = self._resolve_target(stateMachineArn)
        if name is not None and not valid_name(name):
            raise ServiceError("InvalidName", f"Invalid Name: '{name}'")
        value = _parse_input(input)
        name = name or str(uuid.uuid4())
        sm_name = base.split(":")[6]
        if machine["type"] == "EXPRESS":
            arn = self._arn("express", f"{sm_name}:{name}:{uuid.uuid4()}")
        else:
            arn = self._arn("execution", f"{sm_name}:{name}")
            existing = self.store.get_execution(arn)
            if existing is not None:
                if existing["status"] == "RUNNING" and existing.get("input") == (
                    input if input is not None else "{}"
                ):
                    return {"executionArn": arn, "startDate": _dt(existing["startDate"])}
                raise ServiceError("ExecutionAlreadyExists", f"Execution Already Exists: '{arn}'")
        record = self._new_execution(
            arn,
            base,
            name,
            machine,
            input if input is not None else "{}",
            version_arn,
            alias_arn,
            traceHeader,
        )
        with self.store.transaction():
            self.store.insert_execution(record)
        self._launch(record, value=value)
        return {"executionArn": arn, "startDate": _dt(record["startDate"])}

    def _new_execution(
        self,
        arn: str,
        base: str,
        name: str,
        machine: dict[str, Any],
        input_text: str,
        version_arn: str | None,
        alias_arn: str | None,
        trace: str | None,
    ) -> dict[str, Any]:
        snapshot = {
            k: machine.get(k)
            for k in (
                "name",
                "type",
                "definition",
                "roleArn",
                "loggingConfiguration",
                "tracingConfiguration",
                "encryptionConfiguration",
                "revisionId",
                "updateDate",
            )
        }
        return {
            "executionArn": arn,
            "stateMachineArn": base,
            "name": name,
            "status": "RUNNING",
            "startDate": _now(),
            "stopDate": None,
            "input": input_text,
            "output": None,
            "error": None,
            "cause": None,
            "stateMachineVersionArn": version_arn,
            "stateMachineAliasArn": alias_arn,
            "traceHeader": trace,
            "redriveCount": 0,
            "redriveDate": None,
            "machine": snapshot,
            "type": machine["type"],
        }

    def _finish(self, record: dict[str, Any], status: str, when: float, details: dict[str, Any]) -> None:
        if (
            record["status"] != "RUNNING"
            and record.get("stopDate") is not None
            and status == record["status"]
        ):
            return
        record["status"] = status
        record["stopDate"] = when
        if status == "SUCCEEDED":
            record["output"] = dumps(details.get("output"))
            record["error"] = record["cause"] = None
        else:
            record["output"] = None
            record["error"] = details.get("error")
            record["cause"] = details.get("cause")
        if record["type"] != "EXPRESS":
            self.writer.update_execution(record)
        done = self._done_events.get(record["executionArn"])
        if done is not None:
            done.set()

    def _launch(
        self, record: dict[str, Any], value: Any = None, history: list[HistoryEvent] | None = None
    ) -> None:
        arn = record["executionArn"]
        self._done_events[arn] = asyncio.Event()
        self._records[arn] = record
        task = asyncio.get_running_loop().create_task(self._run(record, value, history))
        self._tasks[arn] = task

        def done(t: asyncio.Task[Any]) -> None:
            if self._tasks.get(arn) is t:
                self._tasks.pop(arn)
            if self._records.get(arn) is record:
                self._records.pop(arn)

        task.add_done_callback(done)

    def _compiled(self, text: str, load: Any) -> Any:
        """The compiled definition for this text: parsed and validated once, shared by its executions
        (compiled definitions are immutable)."""
        cached = self._definitions.get(text)
        if cached is None:
            if len(self._definitions) >= 256:
                self._definitions.clear()
            cached = self._definitions[text] = load(text, self.substitutions)
        return cached

    async def _run(self, record: dict[str, Any], value: Any, history: list[HistoryEvent] | None) -> Any:
        from workflows.asl.definition import load_definition
        from workflows.engine.interpreter import ExecutionInfo, Interpreter

        arn = record["executionArn"]
        machine = record["machine"]
        sink = _Sink(self, record, count=len(history or ()))
        if value is None:
            value = json.loads(record["input"])
        try:
            definition = self._compiled(machine["definition"], load_definition)
        except Exception as err:  # the execution still ends, with a history that says why
            cause = str(err) if isinstance(err, DefinitionError) else _engine_fault(err)
            self._fail_run(record, sink, value, cause)
            await self.writer.flush()
            return None
        interpreter = Interpreter(
            definition, resolver=self.resolver, clock=self.clock, callbacks=self.callbacks
        )
        info = ExecutionInfo(
            execution_arn=arn,
            name=record["name"],
            state_machine_arn=record["stateMachineArn"],
            state_machine_name=machine["name"],
            role_arn=machine["roleArn"],
            start_time=record["startDate"],
            redrive_count=record.get("redriveCount", 0),
            state_machine_type=record["type"],
            state_machine_version_arn=record.get("stateMachineVersionArn"),
            state_machine_alias_arn=record.get("stateMachineAliasArn"),
        )
        run = interpreter.start(info, value, sink, history=history or None)
        self._runs[arn] = run
        try:
            outcome = await run.wait()
        except Exception as err:  # a fault the interpreter did not turn into an outcome
            self._fail_run(record, sink, value, _engine_fault(err))
            await self.writer.flush()
            return None
        finally:
            self._runs.pop(arn, None)
        if record["status"] == "RUNNING":  # the interpreter ended without a closing event
            details = {"output": outcome.output, "error": outcome.error, "cause": outcome.cause}
            self._finish(record, outcome.status, _now(), details)
        if record["type"] != "EXPRESS":
            await self.writer.flush()
        return outcome

    def _fail_run(self, record: dict[str, Any], sink: _Sink, value: Any, cause: str) -> None:
        """Close an execution whose run could not proceed: ExecutionFailed (after ExecutionStarted
        if it had no events yet), so it is not left RUNNING and its history ends as AWS's do."""
        if record["status"] != "RUNNING":
            return
        now = _now()
        if sink.count == 0:
            started = {
                "input": value,
                "inputDetails": {"truncated": False},
                "roleArn": record["machine"]["roleArn"],
            }
            sink.emit(HistoryEvent(1, 0, "ExecutionStarted", now, "executionStartedEventDetails", started))
        failed = {"error": "States.Runtime", "cause": cause}
        sink.emit(
            HistoryEvent(
                sink.count + 1, sink.count, "ExecutionFailed", now, "executionFailedEventDetails", failed
            )
        )

    async def start_sync_execution(
        self,
        *,
        stateMachineArn: str,
        name: str | None = None,
        input: str | None = None,
        traceHeader: str | None = None,
        includedData: str | None = None,
    ) -> dict[str, Any]:
        machine, base, version_arn, alias_arn = self._resolve_target(stateMachineArn)
        if machine["type"] != "EXPRESS":
            raise ServiceError(
                "StateMachineTypeNotSupported",
                "This operation is not supported by this type of state machine",
            )
        if name is not None and not valid_name(name):
            raise ServiceError("InvalidName", f"Invalid Name: '{name}'")
        value = _parse_input(input)
        name = name or str(uuid.uuid4())
        sm_name = base.split(":")[6]
        arn = self._arn("express", f"{sm_name}:{name}:{uuid.uuid4()}")
        record = self._new_execution(
            arn,
            base,
            name,
            machine,
            input if input is not None else "{}",
            version_arn,
            alias_arn,
            traceHeader,
        )
        await self._run(record, value, None)
        out = {
            "executionArn": arn,
            "stateMachineArn": base,
            "name": name,
            "status": record["status"],
            "startDate": _dt(record["startDate"]),
            "stopDate": _dt(record["stopDate"]),
            "input": record["input"],
            "inputDetails": {"included": True},
            "output": record["output"],
            "outputDetails": {"included": True} if record["output"] is not None else None,
            "error": record["error"],
            "cause": record["cause"],
            "traceHeader": traceHeader,
            "billingDetails": {
                "billedMemoryUsedInMB": 64,
                "billedDurationInMilliseconds": max(
                    100, int((record["stopDate"] - record["startDate"]) * 1000 + 99) // 100 * 100
                ),
            },
        }
        return _drop_none(out)

    def _redrive_status(self, record: dict[str, Any]) -> tuple[str, str | None]:
        status = record["status"]
        if record.get("type") == "EXPRESS":
            return "NOT_REDRIVABLE", "Execution is EXPRESS and cannot be redriven"
        if status == "RUNNING":
            return "NOT_REDRIVABLE", "Execution is RUNNING and cannot be redriven"
        if status == "SUCCEEDED":
            return "NOT_REDRIVABLE", "Execution is SUCCEEDED and cannot be redriven"
        if record.get("stopDate") and _now() - record["stopDate"] > REDRIVE_WINDOW:
            return "NOT_REDRIVABLE", "Execution can no longer be redriven"
        return "REDRIVABLE", None

    async def describe_execution(
        self, *, executionArn: str, includedData: str | None = None
    ) -> dict[str, Any]:
        r = self._execution(executionArn)
        redrive_status, reason = self._redrive_status(r)
        out = {
            "executionArn": r["executionArn"],
            "stateMachineArn": r["stateMachineArn"],
            "name": r["name"],
            "status": r["status"],
            "startDate": _dt(r["startDate"]),
            "stopDate": _dt(r.get("stopDate")),
            "input": r["input"],
            "inputDetails": {"included": True},
            "output": r.get("output"),
            "outputDetails": {"included": True} if r.get("output") is not None else None,
            "error": r.get("error"),
            "cause": r.get("cause"),
            "traceHeader": r.get("traceHeader"),
            "mapRunArn": r.get("mapRunArn"),
            "stateMachineVersionArn": r.get("stateMachineVersionArn"),
            "stateMachineAliasArn": r.get("stateMachineAliasArn"),
            "redriveCount": r.get("redriveCount", 0),
            "redriveDate": _dt(r.get("redriveDate")),
            "redriveStatus": redrive_status,
            "redriveStatusReason": reason,
        }
        return _drop_none(out)

    async def list_executions(
        self,
        *,
        stateMachineArn: str | None = None,
        statusFilter: str | None = None,
        maxResults: int | None = None,
        nextToken: str | None = None,
        mapRunArn: str | None = None,
        redriveFilter: str | None = None,
    ) -> dict[str, Any]:
        if stateMachineArn is None and mapRunArn is None:
            raise ServiceError("ValidationException", "Must provide a StateMachine ARN or MapRun ARN")
        version_arn = alias_arn = None
        if stateMachineArn is not None:
            base, qualifier = self._split_sm_arn(stateMachineArn)
            self._sm(base)
            if qualifier is not None:
                if qualifier.isdigit():
                    version_arn = stateMachineArn
                else:
                    alias_arn = stateMachineArn
        else:
            self._check_arn(mapRunArn)  # type: ignore[arg-type]
            base = None
        self.writer.commit()
        before = _decode_token(nextToken, "x:" + (stateMachineArn or mapRunArn or ""))
        size = maxResults or 100
        rows: list[dict[str, Any]] = []
        cursor = before
        while len(rows) <= size:
            batch = self.store.list_executions(
                state_machine_arn=base if mapRunArn is None else None,
                map_run_arn=mapRunArn,
                status=statusFilter,
                before_seq=cursor,
                limit=size + 1,
            )
            if not batch:
                break
            cursor = batch[-1]["seq"]
            for r in batch:
                if version_arn and r.get("stateMachineVersionArn") != version_arn:
                    continue
                if alias_arn and r.get("stateMachineAliasArn") != alias_arn:
                    continue
                if redriveFilter == "REDRIVEN" and not r.get("redriveCount"):
                    continue
                if redriveFilter == "NOT_REDRIVEN" and r.get("redriveCount"):
                    continue
                rows.append(r)
            if len(batch) < size + 1:
                break
        nxt = None
        if len(rows) > size:
            rows = rows[:size]
            nxt = _encode_token(rows[-1]["seq"], "x:" + (stateMachineArn or mapRunArn or ""))
        items = []
        for r in rows:
            items.append(
                _drop_none(
                    {
                        "executionArn": r["executionArn"],
                        "stateMachineArn": r["stateMachineArn"],
                        "name": r["name"],
                        "status": r["status"],
                        "startDate": _dt(r["startDate"]),
                        "stopDate": _dt(r.get("stopDate")),
                        "mapRunArn": r.get("mapRunArn"),
                        "stateMachineVersionArn": r.get("stateMachineVersionArn"),
                        "stateMachineAliasArn": r.get("stateMachineAliasArn"),
                        "redriveCount": r.get("redriveCount", 0),
                        "redriveDate": _dt(r.get("redriveDate")),
                    }
                )
            )
        return _drop_none({"executions": items, "nextToken": nxt})

    async def stop_execution(
        self, *, executionArn: str, error: str | None = None, cause: str | None = None
    ) -> dict[str, Any]:
        record = self._execution(executionArn)
        if record["type"] == "EXPRESS":
            raise ServiceError("ValidationException", "Operation is not supported by EXPRESS executions")
        if record["status"] == "RUNNING":
            task = self._tasks.get(executionArn)
            # A run launched moments ago may not have taken its first step: let it, so it can be stopped
            # (otherwise the row said ABORTED, with no event, while the execution went on).
            for _ in range(100):
                if executionArn in self._runs or task is None or task.done():
                    break
                await asyncio.sleep(0)
            record = self._records.get(executionArn, record)  # the run's own, current record
            run = self._runs.get(executionArn)
            if run is not None:
                await asyncio.sleep(0)  # the interpreter's first step records ExecutionStarted
                run.stop(error, cause)
                done = self._done_events.get(executionArn)
                if done is not None:
                    try:
                        await asyncio.wait_for(done.wait(), 5)
                    except TimeoutError:
                        pass
            if record["status"] == "RUNNING":
                self._finish(record, "ABORTED", _now(), {"error": error, "cause": cause})
            await self.writer.flush()
        return {"stopDate": _dt(record.get("stopDate") or _now())}

    async def redrive_execution(self, *, executionArn: str, clientToken: str | None = None) -> dict[str, Any]:
        # Commit first: a redrive queued by a concurrent call must be seen here, or both would run.
        self.writer.commit()
        record = self._execution(executionArn)
        if clientToken is not None and record.get("redriveToken") == clientToken:
            return {"redriveDate": _dt(record["redriveDate"])}  # a retried request: same answer
        status, reason = self._redrive_status(record)
        if status != "REDRIVABLE":
            raise ServiceError(
                "ExecutionNotRedrivable",
                f"Execution is {record['status']} and cannot be redriven" if reason is None else reason,
            )
        prior = self._tasks.get(executionArn)
        if prior is not None:  # the run that just ended is still writing its last events
            await asyncio.wait({prior})
            return await self.redrive_execution(executionArn=executionArn, clientToken=clientToken)
        events = self.store.load_events(executionArn)
        record.update(
            status="RUNNING",
            stopDate=None,
            error=None,
            cause=None,
            output=None,
            redriveCount=record.get("redriveCount", 0) + 1,
            redriveDate=_now(),
            redriveToken=clientToken,
        )
        last = events[-1]
        redriven = HistoryEvent(
            last.id + 1,
            last.id,
            "ExecutionRedriven",
            record["redriveDate"],
            "executionRedrivenEventDetails",
            {"redriveCount": record["redriveCount"]},
        )
        events.append(redriven)
        self.writer.add_event(executionArn, redriven)
        self.writer.update_execution(record)
        await self.writer.flush()
        self._launch(record, history=events)
        return {"redriveDate": _dt(record["redriveDate"])}

    async def get_execution_history(
        self,
        *,
        executionArn: str,
        maxResults: int | None = None,
        reverseOrder: bool = False,
        nextToken: str | None = None,
        includeExecutionData: bool = True,
    ) -> dict[str, Any]:
        self._execution(executionArn)
        self.writer.commit()
        after = _decode_token(nextToken, "h:" + executionArn)
        size = maxResults or 100
        events = self.store.iter_events(executionArn, reverse=reverseOrder, after=after, limit=size + 1)
        nxt = None
        if len(events) > size:
            events = events[:size]
            nxt = _encode_token(events[-1].id, "h:" + executionArn)
        include = includeExecutionData is not False
        return _drop_none({"events": [e.to_api(include) for e in events], "nextToken": nxt})

    # -- task tokens -------------------------------------------------------------------------------

    def _token_target(self, token: str) -> _ActivityTask | None:
        return self._activity_tasks.get(token)

    async def send_task_success(self, *, taskToken: str, output: str) -> dict[str, Any]:
        try:
            value = json.loads(output)
        except json.JSONDecodeError:
            raise ServiceError("InvalidOutput", f"Invalid Output: '{_jackson_message(output)}'")
        task = self._token_target(taskToken)
        if task is not None and task.future is not None and not task.future.done():
            task.future.set_result(value)
            return {}
        if self.callbacks is not None and self.callbacks.complete(taskToken, value):
            return {}
        raise ServiceError("TaskDoesNotExist", "Task Does Not Exist")

    async def send_task_failure(
        self, *, taskToken: str, error: str | None = None, cause: str | None = None
    ) -> dict[str, Any]:
        task = self._token_target(taskToken)
        if task is not None and task.future is not None and not task.future.done():
            task.future.set_exception(ASLError(error or "", cause))
            return {}
        if self.callbacks is not None and self.callbacks.fail(taskToken, error, cause):
            return {}
        raise ServiceError("TaskDoesNotExist", "Task Does Not Exist")

    async def pending_task_tokens(self, *, executionArn: str) -> dict[str, Any]:
        """Not an AWS operation (the console's read): the task tokens this execution is waiting on.

        `.waitForTaskToken` tokens are found where AWS shows them, in TaskScheduled `parameters`
        (passed with `$$.Task.Token`); activity tokens from the activity queue. Each item names
        the state, the resource and how the token is completed (`callback` or `activity`)."""
        record = self._execution(executionArn)
        found: list[dict[str, Any]] = []
        for task in list(self._activity_tasks.values()):
            if task.execution_arn == executionArn and task.future is not None and not task.future.done():
                found.append({"taskToken": task.token, "kind": "activity", "resource": task.activity_arn})
        if record["status"] == "RUNNING" and self.callbacks is not None:
            self.writer.commit()
            events = self.store.load_events(executionArn)
            by_id = {e.id: e for e in events}
            for event in events:
                if event.type != "TaskScheduled" or not event.details:
                    continue
                params = event.details.get("parameters")
                try:
                    value = json.loads(params) if isinstance(params, str) else params
                except ValueError:
                    continue
                for token in _strings_in(value):
                    if self.callbacks.known(token):
                        found.append(
                            {
                                "taskToken": token,
                                "kind": "callback",
                                "resource": event.details.get("resource"),
                                "stateName": _entered_state(by_id, event),
                                "scheduledEventId": event.id,
                            }
                        )
        return {"tasks": found}

    async def send_task_heartbeat(self, *, taskToken: str) -> dict[str, Any]:
        task = self._token_target(taskToken)
        if task is not None:
            task.heartbeat = _now()
            return {}
        if self.callbacks is not None and self.callbacks.heartbeat(taskToken):
            return {}
        raise ServiceError("TaskDoesNotExist", "Task Does Not Exist")

    # -- activities --------------------------------------------------------------------------------

    def _activity_queue(self, arn: str) -> deque[_ActivityTask]:
        return self._activity_queues.setdefault(arn, deque())

    def _wake_pollers(self, arn: str) -> None:
        event = self._pollers.get(arn)
        if event is not None:
            event.set()

    async def create_activity(
        self,
        *,
        name: str,
        tags: list[dict[str, str]] | None = None,
        encryptionConfiguration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if not valid_name(name):
            raise ServiceError("InvalidName", f"Invalid Name: '{name}'")
        arn = self._arn("activity", name)
        existing = self.store.get_resource("activity", arn)
        if existing is not None:
            return {"activityArn": arn, "creationDate": _dt(existing["creationDate"])}
        now = _now()
        with self.store.transaction():
            self.store.put_resource(
                "activity",
                arn,
                name,
                now,
                {
                    "activityArn": arn,
                    "name": name,
                    "creationDate": now,
                    "encryptionConfiguration": encryptionConfiguration or {"type": "AWS_OWNED_KEY"},
                },
            )
            if tags:
                self.store.put_tags(arn, [(t["key"], t["value"]) for t in tags])
        return {"activityArn": arn, "creationDate": _dt(now)}

    def _activity(self, arn: str) -> dict[str, Any]:
        self._check_arn(arn)
        record = self.store.get_resource("activity", arn)
        if record is None:
            raise ServiceError("ActivityDoesNotExist", f"Activity Does Not Exist: '{arn}'")
        return record

    async def describe_activity(self, *, activityArn: str) -> dict[str, Any]:
        a = self._activity(activityArn)
        return {
            "activityArn": a["activityArn"],
            "name": a["name"],
            "creationDate": _dt(a["creationDate"]),
            "encryptionConfiguration": a.get("encryptionConfiguration") or {"type": "AWS_OWNED_KEY"},
        }

    async def delete_activity(self, *, activityArn: str) -> dict[str, Any]:
        self._check_arn(activityArn)
        with self.store.transaction():
            self.store.delete_resource(activityArn)
        return {}

    async def list_activities(
        self, *, maxResults: int | None = None, nextToken: str | None = None
    ) -> dict[str, Any]:
        items = sorted(self.store.list_resources("activity"), key=lambda r: r["name"])
        page, nxt = _page(items, maxResults, nextToken, "act")
        out = {
            "activities": [
                {"activityArn": a["activityArn"], "name": a["name"], "creationDate": _dt(a["creationDate"])}
                for a in page
            ]
        }
        return _drop_none({**out, "nextToken": nxt})

    async def get_activity_task(
        self, *, activityArn: str, workerName: str | None = None, wait: float = GET_ACTIVITY_TASK_WAIT
    ) -> dict[str, Any]:
        self._activity(activityArn)
        deadline = time.monotonic() + wait
        queue = self._activity_queue(activityArn)
        while True:
            while queue:
                task = queue.popleft()
                if task.future is not None and not task.future.done():
                    task.worker = workerName or ""
                    task.heartbeat = _now()
                    if task.on_start is not None:
                        task.on_start({"workerName": workerName} if workerName else {})
                        await self.writer.flush()
                    return {"taskToken": task.token, "input": task.input}
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return {}
            event = self._pollers.setdefault(activityArn, asyncio.Event())
            event.clear()
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return {}

    # -- tags --------------------------------------------------------------------------------------

    def _taggable(self, arn: str) -> None:
        self._check_arn(arn)
        kind = arn.split(":")[5] if len(arn.split(":")) > 5 else ""
        found = (
            self.store.get_resource("sm", arn)
            if kind == "stateMachine"
            else self.store.get_resource("activity", arn)
            if kind == "activity"
            else None
        )
        if found is None:
            raise ServiceError("ResourceNotFound", f"Resource not found: '{arn}'")

    async def tag_resource(self, *, resourceArn: str, tags: list[dict[str, str]]) -> dict[str, Any]:
        self._taggable(resourceArn)
        if len({t["key"] for t in tags} | {k for k, _ in self.store.get_tags(resourceArn)}) > 50:
            raise ServiceError("TooManyTags", f"Too many tags: '{resourceArn}'")
        with self.store.transaction():
            self.store.put_tags(resourceArn, [(t["key"], t["value"]) for t in tags])
        return {}

    async def untag_resource(self, *, resourceArn: str, tagKeys: list[str]) -> dict[str, Any]:
        self._taggable(resourceArn)
        with self.store.transaction():
            self.store.delete_tags(resourceArn, tagKeys)
        return {}

    async def list_tags_for_resource(self, *, resourceArn: str) -> dict[str, Any]:
        self._taggable(resourceArn)
        return {"tags": [{"key": k, "value": v} for k, v in self.store.get_tags(resourceArn)]}

    # -- validation and TestState ------------------------------------------------------------------

    async def validate_state_machine_definition(
        self,
        *,
        definition: str,
        type: str = "STANDARD",
        severity: str | None = None,
        maxResults: int | None = None,
    ) -> dict[str, Any]:
        from workflows.asl.validation import validate_definition

        limit = maxResults or 100
        found = validate_definition(definition, state_machine_type=type, max_results=10_000)
        if severity == "ERROR":
            found = [d for d in found if d.severity == "ERROR"]
        result = "FAIL" if any(d.severity == "ERROR" for d in found) else "OK"
        return {
            "result": result,
            "diagnostics": [d.to_api() for d in found[:limit]],
            "truncated": len(found) > limit,
        }

    async def test_state(self, **request: Any) -> dict[str, Any]:
        from workflows.service.teststate import test_state

        return await test_state(self, **request)

    # -- map runs ----------------------------------------------------------------------------------

    def record_map_run(self, record: dict[str, Any]) -> None:
        """Called by the engine when a Distributed Map starts or changes (kind 'maprun')."""
        self.store.put_resource(
            "maprun",
            record["mapRunArn"],
            record["mapRunArn"],
            record["startDate"],
            record,
            parent=record["executionArn"],
        )

    async def list_map_runs(
        self, *, executionArn: str, maxResults: int | None = None, nextToken: str | None = None
    ) -> dict[str, Any]:
        self._execution(executionArn)
        items = self.store.list_resources("maprun", parent=executionArn)
        page, nxt = _page(items, maxResults, nextToken, "m:" + executionArn)
        out = [
            {
                "executionArn": r["executionArn"],
                "mapRunArn": r["mapRunArn"],
                "stateMachineArn": r["stateMachineArn"],
                "startDate": _dt(r["startDate"]),
                "stopDate": _dt(r.get("stopDate")),
            }
            for r in page
        ]
        return _drop_none({"mapRuns": [_drop_none(x) for x in out], "nextToken": nxt})

    def _map_run(self, arn: str) -> dict[str, Any]:
        self._check_arn(arn)
        record = self.store.get_resource("maprun", arn)
        if record is None:
            raise ServiceError("ResourceNotFound", f"Resource not found: '{arn}'")
        return record

    async def describe_map_run(self, *, mapRunArn: str) -> dict[str, Any]:
        r = self._map_run(mapRunArn)
        out = {
            k: r.get(k)
            for k in (
                "mapRunArn",
                "executionArn",
                "status",
                "maxConcurrency",
                "toleratedFailurePercentage",
                "toleratedFailureCount",
                "itemCounts",
                "executionCounts",
                "redriveCount",
            )
        }
        out["startDate"] = _dt(r["startDate"])
        out["stopDate"] = _dt(r.get("stopDate"))
        out["redriveDate"] = _dt(r.get("redriveDate"))
        return _drop_none(out)

    async def update_map_run(
        self,
        *,
        mapRunArn: str,
        maxConcurrency: int | None = None,
        toleratedFailurePercentage: float | None = None,
        toleratedFailureCount: int | None = None,
    ) -> dict[str, Any]:
        r = self._map_run(mapRunArn)
        for key, value in (
            ("maxConcurrency", maxConcurrency),
            ("toleratedFailurePercentage", toleratedFailurePercentage),
            ("toleratedFailureCount", toleratedFailureCount),
        ):
            if value is not None:
                r[key] = value
        self.record_map_run(r)
        return {}


_PATH_VAR = re.compile(r"(?<![$\w])\$([A-Za-z_][A-Za-z0-9_]*)")
_JSONATA_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)(?!\s*\()")
_NESTED = ("States", "ItemProcessor", "Iterator", "Branches")


def variable_references(definition: dict[str, Any]) -> dict[str, list[str]]:
    """State name → the workflow variables its fields read, sorted (DescribeStateMachine's variableReferences).

    Variables are read by path fields (`*Path`, `*.$`, Choice `Variable`) and JSONata expressions."""
    out: dict[str, list[str]] = {}

    def scan(value: Any, key: str, found: set[str]) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                scan(v, k, found)
        elif isinstance(value, list):
            for v in value:
                scan(v, key, found)
        elif isinstance(value, str):
            text = value.strip()
            if text.startswith("{%") and text.endswith("%}"):
                found.update(n for n in _JSONATA_VAR.findall(text) if n != "states")
            elif key.endswith(".$") or key.endswith("Path") or key == "Variable":
                found.update(_PATH_VAR.findall(value))

    def walk(states: dict[str, Any]) -> None:
        for name, state in states.items():
            if not isinstance(state, dict):
                continue
            found: set[str] = set()
            for key, value in state.items():
                if key not in _NESTED:
                    scan(value, key, found)
            if found:
                out[name] = sorted(found)
            for key in ("ItemProcessor", "Iterator"):
                if isinstance(state.get(key), dict):
                    walk(state[key].get("States") or {})
            for branch in state.get("Branches") or []:
                if isinstance(branch, dict):
                    walk(branch.get("States") or {})

    walk(definition.get("States") or {})
    return out


def _strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings_in(v)]
    return []


def _entered_state(by_id: dict[int, HistoryEvent], event: HistoryEvent) -> str | None:
    """The name of the state an event belongs to, following previousEventId back to its StateEntered."""
    seen = 0
    current: HistoryEvent | None = event
    while current is not None and seen < 10_000:
        if current.type.endswith("StateEntered"):
            return (current.details or {}).get("name")
        current = by_id.get(current.previous_event_id)
        seen += 1
    return None


def _engine_fault(err: BaseException) -> str:
    return f"Internal error in the engine: {type(err).__name__}: {err}"


def _weighted_choice(routing: list[dict[str, Any]]) -> str:
    import random

    pick = random.uniform(0, 100)
    total = 0.0
    for route in routing:
        total += route["weight"]
        if pick < total:
            return route["stateMachineVersionArn"]
    return routing[-1]["stateMachineVersionArn"]
