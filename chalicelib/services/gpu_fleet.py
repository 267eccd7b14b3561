"""GPU nodes across a workspace's clusters (seed 000 ``GET /api/gpu/nodes``), read from the
stored snapshots: what the device plugins advertise (capacity, allocatable), what the GPU
feature discovery labels say (model, memory per GPU), and what pods request.

Utilization and used memory are never estimated: they need per-GPU telemetry (NVIDIA's DCGM
exporter, AMD's device metrics exporter) that Drover does not read, so they stay null and
the row says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.clusters import Cluster
from chalicelib.domain.health import node_is_ready
from chalicelib.domain.kube import Obj, Snapshot, meta
from chalicelib.domain.quantity import parse_quantity
from chalicelib.services.cluster_snapshots import SnapshotService
from chalicelib.services.clusters import ClusterService

NVIDIA, AMD = "nvidia.com/gpu", "amd.com/gpu"
TERMINATED = ("Succeeded", "Failed")
MIB_PER_GIB = 1024
TELEMETRY_NOTE = ("GPU utilization and used GPU memory need per-GPU telemetry (NVIDIA DCGM "
                  "exporter or AMD device metrics exporter metrics), which Drover does not "
                  "read; they are null rather than estimated")
_AMD_VRAM = re.compile(r"^(\d+(?:\.\d+)?)\s*([GM])i?B?$", re.IGNORECASE)


def _count(resources: dict[str, Any] | None, name: str) -> int:
    value = parse_quantity((resources or {}).get(name))
    return int(value) if value else 0


def gpu_resource(node: Obj) -> str | None:
    """The extended resource a node's GPUs are advertised as, or None for a CPU node."""
    status = node.get("status") or {}
    labels = meta(node).get("labels") or {}
    for resource in (NVIDIA, AMD):
        if _count(status.get("capacity"), resource) or _count(status.get("allocatable"),
                                                               resource):
            return resource
    if labels.get("nvidia.com/gpu.product") or labels.get("nvidia.com/gpu.present") == "true":
        return NVIDIA
    if labels.get("amd.com/gpu.product-name") or labels.get("amd.com/gpu.device-id"):
        return AMD
    return None


def gpu_model(labels: dict[str, str], resource: str) -> str | None:
    """The product name the discovery labels give, as given (dashes and underscores kept)."""
    if resource == NVIDIA:
        return labels.get("nvidia.com/gpu.product")
    name = labels.get("amd.com/gpu.product-name") or labels.get("beta.amd.com/gpu.product-name")
    if name:
        return name
    device = labels.get("amd.com/gpu.device-id")
    return f"AMD device {device}" if device else None


def memory_total_gb(labels: dict[str, str], resource: str, count: int) -> float | None:
    """Total GPU memory of the node in GiB from the per-GPU discovery label, or None."""
    if not count:
        return None
    if resource == NVIDIA:
        mib = parse_quantity(labels.get("nvidia.com/gpu.memory"))  # MiB per GPU
        return round(mib * count / MIB_PER_GIB, 1) if mib else None
    match = _AMD_VRAM.match(labels.get("amd.com/gpu.vram") or "")  # e.g. "192G" per GPU
    if not match:
        return None
    per_gpu = float(match.group(1)) / (MIB_PER_GIB if match.group(2).upper() == "M" else 1)
    return round(per_gpu * count, 1)


def pod_gpu_request(pod: Obj, resource: str) -> int:
    """GPUs a pod holds: the larger of its containers' sum and its largest init container
    (extended resources are requested through limits when requests are omitted)."""
    spec = pod.get("spec") or {}

    def one(container: Obj) -> int:
        resources = container.get("resources") or {}
        return _count(resources.get("requests"), resource) or \
            _count(resources.get("limits"), resource)

    main = sum(one(c) for c in spec.get("containers") or [])
    init = max((one(c) for c in spec.get("initContainers") or []), default=0)
    return max(main, init)


def requested_by_node(snapshot: Snapshot, resource: str) -> dict[str, int]:
    """GPUs requested per node by its non-terminated pods."""
    totals: dict[str, int] = {}
    for pod in snapshot.items("pods"):
        node = (pod.get("spec") or {}).get("nodeName")
        if node and (pod.get("status") or {}).get("phase") not in TERMINATED:
            totals[node] = totals.get(node, 0) + pod_gpu_request(pod, resource)
    return totals


def gpu_rows(cluster: Cluster, snapshot: Snapshot) -> list[dict[str, Any]]:
    """One row per GPU node of one cluster's snapshot."""
    rows: list[dict[str, Any]] = []
    requested: dict[str, dict[str, int]] = {}
    for node in snapshot.items("nodes"):
        resource = gpu_resource(node)
        if resource is None:
            continue
        if resource not in requested:
            requested[resource] = requested_by_node(snapshot, resource)
        name = str(meta(node).get("name"))
        labels = meta(node).get("labels") or {}
        status = node.get("status") or {}
        # A node whose device plugin is not running yet still carries the discovery count.
        count = _count(status.get("capacity"), resource) or \
            int(parse_quantity(labels.get(f"{resource}.count")) or 0)
        used = requested[resource].get(name, 0)
        allocatable = _count(status.get("allocatable"), resource)
        rows.append({
            "node_name": name, "cluster": cluster.name, "cluster_id": cluster.cluster_id,
            "gpu_vendor": "nvidia" if resource == NVIDIA else "amd",
            "gpu_model": gpu_model(labels, resource), "gpu_count": count,
            "gpu_allocatable": allocatable, "gpus_requested": used,
            "gpus_free": max(allocatable - used, 0), "utilization": None,
            "utilization_source": TELEMETRY_NOTE,
            "memory_total_gb": memory_total_gb(labels, resource, count),
            "memory_used_gb": None, "memory_source": TELEMETRY_NOTE,
            "ready": node_is_ready(node), "snapshot_taken_at": snapshot.taken_at})
    return rows


@dataclass
class GpuFleetService:
    """GPU nodes of the workspace's clusters, from their latest snapshots."""

    clusters: ClusterService
    snapshots: SnapshotService

    def nodes(self, workspace_id: str, cluster_ref: str | None) -> list[dict[str, Any]]:
        """Every GPU node of every cluster (or of one), by cluster then node name.

        Clusters never snapshotted have no rows: there is nothing stored to read."""
        chosen = [self.clusters.get(workspace_id, cluster_ref)] if cluster_ref \
            else self.clusters.list(workspace_id)
        rows: list[dict[str, Any]] = []
        for cluster in chosen:
            snapshot = self.snapshots.latest(cluster)
            if snapshot is not None:
                rows += gpu_rows(cluster, snapshot)
        rows.sort(key=lambda r: (r["cluster"], r["node_name"]))
        return rows
