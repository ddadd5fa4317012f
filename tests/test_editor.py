"""The definition editor, driven in headless Chromium: CodeMirror, diagnostics at the exact field with
cascades grouped, autocomplete, the graph that follows the cursor, definitions/ watched as the source
of truth, conflicting saves, TestState and replay panels. Screenshots go to tests/artifacts/;
`UPDATE_DOCS_SCREENSHOT=1` also refreshes docs/editor.png."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser import ARTIFACTS, ROOT, LiveServer, shot
from tests.test_replay import Lambdas, routed_to_small, upload
from workflows.asl.validation import validate_definition
from workflows.engine.clock import FakeClock
from workflows.local.dev import DefinitionsWatcher
from workflows.local.template import load_template
from workflows.service.api import create_app
from workflows.service.console import create_console
from workflows.service.service import StepFunctionsService
from workflows.service.store import Store

# A 409 is the conflict test's own doing, the favicon the browser's; anything else is an editor bug.
EXPECTED_PAGE_ERRORS = ("409", "/favicon.ico")
ROLE = "arn:aws:iam::123456789012:role/editor-test"
SMALL = {
    "StartAt": "First",
    "States": {"First": {"Type": "Pass", "Next": "Last"}, "Last": {"Type": "Succeed"}},
}
MIN_WIDTH_SOURCE = "States.StringToJson('${MinImageWidth}')"


class Server(LiveServer):
    def __init__(self, tmp: Path) -> None:
        super().__init__()
        stack = load_template(str(ROOT / "template.yaml"))
        self.spec = next(iter(stack.state_machines.values()))
        self.definitions = tmp / "definitions"
        self.definitions.mkdir()
        self.pipeline_file = self.definitions / "pipeline.asl.json"
        shutil.copy(self.spec.definition_uri, self.pipeline_file)
        self.files = {name: self.definitions / f"{name}.asl.json" for name in ("small", "other")}
        for path in self.files.values():
            path.write_text(json.dumps(SMALL, indent=2) + "\n")
        self.lambdas = Lambdas()
        self.service = StepFunctionsService(
            Store(str(tmp / "data")),
            resolver=self.lambdas,
            substitutions=self.spec.substitutions,
            clock=FakeClock(),
            # Virtual time runs years ahead while the executions wait on each other: the retention
            # sweep at start would forget them by that clock.
            retention_days=0,
        )
        self.notices: dict[str, dict[str, Any]] = {}
        self.said: list[str] = []
        self.arns: dict[str, str] = {}
        self.executions: list[str] = []

    def start(self) -> None:
        self.arns = self.call(self._register())
        sources = {
            self.arns["pipeline"]: self.pipeline_file,
            self.arns["small"]: self.files["small"],
            self.arns["other"]: self.files["other"],
        }
        routes = create_console(self.service, sources=sources, notices=self.notices)
        self.watcher = DefinitionsWatcher(
            self.service, sources, notices=self.notices, say=lambda m: self.said.append(str(m))
        )
        self.background.append(lambda: self.watcher.run(0.5))
        self.serve(create_app(self.service, routes=routes))

    async def _register(self) -> dict[str, str]:
        arns = {}
        for name, text in (
            ("pipeline", self.pipeline_file.read_text()),
            ("small", self.files["small"].read_text()),
            ("other", self.files["other"].read_text()),
        ):
            out = await self.service.create_state_machine(name=name, definition=text, roleArn=ROLE)
            arns[name] = out["stateMachineArn"]
        for i in range(20):
            out = await self.service.start_execution(
                stateMachineArn=arns["pipeline"], name=f"upload-{i}", input=json.dumps(upload(i))
            )
            self.executions.append(out["executionArn"])
        for arn in self.executions:
            for _ in range(4000):
                if (await self.service.describe_execution(executionArn=arn))["status"] != "RUNNING":
                    break
                await asyncio.sleep(0.005)
        return arns

    def machine(self, name: str) -> dict[str, Any]:
        return self.call(self.service.describe_state_machine(stateMachineArn=self.arns[name]))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("editor"))
    srv.start()
    yield srv
    srv.stop()


def open_editor(page: Any, server: Server, name: str) -> None:
    page.goto(f"{server.url}/console/editor?arn={server.arns[name]}")
    page.wait_for_selector("#validation-status[data-result]")


def set_text(page: Any, text: str) -> None:
    page.evaluate(
        "t => { const v = window.WF.editor.view; v.dispatch({changes: {from: 0, to: v.state.doc.length, insert: t}}); }",
        text,
    )


def get_text(page: Any) -> str:
    return str(page.evaluate("() => window.WF.editor.view.state.doc.toString()"))


def cursor(page: Any) -> tuple[int, int]:
    """(line, column), 1-based, of the editor's cursor."""
    line, column = page.evaluate(
        "() => { const s = window.WF.editor.view.state; const h = s.selection.main.head; const l = s.doc.lineAt(h);"
        " return [l.number, h - l.from + 1]; }"
    )
    return int(line), int(column)


def put_cursor(page: Any, offset: int) -> None:
    page.evaluate(
        "o => { const v = window.WF.editor.view; v.focus(); v.dispatch({selection: {anchor: o}, scrollIntoView: true}); }",
        offset,
    )


def unreachable(text: str) -> int:
    """How many 'not reachable' findings the validator itself makes for `text`."""
    return sum("is not reachable" in d.message for d in validate_definition(text))


def line_of(text: str, needle: str) -> int:
    return next(i for i, row in enumerate(text.splitlines(), 1) if needle in row)


# -- without a browser ---------------------------------------------------------------------------------


def in_thread(coro: Any) -> Any:
    """asyncio.run on a thread of its own: sync Playwright keeps a loop running on this one while a
    browser fixture of this module is alive."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(60)


def test_validate_route_places_the_exact_field_and_groups_cascades(server: Server) -> None:
    text = server.pipeline_file.read_text().replace('"Next": "Analyse"', '"Next": "Analyze"', 1)
    text = text.replace('"TimeoutSeconds": 60,', '"TimeoutSeconds": 60,\n      "Retries": 3,', 1)
    with httpx.Client(base_url=server.url) as client:
        client.get("/console")
        token = client.cookies["wf_csrf"]
        out = client.post(
            "/console/api/validate", json={"definition": text}, headers={"X-CSRF-Token": token}
        ).json()
    found = out["diagnostics"]
    primary = [d for d in found if "causedBy" not in d]
    assert [d["message"] for d in primary] == [
        "Field 'Retries' is not supported",
        "Missing 'Next' target: Analyze",
    ]
    unknown, typo = primary
    lines = text.splitlines()
    # The unknown field's own key, not its state's first line.
    assert lines[unknown["line"] - 1][unknown["column"] - 1 : unknown["endColumn"] - 1] == '"Retries"'
    assert lines[typo["line"] - 1][typo["column"] - 1 : typo["endColumn"] - 1] == '"Analyze"'
    cascades = unreachable(text)
    assert cascades >= 19  # every state reached only through Analyse
    assert typo["suggestion"] == "Analyse" and len(typo["cascades"]) == cascades
    cascaded = [d for d in found if d.get("causedBy") == typo["index"]]
    assert {d["state"] for d in cascaded} >= {"Analyse", "Route", "RouteImage", "Done"} and len(
        cascaded
    ) == cascades


def test_watcher_registers_a_valid_edit_and_reports_an_invalid_one(tmp_path: Path) -> None:
    async def scenario() -> None:
        service = StepFunctionsService(Store(str(tmp_path / "data")))
        path = tmp_path / "m.asl.json"
        path.write_text(json.dumps(SMALL))
        arn = (await service.create_state_machine(name="m", definition=path.read_text(), roleArn=ROLE))[
            "stateMachineArn"
        ]
        said: list[str] = []
        watcher = DefinitionsWatcher(service, {arn: path}, say=said.append)
        before = (await service.describe_state_machine(stateMachineArn=arn)).get("revisionId")
        edited = json.loads(json.dumps(SMALL))
        edited["States"]["First"]["Result"] = {"edited": True}
        path.write_text(json.dumps(edited, indent=2))
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
        await watcher.check()
        now = await service.describe_state_machine(stateMachineArn=arn)
        assert now["revisionId"] != before and json.loads(now["definition"]) == edited
        assert watcher.notices[arn]["status"] == "registered" and "registered m revision" in said[-1]
        path.write_text('{"StartAt": "First", "States": {"First": {"Type": "Pass", "Next": "Nowhere"}}}')
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 2_000_000))
        await watcher.check()
        after = await service.describe_state_machine(stateMachineArn=arn)
        assert after["revisionId"] == now["revisionId"]  # not registered
        assert watcher.notices[arn]["status"] == "invalid"
        assert "Nowhere" in " ".join(watcher.notices[arn]["problems"])
        assert any("is not valid; m keeps its revision" in s for s in said)

    in_thread(scenario())


def test_a_stale_save_is_refused_with_both_texts(server: Server) -> None:
    arn = server.arns["other"]
    loaded = server.machine("other")
    with httpx.Client(base_url=server.url) as client:
        client.get("/console")
        headers = {"X-CSRF-Token": client.cookies["wf_csrf"]}
        status = client.get("/console/api/source-status", params={"arn": arn}).json()
        assert status["differs"] is False
        theirs = json.loads(json.dumps(SMALL))
        theirs["Comment"] = "edited by hand"
        server.files["other"].write_text(json.dumps(theirs, indent=2) + "\n")
        settled(server, "other", theirs)
        mine = json.dumps({**SMALL, "Comment": "edited in the console"}, indent=2)
        body = {
            "stateMachineArn": arn,
            "definition": mine,
            "baseRevisionId": loaded.get("revisionId"),
            "baseHash": status["sourceHash"],
        }
        refused = client.put("/console/api/definition", json=body, headers=headers)
        assert refused.status_code == 409
        data = refused.json()
        assert "edited by hand" in data["current"]["text"] and data["yours"] == mine
        assert "edited by hand" in server.files["other"].read_text()  # not overwritten
        body["baseHash"] = data["current"]["sourceHash"]
        body["baseRevisionId"] = data["current"]["revisionId"]
        assert client.put("/console/api/definition", json=body, headers=headers).status_code == 200
        assert "edited in the console" in server.files["other"].read_text()


# -- in the browser -------------------------------------------------------------------------------------


@pytest.mark.browser
def test_opens_fast_and_a_bad_next_gives_one_error_with_cascades_grouped(server: Server, page: Any) -> None:
    page.goto(f"{server.url}/console/editor?arn={server.arns['pipeline']}")
    page.wait_for_selector("#validation-status[data-result='OK']")
    page.wait_for_selector("#preview .node[data-state='RouteImage']")
    # From navigation start to the text on screen, and to its graph.
    mark = "() => performance.getEntriesByName('{}')[0].startTime"
    opened_ms = page.evaluate(mark.format("editor-ready"))
    graph_ms = page.evaluate(mark.format("editor-graph"))
    scripts_ms = page.evaluate(
        "() => performance.getEntriesByType('navigation')[0].domContentLoadedEventStart"
    )
    print(
        f"editor showed the pipeline's text in {opened_ms:.0f} ms ({scripts_ms:.0f} ms of it loading the "
        f"scripts), its graph in {graph_ms:.0f} ms"
    )
    # The target is 1 s (the report gives the figures); this bound catches a pathological regression
    # without failing on a CI machine under heavy load.
    assert opened_ms - scripts_ms <= 10_000
    assert page.locator(".cm-editor .cm-content").count() == 1
    assert "MinImageWidth" in get_text(page)

    text = get_text(page).replace('"Next": "Analyse"', '"Next": "Analyze"', 1)
    set_text(page, text)
    page.wait_for_selector("#validation-status[data-result='FAIL']")
    items = page.locator("#diagnostics > li")
    assert items.count() == 1
    item = items.first
    assert item.get_attribute("data-code") == "MISSING_TRANSITION_TARGET"
    line = line_of(text, '"Next": "Analyze"')
    assert item.get_attribute("data-line") == str(line)
    assert 'Did you mean "Analyse"?' in item.text_content()
    n = unreachable(text)
    expect(item.locator(".cascade-summary")).to_contain_text(f"{n} states unreachable because of this")
    expect(page.locator("#validation-status")).to_have_text(f"1 error (+{n} unreachable because of it)")
    item.locator(".message").click()
    assert cursor(page)[0] == line
    page.wait_for_selector(".cm-lintRange-error")
    squiggles = page.locator(".cm-lintRange-error")
    assert squiggles.count() == 1 and squiggles.first.text_content() == '"Analyze"'
    item.locator(".cascade-summary").click()
    expect(item.locator(".cascade-list li")).to_have_count(n)
    assert page.locator("#save").is_disabled()
    shot(page, "editor-cascades")

    set_text(page, text.replace('"Next": "Analyze"', '"Next": "Analyse",,', 1))
    page.wait_for_selector("#diagnostics li[data-code='INVALID_JSON_DESCRIPTION']")
    assert page.locator("#diagnostics > li").count() == 1
    message = page.locator("#diagnostics li .message").text_content()
    assert message.startswith(f"JSON syntax error at {line}:") and "\n" not in message


@pytest.mark.browser
def test_autocomplete_offers_states_fields_and_template_names(server: Server, page: Any) -> None:
    open_editor(page, server, "pipeline")
    text = get_text(page)
    options = page.locator(".cm-tooltip-autocomplete li")
    # A Next value: the state names.
    at = text.index('"Next": "Analyse"') + len('"Next": "')
    page.evaluate(
        "a => { const v = window.WF.editor.view; v.focus(); v.dispatch({changes: {from: a, to: a + 7}, selection: {anchor: a}}); }",
        at,
    )
    page.keyboard.type("R")
    expect(options.first).to_be_visible()
    labels = options.all_text_contents()
    assert any(lbl.startswith("Route") for lbl in labels) and any("RouteImage" in lbl for lbl in labels)
    page.keyboard.press("Escape")
    # A key in a Task state: the fields a Task takes.
    set_text(page, text)
    at = get_text(page).index('"TimeoutSeconds": 60,') + len('"TimeoutSeconds": 60,')
    page.evaluate(
        "a => { const v = window.WF.editor.view; v.focus(); v.dispatch({changes: {from: a, insert: '\\n      \"'}, selection: {anchor: a + 8}}); }",
        at,
    )
    page.keyboard.type("Heart")
    expect(options.first).to_be_visible()
    assert "HeartbeatSeconds" in " ".join(options.all_text_contents())
    for _ in range(5):
        page.keyboard.press("Backspace")
    page.keyboard.type("Out")
    expect(options.first).to_be_visible()
    # The machine is JSONPath: OutputPath, not JSONata's Output.
    assert "OutputPath" in options.all_text_contents() and "Output" not in options.all_text_contents()
    page.keyboard.press("Escape")
    # A ${...} placeholder: the template's DefinitionSubstitutions.
    set_text(page, text)
    at = get_text(page).index('"Resource": "${ValidateFunctionArn}"') + len('"Resource": "')
    page.evaluate(
        "a => { const v = window.WF.editor.view; v.focus(); v.dispatch({changes: {from: a, to: a + 22}, selection: {anchor: a}}); }",
        at,
    )
    page.keyboard.type("${Ana")
    expect(options.first).to_be_visible()
    assert "${AnalyseFunctionArn}" in options.all_text_contents()
    page.keyboard.press("Escape")
    # JSONata: $states.
    set_text(page, text)
    at = get_text(page).index("{% $merge(") + 3
    put_cursor(page, at)
    page.keyboard.type("$sta")
    expect(options.first).to_be_visible()
    assert "$states.input" in options.all_text_contents()


@pytest.mark.browser
def test_the_graph_follows_the_cursor_and_a_click_moves_it(server: Server, page: Any) -> None:
    open_editor(page, server, "pipeline")
    text = get_text(page)
    # The graph keeps its own size (the pipeline is far wider than the pane) and opens on StartAt.
    box, start = (
        page.locator("#preview").bounding_box(),
        page.locator("#preview .node[data-state='Configure']").bounding_box(),
    )
    assert box["x"] <= start["x"] and start["x"] + start["width"] <= box["x"] + box["width"], (box, start)
    assert box["y"] <= start["y"] and start["y"] + start["height"] <= box["y"] + box["height"], (box, start)
    assert (
        page.evaluate("() => document.querySelector('#preview svg').getBoundingClientRect().width")
        > box["width"]
    )
    page.click("#preview .node[data-state='RouteImage']")
    # The click is served once the background parse has reached the state (at once on a quiet machine).
    page.wait_for_function(
        "n => { const s = window.WF.editor.view.state; return s.doc.lineAt(s.selection.main.head).number === n; }",
        arg=line_of(text, '"RouteImage": {'),
        timeout=5000,
    )
    assert cursor(page)[0] == line_of(text, '"RouteImage": {')
    expect(page.locator("#preview .node.selected")).to_have_attribute("data-state", "RouteImage")
    put_cursor(page, text.index('"reason": "gps-location"'))
    expect(page.locator("#preview .node.selected")).to_have_attribute("data-state", "ReviewPrivacy")
    expect(page.locator("#cursor-state")).to_have_text("Cursor in state ReviewPrivacy")
    assert page.locator("#preview .node.selected").count() == 1


@pytest.mark.browser
def test_a_hand_edit_appears_as_a_new_revision_within_2s(server: Server, page: Any) -> None:
    open_editor(page, server, "small")
    before = server.machine("small").get("revisionId")
    edited = json.loads(json.dumps(SMALL))
    edited["States"]["First"]["Result"] = {"by": "hand"}
    began = time.monotonic()
    server.files["small"].write_text(json.dumps(edited, indent=2) + "\n")
    deadline = began + 2.0
    while server.machine("small").get("revisionId") == before:
        assert time.monotonic() < deadline, "the hand edit was not registered within 2 s"
        time.sleep(0.05)
    registered = time.monotonic() - began
    revision = server.machine("small")["revisionId"]
    expect(page.locator("#source-banner[data-kind='changed']")).to_contain_text(
        f"registered as revision {revision}", timeout=2000
    )
    shown = time.monotonic() - began
    print(f"hand edit registered in {registered:.2f} s, shown in the editor in {shown:.2f} s")
    assert shown <= 2.5
    expect(page.locator("#revision")).to_have_text(revision)
    assert any("registered small revision" in s for s in server.said)
    page.click("#reload")
    expect(page.locator("#source-banner")).to_be_hidden()
    assert json.loads(get_text(page)) == edited

    server.files["small"].write_text(
        '{"StartAt": "First", "States": {"First": {"Type": "Pass", "Next": "Gone"}}}'
    )
    expect(page.locator("#source-banner[data-kind='invalid']")).to_contain_text("Gone", timeout=3000)
    assert server.machine("small")["revisionId"] == revision
    server.files["small"].write_text(json.dumps(edited, indent=2) + "\n")


def settled(server: Server, name: str, definition: Any) -> None:
    """Wait until the definitions watcher has registered `definition` for machine `name`."""
    deadline = time.monotonic() + 5
    while json.loads(server.machine(name)["definition"]) != definition:
        assert time.monotonic() < deadline, "the watcher did not register the file"
        time.sleep(0.05)


@pytest.mark.browser
def test_a_conflicting_save_is_refused_and_shows_both(server: Server, page: Any) -> None:
    server.files["other"].write_text(json.dumps(SMALL, indent=2) + "\n")
    settled(server, "other", SMALL)
    open_editor(page, server, "other")
    theirs = {**SMALL, "Comment": "changed on disk meanwhile"}
    server.files["other"].write_text(json.dumps(theirs, indent=2) + "\n")
    settled(server, "other", theirs)  # the watcher registered it: "overwrite" below is not raced
    set_text(page, json.dumps({**SMALL, "Comment": "my edit"}, indent=2))
    page.wait_for_selector("#validation-status[data-result='OK']")
    page.click("#save")
    expect(page.locator("#conflict")).to_be_visible()
    expect(page.locator("#save-result")).to_contain_text("Not saved")
    expect(page.locator("#conflict-theirs")).to_contain_text("changed on disk meanwhile")
    expect(page.locator("#conflict-yours")).to_contain_text("my edit")
    assert page.locator("#conflict-yours div.changed").count() >= 1
    assert "changed on disk meanwhile" in server.files["other"].read_text()
    shot(page, "editor-conflict")
    page.click("#conflict-overwrite")
    expect(page.locator("#save-result")).to_contain_text("Saved revision")
    assert "my edit" in server.files["other"].read_text()


@pytest.mark.browser
def test_replay_panel_reports_the_rerouted_executions(server: Server, page: Any) -> None:
    open_editor(page, server, "pipeline")
    text = get_text(page)
    assert text.count(MIN_WIDTH_SOURCE) == 1
    set_text(page, text.replace(MIN_WIDTH_SOURCE, "States.StringToJson('128')"))
    page.wait_for_selector("#validation-status[data-result='OK']")
    page.click("#tab-replay")
    page.fill("#replay-last", "20")
    page.click("#replay-run")
    expected = {f"upload-{i}" for i in range(20) if routed_to_small(i, 128) and not routed_to_small(i, 64)}
    expect(page.locator("#replay-summary")).to_contain_text(f"{len(expected)} of 20 would take another path")
    rerouted = page.locator("#replay-result tr[data-path-changed='true']")
    assert {rerouted.nth(i).get_attribute("data-name") for i in range(rerouted.count())} == expected
    assert rerouted.first.locator(".where > span").text_content() == "RouteImage: Accept → RejectTooSmall"
    rerouted.first.locator("details.paths summary").click()
    expect(rerouted.first.locator("details.paths")).to_contain_text(
        "now: … RouteImage → RejectTooSmall → CopyToOutcome"
    )
    shot(page, "editor-replay")


@pytest.mark.browser
def test_replay_says_how_many_executions_the_event_bound_left_out(
    server: Server, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay reads at most REPLAY_EVENTS events in all: the panel says how many of the executions
    asked for were not replayed, rather than showing fewer rows without a word."""
    from workflows.service import console as console_module

    newest = server.service.store.list_executions(state_machine_arn=server.arns["pipeline"], limit=3)
    three = sum(server.service.store.count_events(r["executionArn"]) for r in newest)
    monkeypatch.setattr(console_module, "REPLAY_EVENTS", three)
    open_editor(page, server, "pipeline")
    page.click("#tab-replay")
    page.fill("#replay-last", "20")
    page.click("#replay-run")
    expect(page.locator("#replay-summary")).to_contain_text("of 3 would take another path")
    expect(page.locator("#replay-left-out")).to_have_text(
        f"; 17 older not replayed (at most {three:,} events or the time budget per replay)"
    )
    assert page.locator("#replay-result tbody tr").count() == 3
    for width, height in ((1280, 800), (1024, 768)):
        page.set_viewport_size({"width": width, "height": height})
        shot(page, f"editor-replay-left-out-{width}")


@pytest.mark.browser
def test_test_state_panel_with_recorded_input_and_a_mock(server: Server, page: Any) -> None:
    open_editor(page, server, "pipeline")
    page.click("#tab-test")
    page.select_option("#test-state-name", "RouteImage")
    expect(page.locator("#test-past-input option")).not_to_have_count(1)
    recorded = json.loads(page.locator("#test-input").input_value())
    assert "analysis" in recorded and "criteria" in recorded  # RouteImage's recorded input
    page.click("#test-run")
    expect(page.locator("#test-status")).to_have_text("SUCCEEDED")
    assert page.locator("#test-next").text_content() in {"Accept", "RejectTooSmall", "ReviewPrivacy"}

    page.select_option("#test-state-name", "Analyse")
    expect(page.locator("#test-past-input option")).not_to_have_count(1)
    page.fill("#test-mock", json.dumps({"kind": "image", "image": {"width": 10}}))
    page.click("#test-run")
    expect(page.locator("#test-status")).to_have_text("SUCCEEDED")
    stages = page.locator("#test-stages dt").all_text_contents()
    assert {"input", "afterParameters", "result", "afterResultPath"} <= set(stages)
    expect(page.locator("#test-output")).to_contain_text('"width": 10')
    shot(page, "editor-test-state")


@pytest.mark.browser
@pytest.mark.parametrize("size", [(1280, 800), (1024, 768)])
def test_screenshots(server: Server, browser: Any, size: tuple[int, int]) -> None:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    pg = context.new_page()
    pg.goto(f"{server.url}/console/editor?arn={server.arns['pipeline']}")
    pg.wait_for_selector("#validation-status[data-result='OK']")
    text = get_text(pg)
    pg.click("#preview .node[data-state='RouteImage']")
    set_text(pg, text.replace('"Next": "Analyse"', '"Next": "Analyze"', 1))
    pg.wait_for_selector("#validation-status[data-result='FAIL']")
    pg.click("#diagnostics > li .message")
    pg.evaluate("() => window.scrollTo(0, 0)")
    pg.wait_for_timeout(200)
    name = f"editor-{size[0]}x{size[1]}"
    shot(pg, name)
    if size == (1280, 800) and os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        shutil.copy(ARTIFACTS / f"{name}.png", ROOT / "docs" / "editor.png")
    context.close()


@pytest.mark.browser
def test_the_form_edits_the_state_under_the_cursor_in_place(server: Server, page: Any) -> None:
    open_editor(page, server, "pipeline")
    text = get_text(page)
    put_cursor(page, text.index('"ResultPath": "$.validation"'))
    page.click("#tab-form")
    expect(page.locator("#form-state")).to_have_text("Validate (Task)")
    retry = page.locator("#form-retry tr[data-retry='0'] input[name='MaxAttempts']")
    assert retry.input_value() == "5"
    retry.fill("3")
    retry.press("Enter")
    page.select_option("#form-catch-0-next", "PrepareFailureNotice")
    page.wait_for_function("() => window.WF.editor.view.state.doc.toString().includes('\"MaxAttempts\": 3')")
    edited = json.loads(get_text(page))
    validate = edited["States"]["Validate"]
    assert validate["Retry"][0]["MaxAttempts"] == 3 and validate["Catch"][0]["Next"] == "PrepareFailureNotice"
    # Only that state changed: every other state is as it was, and so is the text around it.
    original = json.loads(text)
    assert {k: v for k, v in edited["States"].items() if k != "Validate"} == {
        k: v for k, v in original["States"].items() if k != "Validate"
    }
    after = get_text(page)
    assert after[: after.index('"Validate": {')] == text[: text.index('"Validate": {')]
    # A Choice state's rules.
    put_cursor(page, after.index('"RouteImage": {') + 3)
    expect(page.locator("#form-state")).to_have_text("RouteImage (Choice)")
    page.select_option("#form-rule-0-next", "ReviewBlurry")
    page.wait_for_function(
        "() => JSON.parse(window.WF.editor.view.state.doc.toString()).States.RouteImage.Choices[0].Next === 'ReviewBlurry'"
    )
    page.wait_for_selector("#validation-status[data-result='OK']")
    shot(page, "editor-form")


def test_watcher_reloads_substitutions_when_the_template_changes(tmp_path: Path) -> None:
    for name in ("definitions", "tasks"):
        (tmp_path / name).symlink_to(ROOT / name)
    template = tmp_path / "template.yaml"
    template.write_text((ROOT / "template.yaml").read_text())

    async def scenario() -> None:
        service = StepFunctionsService(Store(str(tmp_path / "data")), substitutions={"MinImageWidth": "64"})
        watcher = DefinitionsWatcher(service, {}, template=template, say=lambda m: None)
        text = template.read_text()
        assert 'MinImageWidth:\n    Type: String\n    Default: "64"' in text
        template.write_text(
            text.replace(
                'MinImageWidth:\n    Type: String\n    Default: "64"',
                'MinImageWidth:\n    Type: String\n    Default: "128"',
            )
        )
        os.utime(template, ns=(time.time_ns(), time.time_ns() + 1_000_000))
        await watcher.check()
        assert service.substitutions["MinImageWidth"] == "128"

    in_thread(scenario())
