"""The definition editor's data: diagnostics placed on the exact field and grouped by cause, the
fields each state type takes, and a past execution's input to a state.

Pure functions over the definition text and validator output; console.py serves them.
"""

from __future__ import annotations

import bisect
import difflib
import json
import re
from collections.abc import Mapping, Sequence
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from workflows.asl import validation
from workflows.service.console_data import _Node, _pointer_steps, _scan

__all__ = ["editor_schema", "place_diagnostics", "problem_lines", "state_inputs"]

_UNREACHABLE = re.compile(r'^State "(.*)" is not reachable\.$', re.S)
_MISSING_TARGET = re.compile(r"^Missing '(?:Next|Default)' target: (.*)$", re.S)
_NAMED_FIELD = re.compile(r"^Field '([^']+)' is not supported")
_JACKSON = re.compile(r"\s*at \[Source: .*; line: (\d+), column: (\d+)\]$", re.S)


class _Lines:
    """Offsets to (line, column) by bisecting the line starts, found once per text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based line and column; the column counts UTF-16 units, as the browser's strings do."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset)
        start = self.starts[line - 1]
        return line, len(self.text[start:offset].encode("utf-16-le")) // 2 + 1


def _value_end(text: str, node: _Node) -> int:
    _, end = _scan(text, node.start)
    return end


def _key_end(text: str, key_at: int) -> int:
    _, end = scanstring(text, key_at + 1)
    return int(end)


def field_span(
    text: str, pointer: str | None, message: str = "", root: _Node | None = None
) -> tuple[int, int] | None:
    """The character span a diagnostic is about: the value when it is a scalar (a bad `Next` target),
    the member's key when it is an object or array (an unreachable state, a missing field), the named
    member's key when the message names an unsupported field; for a pointer to something missing,
    the key of the nearest existing ancestor."""
    if not pointer:
        return None
    if root is None:
        try:
            root, _ = _scan(text, 0)
        except (ValueError, IndexError, RecursionError):
            return None
    node = root
    key_at: int | None = None
    complete = True
    for step in _pointer_steps(pointer):
        children = node.children
        if isinstance(children, dict) and str(step) in children:
            key_at, node = children[str(step)]
        elif isinstance(children, list) and isinstance(step, int) and 0 <= step < len(children):
            node, key_at = children[step], None
        else:
            complete = False
            break
    named = _NAMED_FIELD.match(message)
    if complete and named and isinstance(node.children, dict) and named[1] in node.children:
        member_at, _ = node.children[named[1]]
        return member_at, _key_end(text, member_at)
    if complete and node.children is None:
        return node.start, _value_end(text, node)
    if key_at is not None:
        return key_at, _key_end(text, key_at)
    return node.start, node.start + 1


def _scope_of(location: str) -> tuple[str, str]:
    """`/States/M/ItemProcessor/States/Check/Choices[0]/Next` -> (`/States/M/ItemProcessor`, `Check`)."""
    scope, _, rest = location.rpartition("/States/")
    return scope, rest.split("/", 1)[0]


def place_diagnostics(text: str, diagnostics: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each diagnostic (ValidateStateMachineDefinition's shape) with where it is in `text`
    (`line`, `column`, `endLine`, `endColumn`) and how it relates to the others: an unreachable state
    caused by a missing transition target of its scope gets `causedBy` (that diagnostic's index), and
    the cause lists its `cascades`. A JSON syntax error gets a one-line `summary`."""
    found: list[dict[str, Any]] = []
    lines = _Lines(text)
    root: _Node | None = None
    try:  # once for all the diagnostics: a definition is scanned once, not once per finding
        root, _ = _scan(text, 0)
    except (ValueError, IndexError, RecursionError):
        root = None
    for i, d in enumerate(diagnostics):
        item = {**d, "index": i, "line": None, "column": None, "endLine": None, "endColumn": None}
        location = d.get("location") or ""
        jackson = _JACKSON.search(d.get("message") or "")
        if d.get("code") == "INVALID_JSON_DESCRIPTION" and jackson:
            line, column = int(jackson[1]), int(jackson[2])
            reason = (d.get("message") or "")[: jackson.start()].strip()
            item.update(line=line, column=column, endLine=line, endColumn=column + 1)
            item["summary"] = f"JSON syntax error at {line}:{column}: {reason}"
        else:
            span = field_span(text, location, d.get("message") or "", root) if root is not None else None
            if span is not None:
                item["line"], item["column"] = lines.position(span[0])
                item["endLine"], item["endColumn"] = lines.position(span[1])
        found.append(item)
    _group(found)
    return found


def _group(found: list[dict[str, Any]]) -> None:
    causes: dict[str, list[dict[str, Any]]] = {}
    for d in found:
        match = _MISSING_TARGET.match(d.get("message") or "")
        if d.get("code") == "MISSING_TRANSITION_TARGET" and match and d.get("location"):
            d["target"] = match[1]
            d["cascades"] = []
            causes.setdefault(_scope_of(d["location"])[0], []).append(d)
    if not causes:
        return
    unreachable: dict[str, list[dict[str, Any]]] = {}
    for d in found:
        match = _UNREACHABLE.match(d.get("message") or "")
        if d.get("code") == "MISSING_TRANSITION_TARGET" and match and d.get("location"):
            scope, name = _scope_of(d["location"])
            if scope in causes:
                d["state"] = name
                unreachable.setdefault(scope, []).append(d)
    for scope, cascades in unreachable.items():
        names = [d["state"] for d in cascades]
        # A typo in a target usually names the state it meant: that state, and the states only it
        # leads to, are this cause's cascade.
        for cause in causes[scope]:
            guess = difflib.get_close_matches(cause["target"], names, n=1, cutoff=0.6)
            if guess:
                cause["suggestion"] = guess[0]
        for d in cascades:
            owner = next((c for c in causes[scope] if c.get("suggestion") == d["state"]), causes[scope][0])
            d["causedBy"] = owner["index"]
            owner["cascades"].append(d["index"])


def editor_schema() -> dict[str, Any]:
    """What autocomplete offers as keys: the fields of each state type and of a state machine."""
    common = sorted(validation._COMMON)
    return {
        "stateTypes": list(validation.STATE_TYPES),
        "stateFields": {
            kind: sorted(set(common) | set(fields)) for kind, fields in validation._STATE_FIELDS.items()
        },
        "topFields": sorted(validation._TOP_LEVEL_FIELDS),
        "jsonpathOnly": sorted(validation._JSONPATH_ONLY),
        "jsonataOnly": sorted(validation._JSONATA_ONLY),
    }


def state_inputs(events: Sequence[Mapping[str, Any]], state: str) -> list[Any]:
    """The inputs `state` was entered with in one execution's history, in order."""
    out = []
    for event in events:
        if not event["type"].endswith("StateEntered"):
            continue
        details = event.get("stateEnteredEventDetails") or {}
        if details.get("name") == state:
            raw = details.get("input")
            try:
                out.append(json.loads(raw) if isinstance(raw, str) else raw)
            except ValueError:
                out.append(raw)
    return out


def problem_lines(
    text: str, diagnostics: Sequence[Mapping[str, Any]], *, errors_only: bool = True
) -> list[str]:
    """One line per real problem for a terminal: where, what, and how many unreachable states it
    causes, instead of a line per cascade."""
    lines = []
    for d in place_diagnostics(text, diagnostics):
        if "causedBy" in d or (errors_only and d.get("severity") != "ERROR"):
            continue
        where = f"{d['line']}:{d['column']} " if d.get("line") else ""
        line = d.get("summary") or f"{where}{d.get('code')} at {d.get('location') or '/'}: {d.get('message')}"
        if d.get("suggestion"):
            line += f' (did you mean "{d["suggestion"]}"?)'
        if d.get("cascades"):
            line += f"; {len(d['cascades'])} states unreachable because of it"
        lines.append(line)
    return lines
