"""Security findings, scan status and scan durations in the ``incidents`` table.

A workspace's findings share the partition ``WS#<ws>#SECFINDINGS``, sorted by
``<type>#<namespace>#<name>#<finding id>``: one resource's findings are one begins_with
Query and the whole set one paged Query. GSI1 (``WS#<ws>#SECFINDING#<id>``) finds one by
id. The scan status (sk ``STATUS``), a duration counter (sk ``DURATIONS``) and a ring of
the latest durations (sk ``DURATION#<slot>``) share the partition ``WS#<ws>#SECSCAN``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.aws import client, error_code, translate_errors
from chalicelib.adapters.dynamo_codec import decode_cursor, encode_cursor, from_item, to_value
from chalicelib.adapters.dynamodb_incident_items import key, strip_keys
from chalicelib.domain.clock import parse_time
from chalicelib.domain.errors import BadRequest, Conflict, DependencyUnavailable
from chalicelib.domain.models import Page
from chalicelib.domain.security import (
    ClearResult,
    ScanDuration,
    ScanStatus,
    ScanStatusReport,
    SecurityFinding,
    SecurityFindingReport,
    SecurityFindingStore,
    finding_id,
)

BATCH_SIZE = 25  # BatchWriteItem's limit
BATCH_ATTEMPTS = 5
DURATION_SLOTS = 100
DURATION_DAYS = 30
FINDING_GSI_SK = "FINDING"
_FINDING_ID = re.compile(r"^finding-[0-9a-f]{24}$")


def findings_pk(workspace_id: str) -> str:
    """Partition of a workspace's findings."""
    return f"WS#{workspace_id}#SECFINDINGS"


def scan_pk(workspace_id: str) -> str:
    """Partition of a workspace's scan status and durations."""
    return f"WS#{workspace_id}#SECSCAN"


def resource_prefix(resource_type: str, namespace: str, resource_name: str) -> str:
    """Sort-key prefix of one resource's findings ('#' cannot occur in the parts)."""
    return f"{resource_type}#{namespace}#{resource_name}#"


def _by_id_pk(workspace_id: str, fid: str) -> str:
    return f"WS#{workspace_id}#SECFINDING#{fid}"


def _to_finding(item: dict[str, Any]) -> SecurityFinding:
    return SecurityFinding.model_validate(strip_keys(from_item(item)))


def _update(sets: dict[str, Any], extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """An UpdateItem's SET expression, with every name aliased (many are reserved words)."""
    names = {f"#a{i}": name for i, name in enumerate(sets)}
    values = {f":a{i}": to_value(value) for i, value in enumerate(sets.values())}
    parts = [f"#a{i} = :a{i}" for i in range(len(sets))]
    return {"UpdateExpression": "SET " + ", ".join([*parts, *extra]),
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}


class DynamoSecurityFindingStore(SecurityFindingStore):
    """Findings and scan records on the incidents table: GetItem and Query only, never Scan."""

    def __init__(self, table: str) -> None:
        self.table = table

    @property
    def _ddb(self) -> Any:
        return client("dynamodb")

    @translate_errors("DynamoDB")
    def upsert(self, workspace_id: str, report: SecurityFindingReport,
               now: str) -> SecurityFinding:
        """One UpdateItem: create the finding or refresh it; first_seen and dismissed stay."""
        check = str(report.check_name)
        fid = finding_id(workspace_id, report.resource_type, report.namespace,
                         report.resource_name, check)
        sort = resource_prefix(report.resource_type, report.namespace,
                               report.resource_name) + fid
        data = report.model_dump(exclude={"timestamp"})
        data.update(id=fid, timestamp=parse_time(report.timestamp) or now, last_seen=now,
                    gsi1pk=_by_id_pk(workspace_id, fid), gsi1sk=FINDING_GSI_SK)
        spec = _update(data, ("first_seen = if_not_exists(first_seen, :now)",
                              "dismissed = if_not_exists(dismissed, :false)",
                              "occurrences = if_not_exists(occurrences, :zero) + :one"))
        spec["ExpressionAttributeValues"].update({
            ":now": to_value(now), ":false": {"BOOL": False}, ":zero": {"N": "0"},
            ":one": {"N": "1"}, ":check": to_value(check)})
        spec["ExpressionAttributeNames"]["#check"] = "check_name"
        try:
            item = self._ddb.update_item(
                TableName=self.table, Key=key(findings_pk(workspace_id), sort),
                # Two keys hashing to one id would share an item; refuse rather than mix them.
                ConditionExpression="attribute_not_exists(pk) OR #check = :check",
                ReturnValues="ALL_NEW", **spec)["Attributes"]
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise Conflict(f"finding id {fid} already names another check",
                               code="finding_id_collision") from None
            raise
        return _to_finding(item)

    @translate_errors("DynamoDB")
    def clear(self, workspace_id: str, *, keep_dismissed: bool, max_items: int) -> ClearResult:
        """Query the findings partition page by page and batch-delete what it returns."""
        query: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": findings_pk(workspace_id)}}}
        if keep_dismissed:
            query["FilterExpression"] = "attribute_not_exists(dismissed) OR dismissed = :no"
            query["ExpressionAttributeValues"][":no"] = {"BOOL": False}
        deleted = 0
        for keys in self._key_pages(query):
            room = max_items - deleted
            self._delete(keys[:room])
            deleted += min(len(keys), room)
            if len(keys) > room:
                return ClearResult(deleted=deleted, complete=False)
        return ClearResult(deleted=deleted, complete=True)

    @translate_errors("DynamoDB")
    def delete_resource(self, workspace_id: str, resource_type: str, namespace: str,
                        resource_name: str) -> int:
        """Query the resource's sort-key range and batch-delete it, dismissed findings too."""
        query = {"KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                 "ExpressionAttributeValues": {
                     ":pk": {"S": findings_pk(workspace_id)},
                     ":prefix": {"S": resource_prefix(resource_type, namespace,
                                                      resource_name)}}}
        deleted = 0
        for keys in self._key_pages(query):
            self._delete(keys)
            deleted += len(keys)
        return deleted

    def _key_pages(self, query: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """The primary keys a Query selects, one page at a time."""
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True,
                                  "ProjectionExpression": "pk, sk", **query}
        while True:
            result = self._ddb.query(**kwargs)
            keys = [{"pk": i["pk"], "sk": i["sk"]} for i in result.get("Items", [])]
            if keys:
                yield keys
            if not result.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]

    def _delete(self, keys: list[dict[str, Any]]) -> None:
        """BatchWriteItem deletes, 25 at a time, retrying what DynamoDB left unprocessed."""
        for start in range(0, len(keys), BATCH_SIZE):
            pending = [{"DeleteRequest": {"Key": k}} for k in keys[start:start + BATCH_SIZE]]
            for attempt in range(BATCH_ATTEMPTS):
                result = self._ddb.batch_write_item(RequestItems={self.table: pending})
                pending = result.get("UnprocessedItems", {}).get(self.table, [])
                if not pending:
                    break
                time.sleep(0.05 * 2 ** attempt)  # throttled: back off before retrying
            if pending:
                raise DependencyUnavailable(
                    "DynamoDB throttled the deletes; some findings remain, retry the request",
                    dependency="DynamoDB")

    @translate_errors("DynamoDB")
    def list(self, workspace_id: str, *, limit: int, cursor: str | None,
             resource: tuple[str, str, str] | None = None) -> Page:
        """Findings ordered by resource type, namespace and name; a cursor pages on."""
        pk = findings_pk(workspace_id)
        values: dict[str, Any] = {":pk": {"S": pk}}
        condition = "pk = :pk"
        prefix = resource_prefix(*resource) if resource else ""
        if prefix:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = {"S": prefix}
        kwargs: dict[str, Any] = {"TableName": self.table, "Limit": limit,
                                  "KeyConditionExpression": condition,
                                  "ExpressionAttributeValues": values}
        start = decode_cursor(cursor, partition=("pk", pk))
        if start:
            if not start["sk"]["S"].startswith(prefix):
                raise BadRequest("cursor does not belong to this list; pass back next_cursor "
                                 "unchanged", code="bad_cursor")
            kwargs["ExclusiveStartKey"] = start
        result = self._ddb.query(**kwargs)
        return Page(items=[_to_finding(i) for i in result.get("Items", [])],
                    next_cursor=encode_cursor(result.get("LastEvaluatedKey")))

    def _locate(self, workspace_id: str, fid: str) -> dict[str, Any] | None:
        if not _FINDING_ID.match(fid):
            return None
        items = self._ddb.query(
            TableName=self.table, IndexName="gsi1", Limit=1,
            KeyConditionExpression="gsi1pk = :pk AND gsi1sk = :sk",
            ExpressionAttributeValues={":pk": {"S": _by_id_pk(workspace_id, fid)},
                                       ":sk": {"S": FINDING_GSI_SK}}).get("Items", [])
        return items[0] if items else None

    @translate_errors("DynamoDB")
    def get(self, workspace_id: str, finding_id: str) -> SecurityFinding | None:
        """One Query on GSI1 by the finding's id."""
        item = self._locate(workspace_id, finding_id)
        return _to_finding(item) if item else None

    @translate_errors("DynamoDB")
    def set_dismissed(self, workspace_id: str, finding_id: str,
                      dismissed: bool) -> SecurityFinding | None:
        """Locate the finding by id, then flip its flag if it still exists."""
        item = self._locate(workspace_id, finding_id)
        if not item:
            return None
        try:
            updated = self._ddb.update_item(
                TableName=self.table, Key={"pk": item["pk"], "sk": item["sk"]},
                ConditionExpression="attribute_exists(pk)", ReturnValues="ALL_NEW",
                **_update({"dismissed": dismissed}))["Attributes"]
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None  # deleted between the lookup and the update
            raise
        return _to_finding(updated)

    @translate_errors("DynamoDB")
    def put_scan_status(self, workspace_id: str, report: ScanStatusReport,
                        now: str) -> ScanStatus:
        """Overwrite the status; started_at and completed_at each keep their latest time."""
        sets: dict[str, Any] = {"status": report.status, "updated_at": now,
                                f"{report.status}_at": now}
        if report.reason is not None:
            sets["reason"] = report.reason
        spec = _update(sets)
        if report.reason is None:
            spec["UpdateExpression"] += " REMOVE reason"
        item = self._ddb.update_item(TableName=self.table,
                                     Key=key(scan_pk(workspace_id), "STATUS"),
                                     ReturnValues="ALL_NEW", **spec)["Attributes"]
        return ScanStatus.model_validate(strip_keys(from_item(item)))

    @translate_errors("DynamoDB")
    def scan_status(self, workspace_id: str) -> ScanStatus | None:
        """One GetItem."""
        item = self._ddb.get_item(TableName=self.table,
                                  Key=key(scan_pk(workspace_id), "STATUS")).get("Item")
        return ScanStatus.model_validate(strip_keys(from_item(item))) if item else None

    @translate_errors("DynamoDB")
    def add_duration(self, workspace_id: str, duration_seconds: float, now: str) -> ScanDuration:
        """Count the report atomically, then write it into a slot of a fixed-size ring."""
        counter = self._ddb.update_item(
            TableName=self.table, Key=key(scan_pk(workspace_id), "DURATIONS"),
            UpdateExpression="ADD seq :one", ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW")["Attributes"]
        seq = int(counter["seq"]["N"])
        expires = datetime.fromisoformat(now) + timedelta(days=DURATION_DAYS)
        item = {**key(scan_pk(workspace_id), f"DURATION#{(seq - 1) % DURATION_SLOTS:03d}"),
                "duration_seconds": to_value(duration_seconds), "recorded_at": {"S": now},
                "seq": {"N": str(seq)}, "expires_at": {"N": str(int(expires.timestamp()))}}
        self._ddb.put_item(TableName=self.table, Item=item)
        return ScanDuration(duration_seconds=duration_seconds, recorded_at=now)

    @translate_errors("DynamoDB")
    def durations(self, workspace_id: str, limit: int) -> list[ScanDuration]:
        """One Query of the ring (at most DURATION_SLOTS items), newest first."""
        result = self._ddb.query(
            TableName=self.table, ConsistentRead=True,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :d)",
            ExpressionAttributeValues={":pk": {"S": scan_pk(workspace_id)},
                                       ":d": {"S": "DURATION#"}})
        rows = sorted((from_item(i) for i in result.get("Items", [])),
                      key=lambda row: row["seq"], reverse=True)
        return [ScanDuration(duration_seconds=r["duration_seconds"],
                             recorded_at=r["recorded_at"]) for r in rows[:limit]]
