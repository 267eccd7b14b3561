"""Use case of seed 001 (Pulse) ``POST /api/agents/kubernetes/report``: failures become alerts.

Pulse's Kubernetes agent (``pkg/agents/kubernetes`` ``Report``) sends a snapshot of its
cluster every interval: nodes and the pods it thinks are in trouble, each container with one
current ``state``/``reason``. A failing pod or a NotReady node fires an alert; an alert of the
previous report that is absent from this one is resolved. The previous report's firing set is
all that is kept (one settings item per cluster); the rest of the snapshot is not stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.clock import now_iso
from chalicelib.domain.models import Alert, IngestOutcome
from chalicelib.domain.ports import IncidentRepository, WorkspaceSettings
from chalicelib.domain.validation import parse_body
from chalicelib.plugins.normalizers.base import clip, stable_fingerprint
from chalicelib.services.ingest import IngestService
from chalicelib.services.pod_failures import REASON_SEVERITY, queue_diagnoses

INTEGRATION = "pulse-k8s-agent"
SETTINGS_PREFIX = "k8s_agent_report:"
MAX_FIRING = 500  # alerts one report may record; the rest are counted, not recorded
MAX_TITLE_KEPT = 120  # the title a resolved alert carries, from the remembered firing set
FAILING_WAITING = frozenset({
    "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
    "CreateContainerError", "InvalidImageName", "RunContainerError",
})
FAILING_TERMINATED = frozenset({"OOMKilled"})
NAME = 253
TEXT = 1024


class _Lenient(BaseModel):
    # Agents newer than this code send fields it does not know: accept and ignore them.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ClusterInfo(_Lenient):
    """The reporting cluster."""

    id: str = Field(min_length=1, max_length=NAME)
    name: str | None = Field(default=None, max_length=NAME)


class Container(_Lenient):
    """One container of a pod: its current state and why."""

    name: str = Field(default="", max_length=NAME)
    image: str | None = Field(default=None, max_length=TEXT)
    ready: bool = False
    restart_count: int = Field(default=0, alias="restartCount")
    state: str | None = Field(default=None, max_length=32)
    reason: str | None = Field(default=None, max_length=256)
    message: str | None = None


class Pod(_Lenient):
    """A pod the agent reports."""

    name: str = Field(min_length=1, max_length=NAME)
    namespace: str = Field(min_length=1, max_length=NAME)
    node_name: str | None = Field(default=None, alias="nodeName", max_length=NAME)
    phase: str | None = Field(default=None, max_length=32)
    reason: str | None = Field(default=None, max_length=256)
    message: str | None = None
    restarts: int = 0
    owner_kind: str | None = Field(default=None, alias="ownerKind", max_length=64)
    owner_name: str | None = Field(default=None, alias="ownerName", max_length=NAME)
    containers: list[Container] = Field(default_factory=list, max_length=100)


class Node(_Lenient):
    """A node and whether it is Ready."""

    name: str = Field(min_length=1, max_length=NAME)
    ready: bool = True


class KubernetesReport(_Lenient):
    """The report; ``cluster`` is required, everything else defaults to empty."""

    cluster: ClusterInfo
    nodes: list[Node] = Field(default_factory=list, max_length=10_000)
    pods: list[Pod] = Field(default_factory=list, max_length=20_000)
    timestamp: str | None = Field(default=None, max_length=64)


def pod_failure(pod: Pod) -> tuple[str, str | None] | None:
    """The reason a pod is failing and its message, or None if it is not failing."""
    for container in pod.containers:
        state, reason = (container.state or "").lower(), container.reason or ""
        if (state == "waiting" and reason in FAILING_WAITING) or \
                (state == "terminated" and reason in FAILING_TERMINATED):
            return reason, container.message
    if pod.phase == "Failed":
        return pod.reason or "Failed", pod.message
    return None


def pod_alert(cluster: str, pod: Pod, reason: str, message: str | None) -> Alert:
    """A failing pod's alert; one per pod, so a pod flapping between reasons stays one."""
    kind = (pod.owner_kind or "").lower() or None
    return Alert(
        integration=INTEGRATION, source="pulse", cluster=cluster,
        title=clip(f"{reason}: {pod.namespace}/{pod.name}"),
        description=clip(message, 4 * TEXT), severity=REASON_SEVERITY.get(reason, "warning"),
        severity_fallback=True,
        fingerprint=stable_fingerprint({"cluster": cluster, "namespace": pod.namespace,
                                        "pod": pod.name}),
        namespace=pod.namespace, pod=pod.name, workload=pod.owner_name, workload_kind=kind,
        labels={"failure_reason": reason, "namespace": pod.namespace, "pod": pod.name},
        details={"kind": "pod_failure", "failure_reason": reason, "phase": pod.phase,
                 "node_name": pod.node_name, "restarts": pod.restarts,
                 "failure_message": clip(message, 4 * TEXT) or None,
                 "container_statuses": [_container(c) for c in pod.containers[:20]]},
    )


def _container(container: Container) -> dict[str, Any]:
    return {"name": container.name, "image": container.image or "", "ready": container.ready,
            "restart_count": container.restart_count, "state": container.state or "",
            "reason": container.reason, "message": clip(container.message, TEXT) or None}


def node_alert(cluster: str, node: Node) -> Alert:
    """A NotReady node's alert."""
    return Alert(
        integration=INTEGRATION, source="pulse", cluster=cluster,
        title=clip(f"NotReady: node {node.name}"), severity="high", severity_fallback=True,
        fingerprint=stable_fingerprint({"cluster": cluster, "node": node.name,
                                        "condition": "NotReady"}),
        labels={"failure_reason": "NotReady", "node": node.name},
        details={"kind": "node_not_ready", "node_name": node.name},
    )


def firing_alerts(report: KubernetesReport, cluster: str) -> list[Alert]:
    """Every alert the report raises, nodes first."""
    alerts = [node_alert(cluster, n) for n in report.nodes if not n.ready]
    for pod in report.pods:
        failure = pod_failure(pod)
        if failure:
            alerts.append(pod_alert(cluster, pod, *failure))
    return alerts


@dataclass
class AgentReportService:
    """Turns Kubernetes agent reports into firing and resolved alerts."""

    incidents: IncidentRepository
    settings: WorkspaceSettings
    ingest: IngestService

    def kubernetes(self, workspace_id: str, body: Any, actor: str) -> dict[str, Any]:
        """Record the report's alerts and resolve the previous report's vanished ones."""
        report = parse_body(KubernetesReport, body, "Kubernetes agent report")
        cluster = report.cluster.name or report.cluster.id
        firing = firing_alerts(report, cluster)
        recorded = firing[:MAX_FIRING]
        name = SETTINGS_PREFIX + cluster
        previous: dict[str, str] = (self.settings.get(workspace_id, name) or {}).get(
            "firing", {})
        still = {a.fingerprint for a in firing}
        policy = self.ingest.policy(workspace_id)
        outcomes = [self.incidents.record_alert(workspace_id, a, actor, policy)
                    for a in recorded]
        resolved = [self.incidents.record_alert(workspace_id, _resolved(cluster, fp, title),
                                                actor, policy)
                    for fp, title in previous.items() if fp not in still]
        queue_diagnoses(self.ingest, workspace_id, outcomes)
        # Alerts over the cap were recorded by an earlier report and are still firing: keep
        # remembering them, within a bound that keeps the item far below 400 KB.
        kept = {a.fingerprint: a.title[:MAX_TITLE_KEPT] for a in recorded}
        for fp in (fp for fp in previous if fp in still and fp not in kept):
            if len(kept) >= 2 * MAX_FIRING:
                break
            kept[fp] = previous[fp]
        self.settings.put(workspace_id, name, {"firing": kept, "reported_at": now_iso()})
        return {"ok": True, "cluster": cluster, "alerts_firing": len(firing),
                "alerts_recorded": len(recorded),
                "alerts_resolved": sum(o.action == "resolved" for o in resolved),
                "incidents": _dump(outcomes + resolved)}


def _resolved(cluster: str, fingerprint: str, title: str) -> Alert:
    return Alert(integration=INTEGRATION, source="pulse", cluster=cluster, title=title,
                 status="resolved", fingerprint=fingerprint)


def _dump(outcomes: list[IngestOutcome]) -> list[dict[str, Any]]:
    return [o.model_dump(exclude={"needs_diagnosis"}) for o in outcomes]
