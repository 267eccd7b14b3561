"""Mirror pods (seed 002 ``/api/mirror/*``): deploy the fixed copy a mirror preview builds
for a pod failure, for a limited time; read its status live; delete it; list the active
ones; and delete expired ones on a schedule.

A mirror only ever creates one object: named ``<name>-mirror``, labelled
``drover.io/mirror=true``, in the original's namespace, selecting only its own pods. A
manifest the caller sends may change the spec, never that identity. Namespaces the
remediation policy protects are refused. Every create and delete is dry-run on the API
server first, and only objects still labelled as mirrors are ever deleted.
"""

from __future__ import annotations

import copy
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from chalicelib.domain.clock import iso, new_id, now_iso, utcnow
from chalicelib.domain.clusters import Cluster
from chalicelib.domain.errors import (
    Conflict,
    DependencyUnavailable,
    DroverError,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from chalicelib.domain.kube import BY_KIND, SNAPSHOT_KINDS, Obj
from chalicelib.domain.policy import RemediationPolicy
from chalicelib.domain.ports import IncidentRepository, WorkspaceSettings
from chalicelib.domain.remediation_ports import ClusterWriter
from chalicelib.services.clusters import ClusterService
from chalicelib.services.mirror_preview import (
    MIRROR_LABEL,
    MirrorPreviewService,
    clean,
    parse_manifest,
    pod_spec,
)

logger = logging.getLogger("drover.mirrors")
TTL_SETTINGS = "mirror_ttl"
MIN_TTL, MAX_TTL, DEFAULT_TTL = 30, 3600, 3600  # seed 002: 30 to 3600 seconds
MIRRORABLE = frozenset({"Pod", "Deployment", "StatefulSet", "ReplicaSet", "Job"})
EXPIRY_ACTOR = "system:mirror-expiry"
MirrorState = Literal["active", "deleted", "expired", "failed"]


class MirrorRecord(BaseModel):
    """One deployed mirror and how it ended."""

    id: str
    workspace_id: str
    pod_failure_id: str
    cluster_id: str
    cluster_name: str
    namespace: str
    kind: str
    name: str
    source: dict[str, Any] = Field(default_factory=dict)
    diagnosis_id: str | None = None
    ttl_seconds: int
    created_by: str
    created_at: str
    updated_at: str
    expires_at: str
    state: MirrorState = "active"
    pod_name: str | None = None
    changes: list[dict[str, Any]] = Field(default_factory=list)
    ended_at: str | None = None
    ended_by: str | None = None
    note: str | None = None
    version: int = 1


@dataclass
class LiveMirror:
    """A mirror and what its cluster says now (nothing read once it has ended)."""

    record: MirrorRecord
    workload: Obj | None = None
    pods: list[Obj] = field(default_factory=list)
    gone: bool = False  # active, but no longer on the cluster
    fixed_manifest: str | None = None  # what was deployed (set by deploy)
    explanation: str | None = None


class MirrorStore(ABC):
    """Mirror records (the port of ``adapters/dynamodb_mirrors``)."""

    @abstractmethod
    def put(self, record: MirrorRecord) -> None:
        """Store a new record."""

    @abstractmethod
    def get(self, workspace_id: str, mirror_id: str) -> MirrorRecord | None:
        """One record."""

    @abstractmethod
    def update(self, record: MirrorRecord, *, expect_state: str | None = None,
               **changes: Any) -> MirrorRecord:
        """Change fields if nobody changed the record since it was read; Conflict otherwise."""

    @abstractmethod
    def active(self, workspace_id: str, limit: int = 100) -> list[MirrorRecord]:
        """A workspace's active mirrors, newest first."""

    @abstractmethod
    def due(self, before: str, limit: int) -> list[MirrorRecord]:
        """Active mirrors of every workspace that expired before a time, oldest first."""


# --- pure parts ------------------------------------------------------------------------------
def check_ttl(seconds: Any) -> int:
    """A TTL in seconds within the seed's range (422 otherwise)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) \
            or not MIN_TTL <= seconds <= MAX_TTL:
        raise ValidationFailed(f"ttl must be whole seconds from {MIN_TTL} to {MAX_TTL}",
                               code="ttl_out_of_range", min_seconds=MIN_TTL,
                               max_seconds=MAX_TTL)
    return seconds


def mirror_body(preview: dict[str, Any], manifest: str | None) -> Obj:
    """What to create: the preview's fixed copy, or the caller's manifest (cleaned) with the
    copy's identity: kind, name, namespace, labels, selector, one replica."""
    fixed = parse_manifest(str(preview["fixed_manifest"])) or {}
    kind = str(fixed.get("kind"))
    if kind not in MIRRORABLE:
        raise ValidationFailed(f"a {kind} is not mirrored (only {', '.join(sorted(MIRRORABLE))})",
                               code="kind_not_mirrorable")
    if manifest is None:
        return fixed
    given = parse_manifest(manifest)
    if given is None or not isinstance(given.get("metadata", {}), dict) \
            or pod_spec({**given, "kind": given.get("kind", kind)}) is None:
        raise ValidationFailed(f"manifest must be a YAML or JSON {kind} with a pod spec",
                               code="invalid_manifest")
    expected = {"kind": kind, "name": fixed["metadata"]["name"],
                "namespace": fixed["metadata"].get("namespace")}
    found = {"kind": given.get("kind"), **{k: (given.get("metadata") or {}).get(k)
                                          for k in ("name", "namespace")}}
    for name, value in found.items():
        if value is not None and value != expected[name]:
            raise ValidationFailed(f"the manifest's {name} must be {expected[name]}: a "
                                   "mirror keeps its kind, name and namespace",
                                   code="mirror_identity")
    return _with_identity(clean({**given, "kind": kind}), fixed)


def _with_identity(obj: Obj, fixed: Obj) -> Obj:
    out = copy.deepcopy(obj)
    out["apiVersion"] = fixed.get("apiVersion") or out.get("apiVersion")
    meta, fixed_meta = out.setdefault("metadata", {}), fixed["metadata"]
    meta.update(name=fixed_meta["name"], labels=dict(fixed_meta.get("labels") or {}),
                annotations={**(meta.get("annotations") or {}),
                             **(fixed_meta.get("annotations") or {})})
    if fixed_meta.get("namespace"):
        meta["namespace"] = fixed_meta["namespace"]
    spec, fixed_spec = out.setdefault("spec", {}), fixed.get("spec") or {}
    for key in ("selector", "replicas"):
        if key in fixed_spec:
            spec[key] = copy.deepcopy(fixed_spec[key])
    template, fixed_template = spec.get("template"), fixed_spec.get("template")
    if isinstance(template, dict) and isinstance(fixed_template, dict):
        template.setdefault("metadata", {})["labels"] = dict(
            (fixed_template.get("metadata") or {}).get("labels") or {})
    return out


# --- the service -----------------------------------------------------------------------------
@dataclass
class MirrorService:
    """Deploys, reads, lists, deletes and expires mirrors."""

    previews: MirrorPreviewService
    clusters: ClusterService
    incidents: IncidentRepository
    settings: WorkspaceSettings
    policy: Callable[[str], RemediationPolicy]
    store: MirrorStore
    clock: Callable[[], datetime] = utcnow

    # --- the TTL setting --------------------------------------------------------------------
    def ttl(self, workspace_id: str) -> int:
        """The workspace's mirror TTL in seconds."""
        value = (self.settings.get(workspace_id, TTL_SETTINGS) or {}).get("seconds")
        return value if isinstance(value, int) and MIN_TTL <= value <= MAX_TTL else DEFAULT_TTL

    def ttl_setting(self, workspace_id: str) -> dict[str, Any]:
        """The TTL setting and its bounds."""
        stored = self.settings.get(workspace_id, TTL_SETTINGS) or {}
        seconds = self.ttl(workspace_id)
        return {"seconds": seconds, "ttl_seconds": seconds, "min_seconds": MIN_TTL,
                "max_seconds": MAX_TTL, "default_seconds": DEFAULT_TTL,
                "is_default": not stored, "updated_by": stored.get("updated_by"),
                "updated_at": stored.get("updated_at")}

    def set_ttl(self, workspace_id: str, seconds: Any, actor: str) -> dict[str, Any]:
        """Change the TTL of mirrors deployed from now on."""
        self.settings.put(workspace_id, TTL_SETTINGS, {
            "seconds": check_ttl(seconds), "updated_by": actor, "updated_at": now_iso()})
        return self.ttl_setting(workspace_id)

    # --- deploy -----------------------------------------------------------------------------
    def deploy(self, workspace_id: str, actor: str, pod_id: str, *,
               ttl_seconds: int | None = None, manifest: str | None = None) -> LiveMirror:
        """Create the mirror of a pod failure (dry run first) and keep its record."""
        incident = self.previews.pod_failures.get(workspace_id, pod_id)
        ttl = check_ttl(ttl_seconds) if ttl_seconds is not None else self.ttl(workspace_id)
        self._check_namespace(workspace_id, str(incident.namespace or "default"))
        preview = self.previews.preview(workspace_id, pod_id)
        body = mirror_body(preview, manifest)
        namespace = body["metadata"].setdefault("namespace", preview["source"]["namespace"])
        self._check_namespace(workspace_id, namespace)
        cluster = self._cluster(workspace_id, incident.cluster)
        writer = self._writer(cluster)
        rk = BY_KIND[body["kind"].lower()]
        self._refuse_duplicate(workspace_id, cluster, namespace, body)
        writer.create(rk, namespace, body, dry_run=True)
        record = self._record(workspace_id, actor, pod_id=incident.id, cluster=cluster,
                              body=body, preview=preview, ttl=ttl)
        try:
            writer.create(rk, namespace, body, dry_run=False)
        except DroverError as exc:
            self.store.update(record, state="failed", note=exc.message, ended_at=now_iso())
            raise
        live = self._live(writer, record)
        if live.pods:
            record = live.record = self.store.update(
                record, pod_name=(live.pods[0].get("metadata") or {}).get("name"))
        self._event(record, "mirror_deployed", actor, {
            "changes": record.changes, "ttl_seconds": ttl, "expires_at": record.expires_at})
        live.fixed_manifest = preview["fixed_manifest"] if manifest is None else manifest
        live.explanation = preview["explanation"]
        return live

    def _record(self, workspace_id: str, actor: str, *, pod_id: str, cluster: Cluster,
                body: Obj, preview: dict[str, Any], ttl: int) -> MirrorRecord:
        now = self.clock()
        record = MirrorRecord(
            id=new_id("mir-"), workspace_id=workspace_id, pod_failure_id=pod_id,
            cluster_id=cluster.cluster_id, cluster_name=cluster.name,
            namespace=body["metadata"]["namespace"],
            kind=body["kind"], name=body["metadata"]["name"], source=preview["source"],
            diagnosis_id=preview.get("diagnosis_id"), ttl_seconds=ttl, created_by=actor,
            created_at=iso(now), updated_at=iso(now),
            expires_at=iso(now + timedelta(seconds=ttl)), changes=preview.get("changes", []))
        self.store.put(record)  # before the create: an interrupted deploy still expires
        return record

    def _check_namespace(self, workspace_id: str, namespace: str) -> None:
        policy = self.policy(workspace_id)
        reason = None
        if namespace in policy.denied_namespaces:
            reason = f"namespace '{namespace}' is protected by policy '{policy.name}'"
        elif policy.allowed_namespaces and namespace not in policy.allowed_namespaces:
            reason = (f"namespace '{namespace}' is not in the allowed namespaces of policy "
                      f"'{policy.name}'")
        if reason:
            raise Forbidden(f"no mirror is deployed: {reason}", code="policy_refused",
                            policy_name=policy.name, policy_reason=reason)

    def _refuse_duplicate(self, workspace_id: str, cluster: Cluster, namespace: str,
                          body: Obj) -> None:
        name = body["metadata"]["name"]
        for other in self.store.active(workspace_id):
            if (other.cluster_id, other.namespace, other.kind, other.name) == (
                    cluster.cluster_id, namespace, body["kind"], name):
                raise Conflict(f"mirror {other.id} ({other.kind} {name}) is already running "
                               "until " + other.expires_at + "; delete it first",
                               code="mirror_exists", mirror_id=other.id)

    # --- reads ------------------------------------------------------------------------------
    def get(self, workspace_id: str, mirror_id: str) -> MirrorRecord:
        """One mirror record, or a 404."""
        record = self.store.get(workspace_id, mirror_id[:100])
        if record is None:
            raise NotFound(f"mirror '{mirror_id[:100]}' not found", code="mirror_not_found")
        return record

    def status(self, workspace_id: str, mirror_id: str) -> LiveMirror:
        """A mirror with its workload and pods read live from the cluster (only its record
        once it has ended)."""
        record = self.get(workspace_id, mirror_id)
        if record.state != "active":
            return LiveMirror(record)
        return self._live(self.clusters.client(self.clusters.get(workspace_id,
                                                                 record.cluster_id)), record)

    def _live(self, reader: Any, record: MirrorRecord) -> LiveMirror:
        try:
            workload = reader.get(BY_KIND[record.kind.lower()], record.namespace, record.name)
        except NotFound:
            return LiveMirror(record, gone=True)
        labels = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels")
        if record.kind == "Pod" or not labels:
            return LiveMirror(record, workload, [workload] if record.kind == "Pod" else [])
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        return LiveMirror(record, workload, reader.list(SNAPSHOT_KINDS["pods"], record.namespace,
                                                        label_selector=selector))

    def active(self, workspace_id: str) -> list[MirrorRecord]:
        """The workspace's mirrors that have not expired, newest first."""
        now = iso(self.clock())
        return [r for r in self.store.active(workspace_id) if r.expires_at > now]

    # --- delete and expiry ------------------------------------------------------------------
    def delete(self, workspace_id: str, actor: str, mirror_id: str) -> MirrorRecord:
        """Remove a mirror from its cluster (dry run first) and mark its record."""
        return self._end(self.get(workspace_id, mirror_id), actor, "deleted")

    def expire_due(self, limit: int = 25) -> dict[str, int]:
        """Delete every workspace's expired mirrors (the schedule's job); counts."""
        counts = {"expired": 0, "failed": 0}
        for record in self.store.due(iso(self.clock()), limit):
            try:
                self._end(record, EXPIRY_ACTOR, "expired")
                counts["expired"] += 1
            except DroverError as exc:  # retried on the next run
                logger.warning("mirror %s of workspace %s not expired: %s", record.id,
                               record.workspace_id, exc.message)
                counts["failed"] += 1
        return counts

    def _end(self, record: MirrorRecord, actor: str, state: MirrorState) -> MirrorRecord:
        if record.state != "active":
            raise Conflict(f"mirror {record.id} is {record.state} already",
                           code="mirror_not_active", state=record.state)
        note = self._remove(record)
        record = self.store.update(record, expect_state="active", state=state,
                                   ended_at=now_iso(), ended_by=actor, note=note)
        self._event(record, f"mirror_{state}", actor, {"note": note})
        return record

    def _remove(self, record: MirrorRecord) -> str | None:
        """Delete the mirror's object if it is still a mirror; what the record should say."""
        try:
            cluster = self.clusters.get(record.workspace_id, record.cluster_id)
        except NotFound:
            return (f"cluster {record.cluster_name} is no longer registered: remove "
                    f"{record.kind} {record.name} in namespace {record.namespace} by hand")
        writer, rk = self._writer(cluster), BY_KIND[record.kind.lower()]
        try:
            live = writer.get(rk, record.namespace, record.name)
            if ((live.get("metadata") or {}).get("labels") or {}).get(MIRROR_LABEL) != "true":
                return f"{record.kind} {record.name} is no longer a Drover mirror: left alone"
            writer.delete(rk, record.namespace, record.name, dry_run=True)
            writer.delete(rk, record.namespace, record.name, dry_run=False)
        except NotFound:
            return f"{record.kind} {record.name} was already gone from the cluster"
        return None

    # --- helpers ----------------------------------------------------------------------------
    def _cluster(self, workspace_id: str, ref: str | None) -> Cluster:
        try:
            return self.clusters.resolve(workspace_id, ref)
        except NotFound as exc:
            raise DependencyUnavailable(f"no cluster to deploy the mirror to ({exc.message})",
                                        code="cluster_not_registered",
                                        dependency="cluster") from None

    def _writer(self, cluster: Cluster) -> Any:
        """The cluster's client, which must also write (a ClusterWriter)."""
        client = self.clusters.client(cluster)
        if not isinstance(client, ClusterWriter):
            raise DependencyUnavailable(f"cluster '{cluster.name}' is registered read-only; "
                                        "mirrors need write access", code="cluster_read_only")
        return client

    def _event(self, record: MirrorRecord, event: str, actor: str,
               payload: dict[str, Any]) -> None:
        body = {"mirror_id": record.id, "kind": record.kind, "name": record.name,
                "namespace": record.namespace, "cluster": record.cluster_name, **payload}
        try:
            self.incidents.add_event(record.workspace_id, record.pod_failure_id, event, actor,
                                     body)
        except NotFound:  # the pod failure is gone; the audit log still has the request
            logger.info("pod failure %s gone; %s not on its timeline", record.pod_failure_id,
                        event)


