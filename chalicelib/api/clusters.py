"""Endpoint group ``clusters``: the registry (seed 003 ``/v1/api/clusters``) and the fleet
list and health score (seed 000 ``/api/clusters``).

Credentials go in (POST, PUT .../credentials) and never come out: every response is
``Cluster.public()``.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import Call, Reply, endpoint
from chalicelib.api.listing import PageRequest
from chalicelib.bootstrap import get_container
from chalicelib.domain.clusters import Cluster, ClusterInput, Credentials
from chalicelib.services.clusters import ClusterUpdate, ShareRequest

bp = Blueprint(__name__)
READ, WRITE = "clusters:read", "clusters:write"
V1 = "/v1/api/clusters"
SORTS = ("created_at", "name", "status", "provider", "updated_at")


def _actor(call: Call) -> str:
    return call.principal.actor if call.principal else "anonymous"


def _sort_key(cluster: dict[str, Any], field: str) -> Any:
    return cluster.get(field)


@endpoint(bp, V1, methods=("POST",), scope=WRITE, body=ClusterInput, status=201)
def register(call: Call) -> Reply:
    """Register a cluster, test it and take its first snapshot (201 even when the test
    fails: the status and last_error say why, and the credentials can be fixed)."""
    cluster = get_container().clusters.register(call.workspace_id, _actor(call),
                                                call.json_object())
    return Reply(201, cluster.public())


@endpoint(bp, V1, scope=READ)
def list_clusters(call: Call) -> dict[str, Any]:
    """The workspace's clusters with seed 003's page/limit/sort/order/search."""
    wanted = PageRequest.from_call(call, sorts=SORTS, default_sort="created_at",
                                   default_limit=20, max_limit=100, default_order="desc")
    rows = [c.public() for c in get_container().clusters.list(call.workspace_id)]
    if wanted.search:
        rows = [r for r in rows if wanted.search in f"{r['name']} {r['server']} "
                                                   f"{r['description'] or ''}".lower()]
    page = wanted.apply(rows, _sort_key)
    return {"clusters": page.pop("items"), **page}


@endpoint(bp, f"{V1}/default", scope=READ)
def default_cluster(call: Call) -> dict[str, Any]:
    """The default cluster."""
    return get_container().clusters.default(call.workspace_id).public()


@endpoint(bp, V1 + "/{name}", scope=READ)
def get_cluster(call: Call, name: str) -> dict[str, Any]:
    """One cluster."""
    return get_container().clusters.get(call.workspace_id, name).public()


@endpoint(bp, V1 + "/{name}", methods=("PUT",), scope=WRITE, body=ClusterUpdate)
def update_cluster(call: Call, name: str) -> dict[str, Any]:
    """Change server, description or provider."""
    return get_container().clusters.update(call.workspace_id, name, call.json()).public()


@endpoint(bp, V1 + "/{name}", methods=("DELETE",), scope=WRITE)
def delete_cluster(call: Call, name: str) -> dict[str, Any]:
    """Remove a cluster with its snapshots, health history and connection log."""
    removed: Cluster = get_container().clusters.delete(call.workspace_id, name)
    return {"deleted": True, "name": removed.name, "cluster_id": removed.cluster_id}


@endpoint(bp, V1 + "/{name}/default", methods=("PUT",), scope=WRITE)
def make_default(call: Call, name: str) -> dict[str, Any]:
    """Make this the workspace's default cluster."""
    return get_container().clusters.set_default(call.workspace_id, name).public()


@endpoint(bp, V1 + "/{name}/test", methods=("POST",), scope=WRITE)
def test_cluster(call: Call, name: str) -> dict[str, Any]:
    """Connect and report version and node count (502/503 with the reason on failure)."""
    return get_container().clusters.test(call.workspace_id, name)


@endpoint(bp, V1 + "/{name}/refresh", methods=("POST",), scope=WRITE)
def refresh_cluster(call: Call, name: str) -> dict[str, Any]:
    """Re-read metadata and take a new snapshot; returns the cluster and what was found."""
    container = get_container()
    result = container.clusters.refresh(call.workspace_id, name)
    cluster = container.clusters.get(call.workspace_id, name)
    return {**cluster.public(), "snapshot": {
        "taken_at": result.snapshot.taken_at,
        "objects": {k: len(v) for k, v in sorted(result.snapshot.objects.items())},
        "missing": result.snapshot.missing},
        "findings": len(result.findings), "health_score": result.health.score}


@endpoint(bp, V1 + "/{name}/status", scope=READ)
def cluster_status(call: Call, name: str) -> dict[str, Any]:
    """Connection status, last snapshot, findings by severity and health."""
    return get_container().cluster_views.status(call.workspace_id, name)


@endpoint(bp, V1 + "/{name}/metrics", scope=READ)
def cluster_metrics(call: Call, name: str) -> dict[str, Any]:
    """Capacity, and usage when metrics-server is installed."""
    return get_container().cluster_views.metrics(call.workspace_id, name)


@endpoint(bp, V1 + "/{name}/logs", scope=READ)
def cluster_logs(call: Call, name: str) -> dict[str, Any]:
    """The connection log: tests, snapshots, rotations, shares, newest first."""
    limit = call.int_query("limit", 50, 1, 500)
    return {"name": name, "logs": get_container().clusters.logs(call.workspace_id, name, limit)}


@endpoint(bp, V1 + "/{name}/credentials", methods=("PUT",), scope=WRITE, body=Credentials)
def rotate_credentials(call: Call, name: str) -> dict[str, Any]:
    """Replace the credentials and test them."""
    return get_container().clusters.rotate_credentials(call.workspace_id, name, call.json())


@endpoint(bp, V1 + "/{name}/share", methods=("POST",), scope=WRITE, body=ShareRequest)
def share_cluster(call: Call, name: str) -> dict[str, Any]:
    """Let another workspace read this cluster."""
    return get_container().clusters.share(call.workspace_id, name, call.json()).public()


@endpoint(bp, "/api/clusters", scope=READ)
def fleet(call: Call) -> list[dict[str, Any]]:
    """Seed 000: every registered cluster with its health status."""
    return get_container().cluster_views.fleet(call.workspace_id)


@endpoint(bp, "/api/clusters/{id}/health-score", scope=READ)
def health_score(call: Call, id: str) -> dict[str, Any]:
    """Seed 000: the score of the latest snapshot and its trend over stored history."""
    container = get_container()
    return container.snapshots.health(container.clusters.get(call.workspace_id, id))
