"""Registered clusters in the ``incidents`` table.

A cluster is one item ``WS#<ws>#CLUSTERS`` / ``CLUSTER#<name>`` (so a name is unique in its
workspace by a conditional put), found by id through GSI1 ``CLUSTERID#<id>``. Its sealed
credentials live on the item and are stripped from every read but one. A share is a pointer
item ``WS#<other>#CLUSTERS`` / ``SHARED#<id>`` in the other workspace's partition.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from chalicelib.adapters.aws import client, translate_errors
from chalicelib.adapters.dynamo_codec import from_item, to_item, to_value
from chalicelib.adapters.dynamodb_incident_items import strip_keys
from chalicelib.domain.cluster_ports import ClusterRegistry
from chalicelib.domain.clusters import Cluster
from chalicelib.domain.errors import Conflict

_FIELDS = {f.name for f in fields(Cluster)}
MAX_CLUSTERS = 500


def _pk(workspace_id: str) -> str:
    return f"WS#{workspace_id}#CLUSTERS"


def _cluster(data: dict[str, Any], seen_from: str | None = None) -> Cluster:
    found = Cluster(**{k: v for k, v in strip_keys(data).items() if k in _FIELDS})
    if seen_from and seen_from != found.workspace_id:
        found.shared_from = found.workspace_id
    return found


class DynamoClusterRegistry(ClusterRegistry):
    """Clusters on DynamoDB."""

    def __init__(self, table: str) -> None:
        self.table = table

    @property
    def _ddb(self) -> Any:
        return client("dynamodb")

    def _item(self, cluster: Cluster) -> dict[str, Any]:
        data = {k: v for k, v in asdict(cluster).items() if k != "shared_from"}
        return {**data, "pk": _pk(cluster.workspace_id), "sk": f"CLUSTER#{cluster.name}",
                "gsi1pk": f"CLUSTERID#{cluster.cluster_id}", "gsi1sk": "CLUSTER",
                "gsi2pk": "CLUSTERS", "gsi2sk": f"{cluster.workspace_id}#{cluster.name}"}

    @translate_errors("DynamoDB")
    def add(self, cluster: Cluster, sealed_credentials: str) -> None:
        """Store a new cluster; Conflict if its name is taken."""
        item = {**self._item(cluster), "credentials": sealed_credentials}
        try:
            self._ddb.put_item(TableName=self.table, Item=to_item(item),
                               ConditionExpression="attribute_not_exists(pk)")
        except self._ddb.exceptions.ConditionalCheckFailedException:
            raise Conflict(f"a cluster named '{cluster.name}' is already registered",
                           code="cluster_exists") from None

    @translate_errors("DynamoDB")
    def list(self, workspace_id: str) -> list[Cluster]:
        """Own clusters and shared ones, by name."""
        result = self._ddb.query(
            TableName=self.table, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": to_value(_pk(workspace_id))}, Limit=MAX_CLUSTERS)
        own, shared_ids = [], []
        for raw in result.get("Items", []):
            data = from_item(raw)
            if data["sk"].startswith("CLUSTER#"):
                own.append(_cluster(data))
            elif data["sk"].startswith("SHARED#"):
                shared_ids.append(data["cluster_id"])
        shared = [c for c in (self._by_id(i, workspace_id) for i in shared_ids) if c]
        return sorted(own + shared, key=lambda c: (c.name, c.cluster_id))

    @translate_errors("DynamoDB")
    def all_clusters(self, limit: int) -> list[Cluster]:
        """Every own cluster of every workspace, through GSI2 (no scan)."""
        found: list[Cluster] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table, "IndexName": "gsi2",
            "KeyConditionExpression": "gsi2pk = :pk",
            "ExpressionAttributeValues": {":pk": to_value("CLUSTERS")}}
        while len(found) < limit:
            page = self._ddb.query(**kwargs)
            found.extend(_cluster(from_item(i)) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]

    def _by_id(self, cluster_id: str, workspace_id: str) -> Cluster | None:
        result = self._ddb.query(
            TableName=self.table, IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk AND gsi1sk = :sk",
            ExpressionAttributeValues={":pk": to_value(f"CLUSTERID#{cluster_id}"),
                                       ":sk": to_value("CLUSTER")})
        for raw in result.get("Items", []):
            found = _cluster(from_item(raw), workspace_id)
            if found.workspace_id == workspace_id or workspace_id in found.shared_with:
                return found
        return None

    @translate_errors("DynamoDB")
    def get(self, workspace_id: str, name_or_id: str) -> Cluster | None:
        """By name in the workspace, else by id (own or shared), else a shared one's name."""
        raw = self._ddb.get_item(TableName=self.table, ConsistentRead=True, Key={
            "pk": to_value(_pk(workspace_id)), "sk": to_value(f"CLUSTER#{name_or_id}")}).get("Item")
        if raw:
            return _cluster(from_item(raw))
        by_id = self._by_id(name_or_id, workspace_id)
        if by_id:
            return by_id
        return next((c for c in self.list(workspace_id)
                     if c.shared_from and c.name == name_or_id), None)

    @translate_errors("DynamoDB")
    def save(self, cluster: Cluster) -> Cluster:
        """Write back the cluster's fields if its version is unchanged."""
        expected = cluster.version_no
        cluster.version_no = expected + 1
        data = {k: v for k, v in self._item(cluster).items() if k not in ("pk", "sk")}
        names = {f"#{k}": k for k in data}
        values = {f":{k}": to_value(v) for k, v in data.items() if v is not None}
        sets = [f"#{k} = :{k}" for k, v in data.items() if v is not None]
        removes = [f"#{k}" for k, v in data.items() if v is None]
        expression = "SET " + ", ".join(sets) + (f" REMOVE {', '.join(removes)}" if removes else "")
        try:
            self._ddb.update_item(
                TableName=self.table, Key=self._key(cluster), UpdateExpression=expression,
                ConditionExpression="#version_no = :expected",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={**values, ":expected": to_value(expected)})
        except self._ddb.exceptions.ConditionalCheckFailedException:
            cluster.version_no = expected
            raise Conflict(f"cluster '{cluster.name}' changed while this request ran; retry",
                           code="cluster_changed") from None
        return cluster

    def _key(self, cluster: Cluster) -> dict[str, Any]:
        return {"pk": to_value(_pk(cluster.workspace_id)),
                "sk": to_value(f"CLUSTER#{cluster.name}")}

    @translate_errors("DynamoDB")
    def sealed_credentials(self, cluster: Cluster) -> str:
        """The encrypted credentials."""
        raw = self._ddb.get_item(TableName=self.table, Key=self._key(cluster),
                                 ProjectionExpression="credentials").get("Item") or {}
        return str(from_item(raw).get("credentials") or "")

    @translate_errors("DynamoDB")
    def replace_credentials(self, cluster: Cluster, sealed_credentials: str) -> None:
        """Rotate the encrypted credentials of an existing cluster."""
        try:
            self._ddb.update_item(
                TableName=self.table, Key=self._key(cluster),
                UpdateExpression="SET credentials = :c", ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":c": to_value(sealed_credentials)})
        except self._ddb.exceptions.ConditionalCheckFailedException:
            raise Conflict(f"cluster '{cluster.name}' was removed", code="cluster_gone") from None

    @translate_errors("DynamoDB")
    def delete(self, cluster: Cluster) -> None:
        """Remove the cluster and the share pointers of other workspaces."""
        for other in cluster.shared_with:
            self._ddb.delete_item(TableName=self.table, Key={
                "pk": to_value(_pk(other)), "sk": to_value(f"SHARED#{cluster.cluster_id}")})
        self._ddb.delete_item(TableName=self.table, Key=self._key(cluster))

    @translate_errors("DynamoDB")
    def share(self, cluster: Cluster, workspace_id: str) -> None:
        """Record the share on the cluster and drop a pointer in the other workspace."""
        if workspace_id not in cluster.shared_with:
            cluster.shared_with = [*cluster.shared_with, workspace_id]
            self.save(cluster)
        self._ddb.put_item(TableName=self.table, Item=to_item({
            "pk": _pk(workspace_id), "sk": f"SHARED#{cluster.cluster_id}",
            "cluster_id": cluster.cluster_id, "owner": cluster.workspace_id}))
