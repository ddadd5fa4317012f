"""State machine versions and aliases, and the routing of an alias to a version."""

from __future__ import annotations

from typing import Any

from workflows.asl.errors import ServiceError
from workflows.service.core import _ALIAS_NAME, _ALIAS_PATTERN_TEXT, ServiceCore, _drop_none, _dt, _now, _page


def _weighted_choice(routing: list[dict[str, Any]]) -> str:
    import random

    pick = random.uniform(0, 100)
    total = 0.0
    for route in routing:
        total += route["weight"]
        if pick < total:
            return route["stateMachineVersionArn"]
    return routing[-1]["stateMachineVersionArn"]


class Versions(ServiceCore):
    """State machine versions and aliases, and the routing of an alias to a version."""

    def _publish(self, sm: dict[str, Any], description: str | None, now: float) -> str:
        revision = sm["revisionId"] or "initial"
        latest = sm.get("latestVersionArn")
        if sm.get("publishedRevision") == revision and latest and self.store.get_resource("version", latest):
            return latest
        sm["versionCounter"] += 1
        arn = f"{sm['stateMachineArn']}:{sm['versionCounter']}"
        version = {
            k: sm[k]
            for k in (
                "name",
                "type",
                "definition",
                "roleArn",
                "loggingConfiguration",
                "tracingConfiguration",
                "encryptionConfiguration",
                "revisionId",
            )
        }
        version.update(
            {
                "stateMachineArn": arn,
                "baseArn": sm["stateMachineArn"],
                "creationDate": now,
                "description": description,
                "version": sm["versionCounter"],
            }
        )
        sm["publishedRevision"] = revision
        sm["latestVersionArn"] = arn
        self.store.put_resource(
            "version", arn, str(sm["versionCounter"]), now, version, parent=sm["stateMachineArn"]
        )
        self.store.put_resource("sm", sm["stateMachineArn"], sm["name"], sm["creationDate"], sm)
        return arn

    async def publish_state_machine_version(
        self, *, stateMachineArn: str, revisionId: str | None = None, description: str | None = None
    ) -> dict[str, Any]:
        base, _ = self._split_sm_arn(stateMachineArn)
        sm = self._sm(base)
        if (
            revisionId is not None
            and revisionId != (sm["revisionId"] or "INITIAL")
            and revisionId != sm["revisionId"]
        ):
            raise ServiceError(
                "ConflictException",
                f"Failed to publish the State Machine version for revision {revisionId}. "
                f"The current State Machine revision is {sm['revisionId']}.",
            )
        now = _now()
        with self.store.transaction():
            arn = self._publish(sm, description, now)
        version = self.store.get_resource("version", arn) or {}
        return {"stateMachineVersionArn": arn, "creationDate": _dt(version.get("creationDate", now))}

    async def list_state_machine_versions(
        self, *, stateMachineArn: str, nextToken: str | None = None, maxResults: int | None = None
    ) -> dict[str, Any]:
        base, _ = self._split_sm_arn(stateMachineArn)
        self._sm(base)
        items = sorted(self.store.list_resources("version", parent=base), key=lambda r: -r["version"])
        page, nxt = _page(items, maxResults, nextToken, "v:" + base)
        out = {
            "stateMachineVersions": [
                {"stateMachineVersionArn": r["stateMachineArn"], "creationDate": _dt(r["creationDate"])}
                for r in page
            ]
        }
        return _drop_none({**out, "nextToken": nxt})

    async def delete_state_machine_version(self, *, stateMachineVersionArn: str) -> dict[str, Any]:
        base, qualifier = self._split_sm_arn(stateMachineVersionArn)
        if qualifier is None or not qualifier.isdigit():
            raise ServiceError("ValidationException", f"Invalid Arn: '{stateMachineVersionArn}'")
        if self.store.get_resource("version", stateMachineVersionArn) is None:
            return {}
        users = [
            a["name"]
            for a in self.store.list_resources("alias", parent=base)
            if any(r["stateMachineVersionArn"] == stateMachineVersionArn for r in a["routingConfiguration"])
        ]
        if users:
            raise ServiceError(
                "ConflictException",
                "Version to be deleted must not be referenced by an alias. "
                f"Current list of aliases referencing this version: [{', '.join(users)}]",
            )
        with self.store.transaction():
            self.store.delete_resource(stateMachineVersionArn)
        return {}

    def _check_routing(self, routing: list[dict[str, Any]]) -> str:
        arns = [r["stateMachineVersionArn"] for r in routing]
        bases = set()
        for arn in arns:
            self._check_arn(arn)
            base, qualifier = self._split_sm_arn(arn)
            if qualifier is None or not qualifier.isdigit():
                raise ServiceError(
                    "ValidationException",
                    "Routing configuration must contain state machine version "
                    f"ARNs. Received: [{', '.join(arns)}]",
                )
            bases.add(base)
        if len(set(arns)) != len(arns):
            raise ServiceError(
                "ValidationException",
                "Routing configuration must contain distinct state machine "
                f"version ARNs. Received: [{', '.join(arns)}]",
            )
        if len(bases) > 1:
            raise ServiceError(
                "ValidationException",
                "Routing configuration must contain state machine version "
                f"ARNs of the same state machine. Received: [{', '.join(arns)}]",
            )
        weights = [r["weight"] for r in routing]
        if sum(weights) != 100:
            raise ServiceError(
                "ValidationException",
                "Sum of routing configuration weights must equal 100. "
                f"Received: [{', '.join(map(str, weights))}]",
            )
        for arn in arns:
            if self.store.get_resource("version", arn) is None:
                raise ServiceError("ResourceNotFound", f"Resource not found: '{arn}'")
        return next(iter(bases))

    async def create_state_machine_alias(
        self, *, name: str, routingConfiguration: list[dict[str, Any]], description: str | None = None
    ) -> dict[str, Any]:
        if not _ALIAS_NAME.match(name):
            raise ServiceError(
                "ValidationException",
                f"1 validation error detected: Value '{name}' at 'name' failed "
                f"to satisfy constraint: Member must satisfy regular expression pattern: "
                f"{_ALIAS_PATTERN_TEXT}",
            )
        base = self._check_routing(routingConfiguration)
        self._sm(base)
        arn = f"{base}:{name}"
        existing = self.store.get_resource("alias", arn)
        if existing is not None:
            if (
                existing["routingConfiguration"] != routingConfiguration
                or existing.get("description") != description
            ):
                raise ServiceError(
                    "ConflictException",
                    "Failed to create alias because an alias with the same name "
                    "and a different routing configuration already exists.",
                )
            return {"stateMachineAliasArn": arn, "creationDate": _dt(existing["creationDate"])}
        now = _now()
        alias = {
            "stateMachineAliasArn": arn,
            "name": name,
            "description": description,
            "routingConfiguration": routingConfiguration,
            "creationDate": now,
            "updateDate": now,
        }
        with self.store.transaction():
            self.store.put_resource("alias", arn, name, now, alias, parent=base)
        return {"stateMachineAliasArn": arn, "creationDate": _dt(now)}

    def _alias(self, arn: str) -> dict[str, Any]:
        _base, qualifier = self._split_sm_arn(arn)
        alias = self.store.get_resource("alias", arn) if qualifier else None
        if alias is None:
            raise ServiceError("ResourceNotFound", f"Resource not found: '{arn}'")
        return alias

    async def describe_state_machine_alias(self, *, stateMachineAliasArn: str) -> dict[str, Any]:
        a = self._alias(stateMachineAliasArn)
        return _drop_none(
            {
                "stateMachineAliasArn": a["stateMachineAliasArn"],
                "name": a["name"],
                "description": a.get("description"),
                "routingConfiguration": a["routingConfiguration"],
                "creationDate": _dt(a["creationDate"]),
                "updateDate": _dt(a["updateDate"]),
            }
        )

    async def update_state_machine_alias(
        self,
        *,
        stateMachineAliasArn: str,
        description: str | None = None,
        routingConfiguration: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        a = self._alias(stateMachineAliasArn)
        if description is None and routingConfiguration is None:
            raise ServiceError(
                "ValidationException", "Either the description or the RoutingConfiguration must be specified"
            )
        if routingConfiguration is not None:
            self._check_routing(routingConfiguration)
            a["routingConfiguration"] = routingConfiguration
        if description is not None:
            a["description"] = description
        a["updateDate"] = _now()
        base, _ = self._split_sm_arn(stateMachineAliasArn)
        with self.store.transaction():
            self.store.put_resource(
                "alias", a["stateMachineAliasArn"], a["name"], a["creationDate"], a, parent=base
            )
        return {"updateDate": _dt(a["updateDate"])}

    async def delete_state_machine_alias(self, *, stateMachineAliasArn: str) -> dict[str, Any]:
        self._split_sm_arn(stateMachineAliasArn)
        with self.store.transaction():
            self.store.delete_resource(stateMachineAliasArn)
        return {}

    async def list_state_machine_aliases(
        self, *, stateMachineArn: str, nextToken: str | None = None, maxResults: int | None = None
    ) -> dict[str, Any]:
        base, _ = self._split_sm_arn(stateMachineArn)
        self._sm(base)
        items = sorted(self.store.list_resources("alias", parent=base), key=lambda r: r["name"])
        page, nxt = _page(items, maxResults, nextToken, "a:" + base)
        out = {
            "stateMachineAliases": [
                {"stateMachineAliasArn": r["stateMachineAliasArn"], "creationDate": _dt(r["creationDate"])}
                for r in page
            ]
        }
        return _drop_none({**out, "nextToken": nxt})

    def _resolve_target(self, arn: str) -> tuple[dict[str, Any], str, str | None, str | None]:
        """(definition record, base ARN, version ARN, alias ARN) for StartExecution's stateMachineArn."""
        base, qualifier = self._split_sm_arn(arn)
        sm = self._sm(base)
        if qualifier is None:
            return sm, base, None, None
        alias_arn = None
        version_arn = arn
        if not qualifier.isdigit():
            alias = self.store.get_resource("alias", arn)
            if alias is None:
                raise ServiceError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
            alias_arn = arn
            version_arn = _weighted_choice(alias["routingConfiguration"])
        version = self.store.get_resource("version", version_arn)
        if version is None:
            raise ServiceError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
        record = dict(version)
        record["updateDate"] = version["creationDate"]
        return record, base, version_arn, alias_arn
