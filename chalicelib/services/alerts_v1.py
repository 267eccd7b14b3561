"""Use cases of seed 001 (Pulse) ``/api/alerts/*``: incidents presented as Pulse alerts.

Pulse's alert model (``internal/alerts`` ``Alert``: id, type, level, resourceId, resourceName,
node, instance, message, value, threshold, startTime, lastSeen, acknowledged, ackTime, ackUser,
metadata) is a view of an incident: the alert id is the incident id, ``level`` is Pulse's
warning/critical, and Drover's own facts travel in ``metadata``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from chalicelib.domain.clock import now_iso
from chalicelib.domain.errors import BadRequest, DroverError, NotFound
from chalicelib.domain.lifecycle import IngestPolicy
from chalicelib.domain.models import Incident, TimelineEvent
from chalicelib.domain.ports import IncidentRepository, WorkspaceSettings
from chalicelib.domain.validation import parse_body
from chalicelib.services.ingest import POLICY_SETTINGS, IngestService

HISTORY_SETTINGS = "alerts_history"
PAGE = 100
MAX_ACTIVE = 500  # per state: the active set of one workspace is read in at most 5 pages
MAX_HISTORY_SCAN = 2000  # resolved incidents read to answer one history page
MAX_ALERT_ID = 500  # Pulse's validateAlertID limit
MAX_TIMELINE = 120  # Pulse keeps at most 120 events per incident
PULSE_ACTIONS = {"acknowledge": "acknowledged", "unacknowledge": "open", "clear": "resolved"}
# Pulse's IncidentEventType names for the timeline events that have one.
PULSE_EVENTS = {
    "incident_created": ("alert_fired", "Alert fired"),
    "incident_acknowledged": ("alert_acknowledged", "Alert acknowledged"),
    "incident_unacknowledged": ("alert_unacknowledged", "Alert unacknowledged"),
    "incident_resolved": ("alert_resolved", "Alert resolved"),
    "note_added": ("note", "Note added"),
}


class AlertsConfigUpdate(BaseModel):
    """PUT /api/alerts/config: the lifecycle policy fields to change (others keep their value)."""

    model_config = ConfigDict(extra="forbid")

    reopen_quiet_period_seconds: StrictInt | None = Field(default=None, ge=0, le=7 * 86400)
    correlation_window_seconds: StrictInt | None = Field(default=None, ge=0, le=86400)
    correlation_enabled: StrictBool | None = None


def incidents_in_states(repo: IncidentRepository, workspace_id: str, states: tuple[str, ...],
                        *, per_state: int = MAX_ACTIVE,
                        since: str | None = None) -> list[Incident]:
    """Incidents of some states, newest first, reading at most ``per_state`` of each."""
    found: list[Incident] = []
    for state in states:
        cursor: str | None = None
        taken = 0
        while taken < per_state:
            page = repo.list(workspace_id, state=state, limit=min(PAGE, per_state - taken),
                             cursor=cursor, since=since)
            found += page.items
            taken += len(page.items)
            cursor = page.next_cursor
            if not cursor:
                break
    return sorted(found, key=lambda i: (i.created_at, i.id), reverse=True)


def level(incident: Incident) -> str:
    """Pulse's two alert levels: critical (critical, high) and warning (the rest)."""
    return "critical" if incident.severity in ("critical", "high") else "warning"


def resource_id(incident: Incident) -> str:
    """A stable name of what the incident is about: cluster/namespace/object."""
    subject = (incident.pod or incident.workload or incident.deployment or incident.service
               or incident.details.get("node_name"))
    parts = [incident.cluster, incident.namespace, subject]
    return "/".join(p for p in parts if p) or incident.fingerprint


def to_pulse(incident: Incident) -> dict[str, Any]:
    """One incident as a Pulse alert."""
    return {
        "id": incident.id,
        "type": (incident.labels.get("alertname") or incident.details.get("failure_reason")
                 or incident.integration),
        "level": level(incident),
        "resourceId": resource_id(incident),
        "resourceName": (incident.pod or incident.workload or incident.service
                         or incident.details.get("node_name") or incident.title),
        "node": incident.details.get("node_name") or "",
        "instance": incident.cluster or "",
        "message": incident.title,
        # Pulse's metric value and threshold; Drover's alerts carry no single number.
        "value": 0,
        "threshold": 0,
        "startTime": incident.starts_at or incident.created_at,
        "lastSeen": incident.last_seen_at,
        "acknowledged": incident.state == "acknowledged",
        "ackTime": incident.acknowledged_at,
        "ackUser": incident.acknowledged_by,
        "metadata": {
            "incidentId": incident.id, "state": incident.state, "severity": incident.severity,
            "source": incident.source, "integration": incident.integration,
            "cluster": incident.cluster, "namespace": incident.namespace, "pod": incident.pod,
            "workload": incident.workload, "service": incident.service,
            "alertCount": incident.alert_count, "description": incident.description or None,
        },
    }


def pulse_event(event: TimelineEvent) -> dict[str, Any]:
    """One timeline event as a Pulse incident event."""
    kind, summary = PULSE_EVENTS.get(event.event_type,
                                     (event.event_type, event.event_type.replace("_", " ")))
    if event.event_type == "note_added":
        summary = str(event.payload.get("note", summary))
    return {"id": event.id, "type": kind, "timestamp": event.created_at, "summary": summary,
            "details": {**event.payload, "actor": event.actor}}


def check_alert_id(value: object) -> str:
    """Pulse's identifier rules: 1-500 printable ASCII characters, no surrounding spaces."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_ALERT_ID or not text.isascii() or not text.isprintable():
        raise BadRequest("Invalid alert ID", code="invalid_alert_id")
    return text


@dataclass
class PulseAlertService:
    """Pulse's alert endpoints over the incident repository and the lifecycle policy."""

    incidents: IncidentRepository
    settings: WorkspaceSettings
    ingest: IngestService

    def get(self, workspace_id: str, alert_id: str) -> Incident:
        """The incident behind an alert id, or a 404 (also for another workspace's id)."""
        incident = self.incidents.get(workspace_id, alert_id)
        if incident is None:
            raise NotFound("Alert not found", code="alert_not_found", alert_id=alert_id)
        return incident

    def active(self, workspace_id: str) -> list[dict[str, Any]]:
        """Open and acknowledged incidents, newest first."""
        found = incidents_in_states(self.incidents, workspace_id, ("open", "acknowledged"))
        return [to_pulse(i) for i in found]

    def history(self, workspace_id: str, *, limit: int, offset: int, start: str | None,
                end: str | None, severity: str | None,
                resource: str | None) -> list[dict[str, Any]]:
        """Resolved incidents newest first, after Pulse's filters and offset.

        Incidents resolved before the last DELETE /api/alerts/history are left out.
        """
        cleared = (self.settings.get(workspace_id, HISTORY_SETTINGS) or {}).get("cleared_at")
        filtered = bool(cleared or end or severity or resource)
        # Without filters a page needs offset + limit incidents; with them, a bounded scan.
        budget = MAX_HISTORY_SCAN if filtered else min(MAX_HISTORY_SCAN, offset + limit)
        found = incidents_in_states(self.incidents, workspace_id, ("resolved",),
                                    per_state=budget, since=start)
        alerts = []
        for incident in found:
            if cleared and (incident.resolved_at or "") <= cleared:
                continue
            alert = {**to_pulse(incident), "resolvedTime": incident.resolved_at}
            if end and incident.created_at > end:
                continue
            if severity and alert["level"] != severity:
                continue
            if resource and alert["resourceId"] != resource:
                continue
            alerts.append(alert)
        return alerts[offset:offset + limit]

    def clear_history(self, workspace_id: str, actor: str) -> dict[str, Any]:
        """Hide the current history from Pulse's view; the incidents themselves are kept."""
        at = now_iso()
        self.settings.put(workspace_id, HISTORY_SETTINGS, {"cleared_at": at, "cleared_by": actor})
        return {"status": "success", "message": "Alert history cleared", "cleared_at": at,
                "detail": "resolved incidents stay readable under /incidents and in the audit "
                          "trail; retention deletes them"}

    def change(self, workspace_id: str, alert_id: str, action: str, actor: str) -> Incident:
        """Acknowledge, unacknowledge or clear (resolve) one alert."""
        target = PULSE_ACTIONS[action]
        incident = self.get(workspace_id, alert_id)
        if action == "unacknowledge" and incident.state != "acknowledged":
            return incident  # Pulse answers success for an alert that was not acknowledged
        return self.incidents.transition(workspace_id, alert_id, target, actor,
                                         f"{action} via /api/alerts")

    def bulk(self, workspace_id: str, alert_ids: list[str], action: str,
             actor: str) -> dict[str, Any]:
        """Apply one action to many alerts; each gets its own result."""
        results = []
        for alert_id in alert_ids:
            result: dict[str, Any] = {"alertIdentifier": alert_id, "alertId": alert_id,
                                      "success": True}
            try:
                self.change(workspace_id, check_alert_id(alert_id), action, actor)
            except DroverError as exc:
                result.update(success=False, error=exc.message, code=exc.code)
            results.append(result)
        return {"results": results}

    def timeline(self, workspace_id: str, alert_id: str) -> dict[str, Any]:
        """Pulse's incident view of one alert: the incident and its timeline."""
        incident = self.get(workspace_id, alert_id)
        page = self.incidents.timeline(workspace_id, alert_id, limit=MAX_TIMELINE, cursor=None)
        return incident_view(incident, page.items)

    def by_resource(self, workspace_id: str, resource: str, limit: int) -> list[dict[str, Any]]:
        """Recent incidents about one resource, newest first, with their timelines."""
        recent = incidents_in_states(self.incidents, workspace_id,
                                     ("open", "acknowledged", "resolved", "ignored"),
                                     per_state=MAX_ACTIVE // 2)
        matching = [i for i in recent if resource_id(i) == resource][:limit]
        return [incident_view(i, self.incidents.timeline(workspace_id, i.id, limit=MAX_TIMELINE,
                                                         cursor=None).items)
                for i in matching]

    def add_note(self, workspace_id: str, alert_id: str, note: str,
                 actor: str) -> dict[str, Any]:
        """Add a note to the alert's incident timeline."""
        self.get(workspace_id, alert_id)
        event = self.incidents.add_note(workspace_id, alert_id, actor, note)
        return {"success": True, "incident_id": alert_id, "event_id": event.id}

    def config(self, workspace_id: str) -> dict[str, Any]:
        """The workspace's lifecycle policy, with defaults for fields never set."""
        stored = self.settings.get(workspace_id, POLICY_SETTINGS) or {}
        policy = IngestPolicy()
        values = {name: stored.get(name, getattr(policy, name))
                  for name in IngestPolicy.__dataclass_fields__}
        return {**values, "updated_at": stored.get("updated_at"),
                "updated_by": stored.get("updated_by")}

    def update_config(self, workspace_id: str, body: Any, actor: str) -> dict[str, Any]:
        """Validate and store policy changes, then drop the cached policy."""
        update = parse_body(AlertsConfigUpdate, body, "alerts config")
        current = self.config(workspace_id)
        merged = {name: current[name] for name in IngestPolicy.__dataclass_fields__}
        merged.update(update.model_dump(exclude_none=True))
        self.settings.put(workspace_id, POLICY_SETTINGS,
                          {**merged, "updated_at": now_iso(), "updated_by": actor})
        self.ingest.forget_policy(workspace_id)
        return {"success": True, "message": "Alert configuration updated successfully",
                "config": self.config(workspace_id)}


def incident_view(incident: Incident, events: list[TimelineEvent]) -> dict[str, Any]:
    """Pulse's ``incidentView``: the incident with its events, oldest first."""
    alert = to_pulse(incident)
    return {
        "id": incident.id, "alertIdentifier": incident.id, "alertId": incident.id,
        "alertType": alert["type"], "level": alert["level"],
        "resourceId": alert["resourceId"], "resourceName": alert["resourceName"],
        "resourceType": "pod" if incident.pod else (incident.workload_kind or None),
        "node": alert["node"], "instance": alert["instance"], "message": incident.title,
        "status": "resolved" if incident.state == "resolved" else "open",
        "openedAt": incident.created_at, "closedAt": incident.resolved_at,
        "acknowledged": alert["acknowledged"], "ackUser": incident.acknowledged_by,
        "ackTime": incident.acknowledged_at,
        "events": [pulse_event(e) for e in events],
    }
