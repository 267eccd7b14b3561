"""Kure Monitor's pod failures (seed 002): reported by the agent, triaged by people."""

from __future__ import annotations

import base64
import gzip

import pytest

POD = {
    "pod_name": "my-app-7d9f8b6c4-abc12", "namespace": "default", "node_name": "worker-1",
    "phase": "Running", "failure_reason": "CrashLoopBackOff",
    "failure_message": "Back-off restarting failed container",
    "creation_timestamp": "2024-01-15T10:30:00Z",
    "events": [{"type": "Warning", "reason": "BackOff", "message": "Back-off restarting",
                "timestamp": "2024-01-15T10:31:00Z"}],
    "container_statuses": [{"name": "app", "ready": False, "restart_count": 5,
                            "image": "my-app:1.2", "state": "waiting",
                            "reason": "CrashLoopBackOff", "exit_code": 1}],
    "manifest": "apiVersion: v1\nkind: Pod\n",
    "logs": "Error: Database connection failed",
}


def report(api, body=None, key=None, **headers):
    kwargs = {"key": key} if key else {}
    return api.call("POST", "/api/pods/failed", body=body or POD, headers=headers, **kwargs)


def test_a_report_answers_in_kures_shape_with_no_invented_solution(api):
    status, body = report(api)
    assert status == 200
    assert body["id"].startswith("inc-")
    assert (body["pod_name"], body["namespace"], body["failure_reason"]) == (
        POD["pod_name"], "default", "CrashLoopBackOff")
    assert body["solution"] is None
    assert body["status"] == "new"
    assert body["events"][0]["reason"] == "BackOff"
    assert body["container_statuses"][0]["restart_count"] == 5
    assert body["timestamp"] == "2024-01-15T10:30:00Z"


def test_the_same_failure_reported_twice_is_one_pod_failure(api):
    first = report(api)[1]
    second = report(api)[1]
    assert second["id"] == first["id"]
    assert second["deduplicated"] is True
    _, active = api.call("GET", "/api/pods/failed")
    assert [p["id"] for p in active] == [first["id"]]
    assert active[0]["occurrences"] == 2


def test_a_report_queues_one_diagnosis(api):
    incident = report(api)[1]["id"]
    report(api)
    _, body = api.call("GET", f"/incidents/{incident}")
    assert body["incident"]["diagnosis_enqueued_at"]


def test_logs_are_kept_to_their_tail_and_previous_logs_decoded(api):
    block = base64.b64encode(gzip.compress(b"panic: out of memory\n")).decode()
    body = {**POD, "logs": "x" * 100_000 + "the end",
            "failure_logs": {"version": 1, "encoding": "gzip+base64", "containers": {
                "app": {"previous": {"data": block}}, "sidecar": {"previous": {"data": "!!"}}}}}
    incident = report(api, body)[1]["id"]
    _, stored = api.call("GET", f"/incidents/{incident}")
    details = stored["incident"]["details"]
    assert len(details["logs"]) == 32 * 1024 and details["logs"].endswith("the end")
    assert details["logs_truncated"] is True
    assert details["previous_logs"] == {"app": "panic: out of memory\n"}


def test_multibyte_bulk_is_dropped_to_fit_one_item_instead_of_failing(api):
    boom = "\U0001f4a5"  # four bytes in UTF-8: caps counted in characters are not enough
    body = {**POD, "logs": boom * 33_000, "manifest": boom * 2_000,
            "events": [{"type": "Warning", "reason": "X", "message": boom * 1000}] * 30}
    status, answer = report(api, body)
    assert status == 200
    _, stored = api.call("GET", f"/incidents/{answer['id']}")
    details = stored["incident"]["details"]
    assert details["dropped_for_size"] == ["previous_logs", "manifest", "events"]
    assert details["logs"].endswith("\U0001f4a5")


@pytest.mark.parametrize("missing", [{"pod_name": ""}, {"namespace": "  "}])
def test_a_report_without_pod_or_namespace_is_400_as_kure_says(api, missing):
    status, body = report(api, {**POD, **missing})
    assert (status, body["detail"]) == (400, "Pod name and namespace are required")


@pytest.mark.parametrize("bad", [{"events": "not a list"}, {"pod_name": None},
                                 {"container_statuses": [{"restart_count": "many"}]}])
def test_a_malformed_report_is_422_naming_the_field(api, bad):
    status, body = report(api, {**POD, **bad})
    assert (status, body["code"]) == (422, "invalid_payload")
    assert next(iter(bad)) in body["detail"]


def test_a_body_that_is_not_json_is_400(api):
    status, body = api.call("POST", "/api/pods/failed", raw=b"{nope")
    assert (status, body["code"]) == (400, "invalid_json")


def test_status_moves_between_the_lists(api):
    pod = report(api)[1]["id"]
    status, body = api.call("PUT", f"/api/pods/{pod}/status",
                            body={"status": "investigating", "resolution_note": "looking"})
    assert (status, body["status"]) == (200, "investigating")
    assert api.call("GET", "/api/pods/failed")[1][0]["status"] == "investigating"
    api.call("PUT", f"/api/pods/{pod}/status", body={"status": "resolved"})
    assert api.call("GET", "/api/pods/failed")[1] == []
    history = api.call("GET", "/api/pods/history")[1]
    assert [(p["id"], p["status"]) for p in history] == [(pod, "resolved")]
    assert history[0]["resolved_at"]


def test_an_unknown_status_is_400_and_a_forbidden_move_is_409(api):
    pod = report(api)[1]["id"]
    status, body = api.call("PUT", f"/api/pods/{pod}/status", body={"status": "done"})
    assert (status, body["code"]) == (400, "invalid_status")
    api.call("PUT", f"/api/pods/{pod}/status", body={"status": "resolved"})
    status, body = api.call("PUT", f"/api/pods/{pod}/status", body={"status": "investigating"})
    assert (status, body["code"]) == (409, "invalid_transition")


def test_dismiss_ignores_and_restore_brings_back(api):
    pod = report(api)[1]["id"]
    status, body = api.call("DELETE", f"/api/pods/failed/{pod}")
    assert (status, body["message"]) == (200, "Pod failure dismissed")
    assert api.call("GET", "/api/pods/failed")[1] == []
    ignored = api.call("GET", "/api/pods/ignored")[1]
    assert [(p["id"], p["status"], p["dismissed"]) for p in ignored] == [(pod, "ignored", True)]
    status, body = api.call("PUT", f"/api/pods/ignored/{pod}/restore")
    assert (status, body["message"]) == (200, "Pod failure restored")
    assert [p["status"] for p in api.call("GET", "/api/pods/failed")[1]] == ["new"]
    assert api.call("PUT", f"/api/pods/ignored/{pod}/restore")[1]["code"] == "not_ignored"


def test_dismiss_deleted_resolves_only_that_pods_failures(api):
    gone = report(api)[1]["id"]
    other = report(api, {**POD, "pod_name": "other-pod"})[1]["id"]
    status, body = api.call("POST", "/api/pods/dismiss-deleted",
                            body={"namespace": "default", "pod_name": POD["pod_name"]})
    assert (status, body["resolved"], body["incident_ids"]) == (200, 1, [gone])
    assert [p["id"] for p in api.call("GET", "/api/pods/failed")[1]] == [other]
    _, timeline = api.call("GET", f"/incidents/{gone}/timeline")
    assert timeline["events"][-1]["payload"]["reason"] == "pod deleted"


def test_dismiss_deleted_needs_namespace_and_pod_name(api):
    status, body = api.call("POST", "/api/pods/dismiss-deleted", body={"namespace": "default"})
    assert (status, body["code"]) == (422, "invalid_payload")


def test_the_agent_authenticates_with_x_service_token(api, make_key):
    token = make_key("ingest")
    status, _ = api.call("POST", "/api/pods/failed", key=None, body=POD,
                         headers={"X-Service-Token": token})
    assert status == 200
    assert api.call("POST", "/api/pods/failed", key=None, body=POD)[0] == 401


@pytest.mark.parametrize(("method", "path", "scope"), [
    ("POST", "/api/pods/failed", "ingest"),
    ("GET", "/api/pods/failed", "incidents:read"),
    ("GET", "/api/pods/history", "incidents:read"),
    ("DELETE", "/api/pods/failed/inc-x", "incidents:write"),
    ("PUT", "/api/pods/ignored/inc-x/restore", "incidents:write"),
])
def test_each_pod_route_needs_its_scope(api, make_key, method, path, scope):
    wrong = make_key("settings:read")
    status, body = api.call(method, path, key=wrong, body=POD)
    assert (status, body["code"]) == (403, "missing_scope")
    assert api.call(method, path, key=None, body=POD)[0] == 401
    assert api.call(method, path, key=make_key(scope), body=POD)[0] not in (401, 403)


def test_another_workspaces_pod_failure_is_404(api, make_key):
    key_a = make_key("ingest", "incidents:read", "incidents:write", workspace="ws-a")
    key_b = make_key("incidents:read", "incidents:write", workspace="ws-b")
    pod = report(api, key=key_a)[1]["id"]
    for method, path, body in [("PUT", f"/api/pods/{pod}/status", {"status": "resolved"}),
                               ("DELETE", f"/api/pods/failed/{pod}", None),
                               ("PUT", f"/api/pods/ignored/{pod}/restore", None)]:
        status, answer = api.call(method, path, key=key_b, body=body)
        assert (status, answer["detail"]) == (404, "Pod failure not found")
    assert api.call("GET", "/api/pods/failed", key=key_b)[1] == []
    assert len(api.call("GET", "/api/pods/failed", key=key_a)[1]) == 1


def test_incidents_without_a_pod_are_not_pod_failures(api):
    incident = api.post_alert({"title": "Disk full", "severity": "warning"}, "webhook")[1]
    assert api.call("GET", "/api/pods/failed")[1] == []
    status, _ = api.call("DELETE", f"/api/pods/failed/{incident['incident_id']}")
    assert status == 404
