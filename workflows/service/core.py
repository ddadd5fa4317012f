"""What every resource of the service shares: ARNs, names, inputs, page tokens, the record lookups."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from workflows.asl.budget import MAX_DEPTH, TooDeep
from workflows.asl.errors import ServiceError
from workflows.asl.payload import NumberOutOfRange
from workflows.asl.payload import loads as loads_payload
from workflows.engine.history import HistoryEvent

if TYPE_CHECKING:
    import asyncio

    from workflows.service.store import EventWriter, Store

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
# AWS: names may not hold whitespace, brackets, wildcards, these specials or control characters;
# nor a lone surrogate (`"\ud800"` in the request), which is no Unicode character at all.
_ILLEGAL_NAME = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# A code point JSON text can only name by a `\u` escape that has no partner: json.loads keeps it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ALIAS_NAME = re.compile(r"^(?=.*[a-zA-Z_\-.])[a-zA-Z0-9_\-.]+$")
_ALIAS_PATTERN_TEXT = r"^(?=.*[a-zA-Z_\-\.])[a-zA-Z0-9_\-\.]+$"


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


def _jackson_message(text: str) -> str:
    constants: list[str] = []
    try:
        json.loads(text, parse_constant=lambda name: constants.append(name))
        if constants:  # Python's extension, a parse error in Jackson (worded as Jackson 2.10+ words it)
            return f"Non-standard token '{constants[0]}': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow"
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


def json_bytes(body: Any, default: Any) -> bytes:
    """A response body: UTF-8 JSON, non-ASCII kept as AWS sends it. A lone surrogate (stored before
    inputs were checked for one, or made by an expression) has no UTF-8: it goes out as the `\\udXXX`
    escape, the same string to any JSON reader, instead of failing the response after the handler."""
    text = json.dumps(body, default=default, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace")


def lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate in a parsed JSON value's strings (keys included), else None. JSON
    text may write one (`"\\ud800"`) and json.loads keeps it, but it is no Unicode character: no
    UTF-8 holds it, so nothing can write it back out."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found = _LONE_SURROGATE.search(item)
            if found:
                return found.group()
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def parse_payload(text: str, invalid: Any) -> Any:
    """JSON payload text (an execution's input, a task's output), or `invalid(reason)` raised with
    what is wrong, in the words of AWS's parser (Jackson) where it has some."""
    raw = _LONE_SURROGATE.search(text)
    if raw is not None:
        raise invalid(_surrogate_message(raw.group()))
    try:
        value = loads_payload(text)
    except TooDeep:
        # Jackson's nesting limit (AWS parses with it): refused, where Python's parser would recurse
        raise invalid(f"Document nesting depth exceeds the maximum allowed ({MAX_DEPTH})")
    except json.JSONDecodeError:
        raise invalid(_jackson_message(text))
    except NumberOutOfRange as err:
        raise invalid(err.message)
    if "\\u" in text:  # only an escape can have written a lone surrogate
        char = lone_surrogate(value)
        if char is not None:
            raise invalid(_surrogate_message(char))
    return value


def _surrogate_message(char: str) -> str:
    return f"Invalid character: a lone surrogate (\\u{ord(char):04x}) is not Unicode text"


def _invalid_input(reason: str) -> ServiceError:
    return ServiceError("InvalidExecutionInput", f"Invalid State Machine Execution Input: '{reason}'")


def _parse_input(text: str | None) -> Any:
    if text is None:
        return {}
    if not isinstance(text, str):
        raise _invalid_input("Invalid execution input.")
    if _LONE_SURROGATE.search(text) is None and len(text.encode()) > MAX_PAYLOAD:
        raise _invalid_input("Input too large.")
    if not text.strip():
        raise _invalid_input("Invalid execution input.")
    return parse_payload(text, _invalid_input)


# "Maximum number of tags per resource: 50" (Step Functions service quotas), whichever call adds them.
MAX_TAGS = 50


def check_tag_count(arn: str, tags: list[dict[str, str]] | None, existing: Iterable[str] = ()) -> None:
    """TooManyTags when `tags` with the resource's `existing` keys come to more than MAX_TAGS keys."""
    if tags and len({t["key"] for t in tags} | set(existing)) > MAX_TAGS:
        raise ServiceError("TooManyTags", f"Too many tags: '{arn}'")


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


class ServiceCore:
    """What every resource of the service shares: ARNs, names, inputs, page tokens, the record lookups.

    StepFunctionsService (service.py) sets these attributes; the resource mixins read them.
    """

    store: Store
    writer: EventWriter
    account: str
    region: str
    clock: Any
    resolver: Any
    substitutions: dict[str, Any] | None
    callbacks: Any
    _definitions: dict[str, Any]
    _runs: dict[str, Any]
    _tasks: dict[str, asyncio.Task[Any]]
    _done_events: dict[str, asyncio.Event]
    _records: dict[str, dict[str, Any]]  # the records of executions being run

    if TYPE_CHECKING:  # one resource's operations that another calls (versions.py)

        def _publish(self, sm: dict[str, Any], description: str | None, now: float) -> str: ...

        def _resolve_target(self, arn: str) -> tuple[dict[str, Any], str, str | None, str | None]: ...

        async def describe_state_machine_alias(self, *, stateMachineAliasArn: str) -> dict[str, Any]: ...

        def record_map_run(self, record: dict[str, Any]) -> None: ...  # map_runs.py

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
