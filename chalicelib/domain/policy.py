"""The remediation policy: which actions may run where, when a person must approve, how
often, and what may run on its own. Pure: a decision is a function of the policy, the
request and the recent history it is given.

Every decision names the policy and the reason, as seed 004 shows them
(``policy_name``, ``policy_reason``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.action_catalog import ACTIONS, ActionSpec

RISK_ORDER = {"low": 0, "medium": 1, "high": 2}
BLAST_ORDER = {"none": 0, "single_pod": 1, "workload": 2, "node": 3, "namespace": 4,
               "cluster": 5}


class RemediationPolicy(BaseModel):
    """A workspace's remediation policy (defaults: safe)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    allowed_actions: list[str] = Field(default_factory=lambda: sorted(ACTIONS))
    # Empty: every namespace not denied. kube-system and friends are protected by default.
    allowed_namespaces: list[str] = Field(default_factory=list)
    denied_namespaces: list[str] = Field(default_factory=lambda: [
        "kube-system", "kube-public", "kube-node-lease"])
    # Actions of these risks need a person's approval (every mutation, by default; autonomy
    # may still run its low-risk actions on its own when it is enabled).
    approval_required_risks: list[str] = Field(default_factory=lambda: [
        "low", "medium", "high"])
    # At most this many executions of one action on one target per hour.
    max_per_target_per_hour: int = Field(default=3, ge=1, le=100)
    # Nothing above this blast radius runs without approval, whatever its risk.
    max_blast_radius_without_approval: str = "single_pod"
    # Bounds the actions themselves enforce.
    min_replicas: int = Field(default=0, ge=0)
    max_replicas: int = Field(default=20, ge=1, le=1000)
    max_memory_gib: float = Field(default=16.0, gt=0, le=1024)
    approval_timeout_seconds: int = Field(default=3600, ge=1, le=7 * 86400)
    # How long verification waits for the cluster to show the action worked (the verify
    # task's Lambda runs up to 300 s: .chalice/config.json).
    verify_timeout_seconds: int = Field(default=240, ge=0, le=280)
    # Autonomy (seed 004 /autonomy): only low-risk actions listed here may run on their own.
    autonomy_enabled: bool = False
    autonomous_actions: list[str] = Field(default_factory=lambda: ["restart_pod"])
    default_dry_run: bool = True

    def limits(self) -> dict[str, Any]:
        """What the action plugins bound themselves by."""
        return {"min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                "max_memory_gib": self.max_memory_gib}


@dataclass(frozen=True)
class Decision:
    """What the policy says about one request."""

    allowed: bool
    approval_required: bool
    auto_executable: bool
    policy_name: str
    policy_reason: str

    def as_dict(self) -> dict[str, Any]:
        """The decision as the API shows it."""
        return {"allowed": self.allowed, "approval_required": self.approval_required,
                "auto_executable": self.auto_executable, "policy_name": self.policy_name,
                "policy_reason": self.policy_reason}


def _namespace_of(arguments: dict[str, Any]) -> str | None:
    return arguments.get("namespace") or None


def decide(policy: RemediationPolicy, action: str, arguments: dict[str, Any], *,
           recent_executions: int = 0, autonomous: bool = False) -> Decision:
    """The decision for one request (``autonomous``: no person asked for it)."""
    spec = ACTIONS.get(action)

    def refuse(reason: str) -> Decision:
        return Decision(False, True, False, policy.name, reason)

    refusal = _refusal(policy, action, arguments, recent_executions)
    if refusal or spec is None:
        return refuse(refusal or f"action '{action}' is not allowed")
    approval, why = _approval(policy, spec)
    auto = (spec.mutates and policy.autonomy_enabled and action in policy.autonomous_actions
            and spec.risk == "low" and BLAST_ORDER[spec.blast_radius] <= BLAST_ORDER.get(
                policy.max_blast_radius_without_approval, 1))
    if autonomous and spec.mutates:
        if not auto:
            return refuse(f"autonomy may run only low-risk actions listed in policy "
                          f"'{policy.name}' ({', '.join(policy.autonomous_actions) or 'none'})"
                          + ("" if policy.autonomy_enabled else "; autonomy is disabled"))
        return Decision(True, False, True, policy.name,
                        "low-risk action allowed to run autonomously")
    return Decision(True, approval, auto, policy.name, why)


def _refusal(policy: RemediationPolicy, action: str, arguments: dict[str, Any],
             recent: int) -> str | None:
    """Why the policy refuses the request outright, or None."""
    spec = ACTIONS.get(action)
    if spec is None or action not in policy.allowed_actions:
        return f"action '{action}' is not allowed by policy '{policy.name}'"
    namespace = _namespace_of(arguments)
    if namespace and namespace in policy.denied_namespaces:
        return f"namespace '{namespace}' is protected by policy '{policy.name}'"
    if namespace and policy.allowed_namespaces and namespace not in policy.allowed_namespaces:
        return (f"namespace '{namespace}' is not in the allowed namespaces of policy "
                f"'{policy.name}'")
    if spec.mutates and recent >= policy.max_per_target_per_hour:
        return (f"budget exhausted: {recent} {action} on this target in the last hour "
                f"(policy allows {policy.max_per_target_per_hour})")
    return None


def _approval(policy: RemediationPolicy, spec: ActionSpec) -> tuple[bool, str]:
    if not spec.mutates:
        return False, "a suggestion changes nothing: no approval needed"
    if spec.risk in policy.approval_required_risks:
        return True, f"{spec.risk}-risk action: approval required"
    limit = BLAST_ORDER.get(policy.max_blast_radius_without_approval, 1)
    if BLAST_ORDER[spec.blast_radius] > limit:
        return True, f"blast radius {spec.blast_radius}: approval required"
    return False, "Action is within guardrails"


def target_key(action: str, arguments: dict[str, Any]) -> str:
    """What a rate budget counts against: the workload or node an action touches."""
    if "node_name" in arguments:
        return f"node/{arguments['node_name']}"
    name = arguments.get("name") or arguments.get("pod_name") or ""
    if action == "restart_pod":
        # Pods of one workload share its name up to the ReplicaSet hash: budget the workload.
        name = name.rsplit("-", 2)[0] if name.count("-") >= 2 else name  # noqa: PLR2004
    return f"{arguments.get('namespace', '')}/{name}"
