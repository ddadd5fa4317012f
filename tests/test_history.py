"""Histories as AWS's GetExecutionHistory recorded them: event types, ids, previousEventId, detail
fields, and payloads. Cases whose history still differs are listed by id and the list only shrinks."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conformance import ACCOUNT, SNAPSHOT_PLACEHOLDERS, CaseResolver, matches, selected_cases
from workflows.asl.definition import load_definition
from workflows.engine.clock import FakeClock
from workflows.engine.resolvers import ChainResolver
from workflows.engine.runner import execution_info, run_async

KNOWN = {
    line.strip()
    for line in (Path(__file__).parent / "history_known_differences.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
}
CASES = [c for c in selected_cases() if c["history"]]


def _payload(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def history_of(case: dict[str, Any]) -> list[dict[str, Any]]:
    clock = FakeClock()
    info = execution_info(
        "StateMachine-conformance", "execution-conformance", start_time=clock.now(), account=ACCOUNT
    )
    run = asyncio.run(
        run_async(
            load_definition(case["definition"]),
            case["input"],
            resolver=ChainResolver(CaseResolver(case, clock)),
            clock=clock,
            info=info,
        )
    )
    return [event.to_api() for event in run.events]


def _rewritten(recorded: Any, actual: Any) -> set[str]:
    """Strings of the recorded value where the actual value, at the same place, differs."""
    if isinstance(recorded, str) and isinstance(actual, str):
        return {recorded} if recorded != actual else set()
    if isinstance(recorded, dict) and isinstance(actual, dict):
        return set().union(*(_rewritten(v, actual[k]) for k, v in recorded.items() if k in actual))
    if isinstance(recorded, list) and isinstance(actual, list):
        return set().union(*(_rewritten(r, a) for r, a in zip(recorded, actual, strict=False)))
    return set()


# Links AWS has changed: (event type, the type it used to link to, recordings before this date).
# A Distributed Map's MapStateExited linked to MapRunSucceeded; since November 2024 to MapRunStarted.
AWS_LINK_CHANGES = {("MapStateExited", "MapRunSucceeded"): (2024, 11, 1)}


# AWS added `RedriveCount` to the context object's Execution when it launched redrive (November 2023).
REDRIVE_LAUNCHED = (2023, 11, 15)


def _without_redrive_count(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_redrive_count(v)
            for k, v in value.items()
            if not (k == "RedriveCount" and "RoleArn" in value)  # the context object's Execution
        }
    if isinstance(value, list):
        return [_without_redrive_count(v) for v in value]
    return value


def _recorded_on(case: dict[str, Any]) -> tuple[int, int, int]:
    day, month, year = case.get("recorded_date", "01-01-2100").split(",")[0].split("-")
    return int(year), int(month), int(day)


def _earlier_aws_link(
    case: dict[str, Any], recorded: list[dict[str, Any]], exp: dict[str, Any], got: dict[str, Any]
) -> bool:
    """The recording shows how AWS linked this event before a change it has since made."""
    by_id = {e["id"]: e for e in recorded if isinstance(e["id"], int)}
    linked = by_id.get(exp["previousEventId"], {}).get("type")
    until = AWS_LINK_CHANGES.get((exp["type"], linked))
    return until is not None and _recorded_on(case) < until and exp["id"] == got["id"]


def _event_key(event: dict[str, Any]) -> str:
    details = next((v for k, v in event.items() if k.endswith("EventDetails")), {}) or {}
    content = {k: _payload(v) for k, v in details.items()}
    return f"{event['type']}|{details.get('name', '')}|{json.dumps(content, sort_keys=True)}"


def _canonical_runs(
    events: list[dict[str, Any]], like: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Sort each run of placeholder-id events (the recording's) by type and state name; `like`
    applies the recording's runs to our events, position for position."""
    template = like if like is not None else events
    out = list(events)
    i = 0
    while i < len(template):
        if isinstance(template[i]["id"], int):
            i += 1
            continue
        j = i
        while j < len(template) and not isinstance(template[j]["id"], int):
            j += 1
        out[i:j] = sorted(out[i:j], key=_event_key)
        i = j
    return out


def difference(case: dict[str, Any], ours: list[dict[str, Any]]) -> str | None:
    recorded = case["history"]
    # Snapshot placeholders (`<...>`) stand for generated values wherever they appear.
    tokens = [*case.get("placeholder_tokens", []), *SNAPSHOT_PLACEHOLDERS, "snf_role_arn"]
    tokens += sorted(set(re.findall(r"<[^<>\s]+>", json.dumps(recorded))))
    # Values the recording rewrote in the execution's input (a generated name, a timestamp) stand for
    # whatever the case actually ran with, wherever they appear.
    if recorded and recorded[0]["type"] == "ExecutionStarted":
        started = _payload(recorded[0]["executionStartedEventDetails"].get("input"))
        tokens += sorted(_rewritten(started, case["input"]))
    # Where the recording's own ids skip a number, it left that event out (its snapshot dropped it):
    # ours at that id is not compared.
    recorded_ids = {e["id"] for e in recorded if isinstance(e["id"], int)}
    numbered = [e["id"] for e in recorded if isinstance(e["id"], int)]
    if numbered:
        gaps = set(range(1, max(numbered) + 1)) - recorded_ids
        placeholders = sum(1 for e in recorded if not isinstance(e["id"], int))
        if len(gaps) > placeholders:
            dropped = sorted(gaps)[placeholders:]
            ours = [e for e in ours if e["id"] not in dropped]
    # Events of concurrent branches carry no id in the recording, and their recorded order is the
    # snapshot's, not AWS's: within each such run, events are compared in one canonical order.
    recorded, ours = _canonical_runs(recorded), _canonical_runs(ours, like=recorded)
    for i, (exp, got) in enumerate(zip(recorded, ours, strict=False)):
        where = f"event {i + 1} ({exp['type']})"
        if exp["type"] != got["type"]:
            return f"{where}: type {got['type']}"
        if (
            isinstance(exp["id"], int)
            and (exp["id"], exp["previousEventId"])
            != (
                got["id"],
                got["previousEventId"],
            )
            and not _earlier_aws_link(case, recorded, exp, got)
        ):
            return f"{where}: id/previous {got['id']}/{got['previousEventId']} != {exp['id']}/{exp['previousEventId']}"
        for key, details in exp.items():
            if not key.endswith("EventDetails"):
                continue
            mine = got.get(key)
            if mine is None or set(details) != set(mine):
                return f"{where}: {key} fields {sorted(mine or {})} != {sorted(details)}"
            for field in ("input", "output", "error", "cause", "name", "index", "length"):
                expected = _payload(details.get(field))
                if (
                    exp["type"] == "ExecutionStarted"
                    and field == "input"
                    and not matches(expected, case["input"], tokens)
                ):
                    expected = case[
                        "input"
                    ]  # the recording rewrote generated names in it; compare with what ran
                actual = _payload(mine.get(field))
                if _recorded_on(case) < REDRIVE_LAUNCHED:
                    actual = _without_redrive_count(actual)
                if details.get(field) == f"{key}.{field}":
                    continue  # the snapshot kept only the field's name here, not its value
                if field in details and not matches(expected, actual, tokens):
                    return f"{where}: {key}.{field} {str(mine[field])[:200]} != {str(details[field])[:200]}"
    if len(recorded) != len(ours):
        return f"{len(ours)} events != {len(recorded)}"
    return None


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_history_matches_aws(case: dict[str, Any]) -> None:
    problem = difference(case, history_of(case))
    if case["id"] in KNOWN:
        if problem is None:
            pytest.fail("matches now: remove it from tests/history_known_differences.txt")
        pytest.xfail(problem)
    assert problem is None, problem


def test_a_different_cause_is_a_difference() -> None:
    """Causes are compared by value like errors (144 recorded events hold one), not only by field name."""
    case = next(c for c in CASES if c["id"].endswith("test_assign_in_choice[CONDITION_FALSE]"))
    ours = history_of(case)
    assert difference(case, ours) is None
    failed = next(e for e in ours if e["type"] == "ExecutionFailed")
    failed["executionFailedEventDetails"]["cause"] = "something else"
    assert difference(case, ours) == (
        f"event {len(ours)} (ExecutionFailed): executionFailedEventDetails.cause something else"
        " != Condition is false"
    )
