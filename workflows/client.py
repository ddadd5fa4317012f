"""Client commands over the Step Functions API: `workflows upload`, `executions`, `history`, `graph`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_ENDPOINT = "http://127.0.0.1:8083"


def endpoints_file(data_dir: str | os.PathLike[str] = ".workflows") -> Path:
    return Path(data_dir) / "endpoints.json"


def resolve_endpoint(explicit: str | None, data_dir: str = ".workflows") -> str:
    """--endpoint, else $WORKFLOWS_ENDPOINT, else what `workflows dev` wrote, else the default port."""
    if explicit:
        return explicit
    if os.environ.get("WORKFLOWS_ENDPOINT"):
        return os.environ["WORKFLOWS_ENDPOINT"]
    path = endpoints_file(data_dir)
    if path.exists():
        try:
            return str(json.loads(path.read_text())["stepfunctions"])
        except (ValueError, KeyError):
            pass
    return DEFAULT_ENDPOINT


def sfn_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    # Local credentials are placeholders: the engine on 127.0.0.1 does not check signatures. One
    # retry: an engine that is not running should be said so at once, not after a backoff.
    return boto3.client(
        "stepfunctions",
        endpoint_url=endpoint,
        config=Config(retries={"total_max_attempts": 2, "mode": "standard"}, connect_timeout=5),
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
    )


class CommandError(Exception):
    """A failure the command explains in one line (exit status 1), instead of a traceback."""


def _explain(command: str, endpoint: str, err: BaseException) -> str:
    """One line saying what went wrong talking to the API, and what to do about it."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    if isinstance(err, EndpointConnectionError):
        return (
            f"workflows {command}: cannot reach the Step Functions API at {endpoint}: "
            "start `workflows dev` (or `workflows serve`), or give --endpoint URL"
        )
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return f"workflows {command}: {error.get('Code', 'Error')}: {error.get('Message', str(err))}"
    if isinstance(err, BotoCoreError):
        return f"workflows {command}: {err}"
    return f"workflows {command}: {err}"


def _run(command: str, args: argparse.Namespace, body: Any) -> int:
    """Run a client command; API and connection errors become one line on stderr and exit status 1."""
    from botocore.exceptions import BotoCoreError, ClientError

    endpoint = resolve_endpoint(getattr(args, "endpoint", None), getattr(args, "data_dir", ".workflows"))
    try:
        return int(body(sfn_client(endpoint)) or 0)
    except CommandError as err:
        print(f"workflows {command}: {err}", file=sys.stderr)
    except (BotoCoreError, ClientError) as err:
        print(_explain(command, endpoint, err), file=sys.stderr)
    return 1


def _machines(client: Any, name_or_arn: str | None) -> list[dict[str, Any]]:
    machines = [
        m for page in client.get_paginator("list_state_machines").paginate() for m in page["stateMachines"]
    ]
    if name_or_arn:
        machines = [m for m in machines if name_or_arn in (m["name"], m["stateMachineArn"])]
        if not machines:
            raise CommandError(f"no state machine named {name_or_arn}")
    return machines


def list_columns(client: Any, state_machine_arn: str) -> list[tuple[str, list[str]]]:
    """The columns the state machine's `workflows:columns` tag chooses, else the pipeline's."""
    from workflows.service.console_data import COLUMNS_TAG, DEFAULT_COLUMNS, parse_columns

    try:
        tags = client.list_tags_for_resource(resourceArn=state_machine_arn).get("tags", [])
    except Exception:  # tags are a nicety: an endpoint without them gets the defaults
        tags = []
    spec = next((t["value"] for t in tags if t["key"] == COLUMNS_TAG), None)
    if spec:
        try:
            return parse_columns(spec)
        except ValueError:
            pass
    return parse_columns(DEFAULT_COLUMNS)


def execution_row(
    client: Any, execution: dict[str, Any], columns: list[tuple[str, list[str]]]
) -> dict[str, Any]:
    """One execution as the list shows it: name, status, times and the columns from its input/output."""
    from workflows.service.console_data import execution_columns

    described = client.describe_execution(executionArn=execution["executionArn"])
    return {
        "name": execution["name"],
        "status": described["status"],
        **execution_columns(columns, described),
        "started": _iso(described.get("startDate")),
        "stopped": _iso(described.get("stopDate")),
        "executionArn": execution["executionArn"],
    }


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="milliseconds") if hasattr(value, "isoformat") else value


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """A table at its natural width: names and keys are never cut to fit 80 columns (a narrower
    terminal wraps the lines instead)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers, box=None, pad_edge=False)
    for column in table.columns:
        column.no_wrap = True
        column.overflow = "ignore"
    for row in rows:
        table.add_row(*row)
    console = Console()
    # Natural width: the widest cell of each column, one space either side between columns.
    width = sum(max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True))
    width += 2 * (len(headers) - 1) + 1
    if width > console.width:
        console = Console(width=width)
    console.print(table)


def cmd_executions(args: argparse.Namespace) -> int:
    def body(client: Any) -> int:
        rows: list[dict[str, Any]] = []
        for machine in _machines(client, args.state_machine):
            columns = list_columns(client, machine["stateMachineArn"])
            kwargs: dict[str, Any] = {"stateMachineArn": machine["stateMachineArn"]}
            if args.status:
                kwargs["statusFilter"] = args.status
            # A key or outcome filter reads further back than the limit, up to ten pages.
            scan = args.limit if not (args.key or args.outcome) else max(args.limit, 1000)
            seen = 0
            for page in client.get_paginator("list_executions").paginate(
                **kwargs, PaginationConfig={"MaxItems": scan, "PageSize": min(scan, 100)}
            ):
                for execution in page["executions"]:
                    seen += 1
                    row = {"stateMachine": machine["name"], **execution_row(client, execution, columns)}
                    if args.key and args.key.lower() not in str(row.get("key") or "").lower():
                        continue
                    if args.outcome and str(row.get("outcome")) != args.outcome:
                        continue
                    rows.append(row)
                    if len(rows) >= args.limit:
                        break
                if len(rows) >= args.limit:
                    break
        if args.json:
            print(json.dumps(rows, indent=2, ensure_ascii=False))
            return 0
        names = [k for k in rows[0] if k not in ("executionArn",)] if rows else []
        if not rows:
            print("no executions", file=sys.stderr)
            return 0
        print_table(names, [[_cell(r.get(n)) for n in names] for r in rows])
        return 0

    return _run("executions", args, body)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def resolve_execution(client: Any, name_or_arn: str, state_machine: str | None = None) -> str:
    """An execution's ARN from its ARN or its name (what the list shows), searched across the
    state machines, or the one given."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    found = []
    for machine in _machines(client, state_machine):
        for page in client.get_paginator("list_executions").paginate(
            stateMachineArn=machine["stateMachineArn"]
        ):
            found += [e["executionArn"] for e in page["executions"] if e["name"] == name_or_arn]
    if not found:
        raise CommandError(f"no execution named {name_or_arn}")
    if len(found) > 1:
        raise CommandError(
            f"{len(found)} executions are named {name_or_arn}: give its ARN or --state-machine NAME"
        )
    return found[0]


def cmd_history(args: argparse.Namespace) -> int:
    def body(client: Any) -> int:
        arn = resolve_execution(client, args.execution, args.state_machine)
        events = [
            event
            for page in client.get_paginator("get_execution_history").paginate(executionArn=arn)
            for event in page["events"]
        ]
        if args.json:
            print(json.dumps(events, default=_iso, indent=2, ensure_ascii=False))
            return 0
        rows = []
        for event in events:
            details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            rows.append(
                [str(event["id"]), str(event["previousEventId"]), event["type"], json.dumps(details)[:120]]
            )
        print_table(["id", "prev", "type", "details"], rows)
        return 0

    return _run("history", args, body)


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True)


UPLOAD_CONCURRENCY = 8  # files in flight at once: enough to keep a local S3 busy, few enough to stay polite
FINISHED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
POLL_SECONDS = 1.0


def upload_files(paths: list[str]) -> list[tuple[Path, str]]:
    """(file, key under the prefix) for each argument: a file by its name, a directory's files by
    their path inside it (sorted), so a tree keeps its shape and two `a.jpg` in it stay two keys."""
    out: list[tuple[Path, str]] = []
    for arg in paths:
        path = Path(arg)
        if path.is_dir():
            out += [(f, f.relative_to(path).as_posix()) for f in sorted(path.rglob("*")) if f.is_file()]
        else:
            out.append((path, path.name))
    return out


def outcome_group(row: dict[str, Any]) -> str:
    """What the progress bar counts an execution as: succeeded, quarantined or failed."""
    if row.get("status") != "SUCCEEDED":
        return "failed"
    return "quarantined" if row.get("outcome") == "quarantined" else "succeeded"


class ExecutionFollower:
    """Finds the execution each uploaded key started and follows it to its end, at the cost of one
    ListExecutions page per poll (statuses of every execution since the batch began) and at most two
    DescribeExecution calls per execution: one to read its key, one for its output once it ended.
    Nothing is described again while it runs, so a batch of thousands stays light on the API."""

    def __init__(self, client: Any, machine: str, bucket: str, since: float) -> None:
        from workflows.service.console_data import execution_columns

        self.client, self.machine, self.bucket, self.since = client, machine, bucket, since
        self.columns = list_columns(client, machine)
        self._columns_of = execution_columns
        self.wanted: set[str] = set()
        self.key_of: dict[str, str | None] = {}  # execution ARN -> key (None: not one of ours)
        self.newest: dict[str, dict[str, Any]] = {}  # key -> its newest execution as listed
        self.rows: dict[str, dict[str, Any]] = {}  # key -> the finished execution's row

    def poll(self) -> None:
        for page in self.client.get_paginator("list_executions").paginate(
            stateMachineArn=self.machine, PaginationConfig={"PageSize": 1000}
        ):
            fresh = [e for e in page["executions"] if e["startDate"].timestamp() >= self.since - 2]
            for execution in fresh:
                arn = execution["executionArn"]
                if arn not in self.key_of:
                    described = self.client.describe_execution(executionArn=arn)
                    cols = self._columns_of(self.columns, described)
                    ours = cols.get("bucket") in (None, self.bucket)
                    self.key_of[arn] = str(cols.get("key")) if ours else None
                key = self.key_of[arn]
                if key is None:
                    continue
                known = self.newest.get(key)
                if (
                    known is None
                    or known["executionArn"] == arn  # the same execution, its status now
                    or execution["startDate"] > known["startDate"]
                ):
                    self.newest[key] = execution
            if len(fresh) < len(page["executions"]):
                break  # newest first: the rest started before this batch
        for key in self.wanted:
            execution = self.newest.get(key)
            if execution is None or execution["status"] not in FINISHED:
                continue
            if self.rows.get(key, {}).get("executionArn") != execution["executionArn"]:
                described = self.client.describe_execution(executionArn=execution["executionArn"])
                self.rows[key] = self.row(key, described)

    def row(self, key: str, described: dict[str, Any]) -> dict[str, Any]:
        cols = self._columns_of(self.columns, described)
        return {
            "key": key,
            "execution": described["name"],
            "executionArn": described["executionArn"],
            "status": described["status"],
            "outcome": cols.get("outcome"),
            "reason": cols.get("reason"),
            "bucket": cols.get("bucket") or self.bucket,
        }

    def counts(self) -> dict[str, int]:
        out = {"succeeded": 0, "quarantined": 0, "failed": 0}
        for key in self.wanted:
            if key in self.rows:
                out[outcome_group(self.rows[key])] += 1
        return out

    @property
    def done(self) -> bool:
        return all(key in self.rows for key in self.wanted)

    def results(self, keys: list[str]) -> list[dict[str, Any]]:
        rows = []
        for key in keys:
            row = self.rows.get(key)
            if row is None:
                execution = self.newest.get(key)
                status = execution["status"] if execution is not None else "NOT FOUND"
                name = execution["name"] if execution is not None else "-"
                row = {"key": key, "execution": name, "status": status, "bucket": self.bucket}
            rows.append(row)
        return rows


def _finished_text(counts: dict[str, int]) -> str:
    return (
        f"finished  [green]{counts['succeeded']} succeeded[/green]  "
        f"[yellow]{counts['quarantined']} quarantined[/yellow]  [red]{counts['failed']} failed[/red]"
    )


def cmd_upload(args: argparse.Namespace) -> int:
    """Upload files into the input bucket (from `.workflows/endpoints.json`), a bounded number at once,
    and follow each to the execution it started. The progress bar counts files sent and executions
    finished (succeeded, quarantined, failed); then one line per file; exit 1 if any execution FAILED."""
    import concurrent.futures

    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TimeElapsedColumn

    path = Path(args.data_dir) / "endpoints.json"
    if not path.exists() and not args.to:
        _stderr().print(f"[red]no {path}: start `workflows dev` first, or give --to s3://bucket/prefix[/red]")
        return 2
    info = json.loads(path.read_text()) if path.exists() else {}
    target = args.to or info.get("input")
    if not target or not target.startswith("s3://"):
        _stderr().print("[red]no input bucket known; give --to s3://bucket/prefix[/red]")
        return 2
    bucket, _, prefix = target[5:].partition("/")
    endpoint = args.endpoint_url or info.get("aws")
    concurrency = max(1, args.concurrency)
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=info.get("region", "us-east-1"),
        config=Config(max_pool_connections=concurrency),
        **({"aws_access_key_id": "local", "aws_secret_access_key": "local"} if endpoint else {}),
    )
    missing = [a for a in args.files if not Path(a).is_file() and not Path(a).is_dir()]
    if missing:
        _stderr().print(f"[red]not a file: {', '.join(missing)}[/red]")
        return 2
    files = [(f, f"{prefix}{name}") for f, name in upload_files(args.files)]
    # Each file in one thread of the pool: a large one still goes in parts, one after another.
    transfer = TransferConfig(use_threads=False)

    def send(item: tuple[Path, str]) -> str:
        f, key = item
        s3.upload_file(str(f), bucket, key, Config=transfer)
        return key

    machine = args.state_machine or info.get("stateMachineArn")
    follow = not args.no_wait and bool(machine)
    follower = None
    started = time.time()
    if follow:
        try:
            client = sfn_client(resolve_endpoint(args.endpoint, args.data_dir))
            follower = ExecutionFollower(client, str(machine), bucket, started)
        except (BotoCoreError, ClientError) as exc:
            print(f"workflows upload: cannot follow the executions: {exc}", file=sys.stderr)
            return 1
    keys: list[str] = []
    errors: dict[str, str] = {}  # key -> why it was not uploaded
    deadline = None
    columns: list[str | ProgressColumn] = [
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with (
        Progress(*columns, console=_stderr()) as bar,
        concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix="upload") as pool,
    ):
        sent_task = bar.add_task("uploaded", total=len(files))
        done_task = bar.add_task(
            _finished_text({"succeeded": 0, "quarantined": 0, "failed": 0}), total=len(files), visible=follow
        )
        pending = {pool.submit(send, item): item for item in files}
        while True:
            # Once a second: each poll lists every execution of the batch, and the server that
            # answers is the one running them.
            finished, _ = concurrent.futures.wait(pending, timeout=POLL_SECONDS)
            for future in finished:
                _, key = pending.pop(future)
                try:
                    keys.append(future.result())
                except (BotoCoreError, ClientError, boto3.exceptions.S3UploadFailedError, OSError) as exc:
                    errors[key] = _upload_error(exc, bucket, endpoint)
                bar.advance(sent_task)
            if follower is not None and keys:
                follower.wanted.update(keys)
                try:
                    follower.poll()
                except (BotoCoreError, ClientError) as exc:
                    print(f"workflows upload: cannot follow the executions: {exc}", file=sys.stderr)
                    follower = None
                    continue
                counts = follower.counts()
                bar.update(done_task, completed=sum(counts.values()), description=_finished_text(counts))
            if pending:
                continue
            if follower is None or follower.done:
                break
            deadline = deadline or time.time() + args.timeout  # from the last upload on
            if time.time() > deadline:
                break
            time.sleep(POLL_SECONDS)
    for message in dict.fromkeys(errors.values()):  # one line per distinct cause, not per file
        print(f"workflows upload: {message}", file=sys.stderr)
    ordered = [key for _, key in files if key not in errors]
    if not follow:
        for key in ordered:
            print(f"s3://{bucket}/{key}")
        return 1 if errors else 0
    if follower is None:
        return 1
    rows = follower.results(ordered)
    seconds = time.time() - started
    counts = {"succeeded": 0, "quarantined": 0, "failed": 0}
    for row in rows:
        if row["status"] in FINISHED:
            counts[outcome_group(row)] += 1
    if args.json:
        print(json.dumps(rows))
    else:
        headers = ["key", "execution", "status", "outcome", "reason", "bucket"]
        print_table(headers, [[str(r.get(h) or "-") for h in headers] for r in rows])
    unfinished = len(rows) - sum(counts.values())
    _stderr().print(
        f"{len(files)} file(s) in {seconds:.1f} s ({len(files) / seconds:.1f}/s): "
        f"{counts['succeeded']} succeeded, {counts['quarantined']} quarantined, {counts['failed']} failed"
        + (f", {unfinished} not finished" if unfinished else "")
        + (f", {len(errors)} not uploaded" if errors else ""),
        highlight=False,
    )
    # Anything but SUCCEEDED fails the command: FAILED, TIMED_OUT, ABORTED, NOT FOUND, and RUNNING
    # still at --timeout.
    return 1 if errors or any(r["status"] != "SUCCEEDED" for r in rows) else 0


def _upload_error(exc: BaseException, bucket: str, endpoint: str | None) -> str:
    text = str(exc)
    where = f" at {endpoint}" if endpoint else ""
    if "NoSuchBucket" in text:
        return f"bucket {bucket} does not exist{where}"
    if "Could not connect" in text:
        return f"cannot reach S3{where}: is `workflows dev` running?"
    return text.splitlines()[0] if text else type(exc).__name__


def definition_dot(document: dict[str, Any]) -> str:
    """The definition as a Graphviz digraph: states, transitions, catches; Map/Parallel as clusters."""
    lines = [
        "digraph workflow {",
        "  rankdir=TB;",
        '  node [shape=box, style=rounded, fontname="sans-serif"];',
    ]
    counter = [0]

    def quote(text: str) -> str:
        return json.dumps(text)

    def machine(doc: dict[str, Any], prefix: str, indent: str) -> str:
        start = f"{prefix}{doc['StartAt']}"
        for name, state in doc.get("States", {}).items():
            node = f"{prefix}{name}"
            kind = state.get("Type", "?")
            if kind in ("Map", "Parallel"):
                counter[0] += 1
                lines.append(f"{indent}subgraph cluster_{counter[0]} {{")
                lines.append(f"{indent}  label={quote(f'{name} ({kind})')};")
                lines.append(f"{indent}  {quote(node)} [label={quote(name)}, shape=oval];")
                inner = (
                    [state["ItemProcessor" if "ItemProcessor" in state else "Iterator"]]
                    if kind == "Map"
                    else state.get("Branches", [])
                )
                for i, sub in enumerate(inner):
                    first = machine(sub, f"{node}/{i}/", indent + "  ")
                    lines.append(f"{indent}  {quote(node)} -> {quote(first)} [style=dotted];")
                lines.append(f"{indent}}}")
            else:
                label = quote(name + "\n" + kind)
                lines.append(f"{indent}{quote(node)} [label={label}];")
            targets = [state.get("Next"), state.get("Default")]
            targets += [c.get("Next") for c in state.get("Choices", [])]
            for target in filter(None, targets):
                lines.append(f"{indent}{quote(node)} -> {quote(prefix + target)};")
            for catcher in state.get("Catch", []):
                label = ",".join(catcher.get("ErrorEquals", []))
                lines.append(
                    f"{indent}{quote(node)} -> {quote(prefix + catcher['Next'])} [style=dashed, label={quote(label)}];"
                )
        return start

    machine(document, "", "  ")
    lines.append("}")
    return "\n".join(lines)


def cmd_graph(args: argparse.Namespace) -> int:
    try:
        document = json.loads(Path(args.definition).read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"workflows graph: cannot read {args.definition}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"workflows graph: {args.definition} is not valid JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(document, dict) or not isinstance(document.get("States"), dict):
        print(f"workflows graph: {args.definition} is not a state machine (no States)", file=sys.stderr)
        return 2
    try:
        print(definition_dot(document))
    except (KeyError, TypeError, AttributeError) as exc:
        print(f"workflows graph: {args.definition}: malformed definition ({exc!r})", file=sys.stderr)
        return 2
    return 0


def add_commands(sub: Any) -> None:
    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--endpoint",
            help=f"Step Functions endpoint (default: from .workflows/endpoints.json or {DEFAULT_ENDPOINT})",
        )
        parser.add_argument("--data-dir", default=".workflows")

    executions = sub.add_parser(
        "executions", help="list executions with what they ran on and their outcome (from input/output)"
    )
    executions.add_argument("state_machine", nargs="?", help="name or ARN (default: all)")
    executions.add_argument(
        "--status", choices=["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]
    )
    executions.add_argument("--key", help="only executions whose key contains this text")
    executions.add_argument("--outcome", help="only executions with this outcome (accepted, review, ...)")
    executions.add_argument("--limit", type=int, default=50)
    executions.add_argument("--json", action="store_true", help="one JSON list of rows")
    common(executions)
    executions.set_defaults(func=cmd_executions)

    history = sub.add_parser("history", help="print an execution's history events")
    history.add_argument("execution", help="the execution's name (as `workflows executions` lists it) or ARN")
    history.add_argument("--state-machine", help="where to look for the name (default: every state machine)")
    history.add_argument("--json", action="store_true", help="raw events as JSON")
    common(history)
    history.set_defaults(func=cmd_history)

    upload = sub.add_parser("upload", help="upload files to the input bucket to start executions")
    upload.add_argument("files", nargs="+", help="files, or directories (their files, keys by path inside)")
    upload.add_argument(
        "--concurrency",
        type=int,
        default=UPLOAD_CONCURRENCY,
        help=f"files sent at once (default {UPLOAD_CONCURRENCY})",
    )
    upload.add_argument("--json", action="store_true", help="print the rows as one JSON list")
    upload.add_argument("--to", help="s3://bucket/prefix (default: the input from .workflows/endpoints.json)")
    upload.add_argument("--endpoint-url", help="S3 endpoint (default: from endpoints.json; real AWS if none)")
    upload.add_argument("--data-dir", default=".workflows")
    upload.add_argument("--no-wait", action="store_true", help="print the S3 URLs; do not follow executions")
    upload.add_argument(
        "--state-machine", help="the state machine the uploads start (default: from endpoints.json)"
    )
    upload.add_argument("--endpoint", help="Step Functions endpoint (default: from endpoints.json)")
    upload.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds to wait for the executions after the last upload",
    )
    upload.set_defaults(func=cmd_upload)

    graph = sub.add_parser("graph", help="print a definition as a Graphviz (DOT) graph")
    graph.add_argument("definition")
    graph.set_defaults(func=cmd_graph)
