"""Endpoint group ``clusters``: seed 000's fleet operations (Pastures Engine).

- ``POST /api/clusters/{id}/upgrade-risk``: Kubernetes upgrade policy against the cluster
- ``GET /api/gpu/nodes``: GPU nodes of every cluster, from stored snapshots
- ``GET /api/monitoring/{status,metrics,alerts}``: live API server and metrics-server views
- ``GET /api/etcd/snapshots``, ``POST /api/etcd/{snapshot,restore}``: k3s/RKE2 etcd snapshots;
  the POSTs record a request and return the procedure an operator runs (202)
- ``POST /api/support-bundle`` and (an addition to the seed) ``GET /api/support-bundle/{id}``

Routes without a cluster in the path take ``?cluster=`` / ``X-Cluster-Id`` or the default.
"""

from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint

from chalicelib.api.cluster_ref import cluster_for, requested_cluster
from chalicelib.api.http import Call, Reply, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.errors import BadRequest
from chalicelib.services.etcd import EtcdService, RestoreRequest, SnapshotRequest
from chalicelib.services.gpu_fleet import GpuFleetService
from chalicelib.services.monitoring import MonitoringService
from chalicelib.services.support_bundle import SupportBundleService
from chalicelib.services.upgrade_risk import UpgradeRequest, UpgradeRiskService

bp = Blueprint(__name__)
READ, WRITE = "clusters:read", "clusters:write"
NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _actor(call: Call) -> str:
    return call.principal.actor if call.principal else "anonymous"



def _monitoring() -> MonitoringService:
    c = get_container()
    return MonitoringService(c.clusters, c.snapshots)


def _etcd() -> EtcdService:
    c = get_container()
    return EtcdService(c.clusters, c.fleet_records)


def _bundles() -> SupportBundleService:
    c = get_container()
    return SupportBundleService(c.clusters, c.snapshots, c.fleet_records)


@endpoint(bp, "/api/clusters/{id}/upgrade-risk", methods=("POST",), scope=READ, body=UpgradeRequest)
def upgrade_risk(call: Call, id: str) -> dict[str, Any]:
    """Risk of upgrading a component of a cluster (by id or name) to a target version."""
    c = get_container()
    return UpgradeRiskService(c.clusters, c.snapshots).assess(call.workspace_id, id,
                                                              call.json())


@endpoint(bp, "/api/gpu/nodes", scope=READ)
def gpu_nodes(call: Call) -> list[dict[str, Any]]:
    """One row per GPU node across the workspace's clusters (``?cluster=`` keeps one)."""
    c = get_container()
    return GpuFleetService(c.clusters, c.snapshots).nodes(call.workspace_id,
                                                          requested_cluster(call))


@endpoint(bp, "/api/monitoring/status", scope=READ)
def monitoring_status(call: Call) -> dict[str, Any]:
    """Whether each cluster's API server and metrics-server answer, and its last snapshot."""
    return _monitoring().status(call.workspace_id, requested_cluster(call))


@endpoint(bp, "/api/monitoring/metrics", scope=READ)
def monitoring_metrics(call: Call) -> dict[str, Any]:
    """Node and pod usage from metrics-server (``available: false`` with the reason
    when it is not installed)."""
    limit = call.int_query("limit", 100, 1, 1000)
    namespace = call.query("namespace")
    if namespace is not None and not NAMESPACE.match(namespace):
        raise BadRequest("'namespace' must be a Kubernetes namespace name",
                         code="bad_parameter")
    return _monitoring().metrics(cluster_for(call), namespace, limit)


@endpoint(bp, "/api/monitoring/alerts", scope=READ)
def monitoring_alerts(call: Call) -> dict[str, Any]:
    """Firing node alerts of the workspace's clusters (``?cluster=`` keeps one)."""
    return _monitoring().alerts(call.workspace_id, requested_cluster(call))


@endpoint(bp, "/api/etcd/snapshots", scope=READ)
def etcd_snapshots(call: Call) -> dict[str, Any]:
    """The etcd snapshots a k3s or RKE2 cluster has recorded, newest first."""
    return _etcd().list(call.workspace_id, requested_cluster(call))


@endpoint(bp, "/api/etcd/snapshot", methods=("POST",), scope=WRITE,
          body=SnapshotRequest, body_required=False, status=202)
def etcd_snapshot(call: Call) -> Reply:
    """Record an on-demand snapshot request; 202 with the steps an operator runs."""
    return Reply(202, _etcd().request_snapshot(call.workspace_id, requested_cluster(call),
                                               _actor(call), call.optional_object()))


@endpoint(bp, "/api/etcd/restore", methods=("POST",), scope=WRITE, body=RestoreRequest, status=202)
def etcd_restore(call: Call) -> Reply:
    """Record a restore request for a listed snapshot; 202 with the operator's procedure."""
    return Reply(202, _etcd().request_restore(call.workspace_id, requested_cluster(call),
                                              _actor(call), call.json()))


@endpoint(bp, "/api/support-bundle", methods=("POST",), scope=WRITE)
def support_bundle(call: Call) -> dict[str, Any]:
    """Build a support bundle of a cluster now; it is ready when this answers."""
    return _bundles().create(call.workspace_id, requested_cluster(call), _actor(call))


@endpoint(bp, "/api/support-bundle/{bundle_id}", scope=READ)
def get_support_bundle(call: Call, bundle_id: str) -> dict[str, Any]:
    """A stored support bundle (kept 7 days); an addition to seed 000."""
    return _bundles().get(call.workspace_id, bundle_id)
