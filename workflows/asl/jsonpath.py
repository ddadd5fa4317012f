"""JSONPath as Step Functions evaluates it: definite paths read fast, the rest through python-jsonpath."""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

import jsonpath as _jp
from jsonpath.filter import RegexLiteral
from jsonpath.match import JSONPathMatch
from jsonpath.token import TOKEN_RE_FLAGS

from workflows.asl.budget import BudgetExceeded, Deadline, compile_regex

_MISSING = object()


class _Parser(_jp.Parser):
    def parse_regex(self, stream: Any) -> Any:
        # Filter regexes (`[?(@.name =~ /.../i)]`) on RE2, which cannot backtrack for ever.
        pattern = stream.current().value
        flags = ""
        if stream.peek().kind == TOKEN_RE_FLAGS:
            stream.next()
            flags = stream.next().value
        try:
            return RegexLiteral(
                value=compile_regex(pattern, ignore_case="i" in flags, multiline="m" in flags)
            )
        except ValueError as exc:
            raise _jp.JSONPathSyntaxError(str(exc), token=stream.current()) from None


class _Walk(threading.local):
    """The budget of the query running on this thread (the event loop's, or a worker's)."""

    deadline: Deadline | None = None
    spent: BaseException | None = None
    count = 0


_WALK = _Walk()


def _tick() -> None:
    walk = _WALK
    walk.count += 1
    if walk.spent is None and (walk.count & 63) == 0 and walk.deadline is not None:
        walk.spent = walk.deadline.overrun()
    if walk.spent is not None:
        raise walk.spent


class _Environment(_jp.JSONPathEnvironment):
    """python-jsonpath with RE2 regexes, and a budget ticked on every node made, item read and
    comparison: together they cover wildcards, descents and filters (whose inner queries make
    nodes of their own)."""

    parser_class = _Parser
    # Descent as deep as any payload may nest (budget.MAX_DEPTH is enforced where JSON is parsed).
    max_recursion_depth = 1100

    def setup_function_extensions(self) -> None:
        super().setup_function_extensions()
        # match() and search() compile with the backtracking `regex` module; Jayway has neither.
        self.function_extensions.pop("match", None)
        self.function_extensions.pop("search", None)

    def getitem(self, obj: Any, key: Any) -> Any:
        _tick()
        return super().getitem(obj, key)

    def compare(self, left: object, operator: str, right: object) -> bool:
        _tick()
        return super().compare(left, operator, right)


_ENV = _Environment()


class _BudgetedMatch(JSONPathMatch):
    """A node of an indefinite path's walk. Every node visited (by a wildcard, a descent or a filter)
    is made here, so a deadline checked here bounds the whole query (`$..[?(@..x)]` is quadratic)."""

    __slots__ = ()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _tick()


def _find(compiled: _jp.JSONPath, root: Any) -> list[Any]:
    matches: Any = [_BudgetedMatch(filter_context={}, obj=root, parent=None, path="$", parts=(), root=root)]
    for segment in compiled.segments:
        matches = segment.resolve(matches)
    walk = _WALK
    saved = walk.deadline, walk.spent
    walk.deadline, walk.spent = Deadline(), None
    try:
        return [m.obj for m in matches]
    except Exception:
        spent = walk.spent
        if isinstance(spent, BudgetExceeded):
            raise PathError(spent.message, "budget") from None
        if spent is not None:
            raise spent from None
        raise
    finally:
        walk.deadline, walk.spent = saved


# One step of a definite path: `.name`, `['name']`, `["name"]` or `[3]`.
_STEP = re.compile(
    r"""\.(?P<name>[^.\[\]'"()*?@,:\s]+)|\[\s*(?:'(?P<sq>(?:[^'\\]|\\.)*)'|"(?P<dq>(?:[^"\\]|\\.)*)"|(?P<idx>-?\d+))\s*\]"""
)


_COMPOUND_MESSAGE = (
    "Invalid path '{text}': '|' and '&' between paths are not JSONPath; "
    "use one path, or States.Array of several"
)


class PathError(Exception):
    """A path that does not resolve against its input; `message` follows AWS's (Jayway's) wording."""

    def __init__(self, message: str, kind: str = "missing") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


def _render(steps: tuple[str | int, ...]) -> str:
    return "$" + "".join(f"[{s}]" if isinstance(s, int) else f"['{s}']" for s in steps)


class Path:
    """A compiled JSONPath. `steps` is set for definite paths; otherwise python-jsonpath evaluates it."""

    __slots__ = ("_compiled", "_names_only", "steps", "text")

    def __init__(self, text: str, steps: tuple[str | int, ...] | None) -> None:
        self.text = text
        self.steps = steps
        self._compiled: _jp.JSONPath | None = None
        if steps is None:
            compiled = _ENV.compile(text)
            if not isinstance(compiled, _jp.JSONPath):
                # python-jsonpath's union (`a | b`) and intersection (`a & b`) of whole paths: no
                # Jayway syntax, so AWS refuses them. (A filter's `||` is a JSONPath of its own.)
                raise PathError(_COMPOUND_MESSAGE.format(text=text), "invalid")
            self._compiled = compiled
        self._names_only = steps is not None and all(isinstance(step, str) for step in steps)

    def get(self, root: Any) -> Any:
        """The value at this path; a list for indefinite paths. Raises PathError when absent."""
        if self._names_only:
            # Names index objects only: on any other JSON value `value[name]` raises TypeError.
            # A miss takes the step-by-step walk below, which words the error.
            try:
                value = root
                for step in self.steps:  # type: ignore[union-attr]
                    value = value[step]
                return value
            except (KeyError, TypeError):
                pass
        steps = self.steps
        if steps is None:
            assert self._compiled is not None
            try:
                return _find(self._compiled, root)
            except _jp.JSONPathError as exc:  # pragma: no cover - filter type errors
                raise PathError(str(exc), "invalid") from exc
        value = root
        last = len(steps) - 1
        for i, step in enumerate(steps):
            if isinstance(step, int):
                if isinstance(value, list) and -len(value) <= step < len(value):
                    value = value[step]
                    continue
            elif isinstance(value, dict):
                value = value.get(step, _MISSING)
                if value is not _MISSING:
                    continue
            if i == last:
                raise PathError(f"No results for path: {_render(steps)}")
            raise PathError(f"Missing property in path {_render(steps[: i + 1])}")
        return value

    def __repr__(self) -> str:
        return f"Path({self.text!r})"


def parse_steps(text: str) -> tuple[str | int, ...] | None:
    """Steps of a definite path after its root (`$`), or None when the path is not definite."""
    pos = 1
    steps: list[str | int] = []
    while pos < len(text):
        m = _STEP.match(text, pos)
        if m is None:
            return None
        if m.group("name") is not None:
            steps.append(m.group("name"))
        elif m.group("idx") is not None:
            steps.append(int(m.group("idx")))
        else:
            # Only the quote character itself is escaped inside a bracketed name (as in Jayway).
            if m.group("sq") is not None:
                steps.append(m.group("sq").replace("\\'", "'"))
            else:
                steps.append(m.group("dq").replace('\\"', '"'))
        pos = m.end()
    return tuple(steps)


@lru_cache(maxsize=4096)
def compile_path(text: str) -> Path:
    """Compile a path that starts with `$` (the caller strips `$$` or a variable name first)."""
    if not text.startswith("$"):
        raise PathError(f"Path must start with '$': {text}", "invalid")
    steps = parse_steps(text)
    if steps is None:
        try:
            return Path(text, None)
        except _jp.JSONPathError as exc:
            raise PathError(str(exc), "invalid") from exc
    return Path(text, steps)


_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class Reference:
    """A path with its root resolved: the state input (`$`), the context object (`$$`) or a variable."""

    __slots__ = ("path", "root", "text", "variable")

    def __init__(self, text: str) -> None:
        self.text = text
        self.variable: str | None = None
        if text.startswith("$$"):
            self.root = "context"
            self.path = compile_path(text[1:])
        else:
            m = _VAR.match(text)
            if m:
                self.root = "variable"
                self.variable = m.group(1)
                self.path = compile_path("$" + text[m.end() :])
            else:
                self.root = "input"
                self.path = compile_path(text)

    def get(self, value: Any, context: Any, variables: dict[str, Any] | None) -> Any:
        if self.root == "input":
            return self.path.get(value)
        if self.root == "context":
            return self.path.get(context)
        assert self.variable is not None
        if variables is None or self.variable not in variables:
            raise PathError(f"Variable ${self.variable} is not defined", "variable")
        return self.path.get(variables[self.variable])

    def read(self, value: Any, env: Any) -> Any:
        """`get` against a state's frame (`env.context`, `env.variables`), reading the context
        object only when the path is rooted in it: the frame builds that object on first read."""
        if self.root == "input":
            return self.path.get(value)
        if self.root == "context":
            return self.path.get(env.context)
        return self.get(value, None, env.variables)


@lru_cache(maxsize=4096)
def compile_reference(text: str) -> Reference:
    return Reference(text)


def set_path(root: Any, path: Path, value: Any) -> Any:
    """A copy of `root` with `value` placed at the definite `path` (ResultPath); objects are created
    along the way, nothing is mutated."""
    steps = path.steps
    if steps is None:
        raise PathError(f"Invalid path '{path.text}' : ResultPath must be a definite path", "invalid")
    if not steps:
        return value
    return _set(root, steps, 0, value, path.text)


def _set(node: Any, steps: tuple[str | int, ...], i: int, value: Any, text: str) -> Any:
    step = steps[i]
    last = i == len(steps) - 1
    if isinstance(step, int):
        if not isinstance(node, list) or not -len(node) <= step < len(node):
            raise PathError(f"Invalid path '{text}' : Index out of bounds", "set")
        copy_list = list(node)
        copy_list[step] = value if last else _set(node[step], steps, i + 1, value, text)
        return copy_list
    if node is None:
        node = {}
    if not isinstance(node, dict):
        raise PathError(
            f"Unable to apply ResultPath '{text}' to input: the path does not lead to an object", "set"
        )
    copy = dict(node)
    copy[step] = value if last else _set(node.get(step), steps, i + 1, value, text)
    return copy
