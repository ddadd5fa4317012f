"""A Distributed Map's ItemReader and ResultWriter: items read from an S3 object or listing, and a Map
Run's results shaped (Transformation, OutputType) and exported to S3, as the Developer Guide describes.

S3 is reached through the task resolver, as a Task's service calls are: the interpreter knows no
boto3. A resolver that handles these three resources answers with:

    arn:aws:states:::s3:getObject      {Bucket, Key[, VersionId]}      -> the object's content (text)
    arn:aws:states:::s3:listObjectsV2  {Bucket[, Prefix, ...]}         -> every object of every page, each
                                                                          {Etag, Key, LastModified, Size,
                                                                          StorageClass} (LastModified in
                                                                          epoch seconds)
    arn:aws:states:::s3:putObject      {Bucket, Key, Body (text)}      -> anything

The parsing and shaping here are pure functions; `tests/test_api_docs_map_io.py` names the statement
of the Developer Guide each one follows.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from workflows.asl import errors
from workflows.asl.definition import JSONATA, State, compile_jsonata, compile_payload, jsonata_or_value
from workflows.asl.errors import ASLError
from workflows.asl.jsonpath import compile_reference
from workflows.engine import offload
from workflows.engine.history import dumps
from workflows.engine.tasks import TaskRequest

if TYPE_CHECKING:
    from workflows.engine.frame import Frame
    from workflows.engine.interpreter import ExecutionRun

GET_OBJECT = "arn:aws:states:::s3:getObject"
LIST_OBJECTS = "arn:aws:states:::s3:listObjectsV2"
PUT_OBJECT = "arn:aws:states:::s3:putObject"
READER_RESOURCES = (GET_OBJECT, LIST_OBJECTS)

RESULT_WRITER_FAILED = "States.ResultWriterFailed"

# ReaderConfig.CSVDelimiter (the Developer Guide's names; COMMA when absent).
CSV_DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}
# ReaderConfig.MaxItems: "up to 100,000,000"; 0 (as AWS recorded) reads every item.
MAX_ITEMS_LIMIT = 100_000_000
# CSV headers: "up to 10 KiB".
MAX_CSV_HEADER_BYTES = 10 * 1024


def reader_failed(cause: str) -> ASLError:
    return ASLError(errors.ITEM_READER_FAILED, cause)


def max_items(value: Any) -> int:
    """ReaderConfig.MaxItems / MaxItemsPath's value: a non-negative integer, 0 meaning no limit.

    AWS recorded -1 failing with 'field MaxItems must be positive' and 0 reading every item."""
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
        raise reader_failed(f"field MaxItems must be a positive integer: {dumps(value)}")
    if value < 0:
        raise reader_failed("field MaxItems must be positive")
    return int(value)


def parse_object(content: str, config: dict[str, Any]) -> list[Any]:
    """The items of an S3 object's content, by ReaderConfig.InputType (CSV, JSON or JSONL)."""
    kind = config.get("InputType")
    if kind == "CSV":
        return parse_csv(content, config)
    if kind == "JSON":
        return parse_json(content)
    if kind == "JSONL":
        return parse_jsonl(content)
    if kind is None:
        # getObject without a ReaderConfig reads a JSON array (the Developer Guide's JSON data set).
        return parse_json(content)
    raise reader_failed(f"InputType {kind} is not supported by this engine")


def parse_json(content: str) -> list[Any]:
    """InputType JSON: the object holds one JSON array; each element is an item."""
    try:
        value = json.loads(content)
    except ValueError as exc:
        raise reader_failed(f"The JSON data set is not valid JSON: {exc}") from exc
    if not isinstance(value, list):
        raise reader_failed("Attempting to map over non-iterable node.")
    return value


def parse_jsonl(content: str) -> list[Any]:
    """InputType JSONL (JSON Lines): each non-empty line is one JSON value, one item."""
    items: list[Any] = []
    for number, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except ValueError as exc:
            raise reader_failed(f"Line {number} of the JSONL data set is not valid JSON: {exc}") from exc
    return items


def parse_csv(content: str, config: dict[str, Any]) -> list[dict[str, str]]:
    """InputType CSV: each row an object from header to value, every value a string.

    CSVHeaderLocation FIRST_ROW (the default) takes the header from the file's first line, GIVEN from
    CSVHeaders; values past the last header are dropped, missing ones are empty strings. Headers must be
    unique (AWS: 'CSV headers cannot contain duplicates.')."""
    delimiter = CSV_DELIMITERS.get(config.get("CSVDelimiter") or "COMMA")
    if delimiter is None:
        raise reader_failed(
            f"CSVDelimiter {config.get('CSVDelimiter')} is not one of {sorted(CSV_DELIMITERS)}"
        )
    rows = (row for row in csv.reader(io.StringIO(content), delimiter=delimiter) if row)
    if (config.get("CSVHeaderLocation") or "FIRST_ROW") == "GIVEN":
        headers = config.get("CSVHeaders")
        if not isinstance(headers, list) or not headers:
            raise reader_failed("CSVHeaders must be given when CSVHeaderLocation is GIVEN")
        headers = [str(h) for h in headers]
    else:
        first = next(rows, None)
        if first is None:
            return []
        headers = first
    if len(delimiter.join(headers).encode()) > MAX_CSV_HEADER_BYTES:
        raise reader_failed("CSV headers cannot be larger than 10 KiB.")
    if len(set(headers)) != len(headers):
        raise reader_failed("CSV headers cannot contain duplicates.")
    width = len(headers)
    return [dict(zip(headers, [*row[:width], *[""] * (width - len(row))], strict=True)) for row in rows]


def listing_items(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """ListObjectsV2: one item per object, with the fields the Developer Guide shows (Etag, Key,
    LastModified, Size, StorageClass)."""
    fields = ("Etag", "Key", "LastModified", "Size", "StorageClass")
    return [{name: entry[name] for name in fields if name in entry} for entry in objects]


# ----- ResultWriter -----------------------------------------------------------------------------------


def writer_settings(writer: dict[str, Any] | None) -> tuple[str, str, bool]:
    """(Transformation, OutputType, exports): NONE when results go to S3 without a WriterConfig, COMPACT
    when there is no ResultWriter or only a WriterConfig without one; JSON unless told otherwise."""
    if not writer:
        return "COMPACT", "JSON", False
    exports = "Resource" in writer
    config = writer.get("WriterConfig") or {}
    default = "NONE" if exports and not config else "COMPACT"
    return config.get("Transformation") or default, config.get("OutputType") or "JSON", exports


def child_record(
    *,
    execution_arn: str,
    name: str,
    state_machine_arn: str,
    item: Any,
    status: str,
    output: Any = None,
    error: ASLError | None = None,
    start: str,
    stop: str,
) -> dict[str, Any]:
    """One child workflow execution's result as ResultWriter exports it (Transformation NONE): input and
    output as JSON text, with the execution's metadata."""
    record: dict[str, Any] = {
        "ExecutionArn": execution_arn,
        "Input": dumps(item),
        "InputDetails": {"Included": True},
        "Name": name,
    }
    if status == "SUCCEEDED":
        record["Output"] = dumps(output)
        record["OutputDetails"] = {"Included": True}
    elif error is not None:
        record["Error"] = error.error
        if error.cause is not None:
            record["Cause"] = error.cause
    record.update(
        {
            "RedriveCount": 0,
            "RedriveStatus": "NOT_REDRIVABLE",
            "RedriveStatusReason": f"Execution is {status} and cannot be redriven",
            "StartDate": start,
            "StateMachineArn": state_machine_arn,
            "Status": status,
            "StopDate": stop,
        }
    )
    return record


def transform(records: Sequence[dict[str, Any]], transformation: str) -> list[Any]:
    """The results under a Transformation: NONE keeps each record; COMPACT keeps the output of each child
    that succeeded; FLATTEN does too and splices an output that is an array into the list. A child that
    failed stays as its record under every transformation (the Developer Guide's note)."""
    if transformation == "NONE":
        return list(records)
    out: list[Any] = []
    for record in records:
        if record["Status"] != "SUCCEEDED":
            out.append(record)
            continue
        value = json.loads(record["Output"])
        if transformation == "FLATTEN" and isinstance(value, list):
            out.extend(value)
        else:
            out.append(value)
    return out


def render(values: Sequence[Any], output_type: str) -> str:
    """OutputType JSON: one JSON array; JSONL: one JSON value per line."""
    if output_type == "JSONL":
        return "".join(dumps(v) + "\n" for v in values)
    return dumps(list(values))


def export_plan(
    records: Sequence[dict[str, Any]],
    *,
    bucket: str,
    prefix: str,
    map_run_arn: str,
    transformation: str,
    output_type: str,
) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The objects a Map Run's export writes, as (key, body) with the manifest last, and the Map state's
    output. Under `<Prefix>/<Map Run id>/`: SUCCEEDED_0, FAILED_0 and PENDING_0 for the children in each
    status that has any, and manifest.json listing them (with their sizes) under ResultFiles."""
    run_id = map_run_arn.rsplit(":", 1)[-1]
    folder = f"{prefix.rstrip('/')}/{run_id}/" if prefix else f"{run_id}/"
    extension = "jsonl" if output_type == "JSONL" else "json"
    groups: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for record in records:
        status = record["Status"]
        groups[
            "SUCCEEDED" if status == "SUCCEEDED" else "PENDING" if status == "PENDING" else "FAILED"
        ].append(record)
    objects: list[tuple[str, str]] = []
    files: dict[str, list[dict[str, Any]]] = {status: [] for status in groups}
    for status, group in groups.items():
        if not group:
            continue
        key = f"{folder}{status}_0.{extension}"
        body = render(transform(group, transformation), output_type)
        objects.append((key, body))
        files[status].append({"Key": key, "Size": len(body.encode())})
    manifest_key = f"{folder}manifest.json"
    manifest = {"DestinationBucket": bucket, "MapRunArn": map_run_arn, "ResultFiles": files}
    objects.append((manifest_key, dumps(manifest)))
    output = {"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key}}
    return objects, output


# ----- what a running Map does with them -------------------------------------------------------------


def _arguments(
    run: ExecutionRun, state: State, spec: dict[str, Any], value: Any, effective: Any, frame: Frame
) -> Any:
    """ItemReader's / ResultWriter's Parameters (JSONPath, over the effective input) or Arguments
    (JSONata)."""
    if state.query_language == JSONATA:
        arguments = spec.get("Arguments")
        return (
            {} if arguments is None else compile_jsonata(arguments, "Arguments")(run._bindings(value, frame))
        )
    parameters = spec.get("Parameters")
    return {} if parameters is None else compile_payload(parameters)(effective, frame)


async def _call(run: ExecutionRun, state: State, resource: str, parameters: Any, frame: Frame) -> Any:
    resolver = run.interpreter.resolver
    if resolver is None:
        raise ASLError(errors.RUNTIME, f"No task resolver for resource {resource}")
    request = TaskRequest(
        resource=resource,
        parameters=parameters,
        state_name=state.name,
        execution=run.info,
        context=frame.context,
    )
    return await resolver.invoke(request)


def _max_items(
    run: ExecutionRun, state: State, config: dict[str, Any], value: Any, effective: Any, frame: Frame
) -> int:
    if "MaxItems" in config:
        raw = config["MaxItems"]
        if state.query_language == JSONATA:
            raw = jsonata_or_value(raw, "MaxItems", run._bindings(value, frame))
        return max_items(raw)
    if "MaxItemsPath" in config:
        return max_items(run._read_path(compile_reference(config["MaxItemsPath"]), effective, frame))
    return 0


async def read_items(
    run: ExecutionRun, state: State, reader: dict[str, Any], value: Any, effective: Any, frame: Frame
) -> list[Any]:
    """The items an ItemReader reads, at most ReaderConfig's MaxItems of them (from the start)."""
    config = reader.get("ReaderConfig") or {}
    limit = await offload.evaluate(_max_items, run, state, config, value, effective, frame)
    resource = reader.get("Resource")
    parameters = _arguments(run, state, reader, value, effective, frame)
    try:
        if resource == LIST_OBJECTS:
            items: list[Any] = listing_items(await _call(run, state, LIST_OBJECTS, parameters, frame))
        elif resource == GET_OBJECT:
            content = await _call(run, state, GET_OBJECT, parameters, frame)
            items = parse_object(content if isinstance(content, str) else dumps(content), config)
        else:
            raise reader_failed(f"The ItemReader resource {resource} is not supported")
    except ASLError as err:
        if err.error == errors.ITEM_READER_FAILED:
            raise
        raise reader_failed(err.cause or err.error) from err
    return items[:limit] if limit else items


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def write_results(
    run: ExecutionRun,
    state: State,
    writer: dict[str, Any],
    value: Any,
    effective: Any,
    frame: Frame,
    map_run_arn: str,
    children: dict[int, dict[str, Any]],
    results: list[Any],
) -> tuple[Any, int]:
    """The Map's result under its ResultWriter, and how many child results it exported: the results
    transformed in the state output, or (with Resource) written to S3 and the export's location."""
    transformation, output_type, exports = writer_settings(writer)
    # The Map Run's children, as executions of the Map Run's state machine (named uniquely per item).
    head = map_run_arn.replace(":mapRun:", ":execution:", 1).rsplit(":", 1)[0]
    child_machine = f"{run.info.state_machine_arn}/{state.name}"
    records = []
    for index in sorted(children):
        child = children[index]
        name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{map_run_arn}#{index}"))
        error = child.get("error")
        records.append(
            child_record(
                execution_arn=f"{head}:{name}",
                name=name,
                state_machine_arn=child_machine,
                item=child.get("element", child["item"]),
                status="FAILED" if error is not None else "SUCCEEDED",
                output=child.get("output"),
                error=error,
                start=_iso(child["start"]),
                stop=_iso(child.get("stop", child["start"])),
            )
        )
    if not exports:
        if transformation == "COMPACT" and not any(r["Status"] != "SUCCEEDED" for r in records):
            return results, 0
        return transform(records, transformation), 0
    parameters = _arguments(run, state, writer, value, effective, frame)
    if not isinstance(parameters, dict) or not isinstance(parameters.get("Bucket"), str):
        raise ASLError(RESULT_WRITER_FAILED, "The ResultWriter needs a Bucket (a string) to write to")
    prefix = parameters.get("Prefix") or ""
    objects, output = export_plan(
        records,
        bucket=parameters["Bucket"],
        prefix=str(prefix),
        map_run_arn=map_run_arn,
        transformation=transformation,
        output_type=output_type,
    )
    for key, body in objects:
        try:
            await _call(
                run, state, PUT_OBJECT, {"Bucket": parameters["Bucket"], "Key": key, "Body": body}, frame
            )
        except ASLError as err:
            raise ASLError(RESULT_WRITER_FAILED, err.cause or err.error) from err
    return output, len(records)
