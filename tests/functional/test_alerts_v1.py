"""Pulse's /api/alerts (seed 001) and Pastures' advisories (seed 000) over incidents."""

from __future__ import annotations

import time

import pytest


def fire(api, title, severity="critical", key=None, **extra):
    payload = {"title": title, "severity": severity, "namespace": "prod", **extra}
    kwargs = {"key": key} if key else {}
    status, body = api.post_alert(payload, "webhook", **kwargs)
    assert status == 200, body
    return body["incident_id"]


def resolve(api, title, **extra):
    api.post_alert({"title": title, "severity": "critical", "namespace": "prod",
                    "status": "resolved", **extra}, "webhook")


def test_active_alerts_are_open_incidents_in_pulses_shape(api):
    incident = fire(api, "High CPU", pod="web-1", cluster="prod-east")
    fire(api, "Slow disk", severity="warning")
    status, alerts = api.call("GET", "/api/alerts/active")
    assert status == 200
    assert [a["message"] for a in alerts] == ["Slow disk", "High CPU"]
    cpu = alerts[1]
    assert (cpu["id"], cpu["level"], cpu["acknowledged"]) == (incident, "critical", False)
    assert cpu["resourceId"] == "prod-east/prod/web-1"
    assert cpu["instance"] == "prod-east"
    assert {"startTime", "lastSeen", "value", "threshold", "metadata"} <= set(cpu)
    assert alerts[0]["level"] == "warning"


def test_acknowledge_then_unacknowledge_by_body_and_by_path(api):
    incident = fire(api, "High CPU")
    status, body = api.call("POST", "/api/alerts/acknowledge", body={"id": incident})
    assert (status, body["success"]) == (200, True)
    alert = api.call("GET", "/api/alerts/active")[1][0]
    assert alert["acknowledged"] is True
    assert alert["ackUser"].startswith("apikey:") and alert["ackTime"]
    api.call("POST", f"/api/alerts/{incident}/unacknowledge")
    assert api.call("GET", "/api/alerts/active")[1][0]["acknowledged"] is False
    api.call("POST", "/api/alerts/acknowledge", body={"alertIdentifier": incident})
    assert api.call("GET", "/api/alerts/active")[1][0]["acknowledged"] is True


def test_clear_resolves_and_moves_the_alert_to_history(api):
    incident = fire(api, "High CPU")
    assert api.call("POST", f"/api/alerts/{incident}/clear")[0] == 200
    assert api.call("GET", "/api/alerts/active")[1] == []
    history = api.call("GET", "/api/alerts/history")[1]
    assert [a["id"] for a in history] == [incident]
    assert history[0]["resolvedTime"]
    status, body = api.call("POST", "/api/alerts/acknowledge", body={"id": incident})
    assert (status, body["code"]) == (409, "invalid_transition")


def test_bulk_acknowledge_reports_each_id_including_a_bad_one(api):
    ids = [fire(api, "one"), fire(api, "two")]
    status, body = api.call("POST", "/api/alerts/bulk/acknowledge",
                            body={"alertIds": [*ids, "inc-missing"]})
    assert status == 200
    results = {r["alertId"]: r for r in body["results"]}
    assert results[ids[0]]["success"] and results[ids[1]]["success"]
    assert results["inc-missing"]["success"] is False
    assert results["inc-missing"]["error"] == "Alert not found"
    assert all(a["acknowledged"] for a in api.call("GET", "/api/alerts/active")[1])


def test_bulk_clear_resolves_them_all(api):
    ids = [fire(api, "one"), fire(api, "two")]
    _, body = api.call("POST", "/api/alerts/bulk/clear", body={"alertIdentifiers": ids})
    assert all(r["success"] for r in body["results"])
    assert api.call("GET", "/api/alerts/active")[1] == []


@pytest.mark.parametrize(("path", "body"), [
    ("/api/alerts/bulk/acknowledge", {}),
    ("/api/alerts/bulk/clear", {"alertIds": []}),
    ("/api/alerts/acknowledge", {}),
    ("/api/alerts/clear", {"id": "   "}),
    ("/api/alerts/incidents/note", {"note": "x"}),
])
def test_missing_identifiers_are_400(api, path, body):
    status, answer = api.call("POST", path, body=body)
    assert (status, answer["code"]) == (400, "missing_alert_id")


def test_too_many_bulk_ids_and_bad_ids_are_400(api):
    status, _ = api.call("POST", "/api/alerts/bulk/clear",
                         body={"alertIds": [f"inc-{n}" for n in range(101)]})
    assert status == 400
    status, body = api.call("POST", "/api/alerts/acknowledge", body={"id": "inc-\u00e9"})
    assert (status, body["code"]) == (400, "invalid_alert_id")


def test_notes_appear_in_the_incident_timeline(api):
    incident = fire(api, "High CPU")
    status, body = api.call("POST", "/api/alerts/incidents/note",
                            body={"alert_id": incident, "note": "restarted the pod"})
    assert (status, body["success"]) == (200, True)
    api.call("POST", "/api/alerts/acknowledge", body={"id": incident})
    status, view = api.call("GET", f"/api/alerts/incidents?alert_id={incident}")
    assert status == 200
    assert (view["id"], view["alertIdentifier"], view["status"]) == (incident, incident, "open")
    types = [e["type"] for e in view["events"]]
    assert types[:2] == ["alert_received", "alert_fired"]
    assert "note" in types and types[-1] == "alert_acknowledged"
    note = next(e for e in view["events"] if e["type"] == "note")
    assert note["summary"] == "restarted the pod"


def test_incidents_of_a_resource_are_listed(api):
    incident = fire(api, "High CPU", pod="web-1", cluster="c1")
    fire(api, "Other", pod="web-2", cluster="c1")
    _, views = api.call("GET", "/api/alerts/incidents?resource_id=c1/prod/web-1")
    assert [v["id"] for v in views] == [incident]
    status, body = api.call("GET", "/api/alerts/incidents")
    assert (status, body["detail"]) == (400, "Missing alert_identifier or resource_id")


def test_an_unknown_alert_is_404(api):
    status, body = api.call("GET", "/api/alerts/incidents?alert_id=inc-nope")
    assert (status, body["code"]) == (404, "alert_not_found")
    assert api.call("POST", "/api/alerts/inc-nope/acknowledge")[0] == 404
    assert api.call("POST", "/api/alerts/incidents/note",
                    body={"incident_id": "inc-nope", "note": "x"})[0] == 404


def test_history_pages_with_limit_and_offset_and_filters(api):
    for n in range(3):
        title = f"flap {n}"
        fire(api, title, severity="critical" if n else "warning")
        resolve(api, title)
    history = api.call("GET", "/api/alerts/history")[1]
    assert [a["message"] for a in history] == ["flap 2", "flap 1", "flap 0"]
    page = api.call("GET", "/api/alerts/history?limit=1&offset=1")[1]
    assert [a["message"] for a in page] == ["flap 1"]
    warnings = api.call("GET", "/api/alerts/history?severity=warning")[1]
    assert [a["message"] for a in warnings] == ["flap 0"]
    later = api.call("GET", "/api/alerts/history?startTime=2999-01-01T00:00:00Z")[1]
    assert later == []


@pytest.mark.parametrize("query", ["limit=-1", "offset=-2", "startTime=yesterday",
                                   "startTime=2024-02-01T00:00:00Z&endTime=2024-01-01T00:00:00Z"])
def test_bad_history_parameters_are_400(api, query):
    assert api.call("GET", f"/api/alerts/history?{query}")[0] == 400


def test_clearing_history_hides_it_but_keeps_the_incidents(api):
    old = fire(api, "old")
    resolve(api, "old")
    status, body = api.call("DELETE", "/api/alerts/history")
    assert (status, body["status"]) == (200, "success")
    assert api.call("GET", "/api/alerts/history")[1] == []
    assert api.call("GET", f"/incidents/{old}")[0] == 200
    time.sleep(0.002)  # a later resolution gets a later millisecond timestamp
    new = fire(api, "new")
    resolve(api, "new")
    assert [a["id"] for a in api.call("GET", "/api/alerts/history")[1]] == [new]


def test_config_roundtrip_changes_how_a_refire_is_handled(api):
    status, config = api.call("GET", "/api/alerts/config")
    assert (status, config["reopen_quiet_period_seconds"]) == (200, 3600)
    first = fire(api, "flappy")
    resolve(api, "flappy")
    assert fire(api, "flappy") == first  # re-fired within the quiet period: reopened
    resolve(api, "flappy")
    status, body = api.call("PUT", "/api/alerts/config",
                            body={"reopen_quiet_period_seconds": 0})
    assert (status, body["success"]) == (200, True)
    assert body["config"]["reopen_quiet_period_seconds"] == 0
    assert body["config"]["correlation_window_seconds"] == 600
    time.sleep(0.002)  # so the re-fire comes strictly after the resolution
    assert fire(api, "flappy") != first  # no quiet period: a new incident


@pytest.mark.parametrize("body", [{"reopen_quiet_period_seconds": -1},
                                  {"correlation_window_seconds": 86401},
                                  {"reopen_quiet_period_seconds": "60"},
                                  {"thresholds": {"cpu": 80}}])
def test_bad_config_is_422(api, body):
    status, answer = api.call("PUT", "/api/alerts/config", body=body)
    assert (status, answer["code"]) == (422, "invalid_payload")


@pytest.mark.parametrize(("method", "path", "scope"), [
    ("GET", "/api/alerts/active", "incidents:read"),
    ("GET", "/api/alerts/history", "incidents:read"),
    ("DELETE", "/api/alerts/history", "incidents:write"),
    ("POST", "/api/alerts/acknowledge", "incidents:write"),
    ("POST", "/api/alerts/bulk/clear", "incidents:write"),
    ("GET", "/api/alerts/config", "settings:read"),
    ("PUT", "/api/alerts/config", "settings:write"),
    ("GET", "/api/advisories", "incidents:read"),
    ("GET", "/api/clusters/c1/issues", "incidents:read"),
])
def test_each_alert_route_needs_its_scope(api, make_key, method, path, scope):
    body = {"id": "inc-x"}
    wrong = make_key("ingest")
    status, answer = api.call(method, path, key=wrong, body=body)
    assert (status, answer["code"]) == (403, "missing_scope")
    assert api.call(method, path, key=None, body=body)[0] == 401
    assert api.call(method, path, key=make_key(scope), body=body)[0] not in (401, 403)


def test_workspaces_do_not_see_each_others_alerts(api, make_key):
    key_a = make_key("ingest", "incidents:read", "incidents:write", workspace="ws-a")
    key_b = make_key("incidents:read", "incidents:write", workspace="ws-b")
    incident = fire(api, "only in a", key=key_a)
    assert api.call("GET", "/api/alerts/active", key=key_b)[1] == []
    assert api.call("POST", f"/api/alerts/{incident}/clear", key=key_b)[0] == 404
    assert api.call("GET", f"/api/alerts/incidents?alert_id={incident}", key=key_b)[0] == 404
    _, body = api.call("POST", "/api/alerts/bulk/acknowledge", key=key_b,
                       body={"alertIds": [incident]})
    assert body["results"][0]["success"] is False
    assert api.call("GET", "/api/alerts/active", key=key_a)[1][0]["acknowledged"] is False


def test_advisories_are_the_active_incidents_most_relevant_first(api):
    warning = fire(api, "Slow disk", severity="warning")
    critical = fire(api, "etcd has one member", cluster="c1")
    status, body = api.call("GET", "/api/advisories")
    assert status == 200
    advisories = body["advisories"]
    assert [a["incident_id"] for a in advisories] == [critical, warning]
    first = advisories[0]
    assert first["id"] == "adv-" + critical.removeprefix("inc-")
    assert (first["severity"], first["relevance"]) == ("critical", 0.95)
    assert first["recommended_action"] is None
    only_c1 = api.call("GET", "/api/advisories?cluster=c1")[1]["advisories"]
    assert [a["incident_id"] for a in only_c1] == [critical]


def test_cluster_issues_are_that_clusters_active_incidents(api):
    mine = fire(api, "Longhorn replicas low", severity="warning", cluster="c-m-abc123")
    fire(api, "elsewhere", cluster="other")
    resolved = fire(api, "gone", cluster="c-m-abc123")
    api.call("POST", f"/api/alerts/{resolved}/clear")
    _, body = api.call("GET", "/api/clusters/c-m-abc123/issues")
    assert [(i["id"], i["severity"], i["title"]) for i in body["issues"]] == [
        (mine, "warning", "Longhorn replicas low")]
    assert body["issues"][0]["detected_at"].endswith("Z")
    assert api.call("GET", "/api/clusters/unknown/issues")[1]["issues"] == []
