"""Endpoint group ``incidents``: seed 001 (Pulse) ``/api/alerts/*`` over incidents.

An alert id is an incident id. Bodies accept Pulse's identifier aliases: ``alertIdentifier``,
``legacyAlertId`` and ``id`` (bulk: ``alertIdentifiers``, ``legacyAlertIds``, ``alertIds``).
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import BaseModel, Field

from chalicelib.api.http import Call, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.clock import parse_time
from chalicelib.domain.errors import BadRequest
from chalicelib.services.alerts_v1 import MAX_HISTORY_SCAN, AlertsConfigUpdate, check_alert_id

bp = Blueprint(__name__)


class AlertRef(BaseModel):
    """Names one alert: its identifier (or the legacy id) or its incident id."""

    alertIdentifier: str | None = Field(default=None, max_length=500)
    legacyAlertId: str | None = Field(default=None, max_length=500)
    id: str | None = Field(default=None, max_length=500)


class NoteRequest(BaseModel):
    """A note for an alert's incident timeline (1 to 4,000 characters)."""

    alertIdentifier: str | None = Field(default=None, max_length=500)
    legacyAlertId: str | None = Field(default=None, max_length=500)
    alert_id: str | None = Field(default=None, max_length=500)
    incident_id: str | None = Field(default=None, max_length=500)
    note: str = Field(min_length=1, max_length=4000)


class AlertRefs(BaseModel):
    """Up to 100 alert identifiers (under any of seed 001's names)."""

    alertIdentifiers: list[str] | None = Field(default=None, max_length=100)
    legacyAlertIds: list[str] | None = Field(default=None, max_length=100)
    alertIds: list[str] | None = Field(default=None, max_length=100)
MAX_HISTORY_PAGE = 1000
MAX_BULK = 100
MAX_NOTE = 4000
ONE_ID = ("alertIdentifier", "legacyAlertId", "id")
NOTE_IDS = ("alertIdentifier", "legacyAlertId", "alert_id", "incident_id")
MANY_IDS = ("alertIdentifiers", "legacyAlertIds", "alertIds")


def _actor(call: Call) -> str:
    return call.principal.actor if call.principal else "anonymous"


def _first(body: dict[str, Any], names: tuple[str, ...]) -> Any:
    return next((body[n] for n in names if isinstance(body.get(n), str) and body[n].strip()),
                None)


@endpoint(bp, "/api/alerts/active", scope="incidents:read")
def active(call: Call) -> list[dict[str, Any]]:
    """Open and acknowledged incidents as Pulse alerts, newest first."""
    return get_container().pulse_alerts.active(call.workspace_id)


def _time(call: Call, name: str) -> str | None:
    raw = call.query(name)
    if raw is None:
        return None
    value = parse_time(raw)
    if value is None:
        raise BadRequest(f"invalid {name} parameter; send RFC 3339, e.g. 2024-01-15T10:30:00Z",
                         code="bad_parameter")
    return value


@endpoint(bp, "/api/alerts/history", scope="incidents:read")
def history(call: Call) -> list[dict[str, Any]]:
    """Resolved incidents as Pulse alerts, with Pulse's limit, offset and filters."""
    limit = call.int_query("limit", 100, 0, 10_000) or MAX_HISTORY_PAGE
    start, end = _time(call, "startTime"), _time(call, "endTime")
    if start and end and end < start:
        raise BadRequest("endTime must be after startTime", code="bad_parameter")
    severity = (call.query("severity") or "").strip().lower()
    return get_container().pulse_alerts.history(
        call.workspace_id, limit=min(limit, MAX_HISTORY_PAGE),
        offset=call.int_query("offset", 0, 0, MAX_HISTORY_SCAN), start=start, end=end,
        # Pulse ignores a severity it does not know rather than failing the request.
        severity=severity if severity in ("warning", "critical") else None,
        resource=(call.query("resourceId") or "").strip() or None)


@endpoint(bp, "/api/alerts/history", methods=("DELETE",), scope="incidents:write")
def clear_history(call: Call) -> dict[str, Any]:
    """Clear Pulse's history view; incidents stay in the record (audited)."""
    return get_container().pulse_alerts.clear_history(call.workspace_id, _actor(call))


@endpoint(bp, "/api/alerts/incidents", scope="incidents:read")
def incident_timeline(call: Call) -> Any:
    """The incident timeline of one alert (alert_id) or the incidents of one resource."""
    alert_id = next((call.query(n) for n in ("alertIdentifier", "alert_identifier", "alert_id")
                     if call.query(n)), None)
    service = get_container().pulse_alerts
    if alert_id:
        return service.timeline(call.workspace_id, check_alert_id(alert_id))
    resource = (call.query("resource_id") or "").strip()
    if resource:
        if len(resource) > 500:  # noqa: PLR2004 - Pulse's limit on a resource id
            raise BadRequest("Invalid resource ID", code="bad_parameter")
        return service.by_resource(call.workspace_id, resource,
                                   call.int_query("limit", 10, 1, 50))
    raise BadRequest("Missing alert_identifier or resource_id", code="missing_parameter")


@endpoint(bp, "/api/alerts/incidents/note", methods=("POST",), scope="incidents:write",
          body=NoteRequest)
def add_note(call: Call) -> dict[str, Any]:
    """Add a note to an alert's incident timeline."""
    body = call.json_object()
    alert_id = _first(body, NOTE_IDS)
    if alert_id is None:
        raise BadRequest("alertIdentifier or incident_id is required", code="missing_alert_id")
    note = body.get("note").strip() if isinstance(body.get("note"), str) else ""
    if not note:
        raise BadRequest("note is required", code="missing_note")
    if len(note) > MAX_NOTE:
        raise BadRequest(f"note is longer than {MAX_NOTE} characters", code="note_too_long")
    return get_container().pulse_alerts.add_note(call.workspace_id, check_alert_id(alert_id),
                                                 note, _actor(call))


def _change(call: Call, action: str, alert_id: str | None) -> dict[str, Any]:
    if alert_id is None:
        alert_id = _first(call.json_object(), ONE_ID)
        if alert_id is None:
            raise BadRequest("Alert identifier is required", code="missing_alert_id")
    incident = get_container().pulse_alerts.change(call.workspace_id, check_alert_id(alert_id),
                                                   action, _actor(call))
    return {"success": True, "id": incident.id, "state": incident.state}


@endpoint(bp, "/api/alerts/acknowledge", methods=("POST",), scope="incidents:write", body=AlertRef)
def acknowledge(call: Call) -> dict[str, Any]:
    """Acknowledge the alert named in the body."""
    return _change(call, "acknowledge", None)


@endpoint(bp, "/api/alerts/unacknowledge", methods=("POST",), scope="incidents:write",
          body=AlertRef)
def unacknowledge(call: Call) -> dict[str, Any]:
    """Take back an acknowledgement: the incident is open again."""
    return _change(call, "unacknowledge", None)


@endpoint(bp, "/api/alerts/clear", methods=("POST",), scope="incidents:write", body=AlertRef)
def clear(call: Call) -> dict[str, Any]:
    """Clear the alert: its incident is resolved."""
    return _change(call, "clear", None)


@endpoint(bp, "/api/alerts/{alert_id}/acknowledge", methods=("POST",),
          scope="incidents:write")
def acknowledge_legacy(call: Call, alert_id: str) -> dict[str, Any]:
    """Legacy path form of acknowledge."""
    return _change(call, "acknowledge", alert_id)


@endpoint(bp, "/api/alerts/{alert_id}/unacknowledge", methods=("POST",),
          scope="incidents:write")
def unacknowledge_legacy(call: Call, alert_id: str) -> dict[str, Any]:
    """Legacy path form of unacknowledge."""
    return _change(call, "unacknowledge", alert_id)


@endpoint(bp, "/api/alerts/{alert_id}/clear", methods=("POST",), scope="incidents:write")
def clear_legacy(call: Call, alert_id: str) -> dict[str, Any]:
    """Legacy path form of clear."""
    return _change(call, "clear", alert_id)


def _bulk(call: Call, action: str) -> dict[str, Any]:
    body = call.json_object()
    raw = next((body[n] for n in MANY_IDS if isinstance(body.get(n), list) and body[n]), [])
    ids = [i.strip() for i in raw if isinstance(i, str) and i.strip()]
    if not ids:
        raise BadRequest("No alert identifiers provided", code="missing_alert_id")
    if len(ids) > MAX_BULK:
        raise BadRequest(f"at most {MAX_BULK} alert identifiers per request",
                         code="too_many_ids")
    return get_container().pulse_alerts.bulk(call.workspace_id, ids, action, _actor(call))


@endpoint(bp, "/api/alerts/bulk/acknowledge", methods=("POST",), scope="incidents:write",
          body=AlertRefs)
def bulk_acknowledge(call: Call) -> dict[str, Any]:
    """Acknowledge many alerts; one result per id."""
    return _bulk(call, "acknowledge")


@endpoint(bp, "/api/alerts/bulk/clear", methods=("POST",), scope="incidents:write", body=AlertRefs)
def bulk_clear(call: Call) -> dict[str, Any]:
    """Clear many alerts; one result per id."""
    return _bulk(call, "clear")


@endpoint(bp, "/api/alerts/config", scope="settings:read")
def get_config(call: Call) -> dict[str, Any]:
    """The workspace's alert lifecycle policy."""
    return get_container().pulse_alerts.config(call.workspace_id)


@endpoint(bp, "/api/alerts/config", methods=("PUT",), scope="settings:write",
          body=AlertsConfigUpdate)
def put_config(call: Call) -> dict[str, Any]:
    """Change the alert lifecycle policy (fields left out keep their value)."""
    return get_container().pulse_alerts.update_config(call.workspace_id, call.json_object(),
                                                      _actor(call))
