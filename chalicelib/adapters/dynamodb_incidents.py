"""Incident writes on the ``incidents`` table: the alert lifecycle in conditional writes.

Every alert costs one read of its fingerprint's claim and at most one write: a single
UpdateItem for a duplicate, one TransactWriteItems for anything that changes state (open,
resolve, reopen, acknowledge). The claims of a payload's alerts are read together, 100 per
BatchGetItem. Races lose a condition and are retried from a fresh read.
Key layout: see ``dynamodb_incident_items``.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.aws import error_code, translate_errors
from chalicelib.adapters.dynamo_codec import to_value
from chalicelib.adapters.dynamodb_alert_steps import AlertStep, claim_update
from chalicelib.adapters.dynamodb_incident_items import (
    STATE_NAMES,
    claim_key,
    event,
    fingerprint_pk,
    incident_key,
    incident_pk,
    list_pk,
    put,
    put_event,
    to_claim,
)
from chalicelib.adapters.dynamodb_incident_reads import IncidentReads
from chalicelib.domain.clock import now_iso
from chalicelib.domain.errors import Conflict, DependencyUnavailable, NotFound
from chalicelib.domain.lifecycle import (
    Claim,
    IngestPolicy,
    check_transition,
    decide,
)
from chalicelib.domain.models import Alert, Incident, IngestOutcome, TimelineEvent
from chalicelib.domain.ports import IncidentRepository

# Cancellations caused by a concurrent writer: re-read and try again.
_TRANSIENT_CONFLICTS = ("TransactionCanceledException", "TransactionConflictException")
_MAX_ATTEMPTS = 4
_BATCH_GET_KEYS = 100  # BatchGetItem's limit
_UNREAD = object()  # a claim not read yet (None means: read, and there is no claim)


class DynamoIncidentRepository(IncidentReads, IncidentRepository):
    """IncidentRepository on one DynamoDB table."""

    def __init__(self, table: str) -> None:
        self.table = table

    # --- the alert lifecycle ------------------------------------------------------------
    @translate_errors("DynamoDB")
    def record_alert(self, workspace_id: str, alert: Alert, actor: str,
                     policy: IngestPolicy | None = None) -> IngestOutcome:
        """Open, deduplicate into, acknowledge, resolve or reopen the alert's incident."""
        return self._record(workspace_id, alert, actor, policy or IngestPolicy(), _UNREAD)

    @translate_errors("DynamoDB")
    def record_alerts(self, workspace_id: str, alerts: list[tuple[Alert, str]],
                      policy: IngestPolicy | None = None) -> list[IngestOutcome]:
        """Record a payload's alerts in order, their claims read in batches first.

        A claim read ahead serves only the first alert of its fingerprint: a later one in the
        same payload must see what the earlier one did, so it reads the claim again.
        """
        policy = policy or IngestPolicy()
        ahead = self._claims(workspace_id, {alert.dedup_key for alert, _ in alerts})
        return [self._record(workspace_id, alert, actor, policy,
                             ahead.pop(alert.dedup_key, _UNREAD))
                for alert, actor in alerts]

    def _claims(self, workspace_id: str, dedup_keys: set[str]) -> dict[str, Claim | None]:
        """The claims of several fingerprints (None: no claim); a key left out is unread."""
        if len(dedup_keys) <= 1:
            return {}  # one GetItem does it
        by_pk = {fingerprint_pk(workspace_id, k): k for k in dedup_keys}
        pks = sorted(by_pk)
        found: dict[str, Claim | None] = {}
        for start in range(0, len(pks), _BATCH_GET_KEYS):
            read = self._batch_get([claim_key(workspace_id, by_pk[pk])
                                    for pk in pks[start:start + _BATCH_GET_KEYS]])
            found.update({by_pk[pk]: to_claim(item) for pk, item in read.items()})
        return found

    def _batch_get(self, keys: list[dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
        """Items by pk (None: no such item); keys still unprocessed after a retry are left
        out, for the caller to read one by one."""
        found: dict[str, dict[str, Any] | None] = {}
        for _ in range(2):
            reply = self._ddb.batch_get_item(RequestItems={
                self.table: {"Keys": keys, "ConsistentRead": True}})
            items = {i["pk"]["S"]: i for i in reply.get("Responses", {}).get(self.table, [])}
            left = reply.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
            unread = {k["pk"]["S"] for k in left}
            found.update({k["pk"]["S"]: items.get(k["pk"]["S"]) for k in keys
                          if k["pk"]["S"] not in unread})
            keys = left
            if not keys:
                break
        return found

    def _record(self, workspace_id: str, alert: Alert, actor: str, policy: IngestPolicy,
                claim: Any) -> IngestOutcome:
        """Attempts until one holds; the first may use a claim read ahead."""
        why = "a concurrent change"
        for _ in range(_MAX_ATTEMPTS):
            if claim is _UNREAD:
                claim = self._claim(workspace_id, alert.dedup_key)
            try:
                outcome = self._record_once(workspace_id, alert, actor, policy, claim)
            except Exception as exc:
                if error_code(exc) not in _TRANSIENT_CONFLICTS:
                    raise
                why, outcome = _cancellation_reasons(exc), None
            if outcome is not None:
                return outcome
            claim = _UNREAD
        # Say why: a throttled transaction is cancelled too, and is not a concurrent change.
        raise DependencyUnavailable(f"the incident's write was cancelled {_MAX_ATTEMPTS} times "
                                    f"(last: {why}); retry the request",
                                    code="write_contention")

    def _record_once(self, workspace_id: str, alert: Alert, actor: str,
                     policy: IngestPolicy, claim: Claim | None) -> IngestOutcome | None:
        """One attempt; None when a concurrent writer won and the caller should re-read."""
        now = now_iso()
        decision = decide(claim, alert, now, policy)
        return AlertStep(self, workspace_id=workspace_id, alert=alert, actor=actor, claim=claim,
                         decision=decision, now=now, policy=policy).run()

    @translate_errors("DynamoDB")
    def mark_diagnosis_enqueued(self, workspace_id: str, incident_ids: list[str],
                                at: str) -> None:
        """Stamp diagnosis_enqueued_at so duplicates stop re-requesting a diagnosis."""
        for incident_id in incident_ids:
            try:
                self._ddb.update_item(
                    TableName=self.table, Key=incident_key(workspace_id, incident_id),
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
        done = self.transact([
            {"Update": {
                "TableName": self.table, "Key": incident_key(workspace_id, incident_id),
                "UpdateExpression": "SET diagnosis_requested_at = :at",
                "ConditionExpression": ("attribute_exists(pk) AND "
                                        "attribute_not_exists(diagnosis_requested_at)"),
                "ExpressionAttributeValues": {":at": {"S": at}},
            }},
            put_event(self.table, pk, event("diagnosis_requested", "system", payload, at)),
        ])
        if done:
            return True
        if self.get(workspace_id, incident_id) is None:
            raise NotFound(f"incident {incident_id} does not exist in workspace {workspace_id}")
        return False

    # --- changes made by people -----------------------------------------------------------
    @translate_errors("DynamoDB")
    def transition(self, workspace_id: str, incident_id: str, target: str, actor: str,
                   reason: str | None = None) -> Incident:
        """Move an incident to another state by hand, keeping its fingerprint claim in step."""
        incident = self.get(workspace_id, incident_id)
        if incident is None:
            raise NotFound(f"incident '{incident_id}' not found", code="incident_not_found")
        check_transition(incident.state, target)
        if target == incident.state:
            return incident
        now = now_iso()
        items = [self._state_update(incident, target, actor, now, reason),
                 put_event(self.table, incident_pk(workspace_id, incident_id),
                           event(_TRANSITION_EVENTS[(incident.state, target)], actor,
                                 {"from": incident.state, "to": target, "reason": reason},
                                 now))]
        items += self._claim_follow(incident, target, now)
        if not self.transact(items):
            raise Conflict(f"incident '{incident_id}' changed while this request ran; "
                           "read it again and retry", code="concurrent_update")
        updated = self.get(workspace_id, incident_id)
        assert updated is not None  # it was just written
        return updated

    def _state_update(self, incident: Incident, target: str, actor: str,
                      now: str, reason: str | None = None) -> dict[str, Any]:
        sets = ["#state = :target", "updated_at = :now", "gsi2pk = :gsi2pk",
                "version = version + :one"]
        removes: list[str] = []
        values: dict[str, Any] = {
            ":target": {"S": target}, ":now": {"S": now}, ":one": {"N": "1"},
            ":gsi2pk": {"S": list_pk(incident.workspace_id, target)},
            ":version": {"N": str(incident.version)},
        }
        if target in ("acknowledged", "resolved"):
            field = "acknowledged" if target == "acknowledged" else "resolved"
            sets += [f"{field}_at = :now", f"{field}_by = :actor"]
            values[":actor"] = {"S": actor}
            if target == "resolved" and reason:
                # What fixed it, for the similar-incidents index to offer next time.
                sets.append("resolution = :reason")
                values[":reason"] = {"S": reason[:1000]}
        elif incident.state == "acknowledged":
            removes += ["acknowledged_at", "acknowledged_by"]
        elif incident.state == "resolved":
            removes += ["resolved_at", "resolved_by", "resolution"]
            sets.append("reopened_count = if_not_exists(reopened_count, :zero) + :one")
            values[":zero"] = {"N": "0"}
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes)
                                                 if removes else "")
        return {"Update": {
            "TableName": self.table, "Key": incident_key(incident.workspace_id, incident.id),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk) AND version = :version",
            "ExpressionAttributeNames": STATE_NAMES, "ExpressionAttributeValues": values,
        }}

    def _claim_follow(self, incident: Incident, target: str, now: str) -> list[dict[str, Any]]:
        """Claim changes that keep future alerts pointing at the right incident."""
        if not incident.dedup_key or target not in ("resolved", "open"):
            return []
        claim = self._claim(incident.workspace_id, incident.dedup_key)
        ckey = claim_key(incident.workspace_id, incident.dedup_key)
        ours = claim is not None and claim.incident_id == incident.id
        if target == "resolved":
            return [claim_update(self.table, ckey, incident_id=incident.id, current="open",
                                 target="resolved", now=now)] \
                if ours and claim.state == "open" else []
        if ours:
            return [claim_update(self.table, ckey, incident_id=incident.id,
                                 current=claim.state, target="open", now=now)]
        if claim is not None and claim.state == "open":
            raise Conflict(f"incident '{claim.incident_id}' is open for the same alert; "
                           "work on that one instead", code="newer_incident_open",
                           open_incident_id=claim.incident_id)
        condition = "attribute_not_exists(pk)" if claim is None else "incident_id = :old"
        values = None if claim is None else {":old": {"S": claim.incident_id}}
        return [put(self.table, {**ckey, "incident_id": {"S": incident.id},
                                 "state": {"S": "open"}, "created_at": {"S": now}},
                    condition, values)]

    @translate_errors("DynamoDB")
    def add_note(self, workspace_id: str, incident_id: str, actor: str,
                 text: str) -> TimelineEvent:
        """Add a note to an incident's timeline."""
        return self.add_event(workspace_id, incident_id, "note_added", actor, {"note": text})

    @translate_errors("DynamoDB")
    def add_event(self, workspace_id: str, incident_id: str, event_type: str, actor: str,
                  payload: dict[str, Any], *,
                  incident_fields: dict[str, Any] | None = None) -> TimelineEvent:
        """Append an event to an existing incident's timeline (and set fields on it)."""
        if self.get(workspace_id, incident_id) is None:
            raise NotFound(f"incident '{incident_id}' not found", code="incident_not_found")
        added = event(event_type, actor, payload, now_iso())
        put_added = put_event(self.table, incident_pk(workspace_id, incident_id), added)
        if not incident_fields:
            self._ddb.put_item(**put_added["Put"])
            return added
        names = {f"#f{i}": k for i, k in enumerate(incident_fields)}
        values = {f":v{i}": to_value(v) for i, v in enumerate(incident_fields.values())}
        update = {"Update": {
            "TableName": self.table, "Key": incident_key(workspace_id, incident_id),
            "UpdateExpression": "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(names))),
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}
        if not self.transact([update, put_added]):
            raise Conflict(f"incident '{incident_id}' changed while this request ran; retry",
                           code="concurrent_update")
        return added

    def transact(self, items: list[dict[str, Any]]) -> bool:
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


_TRANSITION_EVENTS = {
    ("open", "acknowledged"): "incident_acknowledged",
    ("acknowledged", "open"): "incident_unacknowledged",
    ("open", "resolved"): "incident_resolved",
    ("acknowledged", "resolved"): "incident_resolved",
    ("ignored", "resolved"): "incident_resolved",
    ("open", "ignored"): "incident_ignored",
    ("acknowledged", "ignored"): "incident_ignored",
    ("ignored", "open"): "incident_restored",
    ("resolved", "open"): "incident_reopened",
}


def _cancellation_reasons(exc: BaseException) -> str:
    """The codes DynamoDB gave for cancelling a transaction (e.g. ThrottlingError)."""
    reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
    codes = sorted({str(r.get("Code")) for r in reasons if r.get("Code") not in (None, "None")})
    return ", ".join(codes) or error_code(exc)


def _condition_failed(exc: BaseException) -> bool:
    reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
    return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)
