"""Incidents are read back per workspace, newest first, through keys and indexes only."""

from __future__ import annotations

import copy

import pytest

from tests.conftest import load_event


def alert(title: str) -> dict:
    payload = copy.deepcopy(load_event("generic_high_cpu.json"))
    payload["title"] = title
    return payload


def test_incidents_are_listed_newest_first_and_paged_by_cursor(api):
    ids = [api.post_alert(alert(f"alert {n}"), "webhook")[1]["incident_id"] for n in range(5)]
    _, first = api.call("GET", "/incidents?limit=2")
    assert [i["id"] for i in first["incidents"]] == ids[::-1][:2]
    assert first["next_cursor"]
    _, second = api.call("GET", f"/incidents?limit=2&cursor={first['next_cursor']}")
    assert [i["id"] for i in second["incidents"]] == ids[::-1][2:4]


def test_incidents_can_be_filtered_by_state(api):
    open_id = api.post_alert(alert("stays open"), "webhook")[1]["incident_id"]
    closed = alert("gets resolved")
    closed_id = api.post_alert(closed, "webhook")[1]["incident_id"]
    api.post_alert({**closed, "status": "resolved"}, "webhook")
    _, resolved = api.call("GET", "/incidents?state=resolved")
    _, still_open = api.call("GET", "/incidents?state=open")
    assert [i["id"] for i in resolved["incidents"]] == [closed_id]
    assert [i["id"] for i in still_open["incidents"]] == [open_id]


@pytest.mark.parametrize("query", ["state=closed", "limit=0", "limit=101", "limit=ten",
                                   "cursor=garbage!"])
def test_bad_list_parameters_are_400(api, query):
    status, body = api.call("GET", f"/incidents?{query}")
    assert status == 400
    assert body["code"] in ("bad_parameter", "bad_cursor")


def test_an_unknown_incident_is_404(api):
    status, body = api.call("GET", "/incidents/inc-nope")
    assert (status, body["code"]) == (404, "incident_not_found")
    assert api.call("GET", "/incidents/inc-nope/timeline")[0] == 404


def test_workspaces_are_isolated(api, make_key):
    key_a = make_key("ingest", "incidents:read", workspace="ws-a")
    key_b = make_key("ingest", "incidents:read", workspace="ws-b")
    incident = api.post_alert(alert("only in a"), "webhook", key=key_a)[1]["incident_id"]
    assert api.call("GET", f"/incidents/{incident}", key=key_a)[0] == 200
    assert api.call("GET", f"/incidents/{incident}", key=key_b)[0] == 404
    assert api.call("GET", "/incidents", key=key_b)[1]["count"] == 0
    status, body = api.call("GET", "/incidents", key=key_b,
                            headers={"X-Workspace-Id": "ws-a"})
    assert (status, body["code"]) == (403, "wrong_workspace")
    assert api.call("GET", "/incidents?workspace_id=ws-a", key=key_b)[0] == 403
    # An all-workspace admin chooses with the header or the seed's workspace_id filter.
    assert api.call("GET", "/incidents?workspace_id=ws-a")[1]["count"] == 1
    assert api.call("GET", "/incidents", headers={"X-Workspace-Id": "ws-b"})[1]["count"] == 0


def test_the_same_alert_in_two_workspaces_is_two_incidents(api):
    a = api.post_alert(alert("shared"), "webhook", **{"X-Workspace-Id": "ws-a"})[1]
    b = api.post_alert(alert("shared"), "webhook", **{"X-Workspace-Id": "ws-b"})[1]
    assert a["incident_id"] != b["incident_id"]


def test_the_timeline_tells_the_story_in_order(api):
    payload = alert("story")
    incident = api.post_alert(payload, "webhook")[1]["incident_id"]
    api.post_alert({**payload, "status": "resolved"}, "webhook")
    status, body = api.call("GET", f"/incidents/{incident}/timeline")
    assert status == 200
    assert [e["event_type"] for e in body["events"]] == [
        "alert_received", "incident_created", "alert_received", "incident_resolved"]
    assert body["events"][0]["actor"] == "webhook:prometheus"
    assert body["events"][0]["payload"]["severity"] == "critical"
    assert body["count"] == 4


def test_no_request_path_scans_a_table(api, make_key):
    from chalicelib.adapters.aws import client

    operations: list[str] = []
    client("dynamodb").meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: operations.append(model.name))
    reader = make_key("incidents:read")
    payload = alert("no scans")
    incident = api.post_alert(payload, "webhook")[1]["incident_id"]
    api.post_alert(payload, "webhook")
    api.post_alert({**payload, "status": "resolved"}, "webhook")
    api.call("GET", "/incidents?state=resolved", key=reader)
    api.call("GET", f"/incidents/{incident}", key=reader)
    api.call("GET", f"/incidents/{incident}/timeline", key=reader)
    api.call("GET", "/api/security/tokens")
    assert operations, "the hook saw no DynamoDB calls"
    assert "Scan" not in operations
