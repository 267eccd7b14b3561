"""Seed 004's workflows, runbooks and autonomy against a registered fake cluster: every step
that could change something is an ordinary action request (dry run by default, approval as
the policy says), so a dry run changes nothing and a real run waits for approval."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_kube import FakeKubeServer
from tests.functional.conftest import Api, register_cluster
from tests.functional.test_incident_diagnosis import alertmanager, consume, request_for
from tests.waiting import wait_until

CASES = Path(__file__).resolve().parents[1] / "diagnosis_cases"
OOM = Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "k8s" / \
    "hg-oomkilled-analytics-exporter.json"
CRASHLOOP = CASES / "ho-crashloop-go-nil-pointer.json"
OOM_POD, OOM_APP = "analytics-exporter-fast-76897854c-cw5wh", "analytics-exporter-fast"
CRASH_POD, CRASH_NS = "inventory-api-pssmrpmm9-f87xz", "inventory"
OOM_CONTEXT = {"namespace": "default", "pod_name": OOM_POD, "deployment_name": OOM_APP}
pytestmark = pytest.mark.skipif(not OOM.exists(), reason="k8s eval corpus not found")


def owners_of_the_oom_pod() -> dict[str, Any]:
    """The Deployment and ReplicaSet the corpus's OOM-killed pod belongs to (the corpus
    captured only the pod), with the same 100Mi memory limit."""
    pod = json.loads(OOM.read_text())["objects"]["pods"][0]
    spec = copy.deepcopy(pod["spec"])
    labels = {"app": OOM_APP}
    meta = {"namespace": "default", "labels": labels}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {**meta, "name": OOM_APP, "generation": 1},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": spec["containers"]}}},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1}}
    hashed = {**labels, "pod-template-hash": "76897854c"}
    replicaset = {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {**meta, "name": f"{OOM_APP}-76897854c", "labels": hashed,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": OOM_APP, "controller": True}]},
        "spec": {"replicas": 1, "selector": {"matchLabels": hashed},
                 "template": {"metadata": {"labels": hashed},
                              "spec": {"containers": spec["containers"]}}},
        "status": {"replicas": 1}}
    return {"objects": {"deployments": [deployment], "replicasets": [replicaset]}}


@pytest.fixture
def cluster(api: Api) -> Iterator[FakeKubeServer]:
    """The OOM case (with its owners) and a crash-looping deployment, registered as 'case'."""
    cases = [json.loads(OOM.read_text()), owners_of_the_oom_pod(),
             json.loads(CRASHLOOP.read_text())]
    server = FakeKubeServer.from_cases(*cases)
    server.start()
    register_cluster(api, server, "case")
    try:
        yield server
    finally:
        server.stop()


def diagnosed_incident(api: Api, pod: str, namespace: str = "default",
                       alertname: str = "KubePodCrashLooping") -> str:
    """An incident from an Alertmanager alert about ``pod``, diagnosed by the consumer."""
    payload = alertmanager(pod, namespace, alertname=alertname)
    payload["alerts"][0]["fingerprint"] = f"{alertname}/{pod}"  # one incident per alert name
    status, body = api.post_alert(payload)
    assert status in (200, 201, 202), body
    incident = body["incidents"][0]["incident_id"] if "incidents" in body \
        else body["incident_id"]
    assert consume(api, request_for(incident)) == {"batchItemFailures": []}
    return str(incident)




def writes(server: FakeKubeServer) -> list[str]:
    """Requests that would change the cluster (server-side dry runs left out)."""
    return [p for method in ("POST", "PUT", "PATCH", "DELETE") for p in server.paths(method)
            if "dryRun=All" not in p]


def store_policy(**policy: Any) -> None:
    from chalicelib.bootstrap import get_container

    get_container().workspace_settings.put("default", "remediation_policy", policy)


# --- workflows --------------------------------------------------------------------------------
def test_the_built_in_workflows_are_listed_with_their_step_counts(api):
    status, body = api.call("GET", "/workflows")

    assert status == 200
    counts = {w["id"]: w["step_count"] for w in body["workflows"]}
    assert counts == {"oom_recovery": 5, "crashloop_triage": 4}
    assert body["count"] == 2
    oom = next(w for w in body["workflows"] if w["id"] == "oom_recovery")
    assert oom["name"] == "OOMKilled Recovery Workflow"
    assert oom["description"].startswith("Multi-step recovery for pods killed by OOM")


def test_a_workspace_adds_workflows_in_its_settings_and_a_broken_one_is_reported(api):
    from chalicelib.bootstrap import get_container

    own = {"id": "scale_up", "name": "Scale up", "required_context": ["namespace", "name"],
           "steps": [{"id": "scale", "name": "Scale to 3", "action": "scale_deployment",
                      "arguments": {"namespace": "{namespace}", "name": "{name}",
                                    "replicas": 3}}]}
    broken = {"id": "shell", "name": "Run a shell", "steps": [
        {"id": "sh", "name": "sh", "action": "exec_shell"}]}
    get_container().workspace_settings.put("default", "workflows",
                                           {"workflows": [own, broken]})

    _, body = api.call("GET", "/workflows")

    listed = {w["id"]: w for w in body["workflows"]}
    assert listed["scale_up"]["source"] == "workspace"
    assert "shell" not in listed
    assert "exec_shell" in body["warnings"][0]


def test_a_dry_run_of_oom_recovery_previews_each_step_and_changes_nothing(api, cluster):
    status, run = api.call("POST", "/workflows/oom_recovery/execute",
                           body={"context": OOM_CONTEXT, "dry_run": True})

    assert status == 200, run
    assert run["run_id"].startswith("run-") and run["status"] == "dry_run"
    assert [s["status"] for s in run["steps"]] == ["passed", "passed", "previewed",
                                                   "previewed", "warning"]
    diagnosis, deploys, raise_limit, persist, rollout = run["steps"]
    assert "OOMKilled" in diagnosis["message"] and "100Mi" in diagnosis["message"]
    assert deploys["message"] == f"no deploy of {OOM_APP} in the last 24 hours"
    assert raise_limit["arguments"] == {"namespace": "default", "kind": "deployment",
                                        "name": OOM_APP, "container": "memory-eater",
                                        "memory_limit": "200Mi"}
    change = next(d for d in raise_limit["preview"]["diff"]
                  if d["path"].endswith("limits.memory"))
    assert (change["before"], change["after"]) == ("100Mi", "200Mi")
    assert persist["action_state"] == "dry_run"
    assert "memory-eater to 200Mi in the manifest" in persist["preview"]["message"]
    assert "0/1 available" in rollout["message"]
    assert "nothing was changed" in run["message"]
    assert writes(cluster) == []
    _, action = api.call("GET", f"/actions/{raise_limit['action_id']}")
    assert action["status"] == "dry_run" and action["record"]["source"] == "workflow"


def test_a_workflow_without_its_required_context_is_refused_naming_what_is_missing(api,
                                                                                 cluster):
    status, body = api.call("POST", "/workflows/oom_recovery/execute",
                            body={"context": {"namespace": "default"}})

    assert status == 422
    assert body["code"] == "missing_context"
    assert body["missing"] == ["pod_name", "deployment_name"]


def test_an_unknown_workflow_is_not_found(api):
    status, body = api.call("POST", "/workflows/rm_rf/execute", body={"context": {}})

    assert status == 404 and body["code"] == "workflow_not_found"


def test_a_failing_check_stops_the_run_and_skips_what_follows(api, cluster):
    context = {**OOM_CONTEXT, "pod_name": "no-such-pod"}
    _, run = api.call("POST", "/workflows/crashloop_triage/execute", body={"context": context})

    assert run["status"] == "failed"
    assert [s["status"] for s in run["steps"]] == ["failed", "skipped", "skipped", "skipped"]
    assert writes(cluster) == []


def test_a_real_run_needs_the_execute_scope(api, make_key, cluster):
    reader = make_key("incidents:read")

    status, body = api.call("POST", "/workflows/oom_recovery/execute", key=reader,
                            body={"context": OOM_CONTEXT, "dry_run": False})

    assert status == 403 and body["required_scope"] == "actions:execute"


def test_a_real_run_waits_for_approval_and_its_status_follows_the_actions(api, cluster):
    from chalicelib.bootstrap import get_container

    status, run = api.call("POST", "/workflows/oom_recovery/execute",
                           body={"context": OOM_CONTEXT, "dry_run": False})

    assert status == 202, run
    assert run["status"] == "waiting_approval"
    assert [s["status"] for s in run["steps"]] == ["passed", "passed", "waiting_approval",
                                                   "succeeded", "waiting"]
    assert writes(cluster) == []
    action_id = run["steps"][2]["action_id"]
    _, again = api.call("GET", f"/workflows/{run['run_id']}/status")
    assert again["steps"][2]["action_state"] == "pending_approval"

    get_container().remediation.approve("default", action_id, "alice")
    done = wait_until(lambda: (s := api.call("GET", f"/workflows/{run['run_id']}/status")[1])[
        "status"] in ("succeeded", "failed") and s, "the run to finish")

    assert done["status"] == "succeeded", done
    assert done["steps"][2]["action_state"] == "succeeded"
    assert done["steps"][4]["status"] == "passed"
    assert any(p.startswith(f"/apis/apps/v1/namespaces/default/deployments/{OOM_APP}")
               for p in writes(cluster))


def test_the_status_of_an_unknown_run_is_not_found(api):
    status, body = api.call("GET", "/workflows/run-nope/status")

    assert status == 404 and body["code"] == "run_not_found"


# --- runbooks ---------------------------------------------------------------------------------
def test_the_built_in_runbooks_are_listed(api):
    _, body = api.call("GET", "/runbooks")

    ids = [r["id"] for r in body["runbooks"]]
    assert {"oom-recovery", "crashloop-triage", "image-pull-fix", "pending-pod-triage",
            "node-not-ready"} == set(ids)
    assert all(r["source"] == "builtin" and r["step_count"] > 0 for r in body["runbooks"])


def test_an_oom_incident_matches_the_oom_runbook_first_by_its_diagnosis(api, cluster):
    incident = diagnosed_incident(api, OOM_POD)

    status, body = api.call("GET", f"/incidents/{incident}/runbooks")

    assert status == 200
    assert body["category"] == "OOMKilled"
    best = body["runbooks"][0]
    assert best["id"] == "oom-recovery" and best["score"] == 1.0
    assert "playbook 'oom-recovery'" in best["reason"]
    assert [r["id"] for r in body["runbooks"]] == ["oom-recovery", "crashloop-triage"]
    assert body["runbooks"][1]["reason"] == "alert name is KubePodCrashLooping"


def test_executing_a_runbook_is_a_dry_run_unless_asked_and_auto_approve_needs_the_scope(
        api, make_key, cluster):
    incident = diagnosed_incident(api, OOM_POD)
    reader = make_key("incidents:read")
    path = f"/incidents/{incident}/runbooks/oom-recovery/execute"

    status, run = api.call("POST", f"{path}?auto_approve=true", key=reader)

    assert status == 200, run
    assert run["kind"] == "runbook" and run["status"] == "dry_run"
    assert [s["status"] for s in run["steps"]] == ["manual", "manual", "previewed",
                                                   "previewed", "manual"]
    assert run["steps"][2]["arguments"]["memory_limit"] == "200Mi"
    assert run["steps"][0]["details"]["command"] == f"kubectl -n default describe pod {OOM_POD}"
    assert writes(cluster) == []
    status, _ = api.call("POST", f"{path}?dry_run=false&auto_approve=true", key=reader)
    assert status == 403


def test_auto_approve_by_an_executor_runs_the_runbooks_actions_without_waiting(api, cluster):
    from chalicelib.bootstrap import get_container

    incident = diagnosed_incident(api, OOM_POD)

    status, run = api.call("POST", f"/incidents/{incident}/runbooks/oom-recovery/execute"
                                   "?dry_run=false&auto_approve=true")

    assert status == 202, run
    raise_limit = run["steps"][2]
    assert raise_limit["status"] == "running"
    record = wait_until(lambda: (r := get_container().remediation.get(
        "default", raise_limit["action_id"])).state not in ("running", "pending_approval")
        and r, "the memory limit to be raised")
    assert record.state == "succeeded" and record.source == "runbook"
    assert record.approved_by is not None and record.incident_id == incident


def test_a_runbook_is_generated_from_resolved_incidents_and_saved_when_approved(api, cluster):
    from chalicelib.bootstrap import get_container

    first = diagnosed_incident(api, OOM_POD)
    second = diagnosed_incident(api, OOM_POD, alertname="KubeContainerOOMKilled")
    container = get_container()
    for incident in (first, second):
        _, run = api.call("POST", f"/incidents/{incident}/runbooks/oom-recovery/execute"
                                  "?dry_run=false&auto_approve=true")
        action = run["steps"][2]["action_id"]
        wait_until(lambda a=action: container.remediation.get("default", a).state
                   == "succeeded", "the memory limit to be raised")
        container.incident_repository.transition("default", incident, "resolved", "alice")

    status, generated = api.call("POST", "/runbooks/generate",
                                 body={"pattern": "oomkilled", "service": None})

    assert status == 200, generated
    assert generated["occurrences"] == 2 and generated["incidents_with_actions"] == 2
    draft = generated["runbook"]
    assert draft["id"] == "generated-oomkilled"
    learned = [s["action"] for s in draft["steps"]]
    assert learned[0] == {"name": "set_resources", "arguments": {
        "namespace": "{namespace}", "kind": "{workload_kind}", "name": "{deployment_name}",
        "container": "{container}", "memory_limit": "{memory_limit}"}}
    assert "executed on 2 of 2 past incidents" in draft["steps"][0]["text"]
    assert "seen 2x" in generated["message"]

    status, saved = api.call("POST", "/runbooks/generate/approve", body={"runbook": draft})

    assert status == 200, saved
    assert saved["saved_path"] == "runbooks/generated/generated-oomkilled"
    _, everything = api.call("GET", "/runbooks/all")
    assert everything["generated_count"] == 1
    _, builtin = api.call("GET", "/runbooks")
    assert "generated-oomkilled" not in [r["id"] for r in builtin["runbooks"]]
    _, matched = api.call("GET", f"/incidents/{first}/runbooks")
    assert "generated-oomkilled" in [r["id"] for r in matched["runbooks"]]


def test_without_history_the_draft_has_no_steps_and_cannot_be_approved(api):
    _, generated = api.call("POST", "/runbooks/generate", body={"pattern": "node-notready"})

    assert generated["occurrences"] == 0
    assert generated["runbook"]["steps"] == []
    assert "nothing to learn from" in generated["message"]
    status, body = api.call("POST", "/runbooks/generate/approve",
                            body={"runbook": generated["runbook"]})
    assert status == 422 and body["code"] == "empty_runbook"


def test_generation_refuses_a_pattern_that_names_no_category(api):
    status, body = api.call("POST", "/runbooks/generate", body={"pattern": "gremlins"})

    assert status == 422 and body["code"] == "unknown_pattern"


def test_a_built_in_runbook_cannot_be_overwritten(api):
    draft = {"id": "oom-recovery", "name": "mine", "steps": ["do it"]}

    status, body = api.call("POST", "/runbooks/generate/approve", body={"runbook": draft})

    assert status == 409 and body["code"] == "runbook_id_taken"


# --- autonomy ---------------------------------------------------------------------------------
def test_autonomy_status_shows_the_policy_in_seed_004s_shape(api):
    status, body = api.call("GET", "/autonomy/status")

    assert status == 200
    assert {k: body[k] for k in ("enabled", "approval_required", "default_dry_run",
                                 "max_incidents_per_cycle", "autonomous_actions",
                                 "allowed_namespaces")} == {
        "enabled": False, "approval_required": True, "default_dry_run": True,
        "max_incidents_per_cycle": 20, "autonomous_actions": ["restart_pod"],
        "allowed_namespaces": []}
    assert isinstance(body["poll_interval_seconds"], int) and body["deployment_profile"]


def test_disabled_autonomy_does_nothing_and_says_so(api, cluster):
    from chalicelib.bootstrap import get_container

    diagnosed_incident(api, CRASH_POD, CRASH_NS)

    status, body = api.call("POST", "/autonomy/run")

    assert status == 200
    assert body["enabled"] is False and body["requested"] == [] and body["skipped"] == []
    assert "disabled" in body["message"]
    assert get_container().remediation.list("default") == []


def test_enabled_autonomy_requests_only_low_risk_actions_and_never_twice(api, cluster):
    oom = diagnosed_incident(api, OOM_POD)
    crash = diagnosed_incident(api, CRASH_POD, CRASH_NS)
    store_policy(autonomy_enabled=True)

    status, body = api.call("POST", "/autonomy/run")

    assert status == 200, body
    assert body["incidents_checked"] == 2
    assert [(r["incident_id"], r["action"], r["state"]) for r in body["requested"]] == [
        (crash, "restart_pod", "dry_run")]
    skipped = {(s["incident_id"], s["action"]): s["reason"] for s in body["skipped"]}
    assert "low-risk" in skipped[(oom, "set_resources")]
    assert writes(cluster) == []
    _, again = api.call("POST", "/autonomy/run")
    assert again["requested"] == []
    assert "already requested by autonomy" in {
        (s["incident_id"], s["action"]): s["reason"] for s in again["skipped"]}[
        (crash, "restart_pod")]


def test_autonomy_that_may_execute_runs_a_restart_without_waiting_for_approval(api, cluster):
    from chalicelib.bootstrap import get_container

    diagnosed_incident(api, CRASH_POD, CRASH_NS)
    store_policy(autonomy_enabled=True, default_dry_run=False)

    _, body = api.call("POST", "/autonomy/run")

    requested = body["requested"][0]
    assert requested["state"] == "running"
    record = wait_until(lambda: (r := get_container().remediation.get(
        "default", requested["action_id"])).state in ("succeeded", "failed", "rolled_back")
        and r, "the restart to finish")
    assert record.state == "succeeded" and record.approved_by is None
    assert f"/api/v1/namespaces/{CRASH_NS}/pods/{CRASH_POD}" in writes(cluster)


def test_running_autonomy_needs_the_execute_scope(api, make_key):
    status, _ = api.call("POST", "/autonomy/run", key=make_key("incidents:read"))

    assert status == 403


def test_a_step_the_policy_refuses_stops_the_run_with_the_policys_reason(api, cluster):
    store_policy(name="no-resizing", allowed_actions=["restart_pod", "suggest_config_fix"])

    _, run = api.call("POST", "/workflows/oom_recovery/execute", body={"context": OOM_CONTEXT})

    assert run["status"] == "failed"
    assert [s["status"] for s in run["steps"]] == ["passed", "passed", "refused", "skipped",
                                                   "skipped"]
    refused = run["steps"][2]
    assert refused["policy_name"] == "no-resizing"
    assert "not allowed by policy 'no-resizing'" in refused["policy_reason"]
    assert refused["action_id"].startswith("act-")
    assert writes(cluster) == []
