"""Coverage of state machine definitions: which states were entered and which transitions were taken
(each Next and Default, each Choice rule, each Catch, each Retry), gathered from traced executions,
merged across processes, and reported as a terminal table, JSON and HTML.

A definition's *items* are its states and its edges, nested Map and Parallel states included. An edge
is keyed as `from`, `to`, `kind` (next, default, choice, catch, retry) and `index` (the rule, catcher
or retrier; null for next and default): the same key a graph of the definition can colour its edges by.
States inside a Distributed Map run as child executions whose events are not in the parent's history:
they are listed with `observable: false` and left out of the percentages.

The pytest plugin (`--sfn-cov`), `workflows coverage` over a data dir and the console's coverage
overlay all count with this module: a `Tally` of each execution (read with
`workflows.service.trace.trace_history`, given `trace_context`) added to a `DefinitionCoverage`.
"""

from __future__ import annotations

import fnmatch
import html
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflows.asl.definition import Definition, StateMachine
from workflows.service.trace import Trace, Transition

__all__ = ["KINDS", "Coverage", "DefinitionCoverage", "Tally", "structure", "trace_context"]

# Edge kinds in the order reports show them.
KINDS = ("next", "default", "choice", "catch", "retry")
FORMAT_VERSION = 1


def structure(definition: Definition | StateMachine) -> tuple[list[dict[str, Any]], list[Transition]]:
    """Every state (name, type, parent state and branch, observable) and every edge of a definition."""
    machine = definition.machine if isinstance(definition, Definition) else definition
    states: list[dict[str, Any]] = []
    edges: list[Transition] = []
    _walk(machine, None, None, True, states, edges)
    return states, edges


def _walk(
    machine: StateMachine,
    parent: str | None,
    branch: int | None,
    observable: bool,
    states: list[dict[str, Any]],
    edges: list[Transition],
) -> None:
    for name, state in machine.states.items():
        states.append(
            {"name": name, "type": state.type, "parent": parent, "branch": branch, "observable": observable}
        )
        if state.type == "Choice":
            edges.extend(Transition(name, rule.next, "choice", i) for i, rule in enumerate(state.choices))
            if state.default is not None:
                edges.append(Transition(name, state.default, "default"))
        elif state.next is not None:
            edges.append(Transition(name, state.next, "next"))
        edges.extend(Transition(name, name, "retry", i) for i in range(len(state.retry)))
        edges.extend(Transition(name, c.next, "catch", i) for i, c in enumerate(state.catch))
        for i, sub in enumerate(state.branches):
            _walk(sub, name, i, observable, states, edges)
        if state.processor is not None:
            inline = state.processor.processor_mode != "DISTRIBUTED"
            _walk(state.processor, name, None, observable and inline, states, edges)


def trace_context(
    execution_arn: str,
    name: str,
    state_machine_arn: str,
    state_machine_name: str,
    role_arn: str | None = None,
    redrive_count: int = 0,
) -> dict[str, Any]:
    """The context object's Execution and StateMachine parts of a recorded execution, for
    `trace_history` (Choice rules that read `$$` are evaluated again with them)."""
    return {
        "Execution": {
            "Id": execution_arn,
            "Name": name,
            "RoleArn": role_arn or "",
            "RedriveCount": redrive_count,
        },
        "StateMachine": {"Id": state_machine_arn, "Name": state_machine_name},
    }


@dataclass(frozen=True)
class Tally:
    """What one execution counts for: the states it entered (once per entry) and the transitions it
    took, without the payloads a Trace keeps (small enough to keep for many executions)."""

    states: tuple[str, ...]
    transitions: tuple[Transition, ...]
    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, trace: Trace) -> Tally:
        return cls(tuple(step.name for step in trace.steps), tuple(trace.transitions()), tuple(trace.notes))


def _edge_key(edge: Transition) -> str:
    return f"{edge.source}\x1f{edge.kind}\x1f{'' if edge.index is None else edge.index}\x1f{edge.target}"


@dataclass
class DefinitionCoverage:
    """What one definition's executions covered: hits per state and per edge."""

    key: str
    states: list[dict[str, Any]]
    edges: list[Transition]
    state_hits: dict[str, int] = field(default_factory=dict)
    edge_hits: dict[str, int] = field(default_factory=dict)
    executions: int = 0
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, key: str, definition: Definition) -> DefinitionCoverage:
        states, edges = structure(definition)
        return cls(key, states, edges)

    def add(self, trace: Trace | Tally) -> None:
        tally = trace if isinstance(trace, Tally) else Tally.of(trace)
        self.executions += 1
        for name in tally.states:
            self.state_hits[name] = self.state_hits.get(name, 0) + 1
        for edge in tally.transitions:
            key = _edge_key(edge)
            self.edge_hits[key] = self.edge_hits.get(key, 0) + 1
        for note in tally.notes:
            if note not in self.notes and len(self.notes) < 100:
                self.notes.append(note)

    def merge(self, other: DefinitionCoverage) -> None:
        known = {_edge_key(e) for e in self.edges}
        self.edges.extend(e for e in other.edges if _edge_key(e) not in known)
        names = {s["name"] for s in self.states}
        self.states.extend(s for s in other.states if s["name"] not in names)
        for name, n in other.state_hits.items():
            self.state_hits[name] = self.state_hits.get(name, 0) + n
        for key, n in other.edge_hits.items():
            self.edge_hits[key] = self.edge_hits.get(key, 0) + n
        self.executions += other.executions
        self.notes.extend(n for n in other.notes if n not in self.notes)

    # ----- figures -----

    def _observable_edges(self) -> list[Transition]:
        hidden = {s["name"] for s in self.states if not s["observable"]}
        return [e for e in self.edges if e.source not in hidden]

    def counts(self) -> dict[str, tuple[int, int]]:
        """(covered, total) for states and for each edge kind, observable items only."""
        out: dict[str, tuple[int, int]] = {}
        visible = [s for s in self.states if s["observable"]]
        out["states"] = (sum(1 for s in visible if self.state_hits.get(s["name"])), len(visible))
        edges = self._observable_edges()
        for kind in KINDS:
            of_kind = [e for e in edges if e.kind == kind]
            out[kind] = (sum(1 for e in of_kind if self.edge_hits.get(_edge_key(e))), len(of_kind))
        return out

    def percent(self) -> float:
        covered = total = 0
        for c, t in self.counts().values():
            covered += c
            total += t
        return 100.0 * covered / total if total else 100.0

    def missing(self) -> tuple[list[str], list[Transition]]:
        """States never entered, and edges never taken (observable ones), in definition order."""
        states = [s["name"] for s in self.states if s["observable"] and not self.state_hits.get(s["name"])]
        edges = [e for e in self._observable_edges() if not self.edge_hits.get(_edge_key(e))]
        return states, edges

    def to_json(self) -> dict[str, Any]:
        counts = self.counts()
        visible = {_edge_key(e) for e in self._observable_edges()}
        return {
            "definition": self.key,
            "executions": self.executions,
            "percent": round(self.percent(), 2),
            "summary": {k: {"covered": c, "total": t} for k, (c, t) in counts.items()},
            "states": [
                {
                    **s,
                    "covered": bool(self.state_hits.get(s["name"])),
                    "hits": self.state_hits.get(s["name"], 0),
                }
                for s in self.states
            ],
            "edges": [
                {
                    **e.to_json(),
                    "observable": _edge_key(e) in visible,
                    "covered": bool(self.edge_hits.get(_edge_key(e))),
                    "hits": self.edge_hits.get(_edge_key(e), 0),
                }
                for e in self.edges
            ],
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DefinitionCoverage:
        states = [
            {k: s[k] for k in ("name", "type", "parent", "branch", "observable")} for s in data["states"]
        ]
        edges = [Transition(e["from"], e["to"], e["kind"], e["index"]) for e in data["edges"]]
        out = cls(str(data["definition"]), states, edges, executions=int(data.get("executions", 0)))
        out.state_hits = {s["name"]: int(s["hits"]) for s in data["states"] if s.get("hits")}
        out.edge_hits = {
            _edge_key(edge): int(e["hits"])
            for edge, e in zip(edges, data["edges"], strict=True)
            if e.get("hits")
        }
        out.notes = list(data.get("notes", []))
        return out


class Coverage:
    """Coverage of every definition seen, by key (a path relative to the project, or a name); with
    `include` patterns (fnmatch), of the definitions whose key matches one of them only."""

    def __init__(self, include: Iterable[str] = ()) -> None:
        self.definitions: dict[str, DefinitionCoverage] = {}
        self.include = tuple(include)

    def add(self, key: str, definition: Definition, trace: Trace) -> None:
        if self.include and not any(fnmatch.fnmatchcase(key, pattern) for pattern in self.include):
            return
        entry = self.definitions.get(key)
        if entry is None:
            entry = self.definitions[key] = DefinitionCoverage.of(key, definition)
        entry.add(trace)

    def merge(self, other: Coverage) -> None:
        for key, entry in other.definitions.items():
            mine = self.definitions.get(key)
            if mine is None:
                self.definitions[key] = entry
            else:
                mine.merge(entry)

    def __bool__(self) -> bool:
        return bool(self.definitions)

    def percent(self) -> float:
        """All definitions together: covered items over observable items."""
        covered = total = 0
        for entry in self.definitions.values():
            for c, t in entry.counts().values():
                covered += c
                total += t
        return 100.0 * covered / total if total else 100.0

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "percent": round(self.percent(), 2),
            "definitions": [self.definitions[k].to_json() for k in sorted(self.definitions)],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Coverage:
        out = cls()
        for item in data.get("definitions", []):
            entry = DefinitionCoverage.from_json(item)
            out.definitions[entry.key] = entry
        return out

    # ----- reports -----

    def table(
        self, *, color: bool = False, width: int = 120, show_missing: bool = True, title: str | None = None
    ) -> str:
        """The terminal report: one row per definition, then what each left uncovered (the edges out
        of states never entered are implied by those states, and not listed)."""
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("definition", overflow="fold")
        table.add_column("runs", justify="right")
        table.add_column("states", justify="right")
        for kind in KINDS:
            table.add_column(kind, justify="right")
        table.add_column("cover", justify="right")
        for key in sorted(self.definitions):
            entry = self.definitions[key]
            counts = entry.counts()
            cells = [_fraction(*counts["states"]), *(_fraction(*counts[k]) for k in KINDS)]
            table.add_row(key, str(entry.executions), *cells, f"{entry.percent():.1f}%")
        if len(self.definitions) > 1:
            table.add_section()
            table.add_row("TOTAL", "", *([""] * (len(KINDS) + 1)), f"{self.percent():.1f}%")
        buffer = io.StringIO()
        console = Console(file=buffer, force_terminal=color, no_color=not color, width=width, highlight=False)
        console.print(table)
        if show_missing:
            for key in sorted(self.definitions):
                entry = self.definitions[key]
                states, edges = entry.missing()
                unentered = set(states)
                by_state: dict[str, list[str]] = {}
                for edge in edges:
                    if edge.source not in unentered:
                        by_state.setdefault(edge.source, []).append(
                            edge.label().removeprefix(edge.source + " ")
                        )
                if states or by_state:
                    console.print(f"{key} missing:", markup=False)
                if states:
                    console.print("  not entered: " + ", ".join(states), markup=False)
                for source, labels in by_state.items():
                    console.print(f"  not taken:   {source} " + ", ".join(labels), markup=False)
                for note in entry.notes:
                    console.print(f"  note: {note}", markup=False)
        return buffer.getvalue()

    def write_json(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return target

    def write_html(self, directory: str | Path) -> Path:
        """index.html: a summary, then each definition's states and edges, covered or not."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        index = target / "index.html"
        index.write_text(_html(self))
        return index


def _fraction(covered: int, total: int) -> str:
    return f"{covered}/{total}" if total else "-"


def _html(coverage: Coverage) -> str:
    esc = html.escape
    rows = []
    for key in sorted(coverage.definitions):
        entry = coverage.definitions[key]
        counts = entry.counts()
        cells = "".join(f"<td>{_fraction(*counts[k])}</td>" for k in ("states", *KINDS))
        rows.append(
            f'<tr><td><a href="#{esc(_anchor(key))}">{esc(key)}</a></td><td>{entry.executions}</td>'
            f"{cells}<td>{entry.percent():.1f}%</td></tr>"
        )
    head = "".join(f"<th>{k}</th>" for k in ("definition", "runs", "states", *KINDS, "cover"))
    sections = [_html_definition(coverage.definitions[k]) for k in sorted(coverage.definitions)]
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>State machine coverage</title>"
        f"<style>{_CSS}</style></head><body><h1>State machine coverage</h1>"
        f"<p>All definitions: {coverage.percent():.1f}% of states and transitions.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"{''.join(sections)}</body></html>\n"
    )


def _html_definition(entry: DefinitionCoverage) -> str:
    esc = html.escape
    data = entry.to_json()
    state_rows = []
    for s in data["states"]:
        where = (
            ""
            if s["parent"] is None
            else esc(s["parent"]) + ("" if s["branch"] is None else f" [{s['branch']}]")
        )
        status = _status(s["covered"], s["observable"])
        state_rows.append(
            f'<tr class="{status}"><td>{esc(s["name"])}</td><td>{esc(s["type"])}</td><td>{where}</td>'
            f"<td>{s['hits']}</td></tr>"
        )
    edge_rows = []
    for e in data["edges"]:
        status = _status(e["covered"], e["observable"])
        index = "" if e["index"] is None else str(e["index"])
        edge_rows.append(
            f'<tr class="{status}"><td>{esc(e["from"])}</td><td>{esc(e["kind"])}</td><td>{index}</td>'
            f"<td>{esc(e['to'])}</td><td>{e['hits']}</td></tr>"
        )
    notes = "".join(f"<li>{esc(n)}</li>" for n in entry.notes)
    return (
        f'<h2 id="{esc(_anchor(entry.key))}">{esc(entry.key)}: {entry.percent():.1f}%</h2>'
        f"<p>{entry.executions} executions.</p>"
        "<h3>States</h3><table><thead><tr><th>state</th><th>type</th><th>inside</th><th>entered</th></tr></thead>"
        f"<tbody>{''.join(state_rows)}</tbody></table>"
        "<h3>Transitions</h3><table><thead><tr><th>from</th><th>kind</th><th>index</th><th>to</th><th>taken</th>"
        f"</tr></thead><tbody>{''.join(edge_rows)}</tbody></table>"
        + (f"<h3>Notes</h3><ul>{notes}</ul>" if notes else "")
    )


def _status(covered: bool, observable: bool) -> str:
    if not observable:
        return "hidden"
    return "covered" if covered else "missed"


def _anchor(key: str) -> str:
    return "def-" + "".join(c if c.isalnum() else "-" for c in key)


_CSS = (
    "body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}tr.covered td{background:#e6f4ea}"
    "tr.missed td{background:#fce8e6}tr.hidden td{color:#888}"
)


def merged(parts: Iterable[Mapping[str, Any]]) -> Coverage:
    """One Coverage from several `to_json()` documents (one per pytest-xdist worker, say)."""
    out = Coverage()
    for part in parts:
        out.merge(Coverage.from_json(part))
    return out
