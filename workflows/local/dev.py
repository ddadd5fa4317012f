"""`workflows serve` and `workflows dev`: the engine with its API and console, and
the local AWS world (moto on 127.0.0.1) that template.yaml describes, wired as AWS wires it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

log = logging.getLogger("workflows.local.dev")
console = Console(stderr=True)

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclass
class DevWorld:
    """Everything `workflows dev` started, so it can be told about and shut down in order."""

    api_url: str
    aws_url: str | None
    stack: Any
    endpoints: Any
    service: Any
    state_machine_arns: dict[str, str] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)
    notices: dict[str, dict[str, Any]] = field(default_factory=dict)  # the definitions watcher's news
    input_bucket: str | None = None
    input_prefix: str = ""
    input_suffix: str = ""
    tap_queue_url: str | None = None
    workers: Any = None  # the LambdaWorkerResolver: one pool of worker processes per function
    bridge: Any = None  # the S3 -> EventBridge "Object Created" bridge, when there is an input bucket
    local_aws: Any = None  # the LocalAws (moto in its own process) this world started, if it started one
    closers: list[Any] = field(default_factory=list)
    async_closers: list[Any] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """What `.workflows/endpoints.json` holds: enough for boto3, the AWS CLI and `workflows upload`."""
        machine = next(iter(self.state_machine_arns.values()), None)
        outputs = self.stack.outputs
        return {
            "stepfunctions": self.api_url,
            "console": f"{self.api_url}/console",
            "aws": self.aws_url,
            "region": self.stack.region,
            "stateMachineArn": machine,
            "stateMachines": self.state_machine_arns,
            "input": f"s3://{self.input_bucket}/{self.input_prefix}" if self.input_bucket else None,
            "inputSuffix": self.input_suffix or None,
            "buckets": {k: v for k, v in outputs.items() if k.endswith("BucketName")},
            "topicArn": outputs.get("TopicArn"),
            "snsTapQueueUrl": self.tap_queue_url,
            "store": self.service.store.path,
            "retentionDays": self.service.retention_days,
        }


def _input_from_rules(stack: Any) -> tuple[str | None, str, str]:
    """The input bucket and the key prefix/suffix the Object Created rule listens for."""
    for rule in stack.rules.values():
        detail = rule.pattern.get("detail", {})
        buckets = detail.get("bucket", {}).get("name", [])
        keys = detail.get("object", {}).get("key", [])
        prefix = next((k["prefix"] for k in keys if isinstance(k, dict) and "prefix" in k), "")
        suffix = next((k["suffix"] for k in keys if isinstance(k, dict) and "suffix" in k), "")
        if buckets:
            return buckets[0], prefix, suffix
    return None, "", ""


async def _register_state_machines(world: DevWorld, role_arn: str) -> None:
    """Create (or update to a new revision) every state machine of the template, from its definition
    file as written, placeholders included: the engine fills `${...}` from DefinitionSubstitutions
    when it runs, so the console can save edits back to the file unchanged."""
    from workflows.asl.errors import ServiceError

    service = world.service
    existing = {
        m["name"]: m["stateMachineArn"] for m in (await service.list_state_machines())["stateMachines"]
    }
    for spec in world.stack.state_machines.values():
        text = spec.definition_uri.read_text() if spec.definition_uri else json.dumps(spec.definition_inline)
        if spec.name in existing:
            arn = existing[spec.name]
            current = await service.describe_state_machine(stateMachineArn=arn)
            if current["definition"] != text:
                await service.update_state_machine(stateMachineArn=arn, definition=text)
        else:
            try:
                arn = (
                    await service.create_state_machine(
                        name=spec.name, definition=text, roleArn=role_arn, type=spec.type
                    )
                )["stateMachineArn"]
            except ServiceError as err:
                raise SystemExit(f"cannot register {spec.name}: {err.code}: {err.message}") from err
        world.state_machine_arns[spec.logical_id] = arn
        if spec.definition_uri is not None:
            world.sources[arn] = spec.definition_uri


class DefinitionsWatcher:
    """`definitions/` as the source of truth while `workflows dev` runs: polls the files' mtimes (and
    template.yaml's, for DefinitionSubstitutions) and registers a changed, valid file as a new
    revision; an invalid one is reported, not registered. What it did last per state machine goes in
    `notices`, which the console's editor polls. Polling, not inotify: no new dependency, and it works
    the same on every platform and file system."""

    def __init__(
        self,
        service: Any,
        sources: dict[str, Path],
        *,
        template: Path | None = None,
        stack_name: str = "workflows-local",
        parameters: dict[str, str] | None = None,
        notices: dict[str, dict[str, Any]] | None = None,
        say: Any = None,
    ) -> None:
        self.service = service
        self.sources = sources
        self.template = template
        self.stack_name = stack_name
        self.parameters = parameters
        self.notices: dict[str, dict[str, Any]] = notices if notices is not None else {}
        self.say = say or console.print
        self.seen: dict[Path, float | None] = {}
        for path in [*sources.values(), *([template] if template else [])]:
            self.seen[path] = _mtime(path)

    async def run(self, interval: float = 0.5) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check()
            except Exception:  # one bad poll must not end the watch
                log.exception("definitions watcher")

    async def check(self) -> None:
        changed = {path for path in self.seen if _mtime(path) != self.seen[path]}
        for path in changed:
            self.seen[path] = _mtime(path)
        if self.template is not None and self.template in changed:
            await self._reload_template()
            changed |= set(self.sources.values())  # new substitutions: re-check every definition
        for arn, path in self.sources.items():
            if path in changed:
                await self._register(arn, path)

    async def _reload_template(self) -> None:
        from workflows.local.template import load_template

        assert self.template is not None
        try:
            stack = await asyncio.to_thread(
                load_template, str(self.template), stack_name=self.stack_name, parameters=self.parameters
            )
        except Exception as exc:
            self.say(f"[red]{self.template}: not reloaded: {exc}[/red]")
            return
        substitutions: dict[str, Any] = {}
        for spec in stack.state_machines.values():
            substitutions.update(spec.substitutions)
        self.service.substitutions = substitutions
        # Compiled definitions are cached by their text, placeholders and all: drop them, so new
        # executions fill the placeholders with the new values.
        getattr(self.service, "_definitions", {}).clear()
        self.say(f"{self.template} changed: DefinitionSubstitutions reloaded")

    async def _register(self, arn: str, path: Path) -> None:
        name = arn.rsplit(":", 1)[-1]
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:  # gone, unreadable, or not UTF-8
            self._notice(arn, path, "invalid", [f"cannot read: {exc}"])
            self.say(f"[red]{path}: cannot read ({exc}); {name} keeps its revision[/red]")
            return
        problems = await asyncio.to_thread(_definition_errors, text, self.service.substitutions or {})
        if problems:
            self._notice(arn, path, "invalid", problems)
            self.say(f"[red]{path} is not valid; {name} keeps its revision:[/red]")
            for problem in problems[:5]:
                self.say(f"  {problem}")
            return
        current = await self.service.describe_state_machine(stateMachineArn=arn)
        if current["definition"].strip() == text.strip():
            # The console saved it (and registered the revision itself), only the mtime moved, or
            # an invalid edit was undone.
            if self.notices.get(arn, {}).get("status") == "invalid":
                self._notice(arn, path, "current", [], current.get("revisionId"))
                self.say(f"{path} is valid again and matches {name}'s running revision")
            return
        from workflows.asl.errors import ServiceError

        try:
            out = await self.service.update_state_machine(stateMachineArn=arn, definition=text)
        except ServiceError as err:
            self._notice(arn, path, "invalid", [f"{err.code}: {err.message}"])
            self.say(f"[red]{path}: {err.code}: {err.message}[/red]")
            return
        self._notice(arn, path, "registered", [], out.get("revisionId"))
        self.say(f"{path} changed: registered {name} revision [bold]{out.get('revisionId')}[/bold]")

    def _notice(
        self, arn: str, path: Path, status: str, problems: list[str], revision: str | None = None
    ) -> None:
        self.notices[arn] = {
            "status": status,
            "file": str(path),
            "problems": problems,
            "revisionId": revision,
            "at": time.time(),
        }


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime_ns / 1e9
    except OSError:
        return None


def _definition_errors(text: str, substitutions: dict[str, Any]) -> list[str]:
    """The errors that keep a definitions/ file from being registered, placeholders filled as SAM does."""
    from workflows.asl.definition import substitute
    from workflows.asl.validation import validate_definition

    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return [f"JSON syntax error at {exc.lineno}:{exc.colno}: {exc.msg}"]
    from workflows.service.editing import problem_lines

    filled = json.dumps(substitute(document, substitutions))
    # Placed in the file as written: the filled text only moves values, not keys or lines.
    return problem_lines(text, [d.to_api() for d in validate_definition(filled)])


def _sns_tap(world: DevWorld) -> None:
    """A local queue subscribed to the topic without a filter, so the sample's message can be shown."""
    topic = world.stack.outputs.get("TopicArn")
    if not topic or world.aws_url is None:
        return
    sqs = world.endpoints.client("sqs")
    sns = world.endpoints.client("sns")
    url = sqs.create_queue(QueueName=f"{world.stack.stack_name}-sns-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    world.tap_queue_url = url


def sample_image() -> bytes:
    """A small, sharp, well-exposed JPEG that the pipeline accepts."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 480), (40, 90, 160))
    draw = ImageDraw.Draw(image)
    for i in range(0, 640, 40):
        draw.rectangle([i, 0, i + 19, 479], fill=(230, 200 - i // 8, 60 + i // 8))
    draw.ellipse([200, 120, 440, 360], fill=(250, 250, 240), outline=(10, 10, 10), width=6)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


async def run_sample(world: DevWorld, timeout: float = 60.0) -> dict[str, Any]:
    """Upload the sample into the input bucket and follow it: the execution the upload started, where
    the object landed, and the SNS message it published."""
    s3 = world.endpoints.client("s3")
    key = f"{world.input_prefix}sample-{int(time.time())}{world.input_suffix or '.jpg'}"
    body = sample_image()
    before = time.time()
    await asyncio.to_thread(
        s3.put_object, Bucket=world.input_bucket, Key=key, Body=body, ContentType="image/jpeg"
    )
    arn = next(iter(world.state_machine_arns.values()))
    deadline = time.time() + timeout
    execution: dict[str, Any] | None = None
    while time.time() < deadline:
        listed = (await world.service.list_executions(stateMachineArn=arn))["executions"]
        for item in listed:
            if item["startDate"].timestamp() >= before - 1:
                described = await world.service.describe_execution(executionArn=item["executionArn"])
                if json.loads(described.get("input") or "{}").get("key") == key:
                    execution = described
        if execution is not None and execution["status"] in TERMINAL:
            break
        execution = None
        await asyncio.sleep(0.1)
    result: dict[str, Any] = {"key": key, "bytes": len(body), "execution": execution}
    if execution is not None and execution.get("output"):
        result["output"] = json.loads(execution["output"])
    if world.tap_queue_url:
        sqs = world.endpoints.client("sqs")
        messages = await asyncio.to_thread(
            sqs.receive_message, QueueUrl=world.tap_queue_url, WaitTimeSeconds=2, MaxNumberOfMessages=10
        )
        result["sns"] = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
        for m in messages.get("Messages", []):
            sqs.delete_message(QueueUrl=world.tap_queue_url, ReceiptHandle=m["ReceiptHandle"])
    return result


def notification_line(body: dict[str, Any]) -> str:
    """One message of the SNS tap queue (its SQS body: the SNS envelope) as one line: the outcome, why,
    the upload's key, where it went, and the execution's name."""
    attributes = {k: v.get("Value") for k, v in (body.get("MessageAttributes") or {}).items()}
    text = str(body.get("Message") or "")
    try:
        message = json.loads(text)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        return f"SNS  {' '.join(text.split())[:160]}"
    outcome = str(message.get("outcome") or attributes.get("outcome") or "-")
    why = str(message.get("reason") or message.get("error") or attributes.get("reason") or "")
    source: dict[str, Any] = message["source"] if isinstance(message.get("source"), dict) else {}
    line = f"SNS  {outcome:<11} {why:<18} {source.get('key') or message.get('key') or ''}"
    if message.get("bucket") and message.get("key"):
        line += f" -> s3://{message['bucket']}/{message['key']}"
    if message.get("cause"):
        line += f": {message['cause']}"
    if message.get("execution"):
        line += f"  ({str(message['execution']).rsplit(':', 1)[-1]})"
    return line


async def follow_notifications(world: DevWorld, stop: asyncio.Event, wait_seconds: int = 1) -> int:
    """While serving, read the SNS tap queue and print each message as it arrives: every upload's
    outcome shows in the terminal. It also keeps the queue short: moto scans a whole queue on every send
    and receive, so a tap nobody read made each publish slower than the last (a 1,000-file batch
    spent most of moto's time there). Returns how many messages it showed."""
    if not world.tap_queue_url:
        return 0
    sqs = world.endpoints.client("sqs")
    shown = 0
    while not stop.is_set():
        try:
            got = await asyncio.to_thread(
                sqs.receive_message,
                QueueUrl=world.tap_queue_url,
                WaitTimeSeconds=wait_seconds,
                MaxNumberOfMessages=10,
            )
        except Exception as err:  # moto going away at shutdown, or a transient error
            logging.getLogger(__name__).debug("SNS tap: %s", err)
            await asyncio.sleep(wait_seconds)
            continue
        messages = got.get("Messages", [])
        if messages:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            await asyncio.to_thread(sqs.delete_message_batch, QueueUrl=world.tap_queue_url, Entries=entries)
        for m in messages:
            try:
                body = json.loads(m["Body"])
            except ValueError:
                body = {"Message": m["Body"]}
            console.print(notification_line(body), markup=False, highlight=False, soft_wrap=True)
            shown += 1
    return shown


def _print_endpoints(info: dict[str, Any], path: Path) -> None:
    from rich.table import Table

    table = Table(title="workflows dev", show_header=False, title_justify="left")
    table.add_row("console", info["console"])
    table.add_row("Step Functions API", info["stepfunctions"])
    table.add_row("AWS (S3, SNS, SQS, EventBridge, KMS)", info["aws"] or "real AWS")
    table.add_row("state machine", info["stateMachineArn"] or "-")
    table.add_row("upload to", info["input"] or "-")
    table.add_row("endpoints file", str(path))
    days = info.get("retentionDays") or 0
    kept = f"kept {days:g} days after they close" if days else "kept until deleted"
    table.add_row("executions", f"{info['store']}, {kept} (--retention-days)")
    # At its natural width: a URL or ARN cut to fit 80 columns cannot be pasted.
    wide = Console(stderr=True, width=10_000)
    width = wide.measure(table).maximum
    (Console(stderr=True, width=width) if width > console.width else console).print(table)
    print_environment(info)


def environment_lines(info: dict[str, Any]) -> list[str]:
    """What to paste so the AWS CLI and SDKs talk to this local world: endpoints, placeholder
    credentials (moto and dev's API check no signatures) and the region."""
    lines = []
    if info.get("aws"):
        lines.append(f"export AWS_ENDPOINT_URL={info['aws']}")
    # The service-specific variable wins over AWS_ENDPOINT_URL for Step Functions (service id SFN).
    lines.append(f"export AWS_ENDPOINT_URL_SFN={info['stepfunctions']}")
    if info.get("aws"):
        lines += ["export AWS_ACCESS_KEY_ID=testing", "export AWS_SECRET_ACCESS_KEY=testing"]
    lines.append(f"export AWS_DEFAULT_REGION={info.get('region') or 'us-east-1'}")
    return lines


def print_environment(info: dict[str, Any]) -> None:
    console.print("For the AWS CLI and SDKs (aws s3 cp, aws stepfunctions ...), paste:")
    for line in environment_lines(info):
        console.print("  " + line, highlight=False, soft_wrap=True)


def _print_sample(result: dict[str, Any]) -> None:
    execution = result.get("execution")
    if execution is None:
        console.print(f"[red]sample {result['key']}: no execution finished in time[/red]")
        return
    colour = "green" if execution["status"] == "SUCCEEDED" else "red"
    console.print(f"sample upload [bold]{result['key']}[/bold] ({result['bytes']} bytes)")
    console.print(f"  execution {execution['name']}: [{colour}]{execution['status']}[/{colour}]")
    output = result.get("output") or {}
    destination = output.get("destination") or output.get("outcome")
    if destination:
        console.print(f"  routed to: {json.dumps(destination)}", soft_wrap=True)
    for message in result.get("sns", []):
        attributes = {k: v.get("Value") for k, v in message.get("MessageAttributes", {}).items()}
        subject = f"subject={message['Subject']!r} " if message.get("Subject") else ""
        console.print(f"  SNS message: {subject}attributes={json.dumps(attributes)}", soft_wrap=True)


@dataclass
class DevOptions:
    host: str = "127.0.0.1"
    port: int = 8083
    aws_port: int = 4566
    aws_endpoint: str | None = None  # None: start moto; "aws": real AWS; else that endpoint URL
    template: str = "template.yaml"
    stack_name: str = "workflows-local"
    parameters: dict[str, str] = field(default_factory=dict)
    data_dir: str = ".workflows"
    workers: int = 2
    verbose: bool = False  # handler logs in the terminal, each line prefixed by its function
    retention_days: float = 90.0  # closed executions are forgotten after this, as AWS does; 0 keeps them


async def start_world(options: DevOptions) -> DevWorld:
    """Start local AWS, provision it, and serve the engine, API and console; return the running world."""

    from workflows.engine.nested import NestedExecutionResolver
    from workflows.engine.resolvers import ChainResolver
    from workflows.local.http_task import HttpTaskResolver
    from workflows.local.integrations import AwsEndpoints, ServiceIntegrationResolver
    from workflows.local.lambda_workers import LambdaWorkerResolver
    from workflows.local.local_aws import LocalAws, S3EventBridgeBridge, provision
    from workflows.local.template import load_template
    from workflows.service.api import create_app
    from workflows.service.server import ListeningServer, server_config
    from workflows.service.service import StepFunctionsService
    from workflows.service.store import Store

    data_dir = Path(options.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    api_url = f"http://{options.host}:{options.port}"
    stack = load_template(
        options.template, stack_name=options.stack_name, parameters=options.parameters or None
    )

    from workflows.service.server import is_loopback

    if not is_loopback(options.host):
        # dev's API takes unsigned requests and serves the console: it stays on this machine.
        raise SystemExit(
            f"workflows dev listens on loopback only, not {options.host}; to serve the API to other "
            "machines use `workflows serve --host ... --access-key-id ...` (SigV4-signed requests)"
        )
    _require_free(options.host, options.port, "--port")
    aws: Any = None
    if options.aws_endpoint is None:
        _require_free(
            "127.0.0.1", options.aws_port, "--aws-port (or --aws-endpoint URL to use what runs there)"
        )
    if options.aws_endpoint == "aws":
        endpoints = AwsEndpoints(None, services={"stepfunctions": api_url}, region=stack.region)
        aws_url = None
    else:
        aws_url = options.aws_endpoint
        if aws_url is None:
            aws = LocalAws(
                port=options.aws_port,
                host="127.0.0.1",
                subprocess=True,
                spool_dir=str(data_dir / "local-aws"),  # on the user's disk: /tmp may be memory
            ).start()
            aws_url = aws.url
        endpoints = AwsEndpoints(aws_url, services={"stepfunctions": api_url}, region=stack.region)
        await asyncio.to_thread(provision, stack, endpoints)

    substitutions: dict[str, Any] = {}
    for spec in stack.state_machines.values():
        substitutions.update(spec.substitutions)
    workers = LambdaWorkerResolver.from_stack(stack, endpoints, pool_size=options.workers)
    world_closers = _route_handler_logs(workers, data_dir, options.verbose)
    integrations = ServiceIntegrationResolver(endpoints)
    http_tasks = HttpTaskResolver(endpoints)
    service = StepFunctionsService(
        Store(str(data_dir)),
        account=stack.account,
        region=stack.region,
        substitutions=substitutions,
        retention_days=options.retention_days,
    )
    service.resolver = ChainResolver(
        service.activities, NestedExecutionResolver(service), workers, integrations, http_tasks
    )
    world = DevWorld(api_url=api_url, aws_url=aws_url, stack=stack, endpoints=endpoints, service=service)
    world.input_bucket, world.input_prefix, world.input_suffix = _input_from_rules(stack)
    world.workers = workers
    world.closers.append(integrations.close)
    world.closers.append(http_tasks.close)
    world.closers.extend(world_closers)
    world.async_closers.append(workers.close)
    if aws is not None:
        world.local_aws = aws
        world.closers.append(aws.stop)

    app = create_app(service, allowed_hosts=[options.host])
    config = server_config(app, options.host, options.port)
    server = ListeningServer(config, service)  # resumes RUNNING executions once the port is open
    server_task = asyncio.create_task(server.serve())
    while not server.started:
        if server_task.done():
            await server_task
            raise SystemExit(f"cannot serve on {api_url}")
        await asyncio.sleep(0.05)

    async def stop_server() -> None:
        server.should_exit = True
        await server_task

    world.async_closers.insert(0, stop_server)
    role = f"arn:aws:iam::{stack.account}:role/{stack.stack_name}-StateMachineRole"
    await _register_state_machines(world, role)
    try:
        from workflows.service.console import create_console
    except ImportError:  # pragma: no cover - the API works without the console
        pass
    else:
        # Mounted once the machines are known, so the editor can save edits back to their files.
        uploads = _Uploads(world) if world.input_bucket else None
        routes = create_console(service, uploads=uploads, sources=world.sources, notices=world.notices)
        for route in routes:
            app.router.routes.append(route)
    watcher = DefinitionsWatcher(
        service,
        world.sources,
        template=Path(options.template),
        stack_name=options.stack_name,
        parameters=options.parameters or None,
        notices=world.notices,
    )
    watch = asyncio.create_task(watcher.run())

    async def stop_watching() -> None:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch

    world.async_closers.insert(0, stop_watching)
    if aws is not None:
        await asyncio.to_thread(_sns_tap, world)

    async def on_event(event: dict[str, Any]) -> None:
        # As on AWS: the rule's target (the starter function) computes the execution name and calls
        # StartExecution on this engine; a duplicate event finds the execution already there.
        for rule in stack.rules.values():
            if rule.target_function and _rule_matches(rule, event):
                fn = stack.functions[rule.target_function]
                result = await workers.pool(fn.name).invoke(event, invoked_arn=fn.arn)
                log.info("started %s", result)

    if world.input_bucket:
        bridge = world.bridge = S3EventBridgeBridge.for_stack(stack, endpoints, on_event)
        await asyncio.to_thread(bridge.setup)
        await bridge.start()
        world.async_closers.insert(0, bridge.stop)

    info = world.describe()
    (data_dir / "endpoints.json").write_text(json.dumps(info, indent=2) + "\n")
    return world


def _route_handler_logs(workers: Any, data_dir: Path, verbose: bool) -> list[Any]:
    """Where the Lambda handlers' logs (powertools JSON, warnings) go: quiet by default, into
    `lambda.log` in the data directory, so the terminal keeps to the summary; with --verbose, to the
    terminal, each line prefixed by its function. Returns what closes them."""
    import threading

    if not verbose:
        handle = (data_dir / "lambda.log").open("ab")
        workers.stderr = handle
        return [handle.close]
    closers: list[Any] = []
    for name in workers.functions:
        read_fd, write_fd = os.pipe()
        workers.pool(name).stderr = write_fd

        def pump(fd: int = read_fd, prefix: str = name) -> None:
            with open(fd, "rb", closefd=True) as stream:
                for raw in stream:
                    console.out(f"{prefix} | {raw.decode('utf-8', 'replace').rstrip()}", highlight=False)

        threading.Thread(target=pump, name=f"logs-{name}", daemon=True).start()
        closers.append(lambda fd=write_fd: os.close(fd))
    return closers


def _require_free(host: str, port: int, option: str) -> None:
    """Refuse a port something else holds, with the option that picks another, rather than hang on it."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(
                f"workflows dev: {host}:{port} is in use ({exc.strerror}); choose another with {option}"
            )


def _rule_matches(rule: Any, event: dict[str, Any]) -> bool:
    from workflows.local.local_aws import event_matches

    return bool(event_matches(rule.pattern, event))


async def stop_world(world: DevWorld) -> None:
    """Shut down in order: stop taking events, stop serving (executions persist), then the workers."""
    for close in world.async_closers:
        with contextlib.suppress(Exception):
            await close()
    for closer in world.closers:
        with contextlib.suppress(Exception):
            closer()


async def dev_main(args: argparse.Namespace) -> int:
    options = DevOptions(
        host=args.host,
        port=args.port,
        aws_port=args.aws_port,
        aws_endpoint=args.aws_endpoint,
        template=args.template,
        stack_name=args.stack_name,
        parameters=dict(kv.split("=", 1) for kv in args.parameter or []),
        data_dir=args.data_dir,
        workers=args.workers,
        verbose=args.verbose,
        retention_days=args.retention_days,
    )
    world = await start_world(options)
    info = world.describe()
    _print_endpoints(info, Path(options.data_dir) / "endpoints.json")
    if not sys.stdout.isatty():  # for scripts reading stdout; a person has the table above
        print(json.dumps(info), flush=True)
    status = 0
    try:
        if not args.no_sample and world.input_bucket:
            result = await run_sample(world, timeout=args.sample_timeout)
            _print_sample(result)
            execution = result.get("execution") or {}
            status = 0 if execution.get("status") == "SUCCEEDED" and result.get("sns", True) else 1
        if args.once:
            console.print("--once: shutting down")
        else:
            console.print(f"[bold]Serving.[/bold] Open {info['console']} - Ctrl-C to stop.")
            if world.tap_queue_url:
                console.print("Each SNS message the pipeline publishes is shown below as it arrives.")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, stop.set)
            follower = asyncio.create_task(follow_notifications(world, stop))
            await stop.wait()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(follower, 5)
    finally:
        await stop_world(world)
    return status


class _Uploads:
    """What the console's upload box writes to: the input bucket, under the rule's prefix."""

    def __init__(self, world: DevWorld) -> None:
        self.world = world
        self.bucket: str = world.input_bucket or ""
        self.prefix: str = world.input_prefix
        self.state_machine_arns: list[str] = _rule_targets(world)

    def put(self, name: str, data: bytes) -> str:
        key = f"{self.world.input_prefix}{Path(name).name}"
        self.world.endpoints.client("s3").put_object(Bucket=self.bucket, Key=key, Body=data)
        return key


def _rule_targets(world: DevWorld) -> list[str]:
    """The state machines an S3 rule starts: those whose ARN the rule's target function is given."""
    arns = set(world.state_machine_arns.values())
    found: set[str] = set()
    for rule in world.stack.rules.values():
        fn = world.stack.functions.get(rule.target_function) if rule.target_function else None
        if fn is not None:
            found.update(v for v in fn.environment.values() if v in arns)
    return sorted(found)


def cmd_dev(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(dev_main(args))


def cmd_serve(args: argparse.Namespace) -> int:
    from workflows.service.server import check_credentials, is_loopback, serve

    credentials = None
    if args.access_key_id:
        credentials = {args.access_key_id: os.environ.get("WORKFLOWS_SECRET_ACCESS_KEY", "")}
    if not is_loopback(args.host):
        try:
            check_credentials(args.host, credentials)
        except ValueError:
            # One line, before anything listens: the check a signature would get is only as good as
            # its secret, and an empty one is known to everybody.
            print(
                f"workflows serve: --host {args.host} is not loopback, so requests must be SigV4-signed: "
                "give --access-key-id and set its secret in $WORKFLOWS_SECRET_ACCESS_KEY (now unset or empty)",
                file=sys.stderr,
            )
            return 2
    integrations: list[Any] = []
    if args.aws_endpoint:
        from workflows.local.http_task import HttpTaskResolver
        from workflows.local.integrations import AwsEndpoints, ServiceIntegrationResolver

        endpoints = AwsEndpoints(None if args.aws_endpoint == "aws" else args.aws_endpoint)
        if args.template:
            from workflows.local.lambda_workers import LambdaWorkerResolver
            from workflows.local.template import load_template

            integrations.append(LambdaWorkerResolver.from_stack(load_template(args.template), endpoints))
        integrations.append(ServiceIntegrationResolver(endpoints))
        # The HTTP Task finds its EventBridge connection through the same endpoints.
        integrations.append(HttpTaskResolver(endpoints))
    serve(
        args.host,
        args.port,
        args.data_dir,
        credentials=credentials,
        integrations=integrations,
        allowed_hosts=args.allow_host or (),
        retention_days=args.retention_days,
    )
    return 0


def _retention_days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not 0 <= days < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: a number of days, 0 or more (0 keeps every execution)")
    return days


def _add_retention(parser: Any) -> None:
    from workflows.service.service import RETENTION_DAYS

    parser.add_argument(
        "--retention-days",
        type=_retention_days,
        default=RETENTION_DAYS,
        metavar="DAYS",
        help=f"forget executions this many days after they close, history and all, as AWS does "
        f"(default {RETENTION_DAYS:g}; 0 keeps every execution)",
    )


def add_commands(sub: Any) -> None:
    dev = sub.add_parser(
        "dev",
        help="local AWS (moto) + engine + API + console from template.yaml; uploads a sample through the pipeline",
    )
    dev.add_argument("--host", default="127.0.0.1", help="address of the API and console (default 127.0.0.1)")
    dev.add_argument("--port", type=int, default=8083, help="API and console port (default 8083)")
    dev.add_argument("--aws-port", type=int, default=4566, help="local AWS (moto) port (default 4566)")
    dev.add_argument(
        "--aws-endpoint",
        default=os.environ.get("WORKFLOWS_AWS_ENDPOINT"),
        help="use this AWS endpoint instead of starting moto; 'aws' for real AWS (deployed with sam deploy)",
    )
    dev.add_argument("--template", default="template.yaml")
    dev.add_argument("--stack-name", default="workflows-local")
    dev.add_argument("--parameter", "-p", action="append", help="template parameter NAME=VALUE")
    dev.add_argument("--data-dir", default=".workflows")
    dev.add_argument("--workers", type=int, default=2, help="worker processes per Lambda function")
    _add_retention(dev)
    dev.add_argument("--no-sample", action="store_true", help="do not upload the sample image at start")
    dev.add_argument("--sample-timeout", type=float, default=90.0)
    dev.add_argument(
        "--once", action="store_true", help="exit after the sample (status 0 if it went through)"
    )
    dev.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="show the Lambda handlers' logs here, each line prefixed by its function (default: DATA_DIR/lambda.log)",
    )
    dev.set_defaults(func=cmd_dev)

    serve = sub.add_parser("serve", help="the Step Functions API and console only")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8083)
    serve.add_argument("--data-dir", default=".workflows")
    _add_retention(serve)
    serve.add_argument(
        "--access-key-id",
        help="off loopback, accept SigV4 requests signed with this key (secret in $WORKFLOWS_SECRET_ACCESS_KEY)",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        metavar="NAME",
        help="also answer requests whose Host is NAME (repeatable): the names clients use to reach a "
        "wildcard --host such as 0.0.0.0; loopback names and --host itself are always answered",
    )
    serve.add_argument(
        "--aws-endpoint",
        help="run Task integrations (aws-sdk:*, sns, sqs, events, dynamodb, and http:invoke's connections) "
        "against this endpoint, or 'aws' "
        "for real AWS; without it, Tasks resolve only to activities and nested executions",
    )
    serve.add_argument(
        "--template", help="with --aws-endpoint: back Lambda ARNs with template.yaml's functions"
    )
    serve.set_defaults(func=cmd_serve)
