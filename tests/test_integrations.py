"""Service integrations against moto's server on 127.0.0.1: the AWS-recorded conformance cases that need
SNS, SQS, EventBridge, DynamoDB and aws-sdk (S3, DynamoDB, Secrets Manager), plus names and shapes.

Cases that cannot pass against moto are listed by id in MOTO_GAPS with the reason; a listed case that
starts passing fails the test, so the list only shrinks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.conformance import ACCOUNT, all_cases, compare
from workflows.asl.definition import load_definition
from workflows.asl.errors import ASLError
from workflows.engine.interpreter import ExecutionInfo
from workflows.engine.resolvers import ChainResolver
from workflows.engine.runner import execution_info, run_async
from workflows.engine.tasks import TaskRequest
from workflows.local.integrations import (
    AwsEndpoints,
    ServiceIntegrationResolver,
    boto3_service,
    sdk_service_name,
)
from workflows.local.local_aws import LocalAws

SERVICE_NEEDS = {
    "sns",
    "sqs",
    "events",
    "dynamodb",
    "aws-sdk:s3",
    "aws-sdk:dynamodb",
    "aws-sdk:secretsmanager",
}
OK_NEEDS = SERVICE_NEEDS | {"context_object", "variables", "jsonata"}


def _selected() -> list[dict[str, Any]]:
    return [
        c
        for c in all_cases()
        if not c.get("uncertain") and set(c["needs"]) & SERVICE_NEEDS and set(c["needs"]) <= OK_NEEDS
    ]


CASES = _selected()

# What moto answers differently from AWS (the engine side is right; see each reason).
_S3_SSE = "moto applies no default SSE-S3 (AWS answers ServerSideEncryption AES256)"
_S3_GET = _S3_SSE + " and adds ChecksumCRC32, which the recording does not have"
_S3_PUT = _S3_SSE + " nor ChecksumType FULL_OBJECT"
_DDB_HEADERS = (
    "the recording replaced Server and x-amz-crc32 header values with their names, not listed placeholders"
)
MOTO_GAPS = {
    "error_handling/test_aws_sdk.py::TestAwsSdk::test_dynamodb_invalid_param": "moto answers a null Item with HTTP 500 (AWS: 1 validation error ... DynamoDb.DynamoDbException)",
    "error_handling/test_aws_sdk.py::TestAwsSdk::test_invalid_secret_name": "moto's Secrets Manager accepts 'Invalid Name' (AWS rejects the space)",
    "error_handling/test_task_service_dynamodb.py::TestTaskServiceDynamoDB::test_put_item_invalid_table_name": "moto does not validate the table name pattern",
    "error_handling/test_task_service_sqs.py::TestTaskServiceSqs::test_send_message_empty_body": "moto answers a SendMessage without MessageBody with HTTP 500 (AWS: MissingParameter)",
    "local_mocking/test_base_scenarios.py::TestBaseScenarios::test_dynamodb_put_get_item": _DDB_HEADERS,
    "services/test_dynamodb_task_service.py::TestTaskServiceDynamoDB::test_base_integrations[DYNAMODB_PUT_DELETE_ITEM]": _DDB_HEADERS,
    "services/test_dynamodb_task_service.py::TestTaskServiceDynamoDB::test_base_integrations[DYNAMODB_PUT_QUERY]": _DDB_HEADERS,
    "services/test_aws_sdk_task_service.py::TestTaskServiceAwsSdk::test_dynamodb_put_update_get_item": "moto returns ConsumedCapacity on UpdateItem though none was asked for",
    **{
        f"services/test_aws_sdk_task_service.py::TestTaskServiceAwsSdk::test_s3_get_object[{p}]": _S3_GET
        for p in ("binary", "bytearray", "empty_binary", "empty_str", "str")
    },
    **{
        f"services/test_aws_sdk_task_service.py::TestTaskServiceAwsSdk::test_s3_put_object[{p}]": _S3_PUT
        for p in ("bool", "dict", "list", "num", "str")
    },
    "services/test_events_task_service.py::TestTaskServiceEvents::test_put_events_malformed_detail": "moto accepts a JSON string as Detail (AWS: MalformedDetail)",
    "services/test_sns_task_service.py::TestTaskServiceSns::test_fifo_message_attribute[input_params0-True]": "moto's error code for a FIFO publish without MessageGroupId is not AWS's InvalidParameter",
    "services/test_sns_task_service.py::TestTaskServiceSns::test_publish_base_error_topic_arn": "harness: `resources` says the test created the topic (it then used a wrong ARN), so it exists here",
}


@pytest.fixture(scope="module")
def endpoints(moto: LocalAws) -> AwsEndpoints:
    return AwsEndpoints(default=moto.url, account=ACCOUNT)


def _create_resources(case: dict[str, Any], endpoints: AwsEndpoints) -> None:
    """Make what the recorded test had made, from the names in its `resources`."""
    text = json.dumps(case["definition"]) + json.dumps(case["input"])
    for name, what in (case.get("resources") or {}).items():
        if "SNS topic" in what:
            topic = name.split(":")[-1]
            attributes = {"FifoTopic": "true"} if topic.endswith(".fifo") else {}
            endpoints.client("sns").create_topic(Name=topic, Attributes=attributes)
        elif "SQS queue" in what:
            endpoints.client("sqs").create_queue(QueueName=name.rstrip("/").split("/")[-1])
        elif "S3 bucket" in what:
            s3 = endpoints.client("s3")
            s3.create_bucket(Bucket=name)
            output = case["expected"].get("output")
            if "s3:getObject" in text and isinstance(output, dict) and "Body" in output:
                s3.put_object(Bucket=name, Key=case["input"]["Key"], Body=output["Body"].encode())
        elif "DynamoDB table" in what or "table" in what.lower():
            ddb = endpoints.client("dynamodb")
            try:
                ddb.create_table(
                    TableName=name,
                    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
            except ddb.exceptions.ResourceInUseException:
                pass


def run_case(case: dict[str, Any], endpoints: AwsEndpoints, moto: LocalAws) -> dict[str, Any]:
    moto.reset()  # cases reuse names: a topic one case made must not exist for the next
    _create_resources(case, endpoints)
    definition = load_definition(case["definition"])
    info = execution_info("StateMachine-integrations", "execution-integrations", account=ACCOUNT)
    resolver = ServiceIntegrationResolver(endpoints)

    async def go() -> Any:
        return await asyncio.wait_for(
            run_async(definition, case["input"], resolver=ChainResolver(resolver), info=info), 30
        )

    try:
        run = asyncio.run(go())
    finally:
        resolver.close()
    assert run.outcome is not None
    return run.outcome.to_json()


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_recorded_case_against_moto(case: dict[str, Any], endpoints: AwsEndpoints, moto: LocalAws) -> None:
    problem = compare(case, run_case(case, endpoints, moto))
    if case["id"] in MOTO_GAPS:
        if problem is None:
            pytest.fail("passes now: remove it from MOTO_GAPS")
        pytest.xfail(f"{MOTO_GAPS[case['id']]}: {problem}")
    assert problem is None, problem


def test_gaps_are_known_cases() -> None:
    assert set(MOTO_GAPS) <= {c["id"] for c in CASES}


def test_names() -> None:
    assert boto3_service("sfn") == "stepfunctions"
    assert boto3_service("eventbridge") == "events"
    assert boto3_service("s3") == "s3"
    assert boto3_service("cognitoidentityprovider") == "cognito-idp"
    assert sdk_service_name("s3") == "S3"
    assert sdk_service_name("dynamodb") == "DynamoDb"
    assert sdk_service_name("secretsmanager") == "SecretsManager"
    assert sdk_service_name("stepfunctions") == "Sfn"
    assert sdk_service_name("ec2") == "Ec2"
    assert sdk_service_name("acm-pca") == "AcmPca"


def _request(resource: str, parameters: Any) -> TaskRequest:
    info = ExecutionInfo("arn:aws:states:us-east-1:123456789012:execution:sm:e", "e", "arn:sm", "sm")
    return TaskRequest(resource=resource, parameters=parameters, state_name="T", execution=info, context={})


def test_handles_aws_sdk_and_optimized_but_not_lambda() -> None:
    resolver = ServiceIntegrationResolver(AwsEndpoints.local(1))
    try:
        assert resolver.handles(_request("arn:aws:states:::aws-sdk:ec2:describeInstances", {}))
        assert resolver.handles(_request("arn:aws:states:::sns:publish", {}))
        assert resolver.handles(_request("arn:aws:states:::sqs:sendMessage.waitForTaskToken", {}))
        assert not resolver.handles(_request("arn:aws:states:::lambda:invoke", {}))
        assert not resolver.handles(_request("arn:aws:lambda:us-east-1:1:function:f", {}))
        assert not resolver.handles(_request("arn:aws:states:::ecs:runTask.sync", {}))
    finally:
        resolver.close()


def _call(endpoints: AwsEndpoints, resource: str, parameters: Any) -> Any:
    resolver = ServiceIntegrationResolver(endpoints)
    try:
        return asyncio.run(resolver.invoke(_request(resource, parameters)))
    finally:
        resolver.close()


def test_s3_copy_object_takes_the_url_encoded_copy_source_and_names_errors(moto: LocalAws) -> None:
    endpoints = moto.endpoints()
    s3 = endpoints.client("s3")
    s3.create_bucket(Bucket="src-bucket")
    s3.create_bucket(Bucket="dst-bucket")
    s3.put_bucket_versioning(Bucket="src-bucket", VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket="src-bucket", Key="uploads/a b+c.txt", Body=b"x")["VersionId"]
    result = _call(
        endpoints,
        "arn:aws:states:::aws-sdk:s3:copyObject",
        {
            "Bucket": "dst-bucket",
            "Key": "out/a b+c.txt",
            "CopySource": f"src-bucket/uploads/a%20b%2Bc.txt?versionId={version}",
            "TaggingDirective": "REPLACE",
            "Tagging": "outcome=accepted",
        },
    )
    assert "CopyObjectResult" in result and isinstance(result["CopyObjectResult"]["LastModified"], str)
    assert s3.get_object(Bucket="dst-bucket", Key="out/a b+c.txt")["Body"].read() == b"x"
    with pytest.raises(ASLError) as info:
        _call(endpoints, "arn:aws:states:::aws-sdk:s3:getObject", {"Bucket": "dst-bucket", "Key": "nope"})
    assert info.value.error == "S3.NoSuchKeyException"
    assert "(Service: S3, Status Code: 404, Request ID: " in (info.value.cause or "")


def test_sdk_client_errors_are_named_for_retry() -> None:
    with pytest.raises(ASLError) as info:
        _call(AwsEndpoints.local(1), "arn:aws:states:::aws-sdk:s3:listBuckets", {})
    assert info.value.error == "S3.SdkClientException"


def test_distributed_map_reads_and_exports_through_s3(moto: LocalAws) -> None:
    """A Distributed Map's ItemReader (getObject of a CSV, listObjectsV2 with a Prefix) and ResultWriter
    (putObject of the results and manifest.json) through boto3 against moto's S3: the calls
    workflows/engine/item_io.py asks its resolver for."""
    endpoints = moto.endpoints()
    s3 = endpoints.client("s3")
    s3.create_bucket(Bucket="io-in")
    s3.create_bucket(Bucket="io-out")
    s3.put_object(Bucket="io-in", Key="rows.csv", Body=b"name;size\na;1\nb;2\n")
    s3.put_object(Bucket="io-in", Key="img/x.jpg", Body=b"xyz")

    def processor(name: str) -> dict[str, Any]:
        return {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": name,
            "States": {name: {"Type": "Pass", "End": True}},
        }

    csv_map = {
        "Type": "Map",
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {
                "InputType": "CSV",
                "CSVHeaderLocation": "FIRST_ROW",
                "CSVDelimiter": "SEMICOLON",
            },
            "Parameters": {"Bucket": "io-in", "Key": "rows.csv"},
        },
        "ItemProcessor": processor("P1"),
        "ResultWriter": {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "io-out", "Prefix": "r"},
        },
        "ResultPath": "$.export",
        "Next": "List",
    }
    list_map = {
        "Type": "Map",
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:listObjectsV2",
            "Parameters": {"Bucket": "io-in", "Prefix": "img/"},
        },
        "ItemProcessor": processor("P2"),
        "ResultPath": "$.listed",
        "End": True,
    }
    definition = load_definition({"StartAt": "Csv", "States": {"Csv": csv_map, "List": list_map}})
    resolver = ServiceIntegrationResolver(endpoints)

    async def go() -> Any:
        return await asyncio.wait_for(run_async(definition, {}, resolver=ChainResolver(resolver)), 30)

    try:
        run = asyncio.run(go())
    finally:
        resolver.close()
    assert run.outcome is not None
    result = run.outcome.to_json()
    assert result["status"] == "SUCCEEDED", result
    output = result["output"] if isinstance(result["output"], dict) else json.loads(result["output"])
    (listed,) = output["listed"]
    assert listed["Key"] == "img/x.jpg" and listed["Size"] == 3 and isinstance(listed["LastModified"], int)
    manifest_key = output["export"]["ResultWriterDetails"]["Key"]
    manifest = json.loads(s3.get_object(Bucket="io-out", Key=manifest_key)["Body"].read())
    (succeeded,) = manifest["ResultFiles"]["SUCCEEDED"]
    records = json.loads(s3.get_object(Bucket="io-out", Key=succeeded["Key"])["Body"].read())
    assert sorted(json.loads(r["Output"])["name"] for r in records) == ["a", "b"]
