"""Executions: start (asynchronous and synchronous), run, describe, list, stop, redrive, history."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import uuid
from typing import Any

from workflows.asl.errors import DefinitionError, ServiceError
from workflows.engine.history import MAX_HISTORY_EVENTS, HistoryEvent, dumps
from workflows.engine.interpreter import MAX_EXECUTION_SECONDS
from workflows.service.core import (
    REDRIVE_WINDOW,
    TERMINAL_EVENTS,
    ServiceCore,
    _decode_token,
    _drop_none,
    _dt,
    _encode_token,
    _now,
    _parse_input,
    valid_name,
)

log = logging.getLogger(__name__)


class _Sink:
    """Where one execution's events go: queued for group commit, execution row updated on the end."""

    def __init__(self, service: Executions, record: dict[str, Any], count: int = 0) -> None:
        self.service = service
        self.record = record
        self.count = count

    def emit(self, event: HistoryEvent) -> None:
        self.count += 1
        self.service.writer.add_event(self.record["executionArn"], event)
        status = TERMINAL_EVENTS.get(event.type)
        if status is not None:
            self.service._finish(self.record, status, event.timestamp, event.details or {})

    async def flush(self) -> None:
        await self.service.writer.flush()

    def map_run(self, record: dict[str, Any]) -> None:
        """A Distributed Map's Map Run started or ended: kept for ListMapRuns / DescribeMapRun."""
        try:
            self.service.record_map_run(record)
        except sqlite3.Error as exc:  # bookkeeping for ListMapRuns: the Map itself goes on
            log.warning("Map Run %s not recorded: %s", record.get("mapRunArn"), exc)

    def map_item(self, map_run_arn: str, index: int, output: Any) -> None:
        """A Distributed Map's item finished: kept (group-committed), so a restart does not run it again."""
        self.service.writer.add_map_item(self.record["executionArn"], map_run_arn, index, output)

    def map_items(self, map_run_arn: str) -> dict[int, Any]:
        self.service.writer.commit(strict=False)
        return self.service.store.map_items(map_run_arn)


def _engine_fault(err: BaseException) -> str:
    return f"Internal error in the engine: {type(err).__name__}: {err}"


class Executions(ServiceCore):
    """Executions: start (asynchronous and synchronous), run, describe, list, stop, redrive, history."""

    async def start_execution(
        self,
        *,
        stateMachineArn: str,
        name: str | None = None,
        input: str | None = None,
        traceHeader: str | None = None,
    ) -> dict[str, Any]:
        machine, base, version_arn, alias_arn = self._resolve_target(stateMachineArn)
        if name is not None and not valid_name(name):
            raise ServiceError("InvalidName", f"Invalid Name: '{name}'")
        value = _parse_input(input)
        name = name or str(uuid.uuid4())
        sm_name = base.split(":")[6]
        if machine["type"] == "EXPRESS":
            arn = self._arn("express", f"{sm_name}:{name}:{uuid.uuid4()}")
        else:
            arn = self._arn("execution", f"{sm_name}:{name}")
            existing = self.store.get_execution(arn)
            if existing is not None:
                if existing["status"] == "RUNNING" and existing.get("input") == (
                    input if input is not None else "{}"
                ):
                    return {"executionArn": arn, "startDate": _dt(existing["startDate"])}
                raise ServiceError("ExecutionAlreadyExists", f"Execution Already Exists: '{arn}'")
        record = self._new_execution(
            arn,
            base,
            name,
            machine,
            input if input is not None else "{}",
            version_arn,
            alias_arn,
            traceHeader,
        )
        with self.store.transaction():
            self.store.insert_execution(record)
        self._launch(record, value=value)
        return {"executionArn": arn, "startDate": _dt(record["startDate"])}

    def _new_execution(
        self,
        arn: str,
        base: str,
        name: str,
        machine: dict[str, Any],
        input_text: str,
        version_arn: str | None,
        alias_arn: str | None,
        trace: str | None,
    ) -> dict[str, Any]:
        snapshot = {
            k: machine.get(k)
            for k in (
                "name",
                "type",
                "definition",
                "roleArn",
                "loggingConfiguration",
                "tracingConfiguration",
                "encryptionConfiguration",
                "revisionId",
                "updateDate",
            )
        }
        return {
            "executionArn": arn,
            "stateMachineArn": base,
            "name": name,
            "status": "RUNNING",
            "startDate": _now(),
            "stopDate": None,
            "input": input_text,
            "output": None,
            "error": None,
            "cause": None,
            "stateMachineVersionArn": version_arn,
            "stateMachineAliasArn": alias_arn,
            "traceHeader": trace,
            "redriveCount": 0,
            "redriveDate": None,
            "machine": snapshot,
            "type": machine["type"],
        }

    def _finish(self, record: dict[str, Any], status: str, when: float, details: dict[str, Any]) -> None:
        if (
            record["status"] != "RUNNING"
            and record.get("stopDate") is not None
            and status == record["status"]
        ):
            return
        record["status"] = status
        record["stopDate"] = when
        if status == "SUCCEEDED":
            record["output"] = dumps(details.get("output"))
            record["error"] = record["cause"] = None
        else:
            record["output"] = None
            record["error"] = details.get("error")
            record["cause"] = details.get("cause")
        if record["type"] != "EXPRESS":
            self.writer.update_execution(record)
        done = self._done_events.get(record["executionArn"])
        if done is not None:
            done.set()

    def _launch(
        self, record: dict[str, Any], value: Any = None, history: list[HistoryEvent] | None = None
    ) -> None:
        arn = record["executionArn"]
        ended = self._done_events[arn] = asyncio.Event()
        self._records[arn] = record
        task = asyncio.get_running_loop().create_task(self._run(record, value, history))
        self._tasks[arn] = task

        def done(t: asyncio.Task[Any]) -> None:
            # What this launch kept goes with it (a redrive's launch has its own): a server runs
            # millions of executions, and each left an event behind here.
            if self._tasks.get(arn) is t:
                self._tasks.pop(arn)
            if self._records.get(arn) is record:
                self._records.pop(arn)
            if self._done_events.get(arn) is ended:
                self._done_events.pop(arn)

        task.add_done_callback(done)

    def _compiled(self, text: str, load: Any) -> Any:
        """The compiled definition for this text: parsed and validated once, shared by its executions
        (compiled definitions are immutable)."""
        cached = self._definitions.get(text)
        if cached is None:
            if len(self._definitions) >= 256:
                self._definitions.clear()
            cached = self._definitions[text] = load(text, self.substitutions)
        return cached

    async def _run(self, record: dict[str, Any], value: Any, history: list[HistoryEvent] | None) -> Any:
        from workflows.asl.definition import load_definition
        from workflows.engine.interpreter import ExecutionInfo, Interpreter

        arn = record["executionArn"]
        machine = record["machine"]
        sink = _Sink(self, record, count=len(history or ()))
        if value is None:
            value = json.loads(record["input"])
        try:
            definition = self._compiled(machine["definition"], load_definition)
        except Exception as err:  # the execution still ends, with a history that says why
            cause = str(err) if isinstance(err, DefinitionError) else _engine_fault(err)
            self._fail_run(record, sink, value, cause)
            await self.writer.flush()
            return None
        interpreter = Interpreter(
            definition, resolver=self.resolver, clock=self.clock, callbacks=self.callbacks
        )
        info = ExecutionInfo(
            execution_arn=arn,
            name=record["name"],
            state_machine_arn=record["stateMachineArn"],
            state_machine_name=machine["name"],
            role_arn=machine["roleArn"],
            start_time=record["startDate"],
            redrive_count=record.get("redriveCount", 0),
            state_machine_type=record["type"],
            state_machine_version_arn=record.get("stateMachineVersionArn"),
            state_machine_alias_arn=record.get("stateMachineAliasArn"),
        )
        run = interpreter.start(info, value, sink, history=history or None)
        self._runs[arn] = run
        try:
            outcome = await run.wait()
        except Exception as err:  # a fault the interpreter did not turn into an outcome
            self._fail_run(record, sink, value, _engine_fault(err))
            await self.writer.flush()
            return None
        finally:
            self._runs.pop(arn, None)
        if record["status"] == "RUNNING":  # the interpreter ended without a closing event
            details = {"output": outcome.output, "error": outcome.error, "cause": outcome.cause}
            self._finish(record, outcome.status, _now(), details)
        if record["type"] != "EXPRESS":
            await self.writer.flush()
        return outcome

    def _fail_run(self, record: dict[str, Any], sink: _Sink, value: Any, cause: str) -> None:
        """Close an execution whose run could not proceed: ExecutionFailed (after ExecutionStarted
        if it had no events yet), so it is not left RUNNING and its history ends as AWS's do."""
        if record["status"] != "RUNNING":
            return
        now = _now()
        if sink.count == 0:
            started = {
                "input": value,
                "inputDetails": {"truncated": False},
                "roleArn": record["machine"]["roleArn"],
            }
            sink.emit(HistoryEvent(1, 0, "ExecutionStarted", now, "executionStartedEventDetails", started))
        failed = {"error": "States.Runtime", "cause": cause}
        sink.emit(
            HistoryEvent(
                sink.count + 1, sink.count, "ExecutionFailed", now, "executionFailedEventDetails", failed
            )
        )

    async def start_sync_execution(
        self,
        *,
        stateMachineArn: str,
        name: str | None = None,
        input: str | None = None,
        traceHeader: str | None = None,
        includedData: str | None = None,
    ) -> dict[str, Any]:
        machine, base, version_arn, alias_arn = self._resolve_target(stateMachineArn)
        if machine["type"] != "EXPRESS":
            raise ServiceError(
                "StateMachineTypeNotSupported",
                "This operation is not supported by this type of state machine",
            )
        if name is not None and not valid_name(name):
            raise ServiceError("InvalidName", f"Invalid Name: '{name}'")
        value = _parse_input(input)
        name = name or str(uuid.uuid4())
        sm_name = base.split(":")[6]
        arn = self._arn("express", f"{sm_name}:{name}:{uuid.uuid4()}")
        record = self._new_execution(
            arn,
            base,
            name,
            machine,
            input if input is not None else "{}",
            version_arn,
            alias_arn,
            traceHeader,
        )
        await self._run(record, value, None)
        out = {
            "executionArn": arn,
            "stateMachineArn": base,
            "name": name,
            "status": record["status"],
            "startDate": _dt(record["startDate"]),
            "stopDate": _dt(record["stopDate"]),
            "input": record["input"],
            "inputDetails": {"included": True},
            "output": record["output"],
            "outputDetails": {"included": True} if record["output"] is not None else None,
            "error": record["error"],
            "cause": record["cause"],
            "traceHeader": traceHeader,
            "billingDetails": {
                "billedMemoryUsedInMB": 64,
                "billedDurationInMilliseconds": max(
                    100, int((record["stopDate"] - record["startDate"]) * 1000 + 99) // 100 * 100
                ),
            },
        }
        return _drop_none(out)

    def _redrive_status(self, record: dict[str, Any]) -> tuple[str, str | None]:
        status = record["status"]
        if record.get("type") == "EXPRESS":
            return "NOT_REDRIVABLE", "Execution is EXPRESS and cannot be redriven"
        if status == "RUNNING":
            return "NOT_REDRIVABLE", "Execution is RUNNING and cannot be redriven"
        if status == "SUCCEEDED":
            return "NOT_REDRIVABLE", "Execution is SUCCEEDED and cannot be redriven"
        if record.get("stopDate") and _now() - record["stopDate"] > REDRIVE_WINDOW:
            return "NOT_REDRIVABLE", "Execution can no longer be redriven"
        if _now() - record["startDate"] > MAX_EXECUTION_SECONDS["STANDARD"]:
            return "NOT_REDRIVABLE", "Execution has exceeded the max execution time."
        # A redrive appends ExecutionRedriven and at least one more event to the history: AWS asks
        # for fewer than 24,999 events.
        if self.store.count_events(record["executionArn"]) >= MAX_HISTORY_EVENTS - 1:
            return "NOT_REDRIVABLE", "Execution history event limit exceeded."
        return "REDRIVABLE", None

    async def describe_execution(
        self, *, executionArn: str, includedData: str | None = None
    ) -> dict[str, Any]:
        r = self._execution(executionArn)
        redrive_status, reason = self._redrive_status(r)
        out = {
            "executionArn": r["executionArn"],
            "stateMachineArn": r["stateMachineArn"],
            "name": r["name"],
            "status": r["status"],
            "startDate": _dt(r["startDate"]),
            "stopDate": _dt(r.get("stopDate")),
            "input": r["input"],
            "inputDetails": {"included": True},
            "output": r.get("output"),
            "outputDetails": {"included": True} if r.get("output") is not None else None,
            # AWS describes a TIMED_OUT execution without an error or cause (recorded, test_global_timeout);
            # its history's ExecutionTimedOut holds States.Timeout.
            "error": r.get("error") if r["status"] != "TIMED_OUT" else None,
            "cause": r.get("cause") if r["status"] != "TIMED_OUT" else None,
            "traceHeader": r.get("traceHeader"),
            "mapRunArn": r.get("mapRunArn"),
            "stateMachineVersionArn": r.get("stateMachineVersionArn"),
            "stateMachineAliasArn": r.get("stateMachineAliasArn"),
            "redriveCount": r.get("redriveCount", 0),
            "redriveDate": _dt(r.get("redriveDate")),
            "redriveStatus": redrive_status,
            "redriveStatusReason": reason,
        }
        return _drop_none(out)

    async def list_executions(
        self,
        *,
        stateMachineArn: str | None = None,
        statusFilter: str | None = None,
        maxResults: int | None = None,
        nextToken: str | None = None,
        mapRunArn: str | None = None,
        redriveFilter: str | None = None,
    ) -> dict[str, Any]:
        if stateMachineArn is None and mapRunArn is None:
            raise ServiceError("ValidationException", "Must provide a StateMachine ARN or MapRun ARN")
        version_arn = alias_arn = None
        if stateMachineArn is not None:
            base, qualifier = self._split_sm_arn(stateMachineArn)
            self._sm(base)
            if qualifier is not None:
                if qualifier.isdigit():
                    version_arn = stateMachineArn
                else:
                    alias_arn = stateMachineArn
        else:
            self._check_arn(mapRunArn)  # type: ignore[arg-type]
            base = None
        self.writer.commit(strict=False)  # a read: with the store full, what is durable
        before = _decode_token(nextToken, "x:" + (stateMachineArn or mapRunArn or ""))
        size = maxResults or 100
        rows: list[dict[str, Any]] = []
        cursor = before
        while len(rows) <= size:
            batch = self.store.list_executions(
                state_machine_arn=base if mapRunArn is None else None,
                map_run_arn=mapRunArn,
                status=statusFilter,
                before_seq=cursor,
                limit=size + 1,
                summary=True,
            )
            if not batch:
                break
            cursor = batch[-1]["seq"]
            for r in batch:
                if version_arn and r.get("stateMachineVersionArn") != version_arn:
                    continue
                if alias_arn and r.get("stateMachineAliasArn") != alias_arn:
                    continue
                if redriveFilter == "REDRIVEN" and not r.get("redriveCount"):
                    continue
                if redriveFilter == "NOT_REDRIVEN" and r.get("redriveCount"):
                    continue
                rows.append(r)
            if len(batch) < size + 1:
                break
        nxt = None
        if len(rows) > size:
            rows = rows[:size]
            nxt = _encode_token(rows[-1]["seq"], "x:" + (stateMachineArn or mapRunArn or ""))
        items = []
        for r in rows:
            items.append(
                _drop_none(
                    {
                        "executionArn": r["executionArn"],
                        "stateMachineArn": r["stateMachineArn"],
                        "name": r["name"],
                        "status": r["status"],
                        "startDate": _dt(r["startDate"]),
                        "stopDate": _dt(r.get("stopDate")),
                        "mapRunArn": r.get("mapRunArn"),
                        "stateMachineVersionArn": r.get("stateMachineVersionArn"),
                        "stateMachineAliasArn": r.get("stateMachineAliasArn"),
                        "redriveCount": r.get("redriveCount", 0),
                        "redriveDate": _dt(r.get("redriveDate")),
                    }
                )
            )
        return _drop_none({"executions": items, "nextToken": nxt})

    async def stop_execution(
        self, *, executionArn: str, error: str | None = None, cause: str | None = None
    ) -> dict[str, Any]:
        record = self._execution(executionArn)
        if record["type"] == "EXPRESS":
            raise ServiceError("ValidationException", "Operation is not supported by EXPRESS executions")
        if record["status"] == "RUNNING":
            task = self._tasks.get(executionArn)
            # A run launched moments ago may not have taken its first step: let it, so it can be stopped
            # (otherwise the row said ABORTED, with no event, while the execution went on).
            for _ in range(100):
                if executionArn in self._runs or task is None or task.done():
                    break
                await asyncio.sleep(0)
            record = self._records.get(executionArn, record)  # the run's own, current record
            run = self._runs.get(executionArn)
            if run is not None:
                await asyncio.sleep(0)  # the interpreter's first step records ExecutionStarted
                run.stop(error, cause)
                done = self._done_events.get(executionArn)
                if done is not None:
                    try:
                        await asyncio.wait_for(done.wait(), 5)
                    except TimeoutError:
                        pass
            if record["status"] == "RUNNING":
                self._finish(record, "ABORTED", _now(), {"error": error, "cause": cause})
            await self.writer.flush()
        return {"stopDate": _dt(record.get("stopDate") or _now())}

    async def redrive_execution(self, *, executionArn: str, clientToken: str | None = None) -> dict[str, Any]:
        # Commit first: a redrive queued by a concurrent call must be seen here, or both would run.
        self.writer.commit()
        record = self._execution(executionArn)
        if clientToken is not None and record.get("redriveToken") == clientToken:
            return {"redriveDate": _dt(record["redriveDate"])}  # a retried request: same answer
        status, reason = self._redrive_status(record)
        if status != "REDRIVABLE":
            raise ServiceError(
                "ExecutionNotRedrivable",
                f"Execution is {record['status']} and cannot be redriven" if reason is None else reason,
            )
        prior = self._tasks.get(executionArn)
        if prior is not None:  # the run that just ended is still writing its last events
            await asyncio.wait({prior})
            return await self.redrive_execution(executionArn=executionArn, clientToken=clientToken)
        events = self.store.load_events(executionArn)
        record.update(
            status="RUNNING",
            stopDate=None,
            error=None,
            cause=None,
            output=None,
            redriveCount=record.get("redriveCount", 0) + 1,
            redriveDate=_now(),
            redriveToken=clientToken,
        )
        last = events[-1]
        redriven = HistoryEvent(
            last.id + 1,
            last.id,
            "ExecutionRedriven",
            record["redriveDate"],
            "executionRedrivenEventDetails",
            {"redriveCount": record["redriveCount"]},
        )
        events.append(redriven)
        self.writer.add_event(executionArn, redriven)
        self.writer.update_execution(record)
        await self.writer.flush()
        self._launch(record, history=events)
        return {"redriveDate": _dt(record["redriveDate"])}

    async def get_execution_history(
        self,
        *,
        executionArn: str,
        maxResults: int | None = None,
        reverseOrder: bool = False,
        nextToken: str | None = None,
        includeExecutionData: bool = True,
    ) -> dict[str, Any]:
        self._execution(executionArn)
        self.writer.commit(strict=False)  # a read: with the store full, what is durable
        after = _decode_token(nextToken, "h:" + executionArn)
        size = maxResults or 100
        events = self.store.iter_events(executionArn, reverse=reverseOrder, after=after, limit=size + 1)
        nxt = None
        if len(events) > size:
            events = events[:size]
            nxt = _encode_token(events[-1].id, "h:" + executionArn)
        include = includeExecutionData is not False
        return _drop_none({"events": [e.to_api(include) for e in events], "nextToken": nxt})
