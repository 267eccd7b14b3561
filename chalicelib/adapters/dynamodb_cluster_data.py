"""What Drover keeps about a cluster, in the ``incidents`` table, keyed by cluster id.

Snapshots and findings can be megabytes (10,000 pods), more than a 400 KB item holds: each
is stored gzipped in chunks under ``CLUSTER#<id>#<blob>#<taken_at>``, and a head item
``CLUSTER#<id>`` / ``BLOB#<blob>`` points at the complete set. The head moves only after
every chunk is written, so a reader never sees half a snapshot; the previous set is then
deleted. Health points and the connection log are small items with a TTL.
"""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

from chalicelib.adapters.aws import translate_errors
from chalicelib.adapters.dynamo_codec import from_item, to_item, to_value
from chalicelib.adapters.dynamodb_incident_items import strip_keys
from chalicelib.adapters.dynamodb_operations import TableAdapter
from chalicelib.domain.clock import days_from_now_epoch
from chalicelib.domain.cluster_ports import ClusterDataStore
from chalicelib.domain.errors import DependencyUnavailable
from chalicelib.domain.kube import Finding, Snapshot

CHUNK_BYTES = 350_000
BLOB_DAYS = 30
HEALTH_DAYS = 90
LOG_DAYS = 30
BATCH = 25


class DynamoClusterDataStore(TableAdapter, ClusterDataStore):
    """Snapshots, findings, health history and connection logs on DynamoDB."""

    @translate_errors("DynamoDB")
    def put_snapshot(self, snapshot: Snapshot, findings: list[Finding]) -> None:
        """Store the snapshot, then its findings (readers of findings see a whole set)."""
        self._put_blob(snapshot.cluster_id, "SNAPSHOT", snapshot.taken_at, snapshot.to_dict())
        self._put_blob(snapshot.cluster_id, "FINDINGS", snapshot.taken_at,
                       {"taken_at": snapshot.taken_at,
                        "findings": [f.to_dict() for f in findings]})

    @translate_errors("DynamoDB")
    def snapshot(self, cluster_id: str) -> Snapshot | None:
        """The latest snapshot."""
        data = self._get_blob(cluster_id, "SNAPSHOT")
        return Snapshot.from_dict(data) if data else None

    @translate_errors("DynamoDB")
    def findings(self, cluster_id: str) -> tuple[str, list[Finding]] | None:
        """The latest findings with their snapshot's time."""
        data = self._get_blob(cluster_id, "FINDINGS")
        if not data:
            return None
        return data["taken_at"], [Finding.from_dict(f) for f in data["findings"]]

    def _put_blob(self, cluster_id: str, blob: str, taken_at: str, data: Any) -> None:
        raw = gzip.compress(json.dumps(data, separators=(",", ":")).encode(), compresslevel=5)
        chunk_pk = f"CLUSTER#{cluster_id}#{blob}#{taken_at}#{uuid.uuid4().hex[:8]}"
        chunks = [raw[i:i + CHUNK_BYTES] for i in range(0, len(raw), CHUNK_BYTES)] or [b""]
        self._batch_write([{"PutRequest": {"Item": to_item({
            "pk": chunk_pk, "sk": f"{n:05d}", "data": chunk,
            "expires_at": days_from_now_epoch(BLOB_DAYS)})}}
            for n, chunk in enumerate(chunks)])
        head_key = {"pk": to_value(f"CLUSTER#{cluster_id}"), "sk": to_value(f"BLOB#{blob}")}
        old = self._ddb.put_item(TableName=self.table, ReturnValues="ALL_OLD", Item={
            **head_key, **to_item({"chunk_pk": chunk_pk, "chunks": len(chunks),
                                   "bytes": len(raw), "taken_at": taken_at})}).get("Attributes")
        if old:
            previous = from_item(old)
            self._batch_write([{"DeleteRequest": {"Key": {
                "pk": to_value(previous["chunk_pk"]), "sk": to_value(f"{n:05d}")}}}
                for n in range(int(previous["chunks"]))])

    def _get_blob(self, cluster_id: str, blob: str) -> Any:
        head = self._ddb.get_item(TableName=self.table, ConsistentRead=True, Key={
            "pk": to_value(f"CLUSTER#{cluster_id}"), "sk": to_value(f"BLOB#{blob}")}).get("Item")
        if not head:
            return None
        meta = from_item(head)
        parts: list[bytes] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table, "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": to_value(meta["chunk_pk"])}}
        while True:
            page = self._ddb.query(**kwargs)
            parts.extend(bytes(i["data"]["B"]) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if len(parts) != int(meta["chunks"]):
            raise DependencyUnavailable("a cluster snapshot is being replaced; retry",
                                        code="snapshot_in_flux")
        return json.loads(gzip.decompress(b"".join(parts)))

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        batch_write(self._ddb, self.table, requests)

    @translate_errors("DynamoDB")
    def add_health(self, cluster_id: str, point: dict[str, Any]) -> None:
        """Append one health point."""
        self._ddb.put_item(TableName=self.table, Item=to_item({
            **point, "pk": f"CLUSTER#{cluster_id}#HEALTH", "sk": point["at"],
            "expires_at": days_from_now_epoch(HEALTH_DAYS)}))

    @translate_errors("DynamoDB")
    def health_history(self, cluster_id: str, *, since: str,
                       limit: int = 500) -> list[dict[str, Any]]:
        """Points since a time, oldest first."""
        result = self._ddb.query(
            TableName=self.table, Limit=limit, ScanIndexForward=False,
            KeyConditionExpression="pk = :pk AND sk >= :since",
            ExpressionAttributeValues={":pk": to_value(f"CLUSTER#{cluster_id}#HEALTH"),
                                       ":since": to_value(since)})
        points = [_plain(i) for i in result.get("Items", [])]
        return list(reversed(points))

    @translate_errors("DynamoDB")
    def log(self, cluster_id: str, entry: dict[str, Any]) -> None:
        """Append a connection log entry."""
        self._ddb.put_item(TableName=self.table, Item=to_item({
            **entry, "pk": f"CLUSTER#{cluster_id}#LOG",
            "sk": f"{entry['at']}#{uuid.uuid4().hex[:8]}",
            "expires_at": days_from_now_epoch(LOG_DAYS)}))

    @translate_errors("DynamoDB")
    def logs(self, cluster_id: str, *, limit: int) -> list[dict[str, Any]]:
        """Newest first."""
        result = self._ddb.query(
            TableName=self.table, Limit=limit, ScanIndexForward=False,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": to_value(f"CLUSTER#{cluster_id}#LOG")})
        return [_plain(i) for i in result.get("Items", [])]

    @translate_errors("DynamoDB")
    def forget(self, cluster_id: str) -> None:
        """Delete heads, chunks, health points and logs of a cluster."""
        partitions = [f"CLUSTER#{cluster_id}#HEALTH", f"CLUSTER#{cluster_id}#LOG"]
        for blob in ("SNAPSHOT", "FINDINGS"):
            head = self._ddb.get_item(TableName=self.table, Key={
                "pk": to_value(f"CLUSTER#{cluster_id}"), "sk": to_value(f"BLOB#{blob}")}
            ).get("Item")
            if head:
                partitions.append(from_item(head)["chunk_pk"])
        partitions.append(f"CLUSTER#{cluster_id}")
        for pk in partitions:
            self._delete_partition(pk)

    def _delete_partition(self, pk: str) -> None:
        kwargs: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "pk = :pk",
            "ProjectionExpression": "pk, sk", "ExpressionAttributeValues": {":pk": to_value(pk)}}
        while True:
            page = self._ddb.query(**kwargs)
            self._batch_write([{"DeleteRequest": {"Key": i}} for i in page.get("Items", [])])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def batch_write(ddb: Any, table: str, requests: list[dict[str, Any]]) -> None:
    """BatchWriteItem in groups of 25, retrying unprocessed items a bounded number of times."""
    for start in range(0, len(requests), BATCH):
        pending = {table: requests[start:start + BATCH]}
        for _ in range(8):  # unprocessed items are retried; the client backs off
            result = ddb.batch_write_item(RequestItems=pending)
            pending = result.get("UnprocessedItems") or {}
            if not pending:
                break
        else:
            raise DependencyUnavailable("DynamoDB kept items unprocessed; retry",
                                        dependency="DynamoDB")


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    data = strip_keys(from_item(item))
    data.pop("expires_at", None)
    return data
