"""The web console, driven in headless Chromium: pages, graph statuses, actions, editor, escaping.

The server runs in a thread (tests/browser.py: uvicorn on a free 127.0.0.1 port, temp data dir);
executions are created through the service on the server's loop. Screenshots go to tests/artifacts/;
`UPDATE_DOCS_SCREENSHOT=1` also refreshes docs/console.png (the README's picture of the execution
page). They drive Debian's chromium (tests/tools.py finds it; under CI a missing one fails the run).
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser import ROOT, LiveServer
from tests.browser import shot as browser_shot
from workflows.engine.resolvers import CallableResolver, ChainResolver
from workflows.service.api import create_app
from workflows.service.console import HISTORY_PAGE, create_console
from workflows.service.console_data import (
    COLUMNS_TAG,
    DEFAULT_COLUMNS,
    ExecutionIndex,
    execution_columns,
    execution_runs,
    parse_columns,
    pointer_position,
)
from workflows.service.service import StepFunctionsService
from workflows.service.store import Store

# A failed image load is the hostile test's own doing; anything else is a console bug.
EXPECTED_PAGE_ERRORS = ("Failed to load resource",)
ROLE = "arn:aws:iam::123456789012:role/console-test"
FN = "arn:aws:lambda:us-east-1:123456789012:function:"


class Rejected(Exception):
    pass


class Flaky:
    """Fails while `broken` is set: a failed execution that a redrive can finish."""

    broken = True

    def __call__(self, event: Any, context: Any) -> Any:
        if self.broken:
            raise Rejected("the file is broken")
        return {"fixed": True}


FLAKY = Flaky()


def analyse(event: Any, context: Any) -> Any:
    return {"size": 1234, "kind": "image/png", "raw": event}


def reject(event: Any, context: Any) -> Any:
    raise Rejected("unsupported media type")


class CorruptImage(Exception):
    pass


def file_kind(key: str) -> str:
    """What the fake pipeline functions make of a key: its words choose the outcome."""
    for word in ("crash", "broken", "blurry", "tiny", "dark", "notes"):
        if word in key:
            return word
    return "fine"


def pipeline_validate(event: Any, context: Any) -> Any:
    kind = file_kind(event["key"])
    if kind == "crash":
        raise RuntimeError("validator crashed")
    if kind == "broken":
        raise CorruptImage("cannot decode the image")
    return {
        "contentType": "image/jpeg",
        "kind": "image",
        "sizeClass": "small",
        "size": 100,
        "extensionMatches": True,
    }


def pipeline_analyse(event: Any, context: Any) -> Any:
    kind = file_kind(event["key"])
    if kind == "notes":
        return {"kind": "other"}
    image = {
        "width": 640,
        "height": 480,
        "sharpness": 80.0,
        "brightness": 0.5,
        "gps": False,
        "trailingBytes": 0,
    }
    if kind == "blurry":
        image["sharpness"] = 3.0
    elif kind == "tiny":
        image.update(width=8, height=8)
    elif kind == "dark":
        image["brightness"] = 0.01
    preview = {"bucket": "previews", "key": f"previews/{event['objectId']}.jpg", "width": 256, "height": 192}
    return {"kind": "image", "image": image, "preview": preview}


class Integrations:
    """S3 and SNS as the pipeline calls them: each call succeeds and returns nothing of note."""

    def handles(self, request: Any) -> bool:
        return request.resource.startswith("arn:aws:states:::") and not request.resource.endswith(
            ".waitForTaskToken"
        )

    async def invoke(self, request: Any) -> Any:
        return {}


def pipeline_definition() -> str:
    """definitions/pipeline.asl.json with the template's substitutions and these fake functions."""
    from workflows.local.template import load_template

    text = (ROOT / "definitions" / "pipeline.asl.json").read_text()
    stack = load_template(str(ROOT / "template.yaml"), stack_name="console-test")
    values = dict(next(iter(stack.state_machines.values())).substitutions)
    values.update(
        ValidateFunctionArn=FN + "pvalidate",
        AnalyseFunctionArn=FN + "panalyse",
    )
    for name, value in values.items():
        text = text.replace("${" + name + "}", str(value))
    return text


class Callbacks:
    """The messaging service behind `.waitForTaskToken` tasks: accepts the message and returns."""

    def handles(self, request: Any) -> bool:
        return request.resource.endswith(".waitForTaskToken")

    async def invoke(self, request: Any) -> Any:
        return {}


PIPELINE = {
    "Comment": "Validate, analyse in parallel, fan out over items, route",
    "StartAt": "Validate",
    "States": {
        "Validate": {
            "Type": "Task",
            "Resource": FN + "analyse",
            "InputPath": "$.file",
            "Parameters": {"key.$": "$.key", "bucket": "in"},
            "ResultSelector": {"size.$": "$.size", "kind.$": "$.kind"},
            "ResultPath": "$.checked",
            "Assign": {"checkedSize.$": "$.size"},
            "Next": "Both",
        },
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Thumb", "States": {"Thumb": {"Type": "Pass", "Result": "t", "End": True}}},
                {"StartAt": "Meta", "States": {"Meta": {"Type": "Pass", "Result": "m", "End": True}}},
            ],
            "ResultPath": "$.both",
            "Next": "Each",
        },
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {
                "StartAt": "Check",
                "States": {
                    "Check": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$", "NumericGreaterThan": 1, "Next": "Big"}],
                        "Default": "Small",
                    },
                    "Big": {"Type": "Task", "Resource": FN + "reject", "End": True},
                    "Small": {"Type": "Pass", "End": True},
                },
            },
            "ResultPath": "$.each",
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Quarantine"}],
            "Next": "Accept",
        },
        "Accept": {"Type": "Succeed"},
        "Quarantine": {"Type": "Fail", "Error": "Quarantined", "Cause": "An item was rejected"},
    },
}

SLOW = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Next": "Hold"},
        "Hold": {"Type": "Wait", "Seconds": 3600, "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}

APPROVAL = {
    "StartAt": "Ask",
    "States": {
        "Ask": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl": "https://sqs/approvals", "MessageBody": {"token.$": "$$.Task.Token"}},
            "ResultPath": "$.answer",
            "Catch": [{"ErrorEquals": ["Rejected"], "ResultPath": "$.why", "Next": "Declined"}],
            "Next": "Approved",
        },
        "Approved": {"Type": "Succeed"},
        "Declined": {"Type": "Fail", "Error": "Declined"},
    },
}

REDRIVE = {
    "StartAt": "Try",
    "States": {"Try": {"Type": "Task", "Resource": FN + "flaky", "End": True}},
}

QUICK = {"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": True}}}

# A Map over many items, one Pass each: four events an item, six around them.
BIG = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {"StartAt": "Touch", "States": {"Touch": {"Type": "Pass", "End": True}}},
            "ResultPath": None,
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}
BIG_ITEMS = 1500
BIG_EVENTS = 4 * BIG_ITEMS + 8

HOSTILE_NAME = "<img src=x onerror=window.pwned=3>"
HOSTILE = {
    "Comment": "<b>bold</b><script>window.pwned=5</script>",
    "StartAt": HOSTILE_NAME,
    "States": {
        HOSTILE_NAME: {"Type": "Pass", "Next": "Explode"},
        "Explode": {"Type": "Fail", "Error": "<i>E</i>", "Cause": "<script>window.pwned=4</script>"},
    },
}
HOSTILE_INPUT = {"a": "<script>window.pwned=1</script><img src=x onerror=window.pwned=2>"}


class FakeUploads:
    """The input bucket as the console sees it: a put starts the pipeline, as the S3 rule would, with
    the input and name the starter gives it."""

    bucket = "console-test-input"
    prefix = "uploads/"

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.server: Server | None = None
        self.state_machine_arns: list[str] = []
        self.count = 0

    def put(self, name: str, data: bytes) -> str:
        from tasks.starter.starter.naming import copy_source, execution_name, object_id

        assert self.server is not None
        key = self.prefix + name
        self.files[key] = data
        self.count += 1
        sequencer = f"{self.count:016X}"
        ref = {
            "bucket": self.bucket,
            "key": key,
            "versionId": None,
            "size": len(data),
            "etag": None,
            "sequencer": sequencer,
            "eventTime": None,
            "objectId": object_id(self.bucket, key, None, sequencer),
            "copySource": copy_source(self.bucket, key),
        }
        self.server.call(
            self.server.service.start_execution(
                stateMachineArn=self.server.arns["files"],
                name=execution_name(self.bucket, key, None, sequencer),
                input=json.dumps(ref),
            )
        )
        return key


class Server(LiveServer):
    def __init__(self, tmp: Path) -> None:
        super().__init__()
        self.tmp = tmp
        resolver = ChainResolver(
            CallableResolver(
                {
                    "analyse": analyse,
                    "reject": reject,
                    "flaky": FLAKY,
                    "pvalidate": pipeline_validate,
                    "panalyse": pipeline_analyse,
                }
            ),
            Callbacks(),
            Integrations(),
        )
        self.service = StepFunctionsService(Store(str(tmp / "data")), resolver=resolver)
        self.uploads = FakeUploads()
        self.uploads.server = self
        self.source = tmp / "definitions" / "slow.asl.json"
        self.source.parent.mkdir()
        self.source.write_text(json.dumps(SLOW, indent=2) + "\n")
        self.arns: dict[str, str] = {}

    def start(self) -> None:
        arn = "arn:aws:states:us-east-1:123456789012:stateMachine:slow"
        routes = create_console(self.service, uploads=self.uploads, sources={arn: self.source})
        self.serve(create_app(self.service, routes=routes))
        for name, definition in (
            ("pipeline", PIPELINE),
            ("slow", SLOW),
            ("approval", APPROVAL),
            ("redrive", REDRIVE),
            ("hostile", HOSTILE),
            ("quick", QUICK),
            ("big", BIG),
        ):
            out = self.call(
                self.service.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)
            )
            self.arns[name] = out["stateMachineArn"]
        out = self.call(
            self.service.create_state_machine(name="files", definition=pipeline_definition(), roleArn=ROLE)
        )
        self.arns["files"] = out["stateMachineArn"]
        self.uploads.state_machine_arns = [self.arns["files"]]
        assert self.arns["slow"] == arn

    def start_execution(self, machine: str, name: str, value: Any) -> str:
        out = self.call(
            self.service.start_execution(
                stateMachineArn=self.arns[machine], name=name, input=json.dumps(value)
            )
        )
        return out["executionArn"]

    def describe(self, arn: str) -> dict[str, Any]:
        return self.call(self.service.describe_execution(executionArn=arn))

    def wait_for(
        self, arn: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            described = self.describe(arn)
            if predicate(described):
                return described
            assert time.monotonic() < deadline, f"timed out waiting on {arn}: {described['status']}"
            time.sleep(0.05)

    def finished(self, arn: str) -> dict[str, Any]:
        return self.wait_for(arn, lambda d: d["status"] != "RUNNING")

    def history_has(self, arn: str, event_type: str) -> None:
        def seen(_: Any) -> bool:
            events = self.call(self.service.get_execution_history(executionArn=arn, maxResults=1000))[
                "events"
            ]
            return any(e["type"] == event_type for e in events)

        self.wait_for(arn, seen)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("console"))
    srv.start()
    yield srv
    srv.stop()


def shot(page: Any, name: str) -> None:
    browser_shot(page, name, full_page=True)


def state_status(page: Any, name: str) -> str:
    return page.locator(f'#graph .node[data-state="{name}"]').get_attribute("data-status")


def expect_status(page: Any, name: str, status: str) -> None:
    expect(page.locator(f'#graph .node[data-state="{name}"]')).to_have_attribute("data-status", status)


def open_execution(page: Any, server: Server, arn: str) -> None:
    page.goto(f"{server.url}/console/execution?arn={arn}")
    page.wait_for_selector("#graph .node")


# -- without a browser --------------------------------------------------------------------------------


def test_pointer_positions() -> None:
    text = json.dumps(PIPELINE, indent=2)
    lines = text.splitlines()
    line, column = pointer_position(text, "/States/Each/ItemProcessor/States/Check/Choices[0]/Next")  # type: ignore[misc]
    assert lines[line - 1].strip() == '"Next": "Big"' and lines[line - 1][column - 1] == '"'
    line, _ = pointer_position(text, "/States/Validate/Missing")  # type: ignore[misc]
    assert lines[line - 1].strip().startswith('"Validate"')
    assert pointer_position('{\n  "a": tru }', '[Source: (String)"x"; line: 2, column: 8]') == (2, 8)
    assert pointer_position("{ nope", "/States") is None


def test_csrf_and_redirect(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/").status_code == 302
        assert client.get("/").headers["location"] == "/console"
        page = client.get("/console")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        token = client.cookies["wf_csrf"]
        body = {"definition": "{}"}
        assert client.post("/console/api/validate", json=body).status_code == 403
        assert (
            client.post("/console/api/validate", json=body, headers={"X-CSRF-Token": "other"}).status_code
            == 403
        )
        evil = {"X-CSRF-Token": token, "Origin": "http://evil.example"}
        assert client.post("/console/api/validate", json=body, headers=evil).status_code == 403
        ok = client.post("/console/api/validate", json=body, headers={"X-CSRF-Token": token})
        assert ok.status_code == 200 and ok.json()["result"] == "FAIL"
        # The AWS API still answers POST / beside the console.
        api = client.post(
            "/",
            content="{}",
            headers={
                "X-Amz-Target": "AWSStepFunctions.ListStateMachines",
                "Content-Type": "application/x-amz-json-1.0",
            },
        )
        assert api.status_code == 200 and "stateMachines" in api.json()


def test_runs_from_history(server: Server) -> None:
    arn = server.start_execution("pipeline", "runs-small", {"file": {"key": "a.png"}, "items": [0, 1]})
    server.finished(arn)
    events = server.call(server.service.get_execution_history(executionArn=arn, maxResults=1000))["events"]
    events = json.loads(json.dumps(events, default=str))
    runs = execution_runs(PIPELINE, events, server.describe(arn))
    by_name = {r["name"]: r for r in runs}
    assert by_name["Accept"]["status"] == "succeeded"
    assert [r["scope"] for r in runs if r["name"] == "Small"] == [[["Each", 0]], [["Each", 1]]]
    assert by_name["Thumb"]["scope"] == [["Both", 0]] and by_name["Meta"]["scope"] == [["Both", 1]]
    stages = {s["name"]: s for s in by_name["Validate"]["stages"]}
    assert stages["InputPath"]["value"] == {"key": "a.png"}
    assert stages["Parameters"]["value"] == {"key": "a.png", "bucket": "in"}
    assert stages["Parameters"]["source"] == "history"
    assert stages["Result"]["value"]["size"] == 1234
    assert stages["ResultSelector"]["value"] == {"size": 1234, "kind": "image/png"}
    assert stages["ResultPath"]["value"]["checked"] == {"size": 1234, "kind": "image/png"}
    assert stages["Output"]["value"] == stages["ResultPath"]["value"]
    assert by_name["Validate"]["assignedVariables"] == {"checkedSize": 1234}


# -- in the browser -----------------------------------------------------------------------------------


@pytest.mark.browser
def test_lists_and_graph_statuses(server: Server, page: Any) -> None:
    ok = server.start_execution("pipeline", "all-small", {"file": {"key": "a.png"}, "items": [0, 1]})
    bad = server.start_execution("pipeline", "one-big", {"file": {"key": "b.png"}, "items": [0, 5, 1]})
    running = server.start_execution("slow", "waiting", {"n": 1})
    server.finished(ok)
    server.finished(bad)
    server.history_has(running, "WaitStateEntered")

    page.goto(server.url + "/")
    page.wait_for_selector("#machines")
    assert page.url.endswith("/console")
    assert page.locator("#machines .sm-link", has_text="pipeline").count() == 1
    shot(page, "state-machines")

    page.click("#machines .sm-link >> text=pipeline")
    page.wait_for_selector("#executions .exec-link")
    assert page.locator("#counts button[data-status='SUCCEEDED'] b").text_content() != "0"
    assert page.locator("#counts button[data-status='FAILED'] b").text_content() != "0"
    page.select_option("#status-filter", "FAILED")
    expect(page.locator("#executions .exec-link")).to_have_text(["one-big"])
    page.select_option("#status-filter", "")
    page.fill("#name-search", "all-sm")
    expect(page.locator("#executions .exec-link")).to_have_text(["all-small"])
    page.fill("#name-search", "")
    shot(page, "executions")

    # Finished: every state it ran succeeded; the untaken branch and the Fail state did not run.
    open_execution(page, server, ok)
    for name in ("Validate", "Both", "Thumb", "Meta", "Each", "Check", "Small", "Accept"):
        assert state_status(page, name) == "succeeded", name
    assert state_status(page, "Big") == "notrun"
    assert state_status(page, "Quarantine") == "notrun"
    assert page.locator("#graph .cluster[data-cluster='c:Both']").count() == 1
    assert page.locator("#graph .cluster[data-cluster='c:Each']").count() == 1
    assert page.locator("#exec-output").text_content().strip().startswith("{")
    # Clicking a state shows each processing stage (asked of the server when it is clicked).
    page.click('#graph .node[data-state="Validate"]')
    details = page.locator("#details")
    expect(details.locator(".run")).to_have_count(1)
    for stage in ("Input", "InputPath", "Parameters", "Result", "ResultSelector", "ResultPath", "Output"):
        assert details.locator(f'.stage[data-stage="{stage}"]').count() == 1, stage
    assert '"bucket": "in"' in details.locator('.stage[data-stage="Parameters"] pre').text_content()
    assert "checkedSize" in details.locator('.stage[data-stage="Variables"] pre').text_content()

    # Failed: the Map was caught, the rejected item failed in its iteration, the Fail state failed.
    open_execution(page, server, bad)
    assert page.locator("#error-banner .error-name").text_content() == "Quarantined"
    assert "An item was rejected" in page.locator("#error-banner .cause").text_content()
    assert state_status(page, "Each") == "caught"
    assert state_status(page, "Quarantine") == "failed"
    assert state_status(page, "Accept") == "notrun"
    assert state_status(page, "Big") == "failed"
    picker = page.locator('.iteration-picker[data-map="Each"]')
    picker.select_option("0")
    expect_status(page, "Big", "notrun")
    expect_status(page, "Small", "succeeded")
    page.locator('.iteration-picker[data-map="Each"]').select_option("1")
    expect_status(page, "Big", "failed")
    expect_status(page, "Small", "notrun")
    page.click('#graph .node[data-state="Big"]')
    assert page.locator("#details .state-error .error-name").text_content() == "Rejected"
    assert "unsupported media type" in page.locator("#details .state-error pre").text_content()
    page.locator('.iteration-picker[data-map="Each"]').select_option("all")
    expect_status(page, "Small", "succeeded")
    page.click('#graph .node[data-state="Each"]')
    # A caught state's output comes from its Catch; its own ResultPath never ran.
    expect(page.locator('#details .stage[data-stage="Output (from the Catch\'s ResultPath)"]')).to_have_count(
        1
    )
    assert page.locator('#details .stage[data-stage="ResultPath"]').count() == 0
    shot(page, "execution-failed")

    # Running: the Wait state is in progress.
    open_execution(page, server, running)
    assert state_status(page, "Prepare") == "succeeded"
    assert state_status(page, "Hold") == "running"
    assert state_status(page, "Done") == "notrun"
    assert page.locator("#stop").is_visible()

    # The picture for the README: the finished pipeline with a state's stages open.
    open_execution(page, server, bad)
    page.click('#graph .node[data-state="Validate"]')
    page.wait_for_selector('#details .stage[data-stage="ResultSelector"]')
    shot(page, "execution")
    docs = ROOT / "docs" / "console.png"
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") or not docs.exists():  # a test run leaves the tree clean
        page.screenshot(path=str(docs), full_page=True)


@pytest.mark.browser
def test_table_and_events_views(server: Server, page: Any) -> None:
    arn = server.start_execution("pipeline", "views", {"file": {"key": "c.png"}, "items": [0, 7]})
    server.finished(arn)
    open_execution(page, server, arn)
    page.click("#tab-table")
    rows = page.locator("#runs tbody tr")
    page.wait_for_selector("#runs tbody tr")
    assert rows.count() >= 8
    page.select_option("#table-status", "failed")
    expect(page.locator("#runs tbody tr td:first-child")).to_have_text(["Big", "Quarantine"])
    page.select_option("#table-status", "")
    page.fill("#table-filter", "small")
    expect(page.locator("#runs tbody tr td:first-child")).to_have_text(["Small"])
    page.fill("#table-filter", "")
    page.click("#runs th[data-sort='name']")
    page.wait_for_selector("#runs tbody tr")
    first = page.locator("#runs tbody tr td:first-child").all_text_contents()
    assert first == sorted(first)
    page.click("#runs th[data-sort='name']")
    expect(page.locator("#runs tbody tr td:first-child")).to_have_text(sorted(first, reverse=True))
    shot(page, "table")

    page.click("#tab-events")
    assert page.locator("#events details").count() > 20
    page.fill("#event-search", "LambdaFunctionFailed")
    expect(page.locator("#events details")).to_have_count(1)
    page.click("#events details summary")
    assert "unsupported media type" in page.locator("#events details pre").text_content()
    shot(page, "events")


@pytest.mark.browser
def test_start_and_stop(server: Server, page: Any) -> None:
    page.goto(f"{server.url}/console/machine?arn={server.arns['slow']}")
    page.click("#start-execution")
    page.fill("#start-name", "from-console")
    page.fill("#start-input", "{ not json")
    assert "not valid JSON" in page.locator("#start-error").text_content()
    assert page.locator("#start-submit").is_disabled()
    page.fill("#start-input", '{"from": "console"}')
    page.click("#start-submit")
    page.wait_for_url("**/console/execution?*")
    page.wait_for_selector('#graph .node[data-state="Hold"][data-status="running"]')
    arn = server.call(server.service.list_executions(stateMachineArn=server.arns["slow"]))["executions"]
    arn = next(e["executionArn"] for e in arn if e["name"] == "from-console")
    assert json.loads(server.describe(arn)["input"]) == {"from": "console"}

    page.click("#stop")  # the confirm() is accepted by the fixture
    page.wait_for_selector('#graph .node[data-state="Hold"][data-status="cancelled"]')
    assert server.describe(arn)["status"] == "ABORTED"
    assert page.locator("#stop").count() == 0


@pytest.mark.browser
def test_redrive(server: Server, page: Any) -> None:
    FLAKY.broken = True
    arn = server.start_execution("redrive", "redrive-me", {})
    assert server.finished(arn)["status"] == "FAILED"
    open_execution(page, server, arn)
    assert state_status(page, "Try") == "failed"
    FLAKY.broken = False
    page.click("#redrive")
    page.wait_for_selector('#graph .node[data-state="Try"][data-status="succeeded"]')
    described = server.finished(arn)
    assert described["status"] == "SUCCEEDED" and described["redriveCount"] == 1


@pytest.mark.browser
def test_task_token_success_and_failure(server: Server, page: Any) -> None:
    yes = server.start_execution("approval", "approve-me", {"doc": 1})
    no = server.start_execution("approval", "reject-me", {"doc": 2})
    for arn in (yes, no):
        server.history_has(arn, "TaskStarted")

    open_execution(page, server, yes)
    page.wait_for_selector("#tokens .token")
    assert state_status(page, "Ask") == "running"
    token = server.call(server.service.pending_task_tokens(executionArn=yes))["tasks"][0]
    assert page.locator("#tokens code").text_content() == token["taskToken"]
    page.fill("#tokens .token-output", '{"approved": "yes"}')
    page.click("#tokens .send-success")
    page.wait_for_selector('#graph .node[data-state="Approved"][data-status="succeeded"]')
    assert json.loads(server.finished(yes)["output"])["answer"] == {"approved": "yes"}

    open_execution(page, server, no)
    page.wait_for_selector("#tokens .token")
    page.fill("#tokens .token-error", "Rejected")
    page.fill("#tokens .token-cause", "not today")
    page.click("#tokens .send-failure")
    page.wait_for_selector('#graph .node[data-state="Declined"][data-status="failed"]')
    assert state_status(page, "Ask") == "caught"
    described = server.finished(no)
    assert described["status"] == "FAILED" and described["error"] == "Declined"


# Ten mixed uploads, and what the pipeline makes of each: (file name, outcome, reason).
UPLOADS = [
    ("photo-dark.jpg", "review", "exposure"),
    ("holiday.jpg", "accepted", "passed"),
    ("blurry-cat.jpg", "review", "blurry"),
    ("broken.png", "quarantined", "CorruptImage"),
    ("tiny-icon.png", "rejected", "too-small"),
    ("crash-report.jpg", None, "RuntimeError"),
    ("notes.txt", "review", "unknown-kind"),
    ("sunset.jpg", "accepted", "passed"),
    ("broken-scan.jpg", "quarantined", "CorruptImage"),
    ("dark-night.jpg", "review", "exposure"),
]


def upload_through_the_box(page: Any, server: Server, files: list[Path]) -> None:
    page.goto(f"{server.url}/console/machine?arn={server.arns['files']}")
    page.set_input_files("#upload-file", [str(f) for f in files])
    page.click("#upload-submit")
    expect(page.locator("#upload-result .uploaded-key")).to_have_count(len(files))


@pytest.mark.browser
def test_ten_uploads_are_each_found_by_key_with_their_outcome(
    server: Server, page: Any, tmp_path: Path
) -> None:
    files = []
    for name, _, _ in UPLOADS:
        files.append(tmp_path / f"ten-{name}")
        files[-1].write_bytes(b"fake " + name.encode())
    upload_through_the_box(page, server, files)
    # The box says where each file really went: under the rule's prefix.
    shown = page.locator("#upload-result .uploaded-key").all_text_contents()
    assert shown == [f"s3://console-test-input/uploads/ten-{name}" for name, _, _ in UPLOADS]
    for name, outcome, reason in UPLOADS:
        key = f"uploads/ten-{name}"
        page.fill("#name-search", f"ten-{name}")  # part of the key is enough
        row = page.locator(f'#executions tr[data-key="{key}"]')
        expect(row).to_have_count(1)
        expect(page.locator("#executions tbody tr")).to_have_count(1)
        status = "FAILED" if outcome is None else "SUCCEEDED"
        expect(row.locator("td .badge").first).to_have_text(status, timeout=15_000)
        if outcome is not None:
            expect(row.locator('td[data-column="outcome"] .badge')).to_have_text(outcome)
        expect(row.locator('td[data-column="reason"]')).to_have_text(reason)
    # The outcome filter sets the quarantined apart, although each of them SUCCEEDED.
    page.fill("#name-search", "ten-")
    page.select_option("#outcome-filter", "quarantined")
    expect(page.locator("#executions tbody tr")).to_have_count(2)
    assert set(page.locator("#executions tbody tr").evaluate_all("rows => rows.map(r => r.dataset.key)")) == {
        "uploads/ten-broken.png",
        "uploads/ten-broken-scan.jpg",
    }
    badge = page.locator('#executions td[data-column="outcome"] .badge').first
    assert "tone-alert" in (badge.get_attribute("class") or "")
    shot(page, "uploads-by-key")


def test_upload_names_are_the_file_name_and_the_key_is_reported(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        client.get("/console")
        headers = {"X-CSRF-Token": client.cookies["wf_csrf"]}
        out = client.put(
            "/console/api/uploads", params={"name": "a/b/deep-c.jpg"}, content=b"x", headers=headers
        )
        assert out.status_code == 200 and out.json()["key"] == "uploads/deep-c.jpg"
        assert server.uploads.files["uploads/deep-c.jpg"] == b"x"
        for bad in (".", "./", "..", "a/..", "", "dir/"):
            refused = client.put("/console/api/uploads", params={"name": bad}, content=b"x", headers=headers)
            assert refused.status_code == 400, bad
            assert refused.json()["error"] == "InvalidName"
        config = client.get("/console/api/config").json()["uploads"]
        assert config == {
            "bucket": "console-test-input",
            "prefix": "uploads/",
            "stateMachineArns": [server.arns["files"]],
        }


def test_execution_columns_come_from_input_and_output(server: Server) -> None:
    columns = parse_columns(DEFAULT_COLUMNS)
    described = {
        "input": json.dumps({"bucket": "in", "key": "uploads/a.jpg"}),
        "output": json.dumps({"outcome": {"outcome": "accepted", "reason": "passed", "bucket": "ok"}}),
        "status": "SUCCEEDED",
    }
    assert execution_columns(columns, described) == {
        "key": "uploads/a.jpg",
        "outcome": "accepted",
        "reason": "passed",
        "bucket": "in",
    }
    failed = {"input": '{"key": "b"}', "status": "FAILED", "error": "Boom"}
    assert execution_columns(columns, failed)["reason"] == "Boom"
    with pytest.raises(ValueError, match="expected NAME"):
        parse_columns("key")
    # A state machine chooses its own columns with a tag.
    tagged = server.call(
        server.service.create_state_machine(
            name="tagged",
            definition=json.dumps(QUICK),
            roleArn=ROLE,
            tags=[{"key": COLUMNS_TAG, "value": "who=$.input.who|$.input.name[0]"}],
        )
    )
    arn = server.arns["tagged"] = tagged["stateMachineArn"]
    server.start_execution("tagged", "columns-tag", {"name": ["ada"]})
    server.start_execution("tagged", "columns-other", {"name": ["bob"]})
    with httpx.Client(base_url=server.url) as client:
        data = client.get("/console/api/executions", params={"stateMachineArn": arn, "q": "ada"}).json()
    assert data["columns"] == ["who"]
    assert [e["columns"] for e in data["executions"]] == [{"who": "ada"}]


def set_editor_text(page: Any, text: str) -> None:
    """Replace the CodeMirror editor's text (tests/test_editor.py covers typing into it)."""
    page.evaluate(
        "t => { const v = window.WF.editor.view; v.dispatch({changes: {from: 0, to: v.state.doc.length, insert: t}}); }",
        text,
    )


@pytest.mark.browser
def test_editor_flags_and_saves(server: Server, page: Any) -> None:
    arn = server.arns["slow"]
    before = server.call(server.service.describe_state_machine(stateMachineArn=arn))
    page.goto(f"{server.url}/console/editor?arn={arn}")
    page.wait_for_selector("#validation-status[data-result='OK']")
    assert page.locator("#preview .node[data-state='Hold']").count() == 1

    broken = json.loads(json.dumps(SLOW))
    broken["States"]["Hold"]["Next"] = "Nowhere"
    text = json.dumps(broken, indent=2)
    set_editor_text(page, text)
    page.wait_for_selector("#validation-status[data-result='FAIL']")
    item = page.locator("#diagnostics li.error").first
    assert item.locator(".code").text_content() == "MISSING_TRANSITION_TARGET"
    assert "/States/Hold/Next" in item.locator(".where").text_content()
    line = next(i for i, row in enumerate(text.splitlines(), 1) if '"Nowhere"' in row)
    assert item.get_attribute("data-line") == str(line)
    assert page.locator(".cm-lintRange-error").text_content() == '"Nowhere"'
    assert page.locator("#save").is_disabled()
    shot(page, "editor-error")

    good = json.loads(json.dumps(SLOW))
    good["States"]["Hold"]["Seconds"] = 1800
    good["States"]["Extra"] = {"Type": "Pass", "End": True}
    good["States"]["Done"] = {"Type": "Pass", "Next": "Extra"}
    text = json.dumps(good, indent=2)
    set_editor_text(page, text)
    page.wait_for_selector("#validation-status[data-result='OK']")
    page.wait_for_selector("#preview .node[data-state='Extra']")
    page.click("#save")
    expect(page.locator("#save-result")).to_contain_text("Saved revision")
    after = server.call(server.service.describe_state_machine(stateMachineArn=arn))
    assert after["revisionId"] and after["revisionId"] != before.get("revisionId")
    assert json.loads(after["definition"]) == good
    assert page.locator("#revision").text_content() == after["revisionId"]
    assert json.loads(server.source.read_text()) == good
    shot(page, "editor")


@pytest.mark.browser
def test_hostile_values_are_text(server: Server, page: Any) -> None:
    arn = server.start_execution("hostile", "hostile-input", HOSTILE_INPUT)
    server.finished(arn)
    open_execution(page, server, arn)
    assert page.evaluate("window.pwned") is None
    assert page.locator("script", has_text="pwned").count() == 0
    assert page.locator("#exec-input").text_content() == json.dumps(HOSTILE_INPUT, indent=2)
    assert page.locator(f'#graph .node[data-state="{HOSTILE_NAME}"]').count() == 1
    assert page.locator("#error-banner .error-name").text_content() == "<i>E</i>"
    assert page.locator("#error-banner .cause").text_content() == "<script>window.pwned=4</script>"
    page.click(f'#graph .node[data-state="{HOSTILE_NAME}"]')
    assert page.locator("#details-name").text_content() == HOSTILE_NAME
    page.click("#tab-table")
    expect(page.locator("#runs tbody td", has_text=HOSTILE_NAME)).to_have_count(1)
    page.click("#tab-events")
    page.click("#events details summary >> nth=0")
    assert "<script>window.pwned=1</script>" in page.locator("#events details pre").first.text_content()
    page.goto(f"{server.url}/console/editor?arn={server.arns['hostile']}")
    page.wait_for_selector("#validation-status[data-result='OK']")
    assert "<script>window.pwned=5</script>" in page.evaluate(
        "() => window.WF.editor.view.state.doc.toString()"
    )
    page.goto(f"{server.url}/console/machine?arn={server.arns['hostile']}")
    page.wait_for_selector("#executions .exec-link")
    assert page.evaluate("window.pwned") is None
    assert page.locator("img").count() == 0


@pytest.mark.browser
def test_paging_and_live_refresh(server: Server, page: Any) -> None:
    page.goto(f"{server.url}/console/machine?arn={server.arns['quick']}")
    expect(page.locator("#pager")).to_have_text("0 of 0")
    for i in range(27):
        server.start_execution("quick", f"quick-{i:02d}", {"i": i})
    # No reload: the list polls.
    expect(page.locator("#pager")).to_have_text("1\u201325 of 27")
    expect(page.locator("#executions .exec-link")).to_have_count(25)
    assert page.locator("#executions .exec-link").first.text_content() == "quick-26"
    page.click("#next")
    expect(page.locator("#pager")).to_have_text("26\u201327 of 27")
    expect(page.locator("#executions .exec-link")).to_have_text(["quick-01", "quick-00"])
    assert page.locator("#next").is_disabled()
    page.click("#prev")
    expect(page.locator("#executions .exec-link")).to_have_count(25)
    expect(page.locator("#counts button[data-status='SUCCEEDED'] b")).to_have_text("27")


def failed_upload(server: Server, name: str) -> str:
    """The pipeline's failed execution: its validator crashes, the alert goes out, the run fails."""
    key = server.uploads.put(name, b"crash")
    for execution in server.call(server.service.list_executions(stateMachineArn=server.arns["files"]))[
        "executions"
    ]:
        described = server.describe(execution["executionArn"])
        if json.loads(described["input"])["key"] == key:
            return str(server.finished(execution["executionArn"])["executionArn"])
    raise AssertionError(f"no execution for {key}")


@pytest.mark.browser
@pytest.mark.parametrize("width,height", [(1280, 800), (1024, 768)])
def test_failed_state_is_in_view(server: Server, browser: Any, width: int, height: int) -> None:
    arn = failed_upload(server, f"crash-in-view-{width}.jpg")
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(f"{server.url}/console/execution?arn={arn}")
        failed = page.locator('#graph .node[data-status="failed"]')
        expect(failed).to_have_count(1)
        assert failed.get_attribute("data-state") == "PipelineFailed"
        page.wait_for_function("document.getElementById('zoom-level').textContent !== ''")
        box = page.locator("#graph-box").bounding_box()
        node = failed.bounding_box()
        assert page.evaluate("window.scrollY") == 0
        # Inside the graph's panel and inside the window, without scrolling either.
        assert box["x"] <= node["x"] and node["x"] + node["width"] <= box["x"] + box["width"], (box, node)
        assert box["y"] <= node["y"] and node["y"] + node["height"] <= box["y"] + box["height"], (box, node)
        assert node["y"] + node["height"] <= height
        assert page.locator("#graph-box").evaluate("b => b.scrollWidth <= b.clientWidth")
        # The run's path is drawn over the rest, along the catch it took.
        taken = page.locator("#graph .edge.taken")
        assert {(e.get_attribute("data-from"), e.get_attribute("data-to")) for e in taken.all()} >= {
            ("Validate", "PrepareFailureNotice"),
            ("NotifyFailure", "PipelineFailed"),
        }
        assert "catch" in (
            page.locator('#graph .edge.taken[data-from="Validate"]').get_attribute("class") or ""
        )
        # Choice edges say their condition, short on the edge and whole on hover.
        rule = page.locator('#graph .edge.choice[data-from="RouteImage"][data-to="RejectTooSmall"]')
        assert rule.locator("text").text_content().startswith("($.analysis.image.width <")
        assert len(rule.locator("text").text_content()) <= 26
        assert "$.criteria.minHeight" in rule.locator("title").text_content()
        # Zoom (wheel and buttons), pan (drag) and fit move the view, not the page.
        before = page.locator("#graph").get_attribute("viewBox")
        level = page.locator("#zoom-level").text_content()
        page.click("#graph-zoom-in")
        assert page.locator("#zoom-level").text_content() != level
        page.mouse.move(box["x"] + 40, box["y"] + 40)
        page.mouse.wheel(0, 300)
        page.mouse.down()
        page.mouse.move(box["x"] + 140, box["y"] + 90, steps=4)
        page.mouse.up()
        assert page.locator("#graph").get_attribute("viewBox") != before
        page.click("#graph-fit")
        assert int(page.locator("#zoom-level").text_content().rstrip("%")) < 75
        page.click("#graph-focus")
        assert page.locator("#zoom-level").text_content() == "75%"
        shot(page, f"failed-{width}")
    finally:
        context.close()


@pytest.mark.browser
def test_no_sideways_overflow_at_1024(server: Server, browser: Any) -> None:
    arn = failed_upload(server, "crash-narrow.jpg")
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    wide = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    try:
        machine = server.arns["files"]
        for path, ready in (
            ("/console", "#machines"),
            (f"/console/machine?arn={machine}", "#executions td"),
            (f"/console/machine?arn={machine}&tab=definition", "#graph .node"),
            (f"/console/execution?arn={arn}", "#graph .node"),
        ):
            page.goto(server.url + path)
            page.wait_for_selector(ready)
            assert page.evaluate(wide) <= 0, path
        for tab, ready in (("table", "#runs tbody tr"), ("events", "#events details")):
            page.click(f"#tab-{tab}")
            page.wait_for_selector(ready)
            assert page.evaluate(wide) <= 0, tab
    finally:
        context.close()


@pytest.mark.browser
def test_definition_tab_and_the_upload_box_only_where_a_rule_starts_executions(
    server: Server, page: Any
) -> None:
    page.goto(f"{server.url}/console/machine?arn={server.arns['approval']}")
    page.wait_for_selector("#executions")
    assert page.locator("#upload").count() == 0
    page.click("#tab-definition")
    assert json.loads(page.locator("#definition-json").text_content()) == APPROVAL
    expect(page.locator("#graph .node")).to_have_count(3)
    page.goto(f"{server.url}/console/machine?arn={server.arns['files']}")
    expect(page.locator("#upload")).to_contain_text("s3://console-test-input/uploads/")


@pytest.mark.browser
def test_events_have_step_and_resource_and_the_table_a_timeline(server: Server, page: Any) -> None:
    arn = server.start_execution("pipeline", "timeline", {"file": {"key": "t.png"}, "items": [0, 7]})
    server.finished(arn)
    open_execution(page, server, arn)
    page.click("#tab-events")
    scheduled = page.locator("#events details", has_text="LambdaFunctionScheduled").first
    assert scheduled.locator(".step").text_content() == "Validate"
    assert scheduled.locator(".resource").get_attribute("title").endswith("function:analyse")
    failed = page.locator("#events details.failed")
    assert "LambdaFunctionFailed" in failed.locator(".type").all_text_contents()
    assert failed.first.evaluate("d => getComputedStyle(d).backgroundColor") != "rgba(0, 0, 0, 0)"
    page.click("#tab-table")
    page.wait_for_selector("#runs tbody tr")
    bars = page.locator("#runs .timeline .bar")
    assert bars.count() == page.locator("#runs tbody tr").count()
    first, last = bars.first, bars.last
    assert float(last.get_attribute("data-left")) > float(first.get_attribute("data-left"))
    # Laid out by the stylesheet (the CSP refuses style attributes, so the CSSOM sets them).
    assert last.bounding_box()["x"] > first.bounding_box()["x"]


# -- a long history -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big(server: Server) -> str:
    """A finished execution of 6,008 events."""
    arn = server.start_execution("big", "big-map", {"items": [f"item-{i}" for i in range(BIG_ITEMS)]})
    assert server.wait_for(arn, lambda d: d["status"] != "RUNNING", timeout=60)["status"] == "SUCCEEDED"
    return arn


def test_a_long_history_is_read_in_pages_and_served_in_pages(server: Server, big: str) -> None:
    whole = []
    token = None
    while True:
        page = server.call(
            server.service.get_execution_history(
                executionArn=big, maxResults=1000, **({"nextToken": token} if token else {})
            )
        )
        whole.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            break
    assert len(whole) == BIG_EVENTS
    history_bytes = len(json.dumps(whole, default=str))

    # The console reads the history through the API a page at a time, never in one call.
    calls: list[dict[str, Any]] = []
    read = server.service.get_execution_history

    async def counted(**params: Any) -> dict[str, Any]:
        out = await read(**params)
        calls.append({**params, "got": len(out["events"])})
        return out

    server.service.get_execution_history = counted  # type: ignore[method-assign]
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            first = client.get("/console/api/execution", params={"arn": big})
            data = first.json()
            while not data["summary"]["complete"]:
                time.sleep(0.05)
                data = {**data, **client.get("/console/api/execution/summary", params={"arn": big}).json()}
            reads = len(calls)
            again = client.get("/console/api/execution", params={"arn": big}).json()
            # The first answer is the summary and a page of events: a small part of the history.
            assert len(first.content) < history_bytes / 10, (len(first.content), history_bytes)
            assert len(data["events"]) == 100 and data["eventsNext"] == 100
            assert data["summary"]["events"] == BIG_EVENTS and data["summary"]["transitions"] == BIG_ITEMS + 2
            assert data["summary"]["states"]["Touch"] == {"status": "succeeded", "runs": BIG_ITEMS}
            fan = data["summary"]["maps"]["Fan"]
            assert fan["count"] == BIG_ITEMS and len(fan["iterations"]) <= 200
            assert ["next", "Fan", "Done"] in data["summary"]["taken"]
            # Events, then the table's rows, a page at a time, all of them in order.
            ids: list[int] = []
            after: int | None = 0
            while after is not None:
                page = client.get(
                    "/console/api/execution/events", params={"arn": big, "after": after, "limit": 1000}
                ).json()
                assert len(page["events"]) <= 1000
                ids.extend(e["id"] for e in page["events"])
                after = page["next"]
            assert ids == list(range(1, BIG_EVENTS + 1))
            rows = client.get("/console/api/execution/runs", params={"arn": big, "limit": 100}).json()
            assert len(rows["runs"]) == 100 and rows["total"] == BIG_ITEMS + 2 and rows["next"] == 100
            found = client.get("/console/api/execution/events", params={"arn": big, "q": "item-1499"}).json()
            assert found["events"] and all("item-1499" in json.dumps(e) for e in found["events"][1:])
            touch = client.get(
                "/console/api/execution/state",
                params={"arn": big, "state": "Touch", "pickers": json.dumps({"Fan": "1499"})},
            ).json()
            assert touch["total"] == 1 and touch["run"]["input"] == "item-1499"
            assert touch["run"]["scope"] == [["Fan", 1499]]
    finally:
        del server.service.get_execution_history
    forward = [c for c in calls if not c.get("reverseOrder")]
    assert forward and all(c["maxResults"] == HISTORY_PAGE and c["got"] <= HISTORY_PAGE for c in forward), (
        calls
    )
    assert len(forward) == -(-BIG_EVENTS // HISTORY_PAGE)
    # Opened again, a finished execution's history is not read again.
    assert len(calls) == reads and again["summary"]["complete"]


def test_history_read_in_pieces_folds_as_one(server: Server) -> None:
    arn = server.start_execution("pipeline", "pieces", {"file": {"key": "p.png"}, "items": [0, 4, 1]})
    described = server.finished(arn)
    events = server.call(server.service.get_execution_history(executionArn=arn, maxResults=1000))["events"]
    events = json.loads(json.dumps(events, default=str))
    whole = execution_runs(PIPELINE, json.loads(json.dumps(events)), described)
    index = ExecutionIndex(PIPELINE)
    for i in range(0, len(events), 7):
        index.feed(json.loads(json.dumps(events[i : i + 7])))
    assert index.records(described["status"], described) == whole
    summary = index.summary(described["status"], {})
    assert summary["states"]["Big"] == {"status": "failed", "runs": 1}
    assert summary["states"]["Each"]["status"] == "caught" and summary["focus"] == "Quarantine"
    assert ("catch", "Each", "Quarantine") in summary["taken"]
    assert index.summary(described["status"], {"Each": "0"})["states"].get("Big") is None


@pytest.mark.browser
def test_a_long_history_opens_and_pages_as_you_scroll(server: Server, page: Any, big: str) -> None:
    began = time.perf_counter()
    open_execution(page, server, big)
    expect_status(page, "Touch", "succeeded")
    opened = time.perf_counter() - began
    expect_status(page, "Done", "succeeded")
    assert page.locator("#event-count").text_content() == f"{BIG_EVENTS:,}"
    assert opened < 10, opened  # the figure that matters is in `make bench`; this is a sanity bound

    page.click("#tab-events")
    expect(page.locator("#events details")).to_have_count(100)
    expect(page.locator("#events-count")).to_have_text(f"100 of {BIG_EVENTS:,} events")
    page.locator("#events-more").scroll_into_view_if_needed()  # the next page comes as it shows
    expect(page.locator("#events details")).to_have_count(300)
    page.locator("#events details").last.scroll_into_view_if_needed()
    expect(page.locator("#events details")).to_have_count(500)
    assert page.locator("#events details").evaluate_all("ds => ds.map(d => Number(d.dataset.event))") == list(
        range(1, 501)
    )
    page.fill("#event-search", "item-1499")
    expect(page.locator("#events-count")).to_contain_text("found")
    assert page.locator("#events details").count() >= 3
    shot(page, "big-events")

    page.click("#tab-table")
    expect(page.locator("#runs tbody tr")).to_have_count(100)
    expect(page.locator("#runs-count")).to_have_text(f"100 of {BIG_ITEMS + 2:,} state runs")
    page.locator("#runs-more").scroll_into_view_if_needed()
    expect(page.locator("#runs tbody tr")).to_have_count(300)

    page.click("#tab-graph")
    page.fill('.iteration-jump[data-map="Fan"]', "1499")
    page.press('.iteration-jump[data-map="Fan"]', "Enter")
    expect(page.locator('.iteration-picker[data-map="Fan"]')).to_have_value("1499")
    page.click('#graph .node[data-state="Touch"]')
    expect(page.locator('#details .stage[data-stage="Input"] pre')).to_have_text("item-1499")
    page.locator('.iteration-picker[data-map="Fan"]').select_option("all")
    page.click('#graph .node[data-state="Touch"]')
    expect(page.locator("#run-picker")).to_be_visible()
    assert f"{BIG_ITEMS:,} runs" in page.locator("#details").text_content()


# -- coverage over the graph ---------------------------------------------------------------------------

BRANCHY = {
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"},
                {"Variable": "$.n", "NumericLessThan": 0, "Next": "Negative"},
            ],
            "Default": "Small",
        },
        "Big": {
            "Type": "Task",
            "Resource": FN + "reject",
            "Catch": [{"ErrorEquals": ["Rejected"], "Next": "Handled"}],
            "End": True,
        },
        "Small": {
            "Type": "Task",
            "Resource": FN + "analyse",
            "ResultPath": "$.result",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handled"}],
            "Next": "Fan",
        },
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {"StartAt": "Each", "States": {"Each": {"Type": "Pass", "End": True}}},
            "ResultPath": None,
            "Next": "Done",
        },
        "Negative": {"Type": "Fail", "Error": "Negative"},
        "Handled": {"Type": "Pass", "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}


def edge(page: Any, source: str, target: str, kind: str = "") -> Any:
    selector = f'#graph .edge[data-from="{source}"][data-to="{target}"]'
    return page.locator(selector + (f'[data-kind="{kind}"]' if kind else ""))


@pytest.mark.browser
def test_coverage_over_the_graph(server: Server, page: Any, tmp_path: Path) -> None:
    from workflows.asl.definition import load_definition
    from workflows.service.coverage import Coverage, trace_context
    from workflows.service.trace import trace_history

    created = server.call(
        server.service.create_state_machine(name="branchy", definition=json.dumps(BRANCHY), roleArn=ROLE)
    )
    server.arns["branchy"] = created["stateMachineArn"]
    for i in (1, 2):  # the Default branch only, and no error
        server.finished(server.start_execution("branchy", f"small-{i}", {"n": i, "items": [1, 2]}))

    page.goto(f"{server.url}/console/machine?arn={server.arns['branchy']}&tab=definition")
    page.wait_for_selector("#graph .node")
    page.check("#coverage-toggle")
    expect(page.locator("#coverage-summary")).to_be_visible()
    expect(page.locator("#coverage-source")).to_contain_text("From 2 recorded executions of this definition")
    expect(page.locator("#coverage-states b")).to_have_text("5/8")
    expect(page.locator("#coverage-transitions b")).to_have_text("3/8")
    nodes = {n: page.locator(f'#graph .node[data-state="{n}"]') for n in BRANCHY["States"]}
    for name in ("Check", "Small", "Fan", "Done"):
        expect(nodes[name]).to_have_attribute("data-coverage", "covered")
    for name in ("Big", "Negative", "Handled"):
        expect(nodes[name]).to_have_attribute("data-coverage", "missed")
    assert nodes["Small"].get_attribute("data-hits") == "2"
    # The Map's inner state, entered once an item.
    each = page.locator('#graph .node[data-state="Each"]')
    assert each.get_attribute("data-coverage") == "covered" and each.get_attribute("data-hits") == "4"
    # The untaken Choice rules and Catch are drawn as not covered, the Default as taken twice.
    assert edge(page, "Check", "Big", "choice").get_attribute("data-coverage") == "missed"
    assert edge(page, "Check", "Negative", "choice").get_attribute("data-index") == "1"
    assert edge(page, "Check", "Negative", "choice").get_attribute("data-coverage") == "missed"
    default = edge(page, "Check", "Small", "default")
    assert default.get_attribute("data-coverage") == "covered" and default.get_attribute("data-hits") == "2"
    assert default.locator(".hits text").text_content() == "2\u00d7"
    assert edge(page, "Small", "Handled", "catch").get_attribute("data-coverage") == "missed"
    assert edge(page, "Big", "Handled", "catch").get_attribute("data-coverage") == "missed"
    assert "never taken" in edge(page, "Small", "Handled", "catch").locator("title").text_content()
    missing = page.locator("#coverage-missing")
    expect(missing.locator('li[data-state="Big"]')).to_have_text("Big never entered")
    expect(missing.locator('li[data-edge="Small:catch:0"]')).to_have_text("Small Catch 1 → Handled")
    expect(missing.locator('li[data-edge="Check:choice:0"]')).to_have_text("Check Choice rule 1 → Big")

    # A coverage JSON from `pytest --sfn-cov` (the same document) in place of the recorded runs.
    rule = server.start_execution("branchy", "big-one", {"n": 50, "items": []})
    server.finished(rule)
    events = server.call(server.service.get_execution_history(executionArn=rule, maxResults=1000))["events"]
    definition = load_definition(json.dumps(BRANCHY))
    coverage = Coverage()
    context = trace_context(rule, "big-one", server.arns["branchy"], "branchy")
    coverage.add(
        "definitions/branchy.asl.json", definition, trace_history(definition, events, context=context)
    )
    report = coverage.write_json(tmp_path / "coverage.json")
    page.click(".coverage-import summary")
    page.set_input_files("#coverage-file", str(report))
    expect(page.locator("#coverage-summary")).to_contain_text("definitions/branchy.asl.json, 1 executions")
    expect(nodes["Big"]).to_have_attribute("data-coverage", "covered")
    assert edge(page, "Check", "Big", "choice").get_attribute("data-coverage") == "covered"
    assert edge(page, "Big", "Handled", "catch").get_attribute("data-coverage") == "covered"
    assert edge(page, "Check", "Small", "default").get_attribute("data-coverage") == "missed"
    # Back to the recorded executions: the third one took rule 1 and the Catch.
    page.click("#coverage-recorded")
    expect(page.locator("#coverage-source")).to_contain_text("From 3 recorded executions")
    expect(edge(page, "Check", "Big", "choice")).to_have_attribute("data-coverage", "covered")
    assert edge(page, "Check", "Negative", "choice").get_attribute("data-coverage") == "missed"
    page.uncheck("#coverage-toggle")
    expect(page.locator("#definition-json")).to_be_visible()
    assert page.locator("#graph.coverage").count() == 0


def test_coverage_route_counts_as_workflows_coverage_does(server: Server) -> None:
    from workflows.asl.definition import load_definition
    from workflows.service.coverage import DefinitionCoverage, trace_context
    from workflows.service.trace import trace_history

    created = server.call(
        server.service.create_state_machine(name="branchy-api", definition=json.dumps(BRANCHY), roleArn=ROLE)
    )
    arn = created["stateMachineArn"]
    runs = []
    for n in (3, -1, 40):
        out = server.call(
            server.service.start_execution(stateMachineArn=arn, input=json.dumps({"n": n, "items": [0]}))
        )
        runs.append(server.finished(out["executionArn"]))
    definition = load_definition(json.dumps(BRANCHY))
    expected = DefinitionCoverage.of("branchy-api", definition)
    for run in reversed(runs):  # the API lists the newest first
        events = server.call(
            server.service.get_execution_history(executionArn=run["executionArn"], maxResults=1000)
        )["events"]
        context = trace_context(run["executionArn"], run["name"], arn, "branchy-api", ROLE)
        expected.add(trace_history(definition, events, context=context))
    with httpx.Client(base_url=server.url) as client:
        got = client.get("/console/api/coverage", params={"arn": arn}).json()
        # A new revision: the old executions ran another definition and are not counted against it.
        changed = {**BRANCHY, "Comment": "a new revision"}
        server.call(server.service.update_state_machine(stateMachineArn=arn, definition=json.dumps(changed)))
        after = client.get("/console/api/coverage", params={"arn": arn}).json()
    assert {k: got[k] for k in ("summary", "states", "edges", "executions")} == {
        k: v for k, v in expected.to_json().items() if k in ("summary", "states", "edges", "executions")
    }
    assert got["counted"] == 3 and got["otherRevisions"] == 0
    assert got["summary"]["choice"] == {"covered": 2, "total": 2}
    assert (
        after["counted"] == 0 and after["otherRevisions"] == 3 and after["summary"]["states"]["covered"] == 0
    )


@pytest.mark.browser
@pytest.mark.parametrize("width,height", [(1280, 800), (1024, 768)])
def test_coverage_screenshots(server: Server, browser: Any, width: int, height: int) -> None:
    """The pipeline's coverage from a few uploads, as the README shows it (docs/console-coverage.png)."""
    for name in ("cover-holiday.jpg", "cover-blurry.jpg", "cover-broken.png", "cover-notes.txt"):
        key = server.uploads.put(f"{width}-{name}", b"fake")
        listed = server.call(server.service.list_executions(stateMachineArn=server.arns["files"]))
        for e in listed["executions"]:
            if json.loads(server.describe(e["executionArn"])["input"])["key"] == key:
                server.finished(e["executionArn"])
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(f"{server.url}/console/machine?arn={server.arns['files']}&tab=definition&coverage=1")
        expect(page.locator("#coverage-summary")).to_be_visible()
        page.wait_for_function("document.getElementById('zoom-level').textContent !== ''")
        assert page.locator("#graph .node[data-coverage='missed']").count() > 0
        assert page.locator("#graph .edge[data-coverage='covered']").count() > 0
        wide = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        assert page.evaluate(wide) <= 0
        shot(page, f"coverage-{width}")
        docs = ROOT / "docs" / "console-coverage.png"
        if width == 1280 and (os.environ.get("UPDATE_DOCS_SCREENSHOT") or not docs.exists()):
            from PIL import Image

            # The panel at the top of the window; a palette of 128 colours (a third of the size).
            page.evaluate("document.getElementById('definition').scrollIntoView()")
            page.click("#graph-zoom-out")
            picture = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
            picture.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(docs, optimize=True)
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.parametrize("width,height", [(1280, 800), (1024, 768)])
def test_long_history_screenshots(server: Server, browser: Any, big: str, width: int, height: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    wide = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    try:
        open_execution(page, server, big)
        expect_status(page, "Touch", "succeeded")
        page.click('#graph .node[data-state="Touch"]')
        expect(page.locator("#run-picker")).to_be_visible()
        assert page.evaluate(wide) <= 0
        shot(page, f"big-graph-{width}")
        page.click("#tab-events")
        page.locator("#events-more").scroll_into_view_if_needed()
        expect(page.locator("#events details")).to_have_count(300)
        assert page.evaluate(wide) <= 0
        page.evaluate("document.getElementById('events-count').scrollIntoView()")
        browser_shot(page, f"big-events-{width}")
        page.locator("#events-more").scroll_into_view_if_needed()
        browser_shot(page, f"big-events-more-{width}")
    finally:
        context.close()


def test_kept_histories_are_bounded_by_events(server: Server) -> None:
    from workflows.service.console import _Histories

    arns = [server.start_execution("quick", f"kept-{i}", {"i": i}) for i in range(3)]
    histories = _Histories(server.service, size=6, events=10)
    for arn in arns:
        described = server.finished(arn)
        definition = server.call(server.service.describe_state_machine_for_execution(executionArn=arn))
        entry = server.call(histories.open(arn, described, definition["definition"]))
        assert len(entry.index.events) == 4 and entry.complete_at == 0
    # 4 events each: two fit in 10, the oldest went first.
    assert list(histories.entries) == arns[1:]
