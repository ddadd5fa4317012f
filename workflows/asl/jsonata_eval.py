"""JSONata for Step Functions: `{% ... %}` strings, `$states`, workflow variables and AWS's extra functions."""

from __future__ import annotations

import contextvars
import copy
import hashlib
import inspect
import json
import math
import random
import re
import uuid
from collections.abc import Iterator
from functools import lru_cache
from itertools import accumulate
from typing import Any

import jsonata
import re2
from jsonata import datetimeutils
from jsonata.functions import Functions
from jsonata.jexception import JException
from jsonata.jsonata import Jsonata
from jsonata.regex_engine import RegexFlags
from jsonata.utils import Utils

from workflows.asl import errors
from workflows.asl.budget import (
    MAX_ARRAY_ITEMS,
    MAX_DEPTH,
    MAX_STRING_CHARS,
    BudgetExceeded,
    Deadline,
    Overtime,
    TooDeep,
    compile_regex,
)
from workflows.asl.budget import loads as _loads_bounded
from workflows.asl.errors import StateError
from workflows.asl.payload import MAX_PAYLOAD_BYTES

_EXPR = re.compile(r"^\{%(.*)%\}$", re.DOTALL)
NULL = Utils.NULL_VALUE


def expression_text(value: Any) -> str | None:
    """The expression inside a `{% ... %}` string, or None when `value` is not one."""
    if isinstance(value, str) and value.startswith("{%") and value.endswith("%}"):
        m = _EXPR.match(value)
        if m:
            return m.group(1).strip()
    return None


class QueryError(Exception):
    """A JSONata failure; the interpreter turns it into States.QueryEvaluationError with the state prefix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _partition(array: Any, size: Any) -> Any:
    if not isinstance(array, list) or not isinstance(size, int | float) or size <= 0:
        raise QueryError("The $partition function requires an array and a positive chunk size")
    n = int(size)
    return [array[i : i + n] for i in range(0, len(array), n)]


def _range(start: Any, end: Any, step: Any) -> Any:
    if not all(isinstance(v, int | float) for v in (start, end, step)) or step == 0:
        raise QueryError("The $range function requires numeric start, end and a non-zero step")
    out: list[Any] = Utils.create_sequence()  # a JSONata sequence: one item collapses to the item
    value = start
    while (step > 0 and value <= end) or (step < 0 and value >= end):
        out.append(value)
        value += step
        if len(out) > 1000:
            raise QueryError("The $range function can return at most 1000 items")
    return out


_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _hash(data: Any, algorithm: Any) -> Any:
    if algorithm not in _HASHES:
        raise QueryError(f"The $hash algorithm must be one of {', '.join(_HASHES)}")
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()


def _random(seed: Any = None) -> Any:
    return random.Random(seed).random() if seed is not None else random.random()


def _parse_json(text: Any) -> Any:
    if not isinstance(text, str):
        raise QueryError("The $parse function requires a string")
    try:
        return _to_jsonata(_loads_bounded(text))
    except TooDeep as exc:
        raise QueryError(f"The $parse function could not parse its argument: {exc}") from exc
    except ValueError as exc:
        raise QueryError(f"The $parse function could not parse its argument: {exc}") from exc


def _pad(string: Any, width: Any, char: Any = None) -> Any:
    # One call would build the whole string before the budget's next look.
    if isinstance(width, int | float) and abs(width) > MAX_STRING_CHARS:
        raise QueryError(f"The $pad function can build at most {MAX_STRING_CHARS} characters")
    return Functions.pad(string, width, char)


def _refuse_eval(*_: Any) -> Any:
    raise QueryError("The $eval function is not supported")


class _RefusedPattern:
    """A regex RE2 cannot run (backreferences, lookaround): the expression still parses, as on AWS,
    and fails when it uses the pattern."""

    def __init__(self, message: str) -> None:
        self.message = message

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise QueryError(self.message)

    search = finditer = sub = split = _refuse


class _BudgetedPattern:
    """An RE2 pattern whose match loops look at the evaluation's budget: RE2 finds each match in
    linear time, but a pattern can match millions of times, and re2's own `sub` and `split` loop
    over the matches in Python with no look at the clock nor at the size they build."""

    __slots__ = ("_pattern",)

    def __init__(self, pattern: Any) -> None:
        self._pattern = pattern

    def search(self, string: str) -> Any:
        return self._pattern.search(string)

    def finditer(self, string: str) -> Iterator[Any]:
        budget = _CURRENT.get()
        for count, match in enumerate(self._pattern.finditer(string), 1):
            if budget is not None and not count & 255:
                budget.tick()
            yield match

    def sub(self, repl: Any, string: str, count: int = 0) -> str:
        _tick()  # the library calls this once per replacement when $replace has a limit
        pieces: list[str] = []
        size = end = 0
        for n, match in enumerate(self.finditer(string)):
            if count and n >= count:
                break
            piece = repl(match) if callable(repl) else match.expand(repl)
            pieces += (string[end : match.start()], piece)
            size += match.start() - end + len(piece)
            if size > MAX_STRING_CHARS:
                _exceed(_string_too_long())
            end = match.end()
        pieces.append(string[end:])
        return "".join(pieces)

    def split(self, string: str, maxsplit: int = 0) -> list[Any]:
        _tick()
        groups = range(1, self._pattern.groups + 1)
        pieces: list[Any] = []
        end = 0
        for n, match in enumerate(self.finditer(string)):
            if maxsplit and n >= maxsplit:
                break
            pieces.append(string[end : match.start()])
            pieces += (match[group] for group in groups)
            if len(pieces) > MAX_ARRAY_ITEMS:
                _exceed(_array_too_long())
            end = match.end()
        pieces.append(string[end:])
        return pieces


def _regex(pattern: str, flags: RegexFlags) -> Any:
    # JSONata's regex literals on RE2: `/(a+)+b/` cannot backtrack exponentially.
    try:
        return _BudgetedPattern(
            compile_regex(pattern, ignore_case=flags.case_insensitive, multiline=flags.multiline)
        )
    except ValueError as exc:
        return _RefusedPattern(str(exc))


# ----- built-ins that would outrun the budget or the caps in one call -----------------------------------
#
# The evaluator looks at the budget on every step (`_Budget.entry`), but a built-in runs as one
# step: $distinct compared every pair (60,000 numbers: 16 s), $replace with a string pattern copied
# the rest of the string per match, $join built 400 MB before the cap saw it. So every built-in goes
# through `_GuardedNative`: the clock is read before it runs, one given a large argument in slice
# mode moves off the event loop at once (its Python loop would hold the loop past the slice), and
# one whose result size is known from its arguments fails before building it. The few that were
# superlinear are replaced by linear equivalents giving the same results.

# An argument this large moves a built-in off the event loop before it starts (a Python loop over
# ten thousand items, or C over a hundred thousand characters, takes about a slice).
_SLICE_ITEMS = 10_000
_SLICE_CHARS = 100_000

_CURRENT: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "workflows_jsonata_budget", default=None
)


def _string_too_long() -> BudgetExceeded:
    return BudgetExceeded(f"The expression built a string longer than {MAX_STRING_CHARS} characters.")


def _array_too_long() -> BudgetExceeded:
    return BudgetExceeded(f"The expression built an array longer than {MAX_ARRAY_ITEMS} items.")


def _tick() -> None:
    budget = _CURRENT.get()
    if budget is not None:
        budget.tick()


def _exceed(error: BudgetExceeded) -> Any:
    budget = _CURRENT.get()
    if budget is not None and budget.spent is None:
        budget.spent = error  # so that `evaluate` reports it, however the library rewraps it
    raise error


def _bulky(args: Any) -> bool:
    return any(
        (isinstance(a, list | dict) and len(a) > _SLICE_ITEMS)
        or (isinstance(a, str) and len(a) > _SLICE_CHARS)
        for a in args
    )


def _predict_join(args: list[Any]) -> BudgetExceeded | None:
    strs, separator = [*args, None, None][:2]
    if not isinstance(strs, list):
        return None
    size = sum(len(s) for s in strs if isinstance(s, str))
    if isinstance(separator, str):
        size += len(separator) * max(len(strs) - 1, 0)
    return _string_too_long() if size > MAX_STRING_CHARS else None


def _predict_split(args: list[Any]) -> BudgetExceeded | None:
    string, pattern, limit = [*args, None, None, None][:3]
    if isinstance(string, str) and pattern == "":  # one item per character
        items = len(string) if not isinstance(limit, int | float) else min(len(string), limit)
        return _array_too_long() if items > MAX_ARRAY_ITEMS else None
    return None


_PREDICTIONS = {"join": _predict_join, "split": _predict_split}

_NULL_KEY = object()


def _distinct_key(value: Any, memo: dict[int, Any]) -> Any:
    """A hashable key equal for values JSONata's deep equality holds equal (so `true` is not `1`)."""
    if isinstance(value, bool):
        return (bool, value)
    if isinstance(value, str | int | float):
        return value
    if value is NULL or value is None:
        return _NULL_KEY
    if isinstance(value, list | dict):
        key = memo.get(id(value))  # a value shared many times (`[1..1000].($a)`) is keyed once
        if key is None:
            if isinstance(value, list):
                key = (list, tuple(_distinct_key(v, memo) for v in value))
            else:
                key = (dict, frozenset((k, _distinct_key(v, memo)) for k, v in value.items()))
            memo[id(value)] = key  # ids stay unique: every value keyed is held by `value`'s array
        return key
    return (object, id(value))  # a function: equal only to itself


def _distinct(arr: Any) -> Any:
    # The library's `if el not in results` is quadratic; a set of keys is linear, same order.
    if arr is None:
        return None
    if not isinstance(arr, list) or len(arr) <= 1:
        return arr
    results = Utils.create_sequence() if isinstance(arr, Utils.JList) else []
    seen: set[Any] = set()
    memo: dict[int, Any] = {}
    for count, el in enumerate(arr, 1):
        if not count & 4095:
            _tick()
        key = _distinct_key(el, memo)
        if key not in seen:
            seen.add(key)
            results.append(el)
    return results


def _replace(string: Any, pattern: Any, replacement: Any, limit: Any) -> Any:
    if isinstance(string, str) and isinstance(pattern, str) and pattern:
        if isinstance(replacement, str) and (
            limit is None or (isinstance(limit, int | float) and limit >= 0)
        ):
            # Every match of a string pattern is the pattern itself: expand the replacement ($0, $$)
            # once, as the library does for each match, then replace at C speed, its size known first.
            piece = Functions.replace(pattern, pattern, replacement, 1)
            count = string.count(pattern)
            if limit is not None:
                count = min(count, math.ceil(limit))
            if len(string) + count * (len(piece) - len(pattern)) > MAX_STRING_CHARS:
                _exceed(_string_too_long())
            return string.replace(pattern, piece, count)
        # (a function replacement: the library's loop copies the rest of the string per match)
        pattern = _BudgetedPattern(compile_regex(re2.escape(pattern)))
    return Functions.replace(string, pattern, replacement, limit)


_SINGLE_CHARACTER_OPTIONS = (
    "decimal-separator",
    "grouping-separator",
    "exponent-separator",
    "percent",
    "per-mille",
    "zero-digit",
    "digit",
    "pattern-separator",
    "minus-sign",
)


def _format_number(value: Any, picture: Any, options: Any) -> Any:
    # The library pastes these options into Python regexes unescaped: one character each, as
    # XPath's decimal formats define them, keeps those regexes linear.
    if isinstance(options, dict):
        for name in _SINGLE_CHARACTER_OPTIONS:
            option = options.get(name)
            if option is not None and not (isinstance(option, str) and len(option) == 1):
                raise QueryError(f"The $formatNumber option '{name}' must be a single character")
    return Functions.format_number(value, picture, options)


def _bounded_string(arg: Any, prettify: Any = None) -> Any:
    """`Functions.string` that first measures a structure: JSON text of a value that shares one
    object many times is far larger than the value, and json.dumps writes it in one C call."""
    budget = _CURRENT.get()
    if budget is not None and isinstance(arg, list | dict):
        _JsonSize(budget, MAX_STRING_CHARS, _string_too_long).add(arg)
    return _library_string(arg, prettify)


_library_string = Functions.string


class _GuardedNative(Jsonata.JNativeFunction):
    """A library built-in called through the evaluation's budget (see `_Budget.call`)."""

    def call(self, input: Any, args: Any) -> Any:
        budget = _CURRENT.get()
        if budget is not None:
            budget.call(self.function_name, args if isinstance(args, list) else [])
        return Functions._call(self.method, self.nargs, args)


_IMPLEMENTATIONS: dict[str, Any] = {
    "distinct": _distinct,
    "replace": _replace,
    "formatNumber": _format_number,
    "string": _bounded_string,
}


def _guarded_natives() -> dict[str, Any]:
    natives = {}
    for name, function in Jsonata.static_frame.bindings.items():
        if isinstance(function, Jsonata.JNativeFunction):
            guarded = copy.copy(function)
            guarded.__class__ = _GuardedNative
            implementation = _IMPLEMENTATIONS.get(name)
            if implementation is not None:
                guarded.method = implementation
                guarded.nargs = len(inspect.signature(implementation).parameters)
            natives[name] = guarded
    return natives


_NATIVES = _guarded_natives()

# Two paths run user text inside the library without passing through the function table:
# - string concatenation (`&`), $clone and the transform operator serialise through
#   `Functions.string`, which is measured first;
# - $toMillis builds a regex from its picture (`[Dw]` is `(?:one|two|...)+`; a literal part of the
#   picture goes in unescaped) and compiles it with Python's backtracking `re`: eight `[Dw]` against
#   thirty "one"s froze the server 13 s in one C call, which no deadline interrupts. Its module sees
#   an `re` whose IGNORECASE compile (only that pattern) is RE2's, linear in the timestamp.
Functions.string = staticmethod(_bounded_string)  # type: ignore[method-assign,assignment]


class _PictureRe:
    """`re` as jsonata's datetimeutils sees it: the $toMillis picture's pattern on RE2."""

    IGNORECASE = re.IGNORECASE
    split = staticmethod(re.split)
    sub = staticmethod(re.sub)

    @staticmethod
    def compile(pattern: str, flags: int = 0) -> Any:
        if not flags & re.IGNORECASE:
            return re.compile(pattern, flags)
        if pattern.endswith("$"):
            pattern = pattern[:-1] + r"\n?\z"  # Python's `$` also matches before a final newline
        return compile_regex(pattern, ignore_case=True)


datetimeutils.re = _PictureRe  # type: ignore[attr-defined]


class _JsonSize:
    """A lower bound of the length of a value's JSON text, added up as it walks the value, that
    stops (raising `error()`) as soon as it passes `limit` and reads the clock as it goes. A value
    that shares one object many times is walked as its text would be, so the walk is as bounded
    as the text."""

    __slots__ = ("budget", "error", "limit", "nodes", "size")

    def __init__(self, budget: _Budget | None, limit: int, error: Any) -> None:
        self.budget = budget
        self.limit = limit
        self.error = error
        self.nodes = 0
        self.size = 0

    def grow(self, size: int) -> None:
        self.size += size
        if self.size > self.limit:
            error = self.error()
            if isinstance(error, BudgetExceeded):
                _exceed(error)
            raise error

    def step(self) -> None:
        self.nodes += 1
        if not self.nodes & 1023 and self.budget is not None:
            self.budget.tick()

    def add(self, value: Any) -> None:
        stack = [value]
        while stack:
            value = stack.pop()
            self.step()
            if isinstance(value, dict):
                self.grow(1 + len(value) + sum(len(k) + 3 for k in value))
                stack += value.values()
            elif isinstance(value, list):
                self.grow(1 + len(value))
                stack += value
            elif isinstance(value, str):
                self.grow(len(value) + 2)
            else:
                self.grow(1)


class _Budget:
    """The evaluator's hooks for one evaluation: a deadline checked every few steps, and caps on the
    strings and arrays it builds. Once spent it stays spent, so a library `except` that swallows or
    rewraps the first raise meets another at the next step, and `evaluate` reports the real cause."""

    __slots__ = ("deadline", "spent", "steps")

    def __init__(self) -> None:
        self.deadline = Deadline()
        self.steps = 0
        self.spent: BaseException | None = None

    def entry(self, _expr: Any, _input: Any, _env: Any) -> None:
        self.steps += 1
        if self.spent is None and (self.steps & 31) == 0:
            self.spent = self.deadline.overrun()
        if self.spent is not None:
            raise self.spent

    def exit(self, _expr: Any, _input: Any, _env: Any, result: Any) -> None:
        if isinstance(result, str) and len(result) > MAX_STRING_CHARS:
            self.spent = BudgetExceeded(
                f"The expression built a string longer than {MAX_STRING_CHARS} characters."
            )
        elif isinstance(result, list) and len(result) > MAX_ARRAY_ITEMS:
            self.spent = BudgetExceeded(f"The expression built an array longer than {MAX_ARRAY_ITEMS} items.")
        if self.spent is not None:
            raise self.spent

    def tick(self) -> None:
        """Raise Overtime or BudgetExceeded once the deadline has passed (for loops inside a step)."""
        if self.spent is None:
            self.spent = self.deadline.overrun()
        if self.spent is not None:
            raise self.spent

    def call(self, name: str, args: list[Any]) -> None:
        """Before a built-in runs: the clock, the slice, and the size of a result known in advance."""
        if self.spent is None:
            self.spent = self.deadline.overrun()
        if self.spent is None and self.deadline.slice_at is not None and _bulky(args):
            self.spent = Overtime()
        if self.spent is None and name in _PREDICTIONS:
            self.spent = _PREDICTIONS[name](args)
        if self.spent is not None:
            raise self.spent

    def reraise(self) -> None:
        if isinstance(self.spent, BudgetExceeded):
            raise QueryError(self.spent.message) from None
        if self.spent is not None:
            raise self.spent


_NESTING_SKIPPED = re2.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`|/\*(?s:.)*?\*/')
_NOT_NESTING = re2.compile(r"[^()\[\]{}]+")
_NESTING = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}


def _nesting_exceeds(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether an expression nests brackets deeper than `limit` (string literals and comments cut
    out first): the parser and the evaluator recurse once or more per level."""
    if text.count("(") + text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_NESTING.sub("", _NESTING_SKIPPED.sub("", text))
    return max(accumulate(map(_NESTING.__getitem__, brackets)), default=0) > limit


def _parse(text: str) -> Any:
    if _nesting_exceeds(text):
        raise QueryError(f"The expression nests brackets deeper than {MAX_DEPTH} levels")
    try:
        return jsonata.Jsonata(text, _regex)
    except RecursionError:  # nesting without brackets (`- - - 1`, `a ? b : c ? ...`)
        raise QueryError(f"The expression nests deeper than {MAX_DEPTH} levels") from None
    except JException as exc:
        code = getattr(exc, "error", None)
        raise QueryError(f"{code}: {exc}" if code else str(exc)) from exc


def syntax_error(text: str) -> str | None:
    """Why `text` is not a JSONata expression this engine can run, else None (for validation:
    unlike `jsonata.Jsonata`, an expression nested 50,000 deep gets a message, not a RecursionError)."""
    try:
        _parse(text)
    except QueryError as exc:
        cause = exc.__cause__
        # the parser's own words, without the code the run-time error carries ("S0207: ...")
        return str(cause) if isinstance(cause, JException) and str(cause) else exc.message
    except Exception as exc:  # the parser raises plain Python errors on odd input
        return str(exc) or type(exc).__name__
    return None


class _ResultTooLarge(QueryError):
    """A result larger than any field may hold (see `_from_jsonata`)."""

    def __init__(self) -> None:
        super().__init__("returned a result with a size exceeding the maximum number of bytes service limit.")


class Expression:
    """A compiled JSONata expression with Step Functions' function table."""

    __slots__ = ("_expr", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._expr = _parse(text)
        self._expr.set_output_convert_nulls(False)
        for name, native in _NATIVES.items():
            self._expr.register_function(name, native)
        self._expr.register_lambda("partition", _partition)
        self._expr.register_lambda("range", _range)
        self._expr.register_lambda("hash", _hash)
        self._expr.register_lambda("random", _random)
        self._expr.register_lambda("uuid", lambda: str(uuid.uuid4()))
        self._expr.register_lambda("parse", _parse_json)
        self._expr.register_lambda("eval", _refuse_eval)
        self._expr.register_lambda("pad", _pad)

    def evaluate(self, bindings: dict[str, Any]) -> tuple[bool, Any]:
        """(defined, value). Raises QueryError when the expression fails."""
        frame = {name: _to_jsonata(value) for name, value in bindings.items()}
        budget = _Budget()
        # The evaluator looks its hooks up through the frame chain: bound here, they are this
        # evaluation's own, though the compiled expression is shared. Built-ins find the budget
        # through `_CURRENT`.
        frame["__evaluate_entry"] = budget.entry
        frame["__evaluate_exit"] = budget.exit
        token = _CURRENT.set(budget)
        try:
            try:
                result = self._expr.evaluate(None, frame)
            except QueryError:
                budget.reraise()
                raise
            except JException as exc:
                budget.reraise()
                code = getattr(exc, "error", None)
                raise QueryError(f"{code}: {exc}" if code else str(exc)) from exc
            except RecursionError as exc:
                raise QueryError("The expression exceeded the maximum recursion depth") from exc
            except UnicodeError as exc:  # $decodeUrlComponent('%ED%A0%80'): no Python words in a cause
                budget.reraise()
                raise QueryError("The string does not decode to valid UTF-8 text") from exc
            except OverflowError as exc:  # $fromMillis with a picture width past any number
                budget.reraise()
                raise QueryError("A number in the evaluation is out of range") from exc
            except Exception as exc:  # the library raises plain Python errors for some type faults
                budget.reraise()  # the budget's raise, perhaps rewrapped by the library on its way out
                raise QueryError(str(exc) or type(exc).__name__) from exc
            if result is None:
                return False, None
            try:
                return True, _from_jsonata(result, budget)
            except BudgetExceeded as exc:
                raise QueryError(exc.message) from None
        finally:
            _CURRENT.reset(token)


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> Expression:
    return Expression(text)


def _to_jsonata(value: Any) -> Any:
    if value is None:
        return NULL
    if isinstance(value, dict):
        return {k: _to_jsonata(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_jsonata(v) for v in value]
    return value


# No field's value may be larger than a payload: state input and output, Arguments, Parameters, a
# single variable and a whole Assign are each limited to 256 KiB on AWS. A result that shares one
# object many times (`[1..1000].($a)`) is small in memory and huge as JSON: the copy stops once
# its text would pass that.
MAX_RESULT_BYTES = MAX_PAYLOAD_BYTES


def _from_jsonata(value: Any, budget: _Budget | None = None) -> Any:
    """The evaluator's result as plain JSON values, copied within the budget: raises
    _ResultTooLarge once its JSON text would pass MAX_RESULT_BYTES."""
    return _Copy(budget, MAX_RESULT_BYTES, _ResultTooLarge).copy(value)


class _Copy(_JsonSize):
    __slots__ = ()

    def copy(self, value: Any) -> Any:
        self.step()
        if value is NULL or value is None:
            self.grow(4)
            return None
        if isinstance(value, dict):
            self.grow(1 + len(value) + sum(len(k) + 3 for k in value))
            return {k: self.copy(v) for k, v in value.items()}
        if isinstance(value, list):
            self.grow(1 + len(value))
            return [self.copy(v) for v in value]
        if isinstance(value, str):
            self.grow(len(value) + 2)
            return value
        self.grow(1)
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        if not isinstance(value, str | int | float | bool):
            raise QueryError("returned an unsupported result type")
        return value


def evaluate_field(text: str, field: str, bindings: dict[str, Any], *, allow_undefined: bool = False) -> Any:
    """Evaluate the expression of one definition field; raise the ASL error AWS gives on failure."""
    try:
        defined, value = compile_expression(text).evaluate(bindings)
    except _ResultTooLarge as exc:
        raise state_error(
            errors.DATA_LIMIT_EXCEEDED,
            f"The JSONata expression '{text}' specified for the field '{field}' {exc.message}",
            field,
        ) from None
    except QueryError as exc:
        if exc.message == "returned an unsupported result type":
            raise state_error(
                errors.QUERY_EVALUATION_ERROR,
                f"The JSONata expression '{text}' specified for the field '{field}' "
                "returned an unsupported result type.",
                field,
            )
        raise state_error(
            errors.QUERY_EVALUATION_ERROR,
            f"The JSONata expression '{text}' specified for the field '{field}' threw an error "
            f"during evaluation. {exc.message}",
            field,
        )
    if not defined:
        if allow_undefined:
            return _UNDEFINED
        raise state_error(
            errors.QUERY_EVALUATION_ERROR,
            f"The JSONata expression '{text}' specified for the field '{field}' returned nothing (undefined).",
            field,
        )
    return value


_UNDEFINED = object()
UNDEFINED = _UNDEFINED


def state_error(error: str, cause: str, location: str | None = None) -> StateError:
    return StateError(error, cause, location)
