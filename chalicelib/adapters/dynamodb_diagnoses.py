"""Diagnoses and the similar-incidents index on the ``incidents`` table.

A diagnosis is written twice in one transaction: into its incident's item collection
(sk ``DIAG#<time>#<id>``, so the newest is one Query) and under ``WS#<ws>#DIAG#<id>`` (so a
``diagnosis_id`` resolves with one GetItem). Diagnoses of questions have only the second.
The similar index has one item per (signature token, incident): ``WS#<ws>#SIM#<token>``,
sorted by time, so a lookup is a handful of Queries, never a Scan.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.aws import translate_errors
from chalicelib.adapters.dynamo_codec import from_item, to_item
from chalicelib.adapters.dynamodb_cluster_data import batch_write
from chalicelib.adapters.dynamodb_incident_items import incident_pk, key
from chalicelib.adapters.dynamodb_operations import TableAdapter
from chalicelib.domain.clock import days_from_now_epoch
from chalicelib.domain.diagnosis import Diagnosis
from chalicelib.domain.diagnosis_ports import DiagnosisStore, SimilarIndex

QUESTION_DAYS = 90
SIMILAR_DAYS = 365


def _by_id_pk(workspace_id: str, diagnosis_id: str) -> str:
    return f"WS#{workspace_id}#DIAG#{diagnosis_id}"


class DynamoDiagnosisStore(TableAdapter, DiagnosisStore):
    """DiagnosisStore on one DynamoDB table."""

    @translate_errors("DynamoDB")
    def put(self, workspace_id: str, diagnosis: Diagnosis) -> None:
        """Write the diagnosis under its id and, if it has one, into its incident."""
        body = diagnosis.model_dump_json()
        by_id: dict[str, Any] = {**key(_by_id_pk(workspace_id, diagnosis.diagnosis_id),
                                       "DIAGNOSIS"), "body": {"S": body}}
        items = []
        if diagnosis.incident_id:
            sk = f"DIAG#{diagnosis.created_at}#{diagnosis.diagnosis_id}"
            items.append({"Put": {"TableName": self.table, "Item": {
                **key(incident_pk(workspace_id, diagnosis.incident_id), sk),
                "body": {"S": body}}}})
        else:
            by_id["expires_at"] = {"N": str(days_from_now_epoch(QUESTION_DAYS))}
        items.append({"Put": {"TableName": self.table, "Item": by_id}})
        self._ddb.transact_write_items(TransactItems=items)

    @translate_errors("DynamoDB")
    def latest(self, workspace_id: str, incident_id: str) -> Diagnosis | None:
        """The newest diagnosis in the incident's collection."""
        found = self._ddb.query(
            TableName=self.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={":pk": {"S": incident_pk(workspace_id, incident_id)},
                                       ":p": {"S": "DIAG#"}},
            ScanIndexForward=False, Limit=1).get("Items", [])
        return Diagnosis.model_validate_json(found[0]["body"]["S"]) if found else None

    @translate_errors("DynamoDB")
    def get(self, workspace_id: str, diagnosis_id: str) -> Diagnosis | None:
        """One diagnosis by id."""
        item = self._ddb.get_item(TableName=self.table, Key=key(
            _by_id_pk(workspace_id, diagnosis_id), "DIAGNOSIS")).get("Item")
        return Diagnosis.model_validate_json(item["body"]["S"]) if item else None


class DynamoSimilarIndex(TableAdapter, SimilarIndex):
    """SimilarIndex on one DynamoDB table."""

    @translate_errors("DynamoDB")
    def add(self, workspace_id: str, record: dict[str, Any], tokens: list[str]) -> None:
        """One item per token, in batches of 25."""
        sk = f"{record['created_at']}#{record['incident_id']}"
        expires = days_from_now_epoch(SIMILAR_DAYS)
        puts = [{"PutRequest": {"Item": to_item({
            "pk": f"WS#{workspace_id}#SIM#{token}", "sk": sk, "tokens": json.dumps(tokens),
            "expires_at": expires, **record})}} for token in tokens]
        batch_write(self._ddb, self.table, puts)

    @translate_errors("DynamoDB")
    def lookup(self, workspace_id: str, tokens: list[str],
               per_token: int = 25) -> list[dict[str, Any]]:
        """The newest ``per_token`` incidents of each token, merged by incident."""
        found: dict[str, dict[str, Any]] = {}
        for token in tokens:
            items = self._ddb.query(
                TableName=self.table, KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"WS#{workspace_id}#SIM#{token}"}},
                ScanIndexForward=False, Limit=per_token).get("Items", [])
            for item in items:
                data = from_item(item)
                data["tokens"] = json.loads(data.get("tokens") or "[]")
                for attr in ("pk", "sk", "expires_at"):
                    data.pop(attr, None)
                found.setdefault(data["incident_id"], data)
        return list(found.values())
