"""Mutations are audited in a hash chain; the diagnoses consumer is idempotent."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest

from tests.conftest import load_event


def audit_entries() -> list[dict]:
    import boto3

    from chalicelib.adapters.dynamo_codec import from_item
    from chalicelib.config import get_settings

    ddb = boto3.client("dynamodb")
    result = ddb.query(TableName=get_settings().audit_table, IndexName="gsi1",
                       KeyConditionExpression="gsi1pk = :pk",
                       ExpressionAttributeValues={":pk": {"S": "WS#default"}})
    return sorted((from_item(i) for i in result["Items"]), key=lambda e: e["seq"])


def test_every_mutating_request_is_audited_with_who_what_and_outcome(api):
    api.call("POST", "/api/security/tokens", body={"name": "ci", "scopes": ["ingest"]})
    api.call("POST", "/webhook", raw=b"{broken", headers={"X-Source": "webhook"})
    api.call("POST", "/webhook", key="drv_wrong", body={"title": "x"})
    api.call("GET", "/incidents")
    entries = audit_entries()
    assert [(e["action"], e["status_code"], e["outcome"]) for e in entries] == [
        ("POST /api/security/tokens", 201, "success"),
        ("POST /webhook", 400, "error"),
        ("POST /webhook", 401, "denied"),
    ]
    assert entries[0]["actor"] == "apikey:tok-bootstrap:bootstrap-admin"
    assert entries[2]["actor"] == "anonymous"
    assert all(e["timestamp"].endswith("Z") for e in entries)


def test_accepted_alert_deliveries_are_on_timelines_not_in_the_audit_log(api):
    # Machine traffic: the incident timeline records each alert with its sender, so an
    # accepted delivery costs no audit write; refusals and failures are still audited.
    _, body = api.post_alert(load_event("generic_high_cpu.json"), "webhook")
    assert audit_entries() == []
    _, timeline = api.call("GET", f"/incidents/{body['incident_id']}/timeline")
    assert timeline["events"][0]["event_type"] == "alert_received"
    assert timeline["events"][0]["actor"] == "webhook:prometheus"


def test_the_audit_log_is_hash_chained(api):
    from chalicelib.adapters.dynamodb_audit import GENESIS, entry_hash

    for n in range(3):
        api.call("POST", "/api/security/tokens", body={"name": f"k{n}", "scopes": ["ingest"]})
    entries = audit_entries()
    assert entries[0]["prev_hash"] == GENESIS
    for previous, entry in pairwise(entries):
        assert entry["prev_hash"] == previous["hash"]
    keys = {"pk", "sk", "gsi1pk", "gsi1sk"}
    for entry in entries:
        assert entry_hash({k: v for k, v in entry.items() if k not in keys}) == entry["hash"]


def sqs_event(client, *bodies: str) -> dict:
    from chalicelib.config import get_settings

    return client.events.generate_sqs_event(message_bodies=list(bodies),
                                            queue_name=get_settings().diagnoses_queue)


def test_the_consumer_records_diagnosis_requested_once_and_reports_bad_records(api):
    incident = api.post_alert(load_event("generic_high_cpu.json"), "webhook")[1]["incident_id"]
    good = json.dumps({"incident_id": incident, "workspace_id": "default"})
    unknown = json.dumps({"incident_id": "inc-missing", "workspace_id": "default"})
    event = sqs_event(api.client, good, "not json", unknown, good)
    result = api.client.lambda_.invoke("diagnoses_consumer", event).payload
    ids = [r["messageId"] for r in event["Records"]]
    assert result == {"batchItemFailures": [{"itemIdentifier": ids[1]},
                                            {"itemIdentifier": ids[2]}]}
    _, timeline = api.call("GET", f"/incidents/{incident}/timeline")
    kinds = [e["event_type"] for e in timeline["events"]]
    assert kinds.count("diagnosis_requested") == 1
    assert api.call("GET", f"/incidents/{incident}")[1]["incident"]["diagnosis_requested_at"]


def test_a_new_incident_puts_one_diagnosis_request_on_the_queue(api):
    import boto3

    from chalicelib.config import get_settings

    incident = api.post_alert(load_event("generic_high_cpu.json"), "webhook")[1]["incident_id"]
    api.post_alert(load_event("generic_high_cpu.json"), "webhook")
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().diagnoses_queue)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["incident_id"] for m in messages] == [incident]


def test_a_conflicting_transaction_in_the_consumer_is_retried_not_dropped(api, monkeypatch):
    from botocore.exceptions import ClientError

    from chalicelib.adapters.aws import client

    incident = api.post_alert(load_event("generic_high_cpu.json"), "webhook")[1]["incident_id"]
    ddb = client("dynamodb")

    def conflict(**_kwargs):
        raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "x"},
                           "CancellationReasons": [{"Code": "None"},
                                                   {"Code": "TransactionConflict"}]},
                          "TransactWriteItems")

    monkeypatch.setattr(ddb, "transact_write_items", conflict)
    event = sqs_event(api.client, json.dumps({"incident_id": incident,
                                              "workspace_id": "default"}))
    # Every record failed, so the invocation fails and Lambda redelivers the whole batch.
    with pytest.raises(Exception, match="All records failed"):
        api.client.lambda_.invoke("diagnoses_consumer", event)
    monkeypatch.undo()
    _, timeline = api.call("GET", f"/incidents/{incident}/timeline")
    assert "diagnosis_requested" not in [e["event_type"] for e in timeline["events"]]


def test_a_failed_audit_write_starts_a_new_chain_and_auditing_goes_on(api, monkeypatch):
    from botocore.exceptions import ReadTimeoutError

    from chalicelib.adapters.aws import client
    from chalicelib.bootstrap import get_container

    ddb = client("dynamodb")
    real = ddb.put_item
    state = {"failed": False}

    def lands_but_times_out(**kwargs):
        result = real(**kwargs)
        if not state["failed"] and kwargs.get("TableName") == get_container().settings.audit_table:
            state["failed"] = True
            raise ReadTimeoutError(endpoint_url="http://dynamodb")
        return result

    monkeypatch.setattr(ddb, "put_item", lands_but_times_out)
    for n in range(3):
        api.call("POST", "/api/security/tokens", body={"name": f"k{n}", "scopes": ["ingest"]})
    entries = audit_entries()
    assert len(entries) == 3
    assert len({e["chain_id"] for e in entries}) == 2
