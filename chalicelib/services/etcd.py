"""etcd snapshots of k3s and RKE2 clusters (seed 000 ``/api/etcd/...``).

Listing reads what the distributions publish through the Kubernetes API: one cluster-scoped
``ETCDSnapshotFile`` (``k3s.cattle.io/v1``, also used by RKE2) per snapshot in current
releases, and the ``k3s-etcd-snapshots`` / ``rke2-etcd-snapshots`` ConfigMap in kube-system
in older ones. Taking and restoring snapshots happen on the server nodes (``k3s etcd-snapshot
save``, ``k3s server --cluster-reset --cluster-reset-restore-path=...``): Drover runs no
shell on nodes and a restore stops every server, so a request is recorded with who asked
and answered with the documented procedure for an operator to run, in order.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.domain.clock import new_id, now_iso
from chalicelib.domain.cluster_ports import ClusterClient
from chalicelib.domain.clusters import Cluster, ClusterFeatureMissing, ClusterRejected
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.kube import SNAPSHOT_KINDS, Obj, ResourceKind, meta
from chalicelib.domain.quantity import parse_quantity
from chalicelib.domain.validation import parse_body
from chalicelib.services.clusters import ClusterService

ETCD_SNAPSHOT_FILES = ResourceKind("etcdsnapshotfiles", "ETCDSnapshotFile", "k3s.cattle.io",
                                   "v1", False)
EMBEDDED_ETCD = ("k3s", "rke2")
UNIT = {"k3s": "k3s", "rke2": "rke2-server"}
DATA_DIR = {"k3s": "/var/lib/rancher/k3s", "rke2": "/var/lib/rancher/rke2"}
SERVER_ROLES = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master",
                "node-role.kubernetes.io/etcd")
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
MANAGED = {"eks": "Amazon EKS", "gke": "Google GKE", "aks": "Azure AKS"}
RESTORE_WARNING = (
    "A restore stops every server, resets etcd membership to the single server that restores "
    "the snapshot, and discards every change made to the cluster after the snapshot was taken; "
    "the other servers rejoin only after their etcd data is deleted. Drover does not run these "
    "commands: an operator with root on the server nodes runs them, in order.")


class EtcdRequestStore(Protocol):
    """Where operator requests are recorded."""

    def add_etcd_request(self, request: dict[str, Any]) -> None:
        """Keep one request."""

    def etcd_requests(self, cluster_id: str, limit: int) -> list[dict[str, Any]]:
        """A cluster's requests, newest first."""


class SnapshotRequest(BaseModel):
    """``POST /api/etcd/snapshot``: an optional base name (k3s appends node and time)."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(default="on-demand", pattern=NAME_PATTERN)


class RestoreRequest(BaseModel):
    """``POST /api/etcd/restore``: the snapshot, by its name or by its snapshot_id."""

    model_config = ConfigDict(extra="ignore")

    snapshot_name: str | None = Field(default=None, min_length=1, max_length=253)
    snapshot_id: str | None = Field(default=None, min_length=1, max_length=253)

    @model_validator(mode="after")
    def _one_given(self) -> RestoreRequest:
        if not (self.snapshot_name or self.snapshot_id):
            raise ValueError("give 'snapshot_name' (or 'snapshot_id') of a listed snapshot")
        return self


def _s3(spec: Obj | None) -> Obj | None:
    if not spec:
        return None
    return {"bucket": spec.get("bucket"), "endpoint": spec.get("endpoint"),
            "region": spec.get("region"), "folder": spec.get("prefix") or spec.get("folder")}


def from_snapshot_file(obj: Obj) -> dict[str, Any]:
    """An ``ETCDSnapshotFile`` as a listed snapshot."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ready = status.get("readyToUse")
    error = status.get("error") or {}
    size = parse_quantity(status.get("size"))
    name = str(spec.get("snapshotName") or meta(obj).get("name"))
    return {"snapshot_id": meta(obj).get("name"), "name": name, "node": spec.get("nodeName"),
            "storage": "s3" if spec.get("s3") else "local", "location": spec.get("location"),
            "size_bytes": int(size) if size is not None else None,
            "created_at": status.get("creationTime") or error.get("time"),
            "status": "ready" if ready else ("failed" if ready is False or error else "unknown"),
            "error": error.get("message"), "compressed": name.endswith(".zip"),
            "s3": _s3(spec.get("s3")), "source": "ETCDSnapshotFile"}


def from_configmap(configmap: Obj) -> list[dict[str, Any]]:
    """The snapshots of a ``<distribution>-etcd-snapshots`` ConfigMap (JSON per key)."""
    rows = []
    where = f"ConfigMap kube-system/{meta(configmap).get('name')}"
    for key, value in sorted((configmap.get("data") or {}).items()):
        try:
            record = json.loads(value)
        except (TypeError, ValueError):
            continue  # a key another tool wrote; not a snapshot record
        if not isinstance(record, dict):
            continue
        s3 = record.get("s3Config") or record.get("s3")
        rows.append({"snapshot_id": key, "name": record.get("name") or key,
                     "node": record.get("nodeName"), "storage": "s3" if s3 else "local",
                     "location": record.get("location"), "size_bytes": record.get("size"),
                     "created_at": record.get("createdAt"),
                     "status": "ready" if record.get("status", "successful") == "successful"
                     else "failed", "error": record.get("message"),
                     "compressed": bool(record.get("compressed")), "s3": _s3(s3),
                     "source": where})
    return rows


def server_nodes(nodes: list[Obj]) -> list[str]:
    """Names of the nodes that run a server (control plane / etcd)."""
    return sorted(str(meta(n).get("name")) for n in nodes
                  if any((meta(n).get("labels") or {}).get(r) == "true" for r in SERVER_ROLES))


def _step(order: int, run_on: str, command: str, purpose: str) -> dict[str, Any]:
    return {"order": order, "run_on": run_on, "command": command, "purpose": purpose}


def snapshot_steps(provider: str, name: str, servers: list[str]) -> list[dict[str, Any]]:
    """The documented on-demand snapshot procedure."""
    where = f"one server node ({', '.join(servers)})" if servers else "one server node"
    return [
        _step(1, where, f"sudo {provider} etcd-snapshot save --name {shlex.quote(name)}",
              f"take the snapshot; it is saved under {DATA_DIR[provider]}/server/db/snapshots "
              "(and uploaded when etcd-s3 is configured), named <name>-<node>-<timestamp>"),
        _step(2, where, f"sudo {provider} etcd-snapshot ls",
              "check the snapshot is listed; it also appears in GET /api/etcd/snapshots")]


def _restore_source(provider: str, snapshot: dict[str, Any]) -> str:
    if snapshot["storage"] == "local":
        path = str(snapshot.get("location") or "").removeprefix("file://") or \
            f"{DATA_DIR[provider]}/server/db/snapshots/{snapshot['name']}"
        return f"--cluster-reset-restore-path={shlex.quote(path)}"
    s3 = snapshot.get("s3") or {}
    flags = [f"--cluster-reset-restore-path={shlex.quote(str(snapshot['name']))}", "--etcd-s3"]
    for flag, key in (("bucket", "bucket"), ("folder", "folder"), ("endpoint", "endpoint"),
                      ("region", "region")):
        if s3.get(key):
            flags.append(f"--etcd-s3-{flag}={shlex.quote(str(s3[key]))}")
    return " ".join(flags)


def restore_steps(provider: str, snapshot: dict[str, Any],
                  servers: list[str]) -> list[dict[str, Any]]:
    """The documented restore procedure, per server node, in order."""
    unit = UNIT[provider]
    local_node = snapshot.get("node") if snapshot["storage"] == "local" else None
    first = local_node or (servers[0] if servers else "one server node")
    others = [s for s in servers if s != first]
    everyone = f"every server node ({', '.join(servers)})" if servers else "every server node"
    rest = f"each other server node ({', '.join(others)})" if others else \
        "each other server node, if any"
    db = f"{DATA_DIR[provider]}/server/db"
    return [
        _step(1, everyone, f"sudo systemctl stop {unit}",
              "stop the servers so nothing writes to etcd during the reset"),
        _step(2, first, f"sudo {provider} server --cluster-reset "
                        f"{_restore_source(provider, snapshot)}",
              "restore the snapshot and reset etcd to this single member; wait for the log "
              "line saying the server can be restarted without the flags (add --token=<the "
              "token in use when the snapshot was taken> if it has changed since; for S3 give "
              "the access keys as in the server's configuration)"),
        _step(3, first, f"sudo systemctl start {unit}", "start the restored server"),
        _step(4, rest, f"sudo rm -rf {db}",
              "delete the old etcd data so the server joins the restored cluster"),
        _step(5, rest, f"sudo systemctl start {unit}", "rejoin the restored cluster"),
        _step(6, "the operator's workstation", "kubectl get nodes",
              "check every node is Ready, then refresh the cluster in Drover")]


@dataclass
class EtcdService:
    """Lists etcd snapshots and records snapshot and restore requests for an operator."""

    clusters: ClusterService
    requests: EtcdRequestStore

    def _embedded(self, workspace_id: str, cluster_ref: str | None) -> Cluster:
        cluster = self.clusters.resolve(workspace_id, cluster_ref)
        if cluster.provider in EMBEDDED_ETCD:
            return cluster
        if cluster.provider in MANAGED:
            reason = (f"runs on {MANAGED[cluster.provider]}, whose etcd is managed by the "
                      "provider and not reachable from the cluster; use the provider's backups "
                      "or a Kubernetes-level backup tool")
        else:
            reason = (f"is registered as '{cluster.provider}', not k3s or RKE2, so Drover does "
                      "not know of an embedded etcd it could snapshot; if it is one, set its "
                      f"provider with PUT /v1/api/clusters/{cluster.name}")
        raise ClusterFeatureMissing(f"cluster '{cluster.name}' {reason}")

    def _read(self, cluster: Cluster, client: ClusterClient) -> tuple[list[dict[str, Any]],
                                                                      str | None, list[str]]:
        """Snapshots, where they were read from, and what could not be read."""
        notes: list[str] = []
        crd = True
        try:
            rows = [from_snapshot_file(o) for o in client.list(ETCD_SNAPSHOT_FILES)]
        except NotFound:
            rows, crd = [], False
        except ClusterRejected as exc:
            if exc.code != "cluster_forbidden":
                raise
            rows, crd = [], False
            notes.append(f"etcdsnapshotfiles.k3s.cattle.io could not be read: {exc.message}")
        if rows:
            return rows, "etcdsnapshotfiles.k3s.cattle.io", notes
        name = f"{cluster.provider}-etcd-snapshots"
        try:
            configmap = client.get(SNAPSHOT_KINDS["configmaps"], "kube-system", name)
        except NotFound:
            return [], "etcdsnapshotfiles.k3s.cattle.io" if crd else None, notes
        return from_configmap(configmap), f"configmap kube-system/{name}", notes

    def list(self, workspace_id: str, cluster_ref: str | None) -> dict[str, Any]:
        """The cluster's etcd snapshots, newest first, and the requests awaiting operators."""
        cluster = self._embedded(workspace_id, cluster_ref)
        rows, source, notes = self._read(cluster, self.clusters.client(cluster))
        rows.sort(key=lambda r: str(r.get("created_at") or ""), reverse=True)
        message = None
        if source is None:
            message = (f"neither ETCDSnapshotFile objects nor the {cluster.provider}-etcd-"
                       "snapshots ConfigMap exist: the cluster may run on SQLite or an external "
                       "datastore (no embedded etcd), or has never taken a snapshot")
        elif not rows:
            message = "no etcd snapshot has been recorded on this cluster yet"
        return {"cluster": cluster.name, "cluster_id": cluster.cluster_id,
                "provider": cluster.provider, "source": source, "snapshots": rows,
                "count": len(rows), "message": message, "notes": notes,
                "operator_requests": self.requests.etcd_requests(cluster.cluster_id, 20)}

    def request_snapshot(self, workspace_id: str, cluster_ref: str | None, actor: str,
                         body: Any) -> dict[str, Any]:
        """Record an on-demand snapshot request and say how an operator takes it."""
        wanted = parse_body(SnapshotRequest, body or {}, "etcd snapshot request")
        cluster = self._embedded(workspace_id, cluster_ref)
        client = self.clusters.client(cluster)
        _, source, _ = self._read(cluster, client)
        servers = server_nodes(client.list(SNAPSHOT_KINDS["nodes"]))
        steps = snapshot_steps(cluster.provider, wanted.name, servers)
        record = self._record(cluster, actor, "snapshot", wanted.name,
                              snapshot_id=None, steps=steps)
        warnings = [] if source else [
            "Drover found no record of etcd snapshots on this cluster; if it runs on SQLite "
            f"or an external datastore, '{cluster.provider} etcd-snapshot save' will fail"]
        return {"snapshot_id": record["request_id"], "request_id": record["request_id"],
                "status": "awaiting_operator", "snapshot_name": wanted.name,
                "started_at": record["requested_at"], **_common(cluster, record),
                "message": "Recorded. Drover does not run commands on nodes: an operator runs "
                           "the steps below on a server node; the snapshot then appears in "
                           "GET /api/etcd/snapshots.",
                "warnings": warnings, "steps": steps}

    def request_restore(self, workspace_id: str, cluster_ref: str | None, actor: str,
                        body: Any) -> dict[str, Any]:
        """Validate the snapshot, record the restore request, and give the procedure."""
        wanted = parse_body(RestoreRequest, body, "etcd restore request")
        cluster = self._embedded(workspace_id, cluster_ref)
        client = self.clusters.client(cluster)
        rows, _, _ = self._read(cluster, client)
        snapshot = _find(rows, wanted)
        if snapshot["status"] == "failed":
            reason = snapshot["error"] or "no reason recorded"
            raise Conflict(f"snapshot '{snapshot['name']}' failed ({reason}); choose a ready "
                           "snapshot", code="etcd_snapshot_failed")
        servers = server_nodes(client.list(SNAPSHOT_KINDS["nodes"]))
        steps = restore_steps(cluster.provider, snapshot, servers)
        record = self._record(cluster, actor, "restore", snapshot["name"],
                              snapshot_id=snapshot["snapshot_id"], steps=steps)
        return {"restore_id": record["request_id"], "request_id": record["request_id"],
                "status": "awaiting_operator", "snapshot_name": snapshot["name"],
                "started_at": record["requested_at"], **_common(cluster, record),
                "snapshot": snapshot, "warning": RESTORE_WARNING,
                "message": "Recorded. Nothing was changed on the cluster: the restore happens "
                           "when an operator runs the steps below, in order.",
                "steps": steps}

    def _record(self, cluster: Cluster, actor: str, kind: str, name: str, *,
                snapshot_id: str | None, steps: list[dict[str, Any]]) -> dict[str, Any]:
        record = {"request_id": new_id("restore-" if kind == "restore" else "etcdsnap-"),
                  "kind": kind, "cluster_id": cluster.cluster_id, "cluster": cluster.name,
                  "workspace_id": cluster.workspace_id, "requested_by": actor,
                  "requested_at": now_iso(), "status": "awaiting_operator",
                  "snapshot_name": name, "snapshot_id": snapshot_id, "steps": steps}
        self.requests.add_etcd_request(record)
        return record


def _common(cluster: Cluster, record: dict[str, Any]) -> dict[str, Any]:
    return {"requested_at": record["requested_at"], "requested_by": record["requested_by"],
            "cluster": cluster.name, "cluster_id": cluster.cluster_id,
            "provider": cluster.provider, "executed_by": "operator", "drover_executes": False}


def _find(rows: list[dict[str, Any]], wanted: RestoreRequest) -> dict[str, Any]:
    matches = [r for r in rows if (wanted.snapshot_id and r["snapshot_id"] == wanted.snapshot_id)
               or (wanted.snapshot_name and r["name"] == wanted.snapshot_name)]
    if not matches:
        known = ", ".join(sorted({str(r["name"]) for r in rows})[:10]) or "none"
        raise NotFound(f"no etcd snapshot '{wanted.snapshot_id or wanted.snapshot_name}' on "
                       f"this cluster; listed snapshots: {known}",
                       code="etcd_snapshot_not_found")
    # The same snapshot can be kept on a node and in S3: prefer a ready local copy.
    matches.sort(key=lambda r: (r["status"] != "ready", r["storage"] != "local"))
    return matches[0]
