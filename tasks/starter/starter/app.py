"""Lambda target of the EventBridge rule: starts the state machine with a deterministic execution name."""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any, TypedDict

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from .naming import execution_name, object_ref_from_eventbridge

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@cache
def _sfn() -> Any:
    # Created on first use, not at import, so tests can start moto first; the endpoint comes from
    # AWS_ENDPOINT_URL(_STEPFUNCTIONS) when set, which is how the local engine points it at itself.
    return boto3.client("stepfunctions")


class StartResult(TypedDict):
    executionName: str
    executionArn: str | None
    started: bool


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context
@event_source(data_class=S3EventBridgeNotificationEvent)
def handler(event: S3EventBridgeNotificationEvent, context: LambdaContext) -> StartResult:
    ref = object_ref_from_eventbridge(event.raw_event)
    name = execution_name(ref["bucket"], ref["key"], ref["versionId"], ref["sequencer"])
    logger.append_keys(bucket=ref["bucket"], key=ref["key"], execution_name=name)
    try:
        response = _sfn().start_execution(
            stateMachineArn=os.environ["STATE_MACHINE_ARN"], name=name, input=json.dumps(ref)
        )
    except _sfn().exceptions.ExecutionAlreadyExists:
        # The dedupe working as designed (an EventBridge redelivery or a replay), not a failure:
        # every other error propagates so Lambda retries and then sends the event to the DLQ.
        logger.info("execution already exists; duplicate event ignored")
        metrics.add_metric(name="DuplicateEvents", unit=MetricUnit.Count, value=1)
        return StartResult(executionName=name, executionArn=None, started=False)
    metrics.add_metric(name="ExecutionsStarted", unit=MetricUnit.Count, value=1)
    return StartResult(executionName=name, executionArn=response["executionArn"], started=True)
