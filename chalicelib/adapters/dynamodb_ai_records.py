"""A workspace's knowledge entries and its LLM usage records on the ``incidents`` table.

Knowledge entries: ``WS#<ws>#KNOWLEDGE`` / ``ENTRY#<id>`` (one Query lists them; a
workspace keeps a few hundred at most). Usage: ``WS#<ws>#LLMUSAGE`` / ``<at>#<id>``,
kept 400 days, read by time range.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.aws import error_code, translate_errors
from chalicelib.adapters.dynamodb_incident_items import key
from chalicelib.adapters.dynamodb_operations import TableAdapter
from chalicelib.domain.clock import days_from_now_epoch, new_id
from chalicelib.domain.diagnosis_ports import KnowledgeStore, LlmUsageLog
from chalicelib.domain.knowledge import KnowledgeEntry

USAGE_DAYS = 400
MAX_ENTRIES = 500


class _Table(TableAdapter):
    def _query_all(self, limit: int, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while len(items) < limit:
            page = self._ddb.query(TableName=self.table, **kwargs)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return items[:limit]


class DynamoKnowledgeStore(_Table, KnowledgeStore):
    """KnowledgeStore on one DynamoDB table."""

    @translate_errors("DynamoDB")
    def list(self, workspace_id: str) -> list[KnowledgeEntry]:
        """Every entry of the workspace, by id."""
        items = self._query_all(
            MAX_ENTRIES, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"WS#{workspace_id}#KNOWLEDGE"}})
        return [KnowledgeEntry.model_validate_json(i["body"]["S"]) for i in items]

    @translate_errors("DynamoDB")
    def put(self, workspace_id: str, entry: KnowledgeEntry) -> None:
        """Create or replace an entry."""
        self._ddb.put_item(TableName=self.table, Item={
            **key(f"WS#{workspace_id}#KNOWLEDGE", f"ENTRY#{entry.id}"),
            "body": {"S": entry.model_dump_json()}})

    @translate_errors("DynamoDB")
    def delete(self, workspace_id: str, entry_id: str) -> bool:
        """Remove an entry; False if there was none."""
        try:
            self._ddb.delete_item(TableName=self.table,
                                  Key=key(f"WS#{workspace_id}#KNOWLEDGE", f"ENTRY#{entry_id}"),
                                  ConditionExpression="attribute_exists(pk)")
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True


class DynamoLlmUsageLog(_Table, LlmUsageLog):
    """LlmUsageLog on one DynamoDB table."""

    @translate_errors("DynamoDB")
    def record(self, workspace_id: str, usage: dict[str, Any]) -> None:
        """Append one usage record."""
        self._ddb.put_item(TableName=self.table, Item={
            **key(f"WS#{workspace_id}#LLMUSAGE", f"{usage['at']}#{new_id('use-')}"),
            "body": {"S": json.dumps(usage)},
            "expires_at": {"N": str(days_from_now_epoch(USAGE_DAYS))}})

    @translate_errors("DynamoDB")
    def since(self, workspace_id: str, since: str, limit: int = 5000) -> list[dict[str, Any]]:
        """Records at or after ``since``, oldest first."""
        items = self._query_all(
            limit, KeyConditionExpression="pk = :pk AND sk >= :since",
            ExpressionAttributeValues={":pk": {"S": f"WS#{workspace_id}#LLMUSAGE"},
                                       ":since": {"S": since}})
        return [json.loads(i["body"]["S"]) for i in items]
