"""The AWS-recorded conformance corpus: which cases run, how they run in process, how results compare."""

from __future__ import annotations

import itertools
import json
import linecache
import re
import types
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from workflows.bench import corpus
from workflows.engine.clock import Clock
from workflows.engine.resolvers import CallableResolver
from workflows.engine.tasks import TaskRequest

ROOT = Path(__file__).resolve().parent


CASES = corpus.cases_dir()
PURE_NEEDS = {"jsonata", "variables", "context_object", "wait", "distributed_map"}
LAMBDAS = ROOT / "lambdas"
ACCOUNT = "111111111111"
# Values LocalStack's snapshot transformers wrote in place of generated ones, in every recording,
# whether or not a case lists them among its placeholder tokens.
SNAPSHOT_PLACEHOLDERS = ["date", "x-amzn-RequestId", "X-Amzn-Trace-Id", "RequestId"]


@cache
def all_cases() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(CASES.glob("*.json"))]


def runnable(case: dict[str, Any]) -> bool:
    """Pure ASL, or Lambda functions we have a local handler for; recordings marked uncertain are out."""
    if case.get("uncertain"):
        return False
    for need in case["needs"]:
        if need in PURE_NEEDS:
            continue
        if need.startswith("lambda:") and (LAMBDAS / need.split(":", 1)[1]).exists():
            continue
        return False
    return True


def selected_cases() -> list[dict[str, Any]]:
    return [c for c in all_cases() if runnable(c)]


def is_pure(case: dict[str, Any]) -> bool:
    return set(case["needs"]) <= PURE_NEEDS


def expected_failures() -> set[str]:
    path = ROOT / "conformance_expected_failures.txt"
    return {
        line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
    }


# ----- Lambda handlers for the lambda:* cases ----------------------------------------------------------------


@cache
def _handler(filename: str) -> Callable[..., Any]:
    """Load a handler the way Lambda's runtime does, as /var/task/handler.py, so tracebacks match AWS."""
    source = (LAMBDAS / filename).read_text()
    fake = "/var/task/handler.py"
    module = types.ModuleType(f"handler_{filename[:-3]}")
    module.__file__ = fake
    exec(compile(source, fake, "exec"), module.__dict__)
    return module.handler  # type: ignore[no-any-return]


class CaseResolver(CallableResolver):
    """The Lambda functions a case created, by the resource names it recorded."""

    def __init__(self, case: dict[str, Any], clock: Clock) -> None:
        super().__init__(clock=clock)
        self.by_name: dict[str, str] = {}
        for arn, what in case.get("resources", {}).items():
            m = re.search(r"lambdafunctions/(\w+\.py)", what)
            if m and (LAMBDAS / m.group(1)).exists():
                name = arn.split(":")[-1]
                self.by_name[name] = m.group(1)
        if not self.by_name:
            for need in case["needs"]:
                if need.startswith("lambda:"):
                    self.by_name["*"] = need.split(":", 1)[1]

    def _file_for(self, request: TaskRequest) -> str | None:
        target = request.resource
        if not target.startswith("arn:aws:lambda:") and isinstance(request.parameters, dict):
            target = str(request.parameters.get("FunctionName", ""))
        parts = target.split(":")
        name = parts[parts.index("function") + 1] if "function" in parts else target
        if name in self.by_name:
            return self.by_name[name]
        if "<" in name and len(set(self.by_name.values())) == 1:
            # The recording replaced the name with a placeholder: the case created one function.
            return next(iter(self.by_name.values()))
        if "*" in self.by_name:
            return self.by_name["*"]
        return None

    def handles(self, request: TaskRequest) -> bool:
        return self._file_for(request) is not None

    async def invoke(self, request: TaskRequest) -> Any:
        filename = self._file_for(request)
        assert filename is not None
        source = (LAMBDAS / filename).read_text()
        linecache.cache["/var/task/handler.py"] = (
            len(source),
            None,
            source.splitlines(True),
            "/var/task/handler.py",
        )
        self.functions = {"fn": _handler(filename)}
        kind_target = request.resource
        original = request.resource
        try:
            if kind_target.startswith("arn:aws:lambda:"):
                request.resource = "arn:aws:lambda:us-east-1:111111111111:function:fn"
            else:
                request.parameters = {**request.parameters, "FunctionName": "fn"}
            return await super().invoke(request)
        finally:
            request.resource = original


# ----- comparison -------------------------------------------------------------------------------------------


def _token_regex(expected: str, tokens: list[str]) -> re.Pattern[str] | None:
    present = [t for t in sorted(tokens, key=len, reverse=True) if t in expected]
    if not present:
        return None
    pattern = "|".join(re.escape(t) for t in present)
    parts = re.split(f"({pattern})", expected)
    regex = "".join(".*?" if p in present else re.escape(p) for p in parts)
    return re.compile(regex, re.DOTALL)


def matches(expected: Any, actual: Any, tokens: list[str]) -> bool:
    """JSON equality, key order ignored, 1 == 1.0 but true != 1; placeholder tokens are wildcards."""
    if isinstance(expected, str) and tokens:
        if expected in tokens:
            return True
        rx = _token_regex(expected, tokens)
        if rx is not None:
            text = actual if isinstance(actual, str) else json.dumps(actual, separators=(",", ":"))
            if rx.fullmatch(text) is not None:
                return True
            return _json_text_matches(expected, actual, tokens)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual if isinstance(expected, bool) and isinstance(actual, bool) else False
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return expected == actual
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and expected.keys() == actual.keys()
            and all(matches(v, actual[k], tokens) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a, tokens) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, str) and isinstance(actual, str) and expected != actual:
        # AWS's recorded causes are JSON objects parsed by the corpus; ours are text.
        try:
            return matches(json.loads(expected), json.loads(actual), tokens)
        except ValueError:
            return False
    return expected == actual


def _json_text_matches(expected: str, actual: Any, tokens: list[str]) -> bool:
    """Two JSON texts that differ only in layout (AWS's recordings mix separators)."""
    if not isinstance(actual, str) or not expected.lstrip().startswith(("{", "[")):
        return False
    try:
        return matches(json.loads(expected), json.loads(actual), tokens)
    except ValueError:
        return False


# Fields that change a state's output: without them a Task's output is its result, a Parallel's the
# list of its branches' outputs.
_OUTPUT_FIELDS = {"InputPath", "ResultSelector", "ResultPath", "OutputPath", "Output", "Assign"}


def _branch_task_results(case: dict[str, Any]) -> list[Any] | None:
    """When the definition is one Parallel of one-Task branches that leave their results as they are,
    the results the recording's TaskSucceeded events hold, one per branch; otherwise None."""
    definition = case["definition"]
    start = definition["States"][definition["StartAt"]]
    if start.get("Type") != "Parallel" or not start.get("End") or _OUTPUT_FIELDS & start.keys():
        return None
    for branch in start["Branches"]:
        states = list(branch["States"].values())
        if len(states) != 1 or states[0].get("Type") != "Task" or not states[0].get("End"):
            return None
        if _OUTPUT_FIELDS & states[0].keys():
            return None
    results = [
        e["taskSucceededEventDetails"]["output"] for e in case["history"] if e["type"] == "TaskSucceeded"
    ]
    return results if len(results) == len(start["Branches"]) else None


def _compare_with_recorded_results(case: dict[str, Any], output: Any, tokens: list[str]) -> str | None:
    """The recording replaced the execution's output with a placeholder: compare against what the
    recording still holds. Each branch's result is in a TaskSucceeded event, but the events carry no
    branch id (the recording replaced them), so the results pair with our output's items in some
    order; the branches' order in a Parallel's output is what the pure-ASL Parallel cases check."""
    results = _branch_task_results(case)
    if results is None:
        return "the recorded output is a placeholder and the recording holds nothing to compare it with"
    if not isinstance(output, list) or len(output) != len(results):
        return f"output {json.dumps(output)[:600]} is not a list of {len(results)} branch results"
    if not any(
        all(matches(r, item, tokens) for r, item in zip(order, output, strict=True))
        for order in itertools.permutations(results)
    ):
        return f"output {json.dumps(output)[:600]} is not the recorded results {json.dumps(results)[:600]}"
    return None


def compare(case: dict[str, Any], outcome: dict[str, Any]) -> str | None:
    """None when the outcome matches AWS's recording, otherwise what differs."""
    exp = case["expected"]
    tokens = list(case.get("placeholder_tokens", [])) + SNAPSHOT_PLACEHOLDERS
    if exp["status"] != outcome["status"]:
        return (
            f"status {outcome['status']} != {exp['status']} ({outcome.get('error')}: {outcome.get('cause')})"
        )
    if exp["status"] == "SUCCEEDED":
        if exp.get("output_unparsed"):
            return _compare_with_recorded_results(case, outcome.get("output"), tokens)
        if not matches(exp.get("output"), outcome.get("output"), tokens):
            return (
                f"output {json.dumps(outcome.get('output'))[:600]} != {json.dumps(exp.get('output'))[:600]}"
            )
        return None
    for key in ("error", "cause"):
        if key not in exp:
            continue
        actual = outcome.get(key)
        expected = exp[key]
        if key == "cause" and isinstance(expected, dict | list) and isinstance(actual, str):
            try:
                actual = json.loads(actual)
            except ValueError:
                pass
        if not matches(expected, actual, tokens):
            return f"{key} {str(actual)[:600]!r} != {str(expected)[:600]!r}"
    return None
