"""Acceptance of safe remediation on a registered (fake) cluster: a dry run returns the diff
and changes nothing; a real request waits for approval; approving runs the state machine,
the pod is deleted through the API and verification passes; a failed verification rolls
back; approvals time out cleanly; nothing outside the allowlist reaches the cluster; and the
incident's actions and timeline show every step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fake_kube.testing import NS, POD
from tests.functional.conftest import Api, FakeCluster
from tests.waiting import wait_until

TERMINAL = {"succeeded", "rolled_back", "failed", "rejected", "timed_out"}




def action(api: Api, action_id: str) -> dict[str, Any]:
    status, body = api.call("GET", f"/actions/{action_id}")
    assert status == 200, body
    return body["record"]


def finished(api: Api, action_id: str) -> dict[str, Any]:
    return wait_until(lambda: (r := action(api, action_id))["state"] in TERMINAL and r,
                      f"action {action_id} to finish")


def waiting(api: Api, action_id: str) -> dict[str, Any]:
    """Until the workflow reached its approval wait (the token is kept with the action)."""
    from chalicelib.bootstrap import get_container

    store = get_container().action_store
    return wait_until(lambda: (r := store.get("default", action_id)) and r.task_token and r,
                      "the approval wait")


def set_policy(**fields: Any) -> None:
    from chalicelib.bootstrap import get_container

    get_container().workspace_settings.put("default", "remediation_policy", fields)


def incident_for(api: Api, pod: str = POD) -> str:
    _, body = api.post_alert({"title": f"{pod} unhealthy", "severity": "critical",
                              "namespace": NS, "pod": pod, "cluster": "demo"}, "webhook")
    return str(body["incident_id"])


def mutations(cluster: FakeCluster) -> list[tuple[str, str]]:
    return [(m, p) for m, p in cluster.server.requests
            if m != "GET" and "dryRun=All" not in p]


def restart(api: Api, incident: str | None = None, **extra: Any) -> tuple[int, Any]:
    return api.call("POST", "/actions/execute", body={
        "action": "restart_pod", "namespace": NS, "pod_name": POD, "cluster": "demo",
        "incident_id": incident, **extra})


def test_a_dry_run_returns_the_diff_and_changes_nothing(api: Api,
                                                       demo_cluster: FakeCluster) -> None:
    status, body = restart(api)
    assert status == 200, body
    assert body["status"] == "dry_run" and body["message"].startswith("Would delete pod")
    assert body["diff"] == [{"path": f"pods/{POD}", "before": "present", "after": "deleted"}]
    assert body["policy_name"] == "default" and body["approval_required"] is True
    assert mutations(demo_cluster) == []
    assert any("dryRun=All" in p for m, p in demo_cluster.server.requests if m == "DELETE")


def test_approving_runs_the_workflow_deletes_the_pod_and_verifies(
        api: Api, demo_cluster: FakeCluster, make_key: Callable[..., str]) -> None:
    incident = incident_for(api)
    status, body = restart(api, incident, dry_run=False)
    assert status == 202 and body["status"] == "pending_approval", body
    waiting(api, body["action_id"])
    assert mutations(demo_cluster) == []
    _, pending = api.call("GET", "/api/ai/approvals")
    assert body["action_id"] in [a["id"] for a in pending["approvals"]]
    approver = make_key("actions:execute", "incidents:read")
    status, _ = api.call("POST", f"/api/ai/approvals/{body['action_id']}/approve", key=approver)
    assert status == 200
    record = finished(api, body["action_id"])
    assert record["state"] == "succeeded", record
    assert record["verification"]["verified"] is True
    assert record["approved_by"].startswith("apikey:")
    assert ("DELETE", f"/api/v1/namespaces/{NS}/pods/{POD}") in mutations(demo_cluster)
    _, actions = api.call("GET", f"/incidents/{incident}/actions")
    assert [(a["action"], a["outcome"]) for a in actions["actions"]] == [
        ("restart_pod", "success")]
    _, timeline = api.call("GET", f"/incidents/{incident}/timeline")
    kinds = [e["event_type"] for e in timeline["events"]]
    for step in ("action_requested", "action_pending_approval", "action_approved",
                 "action_executed", "action_verified", "action_succeeded"):
        assert step in kinds, (step, kinds)
    assert kinds.index("action_approved") < kinds.index("action_executed")


def test_a_failing_verification_rolls_the_action_back(api: Api,
                                                      demo_cluster: FakeCluster) -> None:
    set_policy(verify_timeout_seconds=1)
    demo_cluster.server.fail_new_pods = True
    status, body = api.call("POST", "/actions/execute", body={
        "action": "set_resources", "namespace": NS, "cluster": "demo", "dry_run": False,
        "approved": True, "arguments": {"kind": "deployment", "name": "storefront",
                                        "container": "storefront", "memory_limit": "1Gi"}})
    assert status == 202, body
    record = finished(api, body["action_id"])
    assert record["state"] == "rolled_back", record
    assert record["verification"]["verified"] is False
    assert record["rollback"]["message"] == "previous resources restored"


def test_an_approval_that_never_comes_times_out_and_nothing_runs(
        api: Api, demo_cluster: FakeCluster) -> None:
    set_policy(approval_timeout_seconds=1)
    _, body = restart(api, dry_run=False)
    record = finished(api, body["action_id"])
    assert record["state"] == "timed_out"
    assert mutations(demo_cluster) == []


def test_approved_is_ignored_without_actions_execute(api: Api, demo_cluster: FakeCluster,
                                                     make_key: Callable[..., str]) -> None:
    reader = make_key("incidents:read")
    status, body = api.call("POST", "/actions/execute", key=reader, body={
        "action": "restart_pod", "namespace": NS, "pod_name": POD, "cluster": "demo",
        "dry_run": False, "approved": True})
    assert status == 403 and body["code"] == "missing_scope"
    assert mutations(demo_cluster) == []


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"action": "delete_namespace", "namespace": NS}, 400, "unknown_action"),
    ({"action": "restart_pod", "namespace": "kube-system", "pod_name": "coredns-x"}, 403,
     "policy_refused"),
    ({"action": "restart_pod", "namespace": NS, "pod_name": "Bad;Name"}, 422,
     "invalid_arguments"),
    ({"action": "scale_deployment", "namespace": NS, "deployment_name": "storefront",
      "replicas": 5000}, 422, "invalid_arguments"),
    ({"action": "restart_pod", "namespace": NS, "pod_name": "no-such-pod"}, 404, None),
])
def test_requests_outside_the_rules_never_reach_the_cluster(
        api: Api, demo_cluster: FakeCluster, body: dict, status: int, code: str | None) -> None:
    got, answer = api.call("POST", "/actions/execute",
                           body={**body, "cluster": "demo", "dry_run": False, "approved": True})
    assert got == status, answer
    if code:
        assert answer["code"] == code
    assert mutations(demo_cluster) == []


@pytest.mark.parametrize("command", [
    "kubectl delete namespace demo-shop", "kubectl exec -it x -- sh",
    "kubectl delete pod x; kubectl delete ns demo-shop", "kubectl get secret db -o yaml",
    "kubectl get pods | sh"])
def test_commands_outside_the_allowlist_are_refused_and_audited(
        api: Api, demo_cluster: FakeCluster, command: str) -> None:
    status, body = api.call("POST", f"/api/clusters/{demo_cluster.cluster_id}/actions/execute",
                            body={"command": command, "dry_run": False})
    assert status == 400 and body["code"] == "command_refused"
    assert mutations(demo_cluster) == []
    from tests.functional.test_audit_and_consumer import audit_entries

    refused = [e for e in audit_entries()
               if e["action"] == "POST /api/clusters/{id}/actions/execute"]
    assert refused[-1]["status_code"] == 400 and refused[-1]["outcome"] == "error"


def test_a_command_is_parsed_into_an_allowlisted_dry_run(api: Api,
                                                        demo_cluster: FakeCluster) -> None:
    status, body = api.call("POST", f"/api/clusters/{demo_cluster.cluster_id}/actions/execute",
                            body={"command": "kubectl rollout restart deployment/storefront "
                                             "-n demo-shop"})
    assert status == 200, body
    assert body["action"] == "rollout_restart" and body["status"] == "dry_run"
    assert body["execution_id"].startswith("act-")
    assert mutations(demo_cluster) == []


def test_a_replayed_execute_step_does_not_run_twice(api: Api,
                                                    demo_cluster: FakeCluster) -> None:
    _, body = restart(api, dry_run=False, approved=True)
    record = finished(api, body["action_id"])
    assert record["state"] == "succeeded"
    deletes = len(mutations(demo_cluster))
    from chalicelib.bootstrap import get_container

    state = {"action_id": body["action_id"], "workspace_id": "default"}
    again = get_container().remediation_steps.execute(state)
    assert again["result"]["executed_at"] == record["result"]["executed_at"]
    assert len(mutations(demo_cluster)) == deletes
    arn = get_container().workflow_starter.start(body["action_id"], state)
    assert arn == record["execution_arn"]


def test_llm_suggestions_outside_the_allowlist_never_reach_the_cluster(
        api: Api, demo_cluster: FakeCluster) -> None:
    from tests.fake_llm import FakeOpenAIServer
    from tests.functional.test_incident_diagnosis import consume, request_for

    malicious = {
        "category": "CrashLoopBackOff-missing-config", "summary": "s", "root_cause": "r",
        "confidence": 0.9, "fix_summary": "f",
        "suggested_actions": [
            {"name": "delete_namespace", "arguments": {"namespace": NS}},
            {"name": "exec_shell", "arguments": {"command": "rm -rf /"}},
            {"name": "restart_pod", "arguments": {"namespace": "kube-system",
                                                  "pod_name": "coredns-ccb96694c-n2v7w"}},
            {"name": "restart_pod", "arguments": {"namespace": NS, "pod_name": POD}}]}
    with FakeOpenAIServer(malicious) as llm:
        from chalicelib.bootstrap import get_container

        get_container().llm_settings.update("default", {
            "provider": "openai", "base_url": llm.url, "api_key": "k", "model": "m",
            "max_retries": 0})
        incident = incident_for(api)
        consume(api, request_for(incident))
    _, diagnosis = api.call("GET", f"/incidents/{incident}/diagnosis")
    assert diagnosis["provider"] == "openai"
    suggested = [(a["name"], a["arguments"].get("namespace"))
                 for a in diagnosis["suggested_actions"]]
    assert ("delete_namespace", NS) not in suggested and all(n != "exec_shell"
                                                             for n, _ in suggested)
    status, run = api.call("POST", "/api/ai/remediation/execute", body={
        "plan_id": f"plan-{diagnosis['diagnosis_id']}", "dry_run": False})
    assert status in (200, 202, 403), run  # a refused step may refuse the plan
    records = get_container().remediation.list("default", incident_id=incident)
    assert {(r.action, r.arguments.get("namespace"), r.state) for r in records} <= {
        ("restart_pod", NS, "pending_approval"), ("restart_pod", "kube-system", "refused")}
    assert mutations(demo_cluster) == []
