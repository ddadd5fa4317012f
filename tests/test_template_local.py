"""template.yaml read as the local engine sees it: names, environments, rule pattern, substitutions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workflows.local.template import TemplateError, load_template, load_yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def stack():  # type: ignore[no-untyped-def]
    return load_template(TEMPLATE)


def test_short_form_tags_become_long_form() -> None:
    doc = load_yaml(
        "A: !Ref X\nB: !GetAtt Fn.Arn\nC: !Sub 'a-${X}'\nD: !If [C, 1, 2]\nE: !Join ['', [a, b]]\nF: !Condition C\n"
    )
    assert doc == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["Fn", "Arn"]},
        "C": {"Fn::Sub": "a-${X}"},
        "D": {"Fn::If": ["C", 1, 2]},
        "E": {"Fn::Join": ["", ["a", "b"]]},
        "F": {"Condition": "C"},
    }


def test_functions_have_code_handler_limits_and_merged_environment(stack) -> None:  # type: ignore[no-untyped-def]
    validate = stack.functions["ValidateFunction"]
    assert validate.name == "workflows-local-ValidateFunction"
    assert validate.arn == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:workflows-local-ValidateFunction"
    assert validate.code_uri == ROOT / "tasks" / "validate"
    assert validate.handler == "validate.app.handler"
    assert (validate.runtime, validate.timeout, validate.memory_size) == ("python3.11", 30, 256)
    # Globals first, the function's own variables win; intrinsics resolved to local names.
    assert validate.environment["POWERTOOLS_METRICS_NAMESPACE"] == "UploadPipeline"
    assert validate.environment["PIPELINE_ENVIRONMENT"] == "dev"
    assert validate.environment["POWERTOOLS_SERVICE_NAME"] == "validate"
    analyse = stack.functions["AnalyseFunction"]
    assert analyse.environment["PREVIEW_BUCKET"] == "workflows-local-previewbucket"
    assert analyse.environment["PREVIEW_SIZE"] == "256"
    assert (analyse.timeout, analyse.memory_size) == (120, 1024)
    starter = stack.functions["StarterFunction"]
    assert starter.environment["STATE_MACHINE_ARN"] == (
        f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:workflows-local-PipelineStateMachine"
    )


def test_function_lookup_by_arn_alias_or_name(stack) -> None:  # type: ignore[no-untyped-def]
    fn = stack.functions["AnalyseFunction"]
    assert stack.function_for(fn.arn) is fn
    assert stack.function_for(fn.arn + ":live") is fn
    assert stack.function_for(fn.name) is fn
    assert stack.function_for("arn:aws:lambda:us-east-1:1:function:nope") is None


def test_buckets_topic_queues_subscription(stack) -> None:  # type: ignore[no-untyped-def]
    inp = stack.buckets["InputBucket"]
    assert (inp.name, inp.versioned, inp.eventbridge) == ("workflows-local-inputbucket", True, True)
    assert [b.logical_id for b in stack.buckets_with_eventbridge()] == ["InputBucket"]
    assert (
        stack.topics["PipelineTopic"].arn == f"arn:aws:sns:us-east-1:{ACCOUNT}:workflows-local-PipelineTopic"
    )
    assert set(stack.queues) == {"ReviewQueue", "StartDeadLetterQueue"}
    sub = stack.subscriptions["ReviewSubscription"]
    assert sub.protocol == "sqs" and sub.raw_message_delivery
    assert sub.endpoint == stack.queues["ReviewQueue"].arn
    assert sub.filter_policy == {"outcome": ["review"]}
    # AlertSubscription has a condition (AlertEmail) that is false by default.
    assert "AlertSubscription" not in stack.subscriptions


def test_rule_pattern_follows_the_suffix_condition() -> None:
    rule = next(iter(load_template(TEMPLATE).rules.values()))
    assert rule.target_function == "StarterFunction"
    assert rule.pattern["detail"]["object"]["key"] == [{"prefix": "uploads/"}]
    assert rule.pattern["detail"]["bucket"]["name"] == ["workflows-local-inputbucket"]
    assert rule.dead_letter_arn and rule.dead_letter_arn.endswith(":workflows-local-StartDeadLetterQueue")
    with_suffix = next(iter(load_template(TEMPLATE, parameters={"InputSuffix": ".jpg"}).rules.values()))
    assert with_suffix.pattern["detail"]["object"]["key"] == [{"wildcard": "uploads/*.jpg"}]


def test_state_machine_substitutions_resolve_to_local_arns(stack) -> None:  # type: ignore[no-untyped-def]
    sm = stack.state_machines["PipelineStateMachine"]
    assert sm.type == "STANDARD"
    subs = sm.substitutions
    assert subs["ValidateFunctionArn"] == stack.functions["ValidateFunction"].arn + ":live"
    assert subs["AcceptedBucket"] == "workflows-local-acceptedbucket"
    assert subs["QuarantineBucket"] == "workflows-local-rejectedbucket"
    assert subs["TopicArn"] == stack.topics["PipelineTopic"].arn
    assert subs["MaxObjectBytes"] == "104857600"
    text = sm.definition_text()
    assert "${" not in text.replace("${!", "")
    definition = json.loads(text)
    assert definition["States"]["Validate"]["Resource"] == subs["ValidateFunctionArn"]
    assert (
        stack.function_for(definition["States"]["Analyse"]["Resource"]) is stack.functions["AnalyseFunction"]
    )


def test_parameters_override_defaults_and_are_checked() -> None:
    stack = load_template(
        TEMPLATE, stack_name="other", parameters={"Environment": "prod", "MaxObjectBytes": 5}
    )
    assert stack.functions["ValidateFunction"].environment["PIPELINE_ENVIRONMENT"] == "prod"
    assert stack.state_machines["PipelineStateMachine"].substitutions["MaxObjectBytes"] == "5"
    assert stack.buckets["InputBucket"].name == "other-inputbucket"
    assert stack.keys["PipelineKey"].aliases == ("alias/upload-pipeline-prod-other",)
    with pytest.raises(TemplateError):
        load_template(TEMPLATE, parameters={"Environment": "staging"})
    with pytest.raises(TemplateError):
        load_template(TEMPLATE, parameters={"NoSuchParameter": "x"})


def test_outputs(stack) -> None:  # type: ignore[no-untyped-def]
    assert stack.outputs["InputBucketName"] == "workflows-local-inputbucket"
    assert stack.outputs["ReviewQueueUrl"].endswith("/workflows-local-ReviewQueue")


def _statements(resource: dict) -> list[dict]:  # type: ignore[type-arg]
    return [s for p in resource["Properties"].get("Policies", []) if "Statement" in p for s in p["Statement"]]


def test_previews_are_written_by_analyse_only_and_read_by_the_state_machine_only() -> None:
    """The preview bucket's grants, as least privilege asks: analyse may put objects under previews/
    and nothing else there; the state machine may get them (the Thumbnail copy) and not write there.
    Every role that writes to the SSE-KMS buckets, topic or queue may ask the pipeline key for a data
    key (S3, SNS and SQS call GenerateDataKey, not Encrypt)."""
    resources = load_yaml(TEMPLATE.read_text("utf-8"))["Resources"]
    preview = {"Fn::Sub": "${PreviewBucket.Arn}/previews/*"}
    by_role: dict[str, list[tuple[list[str], object]]] = {}
    for name, resource in resources.items():
        for statement in _statements(resource):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            by_role.setdefault(name, []).append((actions, statement["Resource"]))
    on_previews = {
        name: sorted(a for actions, where in grants if where == preview for a in actions)
        for name, grants in by_role.items()
        if any(where == preview for _, where in grants)
    }
    assert on_previews == {
        "AnalyseFunction": ["s3:PutObject"],
        "PipelineStateMachine": ["s3:GetObject", "s3:GetObjectTagging"],
    }
    key = {"Fn::GetAtt": ["PipelineKey", "Arn"]}
    for role in ("AnalyseFunction", "PipelineStateMachine", "StarterFunction"):
        assert (["kms:GenerateDataKey"], key) in by_role[role], role
    bucket = resources["PreviewBucket"]["Properties"]
    assert bucket["LifecycleConfiguration"]["Rules"] == [
        {"Id": "expire-previews", "Status": "Enabled", "ExpirationInDays": 1}
    ]
    assert (
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
            "SSEAlgorithm"
        ]
        == "aws:kms"
    )
