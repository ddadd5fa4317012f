"""ASL intrinsic functions (States.Format, States.Array, ...): parsed once, evaluated many times.

Grammar (what AWS accepts in a `"key.$"` value)::

    call  := 'States.' NAME '(' [arg (',' arg)*] ')'
    arg   := call | 'string' | number | true | false | null | path
    path  := '$' ...        ($.a.b, $, $$.Execution.Id, $varName.x; ends at a top-level ',' or ')')

String literals are single-quoted; a backslash escapes the next character (\\' \\{ \\} \\\\). In a
States.Format template an escaped brace is literal text, an unescaped `{}` is a placeholder.

Runtime failures raise `ASLError(INTRINSIC_ERROR, detail)`. The detail is the part of AWS's cause
after its usual prefix "An error occurred while executing the state 'S' (entered at the event id
#N). "; the caller, which knows the state and event id, adds that prefix.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NoReturn, TypeAlias

from workflows.asl import errors, payload
from workflows.asl.budget import MAX_DEPTH, TooDeep
from workflows.asl.errors import ASLError

__all__ = [
    "INTRINSIC_ERROR",
    "MAX_NESTING",
    "Intrinsic",
    "IntrinsicSyntaxError",
    "IntrinsicTooDeep",
    "compile_intrinsic",
    "is_intrinsic",
]

# AWS reports a failing intrinsic as States.Runtime (which States.ALL does not catch), not as the
# spec's States.IntrinsicFailure.
INTRINSIC_ERROR = errors.RUNTIME

Lookup: TypeAlias = Callable[[str], Any]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DOUBLE_MAX = 2**1024  # the first integer a double rounds to infinity
_MAX_ARRAY_RANGE_ITEMS = 1000
_MAX_ENCODE_CHARS = 10_000
_HASH_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


class IntrinsicSyntaxError(ValueError):
    """An intrinsic that cannot be compiled: bad syntax, unknown function or wrong argument count."""


class IntrinsicTooDeep(IntrinsicSyntaxError):
    """Intrinsic calls nested past MAX_NESTING (refused as the parser reaches that depth, so a text
    of 50,000 nested calls costs no recursion)."""


# "You can nest up to 10 intrinsic functions within a field" (Developer Guide, Intrinsic functions).
MAX_NESTING = 10


# ---------------------------------------------------------------------------------------------
# Compiled form


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any
    raw: str = ""  # a string literal as written, escapes kept (States.Format needs them)


@dataclass(frozen=True, slots=True)
class _Path:
    path: str


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    args: tuple[_Node, ...]
    # A States.Format template given as a literal, split at compile time into text and None
    # (a placeholder); None for every other call.
    template: tuple[str | None, ...] | None = None
    # Worked out at compile time: the function itself, and the argument checks left for run time
    # (index, kind) - arity and literal arguments were checked when the text was parsed.
    impl: Callable[..., Any] | None = None
    checks: tuple[tuple[int, _Kind], ...] = ()


_Node: TypeAlias = _Literal | _Path | _Call


@dataclass(frozen=True, slots=True)
class Intrinsic:
    """A compiled intrinsic call; immutable and safe to evaluate any number of times."""

    text: str
    _root: _Call

    @property
    def function(self) -> str:
        """The outermost function's name, e.g. "States.Format"."""
        return self._root.name

    def evaluate(self, lookup: Lookup) -> Any:
        """Evaluate, resolving path arguments with `lookup`; raises ASLError on runtime failure."""
        # Every function is linear in its (payload-bounded) arguments and the nesting is the text's
        # own, so no clock is needed; deep values are refused where they are parsed (StringToJson),
        # and a recursion that still overflows is reported as the function's failure.
        try:
            return _eval_call(self._root, lookup)
        except RecursionError:
            raise _fail(self.function, f"the value is nested deeper than {MAX_DEPTH} levels") from None


_INTRINSIC_START = re.compile(r"\s*States\.[A-Za-z0-9]+\s*\(")


def is_intrinsic(text: str) -> bool:
    """Whether `text` looks like an intrinsic call (cheap; compile_intrinsic does the real check)."""
    return text.startswith("States.") and text.rstrip().endswith(")") and bool(_INTRINSIC_START.match(text))


def compile_intrinsic(text: str) -> Intrinsic:
    """Parse e.g. "States.Format('Hello {}', $.name)"; raises IntrinsicSyntaxError."""
    parser = _Parser(text)
    root = parser.call()
    parser.skip_space()
    if parser.pos != len(text):
        parser.fail("unexpected text after the closing parenthesis")
    return Intrinsic(text, root)


# ---------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0  # calls open around the one being parsed

    def fail(self, message: str, error: type[IntrinsicSyntaxError] = IntrinsicSyntaxError) -> NoReturn:
        shown = self.text if len(self.text) <= 200 else self.text[:200] + "..."
        raise error(f"{message} at offset {self.pos} in intrinsic function {shown!r}")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        self.skip_space()
        if self.peek() != char:
            self.fail(f"expected {char!r}")
        self.pos += 1

    def call(self) -> _Call:
        self.skip_space()
        if self.depth >= MAX_NESTING:
            self.fail(f"intrinsic functions nested more than {MAX_NESTING} deep", IntrinsicTooDeep)
        self.depth += 1
        try:
            return self._call()
        finally:
            self.depth -= 1

    def _call(self) -> _Call:
        match = _FUNCTION_NAME.match(self.text, self.pos)
        if not match:
            self.fail("expected an intrinsic function call 'States.<Name>(...)'")
        name = match.group()
        spec = _FUNCTIONS.get(name)
        if spec is None:
            self.fail(f"unknown intrinsic function {name}")
        self.pos = match.end()
        self.expect("(")
        args: list[_Node] = []
        self.skip_space()
        if self.peek() == ")":
            self.pos += 1
        else:
            while True:
                args.append(self.argument())
                self.skip_space()
                char = self.peek()
                self.pos += 1
                if char == ")":
                    break
                if char != ",":
                    self.pos -= 1
                    self.fail("expected ',' or ')'")
        template = spec.check_compile(name, args, self)
        checks = tuple(
            (index, spec.kind(index))
            for index, arg in enumerate(args)
            if not isinstance(arg, _Literal) and spec.kind(index) is not ANY
        )
        return _Call(name, tuple(args), template, spec.impl, checks)

    def argument(self) -> _Node:
        self.skip_space()
        char = self.peek()
        if char == "'":
            raw = self.string()
            return _Literal(_unescape(raw), raw)
        if char == "$":
            return _Path(self.path())
        if self.text.startswith("States.", self.pos):
            return self.call()
        number = _NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            literal = number.group()
            try:
                number_value: float = float(literal) if any(c in literal for c in ".eE") else int(literal)
            except ValueError:  # an integer past the digits Python converts
                number_value = math.inf
            if not -_DOUBLE_MAX < number_value < _DOUBLE_MAX:  # 1e400 is infinity to Python: no JSON
                self.pos = number.start()
                self.fail("number literal out of range (beyond a double)")
            return _Literal(number_value)
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return _Literal(value)
        self.fail("expected an argument (string, number, true, false, null, path or intrinsic call)")

    def string(self) -> str:
        """A quoted literal, returned raw (escapes kept) so Format can tell \\{ from {."""
        start = self.pos = self.pos + 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                self.pos += 2
            elif char == "'":
                raw = self.text[start : self.pos]
                self.pos += 1
                return raw
            else:
                self.pos += 1
        self.pos = start - 1
        self.fail("unterminated string literal")

    def path(self) -> str:
        """A path argument: up to the ',' or ')' outside brackets, parentheses and quotes."""
        start, depth, quote = self.pos, 0, ""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if quote:
                if char == "\\":
                    self.pos += 1
                elif char == quote:
                    quote = ""
            elif char in "'\"":
                quote = char
            elif char in "[(":
                depth += 1
            elif char in "])":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and (char == "," or char.isspace()):
                break
            self.pos += 1
        return self.text[start : self.pos]


_FUNCTION_NAME = re.compile(r"States\.[A-Za-z0-9]+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?(?![A-Za-z0-9_.])")


def _unescape(raw: str) -> str:
    return re.sub(r"\\(.)", r"\1", raw, flags=re.DOTALL) if "\\" in raw else raw


def _split_template(raw: str) -> tuple[str | None, ...]:
    """Split a Format template (escapes still in place) into text pieces and None placeholders."""
    pieces: list[str | None] = []
    text: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "\\" and i + 1 < len(raw):
            text.append(raw[i + 1])
            i += 2
        elif raw.startswith("{}", i):
            pieces.append("".join(text))
            pieces.append(None)
            text = []
            i += 2
        else:
            text.append(char)
            i += 1
    pieces.append("".join(text))
    return tuple(pieces)


# ---------------------------------------------------------------------------------------------
# Evaluation


def _eval(node: _Node, lookup: Lookup) -> Any:
    if node.__class__ is _Literal:
        return node.value  # type: ignore[union-attr]
    if node.__class__ is _Path:
        return lookup(node.path)  # type: ignore[union-attr]
    return _eval_call(node, lookup)  # type: ignore[arg-type]


def _eval_call(call: _Call, lookup: Lookup) -> Any:
    if call.template is not None:
        values = [_eval(arg, lookup) for arg in call.args[1:]]
        return _render_template(call.template, values)
    values = [_eval(arg, lookup) for arg in call.args]
    for index, (accepts, wanted) in call.checks:
        value = values[index]
        if not accepts(value):
            raise _fail(call.name, f"argument {index + 1} must be {wanted} but was {_type_name(value)}")
    assert call.impl is not None
    return call.impl(*values)


def _fail(function: str, detail: str) -> ASLError:
    return ASLError(INTRINSIC_ERROR, f"The function {function} failed: {detail}")


# Argument kinds: a predicate and the word used in error messages.
_Kind: TypeAlias = tuple[Callable[[Any], bool], str]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return _is_number(value) and float(value).is_integer()


ANY: _Kind = (lambda v: True, "any value")
STRING: _Kind = (lambda v: isinstance(v, str), "a string")
NUMBER: _Kind = (_is_number, "a number")
INTEGER: _Kind = (_is_integer, "an integer")
BOOLEAN: _Kind = (lambda v: isinstance(v, bool), "a boolean")
ARRAY: _Kind = (lambda v: isinstance(v, list), "an array")
OBJECT: _Kind = (lambda v: isinstance(v, dict), "a JSON object")


@dataclass(frozen=True, slots=True)
class _Spec:
    """A function's signature: argument kinds (the last repeats when `variadic`) and arity bounds."""

    impl: Callable[..., Any]
    kinds: tuple[_Kind, ...]
    min_args: int
    max_args: int | None  # None: any number

    def check_arity(self, name: str, count: int) -> str | None:
        if count < self.min_args or (self.max_args is not None and count > self.max_args):
            if self.max_args is None:
                expected = f"at least {self.min_args}"
            elif self.min_args == self.max_args:
                expected = str(self.min_args)
            else:
                expected = f"{self.min_args} to {self.max_args}"
            return f"{name} takes {expected} argument(s) but was given {count}"
        return None

    def kind(self, index: int) -> _Kind:
        return self.kinds[min(index, len(self.kinds) - 1)] if self.kinds else ANY

    def check_compile(self, name: str, args: list[_Node], parser: _Parser) -> tuple[str | None, ...] | None:
        problem = self.check_arity(name, len(args))
        if problem:
            parser.fail(problem)
        for index, arg in enumerate(args):
            if isinstance(arg, _Literal):
                accepts, wanted = self.kind(index)
                if not accepts(arg.value):
                    parser.fail(f"argument {index + 1} of {name} must be {wanted}")
        if name == "States.Format" and isinstance(args[0], _Literal):
            template = _split_template(args[0].raw)
            if template.count(None) != len(args) - 1:
                parser.fail(
                    f"States.Format template has {template.count(None)} placeholder(s) "
                    f"but {len(args) - 1} value argument(s)"
                )
            return template
        return None


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "a JSON object"


# ---------------------------------------------------------------------------------------------
# Value rendering as AWS (a JVM) does it


def java_double(value: float) -> str:
    """Render a float as Java's Double.toString does ("1.1", "1.0E7", "1.0E-4")."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + int(exponent)  # decimal point position relative to `text`
    minus = "-" if sign else ""
    if 1e-3 <= abs(value) < 1e7:
        if point <= 0:
            return f"{minus}0.{'0' * -point}{text}"
        whole, fraction = text[:point].ljust(point, "0"), text[point:]
        return f"{minus}{whole}.{fraction or '0'}"
    return f"{minus}{text[0]}.{text[1:] or '0'}E{point - 1}"


def _to_java_string(value: Any) -> str:
    """A value as String.valueOf would print its Java form: maps as {k=v}, lists as [a, b]."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_to_java_string(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_to_java_string(v) for v in value) + "]"
    return str(value)


def _to_json(value: Any) -> str:
    """Compact JSON as Jackson writes it: no spaces, non-ASCII kept, floats Java-style."""
    if isinstance(value, float):
        return java_double(value) if math.isfinite(value) else json.dumps(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_to_json(str(k))}:{_to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_to_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _identity(value: Any) -> str:
    """A key under which equal JSON values (objects in any key order) collide; 1 and 1.0 differ."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _java_round(value: float) -> int:
    """Math.round: halves go up (0.5 -> 1, -0.5 -> 0), unlike Python's round-half-even."""
    return math.floor(value + 0.5)


# ---------------------------------------------------------------------------------------------
# The functions


def _render_template(template: tuple[str | None, ...], values: Sequence[Any]) -> str:
    rendered = iter(values)
    return "".join(_to_java_string(next(rendered)) if piece is None else piece for piece in template)


def _format(template: str, *values: Any) -> str:
    pieces = _split_template(template)
    if pieces.count(None) != len(values):
        raise _fail(
            "States.Format",
            f"the template has {pieces.count(None)} placeholder(s) but {len(values)} value argument(s)",
        )
    return _render_template(pieces, values)


def _string_to_json(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return payload.loads(text)
    except TooDeep:
        raise _fail("States.StringToJson", f"the string nests JSON deeper than {MAX_DEPTH} levels")
    except payload.NumberOutOfRange as exc:
        raise _fail("States.StringToJson", f"the string is not valid JSON: {exc.message}")
    except ValueError as exc:  # json.JSONDecodeError: its message says what and where, nothing of Python
        raise _fail("States.StringToJson", f"the string is not valid JSON: {exc}")


def _array_partition(array: list[Any], size: float) -> list[list[Any]]:
    if size <= 0:
        raise _fail("States.ArrayPartition", "the chunk size must be greater than 0")
    step = int(size)
    return [array[i : i + step] for i in range(0, len(array), step)]


def _array_contains(array: list[Any], value: Any) -> bool:
    wanted = _identity(value)
    return any(_identity(item) == wanted for item in array)


def _array_range(start: float, end: float, step: float) -> list[int]:
    first, last, by = int(start), int(end), int(step)
    if by == 0:
        raise _fail("States.ArrayRange", "the step must not be 0")
    items = range(first, last + (1 if by > 0 else -1), by)
    if len(items) > _MAX_ARRAY_RANGE_ITEMS:
        raise _fail(
            "States.ArrayRange",
            f"the range has {len(items)} items, more than the maximum of {_MAX_ARRAY_RANGE_ITEMS}",
        )
    return list(items)


def _array_get_item(array: list[Any], index: float) -> Any:
    position = int(index)
    if not 0 <= position < len(array):
        raise _fail(
            "States.ArrayGetItem",
            f"the index {position} is out of bounds for an array of length {len(array)}",
        )
    return array[position]


def _array_unique(array: list[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for item in array:
        seen.setdefault(_identity(item), item)
    return list(seen.values())


def _check_length(function: str, text: str) -> None:
    if len(text) > _MAX_ENCODE_CHARS:
        raise _fail(function, f"the input exceeds the maximum of {_MAX_ENCODE_CHARS} characters")


def _base64_encode(text: str) -> str:
    _check_length("States.Base64Encode", text)
    return base64.b64encode(text.encode()).decode("ascii")


def _base64_decode(text: str) -> str:
    _check_length("States.Base64Decode", text)
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise _fail("States.Base64Decode", "the input is not valid Base64")
    return data.decode("utf-8", errors="replace")


def _hash(data: str, algorithm: str) -> str:
    _check_length("States.Hash", data)
    name = _HASH_ALGORITHMS.get(algorithm)
    if name is None:
        raise _fail(
            "States.Hash",
            f"the hash algorithm {algorithm!r} is not supported; use one of {', '.join(_HASH_ALGORITHMS)}",
        )
    return hashlib.new(name, data.encode()).hexdigest()


def _json_merge(first: dict[str, Any], second: dict[str, Any], deep: bool) -> dict[str, Any]:
    if deep:
        raise _fail("States.JsonMerge", "deep merging is not supported; the third argument must be false")
    return {**first, **second}


def _check_int32(function: str, *values: float, low: int = _INT32_MIN, high: int = _INT32_MAX) -> None:
    # The Developer Guide asks for integers, and AWS holds them as Java ints: a start, end or
    # operand past +-2^31 is no argument it can take.
    for value in values:
        if not low <= value <= high:
            raise _fail(function, f"the value {_to_java_string(value)} is outside the integer range")


def _math_random(start: float, end: float, seed: float | None = None) -> int:
    _check_int32("States.MathRandom", start, end)
    if seed is not None:  # java.util.Random takes a long
        _check_int32("States.MathRandom", seed, low=_INT64_MIN, high=_INT64_MAX)
    low, high = _java_round(start), _java_round(end)
    if low >= high:
        raise _fail("States.MathRandom", "the start number must be less than the end number")
    if seed is None:
        return random.randrange(low, high)
    return low + _JavaRandom(_java_round(seed)).next_int(high - low)


def _math_add(first: float, second: float) -> int:
    _check_int32("States.MathAdd", first, second)
    return _java_round(first) + _java_round(second)


def _string_split(text: str, delimiters: str) -> list[str]:
    # java.util.StringTokenizer: every delimiter character splits, empty tokens are dropped.
    if not delimiters:
        return [text] if text else []
    pattern = "[" + re.escape(delimiters) + "]+"
    return [token for token in re.split(pattern, text) if token]


class _JavaRandom:
    """java.util.Random's LCG, so a seeded States.MathRandom can repeat what the JVM would give."""

    _MULTIPLIER, _ADDEND, _MASK = 0x5DEECE66D, 0xB, (1 << 48) - 1

    def __init__(self, seed: int) -> None:
        self._seed = (seed ^ self._MULTIPLIER) & self._MASK

    def _next(self, bits: int) -> int:
        self._seed = (self._seed * self._MULTIPLIER + self._ADDEND) & self._MASK
        result = self._seed >> (48 - bits)
        # Java's `(int)` cast: signed 32 bits, so next(31) is never negative (next(32) may be).
        return result - (1 << 32) if result >= 1 << 31 else result

    def next_int(self, bound: int) -> int:
        if bound & -bound == bound:
            return (bound * self._next(31)) >> 31
        while True:
            bits = self._next(31)
            value = bits % bound
            if bits - value + (bound - 1) < 1 << 31:
                return value


_FUNCTIONS: dict[str, _Spec] = {
    "States.Format": _Spec(_format, (STRING, ANY), 1, None),
    "States.StringToJson": _Spec(_string_to_json, (STRING,), 1, 1),
    "States.JsonToString": _Spec(_to_json, (ANY,), 1, 1),
    "States.Array": _Spec(lambda *values: list(values), (ANY,), 0, None),
    "States.ArrayPartition": _Spec(_array_partition, (ARRAY, INTEGER), 2, 2),
    "States.ArrayContains": _Spec(_array_contains, (ARRAY, ANY), 2, 2),
    "States.ArrayRange": _Spec(_array_range, (INTEGER, INTEGER, INTEGER), 3, 3),
    "States.ArrayGetItem": _Spec(_array_get_item, (ARRAY, INTEGER), 2, 2),
    "States.ArrayLength": _Spec(len, (ARRAY,), 1, 1),
    "States.ArrayUnique": _Spec(_array_unique, (ARRAY,), 1, 1),
    "States.Base64Encode": _Spec(_base64_encode, (STRING,), 1, 1),
    "States.Base64Decode": _Spec(_base64_decode, (STRING,), 1, 1),
    "States.Hash": _Spec(_hash, (STRING, STRING), 2, 2),
    "States.JsonMerge": _Spec(_json_merge, (OBJECT, OBJECT, BOOLEAN), 3, 3),
    "States.MathRandom": _Spec(_math_random, (NUMBER, NUMBER, NUMBER), 2, 3),
    "States.MathAdd": _Spec(_math_add, (NUMBER, NUMBER), 2, 2),
    "States.StringSplit": _Spec(_string_split, (STRING, STRING), 2, 2),
    "States.UUID": _Spec(lambda: str(uuid.uuid4()), (), 0, 0),
}
