"""The read-only checks a workflow step may run: they read the cluster, the stored diagnosis
and the deploy log, never write. A check may provide values later steps' templates use
(``collect_diagnosis`` finds the container and proposes a memory limit)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from chalicelib.domain.cluster_ports import ClusterClient
from chalicelib.domain.diagnosis_ports import DiagnosisStore
from chalicelib.domain.errors import NotFound, ValidationFailed
from chalicelib.domain.kube import ALL_KINDS, Obj
from chalicelib.domain.quantity import parse_quantity
from chalicelib.domain.workflows import CHECK_NAMES
from chalicelib.plugins.actions._workloads import rolled_out, workload_kind
from chalicelib.services.deploys import DeployService

MIB = 2 ** 20
MIN_SUGGESTED_MIB = 128
DEPLOY_LOOKBACK_HOURS = 24


@dataclass
class CheckInput:
    """What a check reads: the run's values, the cluster (connected on first use), the
    deploy log and the stored diagnoses."""

    workspace_id: str
    values: dict[str, Any]
    connect: Callable[[], ClusterClient]
    deploys: DeployService
    diagnoses: DiagnosisStore
    _client: ClusterClient | None = None

    @property
    def client(self) -> ClusterClient:
        """The cluster, connected once."""
        if self._client is None:
            self._client = self.connect()
        return self._client

    def need(self, *names: str) -> list[str]:
        """The values, or a 422 naming those the run lacks."""
        missing = [n for n in names if self.values.get(n) in (None, "")]
        if missing:
            raise ValidationFailed(f"this check needs {', '.join(missing)} in the context",
                                   code="missing_context")
        return [str(self.values[n]) for n in names]


@dataclass
class CheckOutcome:
    """A check's verdict (``warning``: worth a look, not a failure), what it saw, and the
    values it offers later steps."""

    status: Literal["passed", "warning", "failed"]
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    provides: dict[str, Any] = field(default_factory=dict)


def collect_diagnosis(probe: CheckInput) -> CheckOutcome:
    """The pod's state and its troubled container (plus the incident's stored diagnosis
    when the run names an incident)."""
    details: dict[str, Any] = {}
    provides: dict[str, Any] = {}
    incident_id = probe.values.get("incident_id")
    if incident_id:
        diagnosis = probe.diagnoses.latest(probe.workspace_id, str(incident_id))
        if diagnosis is not None:
            details["diagnosis"] = {"diagnosis_id": diagnosis.diagnosis_id,
                                    "category": diagnosis.category,
                                    "root_cause": diagnosis.root_cause}
    if not probe.values.get("pod_name") and details:
        return CheckOutcome("passed", f"diagnosis: {details['diagnosis']['category']}", details)
    namespace, pod_name = probe.need("namespace", "pod_name")
    pod = probe.client.get(ALL_KINDS["pods"], namespace, pod_name)
    container = _troubled(pod)
    summary = _container_summary(pod, container)
    details["pod"] = summary
    if container:
        provides["container"] = container["name"]
        if summary.get("memory_limit"):
            provides["memory_limit"] = _doubled(summary["memory_limit"])
    return CheckOutcome("passed", _pod_line(namespace, pod_name, pod, summary), details,
                        provides)


def _troubled(pod: Obj) -> Obj | None:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    oom = [c for c in statuses if _last(c).get("reason") == "OOMKilled"]
    ranked = oom or sorted(statuses, key=lambda c: -int(c.get("restartCount") or 0))
    return ranked[0] if ranked else None


def _last(status: Obj) -> Obj:
    return (status.get("lastState") or {}).get("terminated") or \
        (status.get("state") or {}).get("terminated") or {}


def _container_summary(pod: Obj, status: Obj | None) -> dict[str, Any]:
    if status is None:
        return {"phase": (pod.get("status") or {}).get("phase")}
    spec = next((c for c in (pod.get("spec") or {}).get("containers") or []
                 if c.get("name") == status.get("name")), {})
    limits = (spec.get("resources") or {}).get("limits") or {}
    return {"phase": (pod.get("status") or {}).get("phase"), "container": status.get("name"),
            "ready": bool(status.get("ready")), "restarts": int(status.get("restartCount") or 0),
            "waiting_reason": ((status.get("state") or {}).get("waiting") or {}).get("reason"),
            "last_termination_reason": _last(status).get("reason"),
            "last_exit_code": _last(status).get("exitCode"),
            "memory_limit": limits.get("memory")}


def _pod_line(namespace: str, name: str, pod: Obj, summary: dict[str, Any]) -> str:
    if not summary.get("container"):
        return f"pod {namespace}/{name} is {summary.get('phase')}, no container status yet"
    line = (f"pod {namespace}/{name}: {summary['waiting_reason'] or summary['phase']}, "
            f"{summary['restarts']} restarts; container {summary['container']}")
    if summary["last_termination_reason"]:
        line += (f" last terminated {summary['last_termination_reason']} "
                 f"(exit {summary['last_exit_code']})")
    return line + (f"; memory limit {summary['memory_limit']}" if summary["memory_limit"]
                   else "; no memory limit")


def _doubled(quantity: str) -> str | None:
    value = parse_quantity(quantity)
    return f"{max(MIN_SUGGESTED_MIB, int(value * 2 / MIB))}Mi" if value else None


def check_recent_deploys(probe: CheckInput) -> CheckOutcome:
    """Deploys of the service in the last day: a recent one may be the cause."""
    service = str(probe.values.get("service") or probe.values.get("deployment_name") or "")
    if not service:
        return CheckOutcome("warning", "no service or deployment_name in the context: deploys "
                                       "not checked")
    found = probe.deploys.recent(probe.workspace_id, limit=5, hours=DEPLOY_LOOKBACK_HOURS,
                                 service=service)
    deploys = found["deploys"]
    if not deploys:
        return CheckOutcome("passed", f"no deploy of {service} in the last "
                                      f"{DEPLOY_LOOKBACK_HOURS} hours", {"deploys": []})
    latest = deploys[0]
    return CheckOutcome(
        "warning", f"{len(deploys)} deploy(s) of {service} in the last {DEPLOY_LOOKBACK_HOURS} "
                   f"hours; the latest at {latest.get('timestamp')} ({latest.get('image') or '?'}"
                   f" by {latest.get('actor') or '?'}): if the trouble began after it, consider "
                   "rollback_deployment", {"deploys": deploys})


def verify_rollout(probe: CheckInput) -> CheckOutcome:
    """Whether the workload's latest spec is rolled out and available."""
    namespace, name = probe.need("namespace", "deployment_name")
    kind = str(probe.values.get("workload_kind") or "deployment").lower()
    if kind not in ("deployment", "statefulset", "daemonset"):
        raise ValidationFailed(f"workload_kind '{kind}' has no rollout", code="invalid_context")
    try:
        workload = probe.client.get(workload_kind({"kind": kind}), namespace, name)
    except NotFound:
        raise NotFound(f"{kind} {namespace}/{name} not found on the cluster",
                       code="workload_not_found") from None
    done, why = rolled_out(workload)
    return CheckOutcome("passed" if done else "warning", f"{kind} {namespace}/{name}: {why}",
                        {"rolled_out": done})


CHECKS: dict[str, Callable[[CheckInput], CheckOutcome]] = {
    "collect_diagnosis": collect_diagnosis,
    "check_recent_deploys": check_recent_deploys,
    "verify_rollout": verify_rollout,
}
assert set(CHECKS) == CHECK_NAMES, "every check a step may name has exactly one function"
