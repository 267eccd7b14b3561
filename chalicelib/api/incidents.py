"""Endpoint group ``incidents``: incidents, their timelines, metrics and reports (seed 004)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import Call, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import INCIDENT_STATES

bp = Blueprint(__name__)
READ = "incidents:read"
MAX_NOISY_MINUTES = 1440.0


@endpoint(bp, "/incidents", scope=READ, workspace_param="workspace_id")
def list_incidents(call: Call) -> dict[str, Any]:
    """List incidents newest first (seed 004), filtered by state, paged by cursor."""
    state = call.query("state")
    if state is not None and state not in INCIDENT_STATES:
        raise BadRequest(f"'state' must be one of {', '.join(INCIDENT_STATES)}",
                         code="bad_parameter")
    limit = call.int_query("limit", 20, 1, 100)
    return get_container().incidents.list(call.workspace_id, state=state, limit=limit,
                                          cursor=call.query("cursor"))


@endpoint(bp, "/incidents/noisy", scope=READ, workspace_param="workspace_id")
def noisy_incidents(call: Call) -> dict[str, Any]:
    """Incidents that resolved quickly with no action: candidates for threshold tuning."""
    max_minutes = call.float_query("max_duration_minutes", 5.0, 0.0, MAX_NOISY_MINUTES)
    limit = call.int_query("limit", 20, 1, 100)
    return get_container().incident_reports.noisy(call.workspace_id, max_minutes, limit)


@endpoint(bp, "/incidents/{incident_id}", scope=READ)
def get_incident(call: Call, incident_id: str) -> dict[str, Any]:
    """One incident with its metrics and actions."""
    return get_container().incidents.detail(call.workspace_id, incident_id)


@endpoint(bp, "/incidents/{incident_id}/timeline", scope=READ)
def get_timeline(call: Call, incident_id: str) -> dict[str, Any]:
    """The incident's timeline, oldest first."""
    limit = call.int_query("limit", 100, 1, 500)
    return get_container().incidents.timeline(call.workspace_id, incident_id, limit=limit,
                                              cursor=call.query("cursor"))


@endpoint(bp, "/incidents/{incident_id}/similar", scope=READ)
def similar_incidents(call: Call, incident_id: str) -> dict[str, Any]:
    """Past incidents that look like this one, most similar first."""
    limit = call.int_query("limit", 10, 1, 50)
    return get_container().incidents.similar(call.workspace_id, incident_id, limit)


@endpoint(bp, "/incidents/{incident_id}/group", scope=READ)
def incident_group(call: Call, incident_id: str) -> dict[str, Any]:
    """The incident's correlation parent and children."""
    return get_container().incidents.group(call.workspace_id, incident_id)


@endpoint(bp, "/incidents/{incident_id}/metrics", scope=READ)
def incident_metrics(call: Call, incident_id: str) -> dict[str, Any]:
    """Time to first response and to resolution, and when each became known."""
    return get_container().incidents.metrics(call.workspace_id, incident_id)


@endpoint(bp, "/incidents/{incident_id}/actions", scope=READ)
def incident_actions(call: Call, incident_id: str) -> dict[str, Any]:
    """The remediation actions taken on the incident."""
    return get_container().incidents.actions(call.workspace_id, incident_id)


@endpoint(bp, "/incidents/{incident_id}/deploy-correlation", scope=READ)
def deploy_correlation(call: Call, incident_id: str) -> dict[str, Any]:
    """The latest deploy of the incident's service before it began."""
    lookback = call.int_query("lookback_minutes", 30, 1, 1440)
    return get_container().deploys.correlation(call.workspace_id, incident_id, lookback)


# Generating a postmortem stores nothing: it renders what incidents:read may already see, so
# it needs no write scope. It is a POST (seed 004), so each generation is still audited.
@endpoint(bp, "/incidents/{incident_id}/postmortem", methods=("POST",), scope=READ)
def postmortem(call: Call, incident_id: str) -> dict[str, Any]:
    """A postmortem draft built from the incident's stored facts."""
    return get_container().incident_reports.postmortem(call.workspace_id, incident_id)


@endpoint(bp, "/activity", scope=READ, workspace_param="workspace_id")
def activity(call: Call) -> dict[str, Any]:
    """The workspace's recent remediation actions."""
    call.int_query("limit", 20, 1, 100)  # validated now so clients learn the contract early
    return get_container().incidents.activity(call.workspace_id)


@endpoint(bp, "/digest/handoff", scope=READ, workspace_param="workspace_id")
def handoff_digest(call: Call) -> dict[str, Any]:
    """A shift handoff digest of the last ``hours``."""
    hours = call.int_query("hours", 12, 1, 48)
    return get_container().incident_reports.handoff(call.workspace_id, hours)
