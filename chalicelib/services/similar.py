"""Similar past incidents, found through signature tokens stored as DynamoDB keys.

An incident's signature is a few weighted tokens: what failed (category, knowledge entry),
where (workload, service, namespace) and what alerted (alert name). Looking one up is a
Query per token; candidates are scored by the weight of the tokens they share. Resolved
incidents bring their resolution (what the person who resolved them said).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.diagnosis import Diagnosis, SimilarIncident
from chalicelib.domain.diagnosis_ports import SimilarIndex
from chalicelib.domain.models import Incident
from chalicelib.domain.ports import IncidentRepository

WEIGHTS = {"cat": 0.35, "kb": 0.15, "wl": 0.25, "svc": 0.1, "alert": 0.1, "ns": 0.05}
MIN_SCORE = 0.35
MAX_TOKEN = 200


def signature(incident: Incident, diagnosis: Diagnosis | None) -> list[str]:
    """The tokens an incident is indexed (and looked up) under; without the diagnosis at
    hand, the category its incident keeps stands for it."""
    ns = incident.namespace or (diagnosis.subject.namespace if diagnosis else None)
    workload = incident.workload or incident.deployment
    category = diagnosis.category if diagnosis else incident.diagnosis_category
    tokens = [f"cat:{category}"] if category else []
    tokens += [f"kb:{k}" for k in (diagnosis.knowledge_ids[:1] if diagnosis else [])]
    if workload:
        tokens.append(f"wl:{ns or ''}/{workload}")
    if incident.service:
        tokens.append(f"svc:{incident.service}")
    if incident.labels.get("alertname"):
        tokens.append(f"alert:{incident.labels['alertname']}")
    if ns:
        tokens.append(f"ns:{ns}")
    return [t[:MAX_TOKEN] for t in dict.fromkeys(tokens)]


def score(query: list[str], candidate: list[str]) -> float:
    """Weight of the shared tokens over the weight of the query's tokens."""
    total = sum(WEIGHTS[t.split(":", 1)[0]] for t in query)
    shared = sum(WEIGHTS[t.split(":", 1)[0]] for t in set(query) & set(candidate))
    return round(shared / total, 2) if total else 0.0


@dataclass
class SimilarService:
    """Indexes diagnosed incidents and finds the ones like a new one."""

    index: SimilarIndex
    incidents: IncidentRepository

    def find(self, workspace_id: str, incident: Incident, diagnosis: Diagnosis | None,
             limit: int = 5) -> list[SimilarIncident]:
        """The most similar other incidents, with their state and resolution (none for an
        incident that was never diagnosed: it has no signature yet)."""
        tokens = signature(incident, diagnosis)
        if not any(t.startswith("cat:") for t in tokens):
            return []
        scored = [(score(tokens, c["tokens"]), c)
                  for c in self.index.lookup(workspace_id, tokens)
                  if c["incident_id"] != incident.id]
        scored = sorted((s for s in scored if s[0] >= MIN_SCORE),
                        key=lambda s: (s[0], s[1].get("created_at", "")), reverse=True)
        found = []
        for value, record in scored[:limit]:
            past = self.incidents.get(workspace_id, record["incident_id"])
            found.append(_similar(value, record, past))
        return found

    def remember(self, workspace_id: str, incident: Incident, diagnosis: Diagnosis) -> None:
        """Index an incident under its signature."""
        self.index.add(workspace_id, {
            "incident_id": incident.id, "title": incident.title[:300],
            "category": diagnosis.category, "created_at": incident.created_at},
            signature(incident, diagnosis))


def _similar(value: float, record: dict[str, Any], past: Incident | None) -> SimilarIncident:
    resolution = None
    if past is not None and past.state == "resolved":
        resolution = past.resolution or (
            "resolved when its alert stopped firing" if (past.resolved_by or "").startswith(
                ("system", "alert")) or not past.resolved_by else f"resolved by {past.resolved_by}")
    return SimilarIncident(
        id=record["incident_id"], title=past.title if past else record.get("title", ""),
        similarity_score=value, resolution=resolution, category=record.get("category"),
        state=past.state if past else None, severity=past.severity if past else None,
        created_at=record.get("created_at"))
