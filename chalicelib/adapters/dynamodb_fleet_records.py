"""Records of the fleet operations, in the ``incidents`` table.

- etcd requests (snapshots and restores an operator must run), one small item each under
  ``ETCDREQ#<cluster_id>``, newest found first, kept 90 days.
- support bundles: gzipped JSON split into chunks under ``BUNDLE#<bundle_id>`` (a bundle can
  exceed the 400 KB item limit), with a ``HEAD`` item written last so a reader never sees
  half a bundle; every item expires with the bundle (TTL, 7 days).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.adapters.aws import client, translate_errors
from chalicelib.adapters.dynamo_codec import from_item, to_item, to_value
from chalicelib.adapters.dynamodb_cluster_data import batch_write
from chalicelib.adapters.dynamodb_incident_items import strip_keys

CHUNK_BYTES = 350_000
REQUEST_DAYS = 90
HEAD = "HEAD"


def expires_at(days: int) -> int:
    """Epoch seconds ``days`` from now (the TTL attribute)."""
    return int((datetime.now(UTC) + timedelta(days=days)).timestamp())


class DynamoFleetRecords:
    """etcd operator requests and support bundles on DynamoDB."""

    def __init__(self, table: str) -> None:
        self.table = table

    @property
    def _ddb(self) -> Any:
        return client("dynamodb")

    @translate_errors("DynamoDB")
    def add_etcd_request(self, request: dict[str, Any]) -> None:
        """Keep one snapshot or restore request (it has request_id, cluster_id,
        requested_at)."""
        self._ddb.put_item(TableName=self.table, Item=to_item({
            **request, "pk": f"ETCDREQ#{request['cluster_id']}",
            "sk": f"{request['requested_at']}#{request['request_id']}",
            "expires_at": expires_at(REQUEST_DAYS)}))

    @translate_errors("DynamoDB")
    def etcd_requests(self, cluster_id: str, limit: int) -> list[dict[str, Any]]:
        """A cluster's requests, newest first."""
        result = self._ddb.query(
            TableName=self.table, Limit=limit, ScanIndexForward=False,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": to_value(f"ETCDREQ#{cluster_id}")})
        rows = []
        for item in result.get("Items", []):
            data = strip_keys(from_item(item))
            data.pop("expires_at", None)
            rows.append(data)
        return rows

    @translate_errors("DynamoDB")
    def put_bundle(self, bundle_id: str, head: dict[str, Any], blob: bytes,
                   expires: int) -> None:
        """Store the chunks, then the head that makes the bundle readable."""
        pk = f"BUNDLE#{bundle_id}"
        chunks = [blob[i:i + CHUNK_BYTES] for i in range(0, len(blob), CHUNK_BYTES)] or [b""]
        self._batch_write([{"PutRequest": {"Item": to_item({
            "pk": pk, "sk": f"CHUNK#{n:05d}", "data": chunk, "expires_at": expires})}}
            for n, chunk in enumerate(chunks)])
        self._ddb.put_item(TableName=self.table, Item=to_item({
            **head, "pk": pk, "sk": HEAD, "chunks": len(chunks), "expires_at": expires}))

    @translate_errors("DynamoDB")
    def get_bundle(self, bundle_id: str) -> tuple[dict[str, Any], bytes] | None:
        """The head and the reassembled blob, or None if absent or incomplete."""
        kwargs: dict[str, Any] = {
            "TableName": self.table, "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": to_value(f"BUNDLE#{bundle_id}")}}
        head: dict[str, Any] | None = None
        parts: dict[str, bytes] = {}
        while True:
            page = self._ddb.query(**kwargs)
            for item in page.get("Items", []):
                if item["sk"]["S"] == HEAD:
                    head = strip_keys(from_item(item))
                else:
                    parts[item["sk"]["S"]] = bytes(item["data"]["B"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if head is None or len(parts) != int(head["chunks"]):
            return None
        return head, b"".join(parts[k] for k in sorted(parts))

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        batch_write(self._ddb, self.table, requests)
