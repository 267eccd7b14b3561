"""The objects a fake API server holds, keyed by (plural, namespace, name), with the
metadata the real server would have given them."""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Iterable
from typing import Any

from chalicelib.domain.kube import ResourceKind, resource_kind

Obj = dict[str, Any]
Key = tuple[str, str, str]

DEFAULT_CREATED = "2026-01-05T08:00:00Z"
BASE_NAMESPACES = ("default", "kube-system")
REVISION = "deployment.kubernetes.io/revision"
METRICS_KINDS: dict[str, ResourceKind] = {
    "nodes": ResourceKind("nodes", "NodeMetrics", "metrics.k8s.io", "v1beta1", False),
    "pods": ResourceKind("pods", "PodMetrics", "metrics.k8s.io", "v1beta1", True),
}
# Kinds the fake serves beyond those Drover reads: what remediation writes or honours.
WRITE_KINDS: dict[str, ResourceKind] = {
    "poddisruptionbudgets": ResourceKind("poddisruptionbudgets", "PodDisruptionBudget",
                                         "policy", "v1", True),
}
NAMESPACES = resource_kind("namespaces")


def kind_for(name: str) -> ResourceKind | None:
    """The resource type for a plural, alias or kind this server serves (``pdb`` too)."""
    lowered = name.lower()
    if lowered in ("pdb", "pdbs", "poddisruptionbudget"):
        lowered = "poddisruptionbudgets"
    return WRITE_KINDS.get(lowered) or resource_kind(name)


class ObjectStore:
    """Objects of one API surface, in etcd key order, each with a resourceVersion.

    Reads hand out deep copies so a test that edits a response cannot change the store;
    the write verbs and the simulated controllers change it through ``put``/``delete``."""

    def __init__(self, first_version: int = 1000) -> None:
        self._objects: dict[Key, Obj] = {}
        self._last_version = first_version
        self._lock = threading.Lock()
        self.resource_version = str(first_version)

    def put(self, rk: ResourceKind, obj: Obj, keep_version: bool = True) -> Obj:
        """Store an object (replacing one of the same name), filling in server metadata.

        A resourceVersion the case gives is kept (events may cite it) unless
        ``keep_version`` is False, as writes will ask; the store's version stays the newest."""
        stored = with_server_fields(rk, copy.deepcopy(obj))
        meta = stored["metadata"]
        given = str(meta.get("resourceVersion") or "") if keep_version else ""
        with self._lock:
            self._last_version += 1
            if given.isdigit():
                self._last_version = max(self._last_version, int(given))
            meta["resourceVersion"] = given or str(self._last_version)
            self.resource_version = str(self._last_version)
            self._objects[(rk.plural, meta.get("namespace", ""), meta["name"])] = stored
        return copy.deepcopy(stored)

    def delete(self, plural: str, namespace: str, name: str) -> Obj | None:
        """Remove an object; the removed object, or None if there was none."""
        with self._lock:
            removed = self._objects.pop((plural, namespace, name), None)
            if removed is not None:
                self._last_version += 1
                self.resource_version = str(self._last_version)
        return removed

    def get(self, plural: str, namespace: str, name: str) -> Obj | None:
        """One object, or None."""
        with self._lock:
            found = self._objects.get((plural, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def list(self, plural: str, namespace: str | None = None) -> list[Obj]:
        """The objects of one plural, across namespaces when ``namespace`` is None."""
        with self._lock:
            keys = sorted(k for k in self._objects
                          if k[0] == plural and (namespace is None or k[1] == namespace))
            return [copy.deepcopy(self._objects[k]) for k in keys]

    def namespaces_in_use(self) -> set[str]:
        """Every namespace some stored object lives in."""
        with self._lock:
            return {k[1] for k in self._objects if k[1]}


def with_server_fields(rk: ResourceKind, obj: Obj) -> Obj:
    """An object with the kind, apiVersion and metadata a real API server always returns."""
    obj.setdefault("kind", rk.kind)
    obj.setdefault("apiVersion", rk.api_version)
    meta = obj.setdefault("metadata", {})
    if not meta.get("name"):
        meta["name"] = _generated_name(rk, obj)
    if rk.namespaced:
        meta.setdefault("namespace", "default")
    else:
        meta.pop("namespace", None)
    meta.setdefault("uid", default_uid(rk.kind, meta.get("namespace", ""), meta["name"]))
    meta.setdefault("creationTimestamp", _first_timestamp(obj) or DEFAULT_CREATED)
    if rk.kind == "Pod":
        _fill_container_statuses(obj)
    return obj


def default_uid(kind: str, namespace: str, name: str) -> str:
    """The uid an object gets when its case gives none: stable, so owner references to it
    can be completed before (or without) the owner itself being loaded."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake-kube/{kind}/{namespace}/{name}"))


def _fill_owner_references(obj: Obj, uids: dict[tuple[str, str, str], str]) -> None:
    # The official client refuses an ownerReference without apiVersion or uid.
    namespace = obj["metadata"].get("namespace", "")
    for ref in obj["metadata"].get("ownerReferences") or []:
        kind, name = ref.get("kind", ""), ref.get("name", "")
        owner = kind_for(kind)
        if owner is not None:
            ref.setdefault("apiVersion", owner.api_version)
        scope = namespace if owner is None or owner.namespaced else ""
        ref.setdefault("uid", uids.get((kind, scope, name)) or default_uid(kind, scope, name))


def _generated_name(rk: ResourceKind, obj: Obj) -> str:
    # Events in hand-written cases often lack a name; the server names them
    # "<involved object>.<hex>", which keeps them unique and readable.
    involved = (obj.get("involvedObject") or {}).get("name")
    suffix = uuid.uuid4().hex[:16]
    return f"{involved}.{suffix}" if involved else f"{rk.kind.lower()}-{suffix[:5]}"


def _first_timestamp(obj: Obj) -> str | None:
    for key in ("firstTimestamp", "eventTime", "lastTimestamp", "timestamp"):
        if isinstance(obj.get(key), str):
            return str(obj[key])
    return None


def _fill_container_statuses(pod: Obj) -> None:
    # The official client refuses a ContainerStatus without image, imageID, name, ready
    # and restartCount; the real server always sends them, so cases that omit them get
    # the values the kubelet would report before the image is resolved.
    status = pod.get("status") or {}
    images = {c.get("name"): c.get("image", "") for key in ("containers", "initContainers")
              for c in (pod.get("spec") or {}).get(key) or []}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(key) or []:
            cs.setdefault("name", "")
            cs.setdefault("image", images.get(cs["name"], ""))
            cs.setdefault("imageID", "")
            cs.setdefault("ready", False)
            cs.setdefault("restartCount", 0)


def namespace_object(name: str) -> Obj:
    """A Namespace as the server creates it for ``kubectl create namespace``."""
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def load_objects(store: ObjectStore, objects: dict[str, list[Obj]]) -> None:
    """Store a case's ``objects`` (plural keys or aliases such as ``pvcs``), then the
    namespaces they live in that the case did not list itself."""
    prepared = []
    for name, items in objects.items():
        rk = kind_for(name)
        if rk is None:
            raise ValueError(f"unknown resource {name!r} in case objects")
        prepared += [(rk, with_server_fields(rk, copy.deepcopy(obj))) for obj in items]
    uids = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]):
            o["metadata"]["uid"] for _, o in prepared}
    _number_revisions([o for rk, o in prepared if rk.plural == "replicasets"])
    for rk, obj in prepared:
        _fill_owner_references(obj, uids)
        store.put(rk, obj)
    assert NAMESPACES is not None
    listed = {(ns.get("metadata") or {}).get("name") for ns in store.list("namespaces")}
    for ns in sorted(store.namespaces_in_use().union(BASE_NAMESPACES) - listed):
        store.put(NAMESPACES, namespace_object(ns))


def _number_revisions(replicasets: list[Obj]) -> None:
    # A Deployment's ReplicaSets always carry their revision; cases that leave it out get
    # revisions in creation order, after any the case gives.
    by_deployment: dict[tuple[str, str], list[Obj]] = {}
    for rs in replicasets:
        owner = next((r for r in rs["metadata"].get("ownerReferences") or []
                      if r.get("kind") == "Deployment"), None)
        if owner is not None:
            key = (rs["metadata"].get("namespace", ""), owner.get("name", ""))
            by_deployment.setdefault(key, []).append(rs)
    for group in by_deployment.values():
        given = [(rs["metadata"].get("annotations") or {}).get(REVISION, "") for rs in group]
        number = max((int(g) for g in given if str(g).isdigit()), default=0)
        for rs in sorted(group, key=lambda o: o["metadata"]["creationTimestamp"]):
            annotations = rs["metadata"].setdefault("annotations", {})
            if not str(annotations.get(REVISION, "")).isdigit():
                number += 1
                annotations[REVISION] = str(number)


def load_metrics(store: ObjectStore, metrics: dict[str, list[Obj]]) -> None:
    """Store metrics.k8s.io NodeMetrics (``nodes``) and PodMetrics (``pods``)."""
    for plural, items in metrics.items():
        rk = METRICS_KINDS.get(plural)
        if rk is None:
            raise ValueError(f"metrics hold 'nodes' and 'pods', not {plural!r}")
        for item in items:
            obj = with_server_fields(rk, copy.deepcopy(item))
            obj.setdefault("timestamp", obj["metadata"]["creationTimestamp"])
            obj.setdefault("window", "15s")
            store.put(rk, obj)


def merge_cases(cases: Iterable[Obj]) -> tuple[dict[str, list[Obj]], dict[str, str], dict]:
    """The ``objects``, ``logs`` and ``metrics`` of several cases, merged in order."""
    objects: dict[str, list[Obj]] = {}
    logs: dict[str, str] = {}
    metrics: dict[str, list[Obj]] = {}
    for case in cases:
        for name, items in (case.get("objects") or {}).items():
            rk = kind_for(name)
            objects.setdefault(rk.plural if rk else name, []).extend(items)
        logs.update(case.get("logs") or {})
        for name, items in (case.get("metrics") or {}).items():
            metrics.setdefault(name, []).extend(items)
    return objects, logs, metrics
