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

The execution view is worked out here, not in the browser: an `ExecutionIndex` (console_data) folds
the history into state runs (each run's thread — Map iteration or Parallel branch —, status,
attempts, payload stages, re-applying the state's JSONPath fields where the history does not record
a stage). A long history is read a page at a time, with the loop serving other requests between
pages, and kept for the executions opened last; the page gets a summary sized by the definition and
the first events, then asks for a state's runs, the table's rows and more events as they are shown.
The state machine view can lay coverage over the graph: the machine's recorded executions counted
by workflows.service.coverage, as `workflows coverage` counts them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from workflows.asl.budget import loads as loads_bounded
from workflows.asl.errors import ServiceError
from workflows.service.console_data import (
    COLUMNS_TAG,
    DEFAULT_COLUMNS,
    ExecutionIndex,
    execution_columns,
    execution_runs,
    parse_columns,
    pointer_position,
)
from workflows.service.core import json_bytes
from workflows.service.coverage import DefinitionCoverage, Tally, trace_context
from workflows.service.editing import editor_schema, place_diagnostics, state_inputs
from workflows.service.service import StepFunctionsService
from workflows.service.trace import trace_history

__all__ = ["Uploads", "create_console", "execution_runs", "pointer_position", "upload_name"]

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
    """Where the upload box puts files: `workflows dev` passes the pipeline's input bucket.

    `put` returns the key it wrote (None: the name itself). Optional attributes: `prefix` (what
    keys start with) and `state_machine_arns` (what the bucket's S3 rule starts; None: any)."""

    bucket: str

    def put(self, name: str, data: bytes) -> Any: ...


# -- JSON pointer → line and column -------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json_bytes(body, _default),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _error(code: str, message: str, status: int = 400) -> Response:
    return _json({"error": code, "message": message}, status)


async def _body(request: Request) -> dict[str, Any]:
    try:
        # Bounded as the API's bodies are: nesting past budget.MAX_DEPTH is refused before the
        # parser recurses into it (a RecursionError is no ValueError, and was a 500).
        data = loads_bounded(await request.body() or b"{}")
    except (ValueError, RecursionError):  # bad JSON or UTF-8, too deep, NaN, an integer too long
        raise ServiceError("SerializationException", "Malformed request body")
    if not isinstance(data, dict):
        raise ServiceError("SerializationException", "Expected a JSON object")
    return data


SCAN_LIMIT = 5000  # executions a key search or an outcome filter reads, newest first


async def _list_columns(service: StepFunctionsService, arn: str) -> list[tuple[str, list[str]]]:
    """The columns the state machine's `workflows:columns` tag chooses, else the pipeline's."""
    try:
        tags = (await service.list_tags_for_resource(resourceArn=arn))["tags"]
    except ServiceError:
        tags = []
    spec = next((t["value"] for t in tags if t["key"] == COLUMNS_TAG), None)
    if spec:
        try:
            return parse_columns(spec)
        except ValueError as err:
            log.warning("console: tag %s on %s: %s", COLUMNS_TAG, arn, err)
    return parse_columns(DEFAULT_COLUMNS)


def _matches(execution: dict[str, Any], text: str) -> bool:
    values = [execution["name"], *(v for v in execution["columns"].values() if v is not None)]
    return any(text in str(v).lower() for v in values)


class _ColumnCache:
    """Column values already read, per execution: a finished execution's input and output never
    change, so the list's refresh every two seconds reads each one once."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self.values: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()

    async def fill(
        self, service: StepFunctionsService, columns: list[tuple[str, list[str]]], rows: list[dict[str, Any]]
    ) -> None:
        spec = json.dumps(columns)
        for n, row in enumerate(rows):
            if "columns" in row:
                continue
            key = (row["executionArn"], spec)
            cached = self.values.get(key)
            if cached is None:
                try:
                    described = await service.describe_execution(executionArn=row["executionArn"])
                except ServiceError:  # gone between the list and this read
                    described = {}
                cached = execution_columns(columns, described)
                if described.get("status") not in (None, "RUNNING", "PENDING_REDRIVE"):
                    self.values[key] = cached
                    if len(self.values) > self.size:
                        self.values.popitem(last=False)
                if n % 200 == 199:  # a first read of thousands leaves the loop to others between batches
                    await asyncio.sleep(0)
            row["columns"] = cached


def upload_name(raw: str) -> str | None:
    """The file name an upload is stored under: the last segment of what the browser sent (no folders,
    no `.` or `..`), or None when nothing usable is left."""
    # A name ending in "/" names a folder: refused rather than written as the prefix itself.
    name = raw.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if name in ("", ".", "..") or len(name) > 255 or any(ord(c) < 32 for c in name):
        return None
    return name


def _uploads_config(uploads: Uploads | None) -> dict[str, Any] | None:
    """What the page needs to place the upload box: the bucket, the prefix keys get, and the state
    machines an S3 rule starts for that bucket (the box shows on their pages only)."""
    if uploads is None:
        return None
    arns = getattr(uploads, "state_machine_arns", None)
    return {
        "bucket": uploads.bucket,
        "prefix": getattr(uploads, "prefix", "") or "",
        "stateMachineArns": sorted(arns) if arns is not None else None,
    }


def _resources(substitutions: Mapping[str, Any]) -> list[str]:
    """ARNs a Task's Resource may name: the template's (through substitutions) and the common integrations."""
    found = {str(v) for v in substitutions.values() if str(v).startswith("arn:aws:lambda:")}
    common = (
        "arn:aws:states:::lambda:invoke",
        "arn:aws:states:::sns:publish",
        "arn:aws:states:::sqs:sendMessage",
        "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "arn:aws:states:::events:putEvents",
        "arn:aws:states:::dynamodb:putItem",
        "arn:aws:states:::dynamodb:getItem",
        "arn:aws:states:::states:startExecution.sync:2",
        "arn:aws:states:::aws-sdk:s3:copyObject",
        "arn:aws:states:::aws-sdk:s3:getObject",
        "arn:aws:states:::aws-sdk:s3:putObject",
    )
    return sorted(found) + list(common)


def _source_status(machine: Mapping[str, Any], source: Path | None) -> dict[str, Any]:
    """The file the editor edits against the running revision: its hash, and whether they differ."""
    running = machine.get("definition") or ""
    text = running
    if source is not None:
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, ValueError):
            text = running
    return {
        "sourceHash": hashlib.sha256(text.encode()).hexdigest(),
        # Layout aside: `workflows dev` registers the file as written, the editor saves it with a newline.
        "differs": text.strip() != running.strip(),
        "currentText": text,
    }


class _OnLoop:
    """A resolver of the server's loop, callable from a replay's own loop on another thread."""

    def __init__(self, resolver: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.resolver = resolver
        self.loop = loop

    def handles(self, request: Any) -> bool:
        handles = getattr(self.resolver, "handles", None)
        return bool(handles(request)) if handles is not None else True

    async def invoke(self, request: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(self.resolver.invoke(request), self.loop)
        return await asyncio.wrap_future(future)


FINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
HISTORY_PAGE = 250  # events read at a time: the loop serves other requests between pages
FIRST_EVENTS = 100  # events the execution page gets with its summary; the rest are paged
COVERAGE_EXECUTIONS = 2000  # the newest executions the coverage overlay counts
OPEN_BUDGET = 0.6  # seconds the execution page waits for the history before it answers with what is read
REPLAY_EXECUTIONS = 200  # executions one replay request reads at most
# Events one replay request reads in all (four full 25,000-event histories): what it holds in memory
# and parses is bounded by this, whatever the executions chosen.
REPLAY_EVENTS = 100_000


class _History:
    """One execution's history as the console has read it: an ExecutionIndex fed a page at a time
    by a task of its own, and caught up with newer events when the execution goes on."""

    def __init__(self, service: StepFunctionsService, arn: str, definition_text: str) -> None:
        self.service = service
        self.arn = arn
        self.definition_text = definition_text
        try:
            definition = json.loads(definition_text)
        except ValueError:
            definition = {}
        self.definition = definition if isinstance(definition, dict) else {}
        self.index = ExecutionIndex(self.definition)
        self.task: asyncio.Task[None] | None = None
        self.complete_at: int | None = None  # the redrive count when the whole, final history was read
        self.lock = asyncio.Lock()  # a page is folded in, or the index is asked, not both at once

    async def ask(self, question: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A question to the index, answered on a worker thread: a summary or a sorted table walks
        every run, which is long for the loop to spend in one go."""
        async with self.lock:
            return await asyncio.to_thread(question, *args, **kwargs)

    def refresh(self, described: Mapping[str, Any]) -> asyncio.Task[None] | None:
        """Start reading what is not read yet (unless already reading, or the history is final and read)."""
        redrives = int(described.get("redriveCount") or 0)
        if self.complete_at == redrives and described.get("status") in FINAL:
            return None
        if self.task is None or self.task.done():
            final = described.get("status") in FINAL
            self.task = asyncio.get_running_loop().create_task(self._read(final, redrives))
        return self.task

    @property
    def reading(self) -> bool:
        return self.task is not None and not self.task.done()

    async def _read(self, final: bool, redrives: int) -> None:
        if not self.index.events:
            token = None
            while True:
                page = await self.service.get_execution_history(
                    executionArn=self.arn, maxResults=HISTORY_PAGE, **({"nextToken": token} if token else {})
                )
                async with self.lock:  # reading a page and folding it are two short steps, not one
                    self.index.feed(page["events"])
                token = page.get("nextToken")
                if not token:
                    break
                await asyncio.sleep(0)
        else:
            # Newest first, back to what was read: an execution that goes on adds a few events a poll.
            newer: list[dict[str, Any]] = []
            token = None
            while True:
                page = await self.service.get_execution_history(
                    executionArn=self.arn,
                    maxResults=HISTORY_PAGE,
                    reverseOrder=True,
                    **({"nextToken": token} if token else {}),
                )
                fresh = [e for e in page["events"] if e["id"] > self.index.last_id]
                newer.extend(fresh)
                token = page.get("nextToken")
                if not token or len(fresh) < len(page["events"]):
                    break
                await asyncio.sleep(0)
            async with self.lock:
                self.index.feed(reversed(newer))
        if final:
            self.complete_at = redrives


class _Histories:
    """The histories of the executions opened last: at most `size` of them and `events` events in
    all (25,000 events take about 32 MB), the one opened now always kept."""

    def __init__(self, service: StepFunctionsService, size: int = 6, events: int = 60_000) -> None:
        self.service = service
        self.size = size
        self.events = events
        self.entries: OrderedDict[str, _History] = OrderedDict()

    async def open(
        self, arn: str, described: Mapping[str, Any], definition_text: str, wait: float | None = None
    ) -> _History:
        """The execution's history, read or catching up; waits for the reading `wait` seconds at most
        (None: until it is done)."""
        entry = self.entries.get(arn)
        if entry is None or entry.definition_text != definition_text:
            entry = self.entries[arn] = _History(self.service, arn, definition_text)
        self.entries.move_to_end(arn)
        self._trim()
        task = entry.refresh(described)
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=wait)
            if task in done:
                task.result()  # a failed read is the request's error
                self._trim()
        return entry

    def _trim(self) -> None:
        while len(self.entries) > 1 and (
            len(self.entries) > self.size
            or sum(len(e.index.events) for e in self.entries.values()) > self.events
        ):
            self.entries.popitem(last=False)


def create_console(
    service: StepFunctionsService,
    uploads: Uploads | None = None,
    sources: Mapping[str, Path | str] | None = None,
    notices: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[BaseRoute]:
    """The console's routes: `GET /` redirects to `/console`; everything else is under `/console`.

    `uploads` (optional) enables the upload box: an object with `bucket` and `put(name, data)`.
    `sources` maps a state machine ARN to the `definitions/` file it was registered from; saving its
    definition in the editor rewrites that file as well as calling UpdateStateMachine. `notices`
    (optional, kept up to date by `workflows dev`'s definitions watcher) maps an ARN to what the
    watcher last did with its file: registered a revision, or found it invalid."""
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
            except ClientDisconnect:  # gone while sending its body (or cut off by the read timeout)
                return Response(status_code=400)
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
                "uploads": _uploads_config(uploads),
                "region": service.region,
                "account": service.account,
                # For the editor's autocomplete: the ${...} names and the ARNs they stand for.
                "substitutions": sorted((service.substitutions or {}).keys()),
                "resources": _resources(service.substitutions or {}),
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
        status = _source_status(out, source)
        status.pop("currentText")
        out.update(status)
        return _json(out)

    columns_cache = _ColumnCache()

    async def executions(request: Request) -> Response:
        q = request.query_params
        arn = q.get("stateMachineArn", "")
        status = q.get("status") or None
        outcome = q.get("outcome") or None
        search = (q.get("q") or "").strip().lower()
        size = max(1, min(int(q.get("maxResults") or 25), 1000))
        everything = await all_pages(service.list_executions, "executions", stateMachineArn=arn)
        counts: dict[str, int] = {}
        for e in everything:
            counts[e["status"]] = counts.get(e["status"], 0) + 1
        columns = await _list_columns(service, arn)
        scanned = everything[:SCAN_LIMIT]
        await columns_cache.fill(service, columns, scanned)
        outcomes: dict[str, int] = {}
        for e in scanned:
            value = e["columns"].get("outcome")
            if value is not None:
                outcomes[str(value)] = outcomes.get(str(value), 0) + 1
        if search or status or outcome:
            rows = [
                e
                for e in scanned
                if (not status or e["status"] == status)
                and (not outcome or str(e["columns"].get("outcome")) == outcome)
                and (not search or _matches(e, search))
            ]
        else:
            rows = everything
        start = int(q.get("offset") or 0)
        page_rows = rows[start : start + size]
        await columns_cache.fill(service, columns, page_rows)  # rows past the scan, paged to
        return _json(
            {
                "executions": page_rows,
                "offset": start,
                "total": len(rows),
                "next": start + size if start + size < len(rows) else None,
                "counts": counts,
                "all": len(everything),
                "columns": [name for name, _ in columns],
                "outcomes": outcomes,
                "scanned": len(scanned),
            }
        )

    async def history(arn: str) -> list[dict[str, Any]]:
        events = await read_history(arn, None)
        assert events is not None
        return events

    async def read_history(arn: str, limit: int | None) -> list[dict[str, Any]] | None:
        """The execution's whole history, a page at a time with the loop serving others between
        pages; None past `limit` events (the read stops there)."""
        events: list[dict[str, Any]] = []
        token = None
        while True:
            page = await service.get_execution_history(
                executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {})
            )
            events.extend(page["events"])
            token = page.get("nextToken")
            if limit is not None and len(events) > limit:
                return None
            if not token:
                return events
            await asyncio.sleep(0)

    async def event_count(arn: str) -> int:
        """How many events the execution has so far: its last event's id, one read."""
        last = await service.get_execution_history(executionArn=arn, maxResults=1, reverseOrder=True)
        return int(last["events"][0]["id"]) if last["events"] else 0

    histories = _Histories(service)

    async def opened(arn: str, wait: float | None = None) -> tuple[dict[str, Any], dict[str, Any], _History]:
        described = await service.describe_execution(executionArn=arn)
        machine = await service.describe_state_machine_for_execution(executionArn=arn)
        entry = await histories.open(arn, described, machine["definition"], wait)
        return described, machine, entry

    def context(described: Mapping[str, Any], machine: Mapping[str, Any], entry: _History) -> dict[str, Any]:
        """The execution as the payload stages see it (its context object's fields)."""
        return {
            **json.loads(json.dumps(described, default=_default)),
            "roleArn": machine.get("roleArn"),
            "stateMachineName": machine.get("name"),
            "_queryLanguage": entry.definition.get("QueryLanguage"),
        }

    def pickers(request: Request) -> dict[str, str]:
        raw = request.query_params.get("pickers") or "{}"
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError("pickers is a JSON object")
        return {str(k): str(v) for k, v in value.items()}

    def status_of(described: Mapping[str, Any], entry: _History) -> str:
        # While the history is still being read, what is open may have ended in the part not read yet.
        return "RUNNING" if entry.reading else str(described.get("status", "RUNNING"))

    async def summary_of(described: Mapping[str, Any], entry: _History, request: Request) -> dict[str, Any]:
        complete = not entry.reading
        summary = await entry.ask(entry.index.summary, status_of(described, entry), pickers(request))
        return {**summary, "complete": complete}

    async def execution(request: Request) -> Response:
        """The execution page's first answer: the execution, the graph's summary and the first events.
        A long history is read while it waits (OPEN_BUDGET at most); with `summary.complete` false
        the page asks `execution/summary` again for the rest."""
        arn = request.query_params.get("arn", "")
        described, machine, entry = await opened(arn, OPEN_BUDGET)
        pending = await service.pending_task_tokens(executionArn=arn)
        first = await entry.ask(entry.index.events_page, 0, FIRST_EVENTS)
        return _json(
            {
                "execution": described,
                "stateMachine": {
                    "name": machine.get("name"),
                    "definition": machine["definition"],
                    "revisionId": machine.get("revisionId"),
                },
                "summary": await summary_of(described, entry, request),
                "events": first["events"],
                "eventsNext": first["next"],
                "pendingTasks": pending["tasks"],
            }
        )

    async def execution_summary(request: Request) -> Response:
        arn = request.query_params.get("arn", "")
        described, _, entry = await opened(arn, OPEN_BUDGET)
        return _json({"execution": described, "summary": await summary_of(described, entry, request)})

    async def execution_state(request: Request) -> Response:
        """One state's runs (the last 500) and one of them in full, with its payload stages."""
        q = request.query_params
        arn = q.get("arn", "")
        described, machine, entry = await opened(arn)
        chosen = int(q["run"]) if q.get("run") else None
        return _json(
            await entry.ask(
                entry.index.state_runs,
                status_of(described, entry),
                pickers(request),
                q.get("state", ""),
                chosen,
                context(described, machine, entry),
            )
        )

    async def execution_runs_route(request: Request) -> Response:
        """A page of the table view, filtered and sorted here."""
        q = request.query_params
        arn = q.get("arn", "")
        described, _, entry = await opened(arn)
        return _json(
            await entry.ask(
                entry.index.table_rows,
                status_of(described, entry),
                pickers(request),
                state_status=q.get("status") or "",
                text=(q.get("q") or "").strip(),
                sort=q.get("sort") or "id",
                descending=q.get("dir") == "desc",
                offset=max(0, int(q.get("offset") or 0)),
                limit=max(1, min(int(q.get("limit") or 100), 500)),
            )
        )

    async def execution_events(request: Request) -> Response:
        """A page of events after `after`; a search looks through the history a slice at a time."""
        q = request.query_params
        arn = q.get("arn", "")
        _, _, entry = await opened(arn)
        limit = max(1, min(int(q.get("limit") or 100), 1000))
        text = (q.get("q") or "").strip()
        after = max(0, int(q.get("after") or 0))
        found: list[dict[str, Any]] = []
        while True:
            page = await entry.ask(entry.index.events_page, after, limit - len(found), text, scan=2000)
            found.extend(page["events"])
            after = page["next"]
            if after is None or len(found) >= limit:
                break
            await asyncio.sleep(0)
        return _json({"events": found, "next": after, "total": page["total"]})

    tallies: OrderedDict[str, tuple[str, Tally | None]] = OrderedDict()  # finished executions only

    async def coverage(request: Request) -> Response:
        """The state machine's coverage from its recorded executions (the newest COVERAGE_EXECUTIONS),
        counted as `workflows coverage` counts: those that ran the current definition; the others
        ran another revision and are only counted as such."""
        from workflows.asl.definition import load_definition
        from workflows.asl.errors import DefinitionError

        arn = request.query_params.get("arn", "")
        machine = await service.describe_state_machine(stateMachineArn=arn)
        text = machine["definition"]
        try:
            definition = load_definition(text, service.substitutions)
        except DefinitionError:  # it was registered, so it compiles; a `${...}` may upset validation
            definition = load_definition(text, service.substitutions, validate=False)
        entry = DefinitionCoverage.of(machine["name"], definition)
        listed = await all_pages(service.list_executions, "executions", stateMachineArn=arn)
        counted = others = 0
        for n, e in enumerate(listed[:COVERAGE_EXECUTIONS]):
            execution_arn = e["executionArn"]
            known = tallies.get(execution_arn)
            if known is None:
                ran = await service.describe_state_machine_for_execution(executionArn=execution_arn)
                tally = None
                if ran["definition"] == text:
                    described = await service.describe_execution(executionArn=execution_arn)
                    context = trace_context(
                        execution_arn,
                        e["name"],
                        arn,
                        machine["name"],
                        machine.get("roleArn"),
                        int(described.get("redriveCount") or 0),
                    )
                    events = await history(execution_arn)
                    trace = (
                        await asyncio.to_thread(trace_history, definition, events, context=context)
                        if len(events) > 2000  # a long one is read on a thread; the loop goes on
                        else trace_history(definition, events, context=context)
                    )
                    tally = Tally.of(trace)
                known = (ran["definition"], tally)
                if e["status"] not in ("RUNNING", "PENDING_REDRIVE"):
                    tallies[execution_arn] = known
                    while len(tallies) > 20_000:
                        tallies.popitem(last=False)
            if known[0] == text and known[1] is not None:
                entry.add(known[1])
                counted += 1
            else:
                others += 1
            if n % 50 == 49:
                await asyncio.sleep(0)
        return _json(
            {
                **entry.to_json(),
                "counted": counted,
                "otherRevisions": others,
                "recorded": len(listed),
                "limit": COVERAGE_EXECUTIONS,
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
        kind = body.get("type") or "STANDARD"

        def check() -> list[dict[str, Any]]:
            diagnostics = validate_definition(text, state_machine_type=kind)
            return place_diagnostics(text, [d.to_api() for d in diagnostics])

        # Off the event loop: the editor sends the whole text on every pause in typing.
        found = await run_in_threadpool(check)
        result = "FAIL" if any(d["severity"] == "ERROR" for d in found) else "OK"
        return _json({"result": result, "diagnostics": found})

    async def save(request: Request) -> Response:
        body = await _body(request)
        arn = body.get("stateMachineArn", "")
        text = body.get("definition")
        source = source_files.get(arn)
        if "baseRevisionId" in body or "baseHash" in body:
            # Refuse to overwrite what changed since the editor loaded it (a hand edit of the file,
            # a revision registered by the watcher or another tab): show both instead.
            current = await service.describe_state_machine(stateMachineArn=arn)
            status = _source_status(current, source)
            if (current.get("revisionId") or None) != (body.get("baseRevisionId") or None) or (
                body.get("baseHash") and status["sourceHash"] != body.get("baseHash")
            ):
                return _json(
                    {
                        "error": "Conflict",
                        "message": "the definition changed since you loaded it",
                        "current": {
                            "text": status["currentText"],
                            "revisionId": current.get("revisionId"),
                            "sourceHash": status["sourceHash"],
                        },
                        "yours": text,
                    },
                    409,
                )
        out = await service.call("UpdateStateMachine", {"stateMachineArn": arn, "definition": text})
        if source is not None and isinstance(text, str):
            tmp = source.with_name(source.name + ".tmp")
            tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
            tmp.replace(source)
        after = await service.describe_state_machine(stateMachineArn=arn)
        status = _source_status(after, source)
        return _json({**out, "source": str(source) if source else None, "sourceHash": status["sourceHash"]})

    # -- the definition editor ----------------------------------------------------------------------

    async def editor_schema_route(request: Request) -> Response:
        return _json(editor_schema())

    async def source_status(request: Request) -> Response:
        """Polled by the editor: the running revision, the file's state and the watcher's last word."""
        arn = request.query_params.get("arn", "")
        current = await service.describe_state_machine(stateMachineArn=arn)
        status = _source_status(current, source_files.get(arn))
        status.pop("currentText")
        notice = (notices or {}).get(arn)
        return _json(
            {"revisionId": current.get("revisionId"), **status, "notice": dict(notice) if notice else None}
        )

    async def state_inputs_route(request: Request) -> Response:
        """Inputs a state was entered with in the machine's recent executions (newest first)."""
        q = request.query_params
        state = q.get("state", "")
        size = max(1, min(int(q.get("maxResults") or 10), 50))
        listed = (await service.list_executions(stateMachineArn=q.get("arn", ""), maxResults=100))[
            "executions"
        ]
        found: list[dict[str, Any]] = []
        for e in listed:
            for value in state_inputs(await history(e["executionArn"]), state):
                found.append({"executionArn": e["executionArn"], "name": e["name"], "input": value})
                break
            if len(found) >= size:
                break
        return _json({"inputs": found})

    async def test_state_route(request: Request) -> Response:
        from workflows.asl.definition import substitute

        body = await _body(request)
        text = body.get("definition", "")
        try:
            if not isinstance(text, str):
                raise ValueError(text)
            document = loads_bounded(text)
        except (ValueError, RecursionError):  # not a string, not JSON, or nested too deep
            raise ServiceError("InvalidDefinition", "the definition is not JSON")
        params: dict[str, Any] = {
            "definition": json.dumps(substitute(document, service.substitutions or {})),
            "stateName": body.get("stateName"),
            "input": body.get("input", "{}"),
            "inspectionLevel": body.get("inspectionLevel") or "DEBUG",
        }
        if body.get("mock") is not None:
            params["mock"] = body["mock"]
        if body.get("variables"):
            params["variables"] = body["variables"]
        return _json(await service.call("TestState", params))

    async def replay_route(request: Request) -> Response:
        from workflows.asl.definition import load_definition
        from workflows.asl.errors import DefinitionError
        from workflows.service.replay import Recording, replay_many, summary

        body = await _body(request)
        arn = body.get("stateMachineArn", "")
        text = body.get("definition", "")
        if not isinstance(text, str):
            raise ServiceError("SerializationException", "definition must be a string")
        try:
            definition = load_definition(text, service.substitutions)
        except DefinitionError as err:
            return _error("InvalidDefinition", "; ".join(str(d) for d in err.diagnostics))
        chosen = [a for a in body.get("executionArns") or [] if isinstance(a, str)]
        if not chosen:
            last = max(1, min(int(body.get("last") or 20), 200))
            listed = await service.list_executions(stateMachineArn=arn, maxResults=last + 50)
            chosen = [e["executionArn"] for e in listed["executions"] if e["status"] != "RUNNING"][:last]
        chosen = chosen[:REPLAY_EXECUTIONS]
        recordings: list[Recording] = []
        read = 0
        for a in chosen:
            # Bounded by the events read in all, not by executions: one execution can hold 25,000.
            # An execution that would pass the bound ends the list (newest first: the rest are older).
            if read + await event_count(a) > REPLAY_EVENTS:
                break
            events = await read_history(a, REPLAY_EVENTS - read)
            if events is None:  # it went on growing since it was counted
                break
            read += len(events)
            # Folded on a worker thread: it parses every recorded output. It only reads the events
            # (the service built them for this request), so they need no copy.
            recordings.append(await asyncio.to_thread(Recording.from_history, events, a, arn))
        fallback = None
        if body.get("allowLocal") and service.resolver is not None:
            fallback = _OnLoop(service.resolver, asyncio.get_running_loop())
        began = time.perf_counter()
        # On a thread with its own loop and virtual clock: the server's loop keeps serving meanwhile.
        results = await asyncio.to_thread(asyncio.run, replay_many(definition, recordings, fallback=fallback))
        return _json(
            {
                **summary(results),
                # past the time budget, or past REPLAY_EVENTS events read
                "leftOut": len(chosen) - len(results),
                "eventsRead": read,
                "eventLimit": REPLAY_EVENTS,
                "seconds": round(time.perf_counter() - began, 3),
                "executions": [r.to_json() for r in results],
            }
        )

    async def upload(request: Request) -> Response:
        if uploads is None:
            return _error("UploadsNotConfigured", "no input bucket is configured", 404)
        name = upload_name(request.query_params.get("name") or "")
        if name is None:
            return _error("InvalidName", "a file name is required (the part after the last '/')")
        data = await request.body()
        if len(data) > MAX_UPLOAD:
            return _error("TooLarge", "file larger than the console accepts", 413)
        if inspect.iscoroutinefunction(uploads.put):
            written = await uploads.put(name, data)
        else:  # boto3's put_object blocks: keep it off the event loop
            written = await run_in_threadpool(uploads.put, name, data)
        # The key the object really has (dev puts it under the rule's prefix), so it can be searched for.
        key = written if isinstance(written, str) and written else name
        return _json({"bucket": uploads.bucket, "key": key, "size": len(data)})

    api_routes = [
        Route("/api/config", api(config), methods=["GET"]),
        Route("/api/state-machines", api(state_machines), methods=["GET"]),
        Route("/api/state-machine", api(state_machine), methods=["GET"]),
        Route("/api/executions", api(executions), methods=["GET"]),
        Route("/api/execution", api(execution), methods=["GET"]),
        Route("/api/execution/summary", api(execution_summary), methods=["GET"]),
        Route("/api/execution/state", api(execution_state), methods=["GET"]),
        Route("/api/execution/runs", api(execution_runs_route), methods=["GET"]),
        Route("/api/execution/events", api(execution_events), methods=["GET"]),
        Route("/api/coverage", api(coverage), methods=["GET"]),
        Route("/api/start", api(start), methods=["POST"]),
        Route("/api/stop", api(stop), methods=["POST"]),
        Route("/api/redrive", api(redrive), methods=["POST"]),
        Route("/api/task-success", api(task_success), methods=["POST"]),
        Route("/api/task-failure", api(task_failure), methods=["POST"]),
        Route("/api/validate", api(validate), methods=["POST"]),
        Route("/api/definition", api(save), methods=["PUT"]),
        Route("/api/uploads", api(upload), methods=["PUT"]),
        Route("/api/editor-schema", api(editor_schema_route), methods=["GET"]),
        Route("/api/source-status", api(source_status), methods=["GET"]),
        Route("/api/state-inputs", api(state_inputs_route), methods=["GET"]),
        Route("/api/test-state", api(test_state_route), methods=["POST"]),
        Route("/api/replay", api(replay_route), methods=["POST"]),
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
