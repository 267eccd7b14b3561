"""DynamoDB throttling and transient errors on the alert write path and on incident changes:
a fault that passes is absorbed by retries; one that lasts is a 503 that says to retry; and
after it clears, the re-sent alert is one incident with the right alert count."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.conftest import load_event
from tests.faults.injection import (
    THROTTLING_REASONS,
    AwsFault,
    before_the_call,
    no_backoff,
    on_the_wire,
)
from tests.functional.conftest import Api

BOTOCORE_ATTEMPTS = 5  # chalicelib.adapters.aws: 4 retries ("max_attempts": 4) after the first


@pytest.fixture
def ddb(api: Api, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Drover's DynamoDB client, retrying without sleeping."""
    from chalicelib.adapters.aws import client

    no_backoff(monkeypatch)
    return client("dynamodb")


def alert() -> dict[str, Any]:
    return load_event("generic_high_cpu.json")


def incidents(api: Api) -> list[dict[str, Any]]:
    status, body = api.call("GET", "/incidents?limit=100")
    assert status == 200, body
    return list(body["incidents"])


def only_incident(api: Api) -> dict[str, Any]:
    found = incidents(api)
    assert len(found) == 1, found
    return found[0]


def timeline_kinds(api: Api, incident_id: str) -> Counter:
    status, body = api.call("GET", f"/incidents/{incident_id}/timeline")
    assert status == 200, body
    return Counter(e["event_type"] for e in body["events"])


def assert_clear_503(status: int, body: dict[str, Any]) -> None:
    """A 503 in the API's error shape that tells the caller to retry, with no internals."""
    assert status == 503, body
    assert set(body) >= {"error", "detail", "code"}
    assert "retry" in body["error"].lower()
    assert "Traceback" not in str(body) and "botocore" not in str(body)


# --- the alert write path ---------------------------------------------------------------------
@pytest.mark.parametrize(("operation", "code", "status"), [
    ("GetItem", "ProvisionedThroughputExceededException", 400),
    ("TransactWriteItems", "ThrottlingException", 400),
    ("TransactWriteItems", "InternalServerError", 500),
])
def test_a_passing_fault_on_a_new_alert_is_retried_and_opens_one_incident(
        api: Api, ddb: Any, operation: str, code: str, status: int) -> None:
    with on_the_wire(ddb, AwsFault(operation, code, times=2, status=status)) as fault:
        got, body = api.post_alert(alert(), "webhook")
    assert got == 200, body
    assert fault.served == 2
    assert body["deduplicated"] is False
    incident = only_incident(api)
    assert incident["alert_count"] == 1
    kinds = timeline_kinds(api, incident["id"])
    assert (kinds["incident_created"], kinds["alert_received"]) == (1, 1)


def test_a_passing_fault_on_a_duplicate_is_retried_and_counted_once(api: Api, ddb: Any) -> None:
    api.post_alert(alert(), "webhook")
    fault = AwsFault("UpdateItem", "ProvisionedThroughputExceededException", times=2)
    with on_the_wire(ddb, fault):
        got, body = api.post_alert(alert(), "webhook")
    assert (got, body["deduplicated"]) == (200, True)
    assert fault.served == 2
    assert only_incident(api)["alert_count"] == 2


def test_a_transaction_cancelled_for_throttling_is_tried_again_and_opens_one_incident(
        api: Api, ddb: Any) -> None:
    # botocore does not retry a cancelled transaction (a 400); the repository does.
    fault = AwsFault("TransactWriteItems", "TransactionCanceledException", times=2,
                     extra={"CancellationReasons": THROTTLING_REASONS})
    with on_the_wire(ddb, fault):
        got, body = api.post_alert(alert(), "webhook")
    assert got == 200, body
    assert fault.served == 2
    incident = only_incident(api)
    assert incident["alert_count"] == 1
    assert timeline_kinds(api, incident["id"])["incident_created"] == 1


def test_throttling_that_outlasts_the_retries_is_a_503_and_the_resend_counts_once(
        api: Api, ddb: Any) -> None:
    fault = AwsFault("TransactWriteItems", "ProvisionedThroughputExceededException", times=99)
    with on_the_wire(ddb, fault):
        status, body = api.post_alert(alert(), "webhook")
    assert_clear_503(status, body)
    assert body["code"] == "dependency_unavailable"
    assert fault.served == BOTOCORE_ATTEMPTS
    assert incidents(api) == []
    got, body = api.post_alert(alert(), "webhook")
    assert (got, body["deduplicated"]) == (200, False)
    assert only_incident(api)["alert_count"] == 1


def test_a_duplicate_refused_by_throttling_is_not_counted_and_its_resend_is(
        api: Api, ddb: Any) -> None:
    api.post_alert(alert(), "webhook")
    fault = AwsFault("UpdateItem", "ThrottlingException", times=99)
    with on_the_wire(ddb, fault):
        status, body = api.post_alert(alert(), "webhook")
    assert_clear_503(status, body)
    assert only_incident(api)["alert_count"] == 1
    assert api.post_alert(alert(), "webhook")[0] == 200
    assert only_incident(api)["alert_count"] == 2


def test_cancellations_that_outlast_the_retries_are_a_503_naming_the_reason(
        api: Api, ddb: Any) -> None:
    fault = AwsFault("TransactWriteItems", "TransactionCanceledException", times=99,
                     extra={"CancellationReasons": THROTTLING_REASONS})
    with on_the_wire(ddb, fault):
        status, body = api.post_alert(alert(), "webhook")
    assert_clear_503(status, body)
    assert "ThrottlingError" in body["error"]
    assert incidents(api) == []
    assert api.post_alert(alert(), "webhook")[0] == 200
    assert only_incident(api)["alert_count"] == 1


def test_a_failed_delivery_is_dead_lettered_once_and_its_resend_is_not(
        api: Api, ddb: Any) -> None:
    fault = AwsFault("TransactWriteItems", "InternalServerError", times=99, status=500)
    with on_the_wire(ddb, fault):
        assert api.post_alert(alert(), "webhook")[0] == 503
    assert api.post_alert(alert(), "webhook")[0] == 200
    _, dead = api.call("GET", "/webhook/dead-letter")
    assert dead["count"] == 1
    assert "InternalServerError" in dead["entries"][0]["error"]


# --- changes made by people -------------------------------------------------------------------
def acknowledge(api: Api, incident_id: str) -> tuple[int, Any]:
    return api.call("POST", "/api/alerts/acknowledge", body={"alertIdentifier": incident_id})


def clear(api: Api, incident_id: str) -> tuple[int, Any]:
    return api.call("POST", "/api/alerts/clear", body={"alertIdentifier": incident_id})


def test_an_acknowledgement_through_passing_throttling_lands_once(api: Api, ddb: Any) -> None:
    incident = api.post_alert(alert(), "webhook")[1]["incident_id"]
    fault = AwsFault("TransactWriteItems", "ThrottlingException", times=2)
    with on_the_wire(ddb, fault):
        status, body = acknowledge(api, incident)
    assert (status, body["state"]) == (200, "acknowledged"), body
    assert fault.served == 2
    assert timeline_kinds(api, incident)["incident_acknowledged"] == 1


def test_an_acknowledgement_cancelled_for_throttling_is_a_503_and_its_retry_lands_once(
        api: Api, ddb: Any) -> None:
    incident = api.post_alert(alert(), "webhook")[1]["incident_id"]
    fault = AwsFault("TransactWriteItems", "TransactionCanceledException", times=99,
                     extra={"CancellationReasons": THROTTLING_REASONS})
    with on_the_wire(ddb, fault):
        status, body = acknowledge(api, incident)
    assert_clear_503(status, body)
    assert only_incident(api)["state"] == "open"
    status, body = acknowledge(api, incident)
    assert (status, body["state"]) == (200, "acknowledged"), body
    assert timeline_kinds(api, incident)["incident_acknowledged"] == 1


def test_a_resolve_that_fails_leaves_the_incident_open_for_its_alerts(api: Api,
                                                                      ddb: Any) -> None:
    incident = api.post_alert(alert(), "webhook")[1]["incident_id"]
    fault = AwsFault("TransactWriteItems", "InternalServerError", status=500)
    with before_the_call(ddb, fault):
        status, body = clear(api, incident)
    assert_clear_503(status, body)
    # Still open, and its fingerprint still leads to it: the next alert is counted there.
    again = api.post_alert(alert(), "webhook")[1]
    assert (again["incident_id"], again["deduplicated"]) == (incident, True)
    status, body = clear(api, incident)
    assert (status, body["state"]) == (200, "resolved"), body
    assert only_incident(api)["alert_count"] == 2
    assert timeline_kinds(api, incident)["incident_resolved"] == 1
