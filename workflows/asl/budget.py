"""Budgets for evaluating user-supplied text: one bad expression costs one state, never the server.

JSONata and JSONPath queries get `EVALUATION_SECONDS` of wall time each, checked by the evaluator
as it goes (a deadline, not a step count: steps of either library differ in cost by orders of
magnitude). The engine first runs an evaluation on the event loop in *slice* mode: past
`SLICE_SECONDS` the evaluator raises `Overtime`, and the engine runs it again, from the start, on a
worker thread with the whole budget, so a slow expression never holds the loop longer than a slice.
Evaluations are pure functions of their input, which is what makes the restart safe.

Regular expressions run on RE2 (linear time) and StringMatches without backtracking, so neither
needs a clock. JSON nesting is bounded by `MAX_DEPTH` wherever text is parsed, so no recursive walk
can overflow the interpreter's stack.
"""

from __future__ import annotations

import contextvars
import json
import time
from itertools import accumulate
from typing import Any

import re2

__all__ = [
    "EVALUATION_SECONDS",
    "MAX_ARRAY_ITEMS",
    "MAX_DEPTH",
    "MAX_STRING_CHARS",
    "SLICE_SECONDS",
    "BudgetExceeded",
    "Deadline",
    "Overtime",
    "TooDeep",
    "compile_regex",
    "depth_exceeds",
    "in_slice",
    "loads",
]

# Long enough for what a 256 KiB payload calls for in these pure-Python evaluators (a `$map` over
# ten thousand items), short enough that a runaway expression fails its state promptly.
EVALUATION_SECONDS = 1.0
# How long one evaluation may hold the event loop before it moves to a worker thread.
SLICE_SECONDS = 0.02
# Jackson's default nesting limit: what AWS's parser accepts, well inside Python's recursion limit.
MAX_DEPTH = 1000
# A string or array built inside an expression (concatenation in a loop doubles quickly, a range
# `[1..9999999]` is one step) may not outgrow these. No array read from a 256 KiB payload comes near.
MAX_STRING_CHARS = 4 * 1024 * 1024
MAX_ARRAY_ITEMS = 256 * 1024


class BudgetExceeded(Exception):
    """An evaluation ran past its budget; `message` says which."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TooDeep(ValueError):
    """JSON nested deeper than MAX_DEPTH."""

    def __init__(self) -> None:
        super().__init__(f"JSON nested deeper than {MAX_DEPTH} levels")


class Overtime(Exception):
    """An evaluation in slice mode held the event loop past SLICE_SECONDS; run it off the loop."""


_SLICE: contextvars.ContextVar[bool] = contextvars.ContextVar("workflows_evaluation_slice", default=False)


def in_slice(function: Any, *args: Any) -> Any:
    """Call `function(*args)` with every evaluation in it in slice mode (it may raise Overtime)."""
    token = _SLICE.set(True)
    try:
        return function(*args)
    finally:
        _SLICE.reset(token)


class Deadline:
    """The wall-clock end of one evaluation (and, in slice mode, of its turn on the event loop)."""

    __slots__ = ("at", "slice_at")

    def __init__(self) -> None:
        now = time.perf_counter()
        self.at = now + EVALUATION_SECONDS
        self.slice_at = now + SLICE_SECONDS if _SLICE.get() else None

    def overrun(self) -> BaseException | None:
        """The exception to raise when a limit has passed (Overtime or BudgetExceeded), else None."""
        now = time.perf_counter()
        if self.slice_at is not None and now > self.slice_at:
            return Overtime()
        if now > self.at:
            return BudgetExceeded(self.message())
        return None

    @staticmethod
    def message() -> str:
        return f"The evaluation exceeded its time budget of {round(EVALUATION_SECONDS * 1000)} ms."


_STRING = re2.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re2.compile(r"[^\[\]{}]+")
_DELTA = {"[": 1, "{": 1, "]": -1, "}": -1}


def depth_exceeds(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON text nests arrays/objects deeper than `limit`, found before `json.loads` would
    recurse that deep. Strings are cut out and the depth summed at C speed (regex, accumulate)."""
    if text.count("[") + text.count("{") <= limit:
        return False  # the common case costs two counts
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_DELTA.__getitem__, brackets)), default=0) > limit


def loads(text: str | bytes) -> Any:
    """`json.loads` that refuses nesting deeper than MAX_DEPTH (raises TooDeep) instead of recursing."""
    if isinstance(text, bytes | bytearray):
        text = text.decode()
    if depth_exceeds(text):
        raise TooDeep()
    return json.loads(text, parse_constant=_not_json)


def _not_json(name: str) -> Any:
    # NaN and Infinity are Python's extensions, not JSON: AWS's parser refuses them, and so does this.
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a rejected pattern is reported to the state, not to stderr


def compile_regex(pattern: str, *, ignore_case: bool = False, multiline: bool = False) -> Any:
    """A pattern on RE2: matching is linear in the text, so no pattern can backtrack for ever. RE2
    refuses backreferences and lookaround (raises ValueError), which backtracking engines need."""
    flags = ("i" if ignore_case else "") + ("m" if multiline else "")
    try:
        return re2.compile(f"(?{flags}){pattern}" if flags else pattern, _RE2_OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"Invalid or unsupported regular expression /{pattern}/: {detail}") from None
