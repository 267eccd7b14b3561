"""Workflow/runbook runs and saved runbooks on the ``incidents`` table.

A run is ``WS#<ws>#RUN#<id>`` / ``RUN`` (its body as JSON and a version for optimistic
writes), kept 90 days by the table's TTL. Saved runbooks share one partition per workspace,
``WS#<ws>#RUNBOOKS``, one item per runbook id, read back with one Query.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.aws import error_code, translate_errors
from chalicelib.adapters.dynamodb_incident_items import key
from chalicelib.adapters.dynamodb_operations import TableAdapter
from chalicelib.domain.clock import days_from_now_epoch, now_iso
from chalicelib.domain.errors import Conflict
from chalicelib.domain.workflows import RunStore, WorkflowRun

RUN_DAYS = 90


def _run_pk(workspace_id: str, run_id: str) -> str:
    return f"WS#{workspace_id}#RUN#{run_id}"


def _runbooks_pk(workspace_id: str) -> str:
    return f"WS#{workspace_id}#RUNBOOKS"


class DynamoRunStore(TableAdapter, RunStore):
    """RunStore on one DynamoDB table."""

    @translate_errors("DynamoDB")
    def put_run(self, run: WorkflowRun) -> None:
        """Write a new run (Conflict if the id exists)."""
        item = {**key(_run_pk(run.workspace_id, run.id), "RUN"),
                "body": {"S": run.model_dump_json()}, "version": {"N": str(run.version)},
                "expires_at": {"N": str(days_from_now_epoch(RUN_DAYS))}}
        try:
            self._ddb.put_item(TableName=self.table, Item=item,
                               ConditionExpression="attribute_not_exists(pk)")
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise Conflict(f"run {run.id} already exists", code="run_exists") from None
            raise

    @translate_errors("DynamoDB")
    def get_run(self, workspace_id: str, run_id: str) -> WorkflowRun | None:
        """One run (strongly consistent: a status read follows its own write)."""
        item = self._ddb.get_item(TableName=self.table, ConsistentRead=True, Key=key(
            _run_pk(workspace_id, run_id), "RUN")).get("Item")
        return WorkflowRun.model_validate_json(item["body"]["S"]) if item else None

    @translate_errors("DynamoDB")
    def save_run(self, run: WorkflowRun) -> WorkflowRun:
        """Optimistic write: the stored run must still be at the version read."""
        new = run.model_copy(update={"updated_at": now_iso(), "version": run.version + 1})
        try:
            self._ddb.update_item(
                TableName=self.table, Key=key(_run_pk(run.workspace_id, run.id), "RUN"),
                UpdateExpression="SET body = :b, version = :nv",
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":b": {"S": new.model_dump_json()},
                                           ":v": {"N": str(run.version)},
                                           ":nv": {"N": str(new.version)}})
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise Conflict(f"run {run.id} changed while it was refreshed",
                               code="run_changed") from None
            raise
        return new

    @translate_errors("DynamoDB")
    def put_runbook(self, workspace_id: str, runbook: dict[str, Any]) -> None:
        """Store or replace a runbook under its id."""
        self._ddb.put_item(TableName=self.table, Item={
            **key(_runbooks_pk(workspace_id), str(runbook["id"])),
            "body": {"S": json.dumps(runbook, ensure_ascii=False, sort_keys=True)}})

    @translate_errors("DynamoDB")
    def list_runbooks(self, workspace_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """The workspace's saved runbooks, by id."""
        items = self._ddb.query(
            TableName=self.table, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": _runbooks_pk(workspace_id)}},
            Limit=limit).get("Items", [])
        return [json.loads(i["body"]["S"]) for i in items]
