"""Map Runs of Distributed Maps: recorded as they start and end, listed, described, updated."""

from __future__ import annotations

from typing import Any

from workflows.asl.errors import ServiceError
from workflows.service.core import ServiceCore, _drop_none, _dt, _page


class MapRuns(ServiceCore):
    """Map Runs of Distributed Maps: recorded as they start and end, listed, described, updated."""

    def record_map_run(self, record: dict[str, Any]) -> None:
        """Called by the engine when a Distributed Map starts or changes (kind 'maprun')."""
        self.store.put_resource(
            "maprun",
            record["mapRunArn"],
            record["mapRunArn"],
            record["startDate"],
            record,
            parent=record["executionArn"],
        )

    async def list_map_runs(
        self, *, executionArn: str, maxResults: int | None = None, nextToken: str | None = None
    ) -> dict[str, Any]:
        self._execution(executionArn)
        items = self.store.list_resources("maprun", parent=executionArn)
        page, nxt = _page(items, maxResults, nextToken, "m:" + executionArn)
        out = [
            {
                "executionArn": r["executionArn"],
                "mapRunArn": r["mapRunArn"],
                "stateMachineArn": r["stateMachineArn"],
                "startDate": _dt(r["startDate"]),
                "stopDate": _dt(r.get("stopDate")),
            }
            for r in page
        ]
        return _drop_none({"mapRuns": [_drop_none(x) for x in out], "nextToken": nxt})

    def _map_run(self, arn: str) -> dict[str, Any]:
        self._check_arn(arn)
        record = self.store.get_resource("maprun", arn)
        if record is None:
            raise ServiceError("ResourceNotFound", f"Resource not found: '{arn}'")
        return record

    async def describe_map_run(self, *, mapRunArn: str) -> dict[str, Any]:
        r = self._map_run(mapRunArn)
        out = {
            k: r.get(k)
            for k in (
                "mapRunArn",
                "executionArn",
                "status",
                "maxConcurrency",
                "toleratedFailurePercentage",
                "toleratedFailureCount",
                "itemCounts",
                "executionCounts",
                "redriveCount",
            )
        }
        out["startDate"] = _dt(r["startDate"])
        out["stopDate"] = _dt(r.get("stopDate"))
        out["redriveDate"] = _dt(r.get("redriveDate"))
        return _drop_none(out)

    async def update_map_run(
        self,
        *,
        mapRunArn: str,
        maxConcurrency: int | None = None,
        toleratedFailurePercentage: float | None = None,
        toleratedFailureCount: int | None = None,
    ) -> dict[str, Any]:
        r = self._map_run(mapRunArn)
        for key, value in (
            ("maxConcurrency", maxConcurrency),
            ("toleratedFailurePercentage", toleratedFailurePercentage),
            ("toleratedFailureCount", toleratedFailureCount),
        ):
            if value is not None:
                r[key] = value
        self.record_map_run(r)
        return {}
