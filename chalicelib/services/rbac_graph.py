"""Diagram graphs: the node/edge/group builder and the node descriptions every diagram
shares, the RBAC graphs of seed 002 (a Role or ClusterRole, its bindings, the permissions it
grants, the subjects it binds), and which diagram nodes have a manifest to show.

Pure: the objects come in as the API server returned them; nothing here reads a cluster.

Node ids are ``Kind/namespace/name`` (``Kind/name`` when cluster-scoped): object names never
contain ``/``, and the Permission nodes of one graph (``pods/log``) share one namespace, so
ids cannot collide. RBAC edges: ``role_ref`` (binding -> Role or ClusterRole), ``grants``
(role -> Permission), ``binds`` (binding -> Subject).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.errors import BadRequest, Forbidden
from chalicelib.domain.kube import (
    ALL_KINDS,
    FORBIDDEN_KINDS,
    Obj,
    ResourceKind,
    meta,
    resource_kind,
)

# Nodes that stand for no Kubernetes object of their own, so they have no manifest.
SYNTHESIZED_KINDS = ("Permission", "Subject:User", "Subject:Group")
SECRET_REFUSAL = "Secret manifests are not readable by design."  # noqa: S105
SUBJECT_KINDS = {"User": "Subject:User", "Group": "Subject:Group",
                 "ServiceAccount": "Subject:ServiceAccount"}


def node_id(kind: str, namespace: str | None, name: str) -> str:
    """The id of a node: ``Kind/namespace/name``, or ``Kind/name`` when cluster-scoped."""
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


@dataclass
class Graph:
    """Nodes, edges and groups of one diagram, in the order they were added."""

    nodes: dict[str, Obj] = field(default_factory=dict)
    edges: dict[str, Obj] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)

    def add(self, kind: str, name: str, namespace: str | None = None, *,
            status: str | None = None, labels: dict[str, str] | None = None,
            metadata: Obj | None = None) -> str:
        """Add a node unless it is there already (the first description wins); its id."""
        nid = node_id(kind, namespace, name)
        if nid not in self.nodes:
            self.nodes[nid] = {"id": nid, "kind": kind, "name": name,
                               "namespace": namespace or None, "status": status,
                               "labels": dict(labels or {}), "metadata": metadata or {}}
        return nid

    def add_object(self, kind: str, obj: Obj, namespace: str | None) -> str:
        """Add a listed object as a node, described by :func:`describe`; its id."""
        status, details = describe(kind, obj)
        return self.add(kind, str(meta(obj).get("name") or ""), namespace, status=status,
                        labels=meta(obj).get("labels"), metadata=details)

    def link(self, kind: str, source: str, target: str) -> None:
        """Add an edge of a kind (once)."""
        eid = f"{kind}:{source}->{target}"
        self.edges.setdefault(eid, {"id": eid, "source": source, "target": target,
                                    "kind": kind})

    def group(self, label: str, member: str) -> None:
        """Put a node in a group."""
        self.groups.setdefault(label, set()).add(member)

    def targets(self, kinds: Iterable[str], sources: set[str]) -> set[str]:
        """Nodes reached from ``sources`` by one edge of the given kinds."""
        wanted = set(kinds)
        return {e["target"] for e in self.edges.values()
                if e["kind"] in wanted and e["source"] in sources}

    def sources(self, kinds: Iterable[str], targets: set[str]) -> set[str]:
        """Nodes with an edge of the given kinds into ``targets``."""
        wanted = set(kinds)
        return {e["source"] for e in self.edges.values()
                if e["kind"] in wanted and e["target"] in targets}

    def descendants(self, root: str, kind: str) -> set[str]:
        """Everything below ``root`` along edges of one kind (``owns``)."""
        found: set[str] = set()
        frontier = {root}
        while frontier:
            frontier = self.targets([kind], frontier) - found - {root}
            found |= frontier
        return found

    def restricted(self, keep: set[str]) -> Graph:
        """The subgraph of the kept nodes, with the edges and groups among them."""
        sub = Graph()
        sub.nodes = {nid: node for nid, node in self.nodes.items() if nid in keep}
        sub.edges = {eid: e for eid, e in self.edges.items()
                     if e["source"] in keep and e["target"] in keep}
        sub.groups = {label: members & keep for label, members in self.groups.items()
                      if members & keep}
        return sub

    def to_dict(self) -> Obj:
        """Seed 002's graph shape: ``nodes``, ``edges``, ``groups``."""
        return {"nodes": list(self.nodes.values()), "edges": list(self.edges.values()),
                "groups": [{"id": f"group/{label}", "label": label, "members": sorted(members)}
                           for label, members in sorted(self.groups.items())]}


def describe(kind: str, obj: Obj) -> tuple[str | None, Obj]:
    """A node's status and the details a diagram shows for an object of one kind."""
    describer = _DESCRIBERS.get(kind)
    return describer(obj) if describer else (None, {})


def pod_status(pod: Obj) -> str:
    """The STATUS column of ``kubectl get pods``: Terminating, ``Init:<reason>``, a
    container's waiting or terminated reason, else the pod's reason or phase."""
    if meta(pod).get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    for container in status.get("initContainerStatuses") or []:
        reason = _container_reason(container, init=True)
        if reason:
            return f"Init:{reason}"
    for container in status.get("containerStatuses") or []:
        reason = _container_reason(container, init=False)
        if reason:
            return reason
    return str(status.get("reason") or status.get("phase") or "Unknown")


def _container_reason(container: Obj, *, init: bool) -> str | None:
    state = container.get("state") or {}
    if state.get("waiting") is not None:
        return str(state["waiting"].get("reason") or "Waiting")
    ended = state.get("terminated")
    if ended is None or (init and ended.get("exitCode") == 0):
        return None  # running, or an init container that did its job
    return str(ended.get("reason") or ("Completed" if ended.get("exitCode") == 0 else "Error"))


def _parts(obj: Obj) -> tuple[Obj, Obj]:
    return obj.get("spec") or {}, obj.get("status") or {}


def _readiness(desired: int, ready: int, **extra: Any) -> tuple[str, Obj]:
    state = "scaled_down" if desired == 0 else "ready" if ready >= desired else "degraded"
    return state, {"desired": desired, "ready": ready, **extra}


def _replicated(obj: Obj) -> tuple[str, Obj]:
    spec, status = _parts(obj)
    desired = 1 if spec.get("replicas") is None else int(spec["replicas"])
    return _readiness(desired, int(status.get("readyReplicas") or 0),
                      available=int(status.get("availableReplicas") or 0))


def _daemonset(obj: Obj) -> tuple[str, Obj]:
    _, status = _parts(obj)
    return _readiness(int(status.get("desiredNumberScheduled") or 0),
                      int(status.get("numberReady") or 0))


def _job(obj: Obj) -> tuple[str, Obj]:
    spec, status = _parts(obj)
    done = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    state = "complete" if "Complete" in done else "failed" if "Failed" in done \
        else "running" if status.get("active") else "pending"
    return state, {"completions": spec.get("completions"),
                   **{k: int(status.get(k) or 0) for k in ("active", "succeeded", "failed")}}


def _cronjob(obj: Obj) -> tuple[str, Obj]:
    spec, status = _parts(obj)
    state = "suspended" if spec.get("suspend") else "active" if status.get("active") \
        else "scheduled"
    return state, {"schedule": spec.get("schedule"), "active": len(status.get("active") or []),
                   "last_schedule_time": status.get("lastScheduleTime")}


def _pod(obj: Obj) -> tuple[str, Obj]:
    spec, status = _parts(obj)
    containers = status.get("containerStatuses") or []
    ready = sum(1 for c in containers if c.get("ready"))
    return pod_status(obj), {
        "phase": status.get("phase"), "ready": f"{ready}/{len(spec.get('containers') or [])}",
        "restarts": sum(int(c.get("restartCount") or 0) for c in containers),
        "node_name": spec.get("nodeName"), "pod_ip": status.get("podIP")}


def _service(obj: Obj) -> tuple[str, Obj]:
    spec, _ = _parts(obj)
    kind = str(spec.get("type") or "ClusterIP")
    ports = [{k: p.get(k) for k in ("name", "port", "targetPort", "protocol")}
             for p in spec.get("ports") or []]
    return kind, {"type": kind, "cluster_ip": spec.get("clusterIP"), "ports": ports,
                  "selector": spec.get("selector") or {}}


def _ingress(obj: Obj) -> tuple[str, Obj]:
    spec, status = _parts(obj)
    addresses = [i.get("ip") or i.get("hostname")
                 for i in (status.get("loadBalancer") or {}).get("ingress") or []]
    return "addressed" if addresses else "pending", {
        "class": spec.get("ingressClassName"), "addresses": addresses,
        "hosts": [r["host"] for r in spec.get("rules") or [] if r.get("host")]}


def _claim(obj: Obj) -> tuple[str, Obj]:
    spec, status = _parts(obj)
    return str(status.get("phase") or "Unknown"), {
        "capacity": (status.get("capacity") or {}).get("storage"),
        "requested": ((spec.get("resources") or {}).get("requests") or {}).get("storage"),
        "storage_class": spec.get("storageClassName"), "volume_name": spec.get("volumeName"),
        "access_modes": spec.get("accessModes") or []}


def _volume(obj: Obj) -> tuple[str, Obj]:
    spec, status = _parts(obj)
    claim = spec.get("claimRef") or {}
    return str(status.get("phase") or "Unknown"), {
        "capacity": (spec.get("capacity") or {}).get("storage"),
        "storage_class": spec.get("storageClassName"),
        "reclaim_policy": spec.get("persistentVolumeReclaimPolicy"),
        "claim": f"{claim.get('namespace')}/{claim.get('name')}" if claim else None}


def _configmap(obj: Obj) -> tuple[str, Obj]:
    # Key names only: values can hold anything and the diagram does not need them.
    return "present", {"keys": sorted({*(obj.get("data") or {}),
                                       *(obj.get("binaryData") or {})})}


def _role(obj: Obj) -> tuple[None, Obj]:
    return None, {"rules": len(obj.get("rules") or []),
                  "aggregated": bool(obj.get("aggregationRule"))}


def _binding(obj: Obj) -> tuple[None, Obj]:
    return None, {"roleRef": obj.get("roleRef") or {},
                  "subjects": len(obj.get("subjects") or [])}


_DESCRIBERS: dict[str, Callable[[Obj], tuple[str | None, Obj]]] = {
    "Deployment": _replicated, "ReplicaSet": _replicated, "StatefulSet": _replicated,
    "DaemonSet": _daemonset, "Job": _job, "CronJob": _cronjob, "Pod": _pod,
    "Service": _service, "Ingress": _ingress, "PersistentVolumeClaim": _claim,
    "PersistentVolume": _volume, "ConfigMap": _configmap,
    "ServiceAccount": lambda _: ("present", {}), "Role": _role, "ClusterRole": _role,
    "RoleBinding": _binding, "ClusterRoleBinding": _binding,
}


def role_list(cluster_roles: list[Obj], roles: list[Obj]) -> Obj:
    """Seed 002 ``GET /api/diagram/roles``: every ClusterRole and Role, sorted."""
    return {"cluster_roles": sorted(({"name": meta(r).get("name")} for r in cluster_roles),
                                    key=lambda r: r["name"] or ""),
            "roles": sorted(({"namespace": meta(r).get("namespace"), "name": meta(r).get("name")}
                             for r in roles),
                            key=lambda r: (r["namespace"] or "", r["name"] or ""))}


def rbac_graph(kind: str, role: Obj, bindings: Iterable[tuple[str, Obj]]) -> Obj:
    """The graph of a Role or ClusterRole: the role, the bindings (``(kind, object)`` pairs)
    whose roleRef names it, one Permission per (apiGroup, resource), and the subjects."""
    graph = Graph()
    namespace = meta(role).get("namespace") if kind == "Role" else None
    name = str(meta(role).get("name") or "")
    role_id = graph.add_object(kind, role, namespace)
    for perm_name, details in permissions(role.get("rules") or []).items():
        pid = graph.add("Permission", perm_name, namespace, metadata=details)
        graph.link("grants", role_id, pid)
        graph.group("permissions", pid)
    for binding_kind, binding in bindings:
        if _refers_to(binding_kind, binding, kind, namespace, name):
            _add_binding(graph, binding_kind, binding, role_id)
    return graph.to_dict()


def _refers_to(binding_kind: str, binding: Obj, kind: str, namespace: str | None,
               name: str) -> bool:
    ref = binding.get("roleRef") or {}
    if ref.get("kind") != kind or ref.get("name") != name:
        return False
    # A RoleBinding can only reference a Role of its own namespace.
    return kind != "Role" or (binding_kind == "RoleBinding"
                              and meta(binding).get("namespace") == namespace)


def _add_binding(graph: Graph, kind: str, binding: Obj, role_id: str) -> None:
    namespace = meta(binding).get("namespace") if kind == "RoleBinding" else None
    bid = graph.add_object(kind, binding, namespace)
    graph.link("role_ref", bid, role_id)
    graph.group("bindings", bid)
    for subject in binding.get("subjects") or []:
        subject_kind = SUBJECT_KINDS.get(str(subject.get("kind")))
        if subject_kind is None:
            continue
        # A ServiceAccount subject without a namespace is in the RoleBinding's namespace.
        sa_namespace = (subject.get("namespace") or namespace) \
            if subject_kind == "Subject:ServiceAccount" else None
        sid = graph.add(subject_kind, str(subject.get("name") or ""), sa_namespace,
                        metadata={"apiGroup": subject.get("apiGroup") or ""})
        graph.link("binds", bid, sid)
        graph.group("subjects", sid)


def permissions(rules: list[Obj]) -> dict[str, Obj]:
    """One entry per (apiGroup, resource) or non-resource URL, named as kubectl names it
    (``pods``, ``deployments.apps``), with the union of verbs and resourceNames and each
    contributing rule (a union alone would widen a name-restricted verb)."""
    found: dict[str, Obj] = {}
    for rule in rules:
        grant = {"verbs": sorted(rule.get("verbs") or []),
                 "resourceNames": sorted(rule.get("resourceNames") or [])}
        for group in rule.get("apiGroups") or [""]:
            for resource in rule.get("resources") or []:
                name = f"{resource}.{group}" if group else resource
                _merge(found, name, {"apiGroup": group, "resource": resource}, grant)
        for url in rule.get("nonResourceURLs") or []:
            _merge(found, url, {"nonResourceURL": url}, grant)
    return found


def _merge(found: dict[str, Obj], name: str, what: Obj, grant: Obj) -> None:
    entry = found.setdefault(name, {**what, "verbs": [], "resourceNames": [], "rules": []})
    entry["verbs"] = sorted({*entry["verbs"], *grant["verbs"]})
    entry["resourceNames"] = sorted({*entry["resourceNames"], *grant["resourceNames"]})
    entry["rules"].append(grant)


def bindings_of(kind: str, items: Iterable[Obj]) -> list[tuple[str, Obj]]:
    """Tag binding objects with their kind for :func:`rbac_graph`."""
    return [(kind, item) for item in items]


def manifest_kind(kind: str) -> ResourceKind:
    """The resource type whose manifest ``kind`` asks for: 403 for Secrets, 400 for
    synthesized nodes (Permission, Subject:User, Subject:Group) and unknown kinds."""
    if kind.lower() in {k.lower() for k in SYNTHESIZED_KINDS}:
        raise BadRequest(f"'{kind}' nodes are synthesized from RBAC rules and bindings; "
                         "they have no manifest", code="synthesized_kind")
    rk = resource_kind("ServiceAccount" if kind == "Subject:ServiceAccount" else kind)
    if rk is not None and rk.plural in FORBIDDEN_KINDS:
        raise Forbidden(SECRET_REFUSAL, code="secret_forbidden")
    if rk is None:
        known = ", ".join(sorted(k.kind for k in ALL_KINDS.values()
                                 if k.plural not in FORBIDDEN_KINDS))
        raise BadRequest(f"unknown kind '{kind}'; manifests can be read for: {known}",
                         code="unknown_kind")
    return rk


def manifest_yaml(obj: Obj, rk: ResourceKind) -> str:
    """An object as ``kubectl get -o yaml`` shows it, without managedFields."""
    import yaml

    body = dict(obj)
    metadata = dict(body.pop("metadata", None) or {})
    metadata.pop("managedFields", None)
    ordered = {"apiVersion": body.pop("apiVersion", rk.api_version),
               "kind": body.pop("kind", rk.kind), "metadata": metadata, **body}
    return str(yaml.safe_dump(ordered, sort_keys=False, default_flow_style=False,
                              allow_unicode=True))
