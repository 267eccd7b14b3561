"""Pulse's Kubernetes agent reports (seed 001) become alerts that fire and resolve."""

from __future__ import annotations

import copy

import pytest

REPORT = {
    "agent": {"id": "agent-1", "version": "5.0.0", "intervalSeconds": 30},
    "cluster": {"id": "c-123", "name": "prod-east", "version": "v1.30.2"},
    "nodes": [{"uid": "n1", "name": "worker-1", "ready": True},
              {"uid": "n2", "name": "worker-2", "ready": False}],
    "pods": [
        {"uid": "p1", "name": "api-7d9f-abc", "namespace": "shop", "nodeName": "worker-1",
         "phase": "Running", "restarts": 7, "ownerKind": "ReplicaSet", "ownerName": "api-7d9f",
         "containers": [{"name": "api", "image": "api:1.4", "ready": False, "restartCount": 7,
                         "state": "waiting", "reason": "CrashLoopBackOff",
                         "message": "back-off 5m0s restarting failed container"}]},
        {"uid": "p2", "name": "worker-55c-xyz", "namespace": "shop", "phase": "Running",
         "containers": [{"name": "w", "state": "terminated", "reason": "OOMKilled"}]},
        {"uid": "p3", "name": "batch-1", "namespace": "jobs", "phase": "Failed",
         "reason": "Evicted", "message": "The node was low on resource: memory."},
        {"uid": "p4", "name": "pending-1", "namespace": "shop", "phase": "Pending",
         "containers": [{"name": "p", "state": "waiting", "reason": "ContainerCreating"}]},
    ],
    "deployments": [{"uid": "d1", "name": "api", "namespace": "shop", "desiredReplicas": 3}],
    "timestamp": "2024-01-15T10:30:00Z",
}


def send(api, report=None, key=None):
    kwargs = {"key": key} if key else {}
    body = REPORT if report is None else report
    return api.call("POST", "/api/agents/kubernetes/report", body=body, **kwargs)


def active_titles(api, key=None):
    kwargs = {"key": key} if key else {}
    return sorted(a["message"] for a in api.call("GET", "/api/alerts/active", **kwargs)[1])


def test_a_report_fires_an_alert_per_failing_pod_and_notready_node(api):
    status, body = send(api)
    assert status == 200
    assert (body["ok"], body["cluster"], body["alerts_firing"], body["alerts_resolved"]) == (
        True, "prod-east", 4, 0)
    assert {i["action"] for i in body["incidents"]} == {"created"}
    assert active_titles(api) == [
        "CrashLoopBackOff: shop/api-7d9f-abc", "Evicted: jobs/batch-1",
        "NotReady: node worker-2", "OOMKilled: shop/worker-55c-xyz"]


def test_the_incidents_carry_cluster_pod_and_workload(api):
    body = send(api)[1]
    crash = next(i for i in body["incidents"] if i["title"].startswith("CrashLoopBackOff"))
    _, detail = api.call("GET", f"/incidents/{crash['incident_id']}")
    incident = detail["incident"]
    assert (incident["cluster"], incident["namespace"], incident["pod"]) == (
        "prod-east", "shop", "api-7d9f-abc")
    assert (incident["workload"], incident["workload_kind"]) == ("api-7d9f", "replicaset")
    assert incident["severity"] == "high"
    assert incident["details"]["container_statuses"][0]["restart_count"] == 7
    assert incident["diagnosis_enqueued_at"]


def test_the_same_report_again_deduplicates(api):
    send(api)
    body = send(api)[1]
    assert {i["action"] for i in body["incidents"]} == {"deduplicated"}
    assert len(active_titles(api)) == 4


def test_what_vanished_from_the_next_report_is_resolved(api):
    send(api)
    later = copy.deepcopy(REPORT)
    later["pods"] = [p for p in later["pods"] if p["name"] != "api-7d9f-abc"]
    later["nodes"][1]["ready"] = True
    status, body = send(api, later)
    assert (status, body["alerts_firing"], body["alerts_resolved"]) == (200, 2, 2)
    assert active_titles(api) == ["Evicted: jobs/batch-1", "OOMKilled: shop/worker-55c-xyz"]
    history = api.call("GET", "/api/alerts/history")[1]
    assert sorted(a["message"] for a in history) == [
        "CrashLoopBackOff: shop/api-7d9f-abc", "NotReady: node worker-2"]


def test_a_pod_flapping_between_reasons_stays_one_alert(api):
    first = send(api)[1]
    flipped = copy.deepcopy(REPORT)
    flipped["pods"][0]["containers"][0].update(state="terminated", reason="OOMKilled")
    body = send(api, flipped)[1]
    assert body["alerts_resolved"] == 0
    ids = {i["incident_id"] for i in body["incidents"]}
    assert ids == {i["incident_id"] for i in first["incidents"]}


def test_clusters_are_tracked_separately(api):
    send(api)
    other = copy.deepcopy(REPORT)
    other["cluster"] = {"id": "c-456", "name": "prod-west"}
    other["pods"], other["nodes"] = [], []
    body = send(api, other)[1]
    assert (body["alerts_firing"], body["alerts_resolved"]) == (0, 0)
    assert len(active_titles(api)) == 4


def test_an_unnamed_cluster_is_known_by_its_id(api):
    report = {"cluster": {"id": "c-789"}, "nodes": [{"name": "n", "ready": False}]}
    assert send(api, report)[1]["cluster"] == "c-789"


@pytest.mark.parametrize("report", [
    {"nodes": []},
    {"cluster": {"id": ""}},
    {"cluster": {"id": "c"}, "pods": [{"name": "p"}]},
    {"cluster": {"id": "c"}, "pods": "many"},
    [],
])
def test_a_malformed_report_is_422(api, report):
    status, body = send(api, report)
    assert (status, body["code"]) == (422, "invalid_payload")


def test_the_agent_authenticates_with_pulses_headers_and_the_ingest_scope(api, make_key):
    token = make_key("ingest")
    for headers in ({"Authorization": f"Bearer {token}"}, {"X-API-Token": token}):
        assert api.call("POST", "/api/agents/kubernetes/report", key=None, body=REPORT,
                        headers=headers)[0] == 200
    assert send(api, key=make_key("incidents:write"))[0] == 403
    assert api.call("POST", "/api/agents/kubernetes/report", key=None, body=REPORT)[0] == 401


def test_reports_in_two_workspaces_do_not_touch_each_other(api, make_key):
    key_a = make_key("ingest", "incidents:read", workspace="ws-a")
    key_b = make_key("ingest", "incidents:read", workspace="ws-b")
    send(api, key=key_a)
    empty = {"cluster": REPORT["cluster"]}
    assert send(api, empty, key=key_b)[1]["alerts_resolved"] == 0
    assert len(active_titles(api, key=key_a)) == 4
    assert active_titles(api, key=key_b) == []
