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


def cmd_upload(args: argparse.Namespace) -> int:
    """Upload files into the input bucket (from `.workflows/endpoints.json`) with a progress bar, then
    follow each to the execution it started: one line per file, exit 1 if any execution FAILED."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

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
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=info.get("region", "us-east-1"),
        **({"aws_access_key_id": "local", "aws_secret_access_key": "local"} if endpoint else {}),
    )
    files = [Path(f) for f in args.files]
    missing = [f for f in files if not f.is_file()]
    if missing:
        _stderr().print(f"[red]not a file: {', '.join(map(str, missing))}[/red]")
        return 2
    started = time.time()
    keys: list[str] = []
    try:
        with Progress(
            "{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=_stderr()
        ) as bar:
            for f in files:
                task = bar.add_task(f.name, total=f.stat().st_size)
                key = f"{prefix}{f.name}"
                s3.upload_file(str(f), bucket, key, Callback=lambda n, task=task: bar.advance(task, n))
                keys.append(key)
    except (BotoCoreError, ClientError, boto3.exceptions.S3UploadFailedError) as exc:
        print(f"workflows upload: {_upload_error(exc, bucket, endpoint)}", file=sys.stderr)
        return 1
    machine = args.state_machine or info.get("stateMachineArn")
    if args.no_wait or not machine:
        for key in keys:
            print(f"s3://{bucket}/{key}")
        return 0
    client = sfn_client(resolve_endpoint(args.endpoint, args.data_dir))
    try:
        rows = follow_uploads(client, machine, bucket, keys, started, args.timeout)
    except (BotoCoreError, ClientError, CommandError) as exc:
        print(f"workflows upload: uploaded, but cannot follow the executions: {exc}", file=sys.stderr)
        return 1
    headers = ["key", "execution", "status", "outcome", "reason", "bucket"]
    print_table(headers, [[str(r.get(h) or "-") for h in headers] for r in rows])
    return 1 if any(r["status"] in ("FAILED", "TIMED_OUT", "ABORTED", "NOT FOUND") for r in rows) else 0


def _upload_error(exc: BaseException, bucket: str, endpoint: str | None) -> str:
    text = str(exc)
    where = f" at {endpoint}" if endpoint else ""
    if "NoSuchBucket" in text:
        return f"bucket {bucket} does not exist{where}"
    if "Could not connect" in text:
        return f"cannot reach S3{where}: is `workflows dev` running?"
    return text.splitlines()[0] if text else type(exc).__name__


def follow_uploads(
    client: Any, machine: str, bucket: str, keys: list[str], since: float, timeout: float
) -> list[dict[str, Any]]:
    """Each uploaded key's execution (the newest started on that bucket and key since the upload
    began) followed to its end, with the columns the list shows: outcome and reason."""
    from workflows.service.console_data import execution_columns

    columns = list_columns(client, machine)
    found: dict[str, dict[str, Any]] = {}  # key -> its newest execution, described
    checked: set[str] = set()
    deadline = time.time() + timeout
    with _stderr().status(f"following {len(keys)} upload(s) to their executions"):
        while True:
            for page in client.get_paginator("list_executions").paginate(stateMachineArn=machine):
                fresh = [e for e in page["executions"] if e["startDate"].timestamp() >= since - 2]
                for execution in fresh:
                    if execution["executionArn"] in checked:
                        continue
                    checked.add(execution["executionArn"])
                    described = client.describe_execution(executionArn=execution["executionArn"])
                    cols = execution_columns(columns, described)
                    key = str(cols.get("key"))
                    ours = key in keys and cols.get("bucket") in (None, bucket)
                    if ours and (key not in found or described["startDate"] > found[key]["startDate"]):
                        found[key] = described
                if len(fresh) < len(page["executions"]):
                    break  # newest first: the rest started before these uploads
            for key, described in list(found.items()):
                if described["status"] == "RUNNING":
                    found[key] = client.describe_execution(executionArn=described["executionArn"])
            if all(k in found and found[k]["status"] != "RUNNING" for k in keys) or time.time() > deadline:
                break
            time.sleep(0.2)
    rows: list[dict[str, Any]] = []
    for key in keys:
        described = found.get(key)
        if described is None:
            rows.append({"key": key, "execution": "-", "status": "NOT FOUND", "bucket": bucket})
            continue
        cols = execution_columns(columns, described)
        rows.append(
            {
                "key": key,
                "execution": described["name"],
                "status": described["status"],
                "outcome": cols.get("outcome"),
                "reason": cols.get("reason"),
                "bucket": cols.get("bucket") or bucket,
            }
        )
    return rows


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
    upload.add_argument("files", nargs="+")
    upload.add_argument("--to", help="s3://bucket/prefix (default: the input from .workflows/endpoints.json)")
    upload.add_argument("--endpoint-url", help="S3 endpoint (default: from endpoints.json; real AWS if none)")
    upload.add_argument("--data-dir", default=".workflows")
    upload.add_argument("--no-wait", action="store_true", help="print the S3 URLs; do not follow executions")
    upload.add_argument(
        "--state-machine", help="the state machine the uploads start (default: from endpoints.json)"
    )
    upload.add_argument("--endpoint", help="Step Functions endpoint (default: from endpoints.json)")
    upload.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the executions")
    upload.set_defaults(func=cmd_upload)

    graph = sub.add_parser("graph", help="print a definition as a Graphviz (DOT) graph")
    graph.add_argument("definition")
    graph.set_defaults(func=cmd_graph)
