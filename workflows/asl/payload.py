"""Payloads as Step Functions writes them: compact JSON text, at most 256 KiB of it."""

from __future__ import annotations

import json
import re
from typing import Any

from workflows.asl import budget, errors
from workflows.asl.errors import ASLError

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "NumberOutOfRange",
    "SizeCheck",
    "bounded_size",
    "check_size",
    "dumps",
    "exceeds_limit",
    "loads",
    "size",
    "too_large",
]

# AWS's quota on a state's input, output, Parameters/Arguments, a task's result, an execution's
# input and output: 256 KiB of UTF-8.
MAX_PAYLOAD_BYTES = 256 * 1024


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
# json.dumps with these options builds a JSONEncoder and a C encoder on every call; payloads are
# serialised on every state (the size check) and every history read, so build them once. (No
# circular-reference markers: payloads are trees.)
_encode: Any = (
    json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    if getattr(json.encoder, "c_make_encoder", None) is not None
    else None
)


def dumps(value: Any) -> str:
    """JSON text the way Step Functions writes payloads: compact, non-ASCII kept."""
    if _encode is None:  # pragma: no cover - CPython always has the C encoder
        return _ENCODER.encode(value)
    return "".join(_encode(value, 0))


def _utf8_length(text: str) -> int:
    # A lone surrogate (a JSONata string literal can make one) is counted as the three bytes Java's
    # encoder gives it, rather than failing the state with an encoding error.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def size(value: Any) -> int:
    """The exact UTF-8 length of `value` as payload text."""
    return _utf8_length(dumps(value))


def bounded_size(value: Any, limit: int) -> int:
    """The exact UTF-8 size of `value` as payload text (`payload.size`) when it is at most `limit`;
    else some number over `limit`, found without walking (or serialising) more than `limit` bytes'
    worth of it. A value that shares one object many times (a DAG) counts each reference, as its
    text would."""
    kind = type(value)
    if kind is int or kind is float or kind is bool or value is None:
        return len(dumps(value))
    size = 0
    stack = [value]
    pop = stack.pop
    push = stack.append
    while stack:
        item = pop()
        kind = type(item)
        if kind is str:
            if size + len(item) + 2 > limit:  # every character is at least one byte
                return size + len(item) + 2
            text = json.encoder.encode_basestring(item)
            size += _utf8_length(text)
        elif kind is dict:
            size += 1 + len(item)  # braces and commas: "{" + (n - 1) "," + "}" (2 when empty)
            if not item:
                size += 1
            for key, member in item.items():
                text = json.encoder.encode_basestring(key) if type(key) is str else dumps(str(key))
                size += _utf8_length(text) + 1  # and its ":"
                push(member)
                if size > limit:
                    return size
        elif kind is list:
            size += 1 + len(item) + (1 if not item else 0)
            if size > limit:
                return size
            stack.extend(item)
        else:
            size += len(dumps(item))
        if size > limit:
            return size
    return size


def exceeds_limit(value: Any, limit: int = MAX_PAYLOAD_BYTES) -> bool:
    """Whether `value` as payload text is over `limit` bytes of UTF-8, exactly at the boundary."""
    if value is None or isinstance(value, bool | int | float):
        return False
    if isinstance(value, str) and len(value) * 6 + 2 <= limit:  # even if every char were escaped
        return False
    text = dumps(value)
    if len(text) > limit:  # every character is at least one byte
        return True
    if text.isascii():  # O(1) in CPython: then characters are bytes
        return False
    return _utf8_length(text) > limit


class NumberOutOfRange(ValueError):
    """JSON text holding a number no double can hold (`1e400`, an integer of 400 digits)."""

    def __init__(self) -> None:
        super().__init__(
            "Numeric value out of range: a number is beyond what a double can hold (about 1.8E308)"
        )
        self.message = str(self)


# What a number must look like in the text to overflow a double: an exponent of three digits or a
# run of 309 digits. Text without either (nearly all of it) is never walked.
_HUGE_NUMBER = re.compile(r"[eE]\+?0*[1-9]\d{2}|\d{309}")
_DOUBLE_MAX = 2**1024  # the first integer a double rounds to infinity


def _out_of_range(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float):
            if item in (float("inf"), float("-inf")):
                return True
        elif isinstance(item, int) and not isinstance(item, bool) and not -_DOUBLE_MAX < item < _DOUBLE_MAX:
            return True
    return False


def loads(text: str) -> Any:
    """JSON text read as a payload, as AWS's parser reads it: nested at most budget.MAX_DEPTH deep
    (else budget.TooDeep), no NaN or Infinity (json.JSONDecodeError), and every number one a double
    can hold (else NumberOutOfRange). Python would read `1e400` as infinity, which no JSON can write
    back, and refuses integers past 4,300 digits with its own ValueError."""
    try:
        value = budget.loads(text)
    except (budget.TooDeep, json.JSONDecodeError):
        raise
    except ValueError:  # int() of more digits than sys.get_int_max_str_digits() allows
        raise NumberOutOfRange() from None
    if _HUGE_NUMBER.search(text) and _out_of_range(value):
        raise NumberOutOfRange()
    return value


def too_large(name: str) -> ASLError:
    """The error AWS ends a state with when what it made is over the limit (`name`: the state or
    the task's resource)."""
    return ASLError(
        errors.DATA_LIMIT_EXCEEDED,
        f"The state/task '{name}' returned a result with a size exceeding the maximum number of bytes "
        "service limit.",
    )


_MISSING = object()
_NO_INPUT = object()
_SMALL = 16 * 1024


class SizeCheck:
    """Checks each state's output against the limit, serialising only what a state changed.

    A state's output is mostly its input with a little changed (ResultPath places a result, the
    rest is shared, never mutated). When the input was measured (an upper bound of its size is
    kept) and both are objects, the output's bound is the input's plus the size of each member
    that is not the input's own; only when that bound passes the limit is the output serialised
    whole, exactly. A bound that only grows is reset by that exact measure.

    A state may also say how its output grows with its input (`growth`, worked out when the
    definition is compiled: see `definition.output_growth`): then a bounded input bounds the output
    with one multiplication, and nothing is serialised until that bound passes the limit."""

    __slots__ = ("bound", "measured")

    def __init__(self) -> None:
        self.measured: Any = _MISSING  # the last output measured, and an upper bound of its size
        self.bound = 0

    def measure(self, value: Any, name: str) -> None:
        """`check_size` for a value made from nothing this thread measured (a Map item's selection),
        kept as the bound its next state starts from."""
        self.check(_NO_INPUT, value, name)

    def check(self, value: Any, output: Any, name: str, growth: tuple[int, int] | None = None) -> None:
        if output is value or output is self.measured:
            return  # measured when it was made
        grown = False
        if growth is not None and self.measured is value:
            grown = True
            bound = growth[0] + growth[1] * self.bound
            if bound <= MAX_PAYLOAD_BYTES:
                self.measured, self.bound = output, bound
                return
            # Past the limit: measured whole below. (Member by member would keep the bound near the
            # limit, and every state after would pay for a member; an exact size starts it afresh.)
        if not isinstance(output, dict | list | str):
            return  # a number, a boolean or null
        if isinstance(output, str) and len(output) * 6 + 2 <= MAX_PAYLOAD_BYTES:
            return  # short enough even if every character were escaped
        # (a small input is cheaper to serialise whole than to compare member by member)
        if (
            not grown
            and self.measured is value
            and self.bound > _SMALL
            and type(output) is dict
            and type(value) is dict
        ):
            bound = self.bound
            try:
                for key, member in output.items():
                    if value.get(key, _MISSING) is not member:
                        bound += 6 * len(key) + 4 + size(member)  # (6 per char: any escape)
            except RecursionError:
                bound = MAX_PAYLOAD_BYTES + 1  # measured whole below, which says what went wrong
            if bound <= MAX_PAYLOAD_BYTES:
                self.measured, self.bound = output, bound
                return
        try:
            exact = size(output)
        except RecursionError:
            raise ASLError(
                errors.RUNTIME, f"The state/task '{name}' returned a result nested too deeply to serialise."
            ) from None
        if exact > MAX_PAYLOAD_BYTES:
            raise too_large(name)
        self.measured, self.bound = output, exact


def check_size(value: Any, name: str) -> None:
    """Raise States.DataLimitExceeded when `value` is over the payload limit; States.Runtime when
    it nests too deep to serialise (a state can wrap its input in itself thousands of times)."""
    try:
        over = exceeds_limit(value)
    except RecursionError:
        raise ASLError(
            errors.RUNTIME, f"The state/task '{name}' returned a result nested too deeply to serialise."
        ) from None
    if over:
        raise too_large(name)
