"""Incident lifecycle through /webhook: reopen or supersede, replays, acknowledgement,
correlation, dead letters and the write budget per alert."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest

from chalicelib.domain.clock import now_iso
from tests.conftest import load_alert, load_event

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


def generic(title: str, **fields: Any) -> dict:
    payload = copy.deepcopy(load_event("generic_high_cpu.json"))
    payload.update(title=title, **fields)
    return payload


def set_policy(**policy: Any) -> None:
    from chalicelib.bootstrap import get_container

    container = get_container()
    container.workspace_settings.put("default", "alerts_config", policy)
    container.ingest.forget_policy("default")


def count_dynamodb_calls() -> Counter:
    from chalicelib.adapters.aws import client

    calls: Counter = Counter()
    client("dynamodb").meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.update([model.name]))
    return calls


def test_a_re_fire_after_the_quiet_period_opens_a_new_incident_linked_to_the_old(api):
    set_policy(reopen_quiet_period_seconds=0)
    first = api.post_alert(generic("disk full"), "webhook")[1]["incident_id"]
    api.post_alert(generic("disk full", status="resolved"), "webhook")
    second = api.post_alert(generic("disk full"), "webhook")[1]
    assert second["incident_id"] != first
    assert second["incidents"][0]["previous_incident_id"] == first
    _, timeline = api.call("GET", f"/incidents/{second['incident_id']}/timeline")
    created = next(e for e in timeline["events"] if e["event_type"] == "incident_created")
    assert created["payload"]["previous_incident_id"] == first
    assert "after the 0 s quiet period" in created["payload"]["reason"]


def test_a_re_fire_within_the_quiet_period_reopens_and_says_so_on_the_timeline(api):
    opened = api.post_alert(generic("disk full"), "webhook")[1]["incident_id"]
    api.post_alert(generic("disk full", status="resolved"), "webhook")
    again = api.post_alert(generic("disk full"), "webhook")[1]
    assert (again["incident_id"], again["incidents"][0]["action"]) == (opened, "reopened")
    _, timeline = api.call("GET", f"/incidents/{opened}/timeline")
    types = [e["event_type"] for e in timeline["events"]]
    assert types[-2:] == ["alert_received", "incident_reopened"]
    assert "within the 3600 s quiet period" in timeline["events"][-1]["payload"]["reason"]


def test_replaying_a_resolve_changes_nothing(api):
    opened = api.post_alert(generic("disk full"), "webhook")[1]["incident_id"]
    api.post_alert(generic("disk full", status="resolved"), "webhook")
    _, before = api.call("GET", f"/incidents/{opened}/timeline")
    replay = api.post_alert(generic("disk full", status="resolved"), "webhook")[1]
    assert replay["incidents"][0]["action"] == "ignored"
    assert replay["incidents"][0]["reason"] == "the incident is already resolved"
    _, after = api.call("GET", f"/incidents/{opened}/timeline")
    assert after["count"] == before["count"]


def test_alerts_for_one_service_within_the_window_join_a_parent_incident(api):
    parent = api.post_alert(generic("latency high", service="checkout"), "webhook")[1]
    child = api.post_alert(generic("error rate high", service="checkout"), "webhook")[1]
    other = api.post_alert(generic("error rate high", service="search"), "webhook")[1]
    assert parent["group_id"] is None
    assert child["group_id"] == parent["incident_id"]
    assert child["incidents"][0]["correlation_reason"] == "same_service_within_window"
    assert other["group_id"] is None
    _, detail = api.call("GET", f"/incidents/{child['incident_id']}")
    assert detail["incident"]["parent_id"] == parent["incident_id"]
    _, group = api.call("GET", f"/incidents/{parent['incident_id']}/group")
    assert group["is_parent"] is True
    assert [(c["incident_id"], c["correlation_reason"]) for c in group["children"]] == [
        (child["incident_id"], "same_service_within_window")]


def test_correlation_ends_with_its_window(api):
    set_policy(correlation_window_seconds=0)
    api.post_alert(generic("latency high", service="checkout"), "webhook")
    later = api.post_alert(generic("error rate high", service="checkout"), "webhook")[1]
    assert later["group_id"] is None


def test_an_acknowledged_pagerduty_incident_acknowledges_the_local_one(api):
    payload = load_alert("pagerduty__v3-incident-priority-updated-docs.json")
    opened = api.call("POST", "/webhook/pagerduty", body=payload)[1]["local_incident_id"]
    acked = copy.deepcopy(payload)
    acked["event"].update(event_type="incident.acknowledged", id="evt-ack")
    status, body = api.call("POST", "/webhook/pagerduty", body=acked)
    assert (status, body["action_taken"]) == (200, "acknowledged")
    _, detail = api.call("GET", f"/incidents/{opened}")
    assert detail["incident"]["state"] == "acknowledged"
    resolved = copy.deepcopy(payload)
    resolved["event"].update(event_type="incident.resolved", id="evt-resolve")
    assert api.call("POST", "/webhook/pagerduty", body=resolved)[1]["action_taken"] == \
        "resolved"


def test_a_redelivered_pagerduty_webhook_is_recognised_by_its_id(api):
    payload = load_alert("pagerduty__v3-incident-priority-updated-docs.json")
    headers = {"X-Webhook-Id": "whk-1"}
    first = api.call("POST", "/webhook/pagerduty", body=payload, headers=headers)[1]
    again = api.call("POST", "/webhook/pagerduty", body=payload, headers=headers)[1]
    assert first["action_taken"] == "created"
    assert (again["action_taken"], again["replayed"]) == ("replayed", True)
    _, detail = api.call("GET", f"/incidents/{first['local_incident_id']}")
    assert detail["incident"]["alert_count"] == 1


def test_pagerduty_service_events_are_acknowledged_without_an_incident(api):
    payload = load_alert("pagerduty__v3-service-updated-non-incident-docs.json")
    status, body = api.call("POST", "/webhook/pagerduty", body=payload)
    assert (status, body["kind"], body["local_incident_id"]) == (200, "control", None)
    assert api.call("GET", "/incidents")[1]["count"] == 0


def test_a_payload_that_fails_after_retries_lands_in_the_dead_letter_store(api):
    from botocore.exceptions import ClientError

    from chalicelib.adapters.aws import client

    def throttle(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                     "Message": "slow down"}}, "TransactWriteItems")

    ddb = client("dynamodb")
    ddb.meta.events.register("before-call.dynamodb.TransactWriteItems", throttle)
    status, body = api.post_alert(generic("will fail"), "webhook")
    ddb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", throttle)
    assert status == 503
    assert body["code"] == "dependency_unavailable"
    _, dead = api.call("GET", "/webhook/dead-letter")
    assert dead["count"] == 1
    entry = dead["entries"][0]
    assert (entry["source"], entry["payload"]["title"]) == ("webhook", "will fail")
    assert "DynamoDB" in entry["error"]
    assert entry["timestamp"].endswith("Z")
    # The sender's retry goes through: nothing was lost.
    assert api.post_alert(generic("will fail"), "webhook")[0] == 200


def test_bad_input_is_refused_and_not_dead_lettered(api):
    assert api.post_alert({"no": "title"}, "webhook")[0] == 422
    assert api.call("GET", "/webhook/dead-letter")[1]["count"] == 0


@pytest.mark.parametrize("limit", ["0", "1001", "x"])
def test_dead_letter_limits_are_checked(api, limit):
    assert api.call("GET", f"/webhook/dead-letter?limit={limit}")[0] == 400


def test_a_new_alert_costs_two_writes_and_a_duplicate_one(api):
    api.post_alert(generic("warm up"), "webhook")  # key lookup and policy caches
    calls = count_dynamodb_calls()
    api.post_alert(generic("budget"), "webhook")
    new = sum(n for op, n in calls.items() if op in WRITES)
    calls.clear()
    api.post_alert(generic("budget"), "webhook")
    duplicate = sum(n for op, n in calls.items() if op in WRITES)
    assert (new, duplicate) == (2, 1)
    assert "Scan" not in calls


def test_the_source_is_recognised_from_the_payload_when_no_header_names_it(api):
    status, body = api.call("POST", "/webhook",
                            body=load_alert("alertmanager__kubesphere-kubejobfailed.json"))
    assert (status, body["source"]) == (200, "alertmanager")
    status, body = api.call(
        "POST", "/webhook?source=grafana",
        body=load_alert("grafana__legacy-alerting-evalmatches-alerta.json"))
    assert (status, body["source"]) == (200, "grafana")


def test_a_control_message_creates_no_incident(api):
    payload = load_alert("aws-sns__subscription-confirmation-awsdocs.json")
    status, body = api.call("POST", "/webhook", body=payload)
    assert (status, body["kind"], body["incident_id"]) == (200, "control", None)
    assert api.call("GET", "/incidents")[1]["count"] == 0


def test_alertmanager_basic_auth_carries_the_key_as_password(api):
    import base64

    from tests.functional.conftest import ADMIN_KEY

    basic = base64.b64encode(f"alertmanager:{ADMIN_KEY}".encode()).decode()
    status, _ = api.call("POST", "/webhook?source=alertmanager", key=None,
                         body=load_alert("alertmanager__kubesphere-kubejobfailed.json"),
                         headers={"Authorization": f"Basic {basic}"})
    assert status == 200
    wrong = base64.b64encode(b"alertmanager:drv_wrong").decode()
    status, _ = api.call("POST", "/webhook?source=alertmanager", key=None,
                         body=load_alert("alertmanager__kubesphere-kubejobfailed.json"),
                         headers={"Authorization": f"Basic {wrong}"})
    assert status == 401


def test_deploy_events_are_listed_and_correlated_with_a_later_incident(api):
    status, deploy = api.call("POST", "/webhook/deploy", body={
        "service": "payments-api", "namespace": "production", "image": "payments-api:v2",
        "actor": "ci-bot", "commit_sha": "abc123"})
    assert status == 200
    assert deploy["deploy_id"].startswith("deploy-")
    assert deploy["stored"]["timestamp"].endswith("Z")
    _, recent = api.call("GET", "/webhook/deploy/recent")
    assert [d["deploy_id"] for d in recent["deploys"]] == [deploy["deploy_id"]]
    incident = api.post_alert(generic("5xx on payments", service="payments-api",
                                      starts_at=now_iso()), "webhook")[1]["incident_id"]
    _, correlation = api.call("GET", f"/incidents/{incident}/deploy-correlation")
    assert correlation["has_correlation"] is True
    assert correlation["correlated_deploy"]["deploy_id"] == deploy["deploy_id"]
    assert correlation["correlated_deploy"]["actor"] == "ci-bot"


def test_a_deploy_without_a_service_is_refused(api):
    assert api.call("POST", "/webhook/deploy", body={"image": "x"})[0] == 422
