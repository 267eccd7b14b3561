"""Seed 004's incident views: similar, group, metrics, actions, deploys, noisy, postmortem,
activity and the shift handoff digest, each built from real incidents."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import load_event

ONCALL = "apikey:tok-test:oncall"
PER_INCIDENT = ["", "/similar", "/group", "/metrics", "/actions", "/timeline",
                "/deploy-correlation"]
# (method, path) of every route of the group; {id} is filled with a real incident.
ROUTES = [("GET", f"/incidents/{{id}}{suffix}") for suffix in PER_INCIDENT] + [
    ("POST", "/incidents/{id}/postmortem"), ("GET", "/incidents"), ("GET", "/incidents/noisy"),
    ("GET", "/activity"), ("GET", "/digest/handoff")]


def alert(title: str, **fields: str) -> dict:
    payload = copy.deepcopy(load_event("generic_high_cpu.json"))
    payload.update(title=title, **fields)
    return payload


def open_incident(api, payload: dict, **headers: str) -> str:
    status, body = api.post_alert(payload, "webhook", **headers)
    assert status in (200, 201), body
    return body["incident_id"]


def resolve(api, payload: dict) -> None:
    api.post_alert({**payload, "status": "resolved"}, "webhook")


def repository():
    from chalicelib.bootstrap import get_container

    return get_container().incident_repository


def workspace() -> str:
    from chalicelib.bootstrap import get_container

    return get_container().settings.default_workspace


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_key_with_incidents_read(api, make_key, method, path):
    incident = open_incident(api, alert("auth"))
    path = path.format(id=incident)
    assert api.call(method, path, key=None)[0] == 401
    status, body = api.call(method, path, key=make_key("ingest"))
    assert (status, body["code"]) == (403, "missing_scope")
    assert api.call(method, path, key=make_key("incidents:read"))[0] == 200


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if "{id}" in r[1]])
def test_another_workspaces_incident_is_404_and_its_header_403(api, make_key, method, path):
    incident = open_incident(api, alert("private"), **{"X-Workspace-Id": "ws-a"})
    path = path.format(id=incident)
    key_b = make_key("incidents:read", workspace="ws-b")
    assert api.call(method, path, key=key_b)[0] == 404
    status, body = api.call(method, path, key=key_b, headers={"X-Workspace-Id": "ws-a"})
    assert (status, body["code"]) == (403, "wrong_workspace")
    status, body = api.call(method, path.replace(incident, "inc-nope"))
    assert (status, body["code"]) == (404, "incident_not_found")


@pytest.mark.parametrize("path", [
    "/incidents/{id}/similar?limit=0", "/incidents/{id}/similar?limit=51",
    "/incidents/{id}/deploy-correlation?lookback_minutes=0",
    "/incidents/{id}/deploy-correlation?lookback_minutes=1441",
    "/incidents/{id}/deploy-correlation?lookback_minutes=soon",
    "/incidents/noisy?max_duration_minutes=-1", "/incidents/noisy?max_duration_minutes=nan",
    "/incidents/noisy?max_duration_minutes=1441", "/incidents/noisy?max_duration_minutes=x",
    "/incidents/noisy?limit=101", "/digest/handoff?hours=0", "/digest/handoff?hours=49",
    "/digest/handoff?hours=twelve", "/activity?limit=0"])
def test_bad_parameters_are_400(api, path):
    incident = open_incident(api, alert("params"))
    status, body = api.call("GET", path.format(id=incident))
    assert (status, body["code"]) == (400, "bad_parameter")
    assert body["error"] and body["detail"]


def test_similar_finds_the_resolved_earlier_incident_with_the_same_title(api):
    earlier_payload = alert("OOMKilled on payments-api", namespace="staging")
    earlier = open_incident(api, earlier_payload)
    resolve(api, earlier_payload)
    open_incident(api, alert("Certificate expires soon", service="edge", deployment="edge",
                             namespace="ingress", source="blackbox"))
    current = open_incident(api, alert("OOMKilled on payments-api"))
    status, body = api.call("GET", f"/incidents/{current}/similar")
    assert status == 200
    assert body["incident_id"] == current
    assert [s["id"] for s in body["similar_incidents"]] == [earlier]
    best = body["similar_incidents"][0]
    assert best["state"] == "resolved"
    assert 0.7 < best["similarity_score"] < 1.0
    assert set(best) == {"id", "title", "similarity_score", "severity", "state", "created_at"}
    assert body["count"] == 1


def test_a_refired_alert_is_fully_similar_to_the_incident_it_fired_before(api):
    from chalicelib.bootstrap import get_container

    get_container().workspace_settings.put(workspace(), "alerts_config",
                                           {"reopen_quiet_period_seconds": 0})
    get_container().ingest.forget_policy(workspace())
    payload = alert("Disk full on db-0")
    first = open_incident(api, payload)
    resolve(api, payload)
    second = open_incident(api, payload)
    assert second != first
    similar = api.call("GET", f"/incidents/{second}/similar")[1]["similar_incidents"]
    assert (similar[0]["id"], similar[0]["similarity_score"]) == (first, 1.0)


def test_the_group_shows_a_child_after_two_alerts_for_the_same_service(api):
    parent = open_incident(api, alert("Latency high", service="checkout", namespace="shop"))
    child = open_incident(api, alert("Error rate high", service="checkout", namespace="shop"))
    _, group = api.call("GET", f"/incidents/{parent}/group")
    assert group["incident_id"] == parent
    assert group["parent_id"] is None
    assert group["is_parent"] is True, "repo.children() found no CHILD# item for the parent"
    assert [(c["incident_id"], c["correlation_reason"]) for c in group["children"]] == [
        (child, "same_service_within_window")]
    _, child_group = api.call("GET", f"/incidents/{child}/group")
    assert (child_group["parent_id"], child_group["is_parent"], child_group["children"]) == (
        parent, False, [])


def test_metrics_are_empty_until_someone_responds(api):
    incident = open_incident(api, alert("unanswered"))
    _, metrics = api.call("GET", f"/incidents/{incident}/metrics")
    assert metrics == {"incident_id": incident, "timeline": [], "summary": {
        "time_to_first_response_minutes": None, "resolution_time_minutes": None,
        "actions_taken": 0}}


def test_metrics_record_the_acknowledgement_and_the_resolution(api):
    payload = alert("answered")
    incident = open_incident(api, payload)
    repository().transition(workspace(), incident, "acknowledged", ONCALL)
    resolve(api, payload)
    _, metrics = api.call("GET", f"/incidents/{incident}/metrics")
    summary = metrics["summary"]
    assert summary["time_to_first_response_minutes"] >= 0
    assert summary["resolution_time_minutes"] >= summary["time_to_first_response_minutes"]
    assert [m["metric_name"] for m in metrics["timeline"]] == [
        "time_to_first_response_minutes", "resolution_time_minutes"]
    assert metrics["timeline"][-1]["value"] == summary["resolution_time_minutes"]
    _, detail = api.call("GET", f"/incidents/{incident}")
    assert detail["metrics"] == summary
    assert detail["actions"] == []


def test_a_note_by_a_person_counts_as_the_first_response(api):
    incident = open_incident(api, alert("noted"))
    note = repository().add_note(workspace(), incident, ONCALL, "looking")
    _, metrics = api.call("GET", f"/incidents/{incident}/metrics")
    assert metrics["timeline"][0]["created_at"] == note.created_at
    assert metrics["summary"]["time_to_first_response_minutes"] >= 0


def test_actions_and_activity_are_truthfully_empty(api):
    incident = open_incident(api, alert("no actions"))
    assert api.call("GET", f"/incidents/{incident}/actions")[1] == {
        "incident_id": incident, "actions": [], "count": 0}
    _, activity = api.call("GET", "/activity")
    assert (activity["activity"], activity["count"]) == ([], 0)


def test_deploy_correlation_finds_the_deploy_before_the_incident(api):
    ten_minutes_ago = datetime.now(UTC) - timedelta(minutes=10)
    status, _ = api.call("POST", "/webhook/deploy", body={
        "service": "payments-api", "actor": "ci-bot", "timestamp": ten_minutes_ago.isoformat()})
    assert status == 200
    incident = open_incident(api, alert("after deploy"))
    _, found = api.call("GET", f"/incidents/{incident}/deploy-correlation")
    assert found["has_correlation"] is True
    assert found["lookback_minutes"] == 30
    assert 9 <= found["correlated_deploy"]["minutes_before_incident"] <= 11
    _, none = api.call("GET", f"/incidents/{incident}/deploy-correlation?lookback_minutes=5")
    assert (none["has_correlation"], none["correlated_deploy"]) == (False, None)


def test_noisy_lists_a_quickly_resolved_incident_only(api):
    blip = alert("Brief CPU spike", service="cache")
    noisy = open_incident(api, blip)
    resolve(api, blip)
    open_incident(api, alert("Still burning", service="db"))
    status, body = api.call("GET", "/incidents/noisy?max_duration_minutes=5&limit=20")
    assert status == 200
    assert [i["id"] for i in body["noisy_incidents"]] == [noisy]
    entry = body["noisy_incidents"][0]
    assert entry["state"] == "resolved"
    assert entry["resolved_at"] >= entry["created_at"]
    assert body["count"] == 1
    assert body["max_duration_minutes"] == 5.0
    assert "review alert thresholds" in body["note"]


def test_the_postmortem_tells_the_incidents_real_story(api):
    payload = alert("Checkout <b>down</b> [see](http://evil.example)")
    incident = open_incident(api, payload)
    api.post_alert(payload, "webhook")
    resolve(api, payload)
    status, body = api.call("POST", f"/incidents/{incident}/postmortem")
    assert status == 200
    document = body["postmortem"]
    _, timeline = api.call("GET", f"/incidents/{incident}/timeline")
    assert [(e["event_type"], e["created_at"]) for e in document["timeline"]] == [
        (e["event_type"], e["created_at"]) for e in timeline["events"]]
    assert document["root_cause"] is None
    assert document["actions"] == []
    stored = api.call("GET", f"/incidents/{incident}")[1]["incident"]
    assert document["impact"]["alert_count"] == stored["alert_count"] >= 2
    assert document["resolution"]["resolved"] is True
    assert document["detection"]["source"] == "prometheus"
    assert any("nobody acknowledged" in f["evidence"] for f in document["follow_ups"])
    assert any("threshold" in f["item"] for f in document["follow_ups"])
    assert body["generated_at"].endswith("Z")
    assert "<b>" not in body["markdown"]
    assert "[see](" not in body["markdown"]
    assert "## Timeline" in body["markdown"]


def test_the_postmortem_names_a_preceding_deploy_and_correlated_incidents(api):
    api.call("POST", "/webhook/deploy", body={
        "service": "checkout", "actor": "ci-bot",
        "timestamp": (datetime.now(UTC) - timedelta(minutes=20)).isoformat()})
    parent = open_incident(api, alert("Latency high", service="checkout", namespace="shop"))
    child = open_incident(api, alert("Errors high", service="checkout", namespace="shop"))
    _, body = api.call("POST", f"/incidents/{parent}/postmortem")
    document = body["postmortem"]
    assert document["deploy_correlation"]["has_correlation"] is True
    assert [c["incident_id"] for c in document["correlated_incidents"]["children"]] == [child]
    assert any(f["item"].startswith("Review deploy") for f in document["follow_ups"])
    assert document["resolution"]["resolved"] is False


def test_the_handoff_digest_counts_the_shift(api):
    headers = {"X-Workspace-Id": "ws-shift"}
    critical = open_incident(api, alert("Down", service="api", severity="critical"), **headers)
    high = open_incident(api, alert("Slow", service="web", severity="high"), **headers)
    repository().transition("ws-shift", high, "acknowledged", ONCALL)
    blip_payload = alert("Blip", service="api", severity="warning")
    blip = open_incident(api, blip_payload, **headers)
    api.post_alert({**blip_payload, "status": "resolved"}, "webhook", **headers)
    status, digest = api.call("GET", "/digest/handoff?hours=12&workspace_id=ws-shift")
    assert status == 200
    assert (digest["window_hours"], digest["workspace_id"]) == (12, "ws-shift")
    summary = digest["summary"]
    assert summary["total"] == summary["created"] == 3
    assert summary["by_state"] == {"open": 1, "acknowledged": 1, "resolved": 1, "ignored": 0}
    assert (summary["by_severity"]["critical"], summary["by_severity"]["high"],
            summary["by_severity"]["warning"]) == (1, 1, 1)
    assert [i["id"] for i in digest["needs_attention"]] == [critical, high]
    assert [i["id"] for i in digest["resolved"]] == [blip]
    assert [i["id"] for i in digest["noisy"]] == [blip]
    assert digest["top_services"][0] == {"service": "api", "count": 2}
    assert digest["generated_at"].endswith("Z")
    assert api.call("GET", "/digest/handoff")[1]["summary"]["total"] == 0


def test_no_view_scans_a_table(api):
    from chalicelib.adapters.aws import client

    payload = alert("no scans")
    incident = open_incident(api, payload)
    resolve(api, payload)
    operations: list[str] = []
    client("dynamodb").meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: operations.append(model.name))
    for method, path in ROUTES:
        assert api.call(method, path.format(id=incident))[0] == 200
    assert operations, "the hook saw no DynamoDB calls"
    assert "Scan" not in operations
