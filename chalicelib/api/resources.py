"""Endpoint group ``clusters``: resources.

Seed 003 ``/v1/api/resources`` (tracked Kubernetes resources: list, sync, get, user fields,
a workload's live pods) and seed 001 (Pulse) ``/api/v2/resources`` (the unified resource
model: list, stats, one, children, live metrics) with ``/api/metrics-store/history``.
Both views are built from the stored snapshots of the workspace's clusters
(``services/resource_model.py`` documents ids, parents and statuses); only pods and
metrics are read live.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from chalice import Blueprint
from pydantic import BaseModel

from chalicelib.api.cluster_ref import requested_cluster
from chalicelib.api.http import Call, endpoint
from chalicelib.api.listing import PageRequest
from chalicelib.bootstrap import get_container
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.health import node_is_ready
from chalicelib.domain.kube import meta, resource_kind
from chalicelib.domain.quantity import parse_quantity
from chalicelib.services.resource_model import (
    BY_KIND,
    CLUSTER_TYPE,
    PULSE_TYPES,
    STATUSES,
    Entry,
    V2Filter,
    child_counts,
    replicas,
    stats,
    tags_of,
)
from chalicelib.services.resources import Catalog, HistoryQuery, ResourceFields

bp = Blueprint(__name__)


class SyncRequest(BaseModel):
    """Which cluster to snapshot (by name or id); without one, the default cluster."""

    cluster: str | None = None
    cluster_id: str | None = None
READ, WRITE = "clusters:read", "clusters:write"
V1, V2 = "/v1/api/resources", "/api/v2/resources"
Obj = dict[str, Any]
V1_SORTS = ("created_at", "name", "kind", "namespace", "status", "synced_at", "cluster")
V2_SORTS = ("name", "status", "type", "lastSeen")
SOURCES = ("proxmox", "agent", "docker", "pbs", "pmg", "kubernetes", "truenas", "vmware")
K8S_TYPES = (CLUSTER_TYPE, *(t for t in PULSE_TYPES.values() if t != "k8s-replicaset"))
# Pulse's other types are valid filters that match nothing here: Drover has no VMs.
OTHER_TYPES = ("host", "vm", "lxc", "container", "storage", "pbs", "pmg", "ceph", "agent",
               "system-container", "app-container", "docker-host", "docker-service",
               "physical_disk", "network", "pool", "dataset", "disk", "service")
HISTORY_TYPES = ("k8s", "k8s-cluster", "k8s-node", "cluster", "node")
HISTORY_METRICS = ("cpu", "memory", "health")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MIN_RANGE, MAX_RANGE = 60, 90 * 86400


def _type_aliases() -> dict[str, tuple[str, ...]]:
    aliases: dict[str, tuple[str, ...]] = {t: (t,) for t in OTHER_TYPES}
    for t in (*K8S_TYPES, "k8s-replicaset"):
        rest = t.removeprefix("k8s-")
        for name in (t, t.replace("-", "_"), f"kubernetes-{rest}",
                     f"kubernetes_{rest.replace('-', '_')}"):
            aliases[name] = (t,)
    aliases.update({"k8s": K8S_TYPES, "kubernetes": K8S_TYPES, "cluster": (CLUSTER_TYPE,),
                    "node": ("k8s-node",), "nodes": ("k8s-node",), "pods": ("pod",),
                    "deployment": ("k8s-deployment",), "deployments": ("k8s-deployment",),
                    "hosts": ("host",), "vms": ("vm",), "qemu": ("vm",), "lxcs": ("lxc",),
                    "containers": ("container",),
                    "k8s-pod": ("pod",), "k8s_pod": ("pod",)})
    return aliases


TYPE_ALIASES = _type_aliases()


def _service() -> Any:
    return get_container().resources


def _id(raw: str) -> str:
    # API Gateway may hand the path parameter over still percent-encoded (%3A for ':').
    return unquote(raw)

# Shaping: what each kind shows of its object (camelCase, as Pulse's ``kubernetes`` block).

def _pod_spec(obj: Obj) -> Obj:
    spec = obj.get("spec") or {}
    job = ((spec.get("jobTemplate") or {}).get("spec") or {})
    return ((spec.get("template") or job.get("template") or {}).get("spec")) or spec


def _images(obj: Obj) -> list[str]:
    return [str(c["image"]) for c in _pod_spec(obj).get("containers") or [] if c.get("image")]


def _node_facts(node: Obj) -> Obj:
    status, info = node.get("status") or {}, (node.get("status") or {}).get("nodeInfo") or {}
    cap, alloc = status.get("capacity") or {}, status.get("allocatable") or {}
    roles = sorted(k.split("/", 1)[1] for k in meta(node).get("labels") or {}
                   if k.startswith("node-role.kubernetes.io/"))
    return {"ready": node_is_ready(node), "roles": roles,
            "unschedulable": bool((node.get("spec") or {}).get("unschedulable")),
            "kubeletVersion": info.get("kubeletVersion"), "osImage": info.get("osImage"),
            "containerRuntimeVersion": info.get("containerRuntimeVersion"),
            "kernelVersion": info.get("kernelVersion"), "architecture": info.get("architecture"),
            "capacityCpuCores": _number(cap.get("cpu")),
            "capacityMemoryBytes": _number(cap.get("memory")),
            "capacityPods": _number(cap.get("pods")),
            "allocatableCpuCores": _number(alloc.get("cpu")),
            "allocatableMemoryBytes": _number(alloc.get("memory")),
            "allocatablePods": _number(alloc.get("pods"))}


def _number(value: object) -> float | int | None:
    found = parse_quantity(value)
    return int(found) if found is not None and found.is_integer() else found


def _pod_facts(pod: Obj) -> Obj:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    owner = next(iter(meta(pod).get("ownerReferences") or []), {})
    images = _images(pod)
    return {"nodeName": (pod.get("spec") or {}).get("nodeName"),
            "podPhase": (pod.get("status") or {}).get("phase"),
            "restarts": sum(int(c.get("restartCount") or 0) for c in statuses),
            "readyContainers": f"{sum(1 for c in statuses if c.get('ready'))}/"
                               f"{len(_pod_spec(pod).get('containers') or [])}",
            "ownerKind": owner.get("kind"), "ownerName": owner.get("name"),
            "image": images[0] if images else None, "images": images,
            "podIp": (pod.get("status") or {}).get("podIP")}


def _workload_facts(obj: Obj) -> Obj:
    status = obj.get("status") or {}
    desired, available = replicas(obj)
    return {"desiredReplicas": desired, "availableReplicas": available,
            "readyReplicas": int(status.get("readyReplicas") or status.get("numberReady") or 0),
            "updatedReplicas": int(status.get("updatedReplicas")
                                   or status.get("updatedNumberScheduled") or 0),
            "images": _images(obj)}


def _job_facts(job: Obj) -> Obj:
    status = job.get("status") or {}
    return {"completions": (job.get("spec") or {}).get("completions"),
            **{k: int(status.get(k) or 0) for k in ("active", "succeeded", "failed")},
            "images": _images(job)}


def _service_facts(svc: Obj) -> Obj:
    spec = svc.get("spec") or {}
    return {"serviceType": spec.get("type") or "ClusterIP", "clusterIp": spec.get("clusterIP"),
            "selector": spec.get("selector") or {},
            "ports": [f"{p.get('port')}/{p.get('protocol') or 'TCP'}"
                      for p in spec.get("ports") or []]}


def _storage_facts(obj: Obj) -> Obj:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    claim = spec.get("claimRef") or {}
    return {"phase": status.get("phase"), "storageClass": spec.get("storageClassName"),
            "capacity": (status.get("capacity") or spec.get("capacity") or {}).get("storage"),
            "volumeName": spec.get("volumeName"),
            "claim": f"{claim.get('namespace')}/{claim.get('name')}" if claim else None}


FACTS: dict[str, Callable[[Obj], Obj]] = {
    "Node": _node_facts, "Pod": _pod_facts, "Deployment": _workload_facts,
    "StatefulSet": _workload_facts, "DaemonSet": _workload_facts, "ReplicaSet": _workload_facts,
    "Job": _job_facts, "Service": _service_facts, "PersistentVolumeClaim": _storage_facts,
    "PersistentVolume": _storage_facts,
    "CronJob": lambda o: {"schedule": (o.get("spec") or {}).get("schedule"),
                          "suspend": bool((o.get("spec") or {}).get("suspend")),
                          "lastScheduleTime": (o.get("status") or {}).get("lastScheduleTime"),
                          "images": _images(o)},
    "Ingress": lambda o: {"ingressClass": (o.get("spec") or {}).get("ingressClassName"),
                          "hosts": [r.get("host") for r in (o.get("spec") or {}).get("rules")
                                    or [] if r.get("host")]},
    "ConfigMap": lambda o: {"dataKeys": list(o.get("data_keys") or [])},
    "NetworkPolicy": lambda o: {"policyTypes": (o.get("spec") or {}).get("policyTypes") or []},
    "StorageClass": lambda o: {"provisioner": o.get("provisioner")},
}


def facts(entry: Entry) -> Obj:
    """The kind-specific fields of an entry's object."""
    rule = FACTS.get(entry.kind)
    return rule({"kind": entry.kind, **entry.obj}) if rule else {}






def _pulse_metrics(usage: Obj | None) -> Obj | None:
    if not usage:
        return None
    return {"cpu": {"value": usage.get("cpu"), "percent": usage.get("cpu"), "unit": "percent",
                    "used": usage.get("cpu_cores"), "total": usage.get("cpu_total_cores")},
            "memory": {"value": usage.get("memory"), "percent": usage.get("memory"),
                       "used": usage.get("memory_bytes"),
                       "total": usage.get("memory_total_bytes"), "unit": "bytes"},
            "collectedAt": usage.get("at")}


def unified_view(entry: Entry, catalog: Catalog, counts: dict[str, int]) -> Obj:
    """An entry as Pulse's unified resource, with the user's fields beside it."""
    c, fields = entry.cluster, catalog.fields.get(entry.id) or {}
    shown = fields.get("display_name") or entry.name
    kube = {"clusterId": c.cluster_id, "clusterName": c.name, "server": c.server,
            "version": c.version, "provider": c.provider, "namespace": entry.namespace,
            "resourceKind": entry.kind, "resourceUid": meta(entry.obj).get("uid"),
            "labels": meta(entry.obj).get("labels") or None, **facts(entry)}
    resource = {
        "id": entry.id, "type": entry.pulse_type, "technology": "kubernetes",
        "name": entry.name, "displayName": shown, "status": entry.status,
        "statusReason": entry.reason, "lastSeen": entry.seen_at, "updatedAt": entry.seen_at,
        "sources": ["kubernetes"],
        "sourceStatus": {"kubernetes": catalog.sources.get(c.cluster_id) or {}},
        "parentId": entry.parent_id, "childCount": counts.get(entry.id, 0),
        "clusterId": c.cluster_id, "tags": tags_of(entry, fields),
        "identity": {"hostnames": [entry.name] if entry.kind == "Node" else [],
                     "clusterName": c.name},
        "canonicalIdentity": {"displayName": shown, "primaryId": entry.id},
        "metricsTarget": {"resourceType": "k8s", "resourceId": entry.id}
        if entry.kind in ("Cluster", "Node") else None,
        "metrics": _pulse_metrics(catalog.usage.get(entry.id)),
        "kubernetes": {k: v for k, v in kube.items() if v is not None},
        **{k: fields.get(k) for k in ("description", "owner", "notes")}}
    if entry.findings:
        severe = [f for f in entry.findings if f.severity == "critical"] or entry.findings
        resource.update(incidentCount=len(entry.findings), incidentSeverity=severe[0].severity,
                        incidentSummary=severe[0].message)
    return {k: v for k, v in resource.items() if v is not None}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def tracked_view(entry: Entry, catalog: Catalog, *, detail: bool = False) -> Obj:
    """Seed 003's tracked resource: what the cluster says, then the user fields."""
    m, fields = meta(entry.obj), catalog.fields.get(entry.id) or {}
    row = {"id": entry.id, "kind": entry.kind, "name": entry.name,
           "namespace": entry.namespace, "cluster": entry.cluster.name,
           "cluster_id": entry.cluster.cluster_id, "status": entry.status,
           "status_reason": entry.reason, "labels": m.get("labels") or {},
           "created_at": m.get("creationTimestamp"), "synced_at": entry.seen_at,
           "parent_id": entry.parent_id, "issue_count": len(entry.findings),
           "summary": {_snake(k): v for k, v in facts(entry).items()},
           "display_name": fields.get("display_name"), "description": fields.get("description"),
           "tags": fields.get("tags") or [], "owner": fields.get("owner"),
           "notes": fields.get("notes"), "fields_updated_at": fields.get("updated_at"),
           "fields_updated_by": fields.get("updated_by")}
    if detail:
        row.update(uid=m.get("uid"), annotations=m.get("annotations") or {},
                   owner_references=m.get("ownerReferences") or [],
                   issues=[{"severity": f.severity, "reason": f.reason, "message": f.message,
                            "first_seen": f.first_seen} for f in entry.findings])
    return row


def pod_row(pod: Obj) -> Obj:
    """A live pod as ``kubectl get pods`` shows it, with its containers."""
    m, status = meta(pod), pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    problem = next(((c.get("state") or {}).get("waiting") or (c.get("state") or {}).get(
        "terminated") for c in containers if not c.get("ready")), None) or {}
    return {"name": m.get("name"), "namespace": m.get("namespace"),
            "status": problem.get("reason") or status.get("reason") or status.get("phase"),
            "phase": status.get("phase"),
            "ready": f"{sum(1 for c in containers if c.get('ready'))}/"
                     f"{len((pod.get('spec') or {}).get('containers') or [])}",
            "restarts": sum(int(c.get("restartCount") or 0) for c in containers),
            "node": (pod.get("spec") or {}).get("nodeName"), "ip": status.get("podIP"),
            "created_at": m.get("creationTimestamp"), "labels": m.get("labels") or {},
            "containers": [{"name": c.get("name"), "image": c.get("image"),
                            "ready": bool(c.get("ready")),
                            "restart_count": int(c.get("restartCount") or 0),
                            "state": next(iter(c.get("state") or {}), None)}
                           for c in containers]}


# Parsing.

def _csv(call: Call, name: str, allowed: dict[str, tuple[str, ...]]) -> frozenset[str]:
    raw = call.query(name)
    if raw is None:
        return frozenset()
    found: set[str] = set()
    for part in (p.strip().lower() for p in raw.split(",") if p.strip()):
        if part not in allowed:
            raise BadRequest(f"'{name}' has an unknown value '{part[:64]}'; use "
                             f"{', '.join(sorted(allowed))[:600]}", code="bad_parameter")
        found.update(allowed[part])
    return frozenset(found)


def _choice(call: Call, name: str, choices: Iterable[str], default: str) -> str:
    value = call.query(name) or default
    if value not in choices:
        raise BadRequest(f"'{name}' must be one of {', '.join(choices)}", code="bad_parameter")
    return value


def v2_filter(call: Call) -> V2Filter:
    """Pulse's documented list parameters, each checked (a 400 says what is allowed)."""
    q, tags = call.query("q"), call.query("tags")
    return V2Filter(
        types=_csv(call, "type", TYPE_ALIASES),
        sources=_csv(call, "source", {s: (s,) for s in SOURCES}),
        statuses=_csv(call, "status", {s: (s,) for s in STATUSES}),
        parent=_id(call.query("parent") or "") or None, cluster=call.query("cluster"),
        q=q.strip().lower()[:256] if q else None,
        tags=frozenset(t.strip().lower() for t in (tags or "").split(",") if t.strip()),
        page=call.int_query("page", 1, 1, 100_000), limit=call.int_query("limit", 50, 1, 100),
        sort=_choice(call, "sort", V2_SORTS, "name"),
        order=_choice(call, "order", ("asc", "desc"), "asc"))


def range_seconds(raw: str) -> int:
    """``24h``, ``7d``, ``90m``, ``1h30m``, ``2w`` as seconds (1 minute to 90 days)."""
    text = raw.strip().lower()
    if not re.fullmatch(r"(?:\d{1,6}(?:\.\d{1,3})?[smhdw])+", text):
        raise BadRequest("'range' must be 1h, 6h, 12h, 24h, 1d, 7d, 30d, 90d or a duration "
                         "such as 90m or 1h30m", code="bad_parameter")
    seconds = sum(float(n) * UNITS[u] for n, u in re.findall(r"([\d.]+)([smhdw])", text))
    if not MIN_RANGE <= seconds <= MAX_RANGE:
        raise BadRequest("'range' must be between 1m and 90d (history is kept 90 days)",
                         code="bad_parameter")
    return int(seconds)


def history_query(call: Call) -> HistoryQuery:
    """Pulse's history parameters: resourceType and resourceId required."""
    wanted = {name: call.query(name) for name in ("resourceType", "resourceId")}
    for name, value in wanted.items():
        if not value:
            raise BadRequest(f"'{name}' is required", code="missing_parameter")
    resource_type = _choice(call, "resourceType", HISTORY_TYPES, "k8s")
    metric = call.query("metric")
    if metric is not None:
        _choice(call, "metric", HISTORY_METRICS, "cpu")
    label = call.query("range") or "24h"
    max_points = call.int_query("maxPoints", 0, 1, 10_000) if call.query("maxPoints") else None
    return HistoryQuery(resource_type, _id(str(wanted["resourceId"])), metric, label,
                        range_seconds(label), max_points)


def _kinds(call: Call) -> set[str]:
    found: set[str] = set()
    for raw in (call.query("kind") or "").split(","):
        if not raw.strip():
            continue
        rk = resource_kind(raw.strip())
        if rk is None or rk.kind.lower() not in BY_KIND:
            raise BadRequest(f"'kind' {raw.strip()[:64]!r} is not a tracked kind; use one of "
                             f"{', '.join(k.kind for k in BY_KIND.values())}",
                             code="bad_parameter")
        found.add(rk.kind)
    return found


def _sort_key(row: Obj, name: str) -> Any:
    value = row.get(name)
    return value.lower() if isinstance(value, str) and name != "created_at" else value


# Seed 003: /v1/api/resources.

@endpoint(bp, V1, scope=READ)
def list_tracked(call: Call) -> Obj:
    """Tracked resources with page/limit/sort/order/search and cluster/namespace/kind."""
    wanted = PageRequest.from_call(call, sorts=V1_SORTS, default_sort="created_at",
                                   default_limit=20, max_limit=100, default_order="desc")
    entries, catalog = _service().tracked(
        call.workspace_id, cluster=requested_cluster(call), namespace=call.query("namespace"),
        kinds=_kinds(call), search=wanted.search)
    page = wanted.apply([tracked_view(e, catalog) for e in entries], _sort_key)
    return {"resources": page.pop("items"), **page}


@endpoint(bp, f"{V1}/sync", methods=("POST",), scope=WRITE, body=SyncRequest, body_required=False)
def sync(call: Call) -> Obj:
    """Snapshot a cluster now (``cluster`` in the body or query, else the default)."""
    body = call.optional_object()
    named = body.get("cluster") or body.get("cluster_id")
    if named is not None and not isinstance(named, str):
        raise BadRequest("'cluster' must be a cluster name or id", code="bad_parameter")
    return _service().sync(call.workspace_id, named or requested_cluster(call))


@endpoint(bp, V1 + "/{id}", scope=READ)
def get_tracked(call: Call, id: str) -> Obj:
    """One tracked resource with its labels, owners and the analyzers' issues."""
    entry, catalog = _service().find(call.workspace_id, _id(id))
    return tracked_view(entry, catalog, detail=True)


@endpoint(bp, V1 + "/{id}", methods=("PATCH",), scope=WRITE, body=ResourceFields)
def update_tracked(call: Call, id: str) -> Obj:
    """Change the user fields (display_name, description, tags, owner, notes)."""
    actor = call.principal.actor if call.principal else "anonymous"
    entry, catalog = _service().update_fields(call.workspace_id, _id(id), call.json(), actor)
    return tracked_view(entry, catalog, detail=True)


@endpoint(bp, V1 + "/{id}/pods", scope=READ)
def workload_pods(call: Call, id: str) -> Obj:
    """The pods of a Deployment, StatefulSet, DaemonSet, ReplicaSet or Job, read live."""
    ref, selector, pods = _service().workload_pods(call.workspace_id, _id(id))
    rows = sorted((pod_row(p) for p in pods), key=lambda r: str(r["name"]))
    return {"resource_id": _id(id), "kind": ref.kind, "namespace": ref.namespace,
            "name": ref.name, "selector": selector, "pods": rows, "count": len(rows)}


# Seed 001 (Pulse): /api/v2/resources and the metrics store.

@endpoint(bp, V2, scope=READ)
def list_unified(call: Call) -> Obj:
    """Pulse's list: data, meta (page, limit, total, totalPages) and aggregations."""
    wanted = v2_filter(call)
    catalog = _service().catalog(call.workspace_id)
    page, paging = wanted.select(catalog.entries, catalog.fields)
    counts = child_counts(catalog.entries)
    return {"data": [unified_view(e, catalog, counts) for e in page], "meta": paging,
            "aggregations": stats(catalog.entries)}


@endpoint(bp, f"{V2}/stats", scope=READ)
def unified_stats(call: Call) -> Obj:
    """Counts by type, status and source, with health rollups per cluster."""
    catalog = _service().catalog(call.workspace_id)
    found = stats(catalog.entries)
    roots = [e for e in catalog.entries if e.kind == "Cluster"]
    total = found["total"]
    return {**found, "health": {
        "online": found["byStatus"]["online"], "degraded": found["byStatus"]["warning"],
        "offline": found["byStatus"]["offline"], "unknown": found["byStatus"]["unknown"],
        "healthyPercent": round(100 * found["byStatus"]["online"] / total, 1)
        if total else None},
        "clusters": [{"id": e.id, "clusterId": e.cluster.cluster_id, "name": e.name,
                      "status": e.status, "statusReason": e.reason, "lastSeen": e.seen_at,
                      "resources": sum(1 for x in catalog.entries if not x.hidden
                                       and x.cluster is e.cluster),
                      "issues": len(e.findings)} for e in roots]}


@endpoint(bp, V2 + "/{id}", scope=READ)
def get_unified(call: Call, id: str) -> Obj:
    """One unified resource."""
    entry, catalog = _service().find(call.workspace_id, _id(id))
    return unified_view(entry, catalog, child_counts(catalog.entries))


@endpoint(bp, V2 + "/{id}/children", scope=READ)
def unified_children(call: Call, id: str) -> Obj:
    """The resources whose parent this is (Pulse: data and count)."""
    entry, catalog = _service().find(call.workspace_id, _id(id))
    counts = child_counts(catalog.entries)
    kids = sorted(catalog.children(entry.id), key=lambda e: (e.pulse_type, e.name))
    return {"data": [unified_view(e, catalog, counts) for e in kids], "count": len(kids)}


@endpoint(bp, V2 + "/{id}/metrics", scope=READ)
def unified_metrics(call: Call, id: str) -> Obj:
    """Live usage from metrics-server, or ``available: false`` with the reason."""
    return _service().live_usage(call.workspace_id, _id(id))  # type: ignore[no-any-return]


@endpoint(bp, "/api/metrics-store/history", scope=READ)
def metrics_history(call: Call) -> Obj:
    """Usage (and health) history of a cluster or node over a range, optionally
    downsampled to ``maxPoints``."""
    return _service().history(call.workspace_id, history_query(call))  # type: ignore[no-any-return]
