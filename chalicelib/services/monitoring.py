"""Monitoring views of registered clusters (seed 000 ``/api/monitoring/{status,metrics,alerts}``),
read live from the API servers and from metrics-server (metrics.k8s.io).

Without metrics-server the answers say so (``available: false`` with the reason) instead of
failing or guessing: node conditions still raise alerts, usage thresholds cannot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.clock import now_iso
from chalicelib.domain.cluster_ports import ClusterClient
from chalicelib.domain.clusters import Cluster
from chalicelib.domain.errors import DroverError
from chalicelib.domain.kube import SNAPSHOT_KINDS, Obj, meta
from chalicelib.domain.quantity import cores, gib
from chalicelib.services.cluster_snapshots import SnapshotService
from chalicelib.services.clusters import ClusterService

PROBES = 8
USAGE_THRESHOLD = 0.9
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
NO_METRICS = ("metrics.k8s.io is not served by this cluster: metrics-server is not installed "
              "(or its APIService is missing), so live CPU and memory usage are unknown")
# Node condition -> (status that fires, alert name, severity).
CONDITION_ALERTS: dict[str, tuple[str, str, str]] = {
    "Ready": ("not True", "NodeNotReady", "critical"),
    "MemoryPressure": ("True", "NodeMemoryPressure", "warning"),
    "DiskPressure": ("True", "NodeDiskPressure", "warning"),
    "PIDPressure": ("True", "NodePIDPressure", "warning"),
    "NetworkUnavailable": ("True", "NodeNetworkUnavailable", "critical"),
}


def alert_id(cluster_id: str, name: str, node: str | None) -> str:
    """A stable id: the same alert on the same node keeps its id while it fires."""
    return "alert-" + hashlib.sha256(f"{cluster_id}|{name}|{node or ''}".encode()).hexdigest()[:16]


def _alert(cluster: Cluster, name: str, severity: str, node: str, *, message: str,
           since: str | None, source: str) -> dict[str, Any]:
    return {"id": alert_id(cluster.cluster_id, name, node), "severity": severity, "name": name,
            "message": message, "firing_since": since, "cluster": cluster.name,
            "cluster_id": cluster.cluster_id, "node": node, "source": source}


def condition_alerts(cluster: Cluster, node: Obj) -> list[dict[str, Any]]:
    """Alerts from a node's conditions; firing_since is the condition's lastTransitionTime."""
    name = str(meta(node).get("name"))
    alerts = []
    for condition in (node.get("status") or {}).get("conditions") or []:
        rule = CONDITION_ALERTS.get(str(condition.get("type")))
        if rule is None:
            continue
        fires_on, alert_name, severity = rule
        status = str(condition.get("status"))
        if (status != "True") if fires_on == "not True" else (status == fires_on):
            detail = condition.get("message") or condition.get("reason") or ""
            alerts.append(_alert(
                cluster, alert_name, severity, name,
                message=f"Node {name} {condition['type']}={status}: {detail}".strip(),
                since=condition.get("lastTransitionTime"), source="node_condition"))
    return alerts


def usage_alerts(cluster: Cluster, node: Obj, usage: Obj | None) -> list[dict[str, Any]]:
    """Alerts for CPU or memory use above 90% of allocatable (metrics-server's sample)."""
    if usage is None:
        return []
    name = str(meta(node).get("name"))
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    used = usage.get("usage") or {}
    alerts = []
    for resource, measure, alert_name in (("memory", gib, "NodeMemoryUsageHigh"),
                                          ("cpu", cores, "NodeCPUUsageHigh")):
        total, current = measure(allocatable.get(resource)), measure(used.get(resource))
        if total and current / total >= USAGE_THRESHOLD:
            alerts.append(_alert(
                cluster, alert_name, "warning", name,
                message=f"Node {name} {resource} usage at {100 * current / total:.0f}% of "
                        f"allocatable (threshold {USAGE_THRESHOLD:.0%})",
                since=usage.get("timestamp"), source="metrics-server"))
    return alerts


def node_usage_rows(nodes: list[Obj], usage: list[Obj]) -> list[dict[str, Any]]:
    """Per-node usage against allocatable."""
    by_name = {meta(u).get("name"): u for u in usage}
    rows = []
    for node in nodes:
        name = meta(node).get("name")
        sample = by_name.get(name)
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        cpu_total, mem_total = cores(allocatable.get("cpu")), gib(allocatable.get("memory"))
        used = (sample or {}).get("usage") or {}
        cpu, mem = cores(used.get("cpu")), gib(used.get("memory"))
        rows.append({"name": name, "reported": sample is not None,
                     "cpu_cores": round(cpu, 3) if sample else None,
                     "cpu_allocatable_cores": round(cpu_total, 3),
                     "cpu_percent": _pct(cpu, cpu_total) if sample else None,
                     "memory_gib": round(mem, 3) if sample else None,
                     "memory_allocatable_gib": round(mem_total, 3),
                     "memory_percent": _pct(mem, mem_total) if sample else None,
                     "timestamp": (sample or {}).get("timestamp"),
                     "window": (sample or {}).get("window")})
    return rows


def pod_usage_rows(usage: list[Obj]) -> list[dict[str, Any]]:
    """Per-pod usage (the sum of its containers), busiest CPU first."""
    rows = []
    for sample in usage:
        containers = sample.get("containers") or []
        cpu = sum(cores((c.get("usage") or {}).get("cpu")) for c in containers)
        mem = sum(gib((c.get("usage") or {}).get("memory")) for c in containers)
        rows.append({"namespace": meta(sample).get("namespace"), "name": meta(sample).get("name"),
                     "cpu_cores": round(cpu, 4), "memory_mib": round(mem * 1024, 1),
                     "containers": len(containers), "timestamp": sample.get("timestamp")})
    rows.sort(key=lambda r: (-r["cpu_cores"], r["namespace"] or "", r["name"] or ""))
    return rows


def _pct(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass
class MonitoringService:
    """Live health of the API servers and metrics-server, usage, and alerts."""

    clusters: ClusterService
    snapshots: SnapshotService

    def _chosen(self, workspace_id: str, cluster_ref: str | None) -> list[Cluster]:
        if cluster_ref:
            return [self.clusters.get(workspace_id, cluster_ref)]
        return self.clusters.list(workspace_id)

    def _each(self, clusters: list[Cluster],
              probe: Callable[[Cluster, ClusterClient], dict[str, Any]]) -> list[Any]:
        """Run a probe per cluster in parallel; a failure becomes that cluster's error."""
        clients: list[ClusterClient | DroverError] = []
        for cluster in clusters:  # credentials are read here, not in the worker threads
            try:
                clients.append(self.clusters.client(cluster))
            except DroverError as exc:
                clients.append(exc)

        def run(pair: tuple[Cluster, ClusterClient | DroverError]) -> Any:
            cluster, client = pair
            if isinstance(client, DroverError):
                return client
            try:
                return probe(cluster, client)
            except DroverError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=max(1, min(PROBES, len(clusters)))) as pool:
            return list(pool.map(run, zip(clusters, clients, strict=True)))

    def status(self, workspace_id: str, cluster_ref: str | None) -> dict[str, Any]:
        """Per cluster: does the API server answer, does metrics-server, when was the last
        snapshot."""
        clusters = self._chosen(workspace_id, cluster_ref)
        results = self._each(clusters, _probe_status)
        rows = []
        for cluster, result in zip(clusters, results, strict=True):
            found = self.snapshots.findings(cluster)
            row = result if isinstance(result, dict) else {
                "api_server": {"reachable": False, "version": None, "error": result.message},
                "metrics_server": {"available": None,
                                   "reason": "not checked: the API server did not answer"}}
            reachable, metrics = row["api_server"]["reachable"], row["metrics_server"]
            rows.append({"cluster": cluster.name, "cluster_id": cluster.cluster_id,
                         "provider": cluster.provider, **row,
                         "status": "unreachable" if not reachable
                         else ("ok" if metrics["available"] else "degraded"),
                         "last_snapshot_at": found[0] if found else None})
        return {"checked_at": now_iso(), "clusters": rows}

    def metrics(self, cluster: Cluster, namespace: str | None, limit: int) -> dict[str, Any]:
        """Node and pod usage from metrics-server; ``available: false`` without it."""
        client = self.clusters.client(cluster)
        node_usage = client.metrics("nodes")
        base = {"cluster": cluster.name, "cluster_id": cluster.cluster_id,
                "collected_at": now_iso(), "source": "metrics.k8s.io/v1beta1"}
        if node_usage is None:
            return {**base, "available": False, "reason": NO_METRICS, "nodes": [], "pods": []}
        nodes = client.list(SNAPSHOT_KINDS["nodes"])
        pods = pod_usage_rows(client.metrics("pods", namespace) or [])
        rows = node_usage_rows(nodes, node_usage)
        cpu = sum(r["cpu_cores"] or 0 for r in rows)
        mem = sum(r["memory_gib"] or 0 for r in rows)
        cpu_total = sum(r["cpu_allocatable_cores"] for r in rows)
        mem_total = sum(r["memory_allocatable_gib"] for r in rows)
        return {**base, "available": True, "namespace": namespace,
                "totals": {"cpu_cores": round(cpu, 3), "cpu_allocatable_cores": round(cpu_total, 3),
                           "cpu_percent": _pct(cpu, cpu_total), "memory_gib": round(mem, 3),
                           "memory_allocatable_gib": round(mem_total, 3),
                           "memory_percent": _pct(mem, mem_total), "pods_reported": len(pods)},
                "nodes": rows, "pods": pods[:limit], "pods_truncated": len(pods) > limit}

    def alerts(self, workspace_id: str, cluster_ref: str | None) -> dict[str, Any]:
        """Firing alerts from node conditions and, with metrics-server, usage thresholds."""
        clusters = self._chosen(workspace_id, cluster_ref)
        results = self._each(clusters, _probe_alerts)
        alerts: list[dict[str, Any]] = []
        sources = []
        for cluster, result in zip(clusters, results, strict=True):
            if isinstance(result, DroverError):
                sources.append({"cluster": cluster.name, "checked": False,
                                "reason": result.message})
                continue
            alerts += result["alerts"]
            sources.append({"cluster": cluster.name, "checked": True,
                            "usage_checked": result["usage_checked"],
                            "reason": result["reason"]})
        alerts.sort(key=lambda a: (SEVERITY_ORDER.get(a["severity"], 9), a["cluster"],
                                   a["node"] or "", a["name"]))
        return {"alerts": alerts, "checked_at": now_iso(), "clusters": sources}


def _probe_status(cluster: Cluster, client: ClusterClient) -> dict[str, Any]:
    check = client.check()
    api = {"reachable": True, "version": check.version, "nodes": check.node_count,
           "error": None}
    try:
        usage = client.metrics("nodes")
    except DroverError as exc:  # installed but failing: the APIService answers 503
        return {"api_server": api, "metrics_server": {"available": False, "reason": exc.message}}
    if usage is None:
        return {"api_server": api, "metrics_server": {"available": False, "reason": NO_METRICS}}
    return {"api_server": api, "metrics_server": {"available": True, "reason": None,
                                                  "nodes_reporting": len(usage)}}


def _probe_alerts(cluster: Cluster, client: ClusterClient) -> dict[str, Any]:
    nodes = client.list(SNAPSHOT_KINDS["nodes"])
    reason = NO_METRICS
    try:
        usage = client.metrics("nodes")
    except DroverError as exc:  # metrics-server installed but failing
        usage, reason = None, exc.message
    by_name = {meta(u).get("name"): u for u in usage or []}
    alerts = []
    for node in nodes:
        alerts += condition_alerts(cluster, node)
        alerts += usage_alerts(cluster, node, by_name.get(meta(node).get("name")))
    return {"alerts": alerts, "usage_checked": usage is not None,
            "reason": None if usage is not None else reason}
