"""The local AWS world: moto on 127.0.0.1 provisioned from template.yaml; uploads become EventBridge
"Object Created" events matched against the template's rule; SNS reaches the filtered review queue."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workflows.local.integrations import AwsEndpoints
from workflows.local.local_aws import (
    LocalAws,
    S3EventBridgeBridge,
    event_matches,
    normalise_event,
    provision,
    start_input,
)
from workflows.local.template import Stack, load_template

ROOT = Path(__file__).resolve().parent.parent


def _spooled(pid: int, spool: Path) -> int:
    """How many of the process's descriptors are (unlinked) files in `spool`."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # closed meanwhile
            continue
        count += target.startswith(str(spool))
    return count


def test_moto_keeps_large_objects_on_disk_not_in_memory(tmp_path: Path) -> None:
    """moto keeps up to 5 MiB of each object in memory by default: a folder of 12 MP photos grew its
    process by 9.4 MiB per upload. In its own process, objects over S3_MEMORY_BYTES go to unlinked files
    in the spool directory, with the descriptor limit raised for them; their bytes, ETags and ranges
    are unchanged, and small objects stay in memory."""
    from workflows.local.local_aws import S3_MEMORY_BYTES

    spool = tmp_path / "spool"
    server = LocalAws(port=0, subprocess=True, spool_dir=str(spool)).start()
    try:
        pid = server.pid
        assert pid is not None
        limits = Path(f"/proc/{pid}/limits").read_text().splitlines()
        soft, hard = next(line for line in limits if line.startswith("Max open files")).split()[3:5]
        assert soft == hard
        s3 = server.endpoints().client("s3")
        s3.create_bucket(Bucket="spilled")
        before = _spooled(pid, spool)
        large = [bytes([i]) * (S3_MEMORY_BYTES + 1) + hashlib.sha256(bytes([i])).digest() for i in range(6)]
        for i, body in enumerate(large):
            s3.put_object(Bucket="spilled", Key=f"large/{i}", Body=body)
        s3.copy_object(Bucket="spilled", Key="large/copy", CopySource="spilled/large/0")
        assert _spooled(pid, spool) - before == 7  # six uploads and a copy, each in a file of its own
        small = b"x" * (S3_MEMORY_BYTES - 1)
        s3.put_object(Bucket="spilled", Key="small", Body=small)
        assert _spooled(pid, spool) - before == 7
        for i, body in enumerate(large):
            got = s3.get_object(Bucket="spilled", Key=f"large/{i}")
            assert got["Body"].read() == body and got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        tail = s3.get_object(Bucket="spilled", Key="large/5", Range="bytes=-32")["Body"].read()
        assert tail == hashlib.sha256(bytes([5])).digest()
        assert s3.get_object(Bucket="spilled", Key="large/copy")["Body"].read() == large[0]
        assert s3.get_object(Bucket="spilled", Key="small")["Body"].read() == small
        assert list(spool.iterdir()) == []  # unlinked: nothing is left behind, even after a crash
    finally:
        server.stop()


def test_moto_signs_sns_deliveries_once_per_subscription_and_keeps_nothing_per_message() -> None:
    """In its own process moto signs SNS deliveries with one certificate per subscription (it made and
    kept one per message), and keeps no model object once its backend has let it go (it listed every
    object it ever made for its dashboard): a long `workflows dev` grew by 4 KB per message. The
    envelope is still AWS's: SignatureVersion 2, a 2048-bit signature, Subject when there is one."""
    import base64
    import urllib.request

    server = LocalAws(port=0, subprocess=True).start()
    try:
        endpoints = server.endpoints()
        sns, sqs = endpoints.client("sns"), endpoints.client("sqs")
        topic = sns.create_topic(Name="signed")["TopicArn"]
        url = sqs.create_queue(QueueName="signed")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        sns.publish(TopicArn=topic, Message="one")
        sns.publish(TopicArn=topic, Message="two", Subject="with a subject")
        sns.publish(TopicArn=topic, Message="three")
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2)["Messages"]
        envelopes = {e["Message"]: e for e in (json.loads(m["Body"]) for m in got)}
        assert sorted(envelopes) == ["one", "three", "two"]
        assert len({e["SigningCertURL"] for e in envelopes.values()}) == 1
        assert len({e["Signature"] for e in envelopes.values()}) == 3
        for envelope in envelopes.values():
            assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic
            assert envelope["SignatureVersion"] == "2" and len(base64.b64decode(envelope["Signature"])) == 256
            assert envelope["Timestamp"].endswith("Z") and len(envelope["Timestamp"]) == 24
        assert envelopes["two"]["Subject"] == "with a subject" and "Subject" not in envelopes["one"]
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        with urllib.request.urlopen(f"{server.url}/moto-api/data.json", timeout=5) as response:
            tracked = json.loads(response.read())
        assert tracked["sqs"]["Message"] == [] and tracked["sns"]["Subscription"] == []
    finally:
        server.stop()


def test_moto_exits_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    """A `workflows dev` killed outright (no stop()) must not leave moto holding its port: the next
    start would find 4566 in use. moto's process watches its parent and exits when it is gone."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import sys, time\n"
        "from workflows.local.local_aws import LocalAws\n"
        "aws = LocalAws(port=0, subprocess=True).start()\n"
        "print(aws.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    moto = 0
    try:
        moto = int(parent.stdout.readline())  # type: ignore[union-attr]
        assert Path(f"/proc/{moto}").exists()
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(5)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{moto}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        # Gone, or at most a zombie waiting for init to reap it.
        gone = not Path(f"/proc/{moto}").exists() or "Z" in Path(f"/proc/{moto}/stat").read_text().split()[2]
        assert gone, "moto outlived the process that started it"
    finally:
        if parent.poll() is None:
            parent.kill()
        if moto and Path(f"/proc/{moto}").exists():  # a failed run leaves nothing behind either
            with contextlib.suppress(ProcessLookupError):
                os.kill(moto, signal.SIGKILL)


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[LocalAws, Stack, AwsEndpoints]]:
    server = LocalAws(port=0).start()
    stack = load_template(ROOT / "template.yaml")
    endpoints = server.endpoints()
    provision(stack, endpoints)
    yield server, stack, endpoints
    server.stop()


def test_moto_in_a_process_of_its_own_serves_every_service() -> None:
    """What `workflows dev` runs: moto beside the engine, not in a thread taking turns for its GIL.
    Requests reach each service (Host matching now reads moto's service list once), and stop() ends it."""
    server = LocalAws(port=0, subprocess=True).start()
    try:
        assert server.pid is not None
        endpoints = server.endpoints()
        s3 = endpoints.client("s3")
        s3.create_bucket(Bucket="own-process")
        s3.put_object(Bucket="own-process", Key="a", Body=b"hello")
        assert s3.get_object(Bucket="own-process", Key="a", Range="bytes=1-3")["Body"].read() == b"ell"
        # A copy takes its source's ETag rather than hashing the bytes again: still each body's own MD5.
        for source, body in (("a", b"hello"), ("c", b"other bytes")):
            s3.put_object(Bucket="own-process", Key=source, Body=body)
            copied = s3.copy_object(Bucket="own-process", Key="b", CopySource=f"own-process/{source}")
            md5 = f'"{hashlib.md5(body).hexdigest()}"'
            assert copied["CopyObjectResult"]["ETag"] == md5
            assert s3.head_object(Bucket="own-process", Key="b")["ETag"] == md5
            assert s3.get_object(Bucket="own-process", Key="b")["Body"].read() == body
        s3.put_object(Bucket="own-process", Key="d", Body=b"put after the copies")
        assert (
            s3.head_object(Bucket="own-process", Key="d")["ETag"]
            == f'"{hashlib.md5(b"put after the copies").hexdigest()}"'
        )
        sqs = endpoints.client("sqs")
        url = sqs.create_queue(QueueName="own-process")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="m")
        assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["m"]
        # SQS reads the clock its own way here: delays, visibility and counts still keep time.
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
        got = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1).get("Messages", [])
        assert got == [], "a delayed message was delivered early"
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert counts["ApproximateNumberOfMessagesDelayed"] == "1"
        got = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1, WaitTimeSeconds=3)["Messages"]
        assert [m["Body"] for m in got] == ["later"]
        assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=1).get("Messages", []) == []
        again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3)["Messages"]
        assert [m["Body"] for m in again] == ["later"] and again[0]["ReceiptHandle"] != got[0][
            "ReceiptHandle"
        ]
        assert endpoints.client("sns").create_topic(Name="own-process")["TopicArn"].endswith(":own-process")
        process = server._process
    finally:
        server.stop()
    assert process.poll() is not None


def test_provisioned_buckets_topic_queues(world: tuple[LocalAws, Stack, AwsEndpoints]) -> None:
    _, stack, endpoints = world
    names = {b["Name"] for b in endpoints.client("s3").list_buckets()["Buckets"]}
    assert {b.name for b in stack.buckets.values()} <= names
    s3 = endpoints.client("s3")
    assert s3.get_bucket_versioning(Bucket="workflows-local-inputbucket")["Status"] == "Enabled"
    # moto does not echo EventBridgeConfiguration back; the bridge test below shows the events flow.
    topics = [t["TopicArn"] for t in endpoints.client("sns").list_topics()["Topics"]]
    assert stack.topics["PipelineTopic"].arn in topics
    # Idempotent: a second run changes nothing and does not fail.
    provision(stack, endpoints)


def test_sns_filter_policy_delivers_only_review_outcomes(world: tuple[LocalAws, Stack, AwsEndpoints]) -> None:
    _, stack, endpoints = world
    sns, sqs = endpoints.client("sns"), endpoints.client("sqs")
    url = sqs.get_queue_url(QueueName=stack.queues["ReviewQueue"].name)["QueueUrl"]
    for outcome in ("accepted", "review"):
        sns.publish(
            TopicArn=stack.topics["PipelineTopic"].arn,
            Message=json.dumps({"outcome": outcome}),
            MessageAttributes={"outcome": {"DataType": "String", "StringValue": outcome}},
        )
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    )
    assert [json.loads(m["Body"]) for m in messages] == [{"outcome": "review"}]  # raw delivery


def test_uploads_become_object_created_events_matched_by_the_rule(
    world: tuple[LocalAws, Stack, AwsEndpoints],
) -> None:
    _, stack, endpoints = world
    received: list[dict[str, Any]] = []

    async def on_event(event: dict[str, Any]) -> None:
        received.append(event)

    async def go() -> int:
        bridge = S3EventBridgeBridge.for_stack(stack, endpoints, on_event, wait_seconds=0)
        await asyncio.to_thread(bridge.setup)
        s3 = endpoints.client("s3")
        s3.put_object(Bucket="workflows-local-inputbucket", Key="uploads/a photo+1.jpg", Body=b"hello")
        s3.put_object(Bucket="workflows-local-inputbucket", Key="elsewhere/x.jpg", Body=b"hello")
        s3.put_object(Bucket="workflows-local-acceptedbucket", Key="uploads/y.jpg", Body=b"hello")
        handed = 0
        for _ in range(20):
            handed += await bridge.poll_once(wait_seconds=1)
            if handed:
                break
        return handed

    assert asyncio.run(asyncio.wait_for(go(), 60)) == 1
    (event,) = received
    assert list(event) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert event["detail-type"] == "Object Created" and event["source"] == "aws.s3"
    assert event["resources"] == ["arn:aws:s3:::workflows-local-inputbucket"]
    assert event["time"].endswith("Z") and "T" in event["time"]
    detail = event["detail"]
    assert list(detail) == [
        "version",
        "bucket",
        "object",
        "request-id",
        "requester",
        "source-ip-address",
        "reason",
    ]
    assert detail["reason"] == "PutObject"
    obj = detail["object"]
    assert obj["key"] == "uploads/a photo+1.jpg"  # EventBridge keys are not URL-encoded
    assert obj["size"] == 5 and obj["etag"] == "5d41402abc4b2a76b9719d911017c592"
    assert obj["version-id"]  # the input bucket is versioned
    name, execution_input = start_input(event)
    # the key's file name made safe, then 16 hex digits of the object id
    assert name == f"s3-a_photo_1_jpg-{execution_input['objectId'][:16]}"
    assert execution_input["versionId"] == obj["version-id"]
    assert execution_input["copySource"].startswith(
        "workflows-local-inputbucket/uploads/a%20photo%2B1.jpg?versionId="
    )
    # The same event again (an EventBridge redelivery) names the same execution: starts are idempotent.
    assert start_input(json.loads(json.dumps(event)))[0] == name


def test_failed_on_event_leaves_the_message_for_redelivery(
    world: tuple[LocalAws, Stack, AwsEndpoints],
) -> None:
    _, stack, endpoints = world
    calls: list[str] = []

    def flaky(event: dict[str, Any]) -> None:
        calls.append(event["id"])
        if len(calls) == 1:
            raise RuntimeError("StartExecution failed")

    async def go() -> None:
        bridge = S3EventBridgeBridge.for_stack(
            stack, endpoints, flaky, name="redelivery-test", visibility_timeout=1, wait_seconds=0
        )
        await asyncio.to_thread(bridge.setup)
        endpoints.client("s3").put_object(
            Bucket="workflows-local-inputbucket", Key="uploads/r.txt", Body=b"r"
        )
        for _ in range(40):
            await bridge.poll_once(wait_seconds=1)
            if len(calls) >= 2:
                break

    asyncio.run(asyncio.wait_for(go(), 60))
    assert len(calls) == 2 and calls[0] == calls[1]  # the same event id: redelivered, not re-created


def test_background_bridge_start_and_stop(world: tuple[LocalAws, Stack, AwsEndpoints]) -> None:
    _, stack, endpoints = world
    got = asyncio.Event()

    async def go() -> None:
        bridge = S3EventBridgeBridge.for_stack(stack, endpoints, lambda e: got.set(), name="background-test")
        await bridge.start()
        await asyncio.to_thread(
            endpoints.client("s3").put_object,
            Bucket="workflows-local-inputbucket",
            Key="uploads/bg.txt",
            Body=b"x",
        )
        await asyncio.wait_for(got.wait(), 20)
        await bridge.stop()

    asyncio.run(asyncio.wait_for(go(), 60))


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ([{"prefix": "uploads/"}], "uploads/a.jpg", True),
        ([{"prefix": "uploads/"}], "other/a.jpg", False),
        ([{"suffix": ".jpg"}], "uploads/a.jpg", True),
        ([{"suffix": ".jpg"}], "uploads/a.png", False),
        ([{"wildcard": "uploads/*.jpg"}], "uploads/x/y.jpg", True),
        ([{"wildcard": "uploads/*.jpg"}], "uploads/y.png", False),
        ([{"anything-but": {"prefix": "tmp/"}}], "tmp/a", False),
        ([{"prefix": {"equals-ignore-case": "UPLOADS/"}}], "uploads/a", True),
        (["uploads/a.jpg"], "uploads/a.jpg", True),
    ],
)
def test_event_patterns(pattern: list[Any], key: str, expected: bool) -> None:
    event = {"source": "aws.s3", "detail": {"object": {"key": key, "size": 3}}}
    assert event_matches({"source": ["aws.s3"], "detail": {"object": {"key": pattern}}}, event) is expected


def test_event_pattern_exists_and_numeric() -> None:
    event = {"detail": {"object": {"key": "k", "size": 3}}}
    assert event_matches({"detail": {"object": {"size": [{"numeric": [">", 0, "<=", 3]}]}}}, event)
    assert not event_matches({"detail": {"object": {"version-id": [{"exists": True}]}}}, event)
    assert event_matches({"detail": {"object": {"version-id": [{"exists": False}]}}}, event)


def test_real_aws_events_pass_through_normalisation_unchanged() -> None:
    sample = json.loads((ROOT / "tests" / "events" / "eventbridge_object_created.json").read_text())
    assert normalise_event(sample) == sample
