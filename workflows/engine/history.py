"""Execution history: events shaped exactly as GetExecutionHistory returns them, numbered in one place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from workflows.asl.payload import dumps

# Detail fields that AWS gives as JSON text; the engine keeps the value and serialises on demand.
_JSON_FIELDS = frozenset({"input", "output", "parameters"})

# AWS's hard quota on an execution's history: once 24,999 events are recorded, only the execution's
# own closing event may follow (the Developer Guide, "Avoid reaching the history quota").
MAX_HISTORY_EVENTS = 25_000
# The events that close an execution: the one event allowed at the quota.
_CLOSING = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"})


class HistoryQuotaExceeded(Exception):
    """An event was refused because the history reached its quota. Not an ASLError: no Retry, Catch
    or tolerated Map failure may see it; it ends the whole execution (see ExecutionRun.main)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The execution reached the maximum number of history events ({limit}).")
        self.cause = str(self)


class HistoryEvent:
    """One history event. `details` holds AWS's detail fields; payload fields hold Python values.

    Events are appended on the hot path, so payloads are serialised only when the event is read.
    Payload values are never mutated after they are recorded (the interpreter copies on write).
    """

    __slots__ = ("details", "details_key", "id", "previous_event_id", "thread", "timestamp", "type")

    def __init__(
        self,
        id: int,
        previous_event_id: int,
        type: str,
        timestamp: float,
        details_key: str | None = None,
        details: dict[str, Any] | None = None,
        thread: str = "",
    ) -> None:
        self.id = id
        self.previous_event_id = previous_event_id
        self.type = type
        self.timestamp = timestamp
        self.details_key = details_key
        self.details = details
        # Which Map iteration or Parallel branch recorded it ("" the execution's own; see Frame.path).
        # Kept in the store, never shown by the API: previousEventId alone cannot tell two
        # iterations of the same nested Map apart, and a restart must, to resume each at any depth.
        self.thread = thread

    def api_details(self, include_data: bool = True) -> dict[str, Any] | None:
        if self.details is None:
            return None
        out: dict[str, Any] = {}
        for key, value in self.details.items():
            if key in _JSON_FIELDS:
                if not include_data:
                    continue
                out[key] = value if isinstance(value, str) and key == "parameters" else dumps(value)
            else:
                out[key] = value
        return out

    def to_api(self, include_data: bool = True, *, iso: bool = False) -> dict[str, Any]:
        """The event as the API returns it (timestamp as datetime, or ISO text when `iso`)."""
        ts = datetime.fromtimestamp(self.timestamp, tz=UTC)
        out: dict[str, Any] = {
            "timestamp": ts.isoformat() if iso else ts,
            "type": self.type,
            "id": self.id,
            "previousEventId": self.previous_event_id,
        }
        if self.details_key is not None:
            out[self.details_key] = self.api_details(include_data)
        return out

    def to_json(self) -> dict[str, Any]:
        """A JSON-able record that round-trips through `from_json` (payloads stay JSON values)."""
        out = {
            "id": self.id,
            "previousEventId": self.previous_event_id,
            "type": self.type,
            "timestamp": self.timestamp,
            "detailsKey": self.details_key,
            "details": self.details,
        }
        if self.thread:
            out["thread"] = self.thread
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HistoryEvent:
        return cls(
            data["id"],
            data["previousEventId"],
            data["type"],
            data["timestamp"],
            data.get("detailsKey"),
            data.get("details"),
            data.get("thread", ""),
        )

    def __repr__(self) -> str:
        return f"HistoryEvent({self.id}, {self.type}, prev={self.previous_event_id})"


def details_key_for(event_type: str) -> str:
    """AWS's detail field name for an event type: `PassStateEntered` -> `stateEnteredEventDetails`."""
    key = _DETAILS_KEYS.get(event_type)
    if key is None:
        key = _DETAILS_KEYS[event_type] = _details_key(event_type)
    return key


def _details_key(event_type: str) -> str:
    for suffix, key in _STATE_SUFFIXES:
        if event_type.endswith(suffix) and event_type not in _NOT_STATE_EVENTS:
            return key
    return event_type[0].lower() + event_type[1:] + "EventDetails"


_STATE_SUFFIXES = (("StateEntered", "stateEnteredEventDetails"), ("StateExited", "stateExitedEventDetails"))
_NOT_STATE_EVENTS: frozenset[str] = frozenset()
# Event types are few and fixed; the key is worked out once per type, not once per event.
_DETAILS_KEYS: dict[str, str] = {}


class EventLog:
    """Numbers events and links each to the one before, as AWS does; forwards them to a listener.

    The quota is enforced here, where every event is numbered: an event past `limit - 1` that does
    not close the execution raises HistoryQuotaExceeded instead of being recorded, whoever emits it
    (a state, a Map iteration's marker, an abort recorded while cancelling)."""

    __slots__ = ("_clock", "_listener", "events", "last_id", "limit")

    def __init__(
        self,
        clock: Callable[[], float],
        listener: Callable[[HistoryEvent], None] | None = None,
        limit: int = MAX_HISTORY_EVENTS,
    ):
        self._clock = clock
        self._listener = listener
        self.events: list[HistoryEvent] = []
        self.last_id = 0
        self.limit = limit

    @property
    def full(self) -> bool:
        """Whether only a closing event may still be recorded."""
        return self.last_id >= self.limit - 1

    def add(
        self,
        type: str,
        details: dict[str, Any] | None = None,
        previous: int | None = None,
        details_key: str | None = None,
        thread: str = "",
    ) -> int:
        event_id = self.last_id + 1
        if event_id >= self.limit and (event_id > self.limit or type not in _CLOSING):
            raise HistoryQuotaExceeded(self.limit)
        if details is not None and details_key is None:
            details_key = _DETAILS_KEYS.get(type) or details_key_for(type)
        event = HistoryEvent(
            event_id,
            self.last_id if previous is None else previous,
            type,
            self._clock(),
            details_key,
            details,
            thread,
        )
        self.last_id = event_id
        self.events.append(event)
        if self._listener is not None:
            self._listener(event)
        return event_id

    def add_state(
        self, type: str, details_key: str, details: dict[str, Any], previous: int, thread: str
    ) -> int:
        """`add` for the run loop's state entries and exits, every argument given: nothing is worked
        out, on the path every state takes twice. (Never a closing event: one comparison for the quota.)"""
        event_id = self.last_id + 1
        if event_id >= self.limit:
            raise HistoryQuotaExceeded(self.limit)
        event = HistoryEvent(event_id, previous, type, self._clock(), details_key, details, thread)
        self.last_id = event_id
        self.events.append(event)
        if self._listener is not None:
            self._listener(event)
        return event_id
