"""Remediation action records on the ``incidents`` table.

A record is ``WS#<ws>#ACTION#<id>`` / ``ACTION`` (its body as JSON, its state and version as
attributes for conditional updates); GSI1 lists a workspace's actions newest first and GSI2
by state (pending approvals). An incident's actions are pointers in its item collection
(``ACTION#<time>#<id>``). Rate budgets count executions per target under
``WS#<ws>#BUDGET#<action>#<target>``, expiring after a day.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.aws import error_code, translate_errors
from chalicelib.adapters.dynamodb_incident_items import incident_pk, key
from chalicelib.adapters.dynamodb_operations import TableAdapter
from chalicelib.domain.clock import days_from_now_epoch, new_id, now_iso
from chalicelib.domain.errors import Conflict
from chalicelib.domain.remediation import ActionRecord, ActionStore

BUDGET_DAYS = 1


def _pk(workspace_id: str, action_id: str) -> str:
    return f"WS#{workspace_id}#ACTION#{action_id}"


def _index_values(record: ActionRecord) -> dict[str, Any]:
    sort = f"{record.created_at}#{record.id}"
    return {"gsi1pk": {"S": f"WS#{record.workspace_id}#ACTIONS"}, "gsi1sk": {"S": sort},
            "gsi2pk": {"S": f"WS#{record.workspace_id}#ACTIONS#{record.state}"},
            "gsi2sk": {"S": sort}}


class DynamoActionStore(TableAdapter, ActionStore):
    """ActionStore on one DynamoDB table."""

    @translate_errors("DynamoDB")
    def put(self, record: ActionRecord) -> None:
        """Write a new record (and its pointer in the incident) in one transaction."""
        item = {**key(_pk(record.workspace_id, record.id), "ACTION"),
                "body": {"S": record.model_dump_json()}, "state": {"S": record.state},
                "version": {"N": str(record.version)}, **_index_values(record)}
        writes = [{"Put": {"TableName": self.table, "Item": item,
                           "ConditionExpression": "attribute_not_exists(pk)"}}]
        if record.incident_id:
            writes.append({"Put": {"TableName": self.table, "Item": {
                **key(incident_pk(record.workspace_id, record.incident_id),
                      f"ACTION#{record.created_at}#{record.id}"),
                "action_id": {"S": record.id}}}})
        try:
            self._ddb.transact_write_items(TransactItems=writes)
        except Exception as exc:
            if error_code(exc) == "TransactionCanceledException":
                raise Conflict(f"action {record.id} already exists",
                               code="action_exists") from None
            raise

    @translate_errors("DynamoDB")
    def get(self, workspace_id: str, action_id: str) -> ActionRecord | None:
        """One record."""
        item = self._ddb.get_item(TableName=self.table, Key=key(
            _pk(workspace_id, action_id), "ACTION")).get("Item")
        return ActionRecord.model_validate_json(item["body"]["S"]) if item else None

    @translate_errors("DynamoDB")
    def update(self, record: ActionRecord, *, expect_state: str | None = None,
               **changes: Any) -> ActionRecord:
        """Optimistic update: the record must still be at its version (and state)."""
        new = record.model_copy(update={**changes, "updated_at": now_iso(),
                                        "version": record.version + 1})
        values = {":b": {"S": new.model_dump_json()}, ":s": {"S": new.state},
                  ":v": {"N": str(record.version)}, ":nv": {"N": str(new.version)},
                  ":g2": _index_values(new)["gsi2pk"]}
        condition = "version = :v"
        if expect_state is not None:
            condition += " AND #state = :expect"
            values[":expect"] = {"S": expect_state}
        try:
            self._ddb.update_item(
                TableName=self.table, Key=key(_pk(record.workspace_id, record.id), "ACTION"),
                UpdateExpression="SET body = :b, #state = :s, version = :nv, gsi2pk = :g2",
                ConditionExpression=condition, ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=values)
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise Conflict(f"action {record.id} changed while this step ran "
                               f"(expected state {expect_state or record.state})",
                               code="action_changed") from None
            raise
        return new

    @translate_errors("DynamoDB")
    def list(self, workspace_id: str, *, state: str | None = None,
             incident_id: str | None = None, limit: int = 50) -> list[ActionRecord]:
        """Newest first: by state through GSI2, by incident through its pointers."""
        if incident_id:
            return self._for_incident(workspace_id, incident_id, limit)
        index, pk = ("gsi2", f"WS#{workspace_id}#ACTIONS#{state}") if state else \
            ("gsi1", f"WS#{workspace_id}#ACTIONS")
        items = self._ddb.query(
            TableName=self.table, IndexName=index, KeyConditionExpression=f"{index}pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}}, ScanIndexForward=False,
            Limit=limit).get("Items", [])
        return [ActionRecord.model_validate_json(i["body"]["S"]) for i in items]

    def _for_incident(self, workspace_id: str, incident_id: str,
                      limit: int) -> list[ActionRecord]:
        pointers = self._ddb.query(
            TableName=self.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={":pk": {"S": incident_pk(workspace_id, incident_id)},
                                       ":p": {"S": "ACTION#"}},
            ScanIndexForward=False, Limit=limit).get("Items", [])
        found = [self.get(workspace_id, p["action_id"]["S"]) for p in pointers]
        return [r for r in found if r is not None]

    @translate_errors("DynamoDB")
    def count_recent(self, workspace_id: str, target: str, action: str, since: str) -> int:
        """Executions counted since ``since``."""
        return int(self._ddb.query(
            TableName=self.table, Select="COUNT",
            KeyConditionExpression="pk = :pk AND sk >= :since",
            ExpressionAttributeValues={
                ":pk": {"S": f"WS#{workspace_id}#BUDGET#{action}#{target}"},
                ":since": {"S": since}}).get("Count", 0))

    @translate_errors("DynamoDB")
    def note_execution(self, workspace_id: str, target: str, action: str, at: str) -> None:
        """Count one execution."""
        self._ddb.put_item(TableName=self.table, Item={
            **key(f"WS#{workspace_id}#BUDGET#{action}#{target}", f"{at}#{new_id('x')}"),
            "expires_at": {"N": str(days_from_now_epoch(BUDGET_DAYS))}})
