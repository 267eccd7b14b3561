"""Endpoint group ``incidents``: seed 000 (Pastures) advisories and cluster issues.

Both are views of the active incidents (open and acknowledged). An advisory's
``recommended_action`` stays null until a diagnosis exists: Drover does not invent a fix.
A registered cluster's issues are its analyzers' findings (read from the stored snapshot:
this group never talks to a cluster, nor imports the Kubernetes client) and its incidents.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import Call, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.models import Incident
from chalicelib.services.alerts_v1 import incidents_in_states

bp = Blueprint(__name__)
ACTIVE = ("open", "acknowledged")
# How strongly an advisory applies, from the incident's severity (a fixed, documented scale).
RELEVANCE = {"critical": 0.95, "high": 0.8, "warning": 0.6, "info": 0.3, "unknown": 0.5}
MAX_CLUSTER_ID = 253


def _active(call: Call, cluster: str | None) -> list[Incident]:
    found = incidents_in_states(get_container().incident_repository, call.workspace_id, ACTIVE)
    return [i for i in found if cluster is None or i.cluster == cluster]


def advisory(incident: Incident) -> dict[str, Any]:
    """One active incident as a Pastures advisory."""
    return {
        "id": "adv-" + incident.id.removeprefix("inc-"),
        "severity": incident.severity,
        "title": incident.title,
        "relevance": RELEVANCE[incident.severity],
        "recommended_action": None,
        "created_at": incident.created_at,
        "incident_id": incident.id,
        "cluster": incident.cluster,
    }


@endpoint(bp, "/api/advisories", scope="incidents:read")
def list_advisories(call: Call) -> dict[str, Any]:
    """Active advisories, most relevant first; ``?cluster=`` keeps one cluster's."""
    found = [advisory(i) for i in _active(call, call.query("cluster"))]
    found.sort(key=lambda a: (a["relevance"], a["created_at"]), reverse=True)
    return {"advisories": found}


@endpoint(bp, "/api/clusters/{id}/issues", scope="incidents:read")
def cluster_issues(call: Call, id: str) -> dict[str, Any]:
    """Active issues of one cluster: what the analyzers found in its latest snapshot, most
    severe first, then its open incidents. An unregistered cluster name still lists the
    incidents whose alerts named it."""
    container = get_container()
    found = container.cluster_views.issues(call.workspace_id, id)
    names = {id[:MAX_CLUSTER_ID]}
    analyzed: list[dict[str, Any]] = []
    result: dict[str, Any] = {"cluster_id": None, "analyzed_at": None}
    if found is not None:
        cluster = found["cluster"]
        names = {cluster.name, cluster.cluster_id}
        analyzed = found["issues"]
        result = {"cluster_id": cluster.cluster_id, "analyzed_at": found["analyzed_at"]}
    incidents = [
        {"id": i.id, "severity": i.severity, "title": i.title, "detected_at": i.created_at,
         "source": "incident", "incident_id": i.id}
        for i in _active(call, None) if i.cluster in names]
    return {"issues": analyzed + incidents, **result}
