"""The local web console: static pages and a small JSON API under /console, over the service layer.

    routes = create_console(service, uploads=None, sources=None)   # GET / → /console, Mount("/console")
    create_app(service, routes=routes)

Pages (one HTML shell; the script routes on the path): /console (state machines),
/console/machine?arn= (executions), /console/execution?arn= (graph, table, events, actions),
/console/editor?arn= (definition editor). The JSON API lives under /console/api; every request
that changes something (POST/PUT/DELETE) must carry the double-submit CSRF token: the
`wf_csrf` cookie set with the page, echoed in the `X-CSRF-Token` header. Pages are served with a
strict Content-Security-Policy (scripts from 'self' only); the script builds the DOM with
textContent, so no user value is ever parsed as HTML.

The execution view is worked out here, not in the browser: `execution_runs` turns a history into
one record per state run (its thread — Map iteration or Parallel branch —, status, attempts,
payload stages), re-applying the state's JSONPath fields with workflows.asl.jsonpath where the history
does not record a stage.
"""

from __future__ import annotations

import hmac
import inspect
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from json.decoder import scanstring  # type: ignore[attr-defined]
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from workflows.asl.errors import ServiceError
from workflows.service.service import StepFunctionsService

__all__ = ["Uploads", "create_console", "execution_runs", "pointer_position"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
CSRF_COOKIE = "wf_csrf"
CSRF_HEADER = "x-csrf-token"
PAGES = ("", "machine", "execution", "editor")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
MAX_UPLOAD = 64 * 1024 * 1024


class Uploads(Protocol):
    """Where the upload box puts files: `workflows dev` passes the pipeline's input bucket."""

    bucket: str

    def put(self, name: str, data: bytes) -> Any: ...


# -- JSON pointer → line and column -------------------------------------------------------------------

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_WS = re.compile(r"[ \t\n\r]*")


class _Node:
    __slots__ = ("children", "start")

    def __init__(self, start: int) -> None:
        self.start = start
        self.children: dict[str, tuple[int, _Node]] | list[_Node] | None = None


def _scan(text: str, pos: int) -> tuple[_Node, int]:
    """One JSON value at `pos` with the offsets of its members; raises ValueError on bad JSON."""
    pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
    node = _Node(pos)
    ch = text[pos : pos + 1]
    if ch == "{":
        members: dict[str, tuple[int, _Node]] = {}
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        if text[pos : pos + 1] == "}":
            node.children = members
            return node, pos + 1
        while True:
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if text[pos : pos + 1] != '"':
                raise ValueError("expected a key")
            key_at = pos
            key, pos = scanstring(text, pos + 1)
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if text[pos : pos + 1] != ":":
                raise ValueError("expected ':'")
            child, pos = _scan(text, pos + 1)
            members[key] = (key_at, child)
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if text[pos : pos + 1] == ",":
                pos += 1
                continue
            if text[pos : pos + 1] == "}":
                node.children = members
                return node, pos + 1
            raise ValueError("expected ',' or '}'")
    if ch == "[":
        items: list[_Node] = []
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        if text[pos : pos + 1] == "]":
            node.children = items
            return node, pos + 1
        while True:
            child, pos = _scan(text, pos)
            items.append(child)
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if text[pos : pos + 1] == ",":
                pos += 1
                continue
            if text[pos : pos + 1] == "]":
                node.children = items
                return node, pos + 1
            raise ValueError("expected ',' or ']'")
    if ch == '"':
        _, end = scanstring(text, pos + 1)
        return node, end
    for literal in ("true", "false", "null"):
        if text.startswith(literal, pos):
            return node, pos + len(literal)
    match = _NUMBER.match(text, pos)
    if match and match.end() > pos:
        return node, match.end()
    raise ValueError("expected a value")


def _pointer_steps(pointer: str) -> list[str | int]:
    """AWS's pointers put array indices in brackets (`/States/C/Choices[0]/Next`); RFC 6901's do not."""
    steps: list[str | int] = []
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        indices = re.findall(r"\[(\d+)\]", part)
        base = re.sub(r"(\[\d+\])+$", "", part)
        if indices and base + "".join(f"[{i}]" for i in indices) == part:
            if base:
                steps.append(base)
            steps.extend(int(i) for i in indices)
        else:
            steps.append(part)
    return steps


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def pointer_position(text: str, pointer: str | None) -> tuple[int, int] | None:
    """(line, column), 1-based, of what a diagnostic's location names in the definition text: the
    member's key for object members, the value for array items; the nearest existing ancestor when
    the pointer names something missing. Jackson's `[Source: ...; line: L, column: C]` is read as is."""
    if not pointer:
        return (1, 1) if text else None
    jackson = re.search(r"line: (\d+), column: (\d+)\]$", pointer)
    if jackson:
        return int(jackson[1]), int(jackson[2])
    try:
        node, _ = _scan(text, 0)
    except (ValueError, IndexError):
        return None
    offset = node.start
    for step in _pointer_steps(pointer):
        children = node.children
        if isinstance(children, dict):
            key = str(step)
            if key not in children:
                break
            offset, node = children[key]
        elif isinstance(children, list):
            index = step if isinstance(step, int) else int(step) if str(step).isdigit() else -1
            if not 0 <= index < len(children):
                break
            node = children[index]
            offset = node.start
        else:
            break
    return _line_column(text, offset)


# -- history → state runs ----------------------------------------------------------------------------

_FAILURE_SUFFIXES = ("Failed", "TimedOut")
_RESULT_EVENTS = ("TaskSucceeded", "LambdaFunctionSucceeded", "ActivitySucceeded")
_SCHEDULED_EVENTS = ("TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled")


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _load(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _state_index(definition: Any) -> dict[str, dict[str, Any]]:
    """Every state of the definition by name (names are unique across the whole definition), with
    its type, its container (Map/Parallel) and branch."""
    out: dict[str, dict[str, Any]] = {}

    def walk(states: Any, parent: str | None, branch: int | None) -> None:
        if not isinstance(states, dict):
            return
        for name, spec in states.items():
            if not isinstance(spec, dict):
                continue
            out[name] = {"spec": spec, "type": spec.get("Type"), "parent": parent, "branch": branch}
            processor = spec.get("ItemProcessor") or spec.get("Iterator")
            if isinstance(processor, dict):
                walk(processor.get("States"), name, None)
            for i, sub in enumerate(spec.get("Branches") or []):
                if isinstance(sub, dict):
                    walk(sub.get("States"), name, i)

    if isinstance(definition, dict):
        walk(definition.get("States"), None, None)
    return out


class _Run:
    def __init__(self, number: int, name: str, type_: str, scope: tuple[Any, ...], entered: dict[str, Any]):
        self.number = number
        self.name = name
        self.type = type_
        self.scope = scope
        self.entered = entered
        self.events: list[dict[str, Any]] = [entered]
        self.exited: dict[str, Any] | None = None
        self.done = False  # exited, or a container that has ended (a failed one has no exit event)


def execution_runs(
    definition: Any, events: list[dict[str, Any]], execution: dict[str, Any]
) -> list[dict[str, Any]]:
    """One record per state run, in the order the states were entered.

    Each record: id, name, type, scope (a list of [container, branch-or-iteration] pairs from the
    top level down), status (succeeded | running | failed | caught | cancelled), start/end
    timestamps, input, output, attempts (each with error/cause), error, cause, assignedVariables
    and `stages` (InputPath, Parameters/Arguments, Result, ResultSelector, ResultPath, OutputPath,
    each `{"value", "source": "history" | "computed"}`)."""
    index = _state_index(definition)
    by_id: dict[int, dict[str, Any]] = {e["id"]: e for e in events}
    run_of: dict[int, _Run] = {}
    scope_of: dict[int, tuple[Any, ...]] = {}
    owner: dict[tuple[Any, ...], _Run] = {}
    runs: list[_Run] = []
    open_runs: list[_Run] = []
    ended: dict[int, str] = {}

    def open_ancestor(run: _Run | None) -> _Run | None:
        while run is not None and run.done:
            run = owner.get(run.scope)
        return run

    for event in events:
        kind = event["type"]
        prev = by_id.get(event.get("previousEventId") or 0)
        prev_run = run_of.get(prev["id"]) if prev else None
        if kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            # Every run still open ends here: the one that failed (and its containers) failed, the
            # others were cancelled. A redrive later starts new runs for them.
            culprit = prev_run
            chain = set()
            while culprit is not None and kind == "ExecutionFailed":
                chain.add(culprit.number)
                culprit = owner.get(culprit.scope)
            for run in open_runs:
                failed = run.number in chain or (kind == "ExecutionFailed" and _last_attempt_failed(run))
                ended[run.number] = "failed" if failed else "cancelled"
                run.done = True
            open_runs.clear()
            continue
        if kind.endswith("StateEntered"):
            details = _details(event)
            name = details.get("name", "")
            info = index.get(name, {})
            if prev is not None and prev["type"] == "MapIterationStarted":
                scope = scope_of[prev["id"]]
            elif prev_run is not None and prev_run.exited is None and prev_run.type == "Parallel":
                scope = (*prev_run.scope, (prev_run.name, info.get("branch") or 0))
                owner[scope] = prev_run
            elif prev_run is not None:
                scope = prev_run.scope
            else:
                # A Parallel branch starts a new thread: its container is the open run of the Parallel.
                container = info.get("parent")
                parent_run = next((r for r in reversed(open_runs) if r.name == container), None)
                if parent_run is not None and parent_run.type == "Parallel":
                    scope = (*parent_run.scope, (parent_run.name, info.get("branch") or 0))
                    owner[scope] = parent_run
                else:
                    scope = ()
            run = _Run(len(runs), name, info.get("type") or kind[: -len("StateEntered")], scope, event)
            runs.append(run)
            open_runs.append(run)
            run_of[event["id"]] = run
            scope_of[event["id"]] = scope
            continue
        target = prev_run
        if kind.endswith("StateExited"):
            name = _details(event).get("name")
            while target is not None and (target.exited is not None or target.name != name):
                target = owner.get(target.scope)
        elif kind.startswith(("MapIteration", "MapState", "ParallelState")):
            # A container's own events follow the last event of one of its children: walk up to it.
            need = "Parallel" if kind.startswith("Parallel") else "Map"
            name = _details(event).get("name") if kind.startswith("MapIteration") else None
            while target is not None and (
                target.done or target.type != need or (name is not None and target.name != name)
            ):
                target = owner.get(target.scope)
            if (
                target is not None
                and kind.endswith(("Succeeded", "Failed", "Aborted"))
                and "Iteration" not in kind
            ):
                target.done = True
        else:
            target = open_ancestor(target)
        if target is None:
            continue
        target.events.append(event)
        run_of[event["id"]] = target
        scope_of[event["id"]] = target.scope
        if kind == "MapIterationStarted":
            scope = (*target.scope, (target.name, _details(event).get("index", 0)))
            owner[scope] = target
            scope_of[event["id"]] = scope
        if kind.endswith("StateExited"):
            target.exited = event
            target.done = True
            if target in open_runs:
                open_runs.remove(target)

    status = execution.get("status", "RUNNING")
    records = []
    variables: dict[tuple[Any, ...], dict[str, Any]] = {}
    for run in runs:
        records.append(_record(run, index, status, ended, execution, variables, runs, owner))
    return records


def _last_attempt_failed(run: _Run) -> bool:
    attempts = _attempts(run)
    return bool(attempts) and bool(attempts[-1].get("failed"))


def _attempts(run: _Run) -> list[dict[str, Any]]:
    attempts: list[dict[str, Any]] = []
    for event in run.events:
        kind = event["type"]
        if kind in _SCHEDULED_EVENTS or kind in ("MapStateStarted", "ParallelStateStarted"):
            attempts.append({"scheduled": event["timestamp"], "eventId": event["id"]})
        elif attempts and (kind.endswith(_FAILURE_SUFFIXES) and not kind.startswith("MapIteration")):
            details = _details(event)
            attempts[-1].update(
                failed=True, error=details.get("error"), cause=details.get("cause"), end=event["timestamp"]
            )
        elif attempts and (kind in _RESULT_EVENTS or kind in ("MapStateSucceeded", "ParallelStateSucceeded")):
            attempts[-1]["end"] = event["timestamp"]
    return attempts


def _record(
    run: _Run,
    index: dict[str, dict[str, Any]],
    status: str,
    ended: dict[int, str],
    execution: dict[str, Any],
    variables: dict[tuple[Any, ...], dict[str, Any]],
    runs: list[_Run],
    owner: dict[tuple[Any, ...], _Run],
) -> dict[str, Any]:
    spec = index.get(run.name, {}).get("spec") or {}
    attempts = _attempts(run)
    failure = next(
        (
            e
            for e in reversed(run.events)
            if e["type"].endswith(_FAILURE_SUFFIXES) and not e["type"].startswith("MapIteration")
        ),
        None,
    )
    last_attempt_failed = bool(attempts) and bool(attempts[-1].get("failed"))
    exited = run.exited
    if exited is not None:
        state_status = "caught" if last_attempt_failed else "succeeded"
    elif run.number in ended:
        state_status = ended[run.number]
    elif status == "RUNNING":
        state_status = "running"
    else:  # the history ends without an execution-closing event
        state_status = "cancelled"
    error = cause = None
    if failure is not None and (last_attempt_failed or state_status == "failed"):
        error, cause = _details(failure).get("error"), _details(failure).get("cause")
    if run.type == "Fail" and state_status == "failed":
        error = error or spec.get("Error")
        cause = cause or spec.get("Cause")
    input_value = _load(_details(run.entered).get("input"))
    output_value = _load(_details(exited).get("output")) if exited else None
    assigned_text = _details(exited).get("assignedVariables") if exited else None
    assigned = {k: _load(v) for k, v in assigned_text.items()} if isinstance(assigned_text, dict) else None
    scope_vars = variables.setdefault(run.scope, dict(variables.get(run.scope[:-1], {})))
    stages = _stages(
        run, spec, input_value, output_value, scope_vars, execution, runs, owner, last_attempt_failed
    )
    if assigned:
        scope_vars.update(assigned)
    end = (
        exited["timestamp"]
        if exited
        else (failure["timestamp"] if failure and state_status == "failed" else None)
    )
    return {
        "id": run.number,
        "name": run.name,
        "type": run.type,
        "scope": [list(s) for s in run.scope],
        "status": state_status,
        "start": run.entered["timestamp"],
        "end": end,
        "enteredEventId": run.entered["id"],
        "exitedEventId": exited["id"] if exited else None,
        "eventIds": [e["id"] for e in run.events],
        "input": input_value,
        "output": output_value,
        "hasOutput": exited is not None,
        "attempts": attempts,
        "retries": max(0, len(attempts) - 1),
        "error": error,
        "cause": cause,
        "assignedVariables": assigned,
        "stages": stages,
    }


class _NoResult(Exception):
    """The state produced no result of its own (still running, or a Catch took over)."""


def _stage(value: Any, source: str) -> dict[str, Any]:
    return {"value": value, "source": source}


def _child_outputs(run: _Run, runs: list[_Run], owner: dict[tuple[Any, ...], _Run]) -> list[Any] | None:
    """A Map's or Parallel's result: the last output of each iteration or branch, in index order."""
    last: dict[Any, _Run] = {}
    for other in runs:
        if other.scope and owner.get(other.scope) is run and other.exited is not None:
            key = other.scope[-1][1]
            if key not in last or other.exited["id"] > last[key].exited["id"]:  # type: ignore[index]
                last[key] = other
    if not last:
        return None
    return [_load(_details(last[k].exited).get("output")) for k in sorted(last)]  # type: ignore[arg-type]


def _stages(
    run: _Run,
    spec: dict[str, Any],
    input_value: Any,
    output_value: Any,
    variables: dict[str, Any],
    execution: dict[str, Any],
    runs: list[_Run],
    owner: dict[tuple[Any, ...], _Run],
    caught: bool = False,
) -> list[dict[str, Any]]:
    """The payload at each processing step, from the history where it records it, else by re-applying
    the state's fields to the recorded input."""
    from workflows.asl.definition import compile_payload
    from workflows.asl.jsonpath import PathError, compile_path, compile_reference, set_path

    jsonata = (spec.get("QueryLanguage") or execution.get("_queryLanguage")) == "JSONata"
    scheduled = next((e for e in run.events if e["type"] in _SCHEDULED_EVENTS), None)
    succeeded = next((e for e in reversed(run.events) if e["type"] in _RESULT_EVENTS), None)
    raw_result: Any = None
    has_result = False
    if succeeded is not None:
        raw_result, has_result = _load(_details(succeeded).get("output")), True
    elif run.type in ("Map", "Parallel"):
        children = _child_outputs(run, runs, owner)
        if children is not None or run.exited is not None:
            raw_result, has_result = children or [], True
    sent: Any = None
    has_sent = False
    if scheduled is not None:
        d = _details(scheduled)
        sent = _load(d.get("parameters") if "parameters" in d else d.get("input"))
        has_sent = True

    env = SimpleNamespace(
        context={
            "Execution": {
                "Id": execution.get("executionArn"),
                "Name": execution.get("name"),
                "Input": _load(execution.get("input")),
                "StartTime": execution.get("startDate"),
                "RoleArn": execution.get("roleArn"),
            },
            "State": {"Name": run.name, "EnteredTime": run.entered["timestamp"], "RetryCount": 0},
            "StateMachine": {
                "Id": execution.get("stateMachineArn"),
                "Name": execution.get("stateMachineName"),
            },
        },
        variables=variables,
    )
    stages: list[dict[str, Any]] = [{"name": "Input", **_stage(input_value, "history")}]
    if jsonata:
        if has_sent:
            stages.append({"name": "Arguments", **_stage(sent, "history")})
        if has_result:
            stages.append({"name": "Result", **_stage(raw_result, "history")})
        if run.exited is not None:
            stages.append({"name": "Output", **_stage(output_value, "history")})
        return stages

    def read(path: str, value: Any) -> Any:
        return compile_reference(path).get(value, env.context, variables)

    try:
        if "InputPath" in spec:
            effective = {} if spec["InputPath"] is None else read(spec["InputPath"], input_value)
        else:
            effective = input_value
        if "InputPath" in spec:
            stages.append({"name": "InputPath", **_stage(effective, "computed")})
        param_field = (
            "Parameters" if "Parameters" in spec else "ItemSelector" if "ItemSelector" in spec else None
        )
        if has_sent and run.type == "Task":
            stages.append({"name": "Parameters", **_stage(sent, "history")})
        elif param_field and run.type in ("Pass", "Parallel", "Task"):
            effective = compile_payload(spec[param_field])(effective, env)
            stages.append({"name": param_field, **_stage(effective, "computed")})
        if run.type == "Pass":
            raw_result, has_result = (spec["Result"], True) if "Result" in spec else (effective, True)
        elif run.type in ("Wait", "Choice", "Succeed"):
            raw_result, has_result = effective, True
        if caught:  # a Catch chose the output: the state's own result fields never ran
            has_result = False
        if has_result and run.type in ("Task", "Map", "Parallel"):
            source = "history" if succeeded is not None else "computed"
            stages.append({"name": "Result", **_stage(raw_result, source)})
        if not has_result or run.exited is None:
            raise _NoResult
        selected = raw_result
        if "ResultSelector" in spec:
            selected = compile_payload(spec["ResultSelector"])(raw_result, env)
            stages.append({"name": "ResultSelector", **_stage(selected, "computed")})
        if run.type in ("Task", "Pass", "Map", "Parallel"):
            if "ResultPath" in spec and spec["ResultPath"] is None:
                combined = input_value
            elif "ResultPath" in spec:
                combined = set_path(input_value, compile_path(spec["ResultPath"]), selected)
            else:
                combined = selected
            if "ResultPath" in spec:
                stages.append({"name": "ResultPath", **_stage(combined, "computed")})
        else:
            combined = selected
        if "OutputPath" in spec:
            out = {} if spec["OutputPath"] is None else read(spec["OutputPath"], combined)
            stages.append({"name": "OutputPath", **_stage(out, "computed")})
    except _NoResult:
        if run.exited is None:
            return stages
    except (PathError, Exception):  # a stage we cannot re-derive is left out; the history has the rest
        pass
    if run.exited is not None:
        label = "Output (from the Catch's ResultPath)" if caught else "Output"
        stages.append({"name": label, **_stage(output_value, "history")})
    return stages


# -- the app ------------------------------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json(body: Any, status: int = 200) -> Response:
    text = json.dumps(body, default=_default, ensure_ascii=False)
    return Response(
        text, status_code=status, media_type="application/json", headers={"Cache-Control": "no-store"}
    )


def _error(code: str, message: str, status: int = 400) -> Response:
    return _json({"error": code, "message": message}, status)


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        raise ServiceError("SerializationException", "Malformed request body")
    if not isinstance(data, dict):
        raise ServiceError("SerializationException", "Expected a JSON object")
    return data


def create_console(
    service: StepFunctionsService,
    uploads: Uploads | None = None,
    sources: Mapping[str, Path | str] | None = None,
) -> list[BaseRoute]:
    """The console's routes: `GET /` redirects to `/console`; everything else is under `/console`.

    `uploads` (optional) enables the upload box: an object with `bucket` and `put(name, data)`.
    `sources` maps a state machine ARN to the `definitions/` file it was registered from; saving its
    definition in the editor rewrites that file as well as calling UpdateStateMachine."""
    source_files = {arn: Path(p) for arn, p in (sources or {}).items()}
    Handler = Callable[[Request], Awaitable[Response]]

    def api(handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            if request.method not in ("GET", "HEAD"):
                cookie = request.cookies.get(CSRF_COOKIE, "")
                header = request.headers.get(CSRF_HEADER, "")
                if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
                    return _error("CsrfTokenInvalid", "missing or wrong CSRF token", 403)
                origin = request.headers.get("origin")
                if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
                    return _error("CrossOrigin", "cross-origin request refused", 403)
            try:
                return await handler(request)
            except ServiceError as err:
                return _error(err.code, err.message, err.status)
            except (TypeError, ValueError) as err:  # a member of the wrong type or a bad number
                # Python's own wording ("invalid literal for int()...") stays in the log.
                log.debug("console: %s %s: %s", request.method, request.url.path, err)
                return _error("ValidationException", "a request parameter has the wrong type or value")
            except Exception:
                log.exception("console: %s %s failed", request.method, request.url.path)
                return _error("InternalFailure", "the console could not complete the request", 500)

        return wrapped

    async def page(request: Request) -> Response:
        response = FileResponse(
            STATIC / "index.html", headers={**SECURITY_HEADERS, "Cache-Control": "no-store"}
        )
        if not request.cookies.get(CSRF_COOKIE):
            response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(32), path="/console", samesite="strict")
        return response

    async def root(request: Request) -> Response:
        return RedirectResponse("/console", status_code=302)

    async def config(request: Request) -> Response:
        return _json(
            {
                "uploads": {"bucket": uploads.bucket} if uploads is not None else None,
                "region": service.region,
                "account": service.account,
            }
        )

    async def all_pages(method: Callable[..., Awaitable[dict[str, Any]]], key: str, **kw: Any) -> list[Any]:
        items: list[Any] = []
        token = None
        while True:
            page = await method(**kw, maxResults=1000, **({"nextToken": token} if token else {}))
            items.extend(page.get(key, []))
            token = page.get("nextToken")
            if not token:
                return items

    async def state_machines(request: Request) -> Response:
        machines = await all_pages(service.list_state_machines, "stateMachines")
        for m in machines:
            source = source_files.get(m["stateMachineArn"])
            m["source"] = str(source) if source else None
        return _json({"stateMachines": machines})

    async def state_machine(request: Request) -> Response:
        arn = request.query_params.get("arn", "")
        out = await service.describe_state_machine(stateMachineArn=arn)
        source = source_files.get(arn)
        out["source"] = str(source) if source else None
        if source is not None:
            # The editor edits the file as its author wrote it (layout, placeholders), not a re-dump.
            try:
                out["sourceText"] = source.read_text(encoding="utf-8")
            except OSError:
                out["sourceText"] = None
        return _json(out)

    async def executions(request: Request) -> Response:
        q = request.query_params
        arn = q.get("stateMachineArn", "")
        status = q.get("status") or None
        search = (q.get("q") or "").strip().lower()
        size = max(1, min(int(q.get("maxResults") or 25), 1000))
        everything = await all_pages(service.list_executions, "executions", stateMachineArn=arn)
        counts: dict[str, int] = {}
        for e in everything:
            counts[e["status"]] = counts.get(e["status"], 0) + 1
        if search or status:
            rows = [
                e
                for e in everything
                if (not status or e["status"] == status) and (not search or search in e["name"].lower())
            ]
        else:
            rows = everything
        start = int(q.get("offset") or 0)
        return _json(
            {
                "executions": rows[start : start + size],
                "offset": start,
                "total": len(rows),
                "next": start + size if start + size < len(rows) else None,
                "counts": counts,
                "all": len(everything),
            }
        )

    async def history(arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        token = None
        while True:
            page = await service.get_execution_history(
                executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {})
            )
            events.extend(page["events"])
            token = page.get("nextToken")
            if not token:
                return events

    async def execution(request: Request) -> Response:
        arn = request.query_params.get("arn", "")
        described = await service.describe_execution(executionArn=arn)
        machine = await service.describe_state_machine_for_execution(executionArn=arn)
        events = await history(arn)
        try:
            definition = json.loads(machine["definition"])
        except ValueError:
            definition = {}
        context = {
            **described,
            "roleArn": machine.get("roleArn"),
            "stateMachineName": machine.get("name"),
            "_queryLanguage": definition.get("QueryLanguage") if isinstance(definition, dict) else None,
        }
        runs = execution_runs(
            definition, [json.loads(json.dumps(e, default=_default)) for e in events], context
        )
        pending = await service.pending_task_tokens(executionArn=arn)
        return _json(
            {
                "execution": described,
                "stateMachine": {
                    "name": machine.get("name"),
                    "definition": machine["definition"],
                    "revisionId": machine.get("revisionId"),
                },
                "runs": runs,
                "events": events,
                "transitions": sum(1 for e in events if e["type"].endswith("StateEntered")),
                "pendingTasks": pending["tasks"],
            }
        )

    async def start(request: Request) -> Response:
        body = await _body(request)
        params = {"stateMachineArn": body.get("stateMachineArn"), "input": body.get("input", "{}")}
        if body.get("name"):
            params["name"] = body["name"]
        return _json(await service.call("StartExecution", params))

    async def stop(request: Request) -> Response:
        body = await _body(request)
        params = {k: body[k] for k in ("executionArn", "error", "cause") if body.get(k)}
        return _json(await service.call("StopExecution", params))

    async def redrive(request: Request) -> Response:
        body = await _body(request)
        return _json(await service.call("RedriveExecution", {"executionArn": body.get("executionArn")}))

    async def task_success(request: Request) -> Response:
        body = await _body(request)
        params = {"taskToken": body.get("taskToken"), "output": body.get("output", "{}")}
        return _json(await service.call("SendTaskSuccess", params))

    async def task_failure(request: Request) -> Response:
        body = await _body(request)
        params = {k: body[k] for k in ("taskToken", "error", "cause") if body.get(k) is not None}
        return _json(await service.call("SendTaskFailure", params))

    async def validate(request: Request) -> Response:
        from workflows.asl.validation import validate_definition

        body = await _body(request)
        text = body.get("definition", "")
        if not isinstance(text, str):
            raise ServiceError("SerializationException", "definition must be a string")
        found = []
        for d in validate_definition(text, state_machine_type=body.get("type") or "STANDARD"):
            position = pointer_position(text, d.location)
            found.append(
                {
                    **d.to_api(),
                    "line": position[0] if position else None,
                    "column": position[1] if position else None,
                }
            )
        result = "FAIL" if any(d["severity"] == "ERROR" for d in found) else "OK"
        return _json({"result": result, "diagnostics": found})

    async def save(request: Request) -> Response:
        body = await _body(request)
        arn = body.get("stateMachineArn", "")
        text = body.get("definition")
        out = await service.call("UpdateStateMachine", {"stateMachineArn": arn, "definition": text})
        source = source_files.get(arn)
        if source is not None and isinstance(text, str):
            tmp = source.with_name(source.name + ".tmp")
            tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
            tmp.replace(source)
        return _json({**out, "source": str(source) if source else None})

    async def upload(request: Request) -> Response:
        if uploads is None:
            return _error("UploadsNotConfigured", "no input bucket is configured", 404)
        name = (request.query_params.get("name") or "").strip()
        if not name or name.startswith("/") or ".." in name.split("/") or len(name) > 1024:
            return _error("InvalidName", "a file name is required")
        data = await request.body()
        if len(data) > MAX_UPLOAD:
            return _error("TooLarge", "file larger than the console accepts", 413)
        if inspect.iscoroutinefunction(uploads.put):
            await uploads.put(name, data)
        else:  # boto3's put_object blocks: keep it off the event loop
            await run_in_threadpool(uploads.put, name, data)
        return _json({"bucket": uploads.bucket, "key": name, "size": len(data)})

    api_routes = [
        Route("/api/config", api(config), methods=["GET"]),
        Route("/api/state-machines", api(state_machines), methods=["GET"]),
        Route("/api/state-machine", api(state_machine), methods=["GET"]),
        Route("/api/executions", api(executions), methods=["GET"]),
        Route("/api/execution", api(execution), methods=["GET"]),
        Route("/api/start", api(start), methods=["POST"]),
        Route("/api/stop", api(stop), methods=["POST"]),
        Route("/api/redrive", api(redrive), methods=["POST"]),
        Route("/api/task-success", api(task_success), methods=["POST"]),
        Route("/api/task-failure", api(task_failure), methods=["POST"]),
        Route("/api/validate", api(validate), methods=["POST"]),
        Route("/api/definition", api(save), methods=["PUT"]),
        Route("/api/uploads", api(upload), methods=["PUT"]),
    ]
    page_routes = [Route("/" + p if p else "/", page, methods=["GET", "HEAD"]) for p in PAGES]
    console = Mount(
        "/console",
        routes=[
            *page_routes,
            *api_routes,
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ],
    )
    return [
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/console", page, methods=["GET", "HEAD"]),
        console,
    ]
