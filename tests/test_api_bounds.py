"""What a user sends cannot break the server or an execution: lone surrogates, numbers past a double,
JSONPath unions, intrinsics nested without end, deep console bodies, tags past the quota, and
connections that send their request a byte at a time. Each gets AWS's error, or is bounded."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_replay import free_port

ROLE = "arn:aws:iam::123456789012:role/r"
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


@pytest.fixture
def http(tmp_path: Path) -> Iterator[Any]:
    from starlette.testclient import TestClient

    from workflows.service.server import build

    app, _ = build(str(tmp_path))
    with TestClient(app, base_url="http://localhost") as client:
        yield client


def call(http: Any, op: str, params: dict[str, Any] | str) -> Any:
    body = params if isinstance(params, str) else json.dumps(params)
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"AWSStepFunctions.{op}"}
    return http.post("/", content=body.encode(), headers=headers)


def machine(http: Any, definition: dict[str, Any] = PASS, name: str = "m", **extra: Any) -> str:
    out = call(
        http,
        "CreateStateMachine",
        {"name": name, "definition": json.dumps(definition), "roleArn": ROLE, **extra},
    )
    assert out.status_code == 200, out.text
    return str(out.json()["stateMachineArn"])


def ended(http: Any, execution_arn: str) -> dict[str, Any]:
    deadline = time.time() + 20
    while True:
        described = call(http, "DescribeExecution", {"executionArn": execution_arn}).json()
        if described["status"] != "RUNNING" or time.time() > deadline:
            return described  # type: ignore[no-any-return]
        time.sleep(0.02)


def console_post(http: Any, path: str, body: bytes) -> Any:
    http.get("/console")
    headers = {"X-CSRF-Token": http.cookies["wf_csrf"], "Content-Type": "application/json"}
    return http.post(f"/console/api/{path}", content=body, headers=headers)


# -- lone surrogates ----------------------------------------------------------------------------------


def test_a_lone_surrogate_in_the_input_or_the_name_is_refused_at_start(http: Any) -> None:
    arn = machine(http)
    for text in ('{"k":"\\ud800"}', '["\\udfff"]', '{"\\ud800":1}'):
        out = call(http, "StartExecution", {"stateMachineArn": arn, "input": text})
        assert out.status_code == 400
        assert out.json()["__type"] == "InvalidExecutionInput"
        assert "lone surrogate" in out.json()["message"]
    # a pair is a character (U+1F600), written either way
    for text in ('"\\ud83d\\ude00"', json.dumps("\U0001f600", ensure_ascii=False)):
        assert call(http, "StartExecution", {"stateMachineArn": arn, "input": text}).status_code == 200
    # the request body escapes the surrogate; json.loads gives the name a lone one
    named = call(http, "StartExecution", '{"stateMachineArn": "' + arn + '", "name": "a\\ud800b"}')
    assert named.status_code == 400 and named.json()["__type"] == "InvalidName"
    created = call(
        http, "CreateStateMachine", '{"name": "\\udfff", "definition": "{}", "roleArn": "' + ROLE + '"}'
    )
    assert created.status_code == 400 and created.json()["__type"] == "InvalidName"


def test_a_lone_surrogate_an_execution_made_still_reads_back(http: Any) -> None:
    """A JSONata string literal can make one (and a store written before inputs were checked holds
    them): every read answers valid UTF-8 JSON carrying it as its escape."""
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Output": {"k": "{% '\\ud800' & 'x' %}"}, "End": True}},
    }
    arn = machine(http, definition)
    execution = call(http, "StartExecution", {"stateMachineArn": arn}).json()["executionArn"]
    described = ended(http, execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"k": "\ud800x"}
    history = call(http, "GetExecutionHistory", {"executionArn": execution})
    assert history.status_code == 200
    history.content.decode("utf-8")  # strict UTF-8
    assert b"\\ud800x" in history.content
    page = http.get("/console/api/execution", params={"arn": execution})
    assert page.status_code == 200
    assert page.json()["execution"]["output"] == described["output"]


# -- numbers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1" * 100_000, '{"n": 1e400}', "[-1E+309]", "1" + "0" * 400])
def test_a_number_no_double_holds_is_invalid_input_not_a_500(http: Any, text: str) -> None:
    arn = machine(http)
    out = call(http, "StartExecution", {"stateMachineArn": arn, "input": text})
    assert out.status_code == 400
    assert out.json()["__type"] == "InvalidExecutionInput"
    assert "out of range" in out.json()["message"]


def test_large_numbers_a_double_holds_pass_through(http: Any) -> None:
    arn = machine(http)
    text = '{"big": 1e300, "long": 123456789012345678901234567890, "tiny": 1e-400}'
    execution = call(http, "StartExecution", {"stateMachineArn": arn, "input": text}).json()["executionArn"]
    output = ended(http, execution)["output"]
    assert "Infinity" not in output
    assert json.loads(output) == {"big": 1e300, "long": 123456789012345678901234567890, "tiny": 0.0}


def test_string_to_json_words_a_number_out_of_range_without_python() -> None:
    from workflows.asl.errors import ASLError
    from workflows.asl.intrinsics import compile_intrinsic

    for text in ("1" * 5000, "1e400"):
        with pytest.raises(ASLError) as caught:
            compile_intrinsic("States.StringToJson($.s)").evaluate(lambda _path, text=text: text)
        assert "out of range" in caught.value.cause
        assert "sys." not in caught.value.cause and "int_max_str_digits" not in caught.value.cause


def test_math_random_takes_integers_in_java_int_range() -> None:
    from workflows.asl.errors import ASLError
    from workflows.asl.intrinsics import IntrinsicSyntaxError, _JavaRandom, compile_intrinsic

    with pytest.raises(ASLError) as caught:
        compile_intrinsic("States.MathRandom(1, 1e21)").evaluate(lambda _path: None)
    assert "outside the integer range" in caught.value.cause
    with pytest.raises(IntrinsicSyntaxError):
        compile_intrinsic("States.Array(1e400)")  # a literal Python would read as infinity
    # java.util.Random: new Random(42).nextInt(10) == 0, new Random(0).nextInt(100) == 60
    assert (_JavaRandom(42).next_int(10), _JavaRandom(0).next_int(100)) == (0, 60)
    assert all(1 <= compile_intrinsic(f"States.MathRandom(1, 5, {s})").evaluate(print) < 5 for s in range(50))


# -- JSONPath unions and nested intrinsics ------------------------------------------------------------


def test_a_jsonpath_union_is_refused_where_it_is_written() -> None:
    from workflows.asl.jsonpath import PathError, compile_path
    from workflows.asl.validation import validate_definition

    for path in ("$..*..*..* | $.x", "$.a & $.b"):
        definition = {
            "StartAt": "A",
            "States": {"A": {"Type": "Pass", "Parameters": {"r.$": path}, "End": True}},
        }
        found = validate_definition(json.dumps(definition))
        assert [(d.code, d.location) for d in found] == [
            ("SCHEMA_VALIDATION_FAILED", "/States/A/Parameters/r.$")
        ]
        with pytest.raises(PathError) as caught:
            compile_path(path)  # a definition stored before this check fails its state, unbudgeted never
        assert caught.value.kind == "invalid"
    assert compile_path("$[?(@.a || @.b)]").get([{"a": 1}, {"c": 2}]) == [{"a": 1}]  # a filter's `||` stays


def test_intrinsics_nested_past_ten_are_a_validation_error_not_a_recursion() -> None:
    from workflows.asl.intrinsics import IntrinsicTooDeep, compile_intrinsic
    from workflows.asl.validation import validate_definition

    def nested(n: int) -> str:
        return "States.Array(" * n + ")" * n

    assert compile_intrinsic(nested(10)).evaluate(print) == [[[[[[[[[[]]]]]]]]]]
    for depth in (11, 50_000):
        with pytest.raises(IntrinsicTooDeep):
            compile_intrinsic(nested(depth))
        definition = {
            "StartAt": "A",
            "States": {"A": {"Type": "Pass", "Parameters": {"x.$": nested(depth)}, "End": True}},
        }
        (found,) = validate_definition(json.dumps(definition))
        assert found.location == "/States/A/Parameters/x.$"
        assert "more than 10 deep" in found.message


# -- the console's bodies -----------------------------------------------------------------------------


def test_a_console_body_nested_too_deep_is_a_400(http: Any) -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    for path in ("validate", "start", "replay"):
        out = console_post(http, path, deep)
        assert out.status_code == 400, path
        assert out.json()["error"] == "SerializationException"
    definition = json.dumps({"definition": "[" * 200_000 + "]" * 200_000, "stateName": "P"})
    out = console_post(http, "test-state", definition.encode())
    assert out.status_code == 400 and out.json()["error"] == "InvalidDefinition"


# -- tags ---------------------------------------------------------------------------------------------


def test_no_call_puts_more_than_50_tags_on_a_resource(http: Any) -> None:
    tags = [{"key": f"k{i}", "value": "v"} for i in range(51)]
    out = call(
        http,
        "CreateStateMachine",
        {"name": "t", "definition": json.dumps(PASS), "roleArn": ROLE, "tags": tags},
    )
    assert out.status_code == 400 and out.json()["__type"] == "TooManyTags"
    assert call(http, "CreateActivity", {"name": "a", "tags": tags}).json()["__type"] == "TooManyTags"
    arn = machine(http, name="t", tags=tags[:50])
    assert (
        call(http, "TagResource", {"resourceArn": arn, "tags": tags[50:]}).json()["__type"] == "TooManyTags"
    )
    assert call(http, "TagResource", {"resourceArn": arn, "tags": tags[:3]}).status_code == 200  # same keys
    assert len(call(http, "ListTagsForResource", {"resourceArn": arn}).json()["tags"]) == 50


# -- console replay -----------------------------------------------------------------------------------


def test_replay_reads_at_most_its_event_bound_and_folds_off_the_loop(
    http: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workflows.service import console, replay

    loop = {
        "StartAt": "Inc",
        "States": {
            "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "Check"},
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.i", "NumericLessThan": 25, "Next": "Inc"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    arn = machine(http, loop)
    executions = [
        call(http, "StartExecution", {"stateMachineArn": arn, "input": '{"i": 0}'}).json()["executionArn"]
        for _ in range(3)
    ]
    events = [
        ended(http, e)
        and len(call(http, "GetExecutionHistory", {"executionArn": e, "maxResults": 1000}).json()["events"])
        for e in executions
    ]
    assert events[0] > 100
    threads: list[str] = []
    fold = replay.Recording.from_history.__func__  # type: ignore[attr-defined]

    def recording(cls: Any, *args: Any) -> Any:
        threads.append(threading.current_thread().name)
        return fold(cls, *args)

    monkeypatch.setattr(replay.Recording, "from_history", classmethod(recording))
    monkeypatch.setattr(console, "REPLAY_EVENTS", 2 * events[0] + 10)  # two of the three fit
    body = {"stateMachineArn": arn, "definition": json.dumps(loop), "executionArns": executions}
    out = console_post(http, "replay", json.dumps(body).encode()).json()
    assert (out["replayed"], out["leftOut"]) == (2, 1)
    assert out["eventsRead"] == 2 * events[0] <= out["eventLimit"]
    assert len(threads) == 2 and threading.main_thread().name not in threads


# -- slow connections ---------------------------------------------------------------------------------


def test_slow_senders_are_cut_off_and_others_still_answered(tmp_path: Path) -> None:
    import httpx

    from workflows.service.server import ListeningServer, build, server_config

    app, service = build(str(tmp_path))
    port = free_port()
    config = server_config(app, "127.0.0.1", port, header_seconds=0.5, body_seconds=1.0)
    server = ListeningServer(config, service)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 10
        while not server.started:
            assert time.time() < deadline and thread.is_alive(), "server did not start"
            time.sleep(0.01)
        silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        slow_headers = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        slow_body = socket.create_connection(("127.0.0.1", port))
        slow_body.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: AWSStepFunctions.ListStateMachines\r\n"
            b"Content-Type: application/x-amz-json-1.0\r\nContent-Length: 1000\r\n\r\n{"
        )
        for s in slow_headers:
            s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        began = time.time()
        closed: set[int] = set()
        everyone = [*silent, *slow_headers, slow_body]
        while len(closed) < len(everyone) and time.time() - began < 15:
            for n, s in enumerate(everyone):
                if n in closed:
                    continue
                try:
                    s.sendall(b"X")  # a byte now and then: each one used to keep the connection
                    s.settimeout(0.05)
                    if s.recv(1) == b"":
                        closed.add(n)
                except (TimeoutError, BlockingIOError):
                    pass
                except OSError:
                    closed.add(n)
            answered = httpx.post(
                f"http://127.0.0.1:{port}/",
                content=b"{}",
                headers={
                    "X-Amz-Target": "AWSStepFunctions.ListStateMachines",
                    "Content-Type": "application/x-amz-json-1.0",
                },
            )
            assert answered.status_code == 200  # others are served all along
            time.sleep(0.1)
        assert closed == set(range(len(everyone)))
        assert time.time() - began < 15  # well past both timeouts, far short of "for ever"
        for s in everyone:
            s.close()
    finally:
        server.should_exit = True
        thread.join(15)
