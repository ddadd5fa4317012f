"""Validation of Amazon States Language definitions, with ValidateStateMachineDefinition's diagnostics.

Every finding is a `Diagnostic(code, message, location, severity)` whose location is the JSON pointer of the
fault in AWS's spelling (`/States/Choose/Choices[0]/Next`: array indices in brackets). Codes and, where AWS's
wording is known from recordings, messages are AWS's own:

    SCHEMA_VALIDATION_FAILED   a field is missing, unknown, of a wrong type or value, or conflicting
    INVALID_JSON_DESCRIPTION   the text is not JSON
    MISSING_DESCRIPTION        the text is empty
    INVALID_RESOURCE           a Task's Resource is not an ARN
    MISSING_TRANSITION_TARGET  a Next/Default/StartAt names no state of its scope, or a state is unreachable
    MISSING_END_STATE          a state machine (or branch, or item processor) has no terminal state
    DUPLICATE_STATE_NAME       a state name appears twice in the whole definition
    INVALID_STATE_NAME         a state name is empty, too long or holds control characters
    INVALID_LABEL_NAME         a Map Label breaks AWS's naming rules
    INVALID_JSONATA_EXPRESSION a `{% ... %}` string does not parse
    TOO_DEEPLY_NESTED          Map/Parallel nested deeper than AWS allows
    DUPLICATE_LABEL_NAME       two Map states share a Label
    NO_DOLLAR, NO_PATH, PASS_RESULT_IS_STATIC   warnings

Per-type structure is a table (`_STATE_FIELDS`); the shape of each field's value is a small JSON schema
(`_FIELD_SCHEMAS`) checked with jsonschema; the graph checks (targets, reachability, terminal states) and
path/JSONata/intrinsic syntax are written by hand.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonpath
from jsonschema import Draft202012Validator

from workflows.asl.errors import Diagnostic
from workflows.asl.intrinsics import MAX_NESTING as _MAX_INTRINSIC_NESTING
from workflows.asl.intrinsics import IntrinsicTooDeep, compile_intrinsic
from workflows.asl.jsonata_eval import syntax_error

__all__ = [
    "HTTP_ARRAY_FORMATS",
    "HTTP_BODY_ENCODINGS",
    "HTTP_METHODS",
    "invalid_definition_message",
    "main_validate",
    "validate_definition",
]

ERROR = "ERROR"
WARNING = "WARNING"

JSONPATH = "JSONPath"
JSONATA = "JSONata"

MAX_STATE_NAME_LENGTH = 80
MAX_LABEL_LENGTH = 40
# Map/Parallel nesting below the top-level state machine; AWS documents no number, this bounds recursion.
MAX_NESTING_DEPTH = 30

STATE_TYPES = ("Task", "Wait", "Pass", "Succeed", "Fail", "Choice", "Parallel", "Map")

_TOP_LEVEL_FIELDS = frozenset({"Comment", "StartAt", "States", "Version", "TimeoutSeconds", "QueryLanguage"})
_SCOPE_FIELDS = frozenset({"Comment", "StartAt", "States"})
_PROCESSOR_FIELDS = _SCOPE_FIELDS | {"ProcessorConfig"}


def _names(text: str) -> frozenset[str]:
    """A table cell: field names separated by spaces."""
    return frozenset(text.split())


# Fields every state may have, and those that exist only in one query language.
_COMMON = frozenset({"Type", "Comment", "QueryLanguage"})
_IO = "InputPath OutputPath Output Assign"
_STATE_FIELDS: dict[str, frozenset[str]] = {
    kind: _names(names)
    for kind, names in {
        "Pass": f"Next End Result Parameters ResultPath {_IO}",
        "Task": "Next End Resource TimeoutSeconds TimeoutSecondsPath HeartbeatSeconds HeartbeatSecondsPath "
        f"Retry Catch Credentials Parameters ResultPath ResultSelector Arguments {_IO}",
        "Choice": f"Choices Default {_IO}",
        "Wait": f"Next End Seconds Timestamp SecondsPath TimestampPath {_IO}",
        "Succeed": "InputPath OutputPath Output",
        "Fail": "Error Cause ErrorPath CausePath",
        "Parallel": f"Next End Branches Retry Catch Parameters ResultPath ResultSelector Arguments {_IO}",
        "Map": "Next End ItemProcessor Iterator ItemsPath Items ItemSelector Parameters MaxConcurrency "
        "MaxConcurrencyPath ItemReader ItemBatcher ResultWriter ToleratedFailurePercentage "
        "ToleratedFailurePercentagePath ToleratedFailureCount ToleratedFailureCountPath Label Retry Catch "
        f"ResultPath ResultSelector {_IO}",
    }.items()
}
_REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "Task": ("Resource",),
    "Choice": ("Choices",),
    "Parallel": ("Branches",),
}
_JSONPATH_ONLY = _names(
    "InputPath OutputPath Parameters ResultPath ResultSelector Result ItemsPath TimeoutSecondsPath "
    "HeartbeatSecondsPath SecondsPath TimestampPath ErrorPath CausePath MaxConcurrencyPath "
    "ToleratedFailurePercentagePath ToleratedFailureCountPath Iterator"
)
_JSONATA_ONLY = frozenset({"Arguments", "Output", "Items"})
_MUTUALLY_EXCLUSIVE: tuple[tuple[str, ...], ...] = (
    ("Next", "End"),
    ("TimeoutSeconds", "TimeoutSecondsPath"),
    ("HeartbeatSeconds", "HeartbeatSecondsPath"),
    ("Seconds", "Timestamp", "SecondsPath", "TimestampPath"),
    ("Error", "ErrorPath"),
    ("Cause", "CausePath"),
    ("ItemProcessor", "Iterator"),
    ("ItemSelector", "Parameters"),
    ("MaxConcurrency", "MaxConcurrencyPath"),
    ("ToleratedFailurePercentage", "ToleratedFailurePercentagePath"),
    ("ToleratedFailureCount", "ToleratedFailureCountPath"),
)
# Fields whose value is a path (JSONPath mode). Reference paths name one node: no filters or wildcards.
_PATH_FIELDS = _names(
    "InputPath OutputPath TimeoutSecondsPath HeartbeatSecondsPath SecondsPath TimestampPath "
    "MaxConcurrencyPath ToleratedFailurePercentagePath ToleratedFailureCountPath"
)
_REFERENCE_PATH_FIELDS = frozenset({"ResultPath", "ItemsPath"})
_INTRINSIC_PATH_FIELDS = frozenset({"ErrorPath", "CausePath"})
# Parts of a JSONata state whose expressions are checked by their own rules (or scopes).
_CHECKED_ELSEWHERE = ("ItemProcessor", "Iterator", "Branches", "Catch", "Choices", "Assign")
# Fields whose object value may hold "key.$" entries (payload templates).
_TEMPLATE_FIELDS = frozenset({"Parameters", "ResultSelector", "ItemSelector", "Credentials"})

_POS_INT = {"type": "integer", "minimum": 1, "maximum": 99999999}
_NON_NEG_INT = {"type": "integer", "minimum": 0}
_PATH_STR = {"type": ["string", "null"]}
_STRING = {"type": "string"}
_OBJECT = {"type": "object"}


def _or_jsonata(schema: dict[str, Any]) -> dict[str, Any]:
    """A field that takes a literal or, in JSONata states, an expression string."""
    return {"anyOf": [schema, {"type": "string", "pattern": r"^\{%[\s\S]*%\}$"}]}


_RETRIER = {
    "type": "object",
    "required": ["ErrorEquals"],
    "properties": {
        "ErrorEquals": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "IntervalSeconds": _POS_INT,
        "MaxAttempts": {"type": "integer", "minimum": 0, "maximum": 99999999},
        "BackoffRate": {"type": "number", "minimum": 1},
        "MaxDelaySeconds": _POS_INT,
        "JitterStrategy": {"enum": ["FULL", "NONE"]},
        "Comment": _STRING,
    },
    "additionalProperties": False,
}
_CATCHER = {
    "type": "object",
    "required": ["ErrorEquals", "Next"],
    "properties": {
        "ErrorEquals": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "Next": _STRING,
        "ResultPath": _PATH_STR,
        "Comment": _STRING,
        "Assign": {},
        "Output": {},
    },
    "additionalProperties": False,
}
_FIELD_SCHEMAS: dict[str, dict[str, Any]] = {
    "Type": {"enum": list(STATE_TYPES)},
    "Comment": _STRING,
    "QueryLanguage": {"enum": [JSONPATH, JSONATA]},
    "Next": _STRING,
    "End": {"type": "boolean"},
    "Default": _STRING,
    "Resource": _STRING,
    "TimeoutSeconds": _or_jsonata(_POS_INT),
    "HeartbeatSeconds": _or_jsonata(_POS_INT),
    "Seconds": _or_jsonata(_NON_NEG_INT),
    "Timestamp": _STRING,
    "Error": _STRING,
    "Cause": _STRING,
    "Retry": {"type": "array", "items": _RETRIER},
    "Catch": {"type": "array", "items": _CATCHER},
    "Choices": {"type": "array", "minItems": 1, "items": {"type": "object"}},
    "Branches": {"type": "array", "minItems": 1, "items": {"type": "object"}},
    "ItemProcessor": _OBJECT,
    "Iterator": _OBJECT,
    "Parameters": {},
    "ResultSelector": _OBJECT,
    "ItemSelector": {},
    "Credentials": {},
    "Assign": _OBJECT,
    "Items": {"anyOf": [{"type": "array"}, _or_jsonata({"type": "null"})]},
    "MaxConcurrency": _or_jsonata(_NON_NEG_INT),
    "ToleratedFailurePercentage": _or_jsonata({"type": "number", "minimum": 0, "maximum": 100}),
    "ToleratedFailureCount": _or_jsonata(_NON_NEG_INT),
    "Label": _STRING,
    "ItemReader": {
        "type": "object",
        "required": ["Resource"],
        "properties": {
            "Resource": {"enum": ["arn:aws:states:::s3:getObject", "arn:aws:states:::s3:listObjectsV2"]},
            "ReaderConfig": {
                "type": "object",
                "properties": {
                    "InputType": {"enum": ["CSV", "JSON", "JSONL", "PARQUET", "MANIFEST"]},
                    "CSVHeaderLocation": {"enum": ["FIRST_ROW", "GIVEN"]},
                    "CSVHeaders": {"type": "array", "items": {"type": "string"}},
                    "CSVDelimiter": {"enum": ["COMMA", "PIPE", "SEMICOLON", "SPACE", "TAB"]},
                    "MaxItems": _or_jsonata(_NON_NEG_INT),
                    "MaxItemsPath": _STRING,
                },
            },
            "Parameters": {},
            "Arguments": {},
        },
        "additionalProperties": False,
    },
    "ItemBatcher": {
        "type": "object",
        "properties": {
            "MaxItemsPerBatch": _or_jsonata(_POS_INT),
            "MaxItemsPerBatchPath": _STRING,
            "MaxInputBytesPerBatch": _or_jsonata(_POS_INT),
            "MaxInputBytesPerBatchPath": _STRING,
            "BatchInput": {},
        },
        "additionalProperties": False,
    },
    "ResultWriter": {
        "type": "object",
        "properties": {
            "Resource": {"enum": ["arn:aws:states:::s3:putObject"]},
            "Parameters": _OBJECT,
            "Arguments": {},
            "WriterConfig": {
                "type": "object",
                "properties": {
                    "Transformation": {"enum": ["NONE", "COMPACT", "FLATTEN"]},
                    "OutputType": {"enum": ["JSON", "JSONL"]},
                },
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
    },
    "ProcessorConfig": {
        "type": "object",
        "properties": {
            "Mode": {"enum": ["INLINE", "DISTRIBUTED"]},
            "ExecutionType": {"enum": ["STANDARD", "EXPRESS"]},
        },
        "additionalProperties": False,
    },
    "Version": {"type": "string"},
}
for _name in _PATH_FIELDS | _REFERENCE_PATH_FIELDS | _INTRINSIC_PATH_FIELDS:
    _FIELD_SCHEMAS.setdefault(
        _name, _PATH_STR if _name in {"InputPath", "OutputPath", "ResultPath"} else _STRING
    )
_VALIDATORS = {name: Draft202012Validator(schema) for name, schema in _FIELD_SCHEMAS.items()}

# Choice comparison operators and the JSON type of their operand.
_COMPARISONS: dict[str, str] = {}
for _kind, _type in (("String", "string"), ("Numeric", "number"), ("Timestamp", "string")):
    for _op in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals"):
        _COMPARISONS[_kind + _op] = _type
        _COMPARISONS[_kind + _op + "Path"] = "path"
_COMPARISONS.update(
    {
        "StringMatches": "string",
        "BooleanEquals": "boolean",
        "BooleanEqualsPath": "path",
        "IsNull": "boolean",
        "IsPresent": "boolean",
        "IsNumeric": "boolean",
        "IsString": "boolean",
        "IsBoolean": "boolean",
        "IsTimestamp": "boolean",
    }
)
_JSON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "number": (int, float), "boolean": (bool,)}

_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_FORBIDDEN = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
_ARN = re.compile(r"^arn:[^:]+:[^:]+:[^:]*:[^:]*:.+$")

# The HTTP Task (Developer Guide, "Call HTTPS APIs in Step Functions workflows"): its Resource, the
# methods and encodings its fields take, and the fields it requires.
_HTTP_RESOURCE = re.compile(r"^arn:[^:]+:states:::http:invoke$")
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")
HTTP_BODY_ENCODINGS = ("NONE", "URL_ENCODED")
HTTP_ARRAY_FORMATS = ("INDICES", "REPEAT", "COMMAS", "BRACKETS")
_HTTP_CONNECTION_FIELDS = ("Authentication", "InvocationConfig")
_RESERVED_VARIABLES = frozenset({"states"})


def _has_placeholder(value: Any) -> bool:
    """A `${Name}` DefinitionSubstitutions placeholder: an opaque string we cannot judge."""
    return isinstance(value, str) and "${" in value


def _is_jsonata(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


@dataclass
class _Validator:
    state_machine_type: str
    top_language: str = JSONPATH
    diagnostics: list[Diagnostic] = field(default_factory=list)
    seen_names: set[str] = field(default_factory=set)
    seen_labels: set[str] = field(default_factory=set)

    def report(self, code: str, message: str, location: str | None, severity: str = ERROR) -> None:
        self.diagnostics.append(Diagnostic(code, message, location or "", severity))

    def schema_error(self, message: str, location: str) -> None:
        self.report("SCHEMA_VALIDATION_FAILED", message, location)

    # -- the state machine and its nested scopes ------------------------------------------------------

    def check_top(self, definition: Any) -> None:
        if not isinstance(definition, dict):
            self.schema_error("The state machine definition must be a JSON object", "/")
            return
        self.check_field_values(definition, "", ("TimeoutSeconds", "Version", "Comment", "QueryLanguage"))
        if definition.get("QueryLanguage") == JSONATA:
            self.top_language = JSONATA
        if isinstance(definition.get("TimeoutSeconds"), str):
            self.schema_error("The field 'TimeoutSeconds' must be a positive integer", "/TimeoutSeconds")
        self.check_scope(definition, "", _TOP_LEVEL_FIELDS, depth=0)

    def check_scope(self, scope: dict[str, Any], pointer: str, allowed: frozenset[str], depth: int) -> None:
        """A state machine, Parallel branch or Map item processor: StartAt, States and the graph."""
        where = pointer or "/"
        missing = [name for name in ("States", "StartAt") if name not in scope]
        if missing:
            self.schema_error(f"These fields are required: [{', '.join(missing)}]", where)
        for name in scope:
            if name not in allowed:
                self.schema_error(f"Field '{name}' is not supported", where)
        if "StartAt" in scope and not isinstance(scope["StartAt"], str):
            self.schema_error("The field 'StartAt' must be a string", f"{pointer}/StartAt")
        if "ProcessorConfig" in scope:
            self.check_field_values(scope, pointer, ("ProcessorConfig",))
        states = scope.get("States")
        if "States" in scope and not isinstance(states, dict):
            self.schema_error("The field 'States' must be an object", f"{pointer}/States")
            return
        if not isinstance(states, dict):
            return
        if not states:
            self.schema_error("The field 'States' must not be empty", f"{pointer}/States")
        for name, state in states.items():
            self.check_state_name(name, f"{pointer}/States/{name}")
            self.check_state(state, f"{pointer}/States/{name}", depth)
        self.check_graph(scope, states, pointer)

    def check_state_name(self, name: str, pointer: str) -> None:
        if name in self.seen_names:
            self.report("DUPLICATE_STATE_NAME", f"Duplicate State name: {name}", pointer)
        self.seen_names.add(name)
        if not name:
            self.report("INVALID_STATE_NAME", "State name must not be empty", pointer)
        elif len(name) > MAX_STATE_NAME_LENGTH:
            self.report(
                "INVALID_STATE_NAME",
                f"State name '{name}' is longer than {MAX_STATE_NAME_LENGTH} characters",
                pointer,
            )
        elif re.search(r"[\x00-\x1f\x7f-\x9f]", name):
            self.report("INVALID_STATE_NAME", f"State name '{name}' contains control characters", pointer)

    def check_graph(self, scope: dict[str, Any], states: dict[str, Any], pointer: str) -> None:
        """Transition targets exist in this scope, a terminal state exists, every state is reachable."""
        edges: dict[str, list[str]] = {}
        dangling = False
        for name, state in states.items():
            edges[name] = []
            if not isinstance(state, dict):
                continue
            for target, where in _transitions(state, f"{pointer}/States/{name}"):
                if target in states:
                    edges[name].append(target)
                elif not _has_placeholder(target):
                    dangling = True
                    self.report("MISSING_TRANSITION_TARGET", f"Missing 'Next' target: {target}", where)
        start = scope.get("StartAt")
        if isinstance(start, str) and start not in states and not _has_placeholder(start):
            self.report(
                "MISSING_TRANSITION_TARGET", f"Missing 'StartAt' target: {start}", f"{pointer}/StartAt"
            )
            return
        if states and not any(_is_terminal(state) for state in states.values()):
            # AWS reports the whole machine's missing end without a location, and checks nothing further.
            self.report("MISSING_END_STATE", "Workflow has no terminal state", pointer or None)
            return
        if not isinstance(start, str) or (dangling and start not in states):
            return
        reached = {start}
        todo = [start]
        while todo:
            for target in edges.get(todo.pop(), []):
                if target not in reached:
                    reached.add(target)
                    todo.append(target)
        for name in states:
            if name not in reached:
                self.report(
                    "MISSING_TRANSITION_TARGET",
                    f'State "{name}" is not reachable.',
                    f"{pointer}/States/{name}",
                )

    # -- one state ---------------------------------------------------------------------------------------

    def check_state(self, state: Any, pointer: str, depth: int) -> None:
        if not isinstance(state, dict):
            self.schema_error("A state must be a JSON object", pointer)
            return
        if "Type" not in state:
            self.schema_error("These fields are required: [Type]", pointer)
            return
        kind = state["Type"]
        if kind not in STATE_TYPES:
            self.schema_error(
                f"The field 'Type' should have one of these values: [{', '.join(STATE_TYPES)}]",
                f"{pointer}/Type",
            )
            return
        language = self.check_query_language(state, pointer)
        allowed = _COMMON | _STATE_FIELDS[kind]
        for name in state:
            if name not in allowed:
                self.schema_error(f"Field '{name}' is not supported", pointer)
            elif language == JSONPATH and name in _JSONATA_ONLY:
                self.schema_error(
                    f"The QueryLanguage is set to '{JSONPATH}', but field '{name}' is only supported for "
                    f"the '{JSONATA}' QueryLanguage",
                    pointer,
                )
            elif language == JSONATA and name in _JSONPATH_ONLY:
                self.schema_error(
                    f"The QueryLanguage is set to '{JSONATA}', but field '{name}' is only supported for "
                    f"the '{JSONPATH}' QueryLanguage",
                    pointer,
                )
        required = list(_REQUIRED_FIELDS.get(kind, ()))
        if kind == "Map" and "ItemProcessor" not in state and "Iterator" not in state:
            required.append("ItemProcessor")
        missing = [name for name in required if name not in state]
        if missing:
            self.schema_error(f"These fields are required: [{', '.join(missing)}]", pointer)
        self.check_exclusive(state, pointer, kind)
        self.check_field_values(state, pointer, [name for name in state if name in allowed])
        if language == JSONPATH:
            self.check_paths(state, pointer)
        else:
            self.check_jsonata_strings(state, pointer)
        if "Assign" in state:
            self.check_assign(state["Assign"], f"{pointer}/Assign", language)
        for name in ("Retry", "Catch"):
            if isinstance(state.get(name), list):
                self.check_error_handlers(state[name], f"{pointer}/{name}", name)
        if isinstance(state.get("Catch"), list):
            for i, catcher in enumerate(state["Catch"]):
                if isinstance(catcher, dict):
                    self.check_catcher(catcher, f"{pointer}/Catch[{i}]", language)
        check = getattr(self, f"check_{kind.lower()}", None)
        if check is not None:
            check(state, pointer, language, depth)

    def check_query_language(self, state: dict[str, Any], pointer: str) -> str:
        own = state.get("QueryLanguage")
        if own == JSONPATH and self.top_language == JSONATA:
            self.schema_error(
                f"'QueryLanguage' can not be '{JSONPATH}' if set to '{JSONATA}' for whole state machine",
                pointer,
            )
        return own if own in (JSONPATH, JSONATA) else self.top_language

    def check_exclusive(self, state: dict[str, Any], pointer: str, kind: str) -> None:
        for group in _MUTUALLY_EXCLUSIVE:
            present = [name for name in group if name in state]
            if len(present) > 1:
                names = ", ".join(f"'{name}'" for name in present)
                self.schema_error(f"Only one of the fields {names} may be set", pointer)
        if kind == "Wait" and not any(
            f in state for f in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath")
        ):
            # The Developer Guide's Wait state: it must contain exactly one of these four.
            self.schema_error(
                "These fields are required: [Seconds or Timestamp or SecondsPath or TimestampPath]", pointer
            )
        if kind in ("Choice", "Succeed", "Fail"):
            return
        if "Next" not in state and "End" not in state:
            self.schema_error("These fields are required: [Next or End]", pointer)
        elif state.get("End") is False and "Next" not in state:
            self.schema_error("The field 'End' must be true when 'Next' is absent", f"{pointer}/End")

    def check_field_values(self, obj: dict[str, Any], pointer: str, names: Any) -> None:
        for name in names:
            validator = _VALIDATORS.get(name)
            if validator is None or name not in obj or _has_placeholder(obj[name]):
                continue
            for error in sorted(validator.iter_errors(obj[name]), key=lambda e: list(e.absolute_path)):
                where = f"{pointer}/{name}" + _pointer_suffix(error.absolute_path)
                self.schema_error(_schema_message(name, error), where)

    # -- paths, templates, JSONata ------------------------------------------------------------------

    def check_paths(self, state: dict[str, Any], pointer: str) -> None:
        for name, value in state.items():
            if not isinstance(value, str) or _has_placeholder(value):
                continue
            if name in _PATH_FIELDS:
                valid = _valid_path(value)
            elif name in _REFERENCE_PATH_FIELDS:
                valid = _valid_reference_path(value)
            elif name in _INTRINSIC_PATH_FIELDS:
                valid = _valid_path(value) or self.valid_intrinsic(value)
            else:
                continue
            if not valid:
                self.invalid_path(name, f"{pointer}/{name}", value)
        for name in _TEMPLATE_FIELDS:
            if name in state:
                self.check_template(state[name], f"{pointer}/{name}")
        if state.get("Type") == "Pass" and "Result" in state:
            for key, _value, where in _template_keys(state["Result"], f"{pointer}/Result"):
                if key.endswith(".$"):
                    self.report(
                        "PASS_RESULT_IS_STATIC",
                        f"The field '{key}' ends in '.$' but the Result of a Pass state is static",
                        where,
                        WARNING,
                    )
        for name in ("ItemReader", "ResultWriter"):
            part = state.get(name)
            if isinstance(part, dict) and "Parameters" in part:
                self.check_template(part["Parameters"], f"{pointer}/{name}/Parameters")
        batcher = state.get("ItemBatcher")
        if isinstance(batcher, dict) and "BatchInput" in batcher:
            self.check_template(batcher["BatchInput"], f"{pointer}/ItemBatcher/BatchInput")

    def invalid_path(self, name: str, where: str, value: str = "") -> None:
        if _nests_too_deep(value):
            self.schema_error(
                f"The value for the field '{name}' nests intrinsic functions more than "
                f"{_MAX_INTRINSIC_NESTING} deep (the limit is {_MAX_INTRINSIC_NESTING})",
                where,
            )
            return
        self.schema_error(f"The value for the field '{name}' must be a valid JSONPath", where)

    def check_template(self, template: Any, pointer: str) -> None:
        """A payload template: "key.$" values are paths or intrinsic calls; plain values that look like
        paths probably lack the ".$"."""
        for key, value, where in _template_keys(template, pointer):
            if key.endswith(".$"):
                if not isinstance(value, str) or not self.valid_path_or_intrinsic(value):
                    self.invalid_path(key, where, value if isinstance(value, str) else "")
            elif isinstance(value, str) and (value.startswith("$.") or value.startswith("States.")):
                self.report(
                    "NO_DOLLAR",
                    f"The value of the field '{key}' looks like a JSONPath or an intrinsic function, "
                    f"but the field name does not end with '.$'",
                    where,
                    WARNING,
                )

    def valid_path_or_intrinsic(self, text: str) -> bool:
        return _has_placeholder(text) or _valid_path(text) or self.valid_intrinsic(text)

    def valid_intrinsic(self, text: str) -> bool:
        if not text.startswith("States."):
            return False
        try:
            from workflows.asl.intrinsics import IntrinsicSyntaxError, compile_intrinsic
        except ImportError:
            return True  # the intrinsics module is not there yet: do not judge
        try:
            compile_intrinsic(text)
        except IntrinsicSyntaxError:
            return False
        except Exception:  # a fault of the compiler, not of the definition: do not judge
            return True
        return True

    def check_jsonata_strings(self, state: dict[str, Any], pointer: str) -> None:
        """Every `{% %}` string of a JSONata state, but for nested scopes and parts checked on their own."""
        for value, where in _strings(state, pointer, skip=_CHECKED_ELSEWHERE):
            self.check_jsonata(value, where)

    def check_jsonata(self, value: str, where: str) -> None:
        if not _is_jsonata(value) or _has_placeholder(value):
            return
        # The engine's own parse: the same verdict as at run time, and a message, not a RecursionError,
        # for an expression nested thousands deep.
        message = syntax_error(value[2:-2])
        if message is not None:
            self.report("INVALID_JSONATA_EXPRESSION", message, where)

    def check_assign(self, assign: Any, pointer: str, language: str) -> None:
        if not isinstance(assign, dict):
            return
        for key, value in assign.items():
            name = key[:-2] if language == JSONPATH and key.endswith(".$") else key
            where = f"{pointer}/{key}"
            if not _VARIABLE_NAME.match(name):
                self.schema_error(f"The variable name '{name}' is not valid", where)
            elif name in _RESERVED_VARIABLES:
                self.schema_error(f"The variable name '{name}' is reserved", where)
            if language == JSONPATH and key.endswith(".$"):
                if not isinstance(value, str) or not (
                    _has_placeholder(value) or _valid_path(value) or self.valid_intrinsic(value)
                ):
                    self.schema_error(f"The value for the field '{key}' must be a valid JSONPath", where)
            elif language == JSONATA:
                for text, at in _strings(value, where):
                    self.check_jsonata(text, at)

    # -- Retry and Catch ---------------------------------------------------------------------------------

    def check_error_handlers(self, handlers: list[Any], pointer: str, name: str) -> None:
        for i, handler in enumerate(handlers):
            if not isinstance(handler, dict) or not isinstance(handler.get("ErrorEquals"), list):
                continue
            errors = handler["ErrorEquals"]
            where = f"{pointer}[{i}]/ErrorEquals"
            if "States.ALL" in errors and len(errors) > 1:
                self.schema_error("'States.ALL' must appear alone in 'ErrorEquals'", where)
            if "States.ALL" in errors and i != len(handlers) - 1:
                kind = "retrier" if name == "Retry" else "catcher"
                self.schema_error(f"'States.ALL' must appear only in the last {kind}", where)

    def check_catcher(self, catcher: dict[str, Any], pointer: str, language: str) -> None:
        if language == JSONPATH:
            if "Output" in catcher:
                self.schema_error(
                    f"The QueryLanguage is set to '{JSONPATH}', but field 'Output' is only supported for "
                    f"the '{JSONATA}' QueryLanguage",
                    pointer,
                )
            result_path = catcher.get("ResultPath")
            if isinstance(result_path, str) and not _valid_reference_path(result_path):
                self.invalid_path("ResultPath", f"{pointer}/ResultPath")
        else:
            if "ResultPath" in catcher:
                self.schema_error(
                    f"The QueryLanguage is set to '{JSONATA}', but field 'ResultPath' is only supported for "
                    f"the '{JSONPATH}' QueryLanguage",
                    pointer,
                )
            for text, at in _strings(catcher.get("Output"), f"{pointer}/Output"):
                self.check_jsonata(text, at)
        if "Assign" in catcher:
            self.check_assign(catcher["Assign"], f"{pointer}/Assign", language)

    # -- per-type checks (found by name: check_<type>) ----------------------------------------------------

    def check_task(self, state: dict[str, Any], pointer: str, language: str, depth: int) -> None:
        resource = state.get("Resource")
        if isinstance(resource, str) and not _has_placeholder(resource):
            if not _ARN.match(resource):
                self.report(
                    "INVALID_RESOURCE",
                    f"Value is not a valid resource ARN: {resource}",
                    f"{pointer}/Resource",
                )
            elif self.state_machine_type == "EXPRESS":
                self.check_express_resource(resource, f"{pointer}/Resource")
        if isinstance(resource, str) and _HTTP_RESOURCE.match(resource):
            self.check_http_task(state, pointer, language)
        timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
        if isinstance(timeout, int) and isinstance(heartbeat, int) and heartbeat >= timeout:
            self.schema_error(
                "The field 'HeartbeatSeconds' must be smaller than the field 'TimeoutSeconds'",
                f"{pointer}/HeartbeatSeconds",
            )

    def check_http_task(self, state: dict[str, Any], pointer: str, language: str) -> None:
        """An HTTP Task's required fields (ApiEndpoint, Method, a connection with its ConnectionArn) and
        the literal values of its enumerated fields. A JSONPath field may be given as `Name.$`; a JSONata
        expression, or a whole Arguments expression, is judged when it runs."""
        name = "Arguments" if language == JSONATA else "Parameters"
        where = f"{pointer}/{name}"
        if name not in state:
            self.schema_error(f"These fields are required: [{name}]", pointer)
            return
        fields = state[name]
        if not isinstance(fields, dict):
            if not _is_jsonata(fields) and not _has_placeholder(fields):
                self.schema_error(f"The field '{name}' must be of type object", where)
            return

        def given(obj: dict[str, Any], key: str) -> bool:
            return key in obj or (language == JSONPATH and f"{key}.$" in obj)

        missing = [key for key in ("ApiEndpoint", "Method") if not given(fields, key)]
        if not any(given(fields, key) for key in _HTTP_CONNECTION_FIELDS):
            missing.append("Authentication or InvocationConfig")
        if missing:
            self.schema_error(f"These fields are required: [{', '.join(missing)}]", where)
        for key in _HTTP_CONNECTION_FIELDS:
            part = fields.get(key)
            if isinstance(part, dict) and not given(part, "ConnectionArn"):
                self.schema_error("These fields are required: [ConnectionArn]", f"{where}/{key}")
            elif key in fields and not isinstance(part, dict) and not _is_jsonata(part):
                self.schema_error(f"The field '{key}' must be of type object", f"{where}/{key}")
        self.check_http_value(fields.get("Method"), "Method", HTTP_METHODS, f"{where}/Method")
        transform = fields.get("Transform")
        if isinstance(transform, dict):
            self.check_http_value(
                transform.get("RequestBodyEncoding"),
                "RequestBodyEncoding",
                HTTP_BODY_ENCODINGS,
                f"{where}/Transform/RequestBodyEncoding",
            )
            options = transform.get("RequestEncodingOptions")
            if isinstance(options, dict):
                self.check_http_value(
                    options.get("ArrayFormat"),
                    "ArrayFormat",
                    HTTP_ARRAY_FORMATS,
                    f"{where}/Transform/RequestEncodingOptions/ArrayFormat",
                )

    def check_http_value(self, value: Any, name: str, allowed: tuple[str, ...], where: str) -> None:
        if value is None or _is_jsonata(value) or _has_placeholder(value) or value in allowed:
            return
        self.schema_error(
            f"The field '{name}' should have one of these values: [{', '.join(allowed)}]", where
        )

    def check_express_resource(self, resource: str, where: str) -> None:
        if resource.startswith("arn:") and ":activity:" in resource:
            self.schema_error("Express state machine does not support Activity ARN", where)
        elif re.search(r"\.sync(:\d+)?$", resource):
            self.schema_error("Express state machine does not support '.sync' service integration", where)
        elif resource.endswith(".waitForTaskToken"):
            # AWS's message really ends in a space.
            self.schema_error(
                "Express state machine does not support '.waitForTaskToken' service integration ", where
            )

    def check_choice(self, state: dict[str, Any], pointer: str, language: str, depth: int) -> None:
        choices = state.get("Choices")
        if not isinstance(choices, list):
            return
        for i, rule in enumerate(choices):
            if isinstance(rule, dict):
                self.check_choice_rule(rule, f"{pointer}/Choices[{i}]", language, top=True)

    def check_choice_rule(self, rule: dict[str, Any], pointer: str, language: str, *, top: bool) -> None:
        extra = {"Next", "Comment", "Assign", "Output"} if top else {"Comment"}
        if top and "Next" not in rule:
            self.schema_error("These fields are required: [Next]", pointer)
        if language == JSONATA:
            allowed = extra | {"Condition"}
            if "Condition" not in rule:
                self.schema_error("These fields are required: [Condition]", pointer)
            condition = rule.get("Condition")
            if "Condition" in rule and not (isinstance(condition, bool) or _is_jsonata(condition)):
                self.schema_error(
                    "The field 'Condition' must be a JSONata expression ({% ... %}) or a boolean",
                    f"{pointer}/Condition",
                )
            elif isinstance(condition, str):
                self.check_jsonata(condition, f"{pointer}/Condition")
            for text, at in _strings(rule.get("Output"), f"{pointer}/Output"):
                self.check_jsonata(text, at)
        else:
            allowed = extra - {"Output"} | {"Variable", "And", "Or", "Not"} | set(_COMPARISONS)
            self.check_jsonpath_rule(rule, pointer)
        if "Assign" in rule:
            self.check_assign(rule["Assign"], f"{pointer}/Assign", language)
        for name in rule:
            if name not in allowed:
                self.schema_error(f"Field '{name}' is not supported", pointer)

    def check_jsonpath_rule(self, rule: dict[str, Any], pointer: str) -> None:
        operators = [name for name in rule if name in _COMPARISONS or name in ("And", "Or", "Not")]
        if len(operators) != 1:
            found = ", ".join(operators) or "none"
            self.schema_error(
                f"A choice rule must have exactly one comparison operator (found: {found})", pointer
            )
        for name in operators:
            value, where = rule[name], f"{pointer}/{name}"
            if name in ("And", "Or"):
                if not isinstance(value, list) or not value:
                    self.schema_error(f"The field '{name}' must be a non-empty array of choice rules", where)
                    continue
                for i, sub in enumerate(value):
                    if isinstance(sub, dict):
                        self.check_choice_rule(sub, f"{where}[{i}]", JSONPATH, top=False)
                    else:
                        self.schema_error("A choice rule must be a JSON object", f"{where}[{i}]")
            elif name == "Not":
                if isinstance(value, dict):
                    self.check_choice_rule(value, where, JSONPATH, top=False)
                else:
                    self.schema_error("The field 'Not' must be a choice rule", where)
            else:
                self.check_comparison(rule, name, value, where, pointer)

    def check_comparison(self, rule: dict[str, Any], name: str, value: Any, where: str, pointer: str) -> None:
        if "Variable" not in rule:
            self.schema_error("These fields are required: [Variable]", pointer)
        variable = rule.get("Variable")
        if "Variable" in rule and not (
            isinstance(variable, str) and (_has_placeholder(variable) or _valid_path(variable))
        ):
            self.invalid_path("Variable", f"{pointer}/Variable")
        expected = _COMPARISONS[name]
        if _has_placeholder(value):
            return
        if expected == "path":
            if not isinstance(value, str) or not _valid_path(value):
                self.invalid_path(name, where)
        elif not isinstance(value, _JSON_TYPES[expected]) or (
            expected == "number" and isinstance(value, bool)
        ):
            self.schema_error(f"The value for the field '{name}' must be a {expected}", where)
        elif expected == "string" and isinstance(value, str) and value.startswith("$."):
            # The API Reference's NO_PATH warning: a value that looks like a path in a field whose
            # name does not end with 'Path' (StringEquals where StringEqualsPath was meant).
            self.report(
                "NO_PATH",
                f"The value of the field '{name}' looks like a JSONPath, but the field name does not end "
                "with 'Path'",
                where,
                WARNING,
            )

    def check_parallel(self, state: dict[str, Any], pointer: str, language: str, depth: int) -> None:
        branches = state.get("Branches")
        if not isinstance(branches, list):
            return
        if self.too_deep(depth, pointer):
            return
        for i, branch in enumerate(branches):
            if isinstance(branch, dict):
                self.check_scope(branch, f"{pointer}/Branches[{i}]", _SCOPE_FIELDS, depth + 1)

    def check_map(self, state: dict[str, Any], pointer: str, language: str, depth: int) -> None:
        label = state.get("Label")
        if isinstance(label, str) and (len(label) > MAX_LABEL_LENGTH or _LABEL_FORBIDDEN.search(label)):
            self.report(
                "INVALID_LABEL_NAME", f"Label '{label}' is not a valid label name", f"{pointer}/Label"
            )
        elif isinstance(label, str):
            # The API Reference's DUPLICATE_LABEL_NAME: a Map Label names one Map run in the whole definition.
            if label in self.seen_labels:
                self.report("DUPLICATE_LABEL_NAME", f"Duplicate label name: {label}", f"{pointer}/Label")
            self.seen_labels.add(label)
        name = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
        processor = state.get(name)
        config = processor.get("ProcessorConfig") if isinstance(processor, dict) else None
        distributed = isinstance(config, dict) and config.get("Mode") == "DISTRIBUTED"
        self.check_item_io(state, pointer, distributed)
        if isinstance(processor, dict) and not self.too_deep(depth, pointer):
            self.check_scope(processor, f"{pointer}/{name}", _PROCESSOR_FIELDS, depth + 1)

    def check_item_io(self, state: dict[str, Any], pointer: str, distributed: bool) -> None:
        """ItemReader and ResultWriter: the combinations of fields the Developer Guide allows (their
        values are checked by the field schemas)."""
        for name in ("ItemReader", "ResultWriter"):
            if name in state and not distributed:
                self.schema_error(
                    f"The field '{name}' is only supported in a Map state whose ProcessorConfig Mode is "
                    "DISTRIBUTED",
                    f"{pointer}/{name}",
                )
        reader = state.get("ItemReader")
        config = reader.get("ReaderConfig") if isinstance(reader, dict) else None
        if isinstance(config, dict):
            where = f"{pointer}/ItemReader/ReaderConfig"
            if "MaxItems" in config and "MaxItemsPath" in config:
                self.schema_error("Only one of the fields 'MaxItems' and 'MaxItemsPath' may be given", where)
            csv_fields = [f for f in ("CSVHeaderLocation", "CSVHeaders", "CSVDelimiter") if f in config]
            if csv_fields and config.get("InputType") != "CSV":
                self.schema_error(
                    f"The field '{csv_fields[0]}' is only supported when InputType is CSV", where
                )
            if config.get("CSVHeaderLocation") == "GIVEN" and not config.get("CSVHeaders"):
                self.schema_error("The field 'CSVHeaders' is required when CSVHeaderLocation is GIVEN", where)
            if "CSVHeaders" in config and config.get("CSVHeaderLocation") != "GIVEN":
                self.schema_error(
                    "The field 'CSVHeaders' is only supported when CSVHeaderLocation is GIVEN", where
                )
        writer = state.get("ResultWriter")
        if isinstance(writer, dict):
            where = f"{pointer}/ResultWriter"
            # One of: WriterConfig alone; Resource with Parameters (Arguments); all three.
            target = "Parameters" in writer or "Arguments" in writer
            if not writer:
                self.schema_error("The field 'ResultWriter' must not be empty", where)
            elif "Resource" in writer and not target:
                self.schema_error(
                    "The field 'Resource' of ResultWriter needs 'Parameters' (JSONPath) or 'Arguments' "
                    "(JSONata) naming the Bucket",
                    where,
                )
            elif target and "Resource" not in writer:
                self.schema_error("These fields are required: [Resource]", where)

    def check_fail(self, state: dict[str, Any], pointer: str, language: str, depth: int) -> None:
        return None

    def too_deep(self, depth: int, pointer: str) -> bool:
        if depth + 1 > MAX_NESTING_DEPTH:
            self.report(
                "TOO_DEEPLY_NESTED", f"States are nested deeper than {MAX_NESTING_DEPTH} levels", pointer
            )
            return True
        return False


# -- helpers -------------------------------------------------------------------------------------------


def _transitions(state: dict[str, Any], pointer: str) -> Iterator[tuple[str, str]]:
    """Every state name this state can go to, with the pointer of the field naming it."""
    if isinstance(state.get("Next"), str):
        yield state["Next"], f"{pointer}/Next"
    if isinstance(state.get("Default"), str):
        yield state["Default"], f"{pointer}/Default"
    for name in ("Choices", "Catch"):
        rules = state.get(name)
        if isinstance(rules, list):
            for i, rule in enumerate(rules):
                if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
                    yield rule["Next"], f"{pointer}/{name}[{i}]/Next"


def _is_terminal(state: Any) -> bool:
    return isinstance(state, dict) and (state.get("End") is True or state.get("Type") in ("Succeed", "Fail"))


def _pointer_suffix(path: Any) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f"/{part}" for part in path)


def _schema_message(name: str, error: Any) -> str:
    """jsonschema's complaint in AWS's words."""
    field_name = error.absolute_path[-1] if error.absolute_path else name
    if isinstance(field_name, int):
        field_name = name
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        return f"These fields are required: [{', '.join(missing)}]"
    if error.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)'", error.message)
        return f"Field '{extra[0] if extra else '?'}' is not supported"
    if error.validator == "enum":
        values = ", ".join(str(v) for v in error.validator_value)
        return f"The field '{field_name}' should have one of these values: [{values}]"
    if error.validator == "minItems":
        return f"The field '{field_name}' must not be empty"
    if error.validator in ("minimum", "maximum"):
        return f"The value of the field '{field_name}' is out of range: {error.message}"
    if error.validator == "type":
        return f"The field '{field_name}' must be of type {error.validator_value}"
    return f"The value of the field '{field_name}' is not valid: {error.message}"


def _template_keys(template: Any, pointer: str) -> Iterator[tuple[str, Any, str]]:
    """Every object key in a payload template, depth first, with its value and pointer."""
    if isinstance(template, dict):
        for key, value in template.items():
            where = f"{pointer}/{key}"
            yield key, value, where
            yield from _template_keys(value, where)
    elif isinstance(template, list):
        for i, value in enumerate(template):
            yield from _template_keys(value, f"{pointer}[{i}]")


def _strings(value: Any, pointer: str, skip: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """Every string inside a JSON value, with its pointer; object keys in `skip` are not entered."""
    if isinstance(value, str):
        yield value, pointer
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in skip:
                yield from _strings(item, f"{pointer}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{pointer}[{i}]")


def _nests_too_deep(text: str) -> bool:
    """Whether an intrinsic call that failed to compile failed for nesting past the limit."""
    if not text.startswith("States.") or text.count("(") <= _MAX_INTRINSIC_NESTING:
        return False
    try:
        compile_intrinsic(text)
    except IntrinsicTooDeep:
        return True
    except Exception:
        return False
    return False


def _normalise_path(text: str) -> str | None:
    """The JSONPath python-jsonpath can parse for an ASL path: `$$.x` (context) and `$var.x` (variable)
    read like `$.x`. None if the text cannot be a path at all."""
    if text.startswith("$$"):
        text = text[1:]
    elif re.match(r"^\$[A-Za-z_]", text):
        text = "$" + re.sub(r"^\$[A-Za-z_][A-Za-z0-9_]*", "", text)
    return text if text.startswith("$") else None


def _valid_path(text: str) -> bool:
    normal = _normalise_path(text)
    if normal is None:
        return False
    # AWS's parser (Jayway) takes any text between the quotes of a bracketed name; python-jsonpath is
    # stricter about escapes there, so quoted names are judged by their quotes alone.
    normal = re.sub(r"'(?:[^'\\]|\\.)*'", "'x'", normal)
    try:
        compiled = jsonpath.compile(normal)
    except Exception:  # JSONPathSyntaxError, or a lexer error on odd input
        return False
    # Not a compound path: python-jsonpath's `a | b` (union) and `a & b` are no Jayway syntax.
    return isinstance(compiled, jsonpath.JSONPath)


def _valid_reference_path(text: str) -> bool:
    """A path naming a single node: no filters, wildcards, recursive descent or slices."""
    if not _valid_path(text):
        return False
    body = text.lstrip("$")
    return not re.search(r"\.\.|\*|\?|\[[^\]]*[:,][^\]]*\]|@", body)


def _json_error(text: str, error: json.JSONDecodeError) -> Diagnostic:
    """Bad JSON, in the words of AWS's parser (Jackson)."""
    source = text if len(text) <= 500 else text[:500] + "[truncated]"
    word = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[error.pos :])
    column = error.colno + (len(word.group()) if word else 0)
    where = f'[Source: (String)"{source}"; line: {error.lineno}, column: {column}]'
    if word:
        message = (
            f"Unrecognized token '{word.group()}': was expecting "
            "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
        )
    else:
        message = error.msg
    return Diagnostic("INVALID_JSON_DESCRIPTION", f"{message}\n at {where}", where)


# -- public interface ----------------------------------------------------------------------------------


def validate_definition(
    definition: str | dict[str, Any], *, max_results: int = 100, state_machine_type: str = "STANDARD"
) -> list[Diagnostic]:
    """All diagnostics, errors first. A str is parsed as JSON first (bad JSON → one diagnostic with code
    INVALID_JSON_DESCRIPTION, as AWS). Never raises on bad input.

    `state_machine_type` ("STANDARD" or "EXPRESS") adds the checks AWS makes only for EXPRESS machines.
    `max_results` <= 0 means AWS's default of 100."""
    limit = max_results if max_results > 0 else 100
    if isinstance(definition, str):
        if not definition.strip():
            return [Diagnostic("MISSING_DESCRIPTION", "Received a null or empty workflow input.", "")]
        try:
            parsed: Any = json.loads(definition)
        except json.JSONDecodeError as error:
            return [_json_error(definition, error)]
        except RecursionError:
            return [Diagnostic("TOO_DEEPLY_NESTED", "The definition is nested too deeply to parse", "/")]
    else:
        parsed = definition
    validator = _Validator(state_machine_type)
    try:
        validator.check_top(parsed)
    except RecursionError:
        validator.report("TOO_DEEPLY_NESTED", "The definition is nested too deeply", "/")
    found = sorted(validator.diagnostics, key=lambda d: d.severity != ERROR)
    return found[:limit]


def invalid_definition_message(diagnostics: list[Diagnostic]) -> str:
    """The message of CreateStateMachine/UpdateStateMachine's InvalidDefinition error for these diagnostics:
    `Invalid State Machine Definition: 'CODE: message at /pointer, CODE: message at /pointer'`."""
    parts = []
    for diagnostic in diagnostics:
        if diagnostic.severity != ERROR:
            continue
        where = f" at {diagnostic.location}" if diagnostic.location else ""
        parts.append(f"{diagnostic.code}: {diagnostic.message}{where}")
    return f"Invalid State Machine Definition: '{', '.join(parts)}'"


def main_validate(paths: list[str]) -> int:
    """`workflows validate FILE...`: each file's diagnostics, or OK; 1 if any file has an ERROR."""
    failed = False
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            print(f"{path}: cannot read: {error.strerror or error}")
            failed = True
            continue
        diagnostics = validate_definition(text)
        if not diagnostics:
            print(f"{path}: OK")
            continue
        for diagnostic in diagnostics:
            where = diagnostic.location or "/"
            print(f"{path}: {diagnostic.severity} {diagnostic.code} at {where}: {diagnostic.message}")
        if any(d.severity == ERROR for d in diagnostics):
            failed = True
        else:
            print(f"{path}: OK")
    sys.stdout.flush()
    return 1 if failed else 0
