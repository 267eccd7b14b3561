"""The remediation policy, as a table: what is allowed where, what needs approval, budgets,
and what autonomy may run. Every decision names the policy and its reason."""

from __future__ import annotations

import pytest

from chalicelib.domain.policy import RemediationPolicy, decide, target_key

DEFAULT = RemediationPolicy()
POD = {"namespace": "shop", "pod_name": "web-5d9c7-x2k4m"}
DEPLOY = {"namespace": "shop", "name": "web"}


@pytest.mark.parametrize(("policy", "action", "args", "recent", "auto", "expected"), [
    # allowed, approval, auto-executable, reason fragment
    (DEFAULT, "restart_pod", POD, 0, False, (True, True, False, "low-risk action: approval")),
    (RemediationPolicy(approval_required_risks=["medium", "high"]), "restart_pod", POD, 0,
     False, (True, False, False, "within guardrails")),
    (DEFAULT, "rollout_restart", {**DEPLOY, "kind": "deployment"}, 0, False,
     (True, True, False, "medium-risk")),
    (DEFAULT, "rollback_deployment", DEPLOY, 0, False, (True, True, False, "high-risk")),
    (DEFAULT, "drain_node", {"node_name": "n1"}, 0, False, (True, True, False, "high-risk")),
    (RemediationPolicy(approval_required_risks=["medium", "high"]), "uncordon_node",
     {"node_name": "n1"}, 0, False, (True, True, False, "blast radius node")),
    (RemediationPolicy(approval_required_risks=["high"]), "delete_failed_job", DEPLOY, 0,
     False, (True, True, False, "blast radius workload")),
    (DEFAULT, "suggest_config_fix", {"suggestion": "x"}, 0, False,
     (True, False, False, "changes nothing")),
    (DEFAULT, "restart_pod", {**POD, "namespace": "kube-system"}, 0, False,
     (False, True, False, "protected")),
    (RemediationPolicy(allowed_namespaces=["prod"]), "restart_pod", POD, 0, False,
     (False, True, False, "not in the allowed namespaces")),
    (RemediationPolicy(allowed_actions=["suggest_config_fix"]), "restart_pod", POD, 0, False,
     (False, True, False, "not allowed by policy")),
    (DEFAULT, "delete_namespace", {}, 0, False, (False, True, False, "not allowed")),
    (DEFAULT, "restart_pod", POD, 3, False, (False, True, False, "budget exhausted")),
    (RemediationPolicy(max_per_target_per_hour=10), "restart_pod", POD, 3, False,
     (True, True, False, "approval required")),
    (DEFAULT, "restart_pod", POD, 0, True, (False, True, False, "autonomy is disabled")),
    (RemediationPolicy(autonomy_enabled=True), "restart_pod", POD, 0, True,
     (True, False, True, "run autonomously")),
    (RemediationPolicy(autonomy_enabled=True), "restart_pod", POD, 0, False,
     (True, True, True, "approval required")),
    (RemediationPolicy(autonomy_enabled=True), "rollout_restart",
     {**DEPLOY, "kind": "deployment"}, 0, True, (False, True, False, "low-risk")),
])
def test_policy_table(policy: RemediationPolicy, action: str, args: dict, recent: int,
                      auto: bool, expected: tuple) -> None:
    decision = decide(policy, action, args, recent_executions=recent, autonomous=auto)
    allowed, approval, auto_exec, reason = expected
    assert (decision.allowed, decision.approval_required, decision.auto_executable) == \
        (allowed, approval, auto_exec), decision
    assert reason in decision.policy_reason
    assert decision.policy_name == policy.name


def test_budgets_count_the_workload_not_the_pod() -> None:
    assert target_key("restart_pod", {"namespace": "shop", "pod_name": "web-5d9c7-x2k4m"}) == \
        target_key("restart_pod", {"namespace": "shop", "pod_name": "web-5d9c7-q8w2e"}) == \
        "shop/web"
    assert target_key("cordon_node", {"node_name": "n1"}) == "node/n1"
