"""Coverage read from history: which Choice rule, Catch and Retry each transition was, when history
does not say (rules sharing a target, a Catch and a Next to the same state, retried Map and Parallel
states); every history AWS recorded read back without a gap; `workflows coverage` over a data dir."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conformance import all_cases
from workflows import cli
from workflows.asl.definition import load_definition
from workflows.engine.resolvers import CallableResolver
from workflows.service.coverage import Coverage, DefinitionCoverage, structure
from workflows.service.service import StepFunctionsService
from workflows.service.store import Store
from workflows.service.trace import Transition, trace_history
from workflows.testing.runner import StateMachineRunner

ROLE = "arn:aws:iam::123456789012:role/r"


def taken(sfn: StateMachineRunner, definition: dict[str, Any], value: Any, **options: Any) -> list[str]:
    return [t.label() for t in sfn.run(definition, value, **options).transitions]


def test_choice_rules_sharing_a_target_are_told_apart_by_evaluating_them_again(
    sfn: StateMachineRunner,
) -> None:
    definition = {
        "StartAt": "Threshold",
        "States": {
            "Threshold": {"Type": "Pass", "Assign": {"limit": 100}, "Next": "Size"},
            "Size": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.n", "NumericGreaterThanPath": "$limit", "Next": "Big"},
                    {"Variable": "$.vip", "BooleanEquals": True, "Next": "Big"},
                    {"Variable": "$$.Execution.Name", "StringEquals": "special", "Next": "Big"},
                ],
                "Default": "Big",
            },
            "Big": {"Type": "Succeed"},
        },
    }
    assert "Size Choices[0] -> Big" in taken(sfn, definition, {"n": 500, "vip": True})
    assert "Size Choices[1] -> Big" in taken(sfn, definition, {"n": 5, "vip": True})  # reads a variable
    assert "Size Choices[2] -> Big" in taken(sfn, definition, {"n": 5, "vip": False}, name="special")
    assert "Size default -> Big" in taken(sfn, definition, {"n": 5, "vip": False})


def test_jsonata_choice_rules_sharing_a_target(sfn: StateMachineRunner) -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Size",
        "States": {
            "Size": {
                "Type": "Choice",
                "Choices": [
                    {"Condition": "{% $states.input.n > 10 %}", "Next": "Done"},
                    {"Condition": "{% $states.input.n < 0 %}", "Next": "Done"},
                ],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    assert taken(sfn, definition, {"n": -1}) == ["Size Choices[1] -> Done"]
    assert taken(sfn, definition, {"n": 50}) == ["Size Choices[0] -> Done"]
    assert taken(sfn, definition, {"n": 5}) == ["Size default -> Done"]


CATCH_AND_NEXT = {
    "StartAt": "Alert",
    "States": {
        "Alert": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {"Message": "x"},
            "ResultPath": None,
            "Retry": [
                {"ErrorEquals": ["Throttled"], "MaxAttempts": 3, "IntervalSeconds": 1},
                {"ErrorEquals": ["States.ALL"], "MaxAttempts": 1, "IntervalSeconds": 1},
            ],
            "Catch": [
                {"ErrorEquals": ["Denied"], "ResultPath": None, "Next": "Failed"},
                {"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Failed"},
            ],
            "Next": "Failed",
        },
        "Failed": {"Type": "Fail", "Error": "Done"},
    },
}


def test_a_catch_and_a_next_to_the_same_state_are_told_apart_by_the_error(sfn: StateMachineRunner) -> None:
    publish = {"arn:aws:states:::sns:publish": lambda params: {"MessageId": "1"}}
    assert taken(sfn, CATCH_AND_NEXT, {}, handlers=publish) == ["Alert next -> Failed"]
    sfn.fail("Alert", "Denied")
    # Retry[1] (States.ALL) takes the first Denied; the second is caught by Catch[0], not Catch[1].
    assert taken(sfn, CATCH_AND_NEXT, {}) == ["Alert Retry[1] -> Alert", "Alert Catch[0] -> Failed"]
    sfn.faults.clear()
    sfn.fail("Alert", "Throttled", attempts=[0, 1]).fail("Alert", "Boom", attempts=[2, 3])
    assert taken(sfn, CATCH_AND_NEXT, {}) == [
        "Alert Retry[0] -> Alert",
        "Alert Retry[0] -> Alert",
        "Alert Retry[1] -> Alert",
        "Alert Catch[1] -> Failed",
    ]


def test_retried_and_caught_map_and_parallel_states(sfn: StateMachineRunner) -> None:
    flaky = {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:w",
                "End": True,
            }
        },
    }
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [flaky, {"StartAt": "Idle", "States": {"Idle": {"Type": "Pass", "End": True}}}],
                "Retry": [
                    {"ErrorEquals": ["Other"], "MaxAttempts": 1},
                    {"ErrorEquals": ["Flaky"], "MaxAttempts": 1, "IntervalSeconds": 3},
                ],
                "Catch": [
                    {"ErrorEquals": ["Other"], "Next": "Caught"},
                    {"ErrorEquals": ["States.ALL"], "Next": "Caught"},
                ],
                "Next": "Done",
            },
            "Caught": {"Type": "Pass", "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }
    sfn.fail("Work", "Flaky", attempts=[0])
    execution = sfn.run(definition, {}, handlers={"Work": lambda e: "ok"})
    assert [t.label() for t in execution.transitions if t.source == "Both"] == [
        "Both Retry[1] -> Both",
        "Both next -> Done",
    ]
    assert execution.elapsed == 3
    sfn.faults.clear()
    sfn.fail("Work", "Flaky")
    execution = sfn.run(definition, {}, handlers={"Work": lambda e: "ok"})
    assert [t.label() for t in execution.transitions if t.source == "Both"] == [
        "Both Retry[1] -> Both",
        "Both Catch[1] -> Caught",
    ]
    execution.assert_caught("Both", "Flaky", index=1)


def test_a_caught_error_inside_a_map_iteration(sfn: StateMachineRunner) -> None:
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Work",
                    "States": {
                        "Work": {
                            "Type": "Task",
                            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:w",
                            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Skipped"}],
                            "End": True,
                        },
                        "Skipped": {"Type": "Pass", "End": True},
                    },
                },
                "End": True,
            }
        },
    }
    sfn.fail("Work", "Bad", attempts=[1])
    execution = sfn.run(definition, [1, 2, 3], handlers={"Work": lambda e: e})
    assert [execution.path_of("Each", i) for i in range(3)] == [["Work"], ["Work", "Skipped"], ["Work"]]
    assert sorted(t.label() for t in execution.transitions) == ["Work Catch[0] -> Skipped"]


def _recorded_cases() -> list[dict[str, Any]]:
    out = []
    for case in all_cases():
        history = case.get("history") or []
        # Some recordings give a set of possible ids where branches raced; those are not one history.
        if history and all(
            isinstance(e["id"], int) and isinstance(e["previousEventId"], int) for e in history
        ):
            out.append(case)
    return out


def test_every_history_aws_recorded_reads_back_state_by_state() -> None:
    cases = _recorded_cases()
    assert len(cases) > 400
    kinds: dict[str, int] = {}
    for case in cases:
        definition = load_definition(case["definition"])
        trace = trace_history(definition, case["history"])
        assert trace.notes == [], (case["id"], trace.notes)
        entered = [
            e["stateEnteredEventDetails"]["name"]
            for e in case["history"]
            if e["type"].endswith("StateEntered")
        ]
        assert sorted(s.name for s in trace.steps) == sorted(entered), case["id"]
        _, edges = structure(definition)
        for transition in trace.transitions():
            assert transition in edges, (case["id"], transition)
            kinds[transition.kind] = kinds.get(transition.kind, 0) + 1
        for step in trace.steps:  # every state that left for another was resolved to an edge
            assert step.next is None or step.transition is not None, (case["id"], step)
    assert set(kinds) == {"next", "default", "choice", "catch", "retry"}


def test_coverage_json_keys_states_by_name_and_edges_by_from_to_kind_index(sfn: StateMachineRunner) -> None:
    coverage = Coverage()
    runner = StateMachineRunner(sfn.root, coverage)
    runner.run(CATCH_AND_NEXT, {}, handlers={"Alert": lambda p: {}})
    document = coverage.to_json()
    (entry,) = document["definitions"]
    assert [s["name"] for s in entry["states"]] == ["Alert", "Failed"]
    edges = {(e["from"], e["to"], e["kind"], e["index"]): e["covered"] for e in entry["edges"]}
    assert edges == {
        ("Alert", "Failed", "next", None): True,
        ("Alert", "Alert", "retry", 0): False,
        ("Alert", "Alert", "retry", 1): False,
        ("Alert", "Failed", "catch", 0): False,
        ("Alert", "Failed", "catch", 1): False,
    }
    again = Coverage.from_json(json.loads(json.dumps(document)))
    assert again.to_json() == document
    again.merge(Coverage.from_json(document))
    assert again.definitions[entry["definition"]].executions == 2
    assert again.percent() == pytest.approx(100 * 3 / 7)


def test_a_distributed_maps_inner_states_are_listed_but_not_counted() -> None:
    definition = load_definition(
        {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                        "StartAt": "Inner",
                        "States": {"Inner": {"Type": "Pass", "End": True}},
                    },
                    "End": True,
                }
            },
        }
    )
    entry = DefinitionCoverage.of("d", definition)
    assert [(s["name"], s["observable"]) for s in entry.states] == [("Each", True), ("Inner", False)]
    assert entry.counts()["states"] == (0, 1)


# ----- workflows coverage, over a data dir ----------------------------------------------------------------------

STORED = {
    "StartAt": "Kind",
    "States": {
        "Kind": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.kind", "StringEquals": "a", "Next": "Work"},
                {"Variable": "$.kind", "StringEquals": "b", "Next": "Work"},
            ],
            "Default": "Other",
        },
        "Work": {
            "Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:work",
            "Retry": [{"ErrorEquals": ["Flaky"], "MaxAttempts": 1}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Other"}],
            "End": True,
        },
        "Other": {"Type": "Succeed"},
    },
}


def _record_executions(data_dir: Path, inputs: list[dict[str, Any]]) -> None:
    """Run executions through the service, as `workflows serve` does, into data_dir's store."""
    calls = {"n": 0}

    def work(event: dict[str, Any], context: Any) -> Any:
        calls["n"] += 1
        if event.get("fail"):
            raise type(event["fail"], (Exception,), {})("failed")
        return event

    async def scenario() -> None:
        service = StepFunctionsService(Store(data_dir), resolver=CallableResolver({"work": work}))
        await service.start()
        try:
            sm = await service.create_state_machine(
                name="stored", definition=json.dumps(STORED), roleArn=ROLE
            )
            arns = [
                (await service.start_execution(stateMachineArn=sm["stateMachineArn"], input=json.dumps(v)))[
                    "executionArn"
                ]
                for v in inputs
            ]
            for arn in arns:
                while (await service.describe_execution(executionArn=arn))["status"] == "RUNNING":
                    await asyncio.sleep(0.005)
        finally:
            await service.close()

    asyncio.run(scenario())


def test_workflows_coverage_reads_the_stored_histories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    _record_executions(data_dir, [{"kind": "b"}, {"kind": "a", "fail": "Boom"}, {"kind": "z"}])
    report = tmp_path / "cov.json"
    code = cli.main(
        ["coverage", "--data-dir", str(data_dir), "--json", str(report), "--html", str(tmp_path / "html")]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "stored" in out and "3 │" in out
    (entry,) = json.loads(report.read_text())["definitions"]
    covered = {(e["from"], e["kind"], e["index"]) for e in entry["edges"] if e["covered"]}
    # Both rules lead to Work: the stored input tells rule 1 (kind b) from rule 0 (kind a).
    assert covered == {
        ("Kind", "choice", 0),
        ("Kind", "choice", 1),
        ("Kind", "default", None),
        ("Work", "catch", 0),
    }
    assert "not taken:   Work Retry[0] -> Work" in out
    assert (tmp_path / "html" / "index.html").exists()
    assert cli.main(["coverage", "--data-dir", str(data_dir), "--fail-under", "95"]) == 1
    assert cli.main(["coverage", "--data-dir", str(tmp_path / "nowhere")]) == 2


def test_transitions_label_and_key_alike() -> None:
    edge = Transition("A", "B", "catch", 2)
    assert edge.label() == "A Catch[2] -> B"
    assert edge.to_json() == {"from": "A", "to": "B", "kind": "catch", "index": 2}
