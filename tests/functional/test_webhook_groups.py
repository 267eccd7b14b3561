"""Alertmanager groups: every alert of a payload is recorded in order, its claims read in one
batch, and alerts of one fingerprint in one payload see each other."""

from __future__ import annotations

import copy
from collections import Counter

from tests.conftest import load_event


def alert(pod: str, status: str = "firing") -> dict:
    template = load_event("alertmanager_pod_crashlooping.json")["alerts"][0]
    one = copy.deepcopy(template)
    one.update(status=status, fingerprint=f"fp-{pod}")
    one["labels"]["pod"] = pod
    return one


def group(*alerts: dict) -> dict:
    payload = copy.deepcopy(load_event("alertmanager_pod_crashlooping.json"))
    payload["alerts"] = list(alerts)
    return payload


def actions(body: dict) -> list[str]:
    return [i["action"] for i in body["incidents"]]


def count_dynamodb_calls() -> Counter:
    from chalicelib.adapters.aws import client

    calls: Counter = Counter()
    client("dynamodb").meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.update([model.name]))
    return calls


def test_a_group_mixing_known_and_new_alerts_opens_only_the_new_ones(api):
    _, first = api.post_alert(group(alert("a"), alert("b")))
    status, second = api.post_alert(group(alert("a"), alert("c"), alert("b")))
    assert status == 200
    assert actions(second) == ["deduplicated", "created", "deduplicated"]
    opened = {i["fingerprint"]: i["incident_id"] for i in first["incidents"]}
    assert second["incidents"][0]["incident_id"] == opened["fp-a"]
    assert second["incidents"][2]["incident_id"] == opened["fp-b"]
    assert second["incidents"][1]["incident_id"] not in opened.values()


def test_one_fingerprint_twice_in_a_group_opens_one_incident_and_counts_both(api):
    status, body = api.post_alert(group(alert("a"), alert("b"), alert("a")))
    assert status == 200
    assert actions(body) == ["created", "created", "deduplicated"]
    incident_id = body["incidents"][0]["incident_id"]
    assert body["incidents"][2]["incident_id"] == incident_id
    _, detail = api.call("GET", f"/incidents/{incident_id}")
    assert detail["incident"]["alert_count"] == 2


def test_a_firing_then_resolved_alert_in_one_group_opens_then_resolves_its_incident(api):
    status, body = api.post_alert(group(alert("a"), alert("b"), alert("a", "resolved")))
    assert status == 200
    assert actions(body) == ["created", "created", "resolved"]
    incident_id = body["incidents"][0]["incident_id"]
    assert body["incidents"][2]["incident_id"] == incident_id
    _, detail = api.call("GET", f"/incidents/{incident_id}")
    assert detail["incident"]["state"] == "resolved"


def test_a_group_of_duplicates_reads_its_claims_in_one_batch_and_writes_once_each(api):
    pods = [f"p{i}" for i in range(5)]
    api.post_alert(group(*[alert(p) for p in pods]))
    calls = count_dynamodb_calls()
    status, body = api.post_alert(group(*[alert(p) for p in pods]))
    assert status == 200
    assert actions(body) == ["deduplicated"] * 5
    assert calls["BatchGetItem"] == 1
    assert calls["UpdateItem"] == 5
    assert calls["GetItem"] <= 1  # the API key, when its lookup is not cached
