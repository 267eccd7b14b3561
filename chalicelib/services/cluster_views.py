"""Read views of registered clusters: the fleet list, status, resource metrics and issues."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.clusters import Cluster
from chalicelib.domain.health import node_is_ready
from chalicelib.domain.kube import SNAPSHOT_KINDS, Finding
from chalicelib.domain.quantity import cores, gib
from chalicelib.services.cluster_snapshots import SnapshotService
from chalicelib.services.clusters import ClusterService


def issue_id(cluster_id: str, finding: Finding) -> str:
    """A stable id for one finding on one cluster."""
    return "issue-" + hashlib.sha256(f"{cluster_id}|{finding.key}".encode()).hexdigest()[:16]


def issue(cluster: Cluster, finding: Finding, analyzed_at: str) -> dict[str, Any]:
    """A finding as seed 000's issue, with the analyzer's detail beside it."""
    where = f"{finding.namespace}/{finding.name}" if finding.namespace else finding.name
    return {"id": issue_id(cluster.cluster_id, finding), "severity": finding.severity,
            "title": f"{finding.kind} {where}: {finding.reason}",
            "detected_at": finding.first_seen or analyzed_at, "source": "analyzer",
            **finding.to_dict()}


@dataclass
class ClusterViews:
    """What the clusters and incidents groups show about registered clusters."""

    clusters: ClusterService
    snapshots: SnapshotService

    def fleet(self, workspace_id: str) -> list[dict[str, Any]]:
        """Seed 000 ``GET /api/clusters``: one row per cluster with its health."""
        rows = []
        for cluster in self.clusters.list(workspace_id):
            scored = self.snapshots.health(cluster)
            status = scored["health_status"]
            if cluster.status in ("unreachable", "unauthorized", "error"):
                status = cluster.status
            rows.append({"cluster_id": cluster.cluster_id, "cluster_name": cluster.name,
                         "health_status": status, "k8s_version": cluster.version,
                         "node_count": cluster.node_count, "provider": cluster.provider,
                         "health_score": scored["score"], "is_default": cluster.is_default,
                         "server": cluster.server, "status": cluster.status})
        return rows

    def status(self, workspace_id: str, name: str) -> dict[str, Any]:
        """Seed 003 ``GET .../{name}/status``: connection, last snapshot, findings, health."""
        cluster = self.clusters.get(workspace_id, name)
        stored = self.snapshots.latest(cluster)
        found = self.snapshots.findings(cluster)
        severities = {"critical": 0, "warning": 0, "info": 0}
        for f in found[1] if found else []:
            severities[f.severity] = severities.get(f.severity, 0) + 1
        return {
            **cluster.public(),
            "snapshot": None if stored is None else {
                "taken_at": stored.taken_at,
                "objects": {k: len(v) for k, v in sorted(stored.objects.items())},
                "missing": stored.missing},
            "findings": severities, "health": self.snapshots.health(cluster),
        }

    def metrics(self, workspace_id: str, name: str) -> dict[str, Any]:
        """Seed 003 ``GET .../{name}/metrics``: capacity and, with metrics-server, usage."""
        cluster = self.clusters.get(workspace_id, name)
        client = self.clusters.client(cluster)
        nodes = client.list(SNAPSHOT_KINDS["nodes"])
        pods = client.list(SNAPSHOT_KINDS["pods"], field_selector="status.phase=Running")
        usage = client.metrics("nodes")
        totals = {"cpu_capacity_cores": 0.0, "cpu_allocatable_cores": 0.0,
                  "memory_capacity_gib": 0.0, "memory_allocatable_gib": 0.0}
        for node in nodes:
            status = node.get("status") or {}
            totals["cpu_capacity_cores"] += cores((status.get("capacity") or {}).get("cpu"))
            totals["cpu_allocatable_cores"] += cores((status.get("allocatable") or {}).get("cpu"))
            totals["memory_capacity_gib"] += gib((status.get("capacity") or {}).get("memory"))
            totals["memory_allocatable_gib"] += gib(
                (status.get("allocatable") or {}).get("memory"))
        result: dict[str, Any] = {
            "cluster": cluster.name, "nodes": len(nodes),
            "nodes_ready": sum(1 for n in nodes if node_is_ready(n)), "pods_running": len(pods),
            **{k: round(v, 2) for k, v in totals.items()}, "metrics_server": usage is not None}
        if usage is None:
            result["usage"] = None
            result["message"] = ("metrics-server is not installed on this cluster, so only "
                                 "capacity is shown; install metrics-server for usage")
            return result
        cpu = sum(cores((u.get("usage") or {}).get("cpu")) for u in usage)
        memory = sum(gib((u.get("usage") or {}).get("memory")) for u in usage)
        result["usage"] = {
            "cpu_cores": round(cpu, 3), "memory_gib": round(memory, 2),
            "cpu_percent": _percent(cpu, totals["cpu_allocatable_cores"]),
            "memory_percent": _percent(memory, totals["memory_allocatable_gib"])}
        return result

    def issues(self, workspace_id: str, cluster_ref: str) -> dict[str, Any] | None:
        """The analyzers' findings of a registered cluster; None if it is not registered."""
        cluster = self.clusters.registry.get(workspace_id, cluster_ref[:253])
        if cluster is None:
            return None
        found = self.snapshots.findings(cluster)
        analyzed_at, findings = found if found else (None, [])
        return {"cluster": cluster, "analyzed_at": analyzed_at,
                "issues": [issue(cluster, f, analyzed_at or "") for f in findings]}


def _percent(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 1) if whole else None
