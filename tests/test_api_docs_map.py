"""Map state features the Developer Guide documents: the context object of an iteration and
ItemBatcher's limits (MaxItemsPerBatch[Path], MaxInputBytesPerBatch[Path], BatchInput).

Each test names the field it checks.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from workflows.service.service import StepFunctionsService
from workflows.service.store import Store

ROLE = "arn:aws:iam::123456789012:role/r"


def _map(batcher: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Map",
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
        "End": True,
        **fields,
    }
    if batcher is not None:
        state["ItemBatcher"] = batcher
    return {"StartAt": "M", "States": {"M": state}}


def _run(tmp_path: Path, definition: dict[str, Any], value: Any) -> dict[str, Any]:
    async def scenario() -> dict[str, Any]:
        service = StepFunctionsService(Store(tmp_path))
        await service.start()
        try:
            arn = (
                await service.create_state_machine(name="m", definition=json.dumps(definition), roleArn=ROLE)
            )["stateMachineArn"]
            execution = (await service.start_execution(stateMachineArn=arn, input=json.dumps(value)))[
                "executionArn"
            ]
            for _ in range(500):
                described = await service.describe_execution(executionArn=execution)
                if described["status"] != "RUNNING":
                    return described
                await asyncio.sleep(0.01)
            return described
        finally:
            await service.close()

    return asyncio.run(scenario())


def _output(tmp_path: Path, definition: dict[str, Any], value: Any) -> Any:
    described = _run(tmp_path, definition, value)
    assert described["status"] == "SUCCEEDED", described
    return json.loads(described["output"])


def test_context_object_map_item_index_and_value(tmp_path: Path) -> None:
    """Context object: $$.Map.Item.Index (the iteration's index) and $$.Map.Item.Value (its item)."""
    definition = _map(ItemSelector={"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value"})
    assert _output(tmp_path, definition, ["a", "b"]) == [{"i": 0, "v": "a"}, {"i": 1, "v": "b"}]


def test_max_items_per_batch(tmp_path: Path) -> None:
    """ItemBatcher MaxItemsPerBatch: each batch holds at most that many items, under "Items"."""
    out = _output(tmp_path, _map({"MaxItemsPerBatch": 2}), [1, 2, 3])
    assert out == [{"Items": [1, 2]}, {"Items": [3]}]


def test_max_items_per_batch_path(tmp_path: Path) -> None:
    """ItemBatcher MaxItemsPerBatchPath: the limit read from the state input."""
    definition = _map({"MaxItemsPerBatchPath": "$.size"}, ItemsPath="$.items")
    out = _output(tmp_path, definition, {"size": 3, "items": [1, 2, 3, 4]})
    assert out == [{"Items": [1, 2, 3]}, {"Items": [4]}]


def test_max_input_bytes_per_batch_path(tmp_path: Path) -> None:
    """ItemBatcher MaxInputBytesPerBatch(Path): batches stay within that many bytes of input."""
    items = ["x" * 10] * 4  # each item is 12 bytes of JSON
    definition = _map({"MaxInputBytesPerBatchPath": "$.bytes"}, ItemsPath="$.items")
    out = _output(tmp_path, definition, {"bytes": 40, "items": items})
    assert [len(batch["Items"]) for batch in out] == [2, 2]
    assert all(len(json.dumps(batch, separators=(",", ":"))) <= 40 for batch in out)


def test_batch_input_is_added_to_each_batch(tmp_path: Path) -> None:
    """ItemBatcher BatchInput: a fixed JSON input included in every batch."""
    out = _output(tmp_path, _map({"MaxItemsPerBatch": 1, "BatchInput": {"k": 1}}), [1, 2])
    assert out == [{"Items": [1], "BatchInput": {"k": 1}}, {"Items": [2], "BatchInput": {"k": 1}}]


def test_batch_limit_path_must_be_a_positive_integer(tmp_path: Path) -> None:
    """ItemBatcher MaxItemsPerBatchPath: a value that is not a positive integer fails the state
    (States.Runtime)."""
    described = _run(
        tmp_path, _map({"MaxItemsPerBatchPath": "$.size"}, ItemsPath="$.items"), {"size": 0, "items": [1]}
    )
    assert described["status"] == "FAILED" and described["error"] == "States.Runtime"


def test_context_object_map_item_in_jsonata(tmp_path: Path) -> None:
    """Context object in JSONata: $states.context.Map.Item.Index and .Value are the iteration's index and
    item (the same fields as $$.Map.Item in JSONPath)."""
    definition = _map(
        ItemSelector={
            "i": "{% $states.context.Map.Item.Index %}",
            "v": "{% $states.context.Map.Item.Value %}",
        }
    )
    definition["QueryLanguage"] = "JSONata"
    assert _output(tmp_path, definition, ["a", "b"]) == [{"i": 0, "v": "a"}, {"i": 1, "v": "b"}]
