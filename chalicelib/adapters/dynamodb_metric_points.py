"""Usage points recorded at each snapshot (metrics-server), in the ``incidents`` table.

One small item per series and snapshot: pk ``METRICS#<cluster_id>#<series>`` (series
``cluster`` or ``node:<name>``), sk the snapshot time, a 90-day TTL; a history read is one
Query on a key range. A ``LATEST`` item per cluster holds the last point of every series,
so a resource list reads current usage in one GetItem per cluster.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.aws import translate_errors
from chalicelib.adapters.dynamo_codec import from_item, to_item, to_value
from chalicelib.adapters.dynamodb_cluster_data import batch_write
from chalicelib.adapters.dynamodb_operations import TableAdapter
from chalicelib.domain.clock import days_from_now_epoch
from chalicelib.services.resources import MetricPointStore

POINT_DAYS = 90
BATCH = 25
PAGE = 1000


class DynamoMetricPointStore(TableAdapter, MetricPointStore):
    """Usage points and the latest usage of each cluster on DynamoDB."""

    @translate_errors("DynamoDB")
    def put_snapshot(self, cluster_id: str, at: str, series: dict[str, dict[str, Any]]) -> None:
        """Append one point per series, then replace the cluster's latest usage."""
        expires = days_from_now_epoch(POINT_DAYS)
        requests = [{"PutRequest": {"Item": to_item({
            **values, "pk": f"METRICS#{cluster_id}#{name}", "sk": at, "expires_at": expires})}}
            for name, values in series.items()]
        batch_write(self._ddb, self.table, requests)
        self._ddb.put_item(TableName=self.table, Item=to_item({
            "pk": f"METRICS#{cluster_id}", "sk": "LATEST", "at": at, "series": series,
            "expires_at": expires}))

    @translate_errors("DynamoDB")
    def latest(self, cluster_id: str) -> dict[str, Any] | None:
        """``{"at", "series": {name: values}}`` of the last recorded snapshot, or None."""
        item = self._ddb.get_item(TableName=self.table, Key={
            "pk": to_value(f"METRICS#{cluster_id}"), "sk": to_value("LATEST")}).get("Item")
        if not item:
            return None
        data = from_item(item)
        return {"at": data.get("at"), "series": data.get("series") or {}}

    @translate_errors("DynamoDB")
    def history(self, cluster_id: str, series: str, *, since: str,
                limit: int) -> list[dict[str, Any]]:
        """Points since a time, oldest first; the newest ``limit`` when there are more."""
        points: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table, "ScanIndexForward": False,
            "KeyConditionExpression": "pk = :pk AND sk >= :since",
            "ExpressionAttributeValues": {":pk": to_value(f"METRICS#{cluster_id}#{series}"),
                                          ":since": to_value(since)}}
        while len(points) < limit:
            page = self._ddb.query(**kwargs, Limit=min(PAGE, limit - len(points)))
            for item in page.get("Items", []):
                data = from_item(item)
                points.append({k: v for k, v in data.items()
                               if k not in ("pk", "expires_at")} | {"at": data["sk"]})
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        for point in points:
            point.pop("sk", None)
        return list(reversed(points))
