"""Run one execution in process, to its end: the engine behind `workflows run` and the conformance tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from typing import Any

from workflows.asl.definition import Definition, load_definition
from workflows.engine.clock import Clock, SystemClock
from workflows.engine.interpreter import ExecutionInfo, ExecutionRun, Interpreter
from workflows.engine.tasks import TaskResolver

ACCOUNT = "123456789012"
REGION = "us-east-1"


def execution_info(
    state_machine_name: str = "LocalMachine",
    name: str | None = None,
    *,
    start_time: float | None = None,
    account: str = ACCOUNT,
    region: str = REGION,
    state_machine_type: str = "STANDARD",
) -> ExecutionInfo:
    name = name or str(uuid.uuid4())
    sm_arn = f"arn:aws:states:{region}:{account}:stateMachine:{state_machine_name}"
    kind = "express" if state_machine_type == "EXPRESS" else "execution"
    return ExecutionInfo(
        execution_arn=f"arn:aws:states:{region}:{account}:{kind}:{state_machine_name}:{name}",
        name=name,
        state_machine_arn=sm_arn,
        state_machine_name=state_machine_name,
        role_arn=f"arn:aws:iam::{account}:role/workflows-local",
        start_time=time.time() if start_time is None else start_time,
        state_machine_type=state_machine_type,
    )


async def run_async(
    definition: Definition,
    input_value: Any,
    *,
    resolver: TaskResolver | None = None,
    clock: Clock | None = None,
    info: ExecutionInfo | None = None,
) -> ExecutionRun:
    clock = clock or SystemClock()
    interpreter = Interpreter(definition, resolver=resolver, clock=clock)
    run = interpreter.start(info or execution_info(start_time=clock.now()), input_value)
    await run.wait()
    return run


def run_definition(
    source: str | Mapping[str, Any] | Definition,
    input_value: Any = None,
    *,
    resolver: TaskResolver | None = None,
    clock: Clock | None = None,
    substitutions: Mapping[str, Any] | None = None,
) -> ExecutionRun:
    """Load (when needed) and run a definition to its end on a fresh event loop."""
    definition = source if isinstance(source, Definition) else load_definition(source, substitutions)
    return asyncio.run(
        run_async(definition, {} if input_value is None else input_value, resolver=resolver, clock=clock)
    )


def result_document(run: ExecutionRun) -> dict[str, Any]:
    """The JSON object `workflows run` prints."""
    assert run.outcome is not None
    doc = run.outcome.to_json()
    doc["history"] = [event.to_api(iso=True) for event in run.events]
    return doc
