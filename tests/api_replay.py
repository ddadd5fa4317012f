"""Replays the AWS-recorded API corpus (shared/conformance/api) against a live server with boto3.

Follows the corpus README's "Running the cases" rules: fresh unique ids, the endpoint's account,
bound values, placeholder tokens as wildcards, awaits that poll but never fail, cleanup after each
case. Also holds the test helpers that start a real server on a free 127.0.0.1 port.

    python tests/api_replay.py --endpoint http://127.0.0.1:8083 [--filter X] [-v]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import json
import os
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError

from workflows.bench import corpus

ROOT = Path(__file__).resolve().parents[1]
CASES = corpus.api_dir()
FAKE_ACCOUNT = "111111111111"


# -- a live server for tests ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(data_dir: str | None = None, **build_args: Any) -> Iterator[tuple[str, Any]]:
    """(endpoint URL, service) of a uvicorn server running in a thread on a free loopback port."""
    import uvicorn

    from workflows.service.server import build

    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = stack.enter_context(tempfile.TemporaryDirectory())
        app, service = build(data_dir, **build_args)
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.time() + 10
        while not server.started:
            if time.time() > deadline or not thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}", service
        finally:
            server.should_exit = True
            thread.join(15)


def wait_for_end(sfn: Any, arn: str, timeout: float = 10) -> dict[str, Any]:
    """DescribeExecution, polled until the execution has ended (or `timeout` seconds passed)."""
    deadline = time.time() + timeout
    while True:
        out = sfn.describe_execution(executionArn=arn)
        if out["status"] != "RUNNING" or time.time() > deadline:
            return out
        time.sleep(0.02)


def client(endpoint: str, *, validate: bool = True, **config: Any) -> Any:
    return boto3.client(
        "stepfunctions",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(
            retries={"total_max_attempts": 1},
            inject_host_prefix=False,
            parameter_validation=validate,
            read_timeout=90,
            **config,
        ),
    )


# -- comparison -------------------------------------------------------------------------------------


def _token_regex(text: str, tokens: list[str]) -> re.Pattern[str]:
    if not tokens:
        return re.compile(re.escape(text), re.S)
    alternation = "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True))
    parts = re.split(f"({alternation})", text)
    return re.compile("".join(".*?" if p in tokens else re.escape(p) for p in parts), re.S)


def matches(
    expected: Any,
    actual: Any,
    tokens: list[str],
    unordered: frozenset[str] = frozenset(),
    top: bool = False,
    key: str | None = None,
) -> str | None:
    """None if `actual` matches the recording, else a reason."""
    if isinstance(expected, str) and expected in tokens:
        return None
    if isinstance(actual, str) and not isinstance(expected, str):
        try:
            actual = json.loads(actual)
        except ValueError:
            return f"expected {expected!r}, got {actual!r}"
    if isinstance(expected, str) and isinstance(actual, str) and expected != actual:
        if not _token_regex(expected, tokens).fullmatch(actual):
            # The recorded value may be JSON text compared as JSON.
            try:
                if json.loads(expected) == json.loads(actual):
                    return None
            except ValueError:
                pass
            return f"expected {expected!r}, got {actual!r}"
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"expected an object, got {actual!r}"
        for k, v in expected.items():
            if k not in actual:
                return f"missing key {k!r}"
            why = matches(v, actual[k], tokens, unordered, key=k)
            if why:
                return f"{k}: {why}"
        if not top:
            extra = set(actual) - set(expected)
            if extra:
                return f"unexpected keys {sorted(extra)}"
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"expected {json.dumps(expected, default=str)[:300]}, got {json.dumps(actual, default=str)[:300]}"
        if key in unordered:
            remaining = list(actual)
            for e in expected:
                hit = next(
                    (i for i, a in enumerate(remaining) if matches(e, a, tokens, unordered) is None), None
                )
                if hit is None:
                    return f"no match for {e!r}"
                remaining.pop(hit)
            return None
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            why = matches(e, a, tokens, unordered)
            if why:
                return f"[{i}]: {why}"
        return None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return None if expected is actual else f"expected {expected!r}, got {actual!r}"
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return None if expected == actual else f"expected {expected!r}, got {actual!r}"
    if isinstance(actual, datetime.datetime):
        return None if isinstance(expected, str) else f"expected {expected!r}, got a timestamp"
    return None if expected == actual else f"expected {expected!r}, got {actual!r}"


# -- replay ------------------------------------------------------------------------------------------


def load_cases(filter_text: str | None = None) -> list[dict[str, Any]]:
    cases = []
    for path in sorted(CASES.glob("*.json")):
        case = json.loads(path.read_text())
        if filter_text and filter_text not in case["id"]:
            continue
        cases.append(case)
    return cases


def skip_reason(case: dict[str, Any]) -> str | None:
    if case.get("needs"):
        return "needs " + ", ".join(case["needs"])
    if case.get("uncertain"):
        return "uncertain"
    recorded = [s for s in case["steps"] if s.get("recorded")]
    if recorded and all(
        s.get("client_side") or (s.get("expect", {}).get("error") or {}).get("client_side") for s in recorded
    ):
        return "only a botocore client-side error is recorded"
    return None


class Replay:
    def __init__(
        self, endpoint: str, account: str | None = None, timeout: float = 10.0, loose_messages: bool = False
    ) -> None:
        self.endpoint = endpoint
        self.sfn = client(endpoint)
        self.sfn_novalidate = client(endpoint, validate=False)
        self.account = account or self._probe_account()
        self.timeout = timeout
        self.loose = loose_messages
        self.used: set[str] = set()

    def _probe_account(self) -> str:
        name = "probe-" + secrets.token_hex(4)
        arn = self.sfn.create_activity(name=name)["activityArn"]
        self.sfn.delete_activity(activityArn=arn)
        return arn.split(":")[4]

    def _fresh(self, token: str) -> str:
        while True:
            candidate = token[0] + secrets.token_hex(len(token))[: len(token) - 1]
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate

    def run(self, case: dict[str, Any]) -> str | None:
        """None if the case passes, else the reason."""
        subs = Subs({t: self._fresh(t) for t in case.get("unique_tokens", [])})
        subs[FAKE_ACCOUNT] = self.account
        created: dict[str, set[str]] = {"sm": set(), "alias": set(), "activity": set()}
        tokens = list(case.get("placeholder_tokens", []))
        unordered = frozenset(case.get("unordered_list_keys", []))
        page_groups: dict[Any, tuple[list[Any], dict[str, Any]]] = {}
        try:
            for index, step in enumerate(case["steps"]):
                op = step["op"]
                if op in ("setup", "external"):
                    continue
                if op == "sleep":
                    continue
                if op == "await":
                    self._await(step["until"], _substitute(step.get("args", {}), subs))
                    continue
                expect = step.get("expect") or {}
                error = expect.get("error")
                if step.get("client_side") or (error or {}).get("client_side"):
                    continue
                request = _substitute(step.get("request", {}), subs)
                validate = (step.get("client") or {}).get("parameter_validation", True)
                why = self._call(
                    op, request, step, expect, tokens, unordered, subs, created, validate, page_groups
                )
                if why:
                    return f"step {index} {op}: {why}"
            for group, (items, expected) in page_groups.items():
                why = _check_list_contains(expected, items, tokens, unordered)
                if why:
                    return f"page group {group}: {why}"
            return None
        finally:
            self._cleanup(created)

    def _call(
        self,
        op: str,
        request: dict[str, Any],
        step: dict[str, Any],
        expect: dict[str, Any],
        tokens: list[str],
        unordered: frozenset[str],
        subs: dict[str, str],
        created: dict[str, set[str]],
        validate: bool,
        page_groups: dict[Any, Any],
    ) -> str | None:
        sfn = self.sfn if validate else self.sfn_novalidate
        method = getattr(sfn, re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower())
        recorded = step.get("recorded", False)
        error = expect.get("error")
        try:
            response = method(**request)
        except ClientError as err:
            if not recorded:
                return None
            if error is None:
                return f"unexpected error {err.response['Error'].get('Code')}: {err.response['Error'].get('Message')}"
            want = _substitute(error, subs)
            got_code = err.response["Error"].get("Code")
            if got_code != want.get("code"):
                return f"expected {want.get('code')}, got {got_code}: {err.response['Error'].get('Message')}"
            if not self.loose and want.get("message") is not None:
                why = matches(want["message"], err.response["Error"].get("Message", ""), tokens)
                if why:
                    return f"message: {why}"
            status = want.get("http_status")
            got_status = err.response["ResponseMetadata"]["HTTPStatusCode"]
            if status is not None and status != got_status:
                return f"expected HTTP {status}, got {got_status}"
            return None
        except ParamValidationError as err:
            return f"botocore refused the request: {err}"
        response.pop("ResponseMetadata", None)
        self._track(op, request, response, created)
        for bind in step.get("bind", []):
            value: Any = response
            for part in bind["path"]:
                value = value[part] if isinstance(value, dict) else value[int(part)]
            fake = _substitute(bind["value"], subs)
            if isinstance(value, str) and fake != value:
                subs.bound[fake] = value
        if not recorded:
            return None
        if error is not None:
            return f"expected error {error.get('code')}, got success"
        want = _substitute(expect, subs)
        if "list_contains" in want:
            group = step.get("page_group")
            if group is not None:
                items, _ = page_groups.setdefault(group, ([], want["list_contains"]))
                for key in want["list_contains"]:
                    items.extend(response.get(key, []))
                return None
            return _check_list_contains(want["list_contains"], response, tokens, unordered)
        if "response" in want:
            return matches(want["response"], response, tokens, unordered, top=True)
        return None

    def _track(
        self, op: str, request: dict[str, Any], response: dict[str, Any], created: dict[str, set[str]]
    ) -> None:
        if op == "CreateStateMachine" and "stateMachineArn" in response:
            created["sm"].add(response["stateMachineArn"])
        elif op == "CreateStateMachineAlias" and "stateMachineAliasArn" in response:
            created["alias"].add(response["stateMachineAliasArn"])
        elif op == "CreateActivity" and "activityArn" in response:
            created["activity"].add(response["activityArn"])

    def _cleanup(self, created: dict[str, set[str]]) -> None:
        for arn in created["alias"]:
            with contextlib.suppress(Exception):
                self.sfn.delete_state_machine_alias(stateMachineAliasArn=arn)
        for arn in created["sm"]:
            with contextlib.suppress(Exception):
                self.sfn.delete_state_machine(stateMachineArn=arn)
        for arn in created["activity"]:
            with contextlib.suppress(Exception):
                self.sfn.delete_activity(activityArn=arn)

    def _await(self, until: str, args: dict[str, Any]) -> None:
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            try:
                if self._condition(until, args):
                    return
            except Exception:
                pass
            time.sleep(0.05)

    def _condition(self, until: str, args: dict[str, Any]) -> bool:
        sfn = self.sfn
        if until.startswith("execution_") and "executionArn" in args:
            status = sfn.describe_execution(executionArn=args["executionArn"])["status"]
            want = {
                "execution_succeeded": ("SUCCEEDED",),
                "execution_aborted": ("ABORTED",),
                "execution_started": None,
                "execution_terminated": None,
            }.get(until)
            if until == "execution_started":
                return True
            if want is None:
                return status != "RUNNING"
            return status in want
        if until == "history_event":
            return True
        if until.startswith("execution_listed"):
            return True
        return True


def _check_list_contains(
    expected: dict[str, list[Any]], response: Any, tokens: list[str], unordered: frozenset[str]
) -> str | None:
    for key, items in expected.items():
        pool = response if isinstance(response, list) else response.get(key, [])
        for item in items:
            if not any(matches(item, a, tokens, unordered) is None for a in pool):
                return f"{key}: no listed item matches {json.dumps(item)[:200]}"
    return None


class Subs(dict):  # type: ignore[type-arg]
    """Fake → real: unique tokens and the account, then (applied after them) bound values."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.bound: dict[str, str] = {}


def _substitute(value: Any, subs: dict[str, str]) -> Any:
    """Unique tokens and the account first, then bound values (longest first)."""
    if isinstance(value, str):
        bound = getattr(subs, "bound", {})
        for group in (subs, bound):
            for fake in sorted(group, key=len, reverse=True):
                if fake in value:
                    value = value.replace(fake, group[fake])
        return value
    if isinstance(value, dict):
        return {k: _substitute(v, subs) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, subs) for v in value]
    return copy.copy(value)


def replay_all(
    endpoint: str, cases: list[dict[str, Any]], *, verbose: bool = False, timeout: float = 10.0
) -> dict[str, str | None]:
    """Case id → None (pass) or reason, for every case not skipped."""
    replay = Replay(endpoint, timeout=timeout)
    results: dict[str, str | None] = {}
    for case in cases:
        if skip_reason(case):
            continue
        try:
            results[case["id"]] = replay.run(case)
        except Exception as exc:  # a crash in a case is that case's failure
            results[case["id"]] = f"ERROR {type(exc).__name__}: {exc}"
        if verbose:
            why = results[case["id"]]
            print(("PASS " if why is None else "FAIL ") + case["id"] + ("" if why is None else f": {why}"))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoint")
    parser.add_argument("--filter")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("-v", action="store_true")
    args = parser.parse_args(argv)
    cases = load_cases(args.filter)
    with contextlib.ExitStack() as stack:
        endpoint = args.endpoint or stack.enter_context(live_server())[0]
        results = replay_all(endpoint, cases, verbose=True, timeout=args.timeout)
    failed = sum(1 for r in results.values() if r is not None)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    sys.exit(main())
