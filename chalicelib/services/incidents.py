"""Use cases: read incidents and their timelines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import NotFound
from chalicelib.domain.models import Incident
from chalicelib.domain.ports import IncidentRepository


def _minutes_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return round(delta.total_seconds() / 60, 2)


@dataclass
class IncidentService:
    """Reads incidents of one workspace."""

    incidents: IncidentRepository

    def get(self, workspace_id: str, incident_id: str) -> Incident:
        """Return the incident or raise NotFound (also for another workspace's incident)."""
        incident = self.incidents.get(workspace_id, incident_id)
        if incident is None:
            raise NotFound(f"incident '{incident_id}' not found", code="incident_not_found")
        return incident

    def list(self, workspace_id: str, *, state: str | None, limit: int,
             cursor: str | None) -> dict[str, Any]:
        """Return a page of incidents, newest first."""
        page = self.incidents.list(workspace_id, state=state, limit=limit, cursor=cursor)
        return {
            "incidents": [i.model_dump() for i in page.items],
            "count": len(page.items),
            "next_cursor": page.next_cursor,
        }

    def detail(self, workspace_id: str, incident_id: str) -> dict[str, Any]:
        """Return the incident with its response metrics and actions (seed 004)."""
        incident = self.get(workspace_id, incident_id)
        return {
            "incident": incident.model_dump(),
            "metrics": {
                "time_to_first_response_minutes": _minutes_between(
                    incident.created_at, incident.acknowledged_at),
                "resolution_time_minutes": _minutes_between(
                    incident.created_at, incident.resolved_at),
                "actions_taken": 0,
            },
            "actions": [],
        }

    def timeline(self, workspace_id: str, incident_id: str, *, limit: int,
                 cursor: str | None) -> dict[str, Any]:
        """Return the incident's timeline events, oldest first."""
        self.get(workspace_id, incident_id)
        page = self.incidents.timeline(workspace_id, incident_id, limit=limit, cursor=cursor)
        return {
            "incident_id": incident_id,
            "events": [e.model_dump(exclude={"id"}) for e in page.items],
            "count": len(page.items),
            "next_cursor": page.next_cursor,
        }
