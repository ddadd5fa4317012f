"""JSONata for Step Functions: `{% ... %}` strings, `$states`, workflow variables and AWS's extra functions."""

from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from functools import lru_cache
from typing import Any

import jsonata
from jsonata.functions import Functions
from jsonata.jexception import JException
from jsonata.regex_engine import RegexFlags
from jsonata.utils import Utils

from workflows.asl import errors
from workflows.asl.budget import (
    MAX_ARRAY_ITEMS,
    MAX_STRING_CHARS,
    BudgetExceeded,
    Deadline,
    TooDeep,
    compile_regex,
)
from workflows.asl.budget import loads as _loads_bounded
from workflows.asl.errors import StateError

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


def _parse(text: Any) -> Any:
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


def _regex(pattern: str, flags: RegexFlags) -> Any:
    # JSONata's regex literals on RE2: `/(a+)+b/` cannot backtrack exponentially.
    try:
        return compile_regex(pattern, ignore_case=flags.case_insensitive, multiline=flags.multiline)
    except ValueError as exc:
        return _RefusedPattern(str(exc))


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

    def reraise(self) -> None:
        if isinstance(self.spent, BudgetExceeded):
            raise QueryError(self.spent.message) from None
        if self.spent is not None:
            raise self.spent


class Expression:
    """A compiled JSONata expression with Step Functions' function table."""

    __slots__ = ("_expr", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._expr = jsonata.Jsonata(text, _regex)
        self._expr.set_output_convert_nulls(False)
        self._expr.register_lambda("partition", _partition)
        self._expr.register_lambda("range", _range)
        self._expr.register_lambda("hash", _hash)
        self._expr.register_lambda("random", _random)
        self._expr.register_lambda("uuid", lambda: str(uuid.uuid4()))
        self._expr.register_lambda("parse", _parse)
        self._expr.register_lambda("eval", _refuse_eval)
        self._expr.register_lambda("pad", _pad)

    def evaluate(self, bindings: dict[str, Any]) -> tuple[bool, Any]:
        """(defined, value). Raises QueryError when the expression fails."""
        frame = {name: _to_jsonata(value) for name, value in bindings.items()}
        budget = _Budget()
        # The evaluator looks its hooks up through the frame chain: bound here, they are this
        # evaluation's own, though the compiled expression is shared.
        frame["__evaluate_entry"] = budget.entry
        frame["__evaluate_exit"] = budget.exit
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
        except Exception as exc:  # the library raises plain Python errors for some type faults
            budget.reraise()  # the budget's raise, perhaps rewrapped by the library on its way out
            raise QueryError(str(exc) or type(exc).__name__) from exc
        if result is None:
            return False, None
        return True, _from_jsonata(result)


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


def _from_jsonata(value: Any) -> Any:
    if value is NULL or value is None:
        return None
    if isinstance(value, dict):
        return {k: _from_jsonata(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_jsonata(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if not isinstance(value, str | int | float | bool):
        raise QueryError("returned an unsupported result type")
    return value


def evaluate_field(text: str, field: str, bindings: dict[str, Any], *, allow_undefined: bool = False) -> Any:
    """Evaluate the expression of one definition field; raise the ASL error AWS gives on failure."""
    expr = compile_expression(text)
    try:
        defined, value = expr.evaluate(bindings)
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
