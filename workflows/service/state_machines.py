"""State machines: create, describe, update, delete, list, validate, TestState."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from workflows.asl.errors import ServiceError
from workflows.service.core import ServiceCore, _drop_none, _dt, _now, _page, check_tag_count, valid_name

_PATH_VAR = re.compile(r"(?<![$\w])\$([A-Za-z_][A-Za-z0-9_]*)")
_JSONATA_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)(?!\s*\()")
_NESTED = ("States", "ItemProcessor", "Iterator", "Branches")
_EXECUTION_ARN_OPS = {
    "DescribeExecution",
    "GetExecutionHistory",
    "StopExecution",
    "RedriveExecution",
    "DescribeStateMachineForExecution",
}


def variable_references(definition: dict[str, Any]) -> dict[str, list[str]]:
    """State name → the workflow variables its fields read, sorted (DescribeStateMachine's variableReferences).

    Variables are read by path fields (`*Path`, `*.$`, Choice `Variable`) and JSONata expressions."""
    out: dict[str, list[str]] = {}

    def scan(value: Any, key: str, found: set[str]) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                scan(v, k, found)
        elif isinstance(value, list):
            for v in value:
                scan(v, key, found)
        elif isinstance(value, str):
            text = value.strip()
            if text.startswith("{%") and text.endswith("%}"):
                found.update(n for n in _JSONATA_VAR.findall(text) if n != "states")
            elif key.endswith(".$") or key.endswith("Path") or key == "Variable":
                found.update(_PATH_VAR.findall(value))

    def walk(states: dict[str, Any]) -> None:
        for name, state in states.items():
            if not isinstance(state, dict):
                continue
            found: set[str] = set()
            for key, value in state.items():
                if key not in _NESTED:
                    scan(value, key, found)
            if found:
                out[name] = sorted(found)
            for key in ("ItemProcessor", "Iterator"):
                if isinstance(state.get(key), dict):
                    walk(state[key].get("States") or {})
            for branch in state.get("Branches") or []:
                if isinstance(branch, dict):
                    walk(branch.get("States") or {})

    walk(definition.get("States") or {})
    return out


class StateMachines(ServiceCore):
    """State machines: create, describe, update, delete, list, validate, TestState."""

    def check_type_support(self, op: str, params: dict[str, Any]) -> None:
        """Refuse, as AWS's API does, the operations an EXPRESS state machine does not support.

        The API Reference says DescribeExecution, GetExecutionHistory, StopExecution, RedriveExecution,
        DescribeStateMachineForExecution and ListExecutions are not supported by EXPRESS state machines
        (StartSyncExecution, conversely, only by them). An express execution ARN is refused as an ARN of
        the wrong resource type; ListExecutions names the state machine, so it answers
        StateMachineTypeNotSupported. Enforced only for calls through the API (service.call), so the
        console and in-process helpers can still read express executions.
        """
        if op in _EXECUTION_ARN_OPS:
            parts = str(params.get("executionArn", "")).split(":")
            # A Map Run's child executions are express ones that DescribeExecution does accept.
            if len(parts) > 6 and parts[5] == "express" and "/" not in parts[6]:
                raise ServiceError(
                    "InvalidArn", "Invalid Arn: 'Resource type not valid in this context: express'"
                )
        elif op == "ListExecutions" and params.get("mapRunArn") is None and params.get("stateMachineArn"):
            parts = str(params["stateMachineArn"]).split(":")
            if len(parts) >= 7 and parts[5] == "stateMachine" and parts[0] == "arn":
                sm = self.store.get_resource("sm", ":".join(parts[:7]))
                if sm is not None and sm["type"] == "EXPRESS":
                    raise ServiceError(
                        "StateMachineTypeNotSupported",
                        "This operation is not supported by this type of state machine",
                    )

    def _validate_definition(self, definition: str, sm_type: str) -> None:
        from workflows.asl.validation import invalid_definition_message, validate_definition

        diagnostics = [
            d for d in validate_definition(definition, state_machine_type=sm_type) if d.severity == "ERROR"
        ]
        if diagnostics:
            raise ServiceError("InvalidDefinition", invalid_definition_message(diagnostics))

    @staticmethod
    def _check_logging(cfg: dict[str, Any] | None) -> dict[str, Any]:
        if cfg is None:
            return {"level": "OFF", "includeExecutionData": False}
        level = cfg.get("level", "OFF")
        destinations = cfg.get("destinations") or []
        if len(destinations) > 1 or (level != "OFF" and len(destinations) != 1):
            raise ServiceError(
                "InvalidLoggingConfiguration",
                "Invalid Logging Configuration: Must specify exactly one Log Destination.",
            )
        for d in destinations:
            group = (d.get("cloudWatchLogsLogGroup") or {}).get("logGroupArn", "")
            if not group.endswith(":*"):
                raise ServiceError(
                    "InvalidLoggingConfiguration", "Invalid Logging Configuration: Log Destination not found."
                )
        out = {"level": level, "includeExecutionData": bool(cfg.get("includeExecutionData", False))}
        if destinations:
            out["destinations"] = destinations
        return out

    async def create_state_machine(
        self,
        *,
        name: str,
        definition: str,
        roleArn: str,
        type: str = "STANDARD",
        loggingConfiguration: dict[str, Any] | None = None,
        tracingConfiguration: dict[str, Any] | None = None,
        tags: list[dict[str, str]] | None = None,
        publish: bool = False,
        versionDescription: str | None = None,
        encryptionConfiguration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if not valid_name(name):
            raise ServiceError("InvalidName", f"Invalid Name: '{name}'")
        check_tag_count(self._arn("stateMachine", name), tags)
        if versionDescription is not None and not publish:
            raise ServiceError(
                "ValidationException", "Version description can only be set when publish is true"
            )
        self._validate_definition(definition, type)
        logging = self._check_logging(loggingConfiguration)
        arn = self._arn("stateMachine", name)
        existing = self.store.get_resource("sm", arn)
        if existing is not None:
            same = (
                existing["definition"] == definition
                and existing["roleArn"] == roleArn
                and existing["type"] == type
                and existing["loggingConfiguration"] == logging
            )
            if not same:
                raise ServiceError("StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'")
            out = {"stateMachineArn": arn, "creationDate": _dt(existing["creationDate"])}
            return out
        now = _now()
        sm = {
            "stateMachineArn": arn,
            "name": name,
            "type": type,
            "definition": definition,
            "roleArn": roleArn,
            "loggingConfiguration": logging,
            "tracingConfiguration": tracingConfiguration or {"enabled": False},
            "encryptionConfiguration": encryptionConfiguration or {"type": "AWS_OWNED_KEY"},
            "creationDate": now,
            "updateDate": now,
            "revisionId": None,
            "versionCounter": 0,
            "publishedRevision": None,
        }
        with self.store.transaction():
            self.store.put_resource("sm", arn, name, now, sm)
            if tags:
                self.store.put_tags(arn, [(t["key"], t["value"]) for t in tags])
            out = {"stateMachineArn": arn, "creationDate": _dt(now)}
            if publish:
                out["stateMachineVersionArn"] = self._publish(sm, versionDescription, now)
        return out

    async def describe_state_machine(
        self, *, stateMachineArn: str, includedData: str | None = None
    ) -> dict[str, Any]:
        base, qualifier = self._split_sm_arn(stateMachineArn)
        if qualifier is not None and not qualifier.isdigit():
            alias = await self.describe_state_machine_alias(stateMachineAliasArn=stateMachineArn)
            return alias  # AWS answers DescribeStateMachine on an alias ARN with the alias
        if qualifier is not None:
            record = self.store.get_resource("version", stateMachineArn)
            if record is None:
                raise ServiceError(
                    "StateMachineDoesNotExist", f"State Machine Does Not Exist: '{stateMachineArn}'"
                )
        else:
            record = self._sm(base)
        out = {
            "stateMachineArn": stateMachineArn,
            "name": record["name"],
            "status": "ACTIVE",
            "definition": record["definition"],
            "roleArn": record["roleArn"],
            "type": record["type"],
            "creationDate": _dt(record["creationDate"]),
            "loggingConfiguration": record["loggingConfiguration"],
            "tracingConfiguration": record["tracingConfiguration"],
            "encryptionConfiguration": record["encryptionConfiguration"],
            "revisionId": record.get("revisionId"),
            "description": record.get("description"),
            "variableReferences": self._variable_references(record["definition"]),
        }
        return _drop_none(out)

    @staticmethod
    def _variable_references(definition: str) -> dict[str, list[str]] | None:
        try:
            return variable_references(json.loads(definition)) or None
        except (ValueError, AttributeError, TypeError):
            return None

    async def update_state_machine(
        self,
        *,
        stateMachineArn: str,
        definition: str | None = None,
        roleArn: str | None = None,
        loggingConfiguration: dict[str, Any] | None = None,
        tracingConfiguration: dict[str, Any] | None = None,
        publish: bool = False,
        versionDescription: str | None = None,
        encryptionConfiguration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        base, qualifier = self._split_sm_arn(stateMachineArn)
        if qualifier is not None:
            raise ServiceError(
                "ValidationException", "Operation is not supported on a qualified state machine ARN"
            )
        if (
            definition is None
            and roleArn is None
            and loggingConfiguration is None
            and tracingConfiguration is None
            and encryptionConfiguration is None
        ):
            raise ServiceError(
                "MissingRequiredParameter",
                "Either the definition, the role ARN, the "
                "LoggingConfiguration, or the TracingConfiguration must be specified",
            )
        if versionDescription is not None and not publish:
            raise ServiceError(
                "ValidationException", "Version description can only be set when publish is true"
            )
        sm = self._sm(base)
        if definition is not None:
            self._validate_definition(definition, sm["type"])
        logging = self._check_logging(loggingConfiguration) if loggingConfiguration is not None else None
        changed = False
        for key, value in (
            ("definition", definition),
            ("roleArn", roleArn),
            ("loggingConfiguration", logging),
            ("tracingConfiguration", tracingConfiguration),
            ("encryptionConfiguration", encryptionConfiguration),
        ):
            if value is not None and sm[key] != value:
                sm[key] = value
                changed = True
        now = _now()
        if changed or sm["revisionId"] is None:
            if not changed and sm.get("publishedRevision") == "initial":
                # The first revision id names the unchanged revision version 1 was published from, so
                # publishing it again returns that version (PublishStateMachineVersion is idempotent).
                sm["revisionId"] = sm["publishedRevision"] = str(uuid.uuid4())
            else:
                sm["revisionId"] = str(uuid.uuid4())
            sm["updateDate"] = now
        out: dict[str, Any] = {"updateDate": _dt(sm["updateDate"]), "revisionId": sm["revisionId"]}
        with self.store.transaction():
            self.store.put_resource("sm", base, sm["name"], sm["creationDate"], sm)
            if publish:
                out["stateMachineVersionArn"] = self._publish(sm, versionDescription, now)
        return out

    async def delete_state_machine(self, *, stateMachineArn: str) -> dict[str, Any]:
        base, qualifier = self._split_sm_arn(stateMachineArn)
        if qualifier is not None:
            raise ServiceError("ValidationException", f"Invalid Arn: '{stateMachineArn}'")
        if self.store.get_resource("sm", base) is None:
            return {}
        with self.store.transaction():
            for kind in ("version", "alias"):
                for r in self.store.list_resources(kind, parent=base):
                    self.store.delete_resource(
                        r["stateMachineArn"] if kind == "version" else r["stateMachineAliasArn"]
                    )
            self.store.delete_resource(base)
        return {}

    async def list_state_machines(
        self, *, maxResults: int | None = None, nextToken: str | None = None
    ) -> dict[str, Any]:
        items = sorted(self.store.list_resources("sm"), key=lambda r: r["name"])
        page, nxt = _page(items, maxResults, nextToken, "sm")
        out = {
            "stateMachines": [
                {
                    "stateMachineArn": r["stateMachineArn"],
                    "name": r["name"],
                    "type": r["type"],
                    "creationDate": _dt(r["creationDate"]),
                }
                for r in page
            ]
        }
        return _drop_none({**out, "nextToken": nxt})

    async def describe_state_machine_for_execution(
        self, *, executionArn: str, includedData: str | None = None
    ) -> dict[str, Any]:
        record = self._execution(executionArn)
        sm = record["machine"]
        out = {
            "stateMachineArn": record["stateMachineArn"],
            "name": sm["name"],
            "definition": sm["definition"],
            "roleArn": sm["roleArn"],
            "updateDate": _dt(sm["updateDate"]),
            "loggingConfiguration": sm["loggingConfiguration"],
            "tracingConfiguration": sm["tracingConfiguration"],
            "encryptionConfiguration": sm.get("encryptionConfiguration"),
            "revisionId": sm.get("revisionId"),
            "mapRunArn": record.get("mapRunArn"),
            "variableReferences": self._variable_references(sm["definition"]),
        }
        return _drop_none(out)

    async def validate_state_machine_definition(
        self,
        *,
        definition: str,
        type: str = "STANDARD",
        severity: str | None = None,
        maxResults: int | None = None,
    ) -> dict[str, Any]:
        from workflows.asl.validation import validate_definition

        limit = maxResults or 100
        found = validate_definition(definition, state_machine_type=type, max_results=10_000)
        if severity != "WARNING":  # the API Reference: the minimum severity returned defaults to ERROR
            found = [d for d in found if d.severity == "ERROR"]
        result = "FAIL" if any(d.severity == "ERROR" for d in found) else "OK"
        return {
            "result": result,
            "diagnostics": [d.to_api() for d in found[:limit]],
            "truncated": len(found) > limit,
        }

    async def test_state(self, **request: Any) -> dict[str, Any]:
        from workflows.service.teststate import test_state

        return await test_state(self, **request)
