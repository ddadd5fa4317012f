"""Replay: past pipeline executions run against an edited definition, their task results as mocks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workflows.asl.errors import ASLError
from workflows.cli import main
from workflows.engine.clock import FakeClock
from workflows.engine.tasks import TaskRequest
from workflows.local.template import load_template
from workflows.service.replay import NO_RECORDING, Recording, replay_many
from workflows.service.service import StepFunctionsService
from workflows.service.store import Store

ROOT = Path(__file__).resolve().parents[1]
ROLE = "arn:aws:iam::123456789012:role/replay-test"
MIN_WIDTH = '"minWidth.$": "States.StringToJson(\'64\')"'


def upload(i: int) -> dict[str, Any]:
    return {
        "bucket": "in",
        "key": f"uploads/f{i}.jpg",
        "versionId": "v1",
        "size": 1000 + i,
        "etag": "e",
        "objectId": f"obj-{i}",
        "copySource": f"in/uploads/f{i}.jpg",
    }


def case(i: int) -> dict[str, Any]:
    """What the Lambda functions answered for upload i: images of varied width, a few documents, a few
    corrupt files, and one S3 hiccup retried."""
    if i % 7 == 3:
        return {"kind": "document", "corrupt": False}
    if i % 7 == 5:
        return {"kind": "image", "corrupt": True}
    return {"kind": "image", "width": 40 + i * 9, "height": 48 if i % 9 == 4 else 300, "corrupt": False}


class Lambdas:
    """The pipeline's functions and integrations as the original executions saw them."""

    def __init__(self) -> None:
        self.calls = 0
        self.flaked: set[str] = set()

    def handles(self, request: TaskRequest) -> bool:
        return True

    async def invoke(self, request: TaskRequest) -> Any:
        self.calls += 1
        params = request.parameters if isinstance(request.parameters, dict) else {}
        i = (
            int(str(params.get("key", "uploads/f0.jpg")).split("/f")[-1].split(".")[0])
            if "key" in params
            else 0
        )
        c = case(i)
        if "ValidateFunction" in request.resource:
            if i == 2 and params["key"] not in self.flaked:
                self.flaked.add(params["key"])
                raise ASLError("S3Unavailable", "slow down")
            if c["corrupt"]:
                raise ASLError("CorruptImage", "truncated JPEG")
            kind = c["kind"]
            return {
                "contentType": "image/jpeg" if kind == "image" else "text/csv",
                "kind": kind,
                "size": 1000 + i,
                "sizeClass": "small",
                "extensionMatches": True,
            }
        if "AnalyseFunction" in request.resource:
            if c["kind"] == "document":
                return {"kind": "document", "document": {"valid": True, "rows": 10}}
            image = {
                "width": c["width"],
                "height": c["height"],
                "sharpness": 90,
                "brightness": 0.5,
                "gps": False,
                "trailingBytes": 0,
            }
            preview = {"bucket": "previews", "key": f"previews/{i}.jpg", "width": 256, "height": 192}
            return {"kind": "image", "image": image, "preview": preview}
        return {}  # S3 copies (the outcome, the thumbnail) and SNS publishes


def routed_to_small(i: int, min_width: int) -> bool:
    c = case(i)
    return c["kind"] == "image" and not c["corrupt"] and (c["width"] < min_width or c["height"] < 64)


class Recorded:
    def __init__(self, data_dir: Path, count: int) -> None:
        stack = load_template(str(ROOT / "template.yaml"))
        self.spec = next(iter(stack.state_machines.values()))
        self.data_dir = data_dir
        self.lambdas = Lambdas()
        self.arns: list[str] = []
        asyncio.run(self._record(count))

    async def _record(self, count: int) -> None:
        store = Store(str(self.data_dir))
        service = StepFunctionsService(
            store, resolver=self.lambdas, substitutions=self.spec.substitutions, clock=FakeClock()
        )
        created = await service.create_state_machine(
            name="Pipeline", definition=self.spec.definition_uri.read_text(), roleArn=ROLE
        )
        self.machine = created["stateMachineArn"]
        for i in range(count):
            out = await service.start_execution(
                stateMachineArn=self.machine, name=f"upload-{i}", input=json.dumps(upload(i))
            )
            self.arns.append(out["executionArn"])
        self.histories: dict[str, list[dict[str, Any]]] = {}
        for arn in self.arns:
            for _ in range(2000):
                if (await service.describe_execution(executionArn=arn))["status"] != "RUNNING":
                    break
                await asyncio.sleep(0.005)
            events = (await service.get_execution_history(executionArn=arn, maxResults=1000))["events"]
            self.histories[arn] = events
        await service.close() if hasattr(service, "close") else None
        store.close()

    def recordings(self) -> list[Recording]:
        return [Recording.from_history(self.histories[a], a, self.machine) for a in self.arns]

    def edited(self, min_width: int) -> str:
        text = self.spec.definition_text()
        assert MIN_WIDTH in text  # the threshold as the running machine sees it: after substitution
        return text.replace(MIN_WIDTH, MIN_WIDTH.replace("'64'", f"'{min_width}'"))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    yield Recorded(tmp_path_factory.mktemp("replay") / "data", 20)


def test_recording_reads_calls_per_state_in_order(recorded: Recorded) -> None:
    flaky = next(r for r in recorded.recordings() if r.name == "upload-2")
    validate = [c for c in flaky.calls if c.state == "Validate"]
    assert [c.error for c in validate] == ["S3Unavailable", None]
    assert flaky.status == "SUCCEEDED" and flaky.path.index("Validate") < flaky.path.index("Analyse")
    assert flaky.input == upload(2)


def test_the_unchanged_definition_replays_identically(recorded: Recorded) -> None:
    calls = recorded.lambdas.calls
    results = asyncio.run(replay_many(recorded.spec.definition_text(), recorded.recordings()))
    assert [r.changed for r in results] == [False] * 20, [r.to_json() for r in results if r.changed]
    assert recorded.lambdas.calls == calls  # recorded results only: nothing was called


def test_a_raised_min_width_reports_exactly_the_rerouted_executions(recorded: Recorded) -> None:
    results = asyncio.run(replay_many(recorded.edited(128), recorded.recordings()))
    expected = {f"upload-{i}" for i in range(20) if routed_to_small(i, 128) and not routed_to_small(i, 64)}
    assert len(expected) >= 3
    # Routing: exactly the images between the old and the new threshold take another path.
    assert {r.name for r in results if r.path_changed} == expected
    for r in results:
        assert not r.status_changed
        if r.name in expected:
            assert r.diverges_at == {
                "state": "RouteImage",
                "was": "Accept",
                "now": "RejectTooSmall",
                "step": r.path[0].index("RouteImage") + 1,
            }
            assert r.output[1]["outcome"]["reason"] == "too-small"
        elif r.status[0] == "SUCCEEDED" and r.path[0][-1] != "Quarantined":
            # The criteria travel in the state's data, so every output shows the new threshold.
            assert r.output_changed and r.output[1]["criteria"]["minWidth"] == 128
            assert r.diverges_at == {"state": "Configure", "outputChanged": True, "step": 0}


def test_a_call_without_recording_fails_clearly(recorded: Recorded) -> None:
    # Lowering the threshold accepts an image that was rejected: its Thumbnail copy never ran, so
    # nothing stands in for it.
    results = asyncio.run(replay_many(recorded.edited(10), recorded.recordings()))
    newly = [r for r in results if r.path_changed]
    assert newly
    for r in newly:
        assert "Thumbnail" in r.unrecorded
        assert r.status == ("SUCCEEDED", "FAILED")
        assert r.error[1] == NO_RECORDING


def test_cli_replay_exit_status_and_json(recorded: Recorded, tmp_path: Path, capsys: Any) -> None:
    same = tmp_path / "same.asl.json"
    same.write_text(recorded.spec.definition_uri.read_text())  # placeholders, filled from template.yaml
    edited = tmp_path / "edited.asl.json"
    edited.write_text(recorded.edited(128))
    data = str(recorded.data_dir)
    template = str(ROOT / "template.yaml")
    base = ["--data-dir", data, "--template", template]
    assert main(["replay", *recorded.arns[:5], "--definition", str(same), *base]) == 0
    capsys.readouterr()
    assert main(["replay", "--last", "20", "--definition", str(edited), "--json", *base]) == 1
    doc = json.loads(capsys.readouterr().out)
    changed = {e["name"] for e in doc["executions"] if e["pathChanged"]}
    assert changed == {
        f"upload-{i}" for i in range(20) if routed_to_small(i, 128) and not routed_to_small(i, 64)
    }
    assert doc["replayed"] == 20 and doc["pathChanged"] == len(changed)
    assert main(["replay", sorted(changed)[0], "--definition", str(edited), *base]) == 1
    assert "RouteImage: Accept -> RejectTooSmall" in capsys.readouterr().out
    assert main(["replay", "nope", "--definition", str(edited), *base]) == 2


def test_replaying_100_executions_is_fast(tmp_path: Path) -> None:
    many = Recorded(tmp_path / "data", 100)
    recordings = many.recordings()
    began = time.perf_counter()
    results = asyncio.run(replay_many(many.edited(128), recordings))
    elapsed = time.perf_counter() - began
    print(f"replayed {len(results)} executions in {elapsed:.2f}s")
    assert len(results) == 100 and elapsed <= 5.0


def test_a_spinning_edit_costs_a_bounded_wait(recorded: Recorded) -> None:
    spin = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.never", "IsPresent": True, "Next": "Done"}],
                "Default": "A",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    began = time.perf_counter()
    results = asyncio.run(replay_many(spin, recorded.recordings()[:2], budget=30))
    assert [r.status[1] for r in results] == ["FAILED", "FAILED"]  # the history limit ends each run
    assert time.perf_counter() - began < 30
    assert asyncio.run(replay_many(spin, recorded.recordings(), budget=0)) == []
