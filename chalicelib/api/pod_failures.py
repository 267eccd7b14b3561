"""Endpoint group ``incidents``: seed 002 (Kure Monitor) pod failures, read and triaged.

Lists are JSON arrays, as Kure answers them. ``{pod_id}`` is the incident id.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import Call, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.services.pod_failures import StatusUpdate

bp = Blueprint(__name__)


def _actor(call: Call) -> str:
    return call.principal.actor if call.principal else "anonymous"


@endpoint(bp, "/api/pods/failed", scope="incidents:read")
def list_failed(call: Call) -> list[dict[str, Any]]:
    """Active pod failures (new and investigating), newest first."""
    return get_container().pod_failures.list(call.workspace_id, "active")


@endpoint(bp, "/api/pods/history", scope="incidents:read")
def list_history(call: Call) -> list[dict[str, Any]]:
    """Resolved pod failures, newest first."""
    return get_container().pod_failures.list(call.workspace_id, "history")


@endpoint(bp, "/api/pods/ignored", scope="incidents:read")
def list_ignored(call: Call) -> list[dict[str, Any]]:
    """Ignored (dismissed) pod failures, newest first."""
    return get_container().pod_failures.list(call.workspace_id, "ignored")


@endpoint(bp, "/api/pods/{pod_id}/status", methods=("PUT",), scope="incidents:write",
          body=StatusUpdate)
def update_status(call: Call, pod_id: str) -> dict[str, Any]:
    """Set a pod failure's status: new, investigating, resolved or ignored."""
    return get_container().pod_failures.set_status(call.workspace_id, pod_id,
                                                   call.json_object(), _actor(call))


@endpoint(bp, "/api/pods/failed/{pod_id}", methods=("DELETE",), scope="incidents:write")
def dismiss(call: Call, pod_id: str) -> dict[str, Any]:
    """Dismiss a pod failure: it moves to the ignored list."""
    return get_container().pod_failures.dismiss(call.workspace_id, pod_id, _actor(call))


@endpoint(bp, "/api/pods/ignored/{pod_id}/restore", methods=("PUT",), scope="incidents:write")
def restore(call: Call, pod_id: str) -> dict[str, Any]:
    """Bring an ignored pod failure back to the active list as new."""
    return get_container().pod_failures.restore(call.workspace_id, pod_id, _actor(call))
