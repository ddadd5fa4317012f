"""Every runnable AWS-recorded case, in process with a fake clock; failures listed by id only shrink."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from tests.conformance import ACCOUNT, CaseResolver, compare, expected_failures, is_pure, selected_cases
from workflows.asl.definition import load_definition
from workflows.engine.clock import FakeClock
from workflows.engine.resolvers import ChainResolver
from workflows.engine.runner import execution_info, run_async

CASES = selected_cases()
XFAIL = expected_failures()


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    definition = load_definition(case["definition"])
    clock = FakeClock()
    info = execution_info(
        "StateMachine-conformance",
        "execution-conformance",
        start_time=clock.now(),
        account=ACCOUNT,
        state_machine_type=case.get("state_machine_type", "STANDARD"),
    )

    async def go() -> Any:
        return await asyncio.wait_for(
            run_async(
                definition,
                case["input"],
                resolver=ChainResolver(CaseResolver(case, clock)),
                clock=clock,
                info=info,
            ),
            20,
        )

    run = asyncio.run(go())
    assert run.outcome is not None
    return run.outcome.to_json()


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    problem = compare(case, run_case(case))
    if case["id"] in XFAIL:
        if problem is None:
            pytest.fail("passes now: remove it from tests/conformance_expected_failures.txt")
        pytest.xfail(problem)
    assert problem is None, problem


def test_pure_asl_pass_rate() -> None:
    pure = [c for c in CASES if is_pure(c)]
    failing = [c for c in pure if c["id"] in XFAIL]
    assert len(pure) >= 680
    assert (len(pure) - len(failing)) / len(pure) >= 0.98


def test_expected_failures_are_known_cases() -> None:
    ids = {c["id"] for c in CASES}
    assert ids >= XFAIL, sorted(XFAIL - ids)


def test_a_placeholder_output_is_compared_with_the_recorded_results() -> None:
    """The recording replaced test_parallel_state_lambda's output with a placeholder: its status alone
    must not pass it. Its two Lambda results are in the recorded TaskSucceeded events."""
    (case,) = [c for c in CASES if c["id"].endswith("::test_parallel_state_lambda")]
    assert case["expected"]["output_unparsed"]
    ours = run_case(case)
    assert compare(case, ours) is None
    wrong = copy.deepcopy(ours)
    wrong["output"][1]["Payload"] = wrong["output"][0]["Payload"]  # both branches ran id_function
    assert compare(case, wrong) is not None
    assert compare(case, {**ours, "output": ours["output"][:1]}) is not None
    assert compare(case, {**ours, "output": {"status": "SUCCEEDED"}}) is not None
    # A placeholder output with nothing recorded to compare it with is a failure, not a pass.
    bare = {**case, "history": []}
    assert compare(bare, ours) == (
        "the recorded output is a placeholder and the recording holds nothing to compare it with"
    )
