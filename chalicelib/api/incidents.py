"""Endpoint group ``incidents``: read incidents and their timelines."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import Call, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import INCIDENT_STATES

bp = Blueprint(__name__)


@endpoint(bp, "/incidents", scope="incidents:read", workspace_param="workspace_id")
def list_incidents(call: Call) -> dict[str, Any]:
    """List incidents newest first (seed 004), filtered by state, paged by cursor."""
    state = call.query("state")
    if state is not None and state not in INCIDENT_STATES:
        raise BadRequest(f"'state' must be one of {', '.join(INCIDENT_STATES)}",
                         code="bad_parameter")
    limit = call.int_query("limit", 20, 1, 100)
    return get_container().incidents.list(call.workspace_id, state=state, limit=limit,
                                          cursor=call.query("cursor"))


@endpoint(bp, "/incidents/{incident_id}", scope="incidents:read")
def get_incident(call: Call, incident_id: str) -> dict[str, Any]:
    """One incident with its metrics and actions."""
    return get_container().incidents.detail(call.workspace_id, incident_id)


@endpoint(bp, "/incidents/{incident_id}/timeline", scope="incidents:read")
def get_timeline(call: Call, incident_id: str) -> dict[str, Any]:
    """The incident's timeline, oldest first."""
    limit = call.int_query("limit", 100, 1, 500)
    return get_container().incidents.timeline(call.workspace_id, incident_id, limit=limit,
                                              cursor=call.query("cursor"))
