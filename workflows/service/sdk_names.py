"""Names of AWS services as Step Functions, boto3 and the Java SDK spell them, read from botocore's models."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import boto3
import botocore.session

from workflows.asl.errors import ASLError

# Step Functions' aws-sdk service names that differ from boto3's client names.
_SFN_TO_BOTO3 = {
    "sfn": "stepfunctions",
    "eventbridge": "events",
    "cloudwatchlogs": "logs",
    "elasticloadbalancingv2": "elbv2",
    "elasticloadbalancing": "elb",
    "costexplorer": "ce",
    "databasemigration": "dms",
    "cognitoidentityprovider": "cognito-idp",
    "cognitoidentity": "cognito-identity",
    "applicationautoscaling": "application-autoscaling",
    "sagemakerruntime": "sagemaker-runtime",
}


@cache
def boto3_service(sfn_name: str) -> str:
    """The boto3 client name for a Step Functions aws-sdk service name (`sfn` -> `stepfunctions`)."""
    if sfn_name in _SFN_TO_BOTO3:
        return _SFN_TO_BOTO3[sfn_name]
    available = boto3.session.Session().get_available_services()
    if sfn_name in available:
        return sfn_name
    for name in available:
        if name.replace("-", "") == sfn_name.lower():
            return name
    raise ASLError("States.Runtime", f"Unsupported aws-sdk service: {sfn_name}")


@cache
def _service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


@cache
def _service_id(service: str) -> str:
    return str(_service_model(service).service_id)


@cache
def sdk_service_name(service: str) -> str:
    """The service as the Java SDK v2 names its client: `S3`, `DynamoDb`, `SecretsManager`, `Sfn`, `Ec2`."""
    words = re.split(r"[\s\-_]+", _service_id(service))
    out = []
    for word in words:
        for part in re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", word):
            out.append(part[0].upper() + part[1:].lower())
    return "".join(out)


@cache
def _modeled_errors(service: str) -> dict[str, str]:
    """Error code -> modeled exception shape name."""
    errors: dict[str, str] = {}
    for shape in _service_model(service).error_shapes:
        errors[shape.name] = shape.name
        code = (shape.metadata.get("error") or {}).get("code")
        if code:
            errors[code] = shape.name
    return errors


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def _snake(action: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", action).lower()
