"""Use cases: read incidents, their timelines, groups, metrics and similar incidents."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import NotFound
from chalicelib.domain.models import Incident, TimelineEvent
from chalicelib.domain.ports import IncidentRepository
from chalicelib.domain.remediation import ActionRecord, ActionStore

# Actors of timeline events written for a person (an API key today, a login later); alerts
# are written as "<integration>:<source>" and lifecycle steps as "system".
HUMAN_ACTOR_PREFIXES = ("apikey:", "user:")
PAGE_SIZE = 100
MAX_TIMELINE_EVENTS = 1000
SIMILAR_CANDIDATES = 200
SIMILAR_MIN_SCORE = 0.25
_STOPWORDS = frozenset({"a", "an", "and", "at", "for", "in", "is", "of", "on", "the", "to"})
_TOKEN_RE = re.compile(r"[a-z0-9]+")


def minutes_between(start: str | None, end: str | None) -> float | None:
    """Minutes from one ISO time to another, rounded to 0.01; None if either is missing."""
    if not start or not end:
        return None
    delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return round(delta.total_seconds() / 60, 2)


def is_human(actor: str) -> bool:
    """Whether a timeline actor is a person rather than an alert source or the engine."""
    return actor.startswith(HUMAN_ACTOR_PREFIXES)


def collect(repo: IncidentRepository, workspace_id: str, *, state: str | None = None,
            since: str | None = None, max_items: int = 500) -> tuple[list[Incident], bool]:
    """Up to ``max_items`` incidents newest first, paged by Query; True if more remained."""
    items: list[Incident] = []
    cursor: str | None = None
    while len(items) < max_items:
        page = repo.list(workspace_id, state=state, limit=min(PAGE_SIZE, max_items - len(items)),
                         cursor=cursor, since=since)
        items.extend(page.items)
        cursor = page.next_cursor
        if not cursor:
            return items, False
    return items, True


def first_response(incident: Incident, events: list[TimelineEvent]) -> tuple[str, str] | None:
    """When and by whom the incident was first answered: its acknowledgement (by a person or
    by the source, e.g. a PagerDuty ack) or the first event a person wrote, whichever is first."""
    candidates = [(e.created_at, e.actor) for e in events if is_human(e.actor)]
    if incident.acknowledged_at:
        candidates.append((incident.acknowledged_at, incident.acknowledged_by or "unknown"))
    return min(candidates) if candidates else None


def response_metrics(incident: Incident, events: list[TimelineEvent]) -> dict[str, Any]:
    """Seed 004's metrics: time to first response, time to resolution, actions taken."""
    response = first_response(incident, events)
    resolved_at = incident.resolved_at if incident.state == "resolved" else None
    return {
        "time_to_first_response_minutes":
            minutes_between(incident.created_at, response[0]) if response else None,
        "resolution_time_minutes": minutes_between(incident.created_at, resolved_at),
        "actions_taken": sum(1 for e in events if e.event_type == "action_executed"),
    }


OUTCOMES = {"succeeded": "success", "dry_run": "dry_run"}


def action_view(record: ActionRecord) -> dict[str, Any]:
    """One action as seed 004 lists them (plus its id, state and who asked)."""
    return {"action": record.action, "outcome": OUTCOMES.get(record.state, record.state),
            "dry_run": record.dry_run, "namespace": record.arguments.get("namespace"),
            "created_at": record.created_at, "action_id": record.id, "state": record.state,
            "requested_by": record.requested_by, "approved_by": record.approved_by,
            "arguments": record.arguments, "source": record.source}


def metric_timeline(incident: Incident, events: list[TimelineEvent]) -> list[dict[str, Any]]:
    """Each metric at the moment it became known: first response, then every resolution."""
    entries: list[dict[str, Any]] = []
    response = first_response(incident, events)
    if response:
        entries.append({"metric_name": "time_to_first_response_minutes",
                        "value": minutes_between(incident.created_at, response[0]),
                        "created_at": response[0]})
    resolutions = [e.created_at for e in events if e.event_type == "incident_resolved"]
    if not resolutions and incident.resolved_at:
        resolutions = [incident.resolved_at]  # the timeline was longer than we read
    entries += [{"metric_name": "resolution_time_minutes",
                 "value": minutes_between(incident.created_at, at), "created_at": at}
                for at in resolutions]
    return sorted(entries, key=lambda entry: entry["created_at"])


def _tokens(text: str) -> set[str]:
    return {t for t in _TOKEN_RE.findall(text.lower()) if len(t) > 1 and t not in _STOPWORDS}


def _context(incident: Incident) -> set[str]:
    facts = {"service": incident.service, "namespace": incident.namespace,
             "workload": incident.workload or incident.deployment,
             "cluster": incident.cluster, "source": incident.source}
    return {f"{name}:{value}" for name, value in facts.items() if value}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def similarity(a: Incident, b: Incident) -> float:
    """Similarity in [0, 1]: 1.0 for the same alert fingerprint, else
    0.7 * Jaccard(title tokens) + 0.3 * Jaccard({service, namespace, workload, cluster, source})."""
    if a.fingerprint == b.fingerprint and a.integration == b.integration:
        return 1.0
    score = 0.7 * _jaccard(_tokens(a.title), _tokens(b.title)) \
        + 0.3 * _jaccard(_context(a), _context(b))
    return round(score, 2)


@dataclass
class IncidentService:
    """Reads incidents of one workspace."""

    incidents: IncidentRepository
    # Past incidents with the same diagnosis signature (the token index), if wired.
    by_signature: Callable[[str, Incident, int], list[Any]] | None = None
    # Remediation action records, if wired.
    action_store: ActionStore | None = None

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

    def events(self, workspace_id: str, incident_id: str) -> tuple[list[TimelineEvent], bool]:
        """The incident's timeline oldest first, up to 1,000 events; True if it was cut."""
        events: list[TimelineEvent] = []
        cursor: str | None = None
        while len(events) < MAX_TIMELINE_EVENTS:
            page = self.incidents.timeline(workspace_id, incident_id, cursor=cursor,
                                           limit=min(500, MAX_TIMELINE_EVENTS - len(events)))
            events.extend(page.items)
            cursor = page.next_cursor
            if not cursor:
                return events, False
        return events, True

    def detail(self, workspace_id: str, incident_id: str) -> dict[str, Any]:
        """Return the incident with its response metrics and actions (seed 004)."""
        incident = self.get(workspace_id, incident_id)
        events, _ = self.events(workspace_id, incident_id)
        return {"incident": incident.model_dump(),
                "metrics": response_metrics(incident, events),
                "actions": self._actions(workspace_id, incident_id)}

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

    def metrics(self, workspace_id: str, incident_id: str) -> dict[str, Any]:
        """The incident's metrics and when each became known (seed 004)."""
        incident = self.get(workspace_id, incident_id)
        events, _ = self.events(workspace_id, incident_id)
        return {"incident_id": incident_id, "summary": response_metrics(incident, events),
                "timeline": metric_timeline(incident, events)}

    def actions(self, workspace_id: str, incident_id: str) -> dict[str, Any]:
        """The incident's remediation actions, newest first (seed 004)."""
        self.get(workspace_id, incident_id)
        actions = self._actions(workspace_id, incident_id)
        return {"incident_id": incident_id, "actions": actions, "count": len(actions)}

    def _actions(self, workspace_id: str, incident_id: str) -> list[dict[str, Any]]:
        if self.action_store is None:
            return []
        return [action_view(r) for r in self.action_store.list(
            workspace_id, incident_id=incident_id, limit=100)]

    def activity(self, workspace_id: str, limit: int = 50) -> dict[str, Any]:
        """The workspace's recent remediation actions, newest first (seed 004)."""
        records = self.action_store.list(workspace_id, limit=limit) if self.action_store else []
        activity = [{**action_view(r), "incident_id": r.incident_id} for r in records]
        return {"activity": activity, "count": len(activity)}

    def group(self, workspace_id: str, incident_id: str) -> dict[str, Any]:
        """The incident's parent and the incidents correlated into it (seed 004)."""
        incident = self.get(workspace_id, incident_id)
        children = [{"incident_id": c["incident_id"],
                     "correlation_reason": c.get("correlation_reason"),
                     "created_at": c.get("created_at")}
                    for c in self.incidents.children(workspace_id, incident_id)]
        return {"incident_id": incident_id, "parent_id": incident.parent_id,
                "correlation_reason": incident.correlation_reason,
                "children": children, "is_parent": bool(children)}

    def similar(self, workspace_id: str, incident_id: str, limit: int) -> dict[str, Any]:
        """Past incidents like this one, best first: those with the same diagnosis signature
        (from the token index), then by title and context among the workspace's newest 200
        (and the incident this one re-fired from); see ``similarity`` for that score."""
        incident = self.get(workspace_id, incident_id)
        candidates, _ = collect(self.incidents, workspace_id, max_items=SIMILAR_CANDIDATES)
        known = {c.id for c in candidates}
        previous = incident.previous_incident_id
        if previous and previous not in known:
            older = self.incidents.get(workspace_id, previous)
            candidates += [older] if older else []
        scored = [(similarity(incident, c), c) for c in candidates if c.id != incident.id]
        scored = [(s, c) for s, c in scored if s >= SIMILAR_MIN_SCORE]
        scored.sort(key=lambda sc: (sc[0], sc[1].created_at), reverse=True)
        similar = [{"id": c.id, "title": c.title, "similarity_score": score,
                    "severity": c.severity, "state": c.state, "created_at": c.created_at}
                   for score, c in scored[:limit]]
        if self.by_signature is not None:
            indexed = [s.model_dump() for s in self.by_signature(workspace_id, incident, limit)]
            seen = {s["id"] for s in indexed}
            similar = sorted(indexed + [s for s in similar if s["id"] not in seen],
                             key=lambda s: -s["similarity_score"])[:limit]
        return {"incident_id": incident_id, "similar_incidents": similar,
                "count": len(similar)}
