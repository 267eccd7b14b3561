"""Incidents, timelines and fingerprint claims in the DynamoDB ``incidents`` table.

One item collection per incident (pk ``WS#<ws>#INC#<id>``): the incident (sk ``INCIDENT``)
and its timeline (sk ``EVT#<time>#<id>``). An open fingerprint is claimed by an item
``WS#<ws>#FP#<dedup key>`` whose conditional creation makes one alert map to one open incident.
GSI1 lists a workspace's incidents newest first; GSI2 the same per state.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.aws import client, error_code, translate_errors
from chalicelib.adapters.dynamo_codec import (
    decode_cursor,
    encode_cursor,
    from_item,
    to_item,
    to_value,
)
from chalicelib.domain.clock import new_id, now_iso
from chalicelib.domain.errors import DependencyUnavailable, NotFound
from chalicelib.domain.models import Alert, Incident, IngestOutcome, Page, TimelineEvent
from chalicelib.domain.ports import IncidentRepository

INCIDENT_SK = "INCIDENT"
OPEN_SK = "OPEN"
# Cancellations caused by a concurrent writer: re-read and try again.
_TRANSIENT_CONFLICTS = ("TransactionCanceledException", "TransactionConflictException")
_KEY_ATTRS = ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "version")
_MAX_ATTEMPTS = 4


def incident_pk(workspace_id: str, incident_id: str) -> str:
    """Partition key of an incident's item collection."""
    return f"WS#{workspace_id}#INC#{incident_id}"


def fingerprint_pk(workspace_id: str, dedup_key: str) -> str:
    """Partition key of the claim on an open fingerprint."""
    return f"WS#{workspace_id}#FP#{dedup_key}"


def list_pk(workspace_id: str, state: str | None = None) -> str:
    """GSI partition listing a workspace's incidents, optionally of one state."""
    return f"WS#{workspace_id}#INCIDENTS" + (f"#{state}" if state else "")


class DynamoIncidentRepository(IncidentRepository):
    """IncidentRepository on one DynamoDB table."""

    def __init__(self, table: str) -> None:
        self.table = table

    @property
    def _ddb(self) -> Any:
        return client("dynamodb")

    # --- writes -------------------------------------------------------------------------
    @translate_errors("DynamoDB")
    def record_alert(self, workspace_id: str, alert: Alert, actor: str) -> IngestOutcome:
        """Open, deduplicate into, or resolve the alert's incident; retried on races."""
        claim_key = {"pk": {"S": fingerprint_pk(workspace_id, alert.dedup_key)},
                     "sk": {"S": OPEN_SK}}
        for _ in range(_MAX_ATTEMPTS):
            try:
                outcome = self._record_once(workspace_id, alert, actor, claim_key)
            except Exception as exc:
                if error_code(exc) not in _TRANSIENT_CONFLICTS:
                    raise
                continue
            if outcome is not None:
                return outcome
        raise DependencyUnavailable("the incident was changed concurrently too many times; "
                                    "retry the request", code="write_contention")

    def _record_once(self, workspace_id: str, alert: Alert, actor: str,
                     claim_key: dict[str, Any]) -> IngestOutcome | None:
        """One attempt; None when a concurrent writer won and the caller should re-read."""
        claim = self._ddb.get_item(TableName=self.table, Key=claim_key,
                                   ConsistentRead=True).get("Item")
        incident_id = claim["incident_id"]["S"] if claim else None
        if alert.status == "resolved":
            if incident_id is None:
                return _outcome(alert, None, "ignored",
                                reason="no open incident for this alert")
            if self._resolve(workspace_id, incident_id, claim_key, alert, actor):
                return _outcome(alert, incident_id, "resolved")
        elif incident_id is not None:
            incident = self._touch(workspace_id, incident_id, claim_key)
            if incident is not None:
                return _outcome(alert, incident_id, "deduplicated",
                                needs_diagnosis=incident.diagnosis_enqueued_at is None)
        elif (created := self._open(workspace_id, alert, claim_key, actor)) is not None:
            return _outcome(alert, created, "created", needs_diagnosis=True)
        return None

    def _open(self, workspace_id: str, alert: Alert, claim_key: dict[str, Any],
              actor: str) -> str | None:
        now = now_iso()
        incident = Incident.open_from(alert, incident_id=new_id("inc-"),
                                      workspace_id=workspace_id, now=now)
        pk = incident_pk(workspace_id, incident.id)
        received = _event("alert_received", actor, _alert_payload(alert), now)
        created = _event("incident_created", "system", {"title": incident.title}, now)
        items = [
            {"Put": {"TableName": self.table,
                     "Item": {**claim_key, "incident_id": {"S": incident.id},
                              "created_at": {"S": now}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": self.table, "Item": self._incident_item(incident)}},
            {"Put": {"TableName": self.table, "Item": _event_item(pk, received)}},
            {"Put": {"TableName": self.table, "Item": _event_item(pk, created)}},
        ]
        return incident.id if self._transact(items) else None

    def _touch(self, workspace_id: str, incident_id: str,
               claim_key: dict[str, Any]) -> Incident | None:
        """Count a duplicate alert on the open incident; None if it is no longer open."""
        now = now_iso()
        try:
            result = self._ddb.update_item(
                TableName=self.table,
                Key=_incident_key(workspace_id, incident_id),
                UpdateExpression=("SET alert_count = alert_count + :one, last_seen_at = :now, "
                                  "updated_at = :now, version = version + :one"),
                ConditionExpression="attribute_exists(pk) AND #state <> :resolved",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"S": now},
                                           ":resolved": {"S": "resolved"}},
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            # The claim points at an incident that is gone or resolved: release the claim.
            self._transact([{"Delete": {
                "TableName": self.table, "Key": claim_key,
                "ConditionExpression": "incident_id = :id",
                "ExpressionAttributeValues": {":id": {"S": incident_id}}}}])
            return None
        return _to_incident(result["Attributes"])

    def _resolve(self, workspace_id: str, incident_id: str, claim_key: dict[str, Any],
                 alert: Alert, actor: str) -> bool:
        now = now_iso()
        pk = incident_pk(workspace_id, incident_id)
        received = _event("alert_received", actor, _alert_payload(alert), now)
        resolved = _event("incident_resolved", actor, {"reason": "resolved alert received"}, now)
        items = [
            {"Delete": {"TableName": self.table, "Key": claim_key,
                        "ConditionExpression": "incident_id = :id",
                        "ExpressionAttributeValues": {":id": {"S": incident_id}}}},
            {"Update": {
                "TableName": self.table, "Key": _incident_key(workspace_id, incident_id),
                "UpdateExpression": ("SET #state = :resolved, resolved_at = :now,"
                                     " updated_at = :now, last_seen_at = :now, gsi2pk = :gsi2pk,"
                                     " alert_count = alert_count + :one,"
                                     " version = version + :one"),
                "ConditionExpression": "attribute_exists(pk) AND #state <> :resolved",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": {
                    ":resolved": {"S": "resolved"}, ":now": {"S": now}, ":one": {"N": "1"},
                    ":gsi2pk": {"S": list_pk(workspace_id, "resolved")}},
            }},
            {"Put": {"TableName": self.table, "Item": _event_item(pk, received)}},
            {"Put": {"TableName": self.table, "Item": _event_item(pk, resolved)}},
        ]
        return self._transact(items)

    @translate_errors("DynamoDB")
    def mark_diagnosis_enqueued(self, workspace_id: str, incident_ids: list[str],
                                at: str) -> None:
        """Stamp diagnosis_enqueued_at so duplicates stop re-requesting a diagnosis."""
        for incident_id in incident_ids:
            try:
                self._ddb.update_item(
                    TableName=self.table, Key=_incident_key(workspace_id, incident_id),
                    UpdateExpression="SET diagnosis_enqueued_at = :at",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues={":at": {"S": at}},
                )
            except Exception as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise

    @translate_errors("DynamoDB")
    def mark_diagnosis_requested(self, workspace_id: str, incident_id: str, at: str,
                                 payload: dict[str, Any]) -> bool:
        """Record diagnosis_requested exactly once per incident."""
        pk = incident_pk(workspace_id, incident_id)
        event = _event("diagnosis_requested", "system", payload, at)
        done = self._transact([
            {"Update": {
                "TableName": self.table, "Key": _incident_key(workspace_id, incident_id),
                "UpdateExpression": "SET diagnosis_requested_at = :at",
                "ConditionExpression": ("attribute_exists(pk) AND "
                                        "attribute_not_exists(diagnosis_requested_at)"),
                "ExpressionAttributeValues": {":at": {"S": at}},
            }},
            {"Put": {"TableName": self.table, "Item": _event_item(pk, event)}},
        ])
        if done:
            return True
        if self.get(workspace_id, incident_id) is None:
            raise NotFound(f"incident {incident_id} does not exist in workspace {workspace_id}")
        return False

    def _transact(self, items: list[dict[str, Any]]) -> bool:
        """Run a transaction; False only if one of its conditions failed.

        A cancellation for any other reason (a conflicting transaction, throttling) raises,
        so callers never mistake it for "already done".
        """
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except Exception as exc:
            if error_code(exc) == "TransactionCanceledException" and _condition_failed(exc):
                return False
            raise
        return True

    def _incident_item(self, incident: Incident) -> dict[str, Any]:
        sort = f"{incident.created_at}#{incident.id}"
        data = incident.model_dump()
        data.update(
            pk=incident_pk(incident.workspace_id, incident.id), sk=INCIDENT_SK,
            gsi1pk=list_pk(incident.workspace_id), gsi1sk=sort,
            gsi2pk=list_pk(incident.workspace_id, incident.state), gsi2sk=sort, version=1,
        )
        return to_item(data)

    # --- reads --------------------------------------------------------------------------
    @translate_errors("DynamoDB")
    def get(self, workspace_id: str, incident_id: str) -> Incident | None:
        """Return the incident, or None if the workspace has no such incident."""
        item = self._ddb.get_item(TableName=self.table,
                                  Key=_incident_key(workspace_id, incident_id)).get("Item")
        return _to_incident(item) if item else None

    @translate_errors("DynamoDB")
    def list(self, workspace_id: str, *, state: str | None, limit: int,
             cursor: str | None) -> Page:
        """Query GSI1 (all) or GSI2 (one state), newest first."""
        index, attr = ("gsi2", "gsi2pk") if state else ("gsi1", "gsi1pk")
        partition = list_pk(workspace_id, state)
        kwargs: dict[str, Any] = {
            "TableName": self.table, "IndexName": index, "Limit": limit,
            "KeyConditionExpression": f"{attr} = :pk", "ScanIndexForward": False,
            "ExpressionAttributeValues": {":pk": to_value(partition)},
        }
        start = decode_cursor(cursor, partition=(attr, partition),
                              index_sort=attr.replace("pk", "sk"))
        if start:
            kwargs["ExclusiveStartKey"] = start
        result = self._ddb.query(**kwargs)
        return Page(items=[_to_incident(i) for i in result.get("Items", [])],
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
        events = [TimelineEvent.model_validate(_strip(from_item(i)))
                  for i in result.get("Items", [])]
        return Page(items=events, next_cursor=encode_cursor(result.get("LastEvaluatedKey")))


def _condition_failed(exc: BaseException) -> bool:
    reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
    return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)


def _incident_key(workspace_id: str, incident_id: str) -> dict[str, Any]:
    return {"pk": {"S": incident_pk(workspace_id, incident_id)}, "sk": {"S": INCIDENT_SK}}


def _strip(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in _KEY_ATTRS}


def _to_incident(item: dict[str, Any]) -> Incident:
    return Incident.model_validate(_strip(from_item(item)))


def _event(event_type: str, actor: str, payload: dict[str, Any], at: str) -> TimelineEvent:
    return TimelineEvent(id=new_id("evt-"), event_type=event_type, actor=actor,
                         payload=payload, created_at=at)


def _event_item(pk: str, event: TimelineEvent) -> dict[str, Any]:
    # The event type is part of the sort key so that events written in one transaction
    # (same timestamp) keep their causal order: alert_received < incident_created.
    order = _EVENT_ORDER.get(event.event_type, 5)
    return to_item({"pk": pk, "sk": f"EVT#{event.created_at}#{order}#{event.id}",
                    **event.model_dump()})


_EVENT_ORDER = {"alert_received": 1, "incident_created": 2, "incident_resolved": 3}


def _alert_payload(alert: Alert) -> dict[str, Any]:
    return {"source": alert.source, "severity": alert.severity, "status": alert.status,
            "fingerprint": alert.fingerprint, "title": alert.title}


def _outcome(alert: Alert, incident_id: str | None, action: str, *,
             needs_diagnosis: bool = False, reason: str | None = None) -> IngestOutcome:
    deduplicated = action in ("deduplicated", "resolved")
    return IngestOutcome(
        incident_id=incident_id, action=action, fingerprint=alert.fingerprint,
        status=alert.status, title=alert.title, deduplicated=deduplicated,
        dedup_strategy="fingerprint" if deduplicated else None,
        needs_diagnosis=needs_diagnosis, reason=reason,
    )
