"""Use cases of the resources endpoints: the catalog of a workspace's clusters built from
their stored snapshots (seed 003 ``/v1/api/resources``, Pulse's ``/api/v2/resources``), the
user fields kept beside it, live pods and usage read through the cluster client, and the
usage history recorded at each snapshot (Pulse's ``/api/metrics-store/history``).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.domain.clock import iso, parse_time, utcnow
from chalicelib.domain.cluster_ports import ClusterClient, ClusterDataStore
from chalicelib.domain.clusters import Cluster
from chalicelib.domain.errors import BadRequest, DroverError, NotFound, ValidationFailed
from chalicelib.domain.kube import SNAPSHOT_KINDS, Snapshot, meta
from chalicelib.domain.quantity import parse_quantity
from chalicelib.domain.validation import parse_body
from chalicelib.services.cluster_snapshots import SnapshotService
from chalicelib.services.clusters import ClusterService
from chalicelib.services.resource_model import (
    BY_KIND,
    DOWN_CLUSTER,
    POD_OWNERS,
    Entry,
    ResourceRef,
    build_catalog,
    parse_resource_id,
    resource_id,
)

logger = logging.getLogger("drover.resources")
Obj = dict[str, Any]
STALE_AFTER = timedelta(hours=1)
MAX_HISTORY_POINTS = 10_000
HISTORY_METRICS: dict[str, tuple[str, ...]] = {"Cluster": ("cpu", "memory", "health"),
                                               "Node": ("cpu", "memory")}
CLUSTER_TYPES = frozenset({"k8s-cluster", "cluster", "k8s"})
NO_USAGE = ("no usage points in this range: usage is recorded at each snapshot only while "
            "metrics-server is installed on the cluster")
USER_FIELDS = ("display_name", "description", "tags", "owner", "notes")
Tag = Annotated[str, StringConstraints(strip_whitespace=True,
                                       pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/=-]{0,62}$")]


class ResourceFieldStore(ABC):
    """User fields of resources, per workspace."""

    @abstractmethod
    def all(self, workspace_id: str) -> dict[str, Obj]:
        """Every annotated resource of the workspace, by resource id."""

    @abstractmethod
    def update(self, workspace_id: str, resource_id: str, changes: Obj, actor: str) -> Obj:
        """Set the fields given a value, remove those given None; the stored fields."""


class MetricPointStore(ABC):
    """Usage points recorded at each snapshot, per cluster and series."""

    @abstractmethod
    def put_snapshot(self, cluster_id: str, at: str, series: dict[str, Obj]) -> None:
        """Store one point per series (``cluster``, ``node:<name>``) and keep them as latest."""

    @abstractmethod
    def latest(self, cluster_id: str) -> Obj | None:
        """``{"at", "series"}`` of the last recorded snapshot, or None."""

    @abstractmethod
    def history(self, cluster_id: str, series: str, *, since: str, limit: int) -> list[Obj]:
        """Points (each with ``at``) since a time, oldest first."""


class ResourceFields(BaseModel):
    """Seed 003 ``PATCH /v1/api/resources/{id}``: what a user may say about a resource."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    display_name: str | None = Field(default=None, max_length=128)
    description: str | None = Field(default=None, max_length=2000)
    tags: list[Tag] | None = Field(default=None, max_length=20)
    owner: str | None = Field(default=None, max_length=128)
    notes: str | None = Field(default=None, max_length=4000)


def parse_fields(body: Any) -> Obj:
    """The fields a PATCH sets (a value) or clears (null); 422 for anything else."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object", code="invalid_body")
    unknown = sorted(set(body) - set(USER_FIELDS))
    if unknown:
        raise ValidationFailed(
            f"cannot change {', '.join(unknown)[:200]}: only the user fields "
            f"({', '.join(USER_FIELDS)}) can change; the rest comes from the cluster",
            code="invalid_payload")
    if not body:
        raise ValidationFailed(f"nothing to change: send one of {', '.join(USER_FIELDS)}",
                               code="invalid_payload")
    parsed = parse_body(ResourceFields, body, "resource update")
    changes = {name: getattr(parsed, name) for name in parsed.model_fields_set}
    return {k: (None if v == "" else v) for k, v in changes.items()}  # "" clears a field


@dataclass
class Catalog:
    """The entries of some clusters with what is kept beside them."""

    entries: list[Entry]
    fields: dict[str, Obj] = field(default_factory=dict)
    usage: dict[str, Obj] = field(default_factory=dict)  # entry id -> latest usage point
    sources: dict[str, Obj] = field(default_factory=dict)  # cluster id -> sourceStatus

    def get(self, rid: str) -> Entry | None:
        """The entry with this id."""
        return next((e for e in self.entries if e.id == rid), None)

    def children(self, rid: str) -> list[Entry]:
        """The listed entries whose parent this is."""
        return [e for e in self.entries if e.parent_id == rid and not e.hidden]


def source_status(cluster: Cluster, snapshot: Snapshot | None) -> Obj:
    """Pulse's per-source freshness: online, stale (old snapshot) or offline."""
    seen = snapshot.taken_at if snapshot else None
    if cluster.status in DOWN_CLUSTER:
        state = "offline"
    elif seen is None:
        state = "unknown"
    else:
        age = utcnow() - _time(seen)
        state = "stale" if age > STALE_AFTER else "online"
    found = {"status": state, "lastSeen": seen, "error": cluster.last_error}
    return {k: v for k, v in found.items() if v is not None}


def _time(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(parse_time(value) or value)


def not_found(rid: str) -> NotFound:
    """The 404 for an id that names nothing the workspace can see."""
    return NotFound(f"resource '{rid[:300]}' not found; ids look like "
                    "k8s:<cluster_id>:<kind>:<namespace>:<name>", code="resource_not_found")


def label_selector(selector: Obj | None) -> str:
    """A LabelSelector object as the ``labelSelector`` query string kubectl would send."""
    selector = selector or {}
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    ops = {"In": "in", "NotIn": "notin"}
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator", "")
        if op in ops:
            terms.append(f"{key} {ops[op]} ({','.join(expr.get('values') or [])})")
        elif op in ("Exists", "DoesNotExist"):
            terms.append(key if op == "Exists" else f"!{key}")
    return ",".join(terms)


@dataclass
class ResourceService:
    """The resources endpoints' use cases over snapshots, the client and the stores."""

    clusters: ClusterService
    snapshots: SnapshotService
    cluster_data: ClusterDataStore
    fields: ResourceFieldStore
    points: MetricPointStore

    def catalog(self, workspace_id: str, clusters: list[Cluster] | None = None) -> Catalog:
        """The entries of the given clusters (all the workspace's by default)."""
        chosen = self.clusters.list(workspace_id) if clusters is None else clusters
        catalog = Catalog([], self.fields.all(workspace_id) if chosen else {})
        for cluster in chosen:
            snapshot = self.snapshots.latest(cluster)
            found = self.snapshots.findings(cluster)
            catalog.entries += build_catalog(cluster, snapshot, found[1] if found else [])
            catalog.sources[cluster.cluster_id] = source_status(cluster, snapshot)
            catalog.usage.update(self._usage(cluster))
        return catalog

    def _usage(self, cluster: Cluster) -> dict[str, Obj]:
        latest = self.points.latest(cluster.cluster_id) or {}
        found = {}
        for series, values in (latest.get("series") or {}).items():
            kind, _, name = series.partition(":")
            rid = resource_id(cluster.cluster_id, "Node", None, name) if kind == "node" \
                else resource_id(cluster.cluster_id, "Cluster")
            found[rid] = {**values, "at": latest.get("at")}
        return found

    def locate(self, workspace_id: str, rid: str) -> tuple[ResourceRef, Cluster]:
        """What an id names and the workspace's cluster it is in (404 otherwise)."""
        ref = parse_resource_id(rid)
        cluster = self.clusters.registry.get(workspace_id, ref.cluster_id) if ref else None
        if ref is None or cluster is None:
            raise not_found(rid)
        return ref, cluster

    def find(self, workspace_id: str, rid: str) -> tuple[Entry, Catalog]:
        """One entry with its cluster's catalog (404 if the latest snapshot lacks it)."""
        _, cluster = self.locate(workspace_id, rid)
        catalog = self.catalog(workspace_id, [cluster])
        entry = catalog.get(rid)
        if entry is None:
            raise not_found(rid)
        return entry, catalog

    def tracked(self, workspace_id: str, *, cluster: str | None, namespace: str | None,
                kinds: set[str], search: str | None) -> tuple[list[Entry], Catalog]:
        """Seed 003's tracked resources: every object but the clusters themselves,
        ReplicaSets only when ``kinds`` names them."""
        chosen = [self.clusters.get(workspace_id, cluster)] if cluster else None
        catalog = self.catalog(workspace_id, chosen)
        rows = [e for e in catalog.entries if e.kind != "Cluster"
                and (e.kind in kinds if kinds else not e.hidden)
                and (namespace is None or e.namespace == namespace)
                and (not search or search in _haystack(e, catalog.fields.get(e.id) or {}))]
        return rows, catalog

    def update_fields(self, workspace_id: str, rid: str, body: Any,
                      actor: str) -> tuple[Entry, Catalog]:
        """Change the user fields of a resource the latest snapshot holds."""
        changes = parse_fields(body)
        entry, catalog = self.find(workspace_id, rid)
        catalog.fields[entry.id] = self.fields.update(workspace_id, entry.id, changes, actor)
        return entry, catalog

    def sync(self, workspace_id: str, cluster_ref: str | None) -> Obj:
        """Take a new snapshot of a cluster and count what it holds, by kind."""
        cluster = self.clusters.resolve(workspace_id, cluster_ref)
        result = self.clusters.refresh(workspace_id, cluster.cluster_id)
        cluster = self.clusters.get(workspace_id, cluster.cluster_id)
        counts: dict[str, int] = {}
        for entry in build_catalog(cluster, result.snapshot, result.findings)[1:]:
            counts[entry.kind] = counts.get(entry.kind, 0) + 1
        return {"cluster": cluster.name, "cluster_id": cluster.cluster_id,
                "synced_at": result.snapshot.taken_at, "counts": counts,
                "total": sum(counts.values()), "findings": len(result.findings),
                "missing": result.snapshot.missing}

    def workload_pods(self, workspace_id: str, rid: str) -> tuple[ResourceRef, str, list[Obj]]:
        """The pods a workload selects, read live with its label selector."""
        ref, cluster = self.locate(workspace_id, rid)
        if ref.kind not in POD_OWNERS:
            raise BadRequest(f"a {ref.kind} has no pods; pods are listed for "
                             f"{', '.join(sorted(POD_OWNERS))}", code="no_pods")
        client = self.clusters.client(cluster)
        workload = client.get(BY_KIND[ref.kind.lower()], ref.namespace, ref.name or "")
        selector = label_selector((workload.get("spec") or {}).get("selector"))
        if not selector:  # an empty selector would match every pod of the namespace
            return ref, selector, []
        return ref, selector, client.list(SNAPSHOT_KINDS["pods"], ref.namespace,
                                          label_selector=selector)

    def live_usage(self, workspace_id: str, rid: str) -> Obj:
        """Usage of a cluster, node, pod or workload from metrics-server, now."""
        entry, catalog = self.find(workspace_id, rid)
        if entry.kind not in ("Cluster", "Node", "Pod", *POD_OWNERS):
            return {"resourceId": rid, "available": False,
                    "reason": f"metrics-server measures nodes and pods; a {entry.kind} "
                              "has no usage of its own"}
        client = self.clusters.client(entry.cluster)
        by_node = entry.kind in ("Cluster", "Node")
        usage = client.metrics("nodes" if by_node else "pods",
                               None if by_node else entry.namespace)
        if usage is None:
            return {"resourceId": rid, "available": False,
                    "reason": f"metrics-server is not installed on cluster "
                              f"'{entry.cluster.name}' (the metrics.k8s.io API is absent), "
                              "so there is no live usage; install metrics-server to get it"}
        return {"resourceId": rid, **measure(entry, catalog, usage)}

    def record_snapshot_metrics(self, cluster: Cluster, client: ClusterClient,
                                snapshot: Snapshot) -> Obj:
        """Read metrics-server once and keep one usage point per node and one for the
        cluster, stamped with the snapshot's time; nothing when metrics-server is absent.
        Never raises: a snapshot must not fail because usage could not be read."""
        try:
            usage = client.metrics("nodes")
            if usage is None:
                return {"recorded": 0, "metrics_server": False}
            series = usage_series(snapshot.items("nodes"), usage)
            if series:
                self.points.put_snapshot(cluster.cluster_id, snapshot.taken_at, series)
        except DroverError as exc:
            logger.warning("usage of cluster %s not recorded: %s", cluster.cluster_id,
                           exc.message)
            return {"recorded": 0, "metrics_server": None, "error": exc.message}
        return {"recorded": len(series), "metrics_server": True}

    def history(self, workspace_id: str, query: HistoryQuery) -> Obj:
        """Pulse's metrics-store history of a cluster or node, from the stored points."""
        kind, cluster, series = self._history_target(workspace_id, query)
        offered = HISTORY_METRICS[kind]
        if query.metric and query.metric not in offered:
            raise BadRequest(f"'metric' for a {kind.lower()} must be one of "
                             f"{', '.join(offered)}", code="bad_parameter")
        end = utcnow()
        start = end - timedelta(seconds=query.seconds)
        wanted = [query.metric] if query.metric else list(offered)
        stored = self.points.history(cluster.cluster_id, series, since=iso(start),
                                     limit=MAX_HISTORY_POINTS) if wanted != ["health"] else []
        found: dict[str, list[Obj]] = {}
        for metric in wanted:
            if metric == "health":
                rows = [(_ms(p["at"]), p["score"]) for p in self.cluster_data.health_history(
                    cluster.cluster_id, since=iso(start), limit=MAX_HISTORY_POINTS)]
            else:
                rows = [(_ms(p["at"]), p[metric]) for p in stored if p.get(metric) is not None]
            found[metric] = downsample(rows, query.max_points)
        body: Obj = {"resourceType": query.resource_type, "resourceId": query.resource_id,
                     "range": query.range_label, "start": _ms(iso(start)),
                     "end": _ms(iso(end)), "source": "store"}
        if query.metric:
            body.update(metric=query.metric, points=found[query.metric])
        else:
            body["metrics"] = found
        usage_asked = [m for m in wanted if m != "health"]
        if usage_asked and not any(found[m] for m in usage_asked):
            body["message"] = NO_USAGE
        return body

    def _history_target(self, workspace_id: str, query: HistoryQuery) -> tuple[str, Cluster,
                                                                               str]:
        ref = parse_resource_id(query.resource_id)
        if ref is None:
            if query.resource_type not in CLUSTER_TYPES:
                raise not_found(query.resource_id)
            return "Cluster", self.clusters.get(workspace_id, query.resource_id), "cluster"
        if ref.kind not in HISTORY_METRICS:
            raise BadRequest(f"history is recorded for clusters and nodes, not for a "
                             f"{ref.kind}", code="no_history")
        _, cluster = self.locate(workspace_id, query.resource_id)
        return ref.kind, cluster, "cluster" if ref.kind == "Cluster" else f"node:{ref.name}"


@dataclass(frozen=True)
class HistoryQuery:
    """Pulse's ``GET /api/metrics-store/history`` parameters, validated."""

    resource_type: str
    resource_id: str
    metric: str | None
    range_label: str
    seconds: int
    max_points: int | None


def _haystack(entry: Entry, fields: Obj) -> str:
    words = [entry.name, entry.namespace or "", entry.kind, entry.cluster.name,
             *(str(fields.get(k) or "") for k in ("display_name", "description", "owner")),
             *(fields.get("tags") or [])]
    return " ".join(words).lower()


def _ms(value: str) -> int:
    return int(_time(value).timestamp() * 1000)


def downsample(points: list[tuple[int, float]], max_points: int | None) -> list[Obj]:
    """Pulse's points; consecutive points averaged into at most ``max_points`` buckets."""
    if not max_points or len(points) <= max_points:
        return [{"timestamp": t, "value": v, "min": v, "max": v, "count": 1} for t, v in points]
    size = -(-len(points) // max_points)
    buckets = [points[i:i + size] for i in range(0, len(points), size)]
    return [{"timestamp": sum(t for t, _ in b) // len(b),
             "value": round(sum(v for _, v in b) / len(b), 2),
             "min": min(v for _, v in b), "max": max(v for _, v in b), "count": len(b)}
            for b in buckets]


# Usage arithmetic (metrics-server items are ``usage`` for nodes, ``containers`` for pods).

def _amounts(item: Obj) -> tuple[float, float]:
    parts = item.get("containers") or [item]
    return (sum(parse_quantity((p.get("usage") or {}).get("cpu")) or 0.0 for p in parts),
            sum(parse_quantity((p.get("usage") or {}).get("memory")) or 0.0 for p in parts))


def _allocatable(node: Obj) -> tuple[float, float]:
    alloc = (node.get("status") or {}).get("allocatable") or {}
    return parse_quantity(alloc.get("cpu")) or 0.0, parse_quantity(alloc.get("memory")) or 0.0


def _limits(pod: Obj) -> tuple[float | None, float | None]:
    limits = [(c.get("resources") or {}).get("limits") or {}
              for c in (pod.get("spec") or {}).get("containers") or []]
    cpu = [parse_quantity(x.get("cpu")) for x in limits]
    memory = [parse_quantity(x.get("memory")) for x in limits]
    # A limit of the pod exists only when every container has one.
    return (sum(cpu) if cpu and all(cpu) else None,  # type: ignore[arg-type]
            sum(memory) if memory and all(memory) else None)  # type: ignore[arg-type]


def _percent(part: float, whole: float | None) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _point(cpu: float, memory: float, cpu_total: float, memory_total: float) -> Obj:
    return {"cpu": _percent(cpu, cpu_total), "memory": _percent(memory, memory_total),
            "cpu_cores": round(cpu, 3), "cpu_total_cores": round(cpu_total, 3),
            "memory_bytes": int(memory), "memory_total_bytes": int(memory_total)}


def usage_series(nodes: list[Obj], usage: list[Obj]) -> dict[str, Obj]:
    """One point per measured node (percent of allocatable) and their cluster total."""
    measured = {meta(u).get("name"): _amounts(u) for u in usage}
    series: dict[str, Obj] = {}
    totals = [0.0, 0.0, 0.0, 0.0]
    for node in nodes:
        name = meta(node).get("name")
        if name not in measured:
            continue
        values = (*measured[name], *_allocatable(node))
        series[f"node:{name}"] = _point(*values)
        totals = [a + b for a, b in zip(totals, values, strict=True)]
    if series:
        series["cluster"] = _point(*totals)
    return series


def _metric(used: float, total: float | None, unit: str) -> Obj:
    percent = _percent(used, total)
    return {"value": percent if percent is not None else round(used, 3),
            "used": round(used, 3) if unit == "cores" else int(used),
            "total": None if total is None else (round(total, 3) if unit == "cores"
                                                 else int(total)),
            "percent": percent, "unit": unit}


def measure(entry: Entry, catalog: Catalog, usage: list[Obj]) -> Obj:
    """Live usage of an entry from metrics-server items, against allocatable (nodes) or
    limits (a pod whose containers all have them)."""
    by_name = {(meta(u).get("namespace") or "", meta(u).get("name")): u for u in usage}
    capacity: tuple[float | None, float | None] = (None, None)
    if entry.kind in ("Cluster", "Node"):
        members = [e for e in catalog.entries if e.kind == "Node"
                   and (entry.kind == "Cluster" or e.id == entry.id)]
        allocatable = [_allocatable(n.obj) for n in members]
        capacity = (sum(a[0] for a in allocatable), sum(a[1] for a in allocatable))
    elif entry.kind == "Pod":
        members, capacity = [entry], _limits(entry.obj)
    else:
        members = [e for e in catalog.entries if e.kind == "Pod" and (
            e.parent_id == entry.id or any(o.get("kind") == entry.kind and o.get("name") ==
                                           entry.name for o in meta(e.obj).get(
                                               "ownerReferences") or []))]
    found = [by_name[(m.namespace or "", m.name)] for m in members
             if (m.namespace or "", m.name) in by_name]
    if not found:
        return {"available": False, "reason": "metrics-server has no usage for this resource "
                                              "yet; it measures Ready nodes and running pods"}
    cpu = sum(_amounts(u)[0] for u in found)
    memory = sum(_amounts(u)[1] for u in found)
    return {"available": True, "source": "metrics-server",
            "collectedAt": max(str(u.get("timestamp") or "") for u in found) or None,
            "measured": len(found), "cpu": _metric(cpu, capacity[0], "cores"),
            "memory": _metric(memory, capacity[1], "bytes")}
