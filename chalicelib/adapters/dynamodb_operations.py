"""Operational records in the ``incidents`` table: dead letters, deploys, deliveries, settings.

Each is its own item type with its own partition, read by Query on its key or GSI1, and
expired by the table's TTL (``expires_at``) where it is not kept forever.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from chalicelib.adapters.aws import client, error_code, translate_errors
from chalicelib.adapters.dynamo_codec import from_item, to_item, to_value
from chalicelib.adapters.dynamodb_incident_items import strip_keys
from chalicelib.domain.clock import days_from_now_epoch
from chalicelib.domain.ports import (
    DeadLetter,
    DeadLetterStore,
    DeliveryLog,
    DeployLog,
    WorkspaceSettings,
)

DEAD_LETTER_DAYS = 14
DEPLOY_DAYS = 30
DELIVERY_DAYS = 7
# A DynamoDB item is at most 400 KB; keep the payload well under it.
MAX_PAYLOAD_CHARS = 300_000


class TableAdapter:
    """Base of adapters that keep one item type in the incidents table."""

    def __init__(self, table: str) -> None:
        self.table = table

    @property
    def _ddb(self) -> Any:
        return client("dynamodb")

    def _query(self, **kwargs: Any) -> list[dict[str, Any]]:
        result = self._ddb.query(TableName=self.table, **kwargs)
        return [strip_keys(from_item(i)) for i in result.get("Items", [])]


class DynamoDeadLetterStore(TableAdapter, DeadLetterStore):
    """Dead letters under ``WS#<ws>#DEADLETTER``, newest first, kept two weeks."""

    @translate_errors("DynamoDB")
    def put(self, entry: DeadLetter) -> None:
        """Keep a failed payload (as JSON text, truncated if it is very large)."""
        text = json.dumps(entry.payload, default=str, ensure_ascii=False) \
            if not isinstance(entry.payload, str) else entry.payload
        truncated = len(text) > MAX_PAYLOAD_CHARS
        data = {**asdict(entry), "payload": text[:MAX_PAYLOAD_CHARS], "truncated": truncated,
                "pk": f"WS#{entry.workspace_id}#DEADLETTER",
                "sk": f"{entry.timestamp}#{entry.id}",
                "expires_at": days_from_now_epoch(DEAD_LETTER_DAYS)}
        self._ddb.put_item(TableName=self.table, Item=to_item(data))

    @translate_errors("DynamoDB")
    def list(self, workspace_id: str, limit: int) -> list[DeadLetter]:
        """The workspace's dead letters, newest first."""
        rows = self._query(KeyConditionExpression="pk = :pk", ScanIndexForward=False,
                           Limit=limit,
                           ExpressionAttributeValues={
                               ":pk": to_value(f"WS#{workspace_id}#DEADLETTER")})
        return [DeadLetter(**{**row, "payload": _json_or_text(row.get("payload", ""))})
                for row in rows]


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class DynamoDeployLog(TableAdapter, DeployLog):
    """Deploys under ``WS#<ws>#DEPLOYS#<service>``; GSI1 lists a workspace's recent ones."""

    @translate_errors("DynamoDB")
    def add(self, workspace_id: str, deploy: dict[str, Any]) -> None:
        """Store a deploy event for thirty days."""
        sort = f"{deploy['timestamp']}#{deploy['deploy_id']}"
        item = {**deploy, "workspace_id": workspace_id,
                "pk": f"WS#{workspace_id}#DEPLOYS#{deploy['service']}", "sk": sort,
                "gsi1pk": f"WS#{workspace_id}#DEPLOYS", "gsi1sk": sort,
                "expires_at": days_from_now_epoch(DEPLOY_DAYS)}
        self._ddb.put_item(TableName=self.table, Item=to_item(item))

    @translate_errors("DynamoDB")
    def recent(self, workspace_id: str, *, limit: int, since: str | None = None,
               service: str | None = None, until: str | None = None) -> list[dict[str, Any]]:
        """Deploys newest first, of one service (its partition) or all (GSI1)."""
        if service:
            pk_attr, sk_attr, kwargs = "pk", "sk", {}
            partition = f"WS#{workspace_id}#DEPLOYS#{service}"
        else:
            pk_attr, sk_attr, kwargs = "gsi1pk", "gsi1sk", {"IndexName": "gsi1"}
            partition = f"WS#{workspace_id}#DEPLOYS"
        condition = f"{pk_attr} = :pk"
        values: dict[str, Any] = {":pk": to_value(partition)}
        if since or until:
            condition += f" AND {sk_attr} BETWEEN :low AND :high"
            values[":low"] = to_value(since or "0")
            values[":high"] = to_value((until or "9") + "~")
        rows = self._query(KeyConditionExpression=condition, ExpressionAttributeValues=values,
                           ScanIndexForward=False, Limit=limit, **kwargs)
        return [{k: v for k, v in row.items() if k != "workspace_id"} for row in rows]


class DynamoDeliveryLog(TableAdapter, DeliveryLog):
    """Processed delivery ids under ``WS#<ws>#DELIVERY#<source>#<id>``, kept a week."""

    @staticmethod
    def _key(workspace_id: str, source: str, delivery_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"WS#{workspace_id}#DELIVERY#{source}#{delivery_id[:512]}"},
                "sk": {"S": "DELIVERY"}}

    @translate_errors("DynamoDB")
    def seen(self, workspace_id: str, source: str, delivery_id: str) -> bool:
        """Whether this delivery was processed before."""
        item = self._ddb.get_item(TableName=self.table, ConsistentRead=True,
                                  Key=self._key(workspace_id, source, delivery_id)).get("Item")
        return item is not None

    @translate_errors("DynamoDB")
    def remember(self, workspace_id: str, source: str, delivery_id: str) -> None:
        """Record a processed delivery; recording it twice is harmless."""
        item = {**self._key(workspace_id, source, delivery_id),
                "expires_at": {"N": str(days_from_now_epoch(DELIVERY_DAYS))}}
        try:
            self._ddb.put_item(TableName=self.table, Item=item,
                               ConditionExpression="attribute_not_exists(pk)")
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise


class DynamoWorkspaceSettings(TableAdapter, WorkspaceSettings):
    """Settings documents under ``WS#<ws>#SETTINGS``, one item per name."""

    @translate_errors("DynamoDB")
    def get(self, workspace_id: str, name: str) -> dict[str, Any] | None:
        """A settings document, or None if never set."""
        item = self._ddb.get_item(TableName=self.table, Key={
            "pk": {"S": f"WS#{workspace_id}#SETTINGS"}, "sk": {"S": name}}).get("Item")
        return from_item(item).get("value") if item else None

    @translate_errors("DynamoDB")
    def put(self, workspace_id: str, name: str, value: dict[str, Any]) -> None:
        """Store a settings document."""
        self._ddb.put_item(TableName=self.table, Item=to_item({
            "pk": f"WS#{workspace_id}#SETTINGS", "sk": name, "value": value}))
