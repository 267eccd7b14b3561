"""Reads of the ``incidents`` table: one GetItem or one Query each, never a Scan."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.aws import client, translate_errors
from chalicelib.adapters.dynamo_codec import decode_cursor, encode_cursor, from_item, to_value
from chalicelib.adapters.dynamodb_incident_items import (
    claim_key,
    incident_key,
    incident_pk,
    list_pk,
    strip_keys,
    to_claim,
    to_incident,
)
from chalicelib.domain.lifecycle import Claim
from chalicelib.domain.models import Incident, Page, TimelineEvent


class IncidentReads:
    """Incident, list, timeline and group queries on one table."""

    table: str

    @property
    def _ddb(self) -> Any:
        return client("dynamodb")

    def _claim(self, workspace_id: str, dedup_key: str) -> Claim | None:
        item = self._ddb.get_item(TableName=self.table, Key=claim_key(workspace_id, dedup_key),
                                  ConsistentRead=True).get("Item")
        return to_claim(item)

    @translate_errors("DynamoDB")
    def get(self, workspace_id: str, incident_id: str) -> Incident | None:
        """Return the incident, or None if the workspace has no such incident."""
        item = self._ddb.get_item(TableName=self.table,
                                  Key=incident_key(workspace_id, incident_id)).get("Item")
        return to_incident(item) if item else None

    @translate_errors("DynamoDB")
    def list(self, workspace_id: str, *, state: str | None, limit: int,
             cursor: str | None, since: str | None = None) -> Page:
        """Query GSI1 (all) or GSI2 (one state), newest first, optionally created since."""
        index, attr = ("gsi2", "gsi2pk") if state else ("gsi1", "gsi1pk")
        sort_attr = attr.replace("pk", "sk")
        partition = list_pk(workspace_id, state)
        condition = f"{attr} = :pk"
        values: dict[str, Any] = {":pk": to_value(partition)}
        if since:
            condition += f" AND {sort_attr} >= :since"
            values[":since"] = to_value(since)
        kwargs: dict[str, Any] = {
            "TableName": self.table, "IndexName": index, "Limit": limit,
            "KeyConditionExpression": condition, "ScanIndexForward": False,
            "ExpressionAttributeValues": values,
        }
        start = decode_cursor(cursor, partition=(attr, partition), index_sort=sort_attr)
        if start:
            kwargs["ExclusiveStartKey"] = start
        result = self._ddb.query(**kwargs)
        return Page(items=[to_incident(i) for i in result.get("Items", [])],
                    next_cursor=encode_cursor(result.get("LastEvaluatedKey")))

    @translate_errors("DynamoDB")
    def timeline(self, workspace_id: str, incident_id: str, *, limit: int,
                 cursor: str | None) -> Page:
        """Query the incident's item collection for timeline events, oldest first."""
        pk = incident_pk(workspace_id, incident_id)
        kwargs: dict[str, Any] = {
            "TableName": self.table, "Limit": limit, "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :evt)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":evt": {"S": "EVT#"}},
        }
        start = decode_cursor(cursor, partition=("pk", pk))
        if start:
            kwargs["ExclusiveStartKey"] = start
        result = self._ddb.query(**kwargs)
        events = [TimelineEvent.model_validate(strip_keys(from_item(i)))
                  for i in result.get("Items", [])]
        return Page(items=events, next_cursor=encode_cursor(result.get("LastEvaluatedKey")))

    @translate_errors("DynamoDB")
    def children(self, workspace_id: str, incident_id: str,
                 limit: int = 100) -> list[dict[str, Any]]:
        """The incidents correlated into this one, oldest first."""
        result = self._ddb.query(
            TableName=self.table, Limit=limit,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :child)",
            ExpressionAttributeValues={":pk": {"S": incident_pk(workspace_id, incident_id)},
                                       ":child": {"S": "CHILD#"}},
        )
        return [strip_keys(from_item(i)) for i in result.get("Items", [])]
