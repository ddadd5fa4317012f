"""The AWS-recorded executions again, this time through the Step Functions API over HTTP: created
with CreateStateMachine, run with StartExecution (StartSyncExecution for EXPRESS), read back with
DescribeExecution. Same expected-failure list as the in-process run."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api_replay import client, live_server
from tests.conformance import ACCOUNT, CaseResolver, compare, expected_failures, selected_cases
from workflows.engine.clock import FakeClock
from workflows.engine.resolvers import ChainResolver
from workflows.engine.tasks import TaskRequest

CASES = selected_cases()
XFAIL = expected_failures()
ROLE = f"arn:aws:iam::{ACCOUNT}:role/conformance"


class PerCaseResolver:
    """The Lambda functions each case created, found by the state machine the case runs as."""

    def __init__(self) -> None:
        self.by_machine: dict[str, ChainResolver] = {}

    def handles(self, request: TaskRequest) -> bool:
        return request.execution.state_machine_name in self.by_machine

    async def invoke(self, request: TaskRequest) -> Any:
        return await self.by_machine[request.execution.state_machine_name].invoke(request)


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[Any, PerCaseResolver, FakeClock]]:
    clock = FakeClock()
    resolver = PerCaseResolver()
    with live_server(account=ACCOUNT, resolver=resolver, clock=clock) as (endpoint, _service):
        yield client(endpoint), resolver, clock


def _run(
    sfn: Any, case: dict[str, Any], index: int, resolver: PerCaseResolver, clock: FakeClock
) -> dict[str, Any]:
    name = f"conformance-{index}"
    resolver.by_machine[name] = ChainResolver(CaseResolver(case, clock))
    kind = case.get("state_machine_type", "STANDARD")
    machine = sfn.create_state_machine(
        name=name, definition=json.dumps(case["definition"]), roleArn=ROLE, type=kind
    )
    arn = machine["stateMachineArn"]
    if kind == "EXPRESS":
        described = sfn.start_sync_execution(stateMachineArn=arn, input=json.dumps(case["input"]))
    else:
        execution = sfn.start_execution(
            stateMachineArn=arn, name="execution", input=json.dumps(case["input"])
        )
        deadline = time.time() + 30
        while True:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING" or time.time() > deadline:
                break
            time.sleep(0.005)
    outcome: dict[str, Any] = {"status": described["status"]}
    if "output" in described:
        outcome["output"] = json.loads(described["output"])
    for key in ("error", "cause"):
        if key in described:
            outcome[key] = described[key]
    return outcome


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c["id"] for c in CASES])
def test_case_over_http(api: tuple[Any, PerCaseResolver, FakeClock], index: int) -> None:
    sfn, resolver, clock = api
    case = CASES[index]
    problem = compare(case, _run(sfn, case, index, resolver, clock))
    if case["id"] in XFAIL:
        if problem is None:
            pytest.fail("passes now: remove it from tests/conformance_expected_failures.txt")
        pytest.xfail(problem)
    assert problem is None, problem
