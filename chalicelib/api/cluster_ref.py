"""Which cluster a request means when its path does not name one."""

from __future__ import annotations

from chalicelib.api.http import Call
from chalicelib.bootstrap import get_container
from chalicelib.domain.clusters import Cluster


def requested_cluster(call: Call) -> str | None:
    """``?cluster=`` / ``?cluster_id=`` (name or id), else ``X-Cluster-Id``, else None."""
    return call.query("cluster") or call.query("cluster_id") or call.header("x-cluster-id")


def cluster_for(call: Call) -> Cluster:
    """The requested cluster, or the workspace's default (404 saying how to choose one)."""
    return get_container().clusters.resolve(call.workspace_id, requested_cluster(call))
