"""Client commands over the Step Functions API: `workflows executions`, `history`, `graph`."""

from __future__ import annotations

import argparse
import json
import os
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

    # Local credentials are placeholders: the engine on 127.0.0.1 does not check signatures.
    return boto3.client(
        "stepfunctions",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
    )


def _machines(client: Any, name_or_arn: str | None) -> list[dict[str, Any]]:
    machines = [
        m for page in client.get_paginator("list_state_machines").paginate() for m in page["stateMachines"]
    ]
    if name_or_arn:
        machines = [m for m in machines if name_or_arn in (m["name"], m["stateMachineArn"])]
    return machines


def cmd_executions(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    client = sfn_client(resolve_endpoint(args.endpoint, args.data_dir))
    table = Table("state machine", "execution", "status", "started", "stopped")
    for machine in _machines(client, args.state_machine):
        kwargs: dict[str, Any] = {"stateMachineArn": machine["stateMachineArn"], "maxResults": args.limit}
        if args.status:
            kwargs["statusFilter"] = args.status
        for execution in client.list_executions(**kwargs)["executions"]:
            table.add_row(
                machine["name"],
                execution["name"],
                execution["status"],
                str(execution["startDate"]),
                str(execution.get("stopDate", "")),
            )
    Console().print(table)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    client = sfn_client(resolve_endpoint(args.endpoint, args.data_dir))
    events = [
        event
        for page in client.get_paginator("get_execution_history").paginate(executionArn=args.execution_arn)
        for event in page["events"]
    ]
    if args.json:
        print(json.dumps(events, default=str, indent=2))
        return 0
    table = Table("id", "prev", "type", "details")
    for event in events:
        details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
        table.add_row(
            str(event["id"]), str(event["previousEventId"]), event["type"], json.dumps(details)[:120]
        )
    Console().print(table)
    return 0


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
    document = json.loads(Path(args.definition).read_text())
    print(definition_dot(document))
    return 0


def add_commands(sub: Any) -> None:
    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--endpoint",
            help=f"Step Functions endpoint (default: from .workflows/endpoints.json or {DEFAULT_ENDPOINT})",
        )
        parser.add_argument("--data-dir", default=".workflows")

    executions = sub.add_parser("executions", help="list executions through the Step Functions API")
    executions.add_argument("state_machine", nargs="?", help="name or ARN (default: all)")
    executions.add_argument(
        "--status", choices=["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]
    )
    executions.add_argument("--limit", type=int, default=50)
    common(executions)
    executions.set_defaults(func=cmd_executions)

    history = sub.add_parser("history", help="print an execution's history events")
    history.add_argument("execution_arn")
    history.add_argument("--json", action="store_true", help="raw events as JSON")
    common(history)
    history.set_defaults(func=cmd_history)

    graph = sub.add_parser("graph", help="print a definition as a Graphviz (DOT) graph")
    graph.add_argument("definition")
    graph.set_defaults(func=cmd_graph)
