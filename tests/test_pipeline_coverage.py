"""definitions/pipeline.asl.json through the `sfn` fixture: every state, every Choice rule and Default,
every Catch and every Retry, each reached by a case below, and a test that the cases together cover
all of them, read from the definition itself (a rule added to the file and no case for it fails here).

A case is what the tasks answer (validate's and analyse's results, or an error injected at a state)
and where the definition must take that. To cover a new branch, add a Case: copy the nearest one,
change the task result the new rule reads, and name the state it must reach.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from workflows.asl.definition import load_definition
from workflows.local.template import load_template
from workflows.service.coverage import Coverage, DefinitionCoverage
from workflows.testing.runner import Execution, StateMachineRunner

PIPELINE = "definitions/pipeline.asl.json"
TEMPLATE = "template.yaml"

# The execution input, as the starter builds it from an S3 event.
UPLOAD = {
    "bucket": "workflows-local-inputbucket",
    "key": "uploads/cat.jpg",
    "versionId": "v1",
    "size": 48213,
    "etag": "9b2cf535f27731c974343645a3985328",
    "sequencer": None,
    "eventTime": "2026-01-01T00:00:00Z",
    "objectId": "4c1f0e7d2b9a8c6e5f4d3c2b1a09f8e7d6c5b4a3",
    "copySource": "workflows-local-inputbucket/uploads/cat.jpg?versionId=v1",
}

# What validate answers for that upload (a JPEG whose bytes agree with its extension).
VALIDATED = {
    "bucket": UPLOAD["bucket"],
    "key": UPLOAD["key"],
    "versionId": "v1",
    "size": 48213,
    "sizeClass": "small",
    "etag": UPLOAD["etag"],
    "contentType": "image/jpeg",
    "kind": "image",
    "extensionMatches": True,
    "metadata": {},
}


def image(**report: Any) -> dict[str, Any]:
    """What analyse answers for an ordinary, sharp, well exposed 640x480 photo without GPS and with
    nothing after its end; `report` changes the fields a Choice rule reads (width, height,
    trailingBytes, gps, sharpness, brightness)."""
    base = {
        "format": "JPEG",
        "width": 640,
        "height": 480,
        "trailingBytes": 0,
        "gps": False,
        "sharpness": 150.0,
        "brightness": 0.5,
    }
    preview = {"bucket": "workflows-local-previewbucket", "key": f"previews/{UPLOAD['objectId']}.jpg"}
    return {
        "kind": "image",
        "contentType": "image/jpeg",
        "image": {**base, **report},
        "document": None,
        "preview": {**preview, "width": 256, "height": 192},
    }


def document(**report: Any) -> dict[str, Any]:
    """What analyse answers for a valid 3-row CSV; `report` changes format / valid / rows."""
    base = {
        "format": "csv",
        "valid": True,
        "error": None,
        "rows": 3,
        "columns": 2,
        "topLevel": None,
        "header": [],
    }
    return {
        "kind": "document",
        "contentType": "text/csv",
        "image": None,
        "document": {**base, **report},
        "preview": None,
    }


@dataclass(frozen=True)
class Case:
    """One run: what validate and analyse answer, errors injected (state, error, attempts or None for
    every attempt), template parameters; and the states it must reach, its status, and for a routed
    upload its outcome and reason (what the Pass state on that branch records)."""

    name: str
    reaches: tuple[str, ...]
    analysis: dict[str, Any] = field(default_factory=image)
    validation: dict[str, Any] = field(default_factory=dict)
    faults: tuple[tuple[str, str, tuple[int, ...] | None], ...] = ()
    parameters: dict[str, str] = field(default_factory=dict)
    status: str = "SUCCEEDED"
    outcome: tuple[str, str] | None = None
    retried: dict[str, int] = field(default_factory=dict)


DOC = {"contentType": "text/csv", "kind": "document"}
# Errors as the tasks and integrations name them. Lambda's own are retried; the tasks' named errors
# are the upload's fault (quarantined); anything else is an operational failure (alert, then fail).
GONE, REJECTED, BUG = "ObjectNotFound", "UnsupportedMediaType", "KeyError"

CASES = [
    # Route -> RouteImage
    Case("accepted image", ("Accept", "Thumbnail", "Done"), outcome=("accepted", "passed")),
    Case("too narrow", ("RejectTooSmall", "Done"), image(width=32), outcome=("rejected", "too-small")),
    Case("too short", ("RejectTooSmall",), image(height=10), outcome=("rejected", "too-small")),
    Case(
        "data after the image's end (a polyglot)",
        ("ReviewTrailingData",),
        image(trailingBytes=4096),
        outcome=("review", "trailing-data"),
    ),
    Case(
        "an image whose end cannot be found",
        ("Accept",),
        image(trailingBytes=None),
        outcome=("accepted", "passed"),
    ),
    Case("gps in the exif", ("ReviewPrivacy",), image(gps=True), outcome=("review", "gps-location")),
    Case(
        "gps allowed by ReviewOnGps=false",
        ("Accept",),
        image(gps=True),
        parameters={"ReviewOnGps": "false"},
        outcome=("accepted", "passed"),
    ),
    Case("blurry", ("ReviewBlurry",), image(sharpness=3.0), outcome=("review", "blurry")),
    Case("too dark", ("ReviewExposure",), image(brightness=0.01), outcome=("review", "exposure")),
    Case("too bright", ("ReviewExposure",), image(brightness=0.99), outcome=("review", "exposure")),
    Case(
        "image whose bytes disagree with its extension",
        ("ReviewExtension",),
        validation={"extensionMatches": False},
        outcome=("review", "extension-mismatch"),
    ),
    # Route -> RouteDocument
    Case("valid document", ("Accept", "Done"), document(), DOC, outcome=("accepted", "passed")),
    Case(
        "invalid document",
        ("RejectInvalidDocument",),
        document(valid=False),
        DOC,
        outcome=("rejected", "invalid-document"),
    ),
    Case(
        "plain text",
        ("ReviewUnknownText",),
        document(format="text"),
        {"contentType": "text/plain", "kind": "document"},
        outcome=("review", "unknown-text"),
    ),
    Case(
        "huge document",
        ("ReviewLargeDocument",),
        document(rows=2_000_000),
        DOC,
        outcome=("review", "large-document"),
    ),
    Case(
        "document whose bytes disagree with its extension",
        ("ReviewExtension",),
        document(),
        {**DOC, "extensionMatches": False},
        outcome=("review", "extension-mismatch"),
    ),
    # Route's Default
    Case(
        "a kind no rule knows",
        ("ReviewUnknown",),
        {"kind": "archive", "contentType": "application/zip"},
        outcome=("review", "unknown-kind"),
    ),
    # Catches: skipped, quarantined, failed
    Case("deleted before validate", ("Skip", "NotifySkipped", "Skipped"), faults=(("Validate", GONE, None),)),
    Case("deleted before analyse", ("Skip", "Skipped"), faults=(("Analyse", GONE, None),)),
    Case(
        "rejected by validate",
        ("QuarantineKey", "Quarantine", "Quarantined"),
        faults=(("Validate", REJECTED, None),),
    ),
    Case(
        "corrupt image",
        ("QuarantineKey", "NotifyQuarantined", "Quarantined"),
        faults=(("Analyse", "CorruptImage", None),),
    ),
    Case(
        "validate's Lambda keeps failing",
        ("PrepareFailureNotice", "NotifyFailure", "PipelineFailed"),
        faults=(("Validate", "Lambda.ServiceException", None),),
        status="FAILED",
        retried={"Validate": 5},
    ),
    Case(
        "analyse has a bug",
        ("PrepareFailureNotice", "PipelineFailed"),
        faults=(("Analyse", BUG, None),),
        status="FAILED",
    ),
    Case(
        "the copy is denied",
        ("PrepareFailureNotice",),
        faults=(("CopyToOutcome", "S3.AccessDeniedException", None),),
        status="FAILED",
    ),
    Case(
        "the notification is refused",
        ("PipelineFailed",),
        faults=(("Notify", "SNS.AuthorizationErrorException", None),),
        status="FAILED",
    ),
    Case(
        "the thumbnail copy is denied",
        ("PrepareFailureNotice",),
        faults=(("Thumbnail", "S3.AccessDeniedException", None),),
        status="FAILED",
    ),
    Case(
        "the quarantine copy is denied",
        ("Quarantine", "PrepareFailureNotice"),
        faults=(("Validate", "EmptyObject", None), ("Quarantine", "S3.AccessDeniedException", None)),
        status="FAILED",
    ),
    Case(
        "the quarantine notice is refused",
        ("NotifyQuarantined", "PipelineFailed"),
        faults=(("Validate", REJECTED, None), ("NotifyQuarantined", "SNS.AuthorizationErrorException", None)),
        status="FAILED",
    ),
    Case(
        "the skip notice is refused",
        ("NotifySkipped", "PipelineFailed"),
        faults=(("Validate", GONE, None), ("NotifySkipped", "SNS.AuthorizationErrorException", None)),
        status="FAILED",
    ),
    Case(
        # NotifyFailure's Catch and its Next both lead to PipelineFailed: only the error tells them apart.
        "the failure alert itself fails",
        ("NotifyFailure", "PipelineFailed"),
        faults=(("Analyse", BUG, None), ("NotifyFailure", "SNS.AuthorizationErrorException", None)),
        status="FAILED",
    ),
    # Retries: a transient error on the first attempt of every retried state, then success
    Case(
        "transient errors on the way to accepted",
        ("Accept", "Thumbnail", "Done"),
        faults=(
            ("Validate", "S3Unavailable", (0,)),
            ("Analyse", "Lambda.TooManyRequestsException", (0,)),
            ("CopyToOutcome", "S3.SlowDownException", (0,)),
            ("Notify", "SNS.ThrottledException", (0,)),
            ("Thumbnail", "S3.InternalErrorException", (0,)),
        ),
        outcome=("accepted", "passed"),
        retried={"Validate": 1, "Analyse": 1, "CopyToOutcome": 1, "Notify": 1, "Thumbnail": 1},
    ),
    Case(
        "transient errors on the way to quarantine",
        ("Quarantined",),
        faults=(
            ("Validate", REJECTED, None),
            ("Quarantine", "S3.InternalErrorException", (0,)),
            ("NotifyQuarantined", "SNS.InternalErrorException", (0, 1)),
        ),
        retried={"Quarantine": 1, "NotifyQuarantined": 2},
    ),
    Case(
        "transient errors on the way to skipped",
        ("Skipped",),
        faults=(("Validate", GONE, None), ("NotifySkipped", "SNS.KmsThrottlingException", (0,))),
        retried={"NotifySkipped": 1},
    ),
    Case(
        "transient errors on the way to failed",
        ("PipelineFailed",),
        faults=(("Analyse", BUG, None), ("NotifyFailure", "SNS.SdkClientException", (0,))),
        status="FAILED",
        retried={"NotifyFailure": 1},
    ),
]


class Integrations:
    """The S3 copies and SNS publishes the definition makes, recorded; each answers as AWS does."""

    def __init__(self) -> None:
        self.copies: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []

    def copy(self, params: dict[str, Any]) -> dict[str, Any]:
        self.copies.append(params)
        return {"CopyObjectResult": {"ETag": '"etag"'}}

    def publish(self, params: dict[str, Any]) -> dict[str, Any]:
        self.messages.append(params)
        return {"MessageId": f"m-{len(self.messages)}"}


def run_case(sfn: StateMachineRunner, case: Case, integrations: Integrations | None = None) -> Execution:
    integrations = integrations or Integrations()
    for state, error, attempts in case.faults:
        sfn.fail(state, error, f"injected by the case {case.name!r}", attempts=attempts)
    validated = {**VALIDATED, **case.validation}
    try:
        return sfn.run(
            PIPELINE,
            UPLOAD,
            template=TEMPLATE,
            parameters=case.parameters,
            handlers={
                "ValidateFunction": lambda event: validated,
                "AnalyseFunction": lambda event: case.analysis,
                "arn:aws:states:::aws-sdk:s3:copyObject": integrations.copy,
                "arn:aws:states:::sns:publish": integrations.publish,
            },
        )
    finally:
        sfn.faults.clear()  # faults belong to this case only


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_case_reaches_its_branch(sfn: StateMachineRunner, case: Case) -> None:
    integrations = Integrations()
    execution = run_case(sfn, case, integrations)
    execution.assert_entered(*case.reaches)
    assert execution.status == case.status, execution
    for state, times in case.retried.items():
        execution.assert_retried(state, times)
    if case.outcome is not None:
        outcome, reason = case.outcome
        assert execution.output["outcome"]["outcome"] == outcome
        assert execution.output["outcome"]["reason"] == reason
        published = json.loads(integrations.messages[0]["Message"])
        assert (published["outcome"], published["reason"]) == case.outcome
    alert_refused = any(state == "NotifyFailure" and attempts is None for state, _, attempts in case.faults)
    if "NotifyFailure" in execution.path and not alert_refused:
        # An operational failure alerts, naming the upload, before the execution fails.
        alert = integrations.messages[-1]
        assert alert["MessageAttributes"]["outcome"]["StringValue"] == "failed"
        assert json.loads(alert["Message"])["source"]["key"] == UPLOAD["key"]


def test_the_cases_cover_every_state_and_transition(tmp_path: Any, pytestconfig: pytest.Config) -> None:
    coverage = Coverage()
    sfn = StateMachineRunner(pytestconfig.rootpath, coverage)
    for case in CASES:
        run_case(sfn, case)
    entry = coverage.definitions[PIPELINE]
    states, edges = entry.missing()
    missing = [f"state {s} is never entered" for s in states] + [f"{e.label()} is never taken" for e in edges]
    assert not missing, "add a Case that reaches:\n  " + "\n  ".join(missing)
    assert entry.notes == []
    assert entry.percent() == 100.0
    # The figures the definition itself gives, so a rule added to the file is counted here too.
    document = load_definition((pytestconfig.rootpath / PIPELINE).read_text(), _substitutions(pytestconfig))
    whole = DefinitionCoverage.of(PIPELINE, document)
    assert [s["name"] for s in whole.states] == [s["name"] for s in entry.states]
    assert entry.counts() == {k: (total, total) for k, (_, total) in whole.counts().items()}


def _substitutions(config: pytest.Config) -> dict[str, str]:
    stack = load_template(config.rootpath / TEMPLATE)
    return next(iter(stack.state_machines.values())).substitutions


def test_every_choice_rule_of_the_file_is_reached_by_a_case(pytestconfig: pytest.Config) -> None:
    """Choice rules enumerated from the JSON file itself: each rule (by index) and each Default."""
    document = json.loads((pytestconfig.rootpath / PIPELINE).read_text())
    wanted = set()
    for name, state in document["States"].items():
        if state["Type"] == "Choice":
            wanted |= {(name, "choice", i) for i in range(len(state["Choices"]))}
            if "Default" in state:
                wanted.add((name, "default", None))
    coverage = Coverage()
    sfn = StateMachineRunner(pytestconfig.rootpath, coverage)
    taken = set()
    for case in CASES:
        taken |= {(t.source, t.kind, t.index) for t in run_case(sfn, case).transitions}
    assert sorted(wanted - taken, key=str) == []


def test_the_projects_own_handlers_run_from_the_template(sfn: StateMachineRunner) -> None:
    """Validate and analyse as template.yaml deploys them (CodeUri + Handler + Environment), in process
    against moto's S3: a real PNG goes to accepted, and its thumbnail is analyse's preview, copied."""
    from moto import mock_aws
    from PIL import Image

    stack = load_template("template.yaml")
    accepted, previews = stack.buckets["AcceptedBucket"].name, stack.buckets["PreviewBucket"].name
    picture = Image.effect_noise((160, 120), 60).convert("RGB")
    body = io.BytesIO()
    picture.save(body, format="PNG")
    key = "uploads/noise.png"
    integrations = Integrations()
    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (UPLOAD["bucket"], accepted, previews):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=UPLOAD["bucket"], Key=key, Body=body.getvalue(), ContentType="image/png")
        upload = {
            **UPLOAD,
            "key": key,
            "versionId": None,
            "size": len(body.getvalue()),
            "copySource": f"{UPLOAD['bucket']}/{key}",
        }
        execution = sfn.run(
            PIPELINE,
            upload,
            template=TEMPLATE,
            handlers={
                "arn:aws:states:::aws-sdk:s3:copyObject": integrations.copy,
                "arn:aws:states:::sns:publish": integrations.publish,
            },
        )
        stored = [o["Key"] for o in s3.list_objects_v2(Bucket=previews).get("Contents", [])]
    execution.assert_succeeded()
    analysis = execution.output_of("Analyse")["analysis"]
    assert analysis["image"]["width"] == 160
    # The template's PREVIEW_BUCKET and PREVIEW_SIZE reached analyse: a 160x120 image fits in 256.
    preview_key = f"previews/{UPLOAD['objectId']}.jpg"
    assert analysis["preview"] == {"bucket": previews, "key": preview_key, "width": 160, "height": 120}
    assert stored == [preview_key]
    # Noise is sharp and, around mid-grey, well exposed: accepted, so the thumbnail copy ran.
    assert execution.output["outcome"]["reason"] == "passed"
    # The template's MaxObjectBytes reached validate through DefinitionSubstitutions and Configure.
    assert execution.state("Validate").parameters["limits"]["maxBytes"] == 104857600
    assert integrations.copies[-1] == {
        "Bucket": accepted,
        "Key": f"thumbnails/{UPLOAD['objectId']}.jpg",
        "CopySource": f"{previews}/{preview_key}",
        "MetadataDirective": "COPY",
    }
    assert execution.output["thumbnail"] == {
        "thumbnailBucket": accepted,
        "thumbnailKey": f"thumbnails/{UPLOAD['objectId']}.jpg",
        "width": 160,
        "height": 120,
    }
