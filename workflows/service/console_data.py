"""The console's page data: executions read from their history into rows, stages and positions.

Pure functions over what the service returns (histories, definitions); console.py serves them.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from json.decoder import scanstring  # type: ignore[attr-defined]
from types import SimpleNamespace
from typing import Any

from workflows.engine.history import details_key_for

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_WS = re.compile(r"[ \t\n\r]*")


class _Node:
    __slots__ = ("children", "start")

    def __init__(self, start: int) -> None:
        self.start = start
        self.children: dict[str, tuple[int, _Node]] | list[_Node] | None = None


def _scan(text: str, pos: int) -> tuple[_Node, int]:
    """One JSON value at `pos` with the offsets of its members; raises ValueError on bad JSON."""
    pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
    node = _Node(pos)
    ch = text[pos : pos + 1]
    if ch == "{":
        members: dict[str, tuple[int, _Node]] = {}
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        if text[pos : pos + 1] == "}":
            node.children = members
            return node, pos + 1
        while True:
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if text[pos : pos + 1] != '"':
                raise ValueError("expected a key")
            key_at = pos
            key, pos = scanstring(text, pos + 1)
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if text[pos : pos + 1] != ":":
                raise ValueError("expected ':'")
            child, pos = _scan(text, pos + 1)
            members[key] = (key_at, child)
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if text[pos : pos + 1] == ",":
                pos += 1
                continue
            if text[pos : pos + 1] == "}":
                node.children = members
                return node, pos + 1
            raise ValueError("expected ',' or '}'")
    if ch == "[":
        items: list[_Node] = []
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        if text[pos : pos + 1] == "]":
            node.children = items
            return node, pos + 1
        while True:
            child, pos = _scan(text, pos)
            items.append(child)
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if text[pos : pos + 1] == ",":
                pos += 1
                continue
            if text[pos : pos + 1] == "]":
                node.children = items
                return node, pos + 1
            raise ValueError("expected ',' or ']'")
    if ch == '"':
        _, end = scanstring(text, pos + 1)
        return node, end
    for literal in ("true", "false", "null"):
        if text.startswith(literal, pos):
            return node, pos + len(literal)
    match = _NUMBER.match(text, pos)
    if match and match.end() > pos:
        return node, match.end()
    raise ValueError("expected a value")


def _pointer_steps(pointer: str) -> list[str | int]:
    """AWS's pointers put array indices in brackets (`/States/C/Choices[0]/Next`); RFC 6901's do not."""
    steps: list[str | int] = []
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        indices = re.findall(r"\[(\d+)\]", part)
        base = re.sub(r"(\[\d+\])+$", "", part)
        if indices and base + "".join(f"[{i}]" for i in indices) == part:
            if base:
                steps.append(base)
            steps.extend(int(i) for i in indices)
        else:
            steps.append(part)
    return steps


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def pointer_position(text: str, pointer: str | None) -> tuple[int, int] | None:
    """(line, column), 1-based, of what a diagnostic's location names in the definition text: the
    member's key for object members, the value for array items; the nearest existing ancestor when
    the pointer names something missing. Jackson's `[Source: ...; line: L, column: C]` is read as is."""
    if not pointer:
        return (1, 1) if text else None
    jackson = re.search(r"line: (\d+), column: (\d+)\]$", pointer)
    if jackson:
        return int(jackson[1]), int(jackson[2])
    try:
        node, _ = _scan(text, 0)
    except (ValueError, IndexError):
        return None
    offset = node.start
    for step in _pointer_steps(pointer):
        children = node.children
        if isinstance(children, dict):
            key = str(step)
            if key not in children:
                break
            offset, node = children[key]
        elif isinstance(children, list):
            index = step if isinstance(step, int) else int(step) if str(step).isdigit() else -1
            if not 0 <= index < len(children):
                break
            node = children[index]
            offset = node.start
        else:
            break
    return _line_column(text, offset)


# -- history → state runs ----------------------------------------------------------------------------

_FAILURE_SUFFIXES = ("Failed", "TimedOut")
_RESULT_EVENTS = ("TaskSucceeded", "LambdaFunctionSucceeded", "ActivitySucceeded")
_SCHEDULED_EVENTS = ("TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled")


def event_details(event: Mapping[str, Any]) -> dict[str, Any]:
    """The `...EventDetails` member of a history event as the API returns it."""
    kind = event.get("type")
    if isinstance(kind, str):  # the member the engine names for its type, looked up, not searched for
        found = event.get(details_key_for(kind))
        if isinstance(found, dict):
            return found
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def load_json(text: Any) -> Any:
    """A payload as a value: JSON text parsed, anything else as it is."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _state_index(definition: Any) -> dict[str, dict[str, Any]]:
    """Every state of the definition by name (names are unique across the whole definition), with
    its type, its container (Map/Parallel) and branch."""
    out: dict[str, dict[str, Any]] = {}

    def walk(states: Any, parent: str | None, branch: int | None) -> None:
        if not isinstance(states, dict):
            return
        for name, spec in states.items():
            if not isinstance(spec, dict):
                continue
            out[name] = {"spec": spec, "type": spec.get("Type"), "parent": parent, "branch": branch}
            processor = spec.get("ItemProcessor") or spec.get("Iterator")
            if isinstance(processor, dict):
                walk(processor.get("States"), name, None)
            for i, sub in enumerate(spec.get("Branches") or []):
                if isinstance(sub, dict):
                    walk(sub.get("States"), name, i)

    if isinstance(definition, dict):
        walk(definition.get("States"), None, None)
    return out


class _Run:
    __slots__ = ("done", "entered", "events", "exited", "name", "number", "scope", "type")

    def __init__(self, number: int, name: str, type_: str, scope: tuple[Any, ...], entered: dict[str, Any]):
        self.number = number
        self.name = name
        self.type = type_
        self.scope = scope
        self.entered = entered
        self.events: list[dict[str, Any]] = [entered]
        self.exited: dict[str, Any] | None = None
        self.done = False  # exited, or a container that has ended (a failed one has no exit event)


# How the view chooses among a Map's iterations: {map name: iteration index as text, or "all"}.
Pickers = Mapping[str, str]
_PRIORITY = {"failed": 5, "running": 4, "caught": 3, "cancelled": 2, "succeeded": 1, "notrun": 0}


def _worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=lambda s: _PRIORITY.get(s, 0), default="notrun")


class ExecutionIndex:
    """An execution's history folded, event by event, into its state runs.

    Fed in pages (`feed`), so a long history is read a page at a time with other work between, and
    kept: an execution that goes on is fed only the events that came since (`last_id`). Everything
    the console shows is asked of it: the graph's `summary` (bounded by the definition, not by the
    history), one state's `state_runs` with their payload stages, a page of `table_rows`, a page of
    `events_page`. `records` gives every run in full (what `execution_runs` returns)."""

    def __init__(self, definition: Any) -> None:
        self.index = _state_index(definition)
        self.events: list[dict[str, Any]] = []
        self.by_id: dict[int, dict[str, Any]] = {}
        self.runs: list[_Run] = []
        self.run_of: dict[int, _Run] = {}
        self.scope_of: dict[int, tuple[Any, ...]] = {}
        self.owner: dict[tuple[Any, ...], _Run] = {}
        self.open_runs: dict[int, _Run] = {}  # by number, in the order they were entered
        self.ended: dict[int, str] = {}
        self.transitions = 0
        self._statuses: tuple[tuple[str, int], list[str]] | None = None
        self._resources: dict[int, tuple[int, str | None]] = {}

    @property
    def last_id(self) -> int:
        return self.events[-1]["id"] if self.events else 0

    def feed(self, events: Iterable[dict[str, Any]]) -> None:
        """Events in id order, as GetExecutionHistory returns them (a datetime timestamp becomes ISO text)."""
        for event in events:
            if event["id"] <= self.last_id:
                continue
            stamp = event.get("timestamp")
            if isinstance(stamp, datetime):
                event["timestamp"] = stamp.isoformat()
            self.events.append(event)
            self.by_id[event["id"]] = event
            self._fold(event)
        self._statuses = None

    def _open_ancestor(self, run: _Run | None) -> _Run | None:
        while run is not None and run.done:
            run = self.owner.get(run.scope)
        return run

    def _fold(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        owner = self.owner
        prev = self.by_id.get(event.get("previousEventId") or 0)
        prev_run = self.run_of.get(prev["id"]) if prev else None
        if kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            # Every run still open ends here: the one that failed (and its containers) failed, the
            # others were cancelled. A redrive later starts new runs for them.
            culprit = prev_run
            chain = set()
            while culprit is not None and kind == "ExecutionFailed":
                chain.add(culprit.number)
                culprit = owner.get(culprit.scope)
            for run in self.open_runs.values():
                failed = run.number in chain or (kind == "ExecutionFailed" and _last_attempt_failed(run))
                self.ended[run.number] = "failed" if failed else "cancelled"
                run.done = True
            self.open_runs.clear()
            return
        if kind.endswith("StateEntered"):
            self.transitions += 1
            details = event_details(event)
            name = details.get("name", "")
            info = self.index.get(name, {})
            if prev is not None and prev["type"] == "MapIterationStarted":
                scope = self.scope_of[prev["id"]]
            elif prev_run is not None and prev_run.exited is None and prev_run.type == "Parallel":
                scope = (*prev_run.scope, (prev_run.name, info.get("branch") or 0))
                owner[scope] = prev_run
            elif prev_run is not None:
                scope = prev_run.scope
            else:
                # A Parallel branch starts a new thread: its container is the open run of the Parallel.
                container = info.get("parent")
                parent_run = next((r for r in reversed(self.open_runs.values()) if r.name == container), None)
                if parent_run is not None and parent_run.type == "Parallel":
                    scope = (*parent_run.scope, (parent_run.name, info.get("branch") or 0))
                    owner[scope] = parent_run
                else:
                    scope = ()
            run = _Run(len(self.runs), name, info.get("type") or kind[: -len("StateEntered")], scope, event)
            self.runs.append(run)
            self.open_runs[run.number] = run
            self.run_of[event["id"]] = run
            self.scope_of[event["id"]] = scope
            return
        target = prev_run
        if kind.endswith("StateExited"):
            name = event_details(event).get("name")
            while target is not None and (target.exited is not None or target.name != name):
                target = owner.get(target.scope)
        elif kind.startswith(("MapIteration", "MapState", "ParallelState")):
            # A container's own events follow the last event of one of its children: walk up to it.
            need = "Parallel" if kind.startswith("Parallel") else "Map"
            name = event_details(event).get("name") if kind.startswith("MapIteration") else None
            while target is not None and (
                target.done or target.type != need or (name is not None and target.name != name)
            ):
                target = owner.get(target.scope)
            if (
                target is not None
                and kind.endswith(("Succeeded", "Failed", "Aborted"))
                and "Iteration" not in kind
            ):
                target.done = True
        else:
            target = self._open_ancestor(target)
        if target is None:
            return
        target.events.append(event)
        self.run_of[event["id"]] = target
        self.scope_of[event["id"]] = target.scope
        if kind == "MapIterationStarted":
            scope = (*target.scope, (target.name, event_details(event).get("index", 0)))
            owner[scope] = target
            self.scope_of[event["id"]] = scope
        if kind.endswith("StateExited"):
            target.exited = event
            target.done = True
            self.open_runs.pop(target.number, None)

    # -- what the view asks for ---------------------------------------------------------------------

    def statuses(self, status: str) -> list[str]:
        """Each run's status (by run number) while the execution has `status`."""
        key = (status, len(self.events))
        if self._statuses is None or self._statuses[0] != key:
            self._statuses = (key, [_run_status(run, status, self.ended)[0] for run in self.runs])
        return self._statuses[1]

    @staticmethod
    def visible(run: _Run, pickers: Pickers) -> bool:
        for container, key in run.scope:
            pick = pickers.get(container)
            if pick is not None and pick != "all" and str(key) != str(pick):
                return False
        return True

    def summary(self, status: str, pickers: Pickers, iterations: int = 200) -> dict[str, Any]:
        """What the graph draws: each state's status (the latest run in each thread, the worst across
        threads) and number of runs, the edges the run took, each Map's iterations (the worst
        status of each, at most `iterations` listed: those that did not succeed first) and the state
        to show first. Its size follows the definition, not the history."""
        statuses = self.statuses(status)
        latest: dict[str, dict[tuple[Any, ...], str]] = {}
        counts: dict[str, int] = {}
        last: dict[tuple[Any, ...], _Run] = {}
        taken: set[tuple[str, str | None, str | None]] = set()
        maps: dict[str, dict[Any, str]] = {}
        for run in self.runs:
            st = statuses[run.number]
            for container, key in run.scope:
                if (self.index.get(container) or {}).get("type") == "Map":
                    seen = maps.setdefault(container, {})
                    if key not in seen or _PRIORITY[st] > _PRIORITY[seen[key]]:
                        seen[key] = st
            if not self.visible(run, pickers):
                continue
            latest.setdefault(run.name, {})[run.scope] = st
            counts[run.name] = counts.get(run.name, 0) + 1
            before = last.get(run.scope)
            if before is not None:
                kind = "catch" if statuses[before.number] == "caught" else "next"
                taken.add((kind, before.name, run.name))
            else:
                taken.add(("next", run.scope[-1][0] if run.scope else None, run.name))
            last[run.scope] = run
        for run in last.values():
            if statuses[run.number] == "succeeded":
                taken.add(("next", run.name, None))
        states = {
            name: {"status": _worst(threads.values()), "runs": counts[name]}
            for name, threads in latest.items()
        }

        def leaf(name: str) -> bool:
            return (self.index.get(name) or {}).get("type") not in ("Map", "Parallel")

        focus = None
        for wanted in ("failed", "running"):
            found = [r for r in self.runs if statuses[r.number] == wanted and self.visible(r, pickers)]
            leaves = [r for r in found if leaf(r.name)]
            if found:
                focus = (leaves or found)[-1].name
                break
        listed = {}
        for name, seen in maps.items():
            # The iterations that did not succeed first, then the others in order.
            order = sorted(
                seen, key=lambda k: (-_PRIORITY[seen[k]] if seen[k] != "succeeded" else 0, _num(k))
            )
            chosen = sorted(order[:iterations], key=_num)
            listed[name] = {"count": len(seen), "iterations": [[k, seen[k]] for k in chosen]}
        return {
            "states": states,
            "taken": sorted(taken, key=lambda t: (t[0], t[1] or "", t[2] or "")),
            "maps": listed,
            "focus": focus,
            "transitions": self.transitions,
            "runs": len(self.runs),
            "events": len(self.events),
        }

    def light(self, run: _Run, statuses: list[str]) -> dict[str, Any]:
        """A run without its payloads: a row of the table, an entry in a state's list of runs."""
        end = run.exited["timestamp"] if run.exited else None
        if end is None and statuses[run.number] == "failed":
            failure = _failure(run)
            end = failure["timestamp"] if failure else None
        return {
            "id": run.number,
            "name": run.name,
            "type": run.type,
            "scope": [list(s) for s in run.scope],
            "status": statuses[run.number],
            "start": run.entered["timestamp"],
            "end": end,
        }

    def table_rows(
        self,
        status: str,
        pickers: Pickers,
        *,
        state_status: str = "",
        text: str = "",
        sort: str = "id",
        descending: bool = False,
        offset: int = 0,
        limit: int = 100,
    ) -> dict[str, Any]:
        """One page of the table view: runs filtered (status, text in name, type, status or
        iteration) and sorted on the server, so the page never holds every run."""
        statuses = self.statuses(status)
        text = text.lower()
        rows = []
        for run in self.runs:
            if not self.visible(run, pickers) or (state_status and statuses[run.number] != state_status):
                continue
            if text:
                where = " ".join(f"{c}[{k}]" for c, k in run.scope)
                if text not in f"{run.name} {run.type} {statuses[run.number]} {where}".lower():
                    continue
            rows.append(run)
        if sort != "id":

            def value(run: _Run) -> Any:
                if sort == "duration":
                    light = self.light(run, statuses)
                    return float("inf") if light["end"] is None else _duration(light)
                if sort == "status":
                    return statuses[run.number]
                if sort == "scope":
                    return [[c, _num(k)] for c, k in run.scope]
                if sort in ("start", "timeline"):
                    return run.entered["timestamp"]
                return getattr(run, sort, run.number) or ""

            rows.sort(key=lambda r: (_sortable(value(r)), r.number))
        if descending:
            rows.reverse()
        page = rows[offset : offset + limit]
        return {
            "runs": [self.light(r, statuses) for r in page],
            "total": len(rows),
            "offset": offset,
            "next": offset + limit if offset + limit < len(rows) else None,
        }

    def state_runs(
        self,
        status: str,
        pickers: Pickers,
        name: str,
        chosen: int | None,
        execution: dict[str, Any],
        limit: int = 500,
    ) -> dict[str, Any]:
        """The runs of one state (the last `limit` listed) and one of them in full: its payload at
        each processing step, its attempts, variables and error."""
        statuses = self.statuses(status)
        runs = [r for r in self.runs if r.name == name and self.visible(r, pickers)]
        pick = next((r for r in runs if r.number == chosen), runs[-1] if runs else None)
        return {
            "total": len(runs),
            "runs": [self.light(r, statuses) for r in runs[-limit:]],
            "run": self.record(pick, status, execution) if pick is not None else None,
        }

    def record(self, target: _Run, status: str, execution: dict[str, Any]) -> dict[str, Any]:
        """One run in full. Its variables are those its scope held when it ran: the assignments of
        the runs before it, in order."""
        variables: dict[tuple[Any, ...], dict[str, Any]] = {}
        for run in self.runs:
            scope_vars = variables.setdefault(run.scope, dict(variables.get(run.scope[:-1], {})))
            if run is target:
                return _record(
                    run, self.index, status, self.ended, execution, scope_vars, self.runs, self.owner
                )
            assigned = _assigned(run)
            if assigned:
                scope_vars.update(assigned)
        raise ValueError("not a run of this execution")

    def records(self, status: str, execution: dict[str, Any]) -> list[dict[str, Any]]:
        variables: dict[tuple[Any, ...], dict[str, Any]] = {}
        out = []
        for run in self.runs:
            scope_vars = variables.setdefault(run.scope, dict(variables.get(run.scope[:-1], {})))
            out.append(
                _record(run, self.index, status, self.ended, execution, scope_vars, self.runs, self.owner)
            )
            assigned = _assigned(run)
            if assigned:
                scope_vars.update(assigned)
        return out

    def step_of(self, event_id: int) -> tuple[str | None, str | None]:
        """The state an event belongs to, and the resource its task called (as AWS's events view shows)."""
        run = self.run_of.get(event_id)
        if run is None:
            return None, None
        known = self._resources.get(run.number)
        if known is None or known[0] != len(run.events):
            called = None
            for event in run.events:
                d = event_details(event)
                if isinstance(d.get("resource"), str):
                    called = (
                        f"{d['resourceType']}:{d['resource']}" if d.get("resourceType") else d["resource"]
                    )
            known = self._resources[run.number] = (len(run.events), called)
        return run.name, known[1]

    def events_page(
        self, after: int = 0, limit: int = 100, text: str = "", scan: int | None = None
    ) -> dict[str, Any]:
        """Events after id `after` (with `text`, those that hold it, or whose state's name does),
        each with its state and resource. At most `scan` events are looked at: a search of a long
        history goes a slice at a time. `next` is the id to go on after, None at the end."""
        text = text.lower()
        out: list[dict[str, Any]] = []
        start = bisect.bisect_right(self.events, after, key=lambda e: e["id"])
        last = after
        for looked, event in enumerate(self.events[start:], 1):
            last = event["id"]
            step, resource = self.step_of(event["id"])
            if not text or text in (step or "").lower() or text in _search_text(event):
                out.append({**event, "step": step, "resource": resource})
            if len(out) >= limit or (scan is not None and looked >= scan):
                break
        return {"events": out, "next": last if last < self.last_id else None, "total": len(self.events)}


def _num(key: Any) -> Any:
    return (0, key, "") if isinstance(key, int) else (1, 0, str(key))


def _sortable(value: Any) -> Any:
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, json.dumps(value, default=str))


def _duration(light: Mapping[str, Any]) -> float:
    return (datetime.fromisoformat(light["end"]) - datetime.fromisoformat(light["start"])).total_seconds()


def _search_text(event: Mapping[str, Any]) -> str:
    return json.dumps(event, default=str, ensure_ascii=False).lower()


def _assigned(run: _Run) -> dict[str, Any] | None:
    text = event_details(run.exited).get("assignedVariables") if run.exited else None
    return {k: load_json(v) for k, v in text.items()} if isinstance(text, dict) else None


def _failure(run: _Run) -> dict[str, Any] | None:
    return next(
        (
            e
            for e in reversed(run.events)
            if e["type"].endswith(_FAILURE_SUFFIXES) and not e["type"].startswith("MapIteration")
        ),
        None,
    )


def execution_runs(
    definition: Any, events: list[dict[str, Any]], execution: dict[str, Any]
) -> list[dict[str, Any]]:
    """One record per state run, in the order the states were entered.

    Each record: id, name, type, scope (a list of [container, branch-or-iteration] pairs from the
    top level down), status (succeeded | running | failed | caught | cancelled), start/end
    timestamps, input, output, attempts (each with error/cause), error, cause, assignedVariables
    and `stages` (InputPath, Parameters/Arguments, Result, ResultSelector, ResultPath, OutputPath,
    each `{"value", "source": "history" | "computed"}`)."""
    index = ExecutionIndex(definition)
    index.feed(events)
    return index.records(execution.get("status", "RUNNING"), execution)


def _last_attempt_failed(run: _Run) -> bool:
    attempts = _attempts(run)
    return bool(attempts) and bool(attempts[-1].get("failed"))


def _attempts(run: _Run) -> list[dict[str, Any]]:
    attempts: list[dict[str, Any]] = []
    for event in run.events:
        kind = event["type"]
        if kind in _SCHEDULED_EVENTS or kind in ("MapStateStarted", "ParallelStateStarted"):
            attempts.append({"scheduled": event["timestamp"], "eventId": event["id"]})
        elif attempts and (kind.endswith(_FAILURE_SUFFIXES) and not kind.startswith("MapIteration")):
            details = event_details(event)
            attempts[-1].update(
                failed=True, error=details.get("error"), cause=details.get("cause"), end=event["timestamp"]
            )
        elif attempts and (kind in _RESULT_EVENTS or kind in ("MapStateSucceeded", "ParallelStateSucceeded")):
            attempts[-1]["end"] = event["timestamp"]
    return attempts


def _run_status(run: _Run, status: str, ended: dict[int, str]) -> tuple[str, list[dict[str, Any]], bool]:
    """(status, attempts, whether the last attempt failed) of one run while the execution has `status`."""
    attempts = _attempts(run)
    last_attempt_failed = bool(attempts) and bool(attempts[-1].get("failed"))
    if run.exited is not None:
        state_status = "caught" if last_attempt_failed else "succeeded"
    elif run.number in ended:
        state_status = ended[run.number]
    elif status == "RUNNING":
        state_status = "running"
    else:  # the history ends without an execution-closing event
        state_status = "cancelled"
    return state_status, attempts, last_attempt_failed


def _record(
    run: _Run,
    index: dict[str, dict[str, Any]],
    status: str,
    ended: dict[int, str],
    execution: dict[str, Any],
    scope_vars: dict[str, Any],
    runs: list[_Run],
    owner: dict[tuple[Any, ...], _Run],
) -> dict[str, Any]:
    spec = index.get(run.name, {}).get("spec") or {}
    state_status, attempts, last_attempt_failed = _run_status(run, status, ended)
    failure = _failure(run)
    exited = run.exited
    error = cause = None
    if failure is not None and (last_attempt_failed or state_status == "failed"):
        error, cause = event_details(failure).get("error"), event_details(failure).get("cause")
    if run.type == "Fail" and state_status == "failed":
        error = error or spec.get("Error")
        cause = cause or spec.get("Cause")
    input_value = load_json(event_details(run.entered).get("input"))
    output_value = load_json(event_details(exited).get("output")) if exited else None
    stages = _stages(
        run, spec, input_value, output_value, scope_vars, execution, runs, owner, last_attempt_failed
    )
    end = (
        exited["timestamp"]
        if exited
        else (failure["timestamp"] if failure and state_status == "failed" else None)
    )
    return {
        "id": run.number,
        "name": run.name,
        "type": run.type,
        "scope": [list(s) for s in run.scope],
        "status": state_status,
        "start": run.entered["timestamp"],
        "end": end,
        "enteredEventId": run.entered["id"],
        "exitedEventId": exited["id"] if exited else None,
        "eventIds": [e["id"] for e in run.events],
        "input": input_value,
        "output": output_value,
        "hasOutput": exited is not None,
        "attempts": attempts,
        "retries": max(0, len(attempts) - 1),
        "error": error,
        "cause": cause,
        "assignedVariables": _assigned(run),
        "stages": stages,
    }


class _NoResult(Exception):
    """The state produced no result of its own (still running, or a Catch took over)."""


def _stage(value: Any, source: str) -> dict[str, Any]:
    return {"value": value, "source": source}


def _child_outputs(run: _Run, runs: list[_Run], owner: dict[tuple[Any, ...], _Run]) -> list[Any] | None:
    """A Map's or Parallel's result: the last output of each iteration or branch, in index order."""
    last: dict[Any, _Run] = {}
    for other in runs:
        if other.scope and owner.get(other.scope) is run and other.exited is not None:
            key = other.scope[-1][1]
            if key not in last or other.exited["id"] > last[key].exited["id"]:  # type: ignore[index]
                last[key] = other
    if not last:
        return None
    return [load_json(event_details(last[k].exited).get("output")) for k in sorted(last)]  # type: ignore[arg-type]


def _stages(
    run: _Run,
    spec: dict[str, Any],
    input_value: Any,
    output_value: Any,
    variables: dict[str, Any],
    execution: dict[str, Any],
    runs: list[_Run],
    owner: dict[tuple[Any, ...], _Run],
    caught: bool = False,
) -> list[dict[str, Any]]:
    """The payload at each processing step, from the history where it records it, else by re-applying
    the state's fields to the recorded input."""
    from workflows.asl.definition import compile_payload
    from workflows.asl.jsonpath import PathError, compile_path, compile_reference, set_path

    jsonata = (spec.get("QueryLanguage") or execution.get("_queryLanguage")) == "JSONata"
    scheduled = next((e for e in run.events if e["type"] in _SCHEDULED_EVENTS), None)
    succeeded = next((e for e in reversed(run.events) if e["type"] in _RESULT_EVENTS), None)
    raw_result: Any = None
    has_result = False
    if succeeded is not None:
        raw_result, has_result = load_json(event_details(succeeded).get("output")), True
    elif run.type in ("Map", "Parallel"):
        children = _child_outputs(run, runs, owner)
        if children is not None or run.exited is not None:
            raw_result, has_result = children or [], True
    sent: Any = None
    has_sent = False
    if scheduled is not None:
        d = event_details(scheduled)
        sent = load_json(d.get("parameters") if "parameters" in d else d.get("input"))
        has_sent = True

    env = SimpleNamespace(
        context={
            "Execution": {
                "Id": execution.get("executionArn"),
                "Name": execution.get("name"),
                "Input": load_json(execution.get("input")),
                "StartTime": execution.get("startDate"),
                "RoleArn": execution.get("roleArn"),
            },
            "State": {"Name": run.name, "EnteredTime": run.entered["timestamp"], "RetryCount": 0},
            "StateMachine": {
                "Id": execution.get("stateMachineArn"),
                "Name": execution.get("stateMachineName"),
            },
        },
        variables=variables,
    )
    stages: list[dict[str, Any]] = [{"name": "Input", **_stage(input_value, "history")}]
    if jsonata:
        if has_sent:
            stages.append({"name": "Arguments", **_stage(sent, "history")})
        if has_result:
            stages.append({"name": "Result", **_stage(raw_result, "history")})
        if run.exited is not None:
            stages.append({"name": "Output", **_stage(output_value, "history")})
        return stages

    def read(path: str, value: Any) -> Any:
        return compile_reference(path).get(value, env.context, variables)

    try:
        if "InputPath" in spec:
            effective = {} if spec["InputPath"] is None else read(spec["InputPath"], input_value)
        else:
            effective = input_value
        if "InputPath" in spec:
            stages.append({"name": "InputPath", **_stage(effective, "computed")})
        param_field = (
            "Parameters" if "Parameters" in spec else "ItemSelector" if "ItemSelector" in spec else None
        )
        if has_sent and run.type == "Task":
            stages.append({"name": "Parameters", **_stage(sent, "history")})
        elif param_field and run.type in ("Pass", "Parallel", "Task"):
            effective = compile_payload(spec[param_field])(effective, env)
            stages.append({"name": param_field, **_stage(effective, "computed")})
        if run.type == "Pass":
            raw_result, has_result = (spec["Result"], True) if "Result" in spec else (effective, True)
        elif run.type in ("Wait", "Choice", "Succeed"):
            raw_result, has_result = effective, True
        if caught:  # a Catch chose the output: the state's own result fields never ran
            has_result = False
        if has_result and run.type in ("Task", "Map", "Parallel"):
            source = "history" if succeeded is not None else "computed"
            stages.append({"name": "Result", **_stage(raw_result, source)})
        if not has_result or run.exited is None:
            raise _NoResult
        selected = raw_result
        if "ResultSelector" in spec:
            selected = compile_payload(spec["ResultSelector"])(raw_result, env)
            stages.append({"name": "ResultSelector", **_stage(selected, "computed")})
        if run.type in ("Task", "Pass", "Map", "Parallel"):
            if "ResultPath" in spec and spec["ResultPath"] is None:
                combined = input_value
            elif "ResultPath" in spec:
                combined = set_path(input_value, compile_path(spec["ResultPath"]), selected)
            else:
                combined = selected
            if "ResultPath" in spec:
                stages.append({"name": "ResultPath", **_stage(combined, "computed")})
        else:
            combined = selected
        if "OutputPath" in spec:
            out = {} if spec["OutputPath"] is None else read(spec["OutputPath"], combined)
            stages.append({"name": "OutputPath", **_stage(out, "computed")})
    except _NoResult:
        if run.exited is None:
            return stages
    except (PathError, Exception):  # a stage we cannot re-derive is left out; the history has the rest
        pass
    if run.exited is not None:
        label = "Output (from the Catch's ResultPath)" if caught else "Output"
        stages.append({"name": label, **_stage(output_value, "history")})
    return stages


# -- the app ------------------------------------------------------------------------------------------


# -- executions list: columns read from each execution's input and output -----------------------------

# The tag on a state machine that chooses its list's columns: `name=PATH|PATH,name=PATH`. A path reads
# the execution seen as {"input", "output", "error", "cause", "name", "status"}; the first alternative
# giving a value wins, so one column can read several output shapes.
COLUMNS_TAG = "workflows:columns"
# The pipeline's defaults: what was uploaded (bucket, key) and what became of it (outcome, reason).
# The outcome sits at the top of the output, in the notification the pipeline sends, or under
# `outcome` (routed uploads); a failed execution's reason is its error.
DEFAULT_COLUMNS = (
    "key=$.input.key|$.input.detail.object.key|$.input.Records[0].s3.object.key,"
    "outcome=$.output.outcome|$.output.notification.outcome|$.output.outcome.outcome,"
    "reason=$.output.reason|$.output.notification.reason|$.output.outcome.reason|$.error,"
    "bucket=$.input.bucket|$.input.detail.bucket.name|$.input.Records[0].s3.bucket.name"
)
_STEP = re.compile(r"\.([A-Za-z0-9_$@-]+)|\[(\d+)\]|\['([^']*)'\]")
MAX_CELL = 300  # characters of one value; a list shows keys and outcomes, not documents


def parse_columns(spec: str | None) -> list[tuple[str, list[str]]]:
    """`key=$.input.key|$.input.detail.object.key,outcome=$.output.outcome` → [(name, [paths])].
    Raises ValueError naming the part it cannot read."""
    columns: list[tuple[str, list[str]]] = []
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        name, sep, paths = part.partition("=")
        name = name.strip()
        alternatives = [p.strip() for p in paths.split("|") if p.strip()]
        if not sep or not name or not alternatives:
            raise ValueError(f"expected NAME=$.path, got {part.strip()!r}")
        for path in alternatives:
            _path_steps(path)
        columns.append((name, alternatives))
    return columns


def _path_steps(path: str) -> list[str | int]:
    if not path.startswith("$"):
        raise ValueError(f"a column path starts with $: {path!r}")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        match = _STEP.match(path, pos)
        if match is None:
            raise ValueError(f"cannot read {path!r} at {path[pos:]!r}")
        name, index, quoted = match.groups()
        steps.append(int(index) if index is not None else name if name is not None else quoted)
        pos = match.end()
    return steps


def read_path(document: Any, path: str) -> Any:
    """The value at a `$.a.b[0]` path, or None where the document has no such member."""
    value = document
    for step in _path_steps(path):
        fits = (isinstance(step, int) and isinstance(value, list) and step < len(value)) or (
            isinstance(step, str) and isinstance(value, dict) and step in value
        )
        if not fits:
            return None
        value = value[step]  # type: ignore[index]
    return value


def execution_columns(columns: list[tuple[str, list[str]]], execution: dict[str, Any]) -> dict[str, Any]:
    """Each column's value for one described execution: the first scalar its paths find (a list
    cell is text, never a document), else None."""
    document = {
        "input": load_json(execution.get("input")),
        "output": load_json(execution.get("output")),
        "error": execution.get("error"),
        "cause": execution.get("cause"),
        "name": execution.get("name"),
        "status": execution.get("status"),
    }
    out: dict[str, Any] = {}
    for name, paths in columns:
        value = None
        for path in paths:
            found = read_path(document, path)
            if found is not None and not isinstance(found, (dict, list)):
                value = found if not isinstance(found, str) else found[:MAX_CELL]
                break
        out[name] = value
    return out
