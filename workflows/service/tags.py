"""Tags on state machines and activities."""

from __future__ import annotations

from typing import Any

from workflows.asl.errors import ServiceError
from workflows.service.core import ServiceCore, check_tag_count


class Tags(ServiceCore):
    """Tags on state machines and activities."""

    def _taggable(self, arn: str) -> None:
        self._check_arn(arn)
        kind = arn.split(":")[5] if len(arn.split(":")) > 5 else ""
        found = (
            self.store.get_resource("sm", arn)
            if kind == "stateMachine"
            else self.store.get_resource("activity", arn)
            if kind == "activity"
            else None
        )
        if found is None:
            raise ServiceError("ResourceNotFound", f"Resource not found: '{arn}'")

    async def tag_resource(self, *, resourceArn: str, tags: list[dict[str, str]]) -> dict[str, Any]:
        self._taggable(resourceArn)
        check_tag_count(resourceArn, tags, (k for k, _ in self.store.get_tags(resourceArn)))
        with self.store.transaction():
            self.store.put_tags(resourceArn, [(t["key"], t["value"]) for t in tags])
        return {}

    async def untag_resource(self, *, resourceArn: str, tagKeys: list[str]) -> dict[str, Any]:
        self._taggable(resourceArn)
        with self.store.transaction():
            self.store.delete_tags(resourceArn, tagKeys)
        return {}

    async def list_tags_for_resource(self, *, resourceArn: str) -> dict[str, Any]:
        self._taggable(resourceArn)
        return {"tags": [{"key": k, "value": v} for k, v in self.store.get_tags(resourceArn)]}
