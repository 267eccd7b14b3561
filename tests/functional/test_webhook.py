"""Alerts posted to /webhook become deduplicated incidents; bad input writes nothing."""

from __future__ import annotations

import copy
import json

import pytest

from chalicelib.domain.clock import now_iso
from tests.conftest import load_alert, load_event


def crashloop(status: str = "firing", starts_at: str | None = None) -> dict:
    payload = copy.deepcopy(load_event("alertmanager_pod_crashlooping.json"))
    payload["status"] = status
    payload["alerts"][0]["status"] = status
    if starts_at:
        payload["alerts"][0]["startsAt"] = starts_at
    return payload


def incident_count(api) -> int:
    return api.call("GET", "/incidents?limit=100")[1]["count"]


def test_an_alertmanager_alert_opens_an_incident_in_seed_004s_response_shape(api):
    status, body = api.post_alert(crashloop())
    assert status == 200
    assert body["ok"] is True
    assert body["incident_id"].startswith("inc-")
    assert body["deduplicated"] is False
    assert body["dedup_strategy"] is None
    assert body["group_id"] is None
    assert body["incidents"] == [{
        "incident_id": body["incident_id"], "action": "created", "fingerprint": "abc123",
        "status": "firing", "title": "PodCrashLooping", "deduplicated": False,
        "dedup_strategy": None, "reason": None, "parent_id": None,
        "correlation_reason": None, "previous_incident_id": None}]


def test_the_same_alert_again_maps_to_the_same_incident(api):
    first = api.post_alert(crashloop())[1]
    again = api.post_alert(crashloop())[1]
    assert again["incident_id"] == first["incident_id"]
    assert again["deduplicated"] is True
    assert again["dedup_strategy"] == "fingerprint"
    _, detail = api.call("GET", f"/incidents/{first['incident_id']}")
    assert detail["incident"]["alert_count"] == 2
    assert incident_count(api) == 1


def test_a_resolved_alert_resolves_its_incident_and_a_re_fire_reopens_it(api):
    opened = api.post_alert(crashloop())[1]["incident_id"]
    status, body = api.post_alert(crashloop("resolved"))
    assert status == 200
    assert body["incident_id"] == opened
    assert body["incidents"][0]["action"] == "resolved"
    _, detail = api.call("GET", f"/incidents/{opened}")
    assert detail["incident"]["state"] == "resolved"
    assert detail["incident"]["resolved_at"].endswith("Z")
    assert detail["metrics"]["resolution_time_minutes"] is not None
    replayed = api.post_alert(crashloop())[1]  # the old episode's notification, again
    assert replayed["incidents"][0]["action"] == "ignored"
    assert "before its incident was resolved" in replayed["incidents"][0]["reason"]
    reopened = api.post_alert(crashloop(starts_at=now_iso()))[1]
    assert reopened["incident_id"] == opened
    assert reopened["incidents"][0]["action"] == "reopened"
    _, detail = api.call("GET", f"/incidents/{opened}")
    assert detail["incident"]["state"] == "open"
    assert detail["incident"]["reopened_count"] == 1


def test_a_resolved_alert_with_nothing_open_is_acknowledged_and_writes_nothing(api):
    status, body = api.post_alert(crashloop("resolved"))
    assert status == 200
    assert body["incident_id"] is None
    assert body["incidents"][0]["action"] == "ignored"
    assert incident_count(api) == 0


def test_a_grouped_payload_gives_one_entry_per_alert(api):
    payload = load_alert("alertmanager__kubesphere-grouped-8-cputhrottling.json")
    status, body = api.post_alert(payload)
    assert status == 200
    assert body["count"] == 8
    assert len({i["incident_id"] for i in body["incidents"]}) == 8
    assert body["incident_id"] == body["incidents"][0]["incident_id"]


def test_a_generic_webhook_alert_keeps_seed_004s_fields(api):
    _, body = api.post_alert(load_event("generic_high_cpu.json"), source="webhook")
    _, detail = api.call("GET", f"/incidents/{body['incident_id']}")
    incident = detail["incident"]
    assert incident["source"] == "prometheus"
    assert (incident["namespace"], incident["deployment"], incident["pod"]) == (
        "production", "payments-api", "payments-api-7d8f9c6b5-x2k4m")
    assert incident["created_at"].endswith("Z")
    assert detail["metrics"] == {"time_to_first_response_minutes": None,
                                 "resolution_time_minutes": None, "actions_taken": 0}
    assert detail["actions"] == []


def test_the_source_can_be_chosen_with_a_query_parameter(api):
    status, body = api.call("POST", "/webhook?source=alertmanager", body=crashloop())
    assert status == 200
    assert body["incidents"][0]["fingerprint"] == "abc123"


def test_the_same_alert_from_two_clusters_is_two_incidents(api):
    a = api.post_alert(crashloop(), **{"X-Cluster-Id": "prod-east"})[1]
    b = api.post_alert(crashloop(), **{"X-Cluster-Id": "prod-west"})[1]
    assert a["incident_id"] != b["incident_id"]


@pytest.mark.parametrize(("raw", "headers", "status", "code"), [
    (b"{not json", {"X-Source": "alertmanager"}, 400, "invalid_json"),
    (b"", {"X-Source": "alertmanager"}, 400, "empty_body"),
    (json.dumps({"title": "x"}).encode(), {"X-Source": "nagios"}, 400, "unknown_source"),
    (json.dumps({"alerts": "nope"}).encode(), {"X-Source": "alertmanager"}, 422,
     "invalid_payload"),
    (json.dumps({"description": "no title"}).encode(), {"X-Source": "webhook"}, 422,
     "invalid_payload"),
    (b'{"title": "' + b"x" * (1024 * 1024) + b'"}', {"X-Source": "webhook"}, 413,
     "payload_too_large"),
])
def test_bad_input_is_a_clear_4xx_and_writes_nothing(api, raw, headers, status, code):
    got, body = api.call("POST", "/webhook", raw=raw, headers=headers)
    assert (got, body["code"]) == (status, code)
    assert body["error"] == body["detail"] and len(body["error"]) > 10
    assert incident_count(api) == 0


def test_dynamodb_failure_is_a_503_and_leaves_no_half_written_incident(api, monkeypatch):
    from botocore.exceptions import ClientError

    from chalicelib.adapters.aws import client

    def throttled(**_kwargs):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                     "Message": "slow down"}}, "TransactWriteItems")

    monkeypatch.setattr(client("dynamodb"), "transact_write_items", throttled)
    status, body = api.post_alert(crashloop())
    assert (status, body["code"]) == (503, "dependency_unavailable")
    assert "retry" in body["error"]
    monkeypatch.undo()
    assert incident_count(api) == 0


def test_sqs_failure_is_a_503_and_the_retried_delivery_requests_the_diagnosis(api, monkeypatch):
    from botocore.exceptions import ClientError

    from chalicelib.adapters.aws import client

    sqs = client("sqs")
    sent: list[int] = []
    real_send = sqs.send_message_batch

    def unavailable(**_kwargs):
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}},
                          "SendMessageBatch")

    monkeypatch.setattr(sqs, "send_message_batch", unavailable)
    status, body = api.post_alert(crashloop())
    assert (status, body["code"]) == (503, "queue_unavailable")

    def counting(**kwargs):
        sent.append(len(kwargs["Entries"]))
        return real_send(**kwargs)

    monkeypatch.setattr(sqs, "send_message_batch", counting)
    status, body = api.post_alert(crashloop())
    assert status == 200 and body["deduplicated"] is True
    assert sent == [1]
    api.post_alert(crashloop())
    assert sent == [1], "once queued, duplicates do not ask again"


def test_chalices_own_errors_use_the_api_error_shape(api):
    status, body = api.call("PUT", "/incidents")
    assert (status, body["code"]) == (405, "method_not_allowed")
    assert body["error"] == body["detail"]
    status, body = api.call("POST", "/webhook", raw=b"<xml/>",
                            headers={"Content-Type": "application/xml"})
    assert (status, body["code"]) == (415, "unsupported_media_type")


@pytest.mark.parametrize(("raw", "status"), [
    (b"[" * 200000, 400),
    (b'{"title": "t", "starts_at": NaN}', 400),
    (b'{"title": "t", "starts_at": 1e30}', 200),
    (b'{"title": "t", "starts_at": "9999-12-31T23:59:59-05:00"}', 200),
    (b'{"title": "t", "fingerprint": "' + b"f" * 3000 + b'"}', 422),
    (b'{"title": "t", "labels": {"big": "' + b"x" * 70000 + b'"}}', 422),
])
def test_odd_json_gets_a_clear_answer_never_a_500(api, raw, status):
    got, body = api.call("POST", "/webhook", raw=raw, headers={"X-Source": "webhook"})
    assert got == status, body
    if status >= 400:
        assert body["code"] and body["error"]


def test_an_oversized_cluster_header_is_a_400(api):
    status, body = api.post_alert(crashloop(), **{"X-Cluster-Id": "c" * 300})
    assert (status, body["code"]) == (400, "bad_cluster")
    assert incident_count(api) == 0


def test_a_transaction_conflict_is_retried_not_mistaken_for_done(api, monkeypatch):
    from botocore.exceptions import ClientError

    from chalicelib.adapters.aws import client

    ddb = client("dynamodb")
    real = ddb.transact_write_items
    calls = {"n": 0}

    def conflict_once(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "x"},
                               "CancellationReasons": [{"Code": "TransactionConflict"}]},
                              "TransactWriteItems")
        return real(**kwargs)

    monkeypatch.setattr(ddb, "transact_write_items", conflict_once)
    status, body = api.post_alert(crashloop())
    assert status == 200 and body["incidents"][0]["action"] == "created"
    assert calls["n"] == 2
