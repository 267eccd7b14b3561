"""Kubernetes objects as Drover sees them: the kinds a snapshot holds, compact objects,
an index for the analyzers, and the findings they report. Pure: no client, no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

Obj = dict[str, Any]
Severity = Literal["critical", "warning", "info"]


@dataclass(frozen=True)
class ResourceKind:
    """One Kubernetes resource type: its plural, kind, API group/version and scope."""

    plural: str
    kind: str
    group: str  # "" for the core group
    version: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, ``apps/v1`` for the others."""
        return f"{self.group}/{self.version}" if self.group else self.version


def _kinds(*rows: tuple[str, str, str, str, bool]) -> dict[str, ResourceKind]:
    return {r[0]: ResourceKind(*r) for r in rows}


# Everything a snapshot holds, in the order it is read. Secrets are deliberately absent.
SNAPSHOT_KINDS: dict[str, ResourceKind] = _kinds(
    ("nodes", "Node", "", "v1", False),
    ("pods", "Pod", "", "v1", True),
    ("events", "Event", "", "v1", True),
    ("deployments", "Deployment", "apps", "v1", True),
    ("replicasets", "ReplicaSet", "apps", "v1", True),
    ("statefulsets", "StatefulSet", "apps", "v1", True),
    ("daemonsets", "DaemonSet", "apps", "v1", True),
    ("jobs", "Job", "batch", "v1", True),
    ("cronjobs", "CronJob", "batch", "v1", True),
    ("services", "Service", "", "v1", True),
    ("endpoints", "Endpoints", "", "v1", True),
    ("persistentvolumeclaims", "PersistentVolumeClaim", "", "v1", True),
    ("persistentvolumes", "PersistentVolume", "", "v1", False),
    ("storageclasses", "StorageClass", "storage.k8s.io", "v1", False),
    ("ingresses", "Ingress", "networking.k8s.io", "v1", True),
    ("networkpolicies", "NetworkPolicy", "networking.k8s.io", "v1", True),
    ("configmaps", "ConfigMap", "", "v1", True),
)
# Read on demand (diagrams, manifests), never stored in snapshots.
EXTRA_KINDS: dict[str, ResourceKind] = _kinds(
    ("namespaces", "Namespace", "", "v1", False),
    ("serviceaccounts", "ServiceAccount", "", "v1", True),
    ("roles", "Role", "rbac.authorization.k8s.io", "v1", True),
    ("rolebindings", "RoleBinding", "rbac.authorization.k8s.io", "v1", True),
    ("clusterroles", "ClusterRole", "rbac.authorization.k8s.io", "v1", False),
    ("clusterrolebindings", "ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", False),
    ("secrets", "Secret", "", "v1", True),
)
ALL_KINDS: dict[str, ResourceKind] = {**SNAPSHOT_KINDS, **EXTRA_KINDS}
BY_KIND: dict[str, ResourceKind] = {k.kind.lower(): k for k in ALL_KINDS.values()}
# Names the eval corpus and kubectl users give to some plurals.
PLURAL_ALIASES = {"pvcs": "persistentvolumeclaims", "pvs": "persistentvolumes",
                  "ep": "endpoints", "svc": "services", "sc": "storageclasses"}
FORBIDDEN_KINDS = frozenset({"secrets"})
# A ReplicaSet is named <deployment>-<pod-template-hash>; the hash is 5 to 10 characters.
POD_TEMPLATE_HASH_CHARS = (5, 10)


def resource_kind(name: str) -> ResourceKind | None:
    """The resource type for a plural (``pods``, ``pvcs``) or a kind (``Pod``, ``pod``)."""
    lowered = name.lower()
    lowered = PLURAL_ALIASES.get(lowered, lowered)
    return ALL_KINDS.get(lowered) or BY_KIND.get(lowered)


_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",
                        "deployment.kubernetes.io/revision-history")


def compact(plural: str, obj: Obj) -> Obj:
    """An object without what no analyzer, diagram or resource view reads: managed fields,
    last-applied annotations, and (for ConfigMaps) the values: only the keys are kept."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if annotations:
        kept = {k: v for k, v in annotations.items() if k not in _DROPPED_ANNOTATIONS}
        if kept:
            meta["annotations"] = kept
        else:
            meta.pop("annotations")
    out = {k: v for k, v in obj.items() if k not in ("metadata", "data", "binaryData")}
    out["metadata"] = meta
    if plural == "configmaps":
        out["data_keys"] = sorted({*(obj.get("data") or {}), *(obj.get("binaryData") or {})})
    elif "data" in obj:
        out["data"] = obj["data"]
    return out


@dataclass
class Snapshot:
    """The objects of one cluster at one moment, keyed by plural resource name."""

    cluster_id: str
    taken_at: str
    objects: dict[str, list[Obj]] = field(default_factory=dict)
    version: str | None = None
    # Kinds the API server refused or lacks (e.g. RBAC forbids listing them), with why.
    missing: dict[str, str] = field(default_factory=dict)
    # Error lines (redacted) from the recent logs of sampled containers, keyed
    # ``namespace/pod/container``: the only trace of failures Kubernetes sees as healthy.
    logs: dict[str, list[str]] = field(default_factory=dict)

    def items(self, plural: str) -> list[Obj]:
        """The objects of one plural resource name (empty if none were read)."""
        return self.objects.get(plural, [])

    def to_dict(self) -> Obj:
        """A JSON-ready form (what the snapshot store keeps)."""
        return {"cluster_id": self.cluster_id, "taken_at": self.taken_at,
                "version": self.version, "objects": self.objects, "missing": self.missing,
                "logs": self.logs}

    @classmethod
    def from_dict(cls, data: Obj) -> Snapshot:
        """The inverse of :meth:`to_dict`."""
        return cls(cluster_id=data["cluster_id"], taken_at=data["taken_at"],
                   objects=data.get("objects") or {}, version=data.get("version"),
                   missing=data.get("missing") or {}, logs=data.get("logs") or {})

    @classmethod
    def from_case(cls, cluster_id: str, taken_at: str, objects: dict[str, list[Obj]],
                  logs: dict[str, str] | None = None) -> Snapshot:
        """A snapshot from a case file's ``objects`` (plural keys, aliases such as ``pvcs``)
        and ``logs`` (keyed ``pod/container``), logs reduced to their error lines."""
        from chalicelib.domain.log_lines import error_lines

        found: dict[str, list[Obj]] = defaultdict(list)
        for name, items in objects.items():
            rk = resource_kind(name)
            if rk is not None and rk.plural not in FORBIDDEN_KINDS:
                found[rk.plural].extend(compact(rk.plural, o) for o in items)
        namespaces = {meta(p).get("name"): meta(p).get("namespace") or "default"
                      for p in found.get("pods", [])}
        kept = {}
        for key, text in (logs or {}).items():
            pod, _, container = key.partition("/")
            if pod in namespaces and container and error_lines(text):
                kept[f"{namespaces[pod]}/{key}"] = error_lines(text)
        return cls(cluster_id=cluster_id, taken_at=taken_at, objects=dict(found), logs=kept)


def meta(obj: Obj) -> Obj:
    """An object's metadata (empty dict if absent)."""
    return obj.get("metadata") or {}


def key_of(obj: Obj) -> tuple[str, str]:
    """``(namespace, name)`` of an object; cluster-scoped objects have namespace ``""``."""
    m = meta(obj)
    return m.get("namespace") or "", m.get("name") or ""


def ref(kind: str, name: str, namespace: str | None = None) -> Obj:
    """A reference to an object, as findings and diagrams carry it."""
    return {"kind": kind, "name": name, "namespace": namespace}


@dataclass
class Finding:
    """Something wrong an analyzer found, with the lines of evidence it rests on."""

    analyzer: str
    kind: str
    name: str
    namespace: str | None
    severity: Severity
    reason: str
    message: str
    evidence: list[str] = field(default_factory=list)
    # The workload that owns the object (a pod's Deployment, a Job's CronJob), if any.
    parent: Obj | None = None
    # When this problem was first seen on this object (carried from snapshot to snapshot).
    first_seen: str | None = None

    @property
    def key(self) -> str:
        """A stable identity: the same problem on the same object has the same key."""
        return f"{self.kind}/{self.namespace or ''}/{self.name}/{self.reason}"

    def to_dict(self) -> Obj:
        """A JSON-ready form."""
        return {"analyzer": self.analyzer, "kind": self.kind, "name": self.name,
                "namespace": self.namespace, "severity": self.severity,
                "reason": self.reason, "message": self.message,
                "evidence": list(self.evidence), "parent": self.parent,
                "first_seen": self.first_seen}

    @classmethod
    def from_dict(cls, data: Obj) -> Finding:
        """The inverse of :meth:`to_dict`."""
        return cls(**{k: data.get(k) for k in (
            "analyzer", "kind", "name", "namespace", "severity", "reason", "message",
            "evidence", "parent", "first_seen")})


class SnapshotIndex:
    """Lookups the analyzers share, built once per snapshot in linear time."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._by_key: dict[str, dict[tuple[str, str], Obj]] = {}
        self._events: dict[tuple[str, str, str], list[Obj]] | None = None
        self._pods_by_owner: dict[tuple[str, str, str], list[Obj]] | None = None

    def items(self, plural: str) -> list[Obj]:
        """All objects of a plural resource name."""
        return self.snapshot.items(plural)

    def get(self, plural: str, namespace: str | None, name: str) -> Obj | None:
        """One object by namespace (None or "" when cluster-scoped) and name."""
        table = self._by_key.get(plural)
        if table is None:
            table = {key_of(o): o for o in self.items(plural)}
            self._by_key[plural] = table
        return table.get((namespace or "", name))

    def events_for(self, kind: str, namespace: str | None, name: str) -> list[Obj]:
        """Events whose involvedObject is this object, oldest first."""
        if self._events is None:
            grouped: dict[tuple[str, str, str], list[Obj]] = defaultdict(list)
            for event in self.items("events"):
                io = event.get("involvedObject") or event.get("regarding") or {}
                ns = io.get("namespace") or meta(event).get("namespace") or ""
                grouped[(io.get("kind") or "", ns, io.get("name") or "")].append(event)
            for events in grouped.values():
                events.sort(key=event_time)
            self._events = grouped
        # Events of cluster-scoped objects (nodes) sit in the default namespace.
        found = self._events.get((kind, namespace or "", name), [])
        if not found and not namespace:
            found = self._events.get((kind, "default", name), [])
        return found

    def owner(self, obj: Obj) -> Obj | None:
        """The controlling owner reference of an object, if any."""
        refs = meta(obj).get("ownerReferences") or []
        for r in refs:
            if r.get("controller"):
                return r
        return refs[0] if refs else None

    def top_owner(self, obj: Obj) -> Obj | None:
        """The workload at the top of the owner chain (Pod -> ReplicaSet -> Deployment,
        Pod -> Job -> CronJob), as a reference; None for a bare object."""
        namespace = meta(obj).get("namespace")
        current = self.owner(obj)
        if current is None:
            return None
        found = ref(current.get("kind", ""), current.get("name", ""), namespace)
        for _ in range(4):  # owner chains are short; a loop in bad data must end
            rk = resource_kind(found["kind"])
            parent_obj = self.get(rk.plural, namespace, found["name"]) if rk else None
            parent = self.owner(parent_obj) if parent_obj else None
            if parent is None:
                break
            found = ref(parent.get("kind", ""), parent.get("name", ""), namespace)
        if found["kind"] == "ReplicaSet" and self.get("replicasets", namespace,
                                                      found["name"]) is None:
            found = _deployment_from_replicaset_name(found)
        return found

    def pods_owned_by(self, kind: str, namespace: str | None, name: str) -> list[Obj]:
        """Pods whose direct owner is this object."""
        if self._pods_by_owner is None:
            grouped: dict[tuple[str, str, str], list[Obj]] = defaultdict(list)
            for pod in self.items("pods"):
                owner = self.owner(pod)
                if owner:
                    grouped[(owner.get("kind", ""), meta(pod).get("namespace") or "",
                             owner.get("name", ""))].append(pod)
            self._pods_by_owner = grouped
        return self._pods_by_owner.get((kind, namespace or "", name), [])

    def pods_in(self, namespace: str) -> Iterator[Obj]:
        """Pods of one namespace."""
        return (p for p in self.items("pods") if meta(p).get("namespace") == namespace)


def _deployment_from_replicaset_name(rs: Obj) -> Obj:
    # Without the ReplicaSet object, its name still says its Deployment: <deploy>-<hash>.
    name, _, suffix = rs["name"].rpartition("-")
    low, high = POD_TEMPLATE_HASH_CHARS
    if name and suffix.isalnum() and low <= len(suffix) <= high:
        return ref("Deployment", name, rs["namespace"])
    return rs


def event_time(event: Obj) -> str:
    """When an event last happened, as an ISO string ("" if unknown)."""
    return str(event.get("lastTimestamp") or event.get("eventTime")
               or event.get("firstTimestamp") or meta(event).get("creationTimestamp") or "")


def event_line(event: Obj) -> str:
    """One event as an evidence line: ``Warning BackOff (x12): Back-off restarting ...``."""
    count = event.get("count") or (event.get("series") or {}).get("count")
    times = f" (x{count})" if count and int(count) > 1 else ""
    return f"{event.get('type', 'Normal')} {event.get('reason', '')}{times}: " \
           f"{(event.get('message') or event.get('note') or '').strip()}"


def label_selector_matches(selector: dict[str, Any] | None, labels: dict[str, str] | None,
                           *, empty_matches_all: bool = True) -> bool:
    """Whether labels satisfy a selector: a ``matchLabels`` / ``matchExpressions`` object,
    or a plain map (a Service's selector)."""
    labels = labels or {}
    if not selector:
        return empty_matches_all
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return all(labels.get(k) == v for k, v in selector.items())
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    return all(_expression_matches(e, labels) for e in selector.get("matchExpressions") or [])


def _expression_matches(expr: dict[str, Any], labels: dict[str, str]) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False


def first(items: Iterable[Any]) -> Any:
    """The first item, or None."""
    return next(iter(items), None)
