"""Use cases: read a cluster into a snapshot, analyze it, score its health, keep all three."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib.domain import health
from chalicelib.domain.clock import iso, now_iso, parse_time, utcnow
from chalicelib.domain.cluster_ports import ClusterClient, ClusterDataStore
from chalicelib.domain.clusters import Cluster, ClusterRejected
from chalicelib.domain.errors import DroverError, NotFound
from chalicelib.domain.kube import (
    SNAPSHOT_KINDS,
    Finding,
    ResourceKind,
    Snapshot,
    compact,
    event_time,
    meta,
)
from chalicelib.domain.log_lines import error_lines

logger = logging.getLogger("drover.snapshots")
MAX_EVENTS = 5000
MAX_LOG_PODS = 30
LOG_LINES = 100
READERS = 4
TREND_WINDOW = timedelta(hours=24)


@dataclass
class SnapshotResult:
    """A fresh snapshot with what was found in it."""

    snapshot: Snapshot
    findings: list[Finding]
    health: health.HealthScore


def _read_kind(client: ClusterClient, kind: ResourceKind) -> tuple[str, list[Any] | str]:
    try:
        return kind.plural, client.list(kind)
    except (ClusterRejected, NotFound) as exc:
        if getattr(exc, "code", "") == "cluster_unauthorized":
            raise
        # RBAC forbids it or the API group is absent: the snapshot says so and goes on.
        return kind.plural, exc.message


def read_snapshot(cluster_id: str, client: ClusterClient,
                  version: str | None = None) -> Snapshot:
    """Every snapshot kind from the API server, compacted; events capped to the newest."""
    taken_at = now_iso()
    objects: dict[str, list[Any]] = {}
    missing: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        for plural, found in pool.map(lambda k: _read_kind(client, k),
                                      SNAPSHOT_KINDS.values()):
            if isinstance(found, str):
                missing[plural] = found
                continue
            kept = sorted(found, key=event_time)[-MAX_EVENTS:] \
                if plural == "events" and len(found) > MAX_EVENTS else found
            objects[plural] = [compact(plural, o) for o in kept]
    snapshot = Snapshot(cluster_id=cluster_id, taken_at=taken_at, objects=objects,
                        version=version, missing=missing)
    snapshot.logs = sample_logs(client, snapshot.items("pods"))
    return snapshot


def _log_priority(pod: Any) -> tuple[int, str]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    troubled = any(c.get("restartCount") or not c.get("ready") for c in statuses)
    return (0 if troubled else 1, str((pod.get("metadata") or {}).get("name")))


def sample_logs(client: ClusterClient, pods: list[Any]) -> dict[str, list[str]]:
    """Error lines of the running containers of up to MAX_LOG_PODS pods (troubled ones
    first): a failure Kubernetes reports as healthy shows only in its logs."""
    running = sorted((p for p in pods if (p.get("status") or {}).get("phase") == "Running"),
                     key=_log_priority)[:MAX_LOG_PODS]
    targets = [(meta(p).get("namespace") or "default", meta(p).get("name") or "", c["name"])
               for p in running
               for c in (p.get("status") or {}).get("containerStatuses") or []
               if "running" in (c.get("state") or {})]

    def read(target: tuple[str, str, str]) -> tuple[str, list[str]]:
        namespace, pod, container = target
        try:
            text = client.pod_log(namespace, pod, container=container, tail_lines=LOG_LINES)
        except DroverError:
            return "", []  # a log that cannot be read is simply not sampled
        return f"{namespace}/{pod}/{container}", error_lines(text)

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return {key: lines for key, lines in pool.map(read, targets) if lines}


@dataclass
class SnapshotService:
    """Takes, analyzes and keeps snapshots; serves the stored findings and health."""

    data: ClusterDataStore
    # Called with (cluster, client, snapshot) after each snapshot is stored, e.g. to record
    # metrics-server usage for the metrics history; it must not raise.
    on_snapshot: Callable[[Cluster, ClusterClient, Snapshot], Any] | None = None

    def take(self, cluster: Cluster, client: ClusterClient) -> SnapshotResult:
        """Read the cluster now, analyze, score, and store the lot."""
        from chalicelib.plugins.analyzers import analyze

        snapshot = read_snapshot(cluster.cluster_id, client, cluster.version)
        findings = analyze(snapshot)
        previous = self.data.findings(cluster.cluster_id)
        seen = {f.key: f.first_seen for f in previous[1]} if previous else {}
        for finding in findings:
            finding.first_seen = seen.get(finding.key) or snapshot.taken_at
        scored = health.score(snapshot, findings)
        self.data.put_snapshot(snapshot, findings)
        if self.on_snapshot is not None:
            self.on_snapshot(cluster, client, snapshot)
        self.data.add_health(cluster.cluster_id, {
            "at": snapshot.taken_at, "score": scored.score, "status": scored.status,
            **scored.breakdown()})
        return SnapshotResult(snapshot, findings, scored)

    def latest(self, cluster: Cluster) -> Snapshot | None:
        """The stored snapshot, if any."""
        return self.data.snapshot(cluster.cluster_id)

    def findings(self, cluster: Cluster) -> tuple[str, list[Finding]] | None:
        """The stored findings and when they were found."""
        return self.data.findings(cluster.cluster_id)

    def health(self, cluster: Cluster) -> dict[str, Any]:
        """Score and trend from the stored history (seed 000 health-score, plus detail)."""
        since = iso(utcnow() - TREND_WINDOW * 2)
        points = self.data.health_history(cluster.cluster_id, since=since)
        if not points:
            return {"score": None, "trend": "unknown", "health_status": "unknown",
                    "cluster_id": cluster.cluster_id, "computed_at": None,
                    "message": "no snapshot of this cluster yet; POST .../refresh takes one",
                    "history": []}
        current = points[-1]
        window_start = iso((_time(current["at"])) - TREND_WINDOW)
        earlier = [int(p["score"]) for p in points[:-1] if p["at"] >= window_start]
        return {"score": int(current["score"]), "trend": health.trend(int(current["score"]),
                                                                      earlier),
                "health_status": current.get("status"), "cluster_id": cluster.cluster_id,
                "computed_at": current["at"], "formula": health.__doc__.strip().splitlines()[2]
                .strip(), "breakdown": {k: current.get(k) for k in (
                    "nodes_total", "nodes_ready", "pods_total", "pods_ready", "findings")},
                "history": [{"at": p["at"], "score": p["score"]} for p in points[-48:]]}


def _time(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(parse_time(value) or value)
