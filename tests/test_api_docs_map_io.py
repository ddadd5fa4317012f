"""A Distributed Map's ItemReader and ResultWriter, as the Developer Guide's pages "ItemReader (Map)",
"ItemsPath (Map)" and "ResultWriter (Map)" describe them, plus what AWS recorded where the pages are
silent (the recordings are LocalStack snapshot cases in ../shared/conformance, named where used).

S3 is an in-memory bucket store behind the resolver seam (workflows/engine/item_io.py says what it
answers); tests/test_integrations.py runs the same calls against moto's S3 through boto3.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from workflows.asl.errors import ASLError
from workflows.asl.validation import validate_definition
from workflows.engine.tasks import TaskRequest
from workflows.service.service import StepFunctionsService
from workflows.service.store import Store

ROLE = "arn:aws:iam::123456789012:role/r"
GET = "arn:aws:states:::s3:getObject"
LIST = "arn:aws:states:::s3:listObjectsV2"
PUT = "arn:aws:states:::s3:putObject"


class MemoryS3:
    """The three S3 calls a Distributed Map makes, over a dict of buckets."""

    def __init__(self, objects: dict[str, dict[str, str]] | None = None) -> None:
        self.buckets: dict[str, dict[str, str]] = {b: dict(o) for b, o in (objects or {}).items()}
        self.calls: list[tuple[str, Any]] = []

    def handles(self, request: TaskRequest) -> bool:
        return request.resource in (GET, LIST, PUT)

    async def invoke(self, request: TaskRequest) -> Any:
        params = request.parameters
        self.calls.append((request.resource, params))
        bucket = self.buckets.get(params["Bucket"])
        if bucket is None:
            raise ASLError("S3.NoSuchBucketException", "The specified bucket does not exist")
        if request.resource == GET:
            if params["Key"] not in bucket:
                raise ASLError("S3.NoSuchKeyException", "The specified key does not exist.")
            return bucket[params["Key"]]
        if request.resource == LIST:
            prefix = params.get("Prefix") or ""
            return [
                {
                    "Etag": '"e"',
                    "Key": k,
                    "LastModified": 1700000000,
                    "Size": len(v),
                    "StorageClass": "STANDARD",
                }
                for k, v in sorted(bucket.items())
                if k.startswith(prefix)
            ]
        bucket[params["Key"]] = params["Body"]
        return None


def _map(
    reader: dict[str, Any] | None = None, processor: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Map",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            **(processor or {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        },
        "End": True,
        **fields,
    }
    if reader is not None:
        state["ItemReader"] = reader
    return {"StartAt": "M", "States": {"M": state}}


def _get(config: dict[str, Any] | None = None, key: str = "data") -> dict[str, Any]:
    reader: dict[str, Any] = {"Resource": GET, "Parameters": {"Bucket": "in", "Key": key}}
    if config is not None:
        reader["ReaderConfig"] = config
    return reader


def _run(tmp_path: Path, definition: dict[str, Any], value: Any, s3: MemoryS3) -> dict[str, Any]:
    """DescribeExecution once the execution ends, with its history's event types and its Map Run."""

    async def scenario() -> dict[str, Any]:
        service = StepFunctionsService(Store(tmp_path), resolver=s3)
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
                    break
                await asyncio.sleep(0.01)
            events = (await service.get_execution_history(executionArn=execution))["events"]
            described["events"] = events
            runs = (await service.list_map_runs(executionArn=execution))["mapRuns"]
            if runs:
                described["mapRun"] = await service.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
            return described
        finally:
            await service.close()

    return asyncio.run(scenario())


def _output(tmp_path: Path, definition: dict[str, Any], value: Any, s3: MemoryS3) -> Any:
    described = _run(tmp_path, definition, value, s3)
    assert described["status"] == "SUCCEEDED", described
    return json.loads(described["output"])


def _failure(tmp_path: Path, definition: dict[str, Any], value: Any, s3: MemoryS3) -> tuple[str, str]:
    described = _run(tmp_path, definition, value, s3)
    assert described["status"] == "FAILED", described
    return described["error"], described["cause"]


CSV = "Col1,Col2,Col3\nValue1,Value2,Value3\nValue4,Value5,Value6\n"


# ----- ItemReader: getObject and ReaderConfig ----------------------------------------------------------


def test_csv_first_row_is_the_header(tmp_path: Path) -> None:
    """ItemReader: CSVHeaderLocation FIRST_ROW takes the column names from the file's first line; each
    row becomes an object of those names, every value a string."""
    s3 = MemoryS3({"in": {"data": CSV + "true,1,\n"}})
    out = _output(tmp_path, _map(_get({"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"})), {}, s3)
    assert out == [
        {"Col1": "Value1", "Col2": "Value2", "Col3": "Value3"},
        {"Col1": "Value4", "Col2": "Value5", "Col3": "Value6"},
        {"Col1": "true", "Col2": "1", "Col3": ""},
    ]


def test_csv_given_headers_and_extra_columns(tmp_path: Path) -> None:
    """ItemReader: CSVHeaderLocation GIVEN names the columns in CSVHeaders, and the file's first line is
    data. AWS recorded (test_map_item_reader_csv_headers_decl_extra_fields) that values past the
    declared headers are dropped."""
    s3 = MemoryS3({"in": {"data": "a,b,c\nd,e,f\n"}})
    config = {"InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": ["H1", "H2"]}
    assert _output(tmp_path, _map(_get(config)), {}, s3) == [{"H1": "a", "H2": "b"}, {"H1": "d", "H2": "e"}]


def test_csv_duplicate_headers_fail_the_reader(tmp_path: Path) -> None:
    """AWS recorded (test_map_item_reader_csv_headers_decl_duplicate_headers): duplicate CSV headers fail
    the Map with States.ItemReaderFailed, 'CSV headers cannot contain duplicates.', after the Map Run
    started: MapRunStarted, MapRunFailed, MapStateFailed."""
    s3 = MemoryS3({"in": {"data": "a,b\n"}})
    config = {"InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": ["H1", "H1"]}
    described = _run(tmp_path, _map(_get(config)), {}, s3)
    assert (described["error"], described["cause"]) == (
        "States.ItemReaderFailed",
        "CSV headers cannot contain duplicates.",
    )
    types = [e["type"] for e in described["events"]]
    assert types == [
        "ExecutionStarted",
        "MapStateEntered",
        "MapStateStarted",
        "MapRunStarted",
        "MapRunFailed",
        "MapStateFailed",
        "ExecutionFailed",
    ]


@pytest.mark.parametrize(
    ("name", "separator"), [("COMMA", ","), ("PIPE", "|"), ("SEMICOLON", ";"), ("SPACE", " "), ("TAB", "\t")]
)
def test_csv_delimiter(tmp_path: Path, name: str, separator: str) -> None:
    """ItemReader: ReaderConfig.CSVDelimiter is one of COMMA (the default), PIPE, SEMICOLON, SPACE, TAB."""
    s3 = MemoryS3({"in": {"data": f"k{separator}v\n1{separator}2\n"}})
    config = {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW", "CSVDelimiter": name}
    assert _output(tmp_path, _map(_get(config)), {}, s3) == [{"k": "1", "v": "2"}]


def test_json_array_items(tmp_path: Path) -> None:
    """ItemReader: InputType JSON reads a file holding a JSON array; each element is an item, as JSON."""
    s3 = MemoryS3({"in": {"data": json.dumps([{"a": 1}, [2], "x", None])}})
    assert _output(tmp_path, _map(_get({"InputType": "JSON"})), {}, s3) == [{"a": 1}, [2], "x", None]


def test_json_that_is_not_an_array(tmp_path: Path) -> None:
    """AWS recorded (test_map_item_reader_json_no_json_list_object): a JSON file that is not an array
    fails with States.ItemReaderFailed, 'Attempting to map over non-iterable node.'"""
    s3 = MemoryS3({"in": {"data": '{"a": 1}'}})
    assert _failure(tmp_path, _map(_get({"InputType": "JSON"})), {}, s3) == (
        "States.ItemReaderFailed",
        "Attempting to map over non-iterable node.",
    )


def test_jsonl_lines(tmp_path: Path) -> None:
    """ItemReader: InputType JSONL (JSON Lines) reads one JSON value per line."""
    s3 = MemoryS3({"in": {"data": '{"a": 1}\n{"a": 2}\n\n[3]\n'}})
    assert _output(tmp_path, _map(_get({"InputType": "JSONL"})), {}, s3) == [{"a": 1}, {"a": 2}, [3]]


def test_max_items_reads_from_the_start(tmp_path: Path) -> None:
    """ItemReader: MaxItems limits how many items the Map reads, in order from the beginning."""
    s3 = MemoryS3({"in": {"data": json.dumps([1, 2, 3, 4])}})
    assert _output(tmp_path, _map(_get({"InputType": "JSON", "MaxItems": 2})), {}, s3) == [1, 2]


def test_max_items_path_and_zero(tmp_path: Path) -> None:
    """ItemReader: MaxItemsPath reads the limit from the state input. AWS recorded
    (test_map_item_reader_csv_max_items_paths[0]) that 0 reads every item."""
    s3 = MemoryS3({"in": {"data": json.dumps([1, 2, 3])}})
    definition = _map(_get({"InputType": "JSON", "MaxItemsPath": "$.n"}))
    assert _output(tmp_path / "a", definition, {"n": 2}, s3) == [1, 2]
    assert _output(tmp_path / "b", definition, {"n": 0}, s3) == [1, 2, 3]


def test_negative_max_items_fails(tmp_path: Path) -> None:
    """AWS recorded (test_map_item_reader_csv_max_items_paths[-1]): a negative MaxItems fails with
    States.ItemReaderFailed, 'field MaxItems must be positive'."""
    s3 = MemoryS3({"in": {"data": CSV}})
    definition = _map(_get({"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW", "MaxItemsPath": "$.n"}))
    assert _failure(tmp_path, definition, {"n": -1}, s3) == (
        "States.ItemReaderFailed",
        "field MaxItems must be positive",
    )


def test_items_path_does_not_apply_to_read_items(tmp_path: Path) -> None:
    """ItemsPath (Map): a Distributed Map uses ItemsPath only with JSON input from a previous state; with
    an ItemReader the items are those read (AWS recorded an ItemsPath matching nothing being ignored)."""
    s3 = MemoryS3({"in": {"data": json.dumps(["from-bucket"])}})
    definition = _map(_get({"InputType": "JSON"}), ItemsPath="$.missing")
    assert _output(tmp_path, definition, {"other": [1]}, s3) == ["from-bucket"]


def test_map_state_started_length_is_zero_with_a_reader(tmp_path: Path) -> None:
    """AWS records MapStateStarted with length 0 when the items come from an ItemReader (they are read
    by the Map Run, after it); DescribeMapRun counts the items read."""
    s3 = MemoryS3({"in": {"data": json.dumps([1, 2, 3])}})
    described = _run(tmp_path, _map(_get({"InputType": "JSON"})), {}, s3)
    started = next(e for e in described["events"] if e["type"] == "MapStateStarted")
    assert started["mapStateStartedEventDetails"] == {"length": 0}
    assert described["mapRun"]["itemCounts"]["total"] == 3
    assert described["mapRun"]["itemCounts"]["succeeded"] == 3


def test_parameters_are_evaluated_against_the_input(tmp_path: Path) -> None:
    """ItemReader: Parameters (JSONPath) name the bucket and key, here taken from the state input."""
    s3 = MemoryS3({"in": {"k1": "[1]"}})
    reader = {
        "Resource": GET,
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket.$": "$.b", "Key.$": "$.k"},
    }
    assert _output(tmp_path, _map(reader), {"b": "in", "k": "k1"}, s3) == [1]
    assert s3.calls[0] == (GET, {"Bucket": "in", "Key": "k1"})


def test_arguments_in_jsonata(tmp_path: Path) -> None:
    """ItemReader: in JSONata states Arguments replace Parameters."""
    s3 = MemoryS3({"in": {"k1": "[1, 2]"}})
    reader = {
        "Resource": GET,
        "ReaderConfig": {"InputType": "JSON"},
        "Arguments": {"Bucket": "{% $states.input.b %}", "Key": "k1"},
    }
    definition = _map(reader)
    definition["QueryLanguage"] = "JSONata"
    assert _output(tmp_path, definition, {"b": "in"}, s3) == [1, 2]


def test_missing_object_fails_the_reader(tmp_path: Path) -> None:
    """A getObject that fails (no such key) fails the Map with States.ItemReaderFailed, S3's message as
    the cause."""
    s3 = MemoryS3({"in": {}})
    error, cause = _failure(tmp_path, _map(_get({"InputType": "JSON"})), {}, s3)
    assert (error, cause) == ("States.ItemReaderFailed", "The specified key does not exist.")


def test_list_objects_v2_with_prefix(tmp_path: Path) -> None:
    """ItemReader: Resource arn:aws:states:::s3:listObjectsV2 iterates over the objects under Prefix; each
    item has the object's Etag, Key, LastModified, Size and StorageClass."""
    s3 = MemoryS3({"in": {"img/a.jpg": "xx", "img/b.jpg": "yyy", "doc/c.txt": "z"}})
    reader = {"Resource": LIST, "Parameters": {"Bucket": "in", "Prefix": "img/"}}
    out = _output(tmp_path, _map(reader), {}, s3)
    assert [item["Key"] for item in out] == ["img/a.jpg", "img/b.jpg"]
    assert set(out[0]) == {"Etag", "Key", "LastModified", "Size", "StorageClass"}
    assert out[1]["Size"] == 3


def test_item_context_and_selector_over_read_items(tmp_path: Path) -> None:
    """Context object: $$.Map.Item.Index and $$.Map.Item.Value hold each read item's position and value;
    ItemSelector shapes it, after the ItemReader (the Guide's order: ItemReader, ItemsPath, ItemSelector,
    ItemBatcher, ResultWriter)."""
    s3 = MemoryS3({"in": {"data": CSV}})
    reader = _get({"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"})
    definition = _map(reader, ItemSelector={"i.$": "$$.Map.Item.Index", "c.$": "$$.Map.Item.Value.Col1"})
    assert _output(tmp_path, definition, {}, s3) == [{"i": 0, "c": "Value1"}, {"i": 1, "c": "Value4"}]


def test_item_batcher_batches_read_items(tmp_path: Path) -> None:
    """ItemBatcher groups the items the ItemReader read (AWS recorded test_map_item_batching_base_json_*)."""
    s3 = MemoryS3({"in": {"data": json.dumps([1, 2, 3])}})
    definition = _map(_get({"InputType": "JSON"}), ItemBatcher={"MaxItemsPerBatch": 2})
    assert _output(tmp_path, definition, {}, s3) == [{"Items": [1, 2]}, {"Items": [3]}]


# ----- ResultWriter -------------------------------------------------------------------------------------


def _writer(prefix: str = "out", config: dict[str, Any] | None = None) -> dict[str, Any]:
    writer: dict[str, Any] = {"Resource": PUT, "Parameters": {"Bucket": "res", "Prefix": prefix}}
    if config is not None:
        writer["WriterConfig"] = config
    return writer


def test_export_returns_the_map_run_and_manifest_location(tmp_path: Path) -> None:
    """ResultWriter: with results exported, the Map state's output is the Map Run ARN and
    ResultWriterDetails (Bucket, and the Key of manifest.json under <Prefix>/<Map Run id>/)."""
    s3 = MemoryS3({"res": {}})
    described = _run(tmp_path, _map(ItemsPath="$.items", ResultWriter=_writer()), {"items": [1, 2]}, s3)
    output = json.loads(described["output"])
    run_arn = described["mapRun"]["mapRunArn"]
    assert output == {
        "MapRunArn": run_arn,
        "ResultWriterDetails": {"Bucket": "res", "Key": f"out/{run_arn.rsplit(':', 1)[-1]}/manifest.json"},
    }
    assert described["mapRun"]["itemCounts"]["resultsWritten"] == 2


def test_manifest_and_succeeded_file(tmp_path: Path) -> None:
    """ResultWriter: the export writes manifest.json (DestinationBucket, MapRunArn, ResultFiles by status
    with each file's Key and Size) and SUCCEEDED_0.json; without a WriterConfig the Transformation is
    NONE: each child's metadata with its Input and Output as JSON text."""
    s3 = MemoryS3({"res": {}})
    described = _run(tmp_path, _map(ItemsPath="$.items", ResultWriter=_writer()), {"items": [{"n": 1}]}, s3)
    files = s3.buckets["res"]
    manifest = json.loads(files[json.loads(described["output"])["ResultWriterDetails"]["Key"]])
    succeeded_key = manifest["ResultFiles"]["SUCCEEDED"][0]["Key"]
    assert manifest["DestinationBucket"] == "res"
    assert manifest["MapRunArn"] == described["mapRun"]["mapRunArn"]
    assert manifest["ResultFiles"]["FAILED"] == [] and manifest["ResultFiles"]["PENDING"] == []
    assert succeeded_key.endswith("/SUCCEEDED_0.json")
    assert manifest["ResultFiles"]["SUCCEEDED"][0]["Size"] == len(files[succeeded_key].encode())
    (record,) = json.loads(files[succeeded_key])
    assert json.loads(record["Input"]) == {"n": 1} and json.loads(record["Output"]) == {"n": 1}
    assert record["Status"] == "SUCCEEDED"
    assert record["InputDetails"] == {"Included": True} and record["OutputDetails"] == {"Included": True}
    assert ":execution:" in record["ExecutionArn"] and record["ExecutionArn"].endswith(record["Name"])
    assert {"StartDate", "StopDate", "StateMachineArn"} <= set(record)


def test_failed_children_go_to_failed_file(tmp_path: Path) -> None:
    """ResultWriter: executions with the same status are exported to their own file; a child that
    failed (within the tolerated failures) is in FAILED_0.json with its Error and Cause."""
    s3 = MemoryS3({"res": {}})
    processor = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "F"}],
                "Default": "P",
            },
            "F": {"Type": "Fail", "Error": "Bad", "Cause": "two"},
            "P": {"Type": "Pass", "End": True},
        },
    }
    definition = _map(
        processor=processor, ItemsPath="$.items", ToleratedFailureCount=1, ResultWriter=_writer()
    )
    _run(tmp_path, definition, {"items": [1, 2, 3]}, s3)
    files = s3.buckets["res"]
    failed_key = next(k for k in files if k.endswith("FAILED_0.json"))
    (record,) = json.loads(files[failed_key])
    assert (record["Status"], record["Error"], record["Cause"]) == ("FAILED", "Bad", "two")
    assert "Output" not in record
    succeeded = json.loads(files[next(k for k in files if k.endswith("SUCCEEDED_0.json"))])
    assert sorted(json.loads(r["Output"]) for r in succeeded) == [1, 3]


@pytest.mark.parametrize(
    ("transformation", "expected"),
    [
        ("COMPACT", [[1, 2], [3]]),
        ("FLATTEN", [1, 2, 3]),
    ],
)
def test_writer_config_only_transforms_the_state_output(
    tmp_path: Path, transformation: str, expected: list[Any]
) -> None:
    """ResultWriter with only WriterConfig: nothing is exported, the results are the state output.
    COMPACT gives each child's output; FLATTEN also splices outputs that are arrays."""
    s3 = MemoryS3()
    writer = {"WriterConfig": {"Transformation": transformation, "OutputType": "JSON"}}
    definition = _map(ItemsPath="$.items", ResultWriter=writer)
    assert _output(tmp_path, definition, {"items": [[1, 2], [3]]}, s3) == expected
    assert s3.calls == []


def test_writer_config_none_keeps_the_metadata(tmp_path: Path) -> None:
    """ResultWriter Transformation NONE: each child's output unchanged with its execution metadata."""
    writer = {"WriterConfig": {"Transformation": "NONE", "OutputType": "JSON"}}
    out = _output(tmp_path, _map(ItemsPath="$.items", ResultWriter=writer), {"items": ["a"]}, MemoryS3())
    assert [(json.loads(r["Input"]), json.loads(r["Output"]), r["Status"]) for r in out] == [
        ("a", "a", "SUCCEEDED")
    ]


def test_output_type_jsonl_and_flatten_export(tmp_path: Path) -> None:
    """ResultWriter OutputType JSONL writes JSON Lines (one result per line); with FLATTEN the exported
    results are the flattened outputs."""
    s3 = MemoryS3({"res": {}})
    writer = _writer("p", {"Transformation": "FLATTEN", "OutputType": "JSONL"})
    _run(tmp_path, _map(ItemsPath="$.items", ResultWriter=writer), {"items": [[1, 2], [3]]}, s3)
    body = next(v for k, v in s3.buckets["res"].items() if "SUCCEEDED_0" in k)
    assert [json.loads(line) for line in body.splitlines()] == [1, 2, 3]


def test_writer_parameters_in_jsonata(tmp_path: Path) -> None:
    """ResultWriter: in JSONata states Arguments replace Parameters."""
    s3 = MemoryS3({"res": {}})
    definition = _map(
        Items="{% $states.input.items %}",
        ResultWriter={"Resource": PUT, "Arguments": {"Bucket": "{% $states.input.b %}", "Prefix": "j"}},
    )
    definition["QueryLanguage"] = "JSONata"
    out = _output(tmp_path, definition, {"items": [1], "b": "res"}, s3)
    assert out["ResultWriterDetails"]["Bucket"] == "res" and out["ResultWriterDetails"]["Key"].startswith(
        "j/"
    )


def test_export_failure_is_result_writer_failed(tmp_path: Path) -> None:
    """ResultWriter: an export that cannot be written (here, no such bucket) fails the execution with
    States.ResultWriterFailed."""
    error, _cause = _failure(
        tmp_path, _map(ItemsPath="$.items", ResultWriter=_writer()), {"items": [1]}, MemoryS3()
    )
    assert error == "States.ResultWriterFailed"


# ----- validation of the shapes ---------------------------------------------------------------------------


def _errors(definition: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (d.location, d.message) for d in validate_definition(json.dumps(definition)) if d.severity == "ERROR"
    ]


@pytest.mark.parametrize(
    "writer",
    [
        {"WriterConfig": {"Transformation": "FLATTEN", "OutputType": "JSON"}},
        {"Resource": PUT, "Parameters": {"Bucket": "b", "Prefix": "p"}},
        {
            "Resource": PUT,
            "Parameters": {"Bucket": "b"},
            "WriterConfig": {"Transformation": "NONE", "OutputType": "JSONL"},
        },
    ],
)
def test_result_writer_allowed_combinations(writer: dict[str, Any]) -> None:
    """ResultWriter: the Guide's three sets of fields (WriterConfig alone; Resource and Parameters; all
    three) are valid."""
    assert _errors(_map(ResultWriter=writer)) == []


@pytest.mark.parametrize(
    ("writer", "message"),
    [
        ({}, "The field 'ResultWriter' must not be empty"),
        ({"Resource": PUT}, "needs 'Parameters'"),
        ({"Parameters": {"Bucket": "b"}}, "These fields are required: [Resource]"),
        ({"WriterConfig": {"Transformation": "SQUASH"}}, "[NONE, COMPACT, FLATTEN]"),
        ({"WriterConfig": {"OutputType": "CSV"}}, "[JSON, JSONL]"),
        (
            {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b"}},
            "[arn:aws:states:::s3:putObject]",
        ),
    ],
)
def test_result_writer_malformed(writer: dict[str, Any], message: str) -> None:
    """ResultWriter: it cannot be empty; Resource goes with Parameters; WriterConfig's Transformation is
    NONE, COMPACT or FLATTEN and its OutputType JSON or JSONL; the Resource is s3:putObject."""
    found = _errors(_map(ResultWriter=writer))
    assert any(message in text and where.startswith("/States/M/ResultWriter") for where, text in found), found


@pytest.mark.parametrize(
    ("reader", "message"),
    [
        ({"Resource": "arn:aws:states:::s3:putObject"}, "should have one of these values"),
        (_get({"InputType": "XML"}), "[CSV, JSON, JSONL, PARQUET, MANIFEST]"),
        (_get({"InputType": "CSV", "CSVHeaderLocation": "GIVEN"}), "'CSVHeaders' is required"),
        (_get({"InputType": "CSV", "CSVHeaderLocation": "LAST_ROW"}), "[FIRST_ROW, GIVEN]"),
        (_get({"InputType": "CSV", "CSVDelimiter": "COLON"}), "[COMMA, PIPE, SEMICOLON, SPACE, TAB]"),
        (
            _get({"InputType": "JSON", "CSVHeaderLocation": "FIRST_ROW"}),
            "only supported when InputType is CSV",
        ),
        (_get({"InputType": "JSON", "MaxItems": -1}), "'MaxItems' is not valid"),
        (_get({"InputType": "JSON", "MaxItems": 1, "MaxItemsPath": "$.n"}), "Only one of the fields"),
        ({"Parameters": {"Bucket": "b"}}, "These fields are required: [Resource]"),
    ],
)
def test_item_reader_malformed(reader: dict[str, Any], message: str) -> None:
    """ItemReader: Resource is s3:getObject or s3:listObjectsV2; ReaderConfig's InputType, CSVHeaderLocation
    and CSVDelimiter take the Guide's values; GIVEN needs CSVHeaders; the CSV fields are for CSV files;
    MaxItems is a non-negative integer, given directly or by MaxItemsPath."""
    found = _errors(_map(reader))
    assert any(message in text and where.startswith("/States/M/ItemReader") for where, text in found), found


def test_reader_and_writer_need_a_distributed_map() -> None:
    """ItemReader and ResultWriter belong to a Distributed Map (ProcessorConfig Mode DISTRIBUTED)."""
    definition = _map(
        _get({"InputType": "JSON"}), ResultWriter={"WriterConfig": {"Transformation": "COMPACT"}}
    )
    definition["States"]["M"]["ItemProcessor"]["ProcessorConfig"]["Mode"] = "INLINE"
    assert {where for where, _ in _errors(definition)} == {"/States/M/ItemReader", "/States/M/ResultWriter"}
