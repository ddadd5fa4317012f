"""template.yaml: cfn-lint, checkov, and the SAM-transformed template deployed into moto's CloudFormation."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
from moto import mock_aws

from tests import tools

ROOT = Path(__file__).parents[1]
TEMPLATE = ROOT / "template.yaml"


def test_cfn_lint_clean():
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    out = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_checkov_clean():
    # checkov pins boto3==1.35.x, which conflicts with ours: it lives in its own venv (tests/tools.py).
    checkov = tools.checkov()
    out = subprocess.run(
        [checkov, "-f", str(TEMPLATE), "--compact", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        env=os.environ | {"BC_SKIP_MAPPING": "TRUE"},
    )
    report = json.loads(out.stdout)
    summary = report["summary"]
    assert summary["failed"] == 0 and summary["parsing_errors"] == 0, json.dumps(
        report["results"]["failed_checks"]
    )[:4000]
    for skipped in report["results"]["skipped_checks"]:
        assert (skipped.get("check_result") or {}).get("suppress_comment"), skipped["check_id"]  # justified


def test_sam_validate_lint_clean():
    # aws-sam-cli pins boto3/click versions that conflict with ours: it lives in its own venv (tests/tools.py).
    sam = tools.sam()
    out = subprocess.run(
        [sam, "validate", "--lint", "--template", str(TEMPLATE), "--region", "us-east-1"],
        capture_output=True,
        text=True,
        env=os.environ | {"SAM_CLI_TELEMETRY": "0"},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "is a valid SAM Template" in out.stdout + out.stderr


def transformed(artifacts: str) -> dict:
    """What `sam package` + the SAM transform would produce: local paths replaced by S3 / inline."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse(TEMPLATE.read_text("utf-8"))
    for resource in template["Resources"].values():
        props = resource["Properties"]
        if resource["Type"] == "AWS::Serverless::Function":
            assert (ROOT / props["CodeUri"] / "requirements.txt").exists()
            props["CodeUri"] = f"s3://{artifacts}/code.zip"
        elif resource["Type"] == "AWS::Serverless::StateMachine":
            props["Definition"] = json.loads((ROOT / props.pop("DefinitionUri")).read_text("utf-8"))

    class NoManagedPolicies:
        def load(self) -> dict:
            return {}

    return transform(template, {}, NoManagedPolicies())


def test_definition_placeholders_all_substituted(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    import re

    template = transformed("artifacts")
    machine = next(
        r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"
    )
    needed = set(re.findall(r"\$\{(\w+)\}", (ROOT / "definitions/pipeline.asl.json").read_text()))
    assert needed == set(machine["Properties"]["DefinitionSubstitutions"])


def test_deploys_into_moto_cloudformation(monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="artifacts")
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as zf:
            zf.writestr("app.py", "def handler(event, context):\n    return event\n")
        s3.put_object(Bucket="artifacts", Key="code.zip", Body=code.getvalue())
        template = transformed("artifacts")
        kinds = {r["Type"] for r in template["Resources"].values()}
        # moto 5.2.5 has no CloudFormation model for these: it skips them with a warning, so they are
        # checked in the transformed template only.
        assert {
            "AWS::Lambda::Alias",
            "AWS::StepFunctions::StateMachineAlias",
            "AWS::CloudWatch::Alarm",
            "AWS::SNS::Subscription",
            "AWS::S3::BucketPolicy",
            "AWS::SQS::QueuePolicy",
        } <= kinds
        aliases = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Alias"}
        # Refs to those aliases would resolve to nothing in moto; point them at the function instead.
        text = json.dumps(template)
        for alias in aliases:
            function = template["Resources"][alias]["Properties"]["FunctionName"]["Ref"]
            text = text.replace(json.dumps({"Ref": alias}), json.dumps({"Fn::GetAtt": [function, "Arn"]}))
        cfn = boto3.client("cloudformation")
        cfn.create_stack(StackName="pipeline", TemplateBody=text, Capabilities=["CAPABILITY_IAM"])
        stack = cfn.describe_stacks(StackName="pipeline")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

        buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
        for name in ("InputBucketName", "AcceptedBucketName", "ReviewBucketName", "RejectedBucketName"):
            assert outputs[name] in buckets
        encryption = s3.get_bucket_encryption(Bucket=outputs["InputBucketName"])
        assert (
            encryption["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"][
                "SSEAlgorithm"
            ]
            == "aws:kms"
        )
        # (moto's CloudFormation model of AWS::S3::Bucket does not apply VersioningConfiguration.)

        assert outputs["TopicArn"] in {t["TopicArn"] for t in boto3.client("sns").list_topics()["Topics"]}
        machines = boto3.client("stepfunctions").list_state_machines()["stateMachines"]
        assert outputs["StateMachineArn"] in {m["stateMachineArn"] for m in machines}
        rules = boto3.client("events").list_rules()["Rules"]
        assert len(rules) == 1
        pattern = json.loads(rules[0]["EventPattern"])
        assert pattern["detail-type"] == ["Object Created"]
        assert pattern["detail"]["bucket"]["name"] == [outputs["InputBucketName"]]
        assert pattern["detail"]["object"]["key"] == [{"prefix": "uploads/"}]
        functions = {f["Handler"]: f for f in boto3.client("lambda").list_functions()["Functions"]}
        assert set(functions) == {
            "validate.app.handler",
            "analyse.app.handler",
            "starter.app.handler",
        }
        assert functions["analyse.app.handler"]["Timeout"] == 120
        assert functions["analyse.app.handler"]["MemorySize"] == 1024
