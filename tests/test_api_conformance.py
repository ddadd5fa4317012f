"""The AWS-recorded API corpus replayed against a live server; failures must match the expected list."""

from __future__ import annotations

from pathlib import Path

from tests.api_replay import live_server, load_cases, replay_all

EXPECTED_FAILURES = Path(__file__).with_name("api_expected_failures.txt")


def _expected() -> set[str]:
    lines = EXPECTED_FAILURES.read_text().splitlines()
    return {line.split("  #")[0].strip() for line in lines if line.strip() and not line.startswith("#")}


def test_api_corpus_replays_with_only_listed_failures() -> None:
    with live_server() as (endpoint, _service):
        results = replay_all(endpoint, load_cases(), timeout=5)
    failed = {case_id for case_id, why in results.items() if why is not None}
    expected = _expected()
    unexpected = {case_id: results[case_id] for case_id in failed - expected}
    fixed = expected - failed
    passed = len(results) - len(failed)
    print(f"API corpus: {passed} passed, {len(failed)} failed of {len(results)} run")
    # The corpus holds 267 conversations, 7 of which need what no local server has (real Lambda, SQS...)
    # or record only botocore's own client-side errors: a smaller run means cases went missing.
    assert len(results) >= 260, f"only {len(results)} API cases ran"
    assert not unexpected, f"failing cases not in {EXPECTED_FAILURES.name}: {unexpected}"
    assert not fixed, f"listed cases now pass; remove them from {EXPECTED_FAILURES.name}: {sorted(fixed)}"
