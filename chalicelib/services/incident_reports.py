"""Use cases: reports built from real incidents: postmortems, shift handoffs, noisy alerts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.clock import iso, now_iso
from chalicelib.domain.models import INCIDENT_STATES, Incident, TimelineEvent
from chalicelib.services.deploys import DeployService
from chalicelib.services.incidents import (
    IncidentService,
    collect,
    first_response,
    is_human,
    minutes_between,
    response_metrics,
)
from chalicelib.services.postmortem_text import describe_event, follow_ups, render_markdown

SEVERITY_RANK = {"critical": 0, "high": 1, "warning": 2, "info": 3, "unknown": 4}
ACTIVE_STATES = ("open", "acknowledged")
NOISY_MAX_SCAN = 500
HANDOFF_MAX_PER_STATE = 500
HANDOFF_NOISY_MINUTES = 5.0
# Closed incidents are listed by creation time; one resolved inside the window was created
# at most this long before it (longer-lived ones are rare and would cost unbounded reads).
CLOSED_LOOKBACK = timedelta(days=7)
POSTMORTEM_DEPLOY_LOOKBACK_MINUTES = 60
NOISY_NOTE = "These incidents resolved with no actions -- review alert thresholds."


def _duration(incident: Incident) -> float | None:
    return minutes_between(incident.created_at, incident.resolved_at) \
        if incident.state == "resolved" else None


def _quick(incident: Incident, max_minutes: float) -> bool:
    duration = _duration(incident)
    return duration is not None and duration <= max_minutes


def _brief(incident: Incident) -> dict[str, Any]:
    return {"id": incident.id, "title": incident.title, "severity": incident.severity,
            "state": incident.state, "created_at": incident.created_at,
            "resolved_at": incident.resolved_at}


def _subject(incident: Incident) -> str:
    return incident.service or incident.workload or incident.deployment or "(unknown)"


@dataclass
class IncidentReportService:
    """Postmortems, shift handoff digests and noisy-incident reports of one workspace."""

    incidents: IncidentService
    deploys: DeployService

    def noisy(self, workspace_id: str, max_minutes: float, limit: int) -> dict[str, Any]:
        """Resolved incidents that lasted at most ``max_minutes`` with no action taken (no
        actions are recorded yet, so every such incident qualifies), newest first; the newest
        500 resolved incidents are examined."""
        resolved, _ = collect(self.incidents.incidents, workspace_id, state="resolved",
                              max_items=NOISY_MAX_SCAN)
        noisy = [{**_brief(i), "resolution_time_minutes": _duration(i),
                  "service": i.service, "namespace": i.namespace, "alert_count": i.alert_count}
                 for i in resolved if _quick(i, max_minutes)]
        return {"noisy_incidents": noisy[:limit], "count": len(noisy[:limit]),
                "max_duration_minutes": float(max_minutes), "note": NOISY_NOTE}

    def handoff(self, workspace_id: str, hours: int) -> dict[str, Any]:
        """A shift digest: what was created or changed in the last ``hours``, and what is
        still open whenever it began."""
        now = now_iso()
        start = iso(datetime.fromisoformat(now) - timedelta(hours=hours))
        seen, truncated = self._handoff_candidates(workspace_id, start)
        window = [i for i in seen if max(i.created_at, i.updated_at) >= start]
        active = sorted((i for i in seen if i.state in ACTIVE_STATES),
                        key=lambda i: (SEVERITY_RANK.get(i.severity, 9), i.created_at))
        resolved = sorted((i for i in window if i.state == "resolved"
                           and (i.resolved_at or "") >= start),
                          key=lambda i: i.resolved_at or "", reverse=True)
        reopened = [i for i in window if i.reopened_count or i.previous_incident_id]
        return {
            "workspace_id": workspace_id, "window_hours": hours, "window_start": start,
            "generated_at": now, "truncated": truncated,
            "summary": self._handoff_summary(window, start, resolved, reopened),
            "needs_attention": [self._attention(i, now) for i in active[:50]],
            "resolved": [{**_brief(i), "resolved_by": i.resolved_by,
                          "resolution_time_minutes": _duration(i)} for i in resolved],
            "noisy": [{**_brief(i), "resolution_time_minutes": _duration(i)} for i in resolved
                      if _quick(i, HANDOFF_NOISY_MINUTES)],
            "reopened": [{**_brief(i), "reopened_count": i.reopened_count,
                          "previous_incident_id": i.previous_incident_id} for i in reopened],
            "top_services": [{"service": name, "count": count} for name, count in
                             Counter(_subject(i) for i in window).most_common(5)],
        }

    def _handoff_candidates(self, workspace_id: str, start: str) -> tuple[list[Incident], bool]:
        # One bounded Query per state: every active incident, and closed ones recent enough
        # to have been created or closed inside the window.
        closed_since = iso(datetime.fromisoformat(start) - CLOSED_LOOKBACK)
        found: list[Incident] = []
        truncated = False
        for state in INCIDENT_STATES:
            since = None if state in ACTIVE_STATES else closed_since
            items, cut = collect(self.incidents.incidents, workspace_id, state=state,
                                 since=since, max_items=HANDOFF_MAX_PER_STATE)
            found += items
            truncated = truncated or cut
        return found, truncated

    @staticmethod
    def _handoff_summary(window: list[Incident], start: str, resolved: list[Incident],
                         reopened: list[Incident]) -> dict[str, Any]:
        by_state = Counter(i.state for i in window)
        by_severity = Counter(i.severity for i in window)
        return {
            "total": len(window),
            "created": sum(1 for i in window if i.created_at >= start),
            "resolved": len(resolved),
            "reopened": len(reopened),
            "noisy": sum(1 for i in resolved if _quick(i, HANDOFF_NOISY_MINUTES)),
            "by_state": {state: by_state.get(state, 0) for state in INCIDENT_STATES},
            "by_severity": {s: by_severity.get(s, 0) for s in SEVERITY_RANK},
        }

    @staticmethod
    def _attention(incident: Incident, now: str) -> dict[str, Any]:
        return {**_brief(incident), "service": incident.service,
                "namespace": incident.namespace, "cluster": incident.cluster,
                "alert_count": incident.alert_count, "reopened_count": incident.reopened_count,
                "acknowledged_at": incident.acknowledged_at,
                "acknowledged_by": incident.acknowledged_by,
                "age_minutes": minutes_between(incident.created_at, now)}

    def postmortem(self, workspace_id: str, incident_id: str) -> dict[str, Any]:
        """A postmortem draft of the incident from its stored facts only: no cause is guessed."""
        incident = self.incidents.get(workspace_id, incident_id)
        events, cut = self.incidents.events(workspace_id, incident_id)
        group = self.incidents.group(workspace_id, incident_id)
        deploy = self.deploys.correlation(workspace_id, incident_id,
                                          POSTMORTEM_DEPLOY_LOOKBACK_MINUTES)
        now = now_iso()
        document = {
            "title": f"Postmortem: {incident.title}",
            "status": "draft",
            "summary": _summary(incident),
            "impact": _impact(incident, now, len(group["children"])),
            "detection": _detection(incident, events),
            "response": _response(incident, events),
            "resolution": _resolution(incident),
            "root_cause": None,
            "root_cause_note": "No diagnosis is stored for this incident, so no root cause "
                               "is stated; establish it in the review.",
            "timeline": [{"created_at": e.created_at, "event_type": e.event_type,
                          "actor": e.actor, "description": describe_event(e)} for e in events],
            "timeline_truncated": cut,
            "metrics": response_metrics(incident, events),
            "actions": [],
            "correlated_incidents": {
                "parent_id": incident.parent_id,
                "correlation_reason": incident.correlation_reason,
                "previous_incident_id": incident.previous_incident_id,
                "children": group["children"]},
            "deploy_correlation": deploy,
        }
        document["follow_ups"] = follow_ups(incident, document)
        return {"incident_id": incident_id, "postmortem": document,
                "markdown": render_markdown(incident_id, document, now), "generated_at": now}


def _summary(incident: Incident) -> str:
    where = ", ".join(f"{k} {v}" for k, v in (("service", incident.service),
                                               ("namespace", incident.namespace),
                                               ("cluster", incident.cluster)) if v)
    text = (f"{incident.severity.capitalize()} incident \"{incident.title}\""
            f"{f' ({where})' if where else ''} opened at {incident.created_at} "
            f"from {incident.source} after {incident.alert_count} alert(s)")
    if incident.state == "resolved":
        return f"{text}; resolved at {incident.resolved_at}."
    return f"{text}; it is {incident.state}."


def _impact(incident: Incident, now: str, children: int) -> dict[str, Any]:
    ended = incident.resolved_at if incident.state == "resolved" else None
    return {"severity": incident.severity, "state": incident.state,
            "cluster": incident.cluster, "namespace": incident.namespace,
            "service": incident.service, "workload": incident.workload, "pod": incident.pod,
            "alert_count": incident.alert_count, "reopened_count": incident.reopened_count,
            "correlated_incidents": children,
            "started_at": incident.starts_at or incident.created_at, "ended_at": ended,
            "duration_minutes": minutes_between(incident.starts_at or incident.created_at,
                                                ended or now),
            "ongoing": ended is None}


def _detection(incident: Incident, events: list[TimelineEvent]) -> dict[str, Any]:
    first = next((e for e in events if e.event_type == "alert_received"), None)
    return {"source": incident.source, "integration": incident.integration,
            "first_alert_at": first.created_at if first else incident.created_at,
            "first_alert_by": first.actor if first else None,
            "alert_started_at": incident.starts_at,
            "detection_delay_minutes": minutes_between(incident.starts_at, incident.created_at),
            "fingerprint": incident.fingerprint, "generator_url": incident.generator_url}


def _response(incident: Incident, events: list[TimelineEvent]) -> dict[str, Any]:
    response = first_response(incident, events)
    return {"acknowledged_at": incident.acknowledged_at,
            "acknowledged_by": incident.acknowledged_by,
            "first_response_at": response[0] if response else None,
            "first_responder": response[1] if response else None,
            "time_to_first_response_minutes":
                minutes_between(incident.created_at, response[0]) if response else None}


def _resolution(incident: Incident) -> dict[str, Any]:
    if incident.state != "resolved":
        how = f"not resolved: the incident is {incident.state}"
    elif incident.resolved_by and is_human(incident.resolved_by):
        how = f"resolved by hand by {incident.resolved_by}"
    else:
        how = f"the source reported the alert resolved ({incident.resolved_by or 'unknown'})"
    return {"resolved": incident.state == "resolved", "resolved_at": incident.resolved_at,
            "resolved_by": incident.resolved_by, "how": how,
            "resolution_time_minutes": _duration(incident)}
