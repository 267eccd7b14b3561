"""Use cases: record deploy events from CI/CD and find the deploy that preceded an incident."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.clock import iso, new_id, now_iso, parse_time
from chalicelib.domain.errors import NotFound
from chalicelib.domain.lifecycle import seconds_between
from chalicelib.domain.ports import DeployLog, IncidentRepository
from chalicelib.domain.validation import parse_body

NAME = Field(default=None, max_length=253)


class DeployEvent(BaseModel):
    """Seed 004's deploy event, sent by a pipeline after each deploy."""

    model_config = ConfigDict(extra="ignore")

    service: str = Field(min_length=1, max_length=253)
    namespace: str | None = NAME
    environment: str | None = NAME
    image: str | None = Field(default=None, max_length=1024)
    actor: str | None = NAME
    commit_sha: str | None = Field(default=None, max_length=128)
    cluster: str | None = NAME
    timestamp: str | int | float | None = None


@dataclass
class DeployService:
    """Deploy events and deploy correlation."""

    deploys: DeployLog
    incidents: IncidentRepository

    def add(self, workspace_id: str, body: Any) -> dict[str, Any]:
        """Store a deploy event and return it as seed 004 shows."""
        deploy = parse_body(DeployEvent, body, "deploy event")
        stored = {**deploy.model_dump(exclude_none=True), "deploy_id": new_id("deploy-"),
                  "timestamp": parse_time(deploy.timestamp) or now_iso()}
        self.deploys.add(workspace_id, stored)
        return {"ok": True, "deploy_id": stored["deploy_id"], "stored": stored}

    def recent(self, workspace_id: str, *, limit: int, hours: int,
               service: str | None) -> dict[str, Any]:
        """Deploys of the last ``hours``, newest first."""
        since = iso(datetime.fromisoformat(now_iso()) - timedelta(hours=hours))
        deploys = self.deploys.recent(workspace_id, limit=limit, since=since, service=service)
        return {"deploys": deploys, "count": len(deploys), "hours": hours}

    def correlation(self, workspace_id: str, incident_id: str,
                    lookback_minutes: int) -> dict[str, Any]:
        """The latest deploy of the incident's service or workload before it began."""
        incident = self.incidents.get(workspace_id, incident_id)
        if incident is None:
            raise NotFound(f"incident '{incident_id}' not found", code="incident_not_found")
        began = incident.starts_at or incident.created_at
        since = iso(datetime.fromisoformat(began) - timedelta(minutes=lookback_minutes))
        best: dict[str, Any] | None = None
        for service in dict.fromkeys(filter(None, (incident.service, incident.workload,
                                                   incident.deployment))):
            found = self.deploys.recent(workspace_id, limit=1, since=since, until=began,
                                        service=service)
            if found and (best is None or found[0]["timestamp"] > best["timestamp"]):
                best = found[0]
        reply: dict[str, Any] = {"incident_id": incident_id, "has_correlation": best is not None,
                                 "correlated_deploy": None, "lookback_minutes": lookback_minutes,
                                 "message": "No deploy of this service in the lookback window"}
        if best is not None:
            minutes = round(seconds_between(best["timestamp"], began) / 60, 1)
            reply["correlated_deploy"] = {
                "deploy_id": best["deploy_id"], "service": best["service"],
                "actor": best.get("actor"), "image": best.get("image"),
                "timestamp": best["timestamp"], "minutes_before_incident": minutes}
            reply["message"] = (f"Deploy by {best.get('actor') or 'unknown'} "
                                f"({best['service']}) was {minutes:g} min before this incident")
        return reply
