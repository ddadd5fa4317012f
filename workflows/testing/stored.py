"""`workflows coverage`: state machine coverage over the executions a data dir's store has recorded
(`workflows serve` / `workflows dev`), read from their stored histories and definitions."""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workflows.asl.definition import Definition, load_definition
from workflows.asl.errors import DefinitionError
from workflows.service.coverage import Coverage, trace_context
from workflows.service.store import Store
from workflows.service.trace import trace_history

__all__ = ["add_commands", "stored_coverage"]

_PAGE = 500


def stored_coverage(
    data_dir: str | Path,
    state_machines: list[str] | None = None,
    substitutions: dict[str, Any] | None = None,
) -> Coverage:
    """Coverage of every state machine (or those named, by name or ARN) from its recorded executions.

    Executions are grouped by the definition they ran (each keeps a snapshot): a state machine whose
    definition changed gets one entry per definition, keyed `name@digest`."""
    store = Store(data_dir)
    try:
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for machine in store.list_resources("sm"):
            name, arn = machine["name"], machine["stateMachineArn"]
            if state_machines and name not in state_machines and arn not in state_machines:
                continue
            for record in _executions(store, arn):
                text = (record.get("machine") or {}).get("definition") or machine["definition"]
                runs.setdefault((name, text), []).append(record)
        names = [name for name, _ in runs]
        coverage = Coverage()
        compiled: dict[str, Definition] = {}
        for (name, text), records in runs.items():
            key = (
                name if names.count(name) == 1 else f"{name}@{hashlib.sha256(text.encode()).hexdigest()[:8]}"
            )
            definition = compiled.get(text)
            if definition is None:
                definition = compiled[text] = _load(text, substitutions)
            for record in records:
                context = trace_context(
                    record["executionArn"],
                    record["name"],
                    record["stateMachineArn"],
                    name,
                    (record.get("machine") or {}).get("roleArn"),
                    record.get("redriveCount", 0),
                )
                events = store.load_events(record["executionArn"])
                coverage.add(key, definition, trace_history(definition, events, context=context))
        return coverage
    finally:
        store.close()


def _executions(store: Store, arn: str) -> Iterator[dict[str, Any]]:
    before: int | None = None
    while True:
        page = store.list_executions(state_machine_arn=arn, before_seq=before, limit=_PAGE)
        yield from page
        if len(page) < _PAGE:
            return
        before = page[-1]["seq"]


def _load(text: str, substitutions: dict[str, Any] | None) -> Definition:
    try:
        return load_definition(text, substitutions)
    except DefinitionError:
        # It ran, so it compiles: an unfilled `${...}` may upset validation, never the structure.
        return load_definition(text, substitutions, validate=False)


def cmd_coverage(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    if not (data_dir / "workflows.db").exists():
        print(
            f"workflows coverage: no store in {data_dir} (run `workflows serve` or `dev` first)",
            file=sys.stderr,
        )
        return 2
    substitutions: dict[str, Any] = {}
    if args.template:
        from workflows.local.template import load_template

        for spec in load_template(args.template).state_machines.values():
            substitutions.update(spec.substitutions)
    coverage = stored_coverage(data_dir, args.state_machine or None, substitutions or None)
    if not coverage:
        print("workflows coverage: no executions recorded", file=sys.stderr)
        return 0 if args.fail_under is None else 1
    title = f"State machine coverage of the executions in {data_dir}"
    sys.stdout.write(
        coverage.table(color=sys.stdout.isatty(), show_missing=not args.skip_missing, title=title)
    )
    if args.json:
        print(f"JSON written to {coverage.write_json(args.json)}")
    if args.html:
        print(f"HTML written to {coverage.write_html(args.html)}")
    if args.fail_under is not None and coverage.percent() < args.fail_under:
        print(f"FAIL coverage {coverage.percent():.2f}% is below {args.fail_under:g}%", file=sys.stderr)
        return 1
    return 0


def add_commands(sub: Any) -> None:
    parser = sub.add_parser(
        "coverage",
        help="states and transitions covered by the executions recorded in a data dir",
        description=__doc__,
    )
    parser.add_argument("state_machine", nargs="*", help="names or ARNs (default: every state machine)")
    parser.add_argument("--data-dir", default=".workflows")
    parser.add_argument("--json", metavar="FILE", help="write the coverage JSON here")
    parser.add_argument("--html", metavar="DIR", help="write an HTML report into this directory")
    parser.add_argument("--template", help="a SAM template whose DefinitionSubstitutions to apply")
    parser.add_argument("--fail-under", type=float, metavar="PERCENT", help="exit 1 below this coverage")
    parser.add_argument("--skip-missing", action="store_true", help="the table only, without what was missed")
    parser.set_defaults(func=cmd_coverage)
