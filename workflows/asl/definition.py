"""Amazon States Language definitions: parsed once into an immutable compiled form the interpreter runs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflows.asl import errors
from workflows.asl.errors import DefinitionError, Diagnostic, StateError
from workflows.asl.jsonata_eval import UNDEFINED, evaluate_field, expression_text
from workflows.asl.jsonpath import Path, PathError, Reference, compile_path, compile_reference
from workflows.asl.payload import dumps, exceeds_limit

JSONPATH = "JSONPath"
JSONATA = "JSONata"

# The runtime environment a compiled template reads: the context object and workflow variables.
# (The interpreter's `Frame` satisfies it.)
Env = Any
Template = Callable[[Any, Env], Any]

_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


# ---------------------------------------------------------------------------------------------------------
# JSONPath payload templates (Parameters, ResultSelector, ItemSelector) and references


def _missing_path_error(text: str, field_name: str, value: Any) -> StateError:
    return StateError(
        errors.RUNTIME,
        f"The JSONPath '{text}' specified for the field '{field_name}' could not be found in the input "
        f"'{dumps(value)}'",
    )


def compile_dynamic(text: str, field_name: str) -> Template:
    from workflows.asl.intrinsics import compile_intrinsic, is_intrinsic

    if is_intrinsic(text):
        intrinsic = compile_intrinsic(text)
        readers: dict[str, Template] = {}

        def run_intrinsic(value: Any, env: Env) -> Any:
            def lookup(path: str) -> Any:
                reader = readers.get(path)
                if reader is None:
                    reader = readers[path] = _reference_reader(path, field_name)
                return reader(value, env)

            return intrinsic.evaluate(lookup)

        return run_intrinsic
    return _reference_reader(text, field_name)


def _reference_reader(text: str, field_name: str) -> Template:
    """Read a path (`$...`, `$$...` or a variable); a missing value is a States.Runtime error."""
    ref = compile_reference(text)
    steps = ref.path.steps
    if ref.root == "input" and steps is not None:
        return _input_reader(steps, text, field_name)

    def run_reference(value: Any, env: Env) -> Any:
        try:
            return ref.read(value, env)
        except PathError:
            raise _missing_path_error(text, field_name, value)

    return run_reference


def _input_reader(steps: tuple[str | int, ...], text: str, field_name: str) -> Template:
    """A definite path into the state input. Names apply only to objects and indexes only to
    arrays; on JSON values a name step on anything but an object raises TypeError by itself."""
    if not steps:
        return lambda value, env: value
    if all(isinstance(step, str) for step in steps):
        if len(steps) == 1:
            (a,) = steps

            def read_1(value: Any, env: Env) -> Any:
                try:
                    return value[a]
                except (KeyError, TypeError):
                    raise _missing_path_error(text, field_name, value)

            return read_1
        if len(steps) == 2:
            a, b = steps

            def read_2(value: Any, env: Env) -> Any:
                try:
                    return value[a][b]
                except (KeyError, TypeError):
                    raise _missing_path_error(text, field_name, value)

            return read_2

    def read_n(value: Any, env: Env) -> Any:
        node = value
        try:
            for step in steps:
                if step.__class__ is int and not isinstance(node, list):
                    raise TypeError
                node = node[step]
        except (KeyError, TypeError, IndexError):
            raise _missing_path_error(text, field_name, value)
        return node

    return read_n


def compile_payload(template: Any) -> Template:
    """A JSONPath payload template: keys ending in `.$` take a path or an intrinsic function."""
    if isinstance(template, dict):
        if not _is_dynamic(template):
            return lambda value, env: template
        # Generated as one dict display (fields in template order): it builds the object several
        # times faster than a comprehension over the fields, and payloads run on every state.
        names: dict[str, Any] = {}
        fields = []
        for i, (key, item) in enumerate(template.items()):
            if key.endswith(".$") and isinstance(item, str):
                key, item = key[:-2], compile_dynamic(item, key)
                dynamic = True
            elif _is_dynamic(item):
                item, dynamic = compile_payload(item), True
            else:
                dynamic = False
            names[f"k{i}"], names[f"v{i}"] = key, item
            fields.append(f"k{i}: v{i}(value, env)" if dynamic else f"k{i}: v{i}")
        source = f"def run_object(value, env):\n    return {{{', '.join(fields)}}}\n"
        exec(compile(source, "<payload template>", "exec"), names)
        return names["run_object"]  # type: ignore[no-any-return]
    if isinstance(template, list) and _is_dynamic(template):
        items = [compile_payload(item) for item in template]
        return lambda value, env: [fn(value, env) for fn in items]
    return lambda value, env: template


# Intrinsic functions whose result has a size known in advance: the longest JSON text of a number (a
# float's repr is at most 24 characters), a boolean, a UUID in quotes.
_BOUNDED_RESULTS = {
    "States.MathAdd": 24,
    "States.MathRandom": 24,
    "States.ArrayLength": 24,
    "States.ArrayContains": 5,
    "States.UUID": 38,
}


class _Unbounded(Exception):
    """Part of a template whose size cannot be told from its input's."""


def payload_growth(template: Any) -> tuple[int, int]:
    """(fixed, copies): what a JSONPath payload template makes from an input of at most n bytes of
    text is at most `fixed + copies * n` bytes. Raises _Unbounded for a context or variable reference,
    an indefinite path (a descent can match a node and its children) or an intrinsic whose result can
    be larger than its input."""
    paths: list[tuple[str | int, ...]] = []
    fixed = _fixed_size(template, paths)
    # Values at paths none of which is inside another are disjoint parts of the input's text: together
    # at most n. Otherwise each may be all of it.
    disjoint = all(a[: len(b)] != b and b[: len(a)] != a for i, a in enumerate(paths) for b in paths[i + 1 :])
    return fixed, (min(len(paths), 1) if disjoint else len(paths))


def _fixed_size(template: Any, paths: list[tuple[str | int, ...]]) -> int:
    if not _is_dynamic(template):
        return len(dumps(template).encode())
    if isinstance(template, list):
        return 2 + sum(1 + _fixed_size(item, paths) for item in template)
    total = 2
    for key, item in template.items():
        if key.endswith(".$") and isinstance(item, str):
            total += 6 * len(key) + 4 + _dynamic_size(item, paths)  # 6 bytes per character: any escape
        else:
            total += 6 * len(key) + 4 + _fixed_size(item, paths)
    return total


def _dynamic_size(text: str, paths: list[tuple[str | int, ...]]) -> int:
    from workflows.asl.intrinsics import compile_intrinsic, is_intrinsic

    if is_intrinsic(text):
        size = _BOUNDED_RESULTS.get(compile_intrinsic(text).function)
        if size is None:
            raise _Unbounded
        return size
    ref = compile_reference(text)
    if ref.root != "input" or ref.path.steps is None:
        raise _Unbounded
    paths.append(ref.path.steps)
    return 0


def output_growth(
    *,
    input_path: Reference | None,
    input_path_null: bool,
    result: tuple[int, int],
    result_path: Path | None,
    result_path_null: bool,
    output_path: Reference | None,
    output_path_null: bool,
) -> tuple[int, int] | None:
    """(fixed, factor): a state whose result grows as `result` (see payload_growth) from its
    effective input has an output of at most `fixed + factor * n` bytes of text when its input has
    at most n (payload.SizeCheck uses it to skip serialising). None when it cannot be told."""
    for path, null in ((input_path, input_path_null), (output_path, output_path_null)):
        # a definite path into the input selects a part of it ({} for null: input is an object here)
        if not null and path is not None and (path.root != "input" or path.path.steps is None):
            return None
    if output_path_null:
        return 2, 0
    if result_path_null:
        return 0, 1
    if result_path is None:
        return result
    if result_path.steps is None:
        return None
    # the input with the result placed in it, and at worst a new object for every step on the way
    steps = sum(6 * len(str(step)) + 6 for step in result_path.steps)
    return result[0] + steps, result[1] + 1


def _is_dynamic(template: Any) -> bool:
    if isinstance(template, dict):
        return any((k.endswith(".$") and isinstance(v, str)) or _is_dynamic(v) for k, v in template.items())
    if isinstance(template, list):
        return any(_is_dynamic(v) for v in template)
    return False


# ---------------------------------------------------------------------------------------------------------
# JSONata templates (Arguments, Output, Assign, Items, ...)


def compile_jsonata(template: Any, field_name: str) -> Callable[[dict[str, Any]], Any]:
    """A JSONata template: `{% expr %}` strings anywhere in it are evaluated against the bindings."""
    text = expression_text(template)
    if text is not None:
        return lambda bindings: evaluate_field(text, field_name, bindings)
    if isinstance(template, dict):
        if not _has_jsonata(template):
            return lambda bindings: template
        parts = [(k, compile_jsonata(v, f"{field_name}/{k}")) for k, v in template.items()]

        def run_object(bindings: dict[str, Any]) -> Any:
            return {k: fn(bindings) for k, fn in parts}

        return run_object
    if isinstance(template, list) and _has_jsonata(template):
        fns = [compile_jsonata(v, f"{field_name}[{i}]") for i, v in enumerate(template)]
        return lambda bindings: [fn(bindings) for fn in fns]
    return lambda bindings: template


def _has_jsonata(template: Any) -> bool:
    if isinstance(template, str):
        return expression_text(template) is not None
    if isinstance(template, dict):
        return any(_has_jsonata(v) for v in template.values())
    if isinstance(template, list):
        return any(_has_jsonata(v) for v in template)
    return False


def jsonata_or_value(template: Any, field_name: str, bindings: dict[str, Any]) -> Any:
    """Evaluate a field that may hold a literal or a `{% %}` string (TimeoutSeconds, Seconds, ...)."""
    text = expression_text(template)
    if text is None:
        return template
    return evaluate_field(text, field_name, bindings)


_ = UNDEFINED  # re-exported for the interpreter's optional fields


# ---------------------------------------------------------------------------------------------------------
# Choice rules


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as Step Functions accepts it (uppercase T and an offset or Z)."""
    if not isinstance(value, str) or "T" not in value:
        return None
    text = value
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed


def _glob_segments(pattern: str) -> list[str]:
    """The literal runs between a StringMatches pattern's `*` wildcards (`\\` escapes the next character)."""
    segments: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            current.append(pattern[i + 1])
            i += 2
            continue
        if ch == "*":
            segments.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    segments.append("".join(current))
    return segments


def _string_matches(value: str, pattern: str) -> bool:
    """StringMatches without backtracking: the first literal run is a prefix, the last a suffix, and each
    one between is found at its leftmost place after the previous (leftmost is always safe, since a `*`
    absorbs whatever lies between). Linear-time search, where a translated regex backtracks
    polynomially (`*a*a*a*a*b` on a long run of `a`s grows as n^5)."""
    segments = _glob_segments(pattern)
    if len(segments) == 1:
        return value == segments[0]
    first, *middle, last = segments
    if len(first) + len(last) > len(value) or not value.startswith(first) or not value.endswith(last):
        return False
    at, end = len(first), len(value) - len(last)
    for segment in middle:
        found = value.find(segment, at, end)
        if found < 0:
            return False
        at = found + len(segment)
    return True


def _cmp(kind: Callable[[Any], bool], op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    return lambda a, b: kind(a) and kind(b) and op(a, b)


def _ts(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        ta, tb = parse_timestamp(a), parse_timestamp(b)
        return ta is not None and tb is not None and op(ta, tb)

    return compare


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


# Choice comparison operators: name -> predicate(value, operand). Each also has a `...Path` form.
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "StringEquals": _cmp(_str, lambda a, b: a == b),
    "StringLessThan": _cmp(_str, lambda a, b: a < b),
    "StringGreaterThan": _cmp(_str, lambda a, b: a > b),
    "StringLessThanEquals": _cmp(_str, lambda a, b: a <= b),
    "StringGreaterThanEquals": _cmp(_str, lambda a, b: a >= b),
    "StringMatches": _cmp(_str, _string_matches),
    "NumericEquals": _cmp(_is_number, lambda a, b: a == b),
    "NumericLessThan": _cmp(_is_number, lambda a, b: a < b),
    "NumericGreaterThan": _cmp(_is_number, lambda a, b: a > b),
    "NumericLessThanEquals": _cmp(_is_number, lambda a, b: a <= b),
    "NumericGreaterThanEquals": _cmp(_is_number, lambda a, b: a >= b),
    "BooleanEquals": _cmp(_bool, lambda a, b: a == b),
    "TimestampEquals": _ts(lambda a, b: a == b),
    "TimestampLessThan": _ts(lambda a, b: a < b),
    "TimestampGreaterThan": _ts(lambda a, b: a > b),
    "TimestampLessThanEquals": _ts(lambda a, b: a <= b),
    "TimestampGreaterThanEquals": _ts(lambda a, b: a >= b),
}

TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "IsNull": lambda v: v is None,
    "IsNumeric": _is_number,
    "IsString": _str,
    "IsBoolean": _bool,
    "IsTimestamp": lambda v: parse_timestamp(v) is not None,
}

Predicate = Callable[[Any, Env], bool]


def compile_rule(rule: dict[str, Any]) -> Predicate:
    """A JSONPath Choice rule (with And / Or / Not) as a predicate over (input, env)."""
    if "And" in rule:
        subs = [compile_rule(r) for r in rule["And"]]
        return lambda value, env: all(p(value, env) for p in subs)
    if "Or" in rule:
        subs = [compile_rule(r) for r in rule["Or"]]
        return lambda value, env: any(p(value, env) for p in subs)
    if "Not" in rule:
        sub = compile_rule(rule["Not"])
        return lambda value, env: not sub(value, env)
    variable: Reference = compile_reference(rule["Variable"])

    def read(value: Any, env: Env) -> Any:
        try:
            return variable.read(value, env)
        except PathError as exc:
            raise StateError(errors.RUNTIME, f"Invalid path '{variable.text}' : {exc.message}")

    if "IsPresent" in rule:
        expected = rule["IsPresent"]

        def is_present(value: Any, env: Env) -> bool:
            try:
                variable.read(value, env)
                present = True
            except PathError:
                present = False
            return present == expected

        return is_present
    for name, test in TYPE_TESTS.items():
        if name in rule:
            expected = rule[name]

            def type_test(
                value: Any, env: Env, test: Callable[[Any], bool] = test, expected: Any = expected
            ) -> bool:
                return test(read(value, env)) == expected

            return type_test
    for name, op in COMPARISONS.items():
        if name in rule:
            operand = rule[name]

            def compare(
                value: Any, env: Env, op: Callable[[Any, Any], bool] = op, operand: Any = operand
            ) -> bool:
                return op(read(value, env), operand)

            return compare
        path_name = name + "Path"
        if path_name in rule:
            ref = compile_reference(rule[path_name])

            def compare_path(value: Any, env: Env, op: Any = op, ref: Reference = ref) -> bool:
                try:
                    operand = ref.read(value, env)
                except PathError as exc:
                    raise StateError(errors.RUNTIME, f"Invalid path '{ref.text}' : {exc.message}")
                return op(read(value, env), operand)

            return compare_path
    raise DefinitionError([Diagnostic("SCHEMA_VALIDATION_FAILED", "Choice rule has no comparison operator")])


# ---------------------------------------------------------------------------------------------------------
# The compiled form


@dataclass(frozen=True, slots=True)
class Retrier:
    error_equals: tuple[str, ...]
    interval_seconds: float = 1.0
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: float | None = None
    jitter: str = "NONE"


@dataclass(frozen=True, slots=True)
class Catcher:
    error_equals: tuple[str, ...]
    next: str
    result_path: Path | None = None
    result_path_null: bool = False
    output: Any = None
    assign: Any = None
    has_output: bool = False


@dataclass(frozen=True, slots=True)
class ChoiceRule:
    next: str
    predicate: Predicate | None = None  # JSONPath
    condition: Any = None  # JSONata
    assign: Any = None
    output: Any = None
    has_output: bool = False


@dataclass(frozen=True)
class State:
    """One compiled state. Fields that a type does not use stay None; `spec` keeps the JSON."""

    name: str
    type: str
    spec: Mapping[str, Any]
    query_language: str
    next: str | None = None
    end: bool = False
    # JSONPath processing
    input_path: Reference | None = None
    input_path_null: bool = False
    parameters: Template | None = None
    result_selector: Template | None = None
    result_path: Path | None = None
    result_path_null: bool = False
    output_path: Reference | None = None
    output_path_null: bool = False
    result: Any = None
    has_result: bool = False
    result_too_large: bool = False  # a static Result over the payload limit fails at run time, as on AWS
    # Pass: how its output's size grows with its input's (see output_growth), or None
    output_growth: tuple[int, int] | None = None
    # JSONata processing
    arguments: Any = None
    output: Any = None
    has_output: bool = False
    assign: Any = None
    # Task
    resource: str | None = None
    retry: tuple[Retrier, ...] = ()
    catch: tuple[Catcher, ...] = ()
    # Choice
    choices: tuple[ChoiceRule, ...] = ()
    default: str | None = None
    # Parallel / Map
    branches: tuple[StateMachine, ...] = ()
    processor: StateMachine | None = None
    items_path: Reference | None = None
    item_selector: Template | None = None


@dataclass(frozen=True)
class StateMachine:
    start_at: str
    states: Mapping[str, State]
    query_language: str = JSONPATH
    timeout_seconds: Any = None
    processor_mode: str = "INLINE"


@dataclass(frozen=True)
class Definition:
    """A loaded definition: the compiled top-level machine and the JSON it came from."""

    machine: StateMachine
    document: Mapping[str, Any] = field(repr=False)
    text: str = field(repr=False, default="")

    @property
    def states(self) -> Mapping[str, State]:
        return self.machine.states


def _path_field(spec: Mapping[str, Any], name: str) -> tuple[Any, bool]:
    """(compiled path, explicitly null). Absent means `$`. ResultPath is a Path into the input;
    the other paths are References, which may also start at `$$` or a variable."""
    if name not in spec:
        return None, False
    value = spec[name]
    if value is None:
        return None, True
    if value == "$":
        return None, False
    return (compile_path(value) if name == "ResultPath" else compile_reference(value)), False


def _pass_growth(spec: Mapping[str, Any], kw: dict[str, Any]) -> tuple[int, int] | None:
    try:
        if "Result" in spec:
            result = (len(dumps(spec["Result"]).encode()), 0)
        elif "Parameters" in spec:
            result = payload_growth(spec["Parameters"])
        else:
            result = (0, 1)  # the effective input
    except _Unbounded:
        return None
    except (RecursionError, UnicodeEncodeError):  # a Result that fails its state anyway
        return None
    return output_growth(
        input_path=kw["input_path"],
        input_path_null=kw["input_path_null"],
        result=result,
        result_path=kw["result_path"],
        result_path_null=kw["result_path_null"],
        output_path=kw["output_path"],
        output_path_null=kw["output_path_null"],
    )


def _retriers(items: list[dict[str, Any]]) -> tuple[Retrier, ...]:
    return tuple(
        Retrier(
            error_equals=tuple(r["ErrorEquals"]),
            interval_seconds=r.get("IntervalSeconds", 1),
            max_attempts=r.get("MaxAttempts", 3),
            backoff_rate=r.get("BackoffRate", 2.0),
            max_delay_seconds=r.get("MaxDelaySeconds"),
            jitter=r.get("JitterStrategy", "NONE"),
        )
        for r in items
    )


def _catchers(items: list[dict[str, Any]], language: str) -> tuple[Catcher, ...]:
    out = []
    for c in items:
        rp, rp_null = _path_field(c, "ResultPath")
        out.append(
            Catcher(
                error_equals=tuple(c["ErrorEquals"]),
                next=c["Next"],
                result_path=rp,
                result_path_null=rp_null,
                output=compile_jsonata(c["Output"], "Output") if "Output" in c else None,
                has_output="Output" in c,
                assign=c.get("Assign"),
            )
        )
    return tuple(out)


def _compile_state(name: str, spec: Mapping[str, Any], language: str) -> State:
    lang = spec.get("QueryLanguage", language)
    kind = spec["Type"]
    kw: dict[str, Any] = {
        "name": name,
        "type": kind,
        "spec": spec,
        "query_language": lang,
        "next": spec.get("Next"),
        "end": bool(spec.get("End", False)),
        "assign": spec.get("Assign"),
    }
    if lang == JSONPATH:
        kw["input_path"], kw["input_path_null"] = _path_field(spec, "InputPath")
        kw["output_path"], kw["output_path_null"] = _path_field(spec, "OutputPath")
        kw["result_path"], kw["result_path_null"] = _path_field(spec, "ResultPath")
        if "Parameters" in spec:
            kw["parameters"] = compile_payload(spec["Parameters"])
        if "ResultSelector" in spec:
            kw["result_selector"] = compile_payload(spec["ResultSelector"])
    else:
        if "Arguments" in spec:
            kw["arguments"] = compile_jsonata(spec["Arguments"], "Arguments")
        if "Output" in spec:
            kw["output"] = compile_jsonata(spec["Output"], "Output")
            kw["has_output"] = True
    if "Result" in spec:
        kw["result"] = spec["Result"]
        kw["has_result"] = True
        kw["result_too_large"] = exceeds_limit(spec["Result"])
    if kind == "Pass" and lang == JSONPATH:
        kw["output_growth"] = _pass_growth(spec, kw)
    if "Retry" in spec:
        kw["retry"] = _retriers(spec["Retry"])
    if "Catch" in spec:
        kw["catch"] = _catchers(spec["Catch"], lang)
    if kind == "Task":
        kw["resource"] = spec.get("Resource")
    elif kind == "Choice":
        rules = []
        for rule in spec.get("Choices", []):
            rules.append(
                ChoiceRule(
                    next=rule["Next"],
                    predicate=compile_rule(rule) if lang == JSONPATH else None,
                    condition=rule.get("Condition"),
                    assign=rule.get("Assign"),
                    output=compile_jsonata(rule["Output"], "Output") if "Output" in rule else None,
                    has_output="Output" in rule,
                )
            )
        kw["choices"] = tuple(rules)
        kw["default"] = spec.get("Default")
    elif kind == "Parallel":
        kw["branches"] = tuple(_compile_machine(b, lang) for b in spec.get("Branches", []))
    elif kind == "Map":
        processor = spec.get("ItemProcessor") or spec.get("Iterator")
        if processor is not None:
            kw["processor"] = _compile_machine(processor, lang)
        if lang == JSONPATH:
            kw["items_path"], _null = _path_field(spec, "ItemsPath")
            selector = spec.get("ItemSelector", spec.get("Parameters"))
            kw["parameters"] = None
            if selector is not None:
                kw["item_selector"] = compile_payload(selector)
    return State(**kw)


def _compile_machine(doc: Mapping[str, Any], language: str = JSONPATH) -> StateMachine:
    lang = doc.get("QueryLanguage", language)
    states = {name: _compile_state(name, spec, lang) for name, spec in doc["States"].items()}
    mode = (doc.get("ProcessorConfig") or {}).get("Mode", "INLINE")
    return StateMachine(
        start_at=doc["StartAt"],
        states=states,
        query_language=lang,
        timeout_seconds=doc.get("TimeoutSeconds"),
        processor_mode=mode,
    )


def substitute(value: Any, substitutions: Mapping[str, Any]) -> Any:
    """Fill `${Name}` placeholders in every string, as SAM's DefinitionSubstitutions do."""
    if isinstance(value, str):
        if "${" not in value:
            return value
        return _PLACEHOLDER.sub(
            lambda m: str(substitutions[m.group(1)]) if m.group(1) in substitutions else m.group(0), value
        )
    if isinstance(value, dict):
        return {substitute(k, substitutions): substitute(v, substitutions) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, substitutions) for v in value]
    return value


def load_definition(
    source: str | Mapping[str, Any],
    substitutions: Mapping[str, Any] | None = None,
    *,
    validate: bool = True,
) -> Definition:
    """Parse, substitute, validate and compile a definition. Raises DefinitionError with diagnostics."""
    if isinstance(source, str):
        text = source
        try:
            document = json.loads(source)
        except ValueError as exc:
            raise DefinitionError([Diagnostic("INVALID_JSON_DESCRIPTION", str(exc))]) from exc
    else:
        document = dict(source)
        text = json.dumps(document)
    if substitutions:
        document = substitute(document, substitutions)
    if validate:
        try:
            from workflows.asl.validation import validate_definition
        except ImportError:  # pragma: no cover - during bootstrap
            validate_definition = None  # type: ignore[assignment]
        if validate_definition is not None:
            diagnostics = [d for d in validate_definition(document) if d.severity == "ERROR"]
            if diagnostics:
                raise DefinitionError(diagnostics)
    if not isinstance(document, dict) or "States" not in document or "StartAt" not in document:
        raise DefinitionError([Diagnostic("SCHEMA_VALIDATION_FAILED", "StartAt and States are required")])
    try:
        machine = _compile_machine(document)
    except (KeyError, TypeError, PathError) as exc:
        raise DefinitionError([Diagnostic("SCHEMA_VALIDATION_FAILED", f"cannot compile: {exc}")]) from exc
    return Definition(machine=machine, document=document, text=text)
