"""The resource catalog: every object of a cluster's stored snapshot as one entry with a
stable id, a status and a parent, shaped for seed 003 (``/v1/api/resources``) and for
Pulse's unified resource model (seed 001 ``/api/v2/resources``), with Pulse's filters.
Pure: no I/O.

Ids are ``k8s:<cluster_id>:cluster`` for the cluster, ``k8s:<cluster_id>:<kind>:<name>``
for cluster-scoped objects and ``k8s:<cluster_id>:<kind>:<namespace>:<name>`` for
namespaced ones (kind lowercased, e.g. ``deployment``). Kubernetes names never hold ``:``
or ``/``, so an id is one URL path segment and parses back unambiguously.

Parents form a tree a UI can expand. Pulse parents every Kubernetes resource to its
cluster; Drover keeps that for nodes and top-level objects but nests what is owned under
its owner, so ``/children`` answers "which pods does this Deployment run": a pod sits under
its controlling workload (a ReplicaSet's Deployment, a StatefulSet, DaemonSet or Job), a
bare pod under its node, an unscheduled bare pod under the cluster; a Job started by a
CronJob under the CronJob; a ReplicaSet under its Deployment. A pod's node is always in
``kubernetes.nodeName``.

Statuses are Pulse's: ``online``, ``warning``, ``offline``, ``unknown`` (rules below, as
Pulse's adapters apply them), lowered from online to warning when an analyzer found a
problem on the object, and ``unknown`` for everything of a cluster Drover cannot reach.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.clusters import Cluster
from chalicelib.domain.health import node_is_ready
from chalicelib.domain.kube import (
    SNAPSHOT_KINDS,
    Finding,
    ResourceKind,
    Snapshot,
    SnapshotIndex,
    meta,
)

Obj = dict[str, Any]
PREFIX = "k8s"
ONLINE, WARNING, OFFLINE, UNKNOWN = "online", "warning", "offline", "unknown"
STATUSES = (ONLINE, WARNING, OFFLINE, UNKNOWN)
DOWN_CLUSTER = frozenset({"unreachable", "unauthorized", "error"})
CLUSTER_TYPE = "k8s-cluster"
# Catalog kinds (snapshot plural -> Pulse's resource type), in listing order. Events,
# Endpoints and ConfigMap values are detail of other objects, never entries of their own.
PULSE_TYPES: dict[str, str] = {
    "nodes": "k8s-node", "pods": "pod", "deployments": "k8s-deployment",
    "statefulsets": "k8s-statefulset", "daemonsets": "k8s-daemonset",
    "replicasets": "k8s-replicaset", "jobs": "k8s-job", "cronjobs": "k8s-cronjob",
    "services": "k8s-service", "ingresses": "k8s-ingress",
    "persistentvolumeclaims": "k8s-persistent-volume-claim",
    "persistentvolumes": "k8s-persistent-volume", "storageclasses": "k8s-storage-class",
    "configmaps": "k8s-configmap", "networkpolicies": "k8s-network-policy",
}
CATALOG_KINDS: dict[str, ResourceKind] = {p: SNAPSHOT_KINDS[p] for p in PULSE_TYPES}
BY_KIND: dict[str, ResourceKind] = {rk.kind.lower(): rk for rk in CATALOG_KINDS.values()}
# ReplicaSets are a Deployment's machinery: listed only when a filter asks for them.
HIDDEN_KINDS = frozenset({"ReplicaSet"})
POD_OWNERS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
PRESSURES = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")


@dataclass(frozen=True)
class ResourceRef:
    """What a resource id names."""

    cluster_id: str
    kind: str  # Kubernetes kind (``Deployment``), or ``Cluster``
    namespace: str | None = None
    name: str | None = None


def resource_id(cluster_id: str, kind: str, namespace: str | None = None,
                name: str | None = None) -> str:
    """The stable id of a cluster (``kind="Cluster"``) or of one object in it."""
    if kind == "Cluster":
        return f"{PREFIX}:{cluster_id}:cluster"
    parts = [PREFIX, cluster_id, kind.lower(), *([namespace] if namespace else []), name or ""]
    return ":".join(parts)


def parse_resource_id(value: str) -> ResourceRef | None:
    """The reference an id stands for, or None if it is not one of Drover's ids."""
    parts = value.split(":")
    if len(parts) < 3 or parts[0] != PREFIX or not parts[1] or not all(parts):  # noqa: PLR2004
        return None
    if parts[2:] == ["cluster"]:
        return ResourceRef(parts[1], "Cluster")
    rk = BY_KIND.get(parts[2])
    if rk is None or len(parts) != (5 if rk.namespaced else 4):
        return None
    return ResourceRef(parts[1], rk.kind, parts[3] if rk.namespaced else None, parts[-1])


@dataclass
class Entry:
    """One resource of the catalog."""

    id: str
    cluster: Cluster
    kind: str
    namespace: str | None
    name: str
    obj: Obj
    status: str
    reason: str
    seen_at: str | None
    findings: list[Finding] = field(default_factory=list)
    parent_id: str | None = None

    @property
    def hidden(self) -> bool:
        """Left out of lists unless a filter names its kind."""
        return self.kind in HIDDEN_KINDS

    @property
    def pulse_type(self) -> str:
        """Pulse's type name for this entry."""
        rk = BY_KIND.get(self.kind.lower())
        return PULSE_TYPES[rk.plural] if rk else CLUSTER_TYPE


# Status rules, one per kind.

def _conditions(obj: Obj) -> dict[str, Obj]:
    return {c.get("type", ""): c for c in (obj.get("status") or {}).get("conditions") or []}


def node_status(node: Obj) -> tuple[str, str]:
    """Offline unless Ready; warning when cordoned or under pressure."""
    conditions = _conditions(node)
    if not node_is_ready(node):
        ready = conditions.get("Ready") or {}
        return OFFLINE, "NotReady" if ready else "NoReadyCondition"
    if (node.get("spec") or {}).get("unschedulable"):
        return WARNING, "SchedulingDisabled"
    pressed = [p for p in PRESSURES if (conditions.get(p) or {}).get("status") == "True"]
    return (WARNING, pressed[0]) if pressed else (ONLINE, "Ready")


def _container_problem(pod: Obj) -> str | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("ready"):
            continue
        state = cs.get("state") or {}
        detail = state.get("waiting") or state.get("terminated") or {}
        return str(detail.get("reason") or "NotReady")
    return None


def pod_status(pod: Obj) -> tuple[str, str]:
    """Pulse's rule: Running and ready online, Pending warning, Failed/Succeeded offline."""
    status = pod.get("status") or {}
    phase = status.get("phase") or ""
    if phase in ("Failed", "Succeeded"):
        return OFFLINE, str(status.get("reason") or ("Completed" if phase == "Succeeded"
                                                     else "Failed"))
    if phase == "Running":
        problem = _container_problem(pod)
        return (WARNING, problem) if problem else (ONLINE, "Running")
    if phase in ("Pending", "Unknown"):
        unscheduled = (_conditions(pod).get("PodScheduled") or {}).get("reason")
        return WARNING, _container_problem(pod) or unscheduled or phase
    return UNKNOWN, phase or "NoPhase"


def replicas(obj: Obj) -> tuple[int, int]:
    """(desired, available) replicas of a workload (a DaemonSet's scheduled pods)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if "desiredNumberScheduled" in status or obj.get("kind") == "DaemonSet":
        return (int(status.get("desiredNumberScheduled") or 0),
                int(status.get("numberAvailable") or status.get("numberReady") or 0))
    desired = spec.get("replicas")
    available = status.get("availableReplicas")
    if available is None:
        available = status.get("readyReplicas")
    return int(1 if desired is None else desired), int(available or 0)


def workload_status(obj: Obj) -> tuple[str, str]:
    """Pulse's rule: all desired replicas available online, none offline, some warning."""
    desired, available = replicas(obj)
    reason = f"{available}/{desired} available"
    if desired <= 0:
        return (ONLINE, reason) if available > 0 else (UNKNOWN, "scaled to zero")
    if available >= desired:
        return ONLINE, reason
    return (OFFLINE if available == 0 else WARNING), reason


def job_status(job: Obj) -> tuple[str, str]:
    """Failed condition offline, Complete online, running online (warning after failures)."""
    conditions = _conditions(job)
    for kind, status in (("Failed", OFFLINE), ("Complete", ONLINE)):
        if (conditions.get(kind) or {}).get("status") == "True":
            return status, str(conditions[kind].get("reason") or kind)
    counts = job.get("status") or {}
    if counts.get("failed"):
        return WARNING, f"{counts['failed']} failed pod(s)"
    return (ONLINE, "Running") if counts.get("active") else (UNKNOWN, "NotStarted")


def phase_status(obj: Obj) -> tuple[str, str]:
    """Volumes and claims: Bound/Available online, Pending/Released warning, else offline."""
    phase = str((obj.get("status") or {}).get("phase") or "")
    if phase in ("Bound", "Available"):
        return ONLINE, phase
    if phase in ("Pending", "Released"):
        return WARNING, phase
    return (OFFLINE, phase) if phase else (UNKNOWN, "NoPhase")


def present_status(obj: Obj) -> tuple[str, str]:
    """Objects without a health of their own (Services, ConfigMaps ...): online if present;
    an analyzer's finding (a Service without endpoints) lowers them to warning."""
    if obj.get("kind") == "CronJob" and (obj.get("spec") or {}).get("suspend"):
        return ONLINE, "Suspended"
    return ONLINE, "Present"


STATUS_RULES: dict[str, Callable[[Obj], tuple[str, str]]] = {
    "Node": node_status, "Pod": pod_status, "Deployment": workload_status,
    "StatefulSet": workload_status, "DaemonSet": workload_status,
    "ReplicaSet": workload_status, "Job": job_status, "PersistentVolumeClaim": phase_status,
    "PersistentVolume": phase_status,
}


def _with_findings(status: str, reason: str, findings: list[Finding]) -> tuple[str, str]:
    worst = next((f for sev in ("critical", "warning") for f in findings
                  if f.severity == sev), None)
    if status == ONLINE and worst is not None:
        return WARNING, worst.reason
    return status, reason


def cluster_status(cluster: Cluster, snapshot: Snapshot | None) -> tuple[str, str]:
    """Offline when Drover cannot reach it, else from its nodes (Pulse's rule)."""
    if cluster.status in DOWN_CLUSTER:
        return OFFLINE, cluster.last_error or cluster.status
    nodes = snapshot.items("nodes") if snapshot else []
    if not nodes:
        return UNKNOWN, "no snapshot yet" if snapshot is None else "no nodes"
    ready = sum(1 for n in nodes if node_is_ready(n))
    reason = f"{ready}/{len(nodes)} nodes ready"
    if ready == len(nodes):
        return ONLINE, reason
    return (OFFLINE if ready == 0 else WARNING), reason


# Building the catalog of one cluster.

def _finding_index(findings: list[Finding]) -> dict[tuple[str, str, str], list[Finding]]:
    index: dict[tuple[str, str, str], list[Finding]] = defaultdict(list)
    for finding in findings:
        index[(finding.kind, finding.namespace or "", finding.name)].append(finding)
    return index


def build_catalog(cluster: Cluster, snapshot: Snapshot | None,
                  findings: list[Finding]) -> list[Entry]:
    """The cluster and every catalog object of its latest snapshot, with statuses and
    parents; objects of an unreachable cluster are ``unknown`` (last seen values kept)."""
    by_object = _finding_index(findings)
    status, reason = cluster_status(cluster, snapshot)
    serious = [f for f in findings if f.severity in ("critical", "warning")]
    if status == ONLINE and serious:  # degraded: the nodes are fine, something else is not
        status, reason = WARNING, f"{len(serious)} problem(s) found by the analyzers"
    root = Entry(resource_id(cluster.cluster_id, "Cluster"), cluster, "Cluster", None,
                 cluster.name, {}, status, reason, snapshot.taken_at if snapshot else None,
                 list(findings))
    if snapshot is None:
        return [root]
    entries = [root]
    for plural, rk in CATALOG_KINDS.items():
        for obj in snapshot.items(plural):
            m = meta(obj)
            ns, name = (m.get("namespace") or None) if rk.namespaced else None, m.get("name")
            if not name:
                continue
            found = by_object.get((rk.kind, ns or "", name), [])
            rule = STATUS_RULES.get(rk.kind, present_status)
            status, reason = _with_findings(*rule({"kind": rk.kind, **obj}), found)
            if cluster.status in DOWN_CLUSTER:
                status, reason = UNKNOWN, f"cluster unreachable; last seen {snapshot.taken_at}"
            entries.append(Entry(resource_id(cluster.cluster_id, rk.kind, ns, name), cluster,
                                 rk.kind, ns, name, obj, status, reason, snapshot.taken_at,
                                 found))
    _link_parents(entries, SnapshotIndex(snapshot))
    return entries


def _link_parents(entries: list[Entry], index: SnapshotIndex) -> None:
    root, ids = entries[0], {e.id for e in entries}
    cid = root.cluster.cluster_id
    for entry in entries[1:]:
        candidates = [*_owner_ids(entry, index, cid), root.id]
        entry.parent_id = next(c for c in candidates if c in ids)


def _owner_ids(entry: Entry, index: SnapshotIndex, cid: str) -> list[str]:
    owner = index.owner(entry.obj)
    found: list[str] = []
    if owner and entry.kind == "Pod":
        top = index.top_owner(entry.obj) if owner.get("kind") == "ReplicaSet" else None
        for ref in (top, owner):
            if ref and ref.get("kind") in POD_OWNERS:
                found.append(resource_id(cid, ref["kind"], entry.namespace, ref["name"]))
    elif owner and (entry.kind, owner.get("kind")) in (("Job", "CronJob"),
                                                       ("ReplicaSet", "Deployment")):
        found.append(resource_id(cid, owner["kind"], entry.namespace, owner.get("name")))
    node = (entry.obj.get("spec") or {}).get("nodeName") if entry.kind == "Pod" else None
    if node:
        found.append(resource_id(cid, "Node", None, node))
    return found


def child_counts(entries: list[Entry]) -> dict[str, int]:
    """How many listed entries each entry is the parent of."""
    counts: dict[str, int] = defaultdict(int)
    for entry in entries:
        if entry.parent_id and not entry.hidden:
            counts[entry.parent_id] += 1
    return counts


def tags_of(entry: Entry, fields: Obj) -> list[str]:
    """The user's tags, then the labels as Pulse's ``key:value`` tags, then node roles."""
    labels = meta(entry.obj).get("labels") or {}
    roles = [k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")]
    found = [*(fields.get("tags") or []), *(f"{k}:{v}" if v else k
                                           for k, v in sorted(labels.items())), *roles]
    return list(dict.fromkeys(found))


# Pulse's list query (seed 001 GET /api/v2/resources).

_SORT_KEYS: dict[str, Callable[[Entry], Any]] = {
    "name": lambda e: e.name.lower(), "status": lambda e: e.status,
    "type": lambda e: e.pulse_type, "lastSeen": lambda e: e.seen_at or ""}


@dataclass(frozen=True)
class V2Filter:
    """Filters, order and page of a unified resource list (values already validated)."""

    types: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    parent: str | None = None
    cluster: str | None = None
    q: str | None = None
    tags: frozenset[str] = frozenset()
    page: int = 1
    limit: int = 50
    sort: str = "name"
    order: str = "asc"

    def matches(self, entry: Entry, fields: Obj) -> bool:
        """Whether an entry passes every filter given (Pulse: any tag, name contains q)."""
        shown = str(fields.get("display_name") or entry.name).lower()
        checks: tuple[Callable[[], bool], ...] = (
            lambda: not entry.hidden or entry.pulse_type in self.types,
            lambda: not self.types or entry.pulse_type in self.types,
            lambda: not self.sources or "kubernetes" in self.sources,
            lambda: not self.statuses or entry.status in self.statuses,
            lambda: not self.parent or entry.parent_id == self.parent,
            lambda: not self.cluster or self.cluster.lower() in (
                entry.cluster.name.lower(), entry.cluster.cluster_id.lower()),
            lambda: not self.q or self.q in entry.name.lower() or self.q in shown,
            lambda: not self.tags or bool(self.tags & {t.lower() for t in
                                                       tags_of(entry, fields)}))
        return all(check() for check in checks)

    def select(self, entries: list[Entry],
               fields: dict[str, Obj]) -> tuple[list[Entry], dict[str, int]]:
        """The requested page of the matching entries, and Pulse's ``meta`` for it."""
        found = [e for e in entries if self.matches(e, fields.get(e.id) or {})]
        key = _SORT_KEYS[self.sort]
        found.sort(key=lambda e: (key(e), e.id), reverse=self.order == "desc")
        start = (self.page - 1) * self.limit
        total = len(found)
        return found[start:start + self.limit], {
            "page": self.page, "limit": self.limit, "total": total,
            "totalPages": (total + self.limit - 1) // self.limit}


def stats(entries: list[Entry]) -> Obj:
    """Pulse's aggregations: counts in total, by type, by status and by source."""
    listed = [e for e in entries if not e.hidden]
    by_type: dict[str, int] = defaultdict(int)
    by_status: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for entry in listed:
        by_type[entry.pulse_type] += 1
        by_status[entry.status] += 1
    return {"total": len(listed), "byType": dict(sorted(by_type.items())),
            "byStatus": by_status, "bySource": {"kubernetes": len(listed)} if listed else {}}
