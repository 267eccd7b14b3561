"""The diagnoses queue under faults: redelivered requests diagnose once, a failure part way
through is redelivered and finishes the job, poison messages (and only they) end in the
dead-letter queue, and an LLM that times out or talks nonsense costs neither the diagnosis
nor a redelivery. (There is no consumer of the scans queue yet.)"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from tests.conftest import load_event
from tests.fake_llm import FakeOpenAIServer
from tests.faults.injection import AwsFault, before_the_call
from tests.functional.conftest import Api


def new_incident(api: Api, title: str = "High CPU on payments-api") -> str:
    payload = {**load_event("generic_high_cpu.json"), "title": title}
    status, body = api.post_alert(payload, "webhook")
    assert status == 200, body
    return str(body["incident_id"])


def request_for(incident_id: str) -> str:
    return json.dumps({"incident_id": incident_id, "workspace_id": "default",
                       "requested_at": "2026-01-01T00:00:00.000Z"})


def consume(api: Api, *bodies: str) -> tuple[list[str], dict[str, Any]]:
    """Invoke the consumer on one batch; the message ids and the records Lambda redelivers
    (all of them when the whole batch failed and the invocation raised)."""
    from chalicelib.config import get_settings

    event = api.client.events.generate_sqs_event(message_bodies=list(bodies),
                                                 queue_name=get_settings().diagnoses_queue)
    ids = [r["messageId"] for r in event["Records"]]
    try:
        return ids, api.client.lambda_.invoke("diagnoses_consumer", event).payload
    except Exception as exc:
        assert "All records failed" in str(exc), exc
        return ids, {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}


def kinds(api: Api, incident_id: str) -> Counter:
    _, body = api.call("GET", f"/incidents/{incident_id}/timeline")
    return Counter(e["event_type"] for e in body["events"])


def stored_diagnoses(incident_id: str) -> int:
    """How many diagnoses are kept in the incident's item collection."""
    import boto3

    from chalicelib.adapters.dynamodb_incident_items import incident_pk
    from chalicelib.config import get_settings

    found = boto3.client("dynamodb").query(
        TableName=get_settings().incidents_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :diag)",
        ExpressionAttributeValues={":pk": {"S": incident_pk("default", incident_id)},
                                   ":diag": {"S": "DIAG#"}})
    return int(found["Count"])


# --- redelivery ---------------------------------------------------------------------------------
def test_the_same_request_twice_in_one_batch_is_diagnosed_once(api: Api) -> None:
    incident = new_incident(api)
    _, result = consume(api, request_for(incident), request_for(incident))
    assert result == {"batchItemFailures": []}
    found = kinds(api, incident)
    assert (found["diagnosis_started"], found["diagnosis_completed"]) == (1, 1)
    assert stored_diagnoses(incident) == 1


def test_a_request_that_failed_before_its_diagnosis_was_stored_is_redelivered_and_done_once(
        api: Api) -> None:
    from chalicelib.adapters.aws import client

    incident = new_incident(api)
    # The consumer's second transaction stores the diagnosis: it fails past every retry.
    fault = AwsFault("TransactWriteItems", "ProvisionedThroughputExceededException", after=1)
    with before_the_call(client("dynamodb"), fault):
        ids, result = consume(api, request_for(incident))
    assert fault.served == 1
    assert result == {"batchItemFailures": [{"itemIdentifier": ids[0]}]}
    assert stored_diagnoses(incident) == 0
    _, result = consume(api, request_for(incident))  # the redelivery
    assert result == {"batchItemFailures": []}
    found = kinds(api, incident)
    assert (found["diagnosis_requested"], found["diagnosis_completed"]) == (1, 1)
    assert stored_diagnoses(incident) == 1


def test_a_request_that_failed_after_its_diagnosis_was_stored_completes_on_redelivery(
        api: Api) -> None:
    from chalicelib.adapters.aws import client

    incident = new_incident(api)
    # The third transaction records the stored diagnosis on the incident and its timeline.
    fault = AwsFault("TransactWriteItems", "InternalServerError", status=500, after=2)
    with before_the_call(client("dynamodb"), fault):
        ids, result = consume(api, request_for(incident))
    assert result == {"batchItemFailures": [{"itemIdentifier": ids[0]}]}
    assert consume(api, request_for(incident))[1] == {"batchItemFailures": []}
    assert kinds(api, incident)["diagnosis_completed"] == 1
    assert stored_diagnoses(incident) == 1
    _, detail = api.call("GET", f"/incidents/{incident}")
    _, diagnosis = api.call("GET", f"/incidents/{incident}/diagnosis")
    assert detail["incident"]["diagnosis_id"] == diagnosis["diagnosis_id"]


# --- poison messages and the dead-letter queue ----------------------------------------------------
def drain(max_polls: int = 20) -> None:
    """Feed the diagnoses queue to its consumer as Lambda's event source mapping does, failed
    records visible again at once, until the queue is empty."""
    import boto3

    from chalicelib.config import get_settings
    from chalicelib.events.diagnoses import consume_diagnoses
    from infra.local.sqs_poller import SqsPoller

    poller = SqsPoller(boto3.client("sqs"), get_settings().diagnoses_queue, consume_diagnoses,
                       function_name="diagnoses_consumer", retry_delay_seconds=0)
    for _ in range(max_polls):
        if poller.poll_once() == 0:
            return
    raise AssertionError(f"the queue was not drained in {max_polls} polls")


def dead_letters() -> list[dict[str, Any]]:
    import boto3

    from chalicelib.config import get_settings

    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=f"{get_settings().diagnoses_queue}-dlq")["QueueUrl"]
    return list(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                    AttributeNames=["All"]).get("Messages", []))


def test_only_the_poison_messages_of_a_mixed_batch_end_in_the_dead_letter_queue(
        api: Api) -> None:
    import boto3

    from chalicelib.config import get_settings

    good = [new_incident(api, f"alert {n}") for n in range(2)]
    drain()  # the requests ingest queued
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().diagnoses_queue)["QueueUrl"]
    ghost = json.dumps({"incident_id": "inc-ghost", "workspace_id": "default"})
    bodies = [request_for(good[0]), "not json", ghost, request_for(good[1])]
    sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies)])
    drain()
    dead = dead_letters()
    assert sorted(m["Body"] for m in dead) == sorted(["not json", ghost])
    assert all(int(m["Attributes"]["ApproximateReceiveCount"]) >= 3 for m in dead)
    for incident in good:
        assert kinds(api, incident)["diagnosis_completed"] == 1


# --- the LLM ------------------------------------------------------------------------------------
def use_llm(server: FakeOpenAIServer) -> None:
    from chalicelib.bootstrap import get_container

    get_container().llm_settings.update("default", {
        "provider": "openai", "base_url": server.url, "api_key": "sk-test", "model": "m",
        "max_retries": 0, "timeout_seconds": 0.5})


@pytest.mark.parametrize(("fault", "why"), [
    (lambda s: setattr(s, "delay_seconds", 2), "llm_timeout"),
    (lambda s: setattr(s, "answer", '```json\n{"category": "OOMKilled", "summ'),
     "not a valid diagnosis"),
    (lambda s: s.fail_next(3, 503), "llm_error"),
], ids=["timeout", "garbage", "unavailable"])
def test_a_failing_llm_leaves_the_builtin_diagnosis_and_the_message_is_not_retried(
        api: Api, fault: Any, why: str) -> None:
    incident = new_incident(api)
    with FakeOpenAIServer() as llm:
        use_llm(llm)
        fault(llm)
        first = consume(api, request_for(incident))[1]
        again = consume(api, request_for(incident))[1]  # a redelivery changes nothing
        asked = len(llm.requests)
    assert first == again == {"batchItemFailures": []}
    assert asked == 1
    _, diagnosis = api.call("GET", f"/incidents/{incident}/diagnosis")
    assert diagnosis["provider"] == "builtin"
    assert any("could not be used" in w and why in w for w in diagnosis["warnings"]), \
        diagnosis["warnings"]
    assert kinds(api, incident)["diagnosis_completed"] == 1
    assert stored_diagnoses(incident) == 1
