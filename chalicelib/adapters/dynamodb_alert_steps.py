"""Carrying out one lifecycle decision for one alert, as one conditional write."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.aws import error_code
from chalicelib.adapters.dynamo_codec import from_item, to_item
from chalicelib.adapters.dynamodb_incident_items import (
    PARENT_SK,
    STATE_NAMES,
    alert_payload,
    claim_key,
    correlation_pk,
    event,
    incident_item,
    incident_key,
    incident_pk,
    key,
    list_pk,
    put,
    put_event,
    to_incident,
)
from chalicelib.domain.clock import iso, new_id
from chalicelib.domain.lifecycle import Claim, Decision, IngestPolicy, correlation_subject
from chalicelib.domain.models import Alert, Incident, IngestOutcome

if TYPE_CHECKING:
    from chalicelib.adapters.dynamodb_incidents import DynamoIncidentRepository


class AlertStep:
    """Carries out one lifecycle decision for one alert."""

    def __init__(self, repo: DynamoIncidentRepository, *, workspace_id: str, alert: Alert,
                 actor: str, claim: Claim | None, decision: Decision, now: str,
                 policy: IngestPolicy) -> None:
        self.repo, self.table = repo, repo.table
        self.workspace_id, self.alert, self.actor = workspace_id, alert, actor
        self.claim, self.decision, self.now, self.policy = claim, decision, now, policy
        self.claim_key = claim_key(workspace_id, alert.dedup_key)

    def run(self) -> IngestOutcome | None:
        """Do the step; None if a concurrent writer got there first."""
        handlers: dict[str, Callable[[], IngestOutcome | None]] = {
            "open": self._open, "supersede": self._open, "touch": self._touch,
            "acknowledge": self._acknowledge, "resolve": self._resolve,
            "reopen": self._reopen, "ignore": self._ignore,
        }
        return handlers[self.decision.step]()

    def _outcome(self, incident_id: str | None, action: str, **extra: Any) -> IngestOutcome:
        deduplicated = action not in ("created", "ignored")
        return IngestOutcome(
            incident_id=incident_id, action=action, fingerprint=self.alert.fingerprint,
            status=self.alert.status, title=self.alert.title, deduplicated=deduplicated,
            dedup_strategy="fingerprint" if deduplicated else None,
            reason=self.decision.reason, **extra)

    def _received(self, pk: str) -> dict[str, Any]:
        return put_event(self.table, pk, event("alert_received", self.actor,
                                               alert_payload(self.alert), self.now))

    def _ignore(self) -> IngestOutcome:
        return self._outcome(self.claim.incident_id if self.claim else None, "ignored")

    def _open(self) -> IngestOutcome | None:
        previous = self.claim.incident_id if self.claim else None
        incident_id = new_id("inc-")
        parent, reason, correlation = self._correlation(incident_id)
        incident = Incident.open_from(
            self.alert, incident_id=incident_id, workspace_id=self.workspace_id,
            now=self.now, parent_id=parent, correlation_reason=reason,
            previous_incident_id=previous)
        pk = incident_pk(self.workspace_id, incident.id)
        created = {"title": incident.title, "reason": self.decision.reason,
                   "previous_incident_id": previous, "parent_id": parent,
                   "correlation_reason": reason}
        claim_item = {**self.claim_key, "incident_id": {"S": incident.id},
                      "state": {"S": "open"}, "created_at": {"S": self.now}}
        if previous is None:
            claim_put = put(self.table, claim_item, "attribute_not_exists(pk)")
        else:
            claim_put = put(self.table, claim_item, "incident_id = :old AND #state = :resolved",
                            {":old": {"S": previous}, ":resolved": {"S": "resolved"}})
            claim_put["Put"]["ExpressionAttributeNames"] = STATE_NAMES
        items = [claim_put, put(self.table, incident_item(incident)), self._received(pk),
                 put_event(self.table, pk, event(
                     "incident_created", "system",
                     {k: v for k, v in created.items() if v is not None}, self.now))]
        items += correlation
        if not self.repo.transact(items):
            return None
        return self._outcome(incident.id, "created", needs_diagnosis=True, parent_id=parent,
                             correlation_reason=reason, previous_incident_id=previous)

    def _correlation(self, incident_id: str,
                     ) -> tuple[str | None, str | None, list[dict[str, Any]]]:
        """The parent to join, or the correlation item that makes this incident a parent."""
        subject = correlation_subject(self.alert) if self.policy.correlation_enabled else None
        if subject is None:
            return None, None, []
        corr_key = key(correlation_pk(self.workspace_id, subject[0]), PARENT_SK)
        item = self.repo._ddb.get_item(TableName=self.table, Key=corr_key,
                                       ConsistentRead=True).get("Item")
        current = from_item(item) if item else None
        if current and current["window_ends_at"] > self.now:
            parent = current["incident_id"]
            link = put(self.table, to_item({
                "pk": incident_pk(self.workspace_id, parent), "sk": f"CHILD#{incident_id}",
                "incident_id": incident_id, "correlation_reason": subject[1],
                "created_at": self.now}))
            return parent, subject[1], [link]
        return None, None, [self._claim_parent(corr_key, current, incident_id)]

    def _claim_parent(self, corr_key: dict[str, Any], current: dict[str, Any] | None,
                      incident_id: str) -> dict[str, Any]:
        ends = _plus_seconds(self.now, self.policy.correlation_window_seconds)
        condition = ("attribute_not_exists(pk)" if current is None
                     else "window_ends_at = :previous")
        values = None if current is None else {":previous": {"S": current["window_ends_at"]}}
        return put(self.table, {**corr_key, **to_item({
            "incident_id": incident_id, "window_ends_at": ends,
            "expires_at": _epoch(ends) + 86400})}, condition, values)

    def _touch(self) -> IngestOutcome | None:
        """Count a duplicate alert on the open incident: one UpdateItem."""
        incident_id = self.claim.incident_id
        try:
            result = self.repo._ddb.update_item(
                TableName=self.table, Key=incident_key(self.workspace_id, incident_id),
                UpdateExpression=("SET alert_count = alert_count + :one, last_seen_at = :now, "
                                  "updated_at = :now"),
                ConditionExpression="attribute_exists(pk) AND #state <> :resolved",
                ExpressionAttributeNames=STATE_NAMES,
                ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"S": self.now},
                                           ":resolved": {"S": "resolved"}},
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            # The claim says open but its incident is gone or resolved: release the claim.
            self.repo.transact([{"Delete": {
                "TableName": self.table, "Key": self.claim_key,
                "ConditionExpression": "incident_id = :id",
                "ExpressionAttributeValues": {":id": {"S": incident_id}}}}])
            return None
        incident = to_incident(result["Attributes"])
        return self._outcome(incident_id, "deduplicated", parent_id=incident.parent_id,
                             needs_diagnosis=incident.diagnosis_enqueued_at is None)

    def _acknowledge(self) -> IngestOutcome | None:
        incident_id = self.claim.incident_id
        pk = incident_pk(self.workspace_id, incident_id)
        update = {"Update": {
            "TableName": self.table, "Key": incident_key(self.workspace_id, incident_id),
            "UpdateExpression": ("SET #state = :ack, acknowledged_at = :now, "
                                 "acknowledged_by = :actor, updated_at = :now, "
                                 "last_seen_at = :now, gsi2pk = :gsi2pk, "
                                 "alert_count = alert_count + :one, version = version + :one"),
            "ConditionExpression": "#state = :open",
            "ExpressionAttributeNames": STATE_NAMES,
            "ExpressionAttributeValues": {
                ":ack": {"S": "acknowledged"}, ":open": {"S": "open"}, ":now": {"S": self.now},
                ":actor": {"S": self.actor}, ":one": {"N": "1"},
                ":gsi2pk": {"S": list_pk(self.workspace_id, "acknowledged")}}}}
        acknowledged = event("incident_acknowledged", self.actor,
                             {"reason": "the source reports the alert acknowledged"}, self.now)
        if self.repo.transact([update, self._received(pk),
                               put_event(self.table, pk, acknowledged)]):
            return self._outcome(incident_id, "acknowledged")
        return self._touch()  # already acknowledged (or no longer open): count it

    def _resolve(self) -> IngestOutcome | None:
        incident_id = self.claim.incident_id
        pk = incident_pk(self.workspace_id, incident_id)
        claim = claim_update(self.table, self.claim_key, incident_id=incident_id,
                             current="open", target="resolved", now=self.now,
                             ended_at=self.alert.ends_at)
        update = {"Update": {
            "TableName": self.table, "Key": incident_key(self.workspace_id, incident_id),
            "UpdateExpression": ("SET #state = :resolved, resolved_at = :now, "
                                 "resolved_by = :actor, updated_at = :now, "
                                 "last_seen_at = :now, gsi2pk = :gsi2pk, "
                                 "alert_count = alert_count + :one, version = version + :one"),
            "ConditionExpression": "attribute_exists(pk) AND #state <> :resolved",
            "ExpressionAttributeNames": STATE_NAMES,
            "ExpressionAttributeValues": {
                ":resolved": {"S": "resolved"}, ":now": {"S": self.now},
                ":actor": {"S": self.actor}, ":one": {"N": "1"},
                ":gsi2pk": {"S": list_pk(self.workspace_id, "resolved")}}}}
        resolved = event("incident_resolved", self.actor, {"reason": self.decision.reason},
                         self.now)
        if self.repo.transact([claim, update, self._received(pk),
                               put_event(self.table, pk, resolved)]):
            return self._outcome(incident_id, "resolved")
        return None

    def _reopen(self) -> IngestOutcome | None:
        incident_id = self.claim.incident_id
        pk = incident_pk(self.workspace_id, incident_id)
        claim = claim_update(self.table, self.claim_key, incident_id=incident_id,
                             current="resolved", target="open", now=self.now)
        state = "acknowledged" if self.alert.acknowledged else "open"
        update = {"Update": {
            "TableName": self.table, "Key": incident_key(self.workspace_id, incident_id),
            "UpdateExpression": (
                "SET #state = :state, updated_at = :now, last_seen_at = :now, "
                "gsi2pk = :gsi2pk, alert_count = alert_count + :one, "
                "reopened_count = if_not_exists(reopened_count, :zero) + :one, "
                "version = version + :one REMOVE resolved_at, resolved_by"),
            "ConditionExpression": "#state = :resolved",
            "ExpressionAttributeNames": STATE_NAMES,
            "ExpressionAttributeValues": {
                ":state": {"S": state}, ":resolved": {"S": "resolved"}, ":now": {"S": self.now},
                ":one": {"N": "1"}, ":zero": {"N": "0"},
                ":gsi2pk": {"S": list_pk(self.workspace_id, state)}}}}
        reopened = event("incident_reopened", "system", {"reason": self.decision.reason},
                         self.now)
        if self.repo.transact([claim, update, self._received(pk),
                               put_event(self.table, pk, reopened)]):
            return self._outcome(incident_id, "reopened")
        return None


def claim_update(table: str, ckey: dict[str, Any], *, incident_id: str, current: str,
                 target: str, now: str, ended_at: str | None = None) -> dict[str, Any]:
    """Move a claim between open and resolved, only if it still points at the incident."""
    values: dict[str, Any] = {":id": {"S": incident_id}, ":current": {"S": current},
                              ":target": {"S": target}}
    if target == "resolved":
        expression = "SET #state = :target, resolved_at = :now"
        values[":now"] = {"S": now}
        if ended_at:
            expression += ", ended_at = :ended"
            values[":ended"] = {"S": ended_at}
    else:
        expression = "SET #state = :target REMOVE resolved_at, ended_at"
    return {"Update": {
        "TableName": table, "Key": ckey, "UpdateExpression": expression,
        # Claims written before claim states existed have no state and are open.
        "ConditionExpression": ("incident_id = :id AND (#state = :current"
                                + (" OR attribute_not_exists(#state))" if current == "open"
                                   else ")")),
        "ExpressionAttributeNames": STATE_NAMES, "ExpressionAttributeValues": values,
    }}


def _plus_seconds(at: str, seconds: int) -> str:
    return iso(datetime.fromisoformat(at) + timedelta(seconds=seconds))


def _epoch(at: str) -> int:
    return int(datetime.fromisoformat(at).timestamp())
