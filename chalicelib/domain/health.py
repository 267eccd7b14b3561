"""The cluster health score: a documented formula over a snapshot and its findings.

    score = 100 - node_penalty - pod_penalty - finding_penalty, clamped to [0, 100]

- node_penalty = 30 x (share of nodes not Ready)
- pod_penalty = 30 x (share of pods, Succeeded ones excepted, not Running and Ready)
- finding_penalty = 5 per critical finding + 2 per warning (info costs nothing), at most 40

health_status: ``healthy`` at 80 and above, ``degraded`` from 50, ``critical`` below 50.
The trend compares the score with the mean of the points of the previous 24 hours:
``improving`` when at least 3 points higher, ``declining`` when at least 3 lower,
``stable`` otherwise, ``unknown`` with no earlier point to compare with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.kube import Finding, Snapshot

NODE_WEIGHT = 30
POD_WEIGHT = 30
FINDING_CAP = 40
FINDING_COST = {"critical": 5, "warning": 2, "info": 0}
TREND_DELTA = 3
HEALTHY_AT = 80
DEGRADED_AT = 50


@dataclass(frozen=True)
class HealthScore:
    """A score with the figures it was computed from."""

    score: int
    nodes_total: int
    nodes_ready: int
    pods_total: int
    pods_ready: int
    critical: int
    warning: int
    info: int

    @property
    def status(self) -> str:
        """healthy, degraded or critical."""
        if self.score >= HEALTHY_AT:
            return "healthy"
        return "degraded" if self.score >= DEGRADED_AT else "critical"

    def breakdown(self) -> dict[str, Any]:
        """The inputs, for the API to show how the score came about."""
        return {"nodes_total": self.nodes_total, "nodes_ready": self.nodes_ready,
                "pods_total": self.pods_total, "pods_ready": self.pods_ready,
                "findings": {"critical": self.critical, "warning": self.warning,
                             "info": self.info}}


def _condition(obj: dict[str, Any], kind: str) -> str | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return str(c.get("status"))
    return None


def pod_is_ready(pod: dict[str, Any]) -> bool:
    """Running with the Ready condition True."""
    phase = (pod.get("status") or {}).get("phase")
    return phase == "Running" and _condition(pod, "Ready") == "True"


def node_is_ready(node: dict[str, Any]) -> bool:
    """The Ready condition is True."""
    return _condition(node, "Ready") == "True"


def score(snapshot: Snapshot, findings: list[Finding]) -> HealthScore:
    """Apply the formula of this module's docstring."""
    nodes = snapshot.items("nodes")
    pods = [p for p in snapshot.items("pods")
            if (p.get("status") or {}).get("phase") != "Succeeded"]
    nodes_ready = sum(1 for n in nodes if node_is_ready(n))
    pods_ready = sum(1 for p in pods if pod_is_ready(p))
    counts = {"critical": 0, "warning": 0, "info": 0}
    for f in findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    penalty = NODE_WEIGHT * (1 - nodes_ready / len(nodes)) if nodes else 0.0
    penalty += POD_WEIGHT * (1 - pods_ready / len(pods)) if pods else 0.0
    penalty += min(FINDING_CAP, sum(FINDING_COST.get(k, 0) * v for k, v in counts.items()))
    return HealthScore(score=max(0, min(100, round(100 - penalty))),
                       nodes_total=len(nodes), nodes_ready=nodes_ready,
                       pods_total=len(pods), pods_ready=pods_ready,
                       critical=counts["critical"], warning=counts["warning"],
                       info=counts["info"])


def trend(current: int, earlier: list[int]) -> str:
    """improving, declining, stable or unknown (see the module docstring)."""
    if not earlier:
        return "unknown"
    delta = current - sum(earlier) / len(earlier)
    if delta >= TREND_DELTA:
        return "improving"
    if delta <= -TREND_DELTA:
        return "declining"
    return "stable"
