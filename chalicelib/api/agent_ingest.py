"""Endpoint group ``ingest``: what cluster agents send (seed 002 Kure, seed 001 Pulse)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import BaseModel, Field

from chalicelib.api.http import Call, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.validation import parse_body
from chalicelib.services.agent_reports import KubernetesReport
from chalicelib.services.pod_failures import PodFailureReport

bp = Blueprint(__name__)
MAX_CLUSTER_NAME = 253


class DeletedPod(BaseModel):
    """Kure's ``DismissDeletedPodRequest``: a pod the agent saw deleted or recovered."""

    namespace: str = Field(min_length=1, max_length=253)
    pod_name: str = Field(min_length=1, max_length=253)


def _actor(call: Call) -> str:
    return call.principal.actor if call.principal else "agent"


def _cluster(call: Call) -> str | None:
    # Kure's agent names its cluster only at registration; a deployment tells Drover which
    # cluster a token reports for with X-Cluster-Id (or ?cluster=), as for webhooks.
    cluster = call.header("x-cluster-id") or call.query("cluster")
    if cluster is not None and len(cluster) > MAX_CLUSTER_NAME:
        raise BadRequest(f"cluster name is longer than {MAX_CLUSTER_NAME} characters",
                         code="bad_cluster")
    return cluster


@endpoint(bp, "/api/pods/failed", methods=("POST",), scope="ingest", audit_success=False,
          body=PodFailureReport)
def report_failed_pod(call: Call) -> dict[str, Any]:
    """Record a failed pod reported by the Kure agent (seed 002)."""
    return get_container().pod_failures.report(call.workspace_id, call.json(), _cluster(call),
                                               _actor(call))


@endpoint(bp, "/api/pods/dismiss-deleted", methods=("POST",), scope="ingest",
          audit_success=False, body=DeletedPod)
def dismiss_deleted_pod(call: Call) -> dict[str, Any]:
    """Resolve the active failures of a pod that was deleted or recovered (seed 002)."""
    pod = parse_body(DeletedPod, call.json(), "deleted pod notice")
    return get_container().pod_failures.dismiss_deleted(
        call.workspace_id, pod.namespace, pod.pod_name, _cluster(call), _actor(call))


@endpoint(bp, "/api/agents/kubernetes/report", methods=("POST",), scope="ingest",
          audit_success=False, body=KubernetesReport)
def kubernetes_report(call: Call) -> dict[str, Any]:
    """Turn a Pulse Kubernetes agent report into firing and resolved alerts (seed 001)."""
    return get_container().agent_reports.kubernetes(call.workspace_id, call.json(),
                                                    _actor(call))
