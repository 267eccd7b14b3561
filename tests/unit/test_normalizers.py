"""Normalizers turn real payloads into the fields a responder expects."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import BadRequest, ValidationFailed
from chalicelib.plugins.normalizers import (
    REGISTRY,
    NormalizeContext,
    detect_source,
    get_normalizer,
)
from tests.conftest import load_alert, load_event

CTX = NormalizeContext()

# file, index, title, severity, status, namespace, pod, deployment, fingerprint, starts_at
ALERTMANAGER_CASES = [
    ("alertmanager__kubesphere-kubepodcrashlooping-pod-ns.json", 0, "KubePodCrashLooping",
     "critical", "firing", "pp1", "dd1-0", None, "a4c6c4f7a49ca0ae",
     "2020-02-26T07:05:04.989Z"),
    ("alertmanager__kubesphere-deployment-mismatch-pod-label-is-ksm.json", 0,
     "KubeDeploymentReplicasMismatch", "critical", "firing", "t1", None, "s2i-1-viafnz",
     "eb2c25952544e774", "2020-02-26T07:04:04.989Z"),
    ("alertmanager__kubesphere-kubeletdown-no-namespace.json", 0, "KubeletDown", "critical",
     "firing", None, None, None, "784778fbea8cd7a6", "2020-02-26T07:03:36.952Z"),
    ("alertmanager__msteams-single-firing-no-alert-status.json", 0, "high_memory_load",
     "warning", "firing", None, None, None, None, "2018-03-07T11:33:21.873Z"),
    ("alertmanager__grafana-oncall-example-grouped-2-firing-numfiring.json", 1, "InstanceDown",
     "critical", "firing", None, None, None, "f8f08d4e32c61a9d", "2023-06-12T08:24:38.326Z"),
    ("alertmanager__alerta-legacy-v3-integer-groupkey.json", 0, "failedConnect", "critical",
     "firing", None, None, None, None, "2016-08-01T10:27:08.008Z"),
]


@pytest.mark.parametrize(
    ("name", "index", "title", "severity", "status", "namespace", "pod", "deployment",
     "fingerprint", "starts_at"), ALERTMANAGER_CASES)
def test_alertmanager_payloads_normalize_to_the_expected_fields(
        name: str, index: int, title: str, severity: str, status: str, namespace: str | None,
        pod: str | None, deployment: str | None, fingerprint: str | None,
        starts_at: str) -> None:
    alert = get_normalizer("alertmanager").normalize(load_alert(name), CTX)[index]
    assert (alert.title, alert.severity, alert.status) == (title, severity, status)
    assert (alert.namespace, alert.pod, alert.deployment) == (namespace, pod, deployment)
    assert alert.starts_at == starts_at
    if fingerprint:
        assert alert.fingerprint == fingerprint
    else:
        assert len(alert.fingerprint) == 16


def test_a_grouped_alertmanager_payload_gives_one_alert_per_entry_with_distinct_fingerprints():
    alerts = get_normalizer("alertmanager").normalize(
        load_alert("alertmanager__kubesphere-grouped-8-cputhrottling.json"), CTX)
    assert len(alerts) == 8
    assert len({a.fingerprint for a in alerts}) == 8


def test_alertmanager_fingerprint_without_one_in_the_payload_is_stable_and_label_order_free():
    payload = {"alerts": [{"labels": {"alertname": "X", "instance": "a", "severity": "info"}}]}
    shuffled = {"alerts": [{"labels": {"severity": "info", "instance": "a", "alertname": "X"}}]}
    normalizer = get_normalizer("alertmanager")
    assert (normalizer.normalize(payload, CTX)[0].fingerprint
            == normalizer.normalize(shuffled, CTX)[0].fingerprint)


def test_per_alert_status_wins_over_the_group_status():
    payload = {"status": "firing", "alerts": [
        {"status": "resolved", "labels": {"alertname": "A"}},
        {"labels": {"alertname": "B"}},
    ]}
    alerts = get_normalizer("alertmanager").normalize(payload, CTX)
    assert [a.status for a in alerts] == ["resolved", "firing"]


def test_relative_generator_url_is_joined_with_the_external_url():
    payload = load_event("alertmanager_pod_crashlooping.json")
    alert = get_normalizer("alertmanager").normalize(payload, CTX)[0]
    assert alert.generator_url == "http://alertmanager.example:9093/graph?g0.expr=up"


def test_cluster_comes_from_the_label_else_from_the_delivery():
    payload = {"alerts": [{"labels": {"alertname": "A", "cluster": "prod-east"}},
                          {"labels": {"alertname": "B"}}]}
    alerts = get_normalizer("alertmanager").normalize(payload, NormalizeContext(cluster="c2"))
    assert [a.cluster for a in alerts] == ["prod-east", "c2"]
    assert alerts[0].dedup_key != alerts[1].dedup_key


@pytest.mark.parametrize("payload", [
    {"alerts": []},
    {"alerts": "nope"},
    {"alerts": [{"annotations": {}}]},
    {"title": "generic, not alertmanager"},
    [1, 2, 3],
])
def test_alertmanager_payload_of_the_wrong_shape_is_a_validation_error(payload: object):
    with pytest.raises(ValidationFailed) as err:
        get_normalizer("alertmanager").normalize(payload, CTX)
    assert err.value.status == 422
    assert "alertmanager" in err.value.message


def test_generic_payload_from_seed_004_normalizes():
    alert = get_normalizer("webhook").normalize(load_event("generic_high_cpu.json"), CTX)[0]
    assert alert.title == "High CPU on payments-api"
    assert alert.severity == "critical"
    assert alert.source == "prometheus"
    assert (alert.namespace, alert.deployment, alert.service) == (
        "production", "payments-api", "payments-api")


def test_generic_fingerprint_ignores_the_pod_when_a_workload_is_named():
    first = load_event("generic_high_cpu.json")
    restarted = {**first, "pod": "payments-api-7d8f9c6b5-zzzzz"}
    normalizer = get_normalizer("webhook")
    assert (normalizer.normalize(first, CTX)[0].fingerprint
            == normalizer.normalize(restarted, CTX)[0].fingerprint)


@pytest.mark.parametrize(("given", "expected"), [
    ("CRITICAL", "critical"), ("error", "high"), ("warn", "warning"), ("low", "info"),
    ("P2", "high"), ("banana", "unknown"), (None, "unknown"),
])
def test_generic_severity_map(given: str | None, expected: str):
    payload = {"title": "t", "severity": given}
    assert get_normalizer("webhook").normalize(payload, CTX)[0].severity == expected


@pytest.mark.parametrize(("given", "expected"), [
    ("resolved", "resolved"), ("OK", "resolved"), ("firing", "firing"), (None, "firing"),
])
def test_generic_status_map(given: str | None, expected: str):
    payload = {"title": "t", "status": given}
    assert get_normalizer("webhook").normalize(payload, CTX)[0].status == expected


@pytest.mark.parametrize("payload", [{}, {"title": ""}, {"title": 5}, "text", None])
def test_generic_payload_without_a_title_is_a_validation_error(payload: object):
    with pytest.raises(ValidationFailed):
        get_normalizer("webhook").normalize(payload, CTX)


def test_unknown_source_names_the_supported_ones():
    with pytest.raises(BadRequest) as err:
        get_normalizer("nagios")
    assert "alertmanager" in err.value.message and "webhook" in err.value.message


def test_every_registered_normalizer_declares_its_maps_and_fingerprint_fields():
    for name, normalizer in REGISTRY.items():
        assert normalizer.NAME == name
        assert set(normalizer.SEVERITY_MAP.values()) <= {
            "critical", "high", "warning", "info", "unknown"}
        assert set(normalizer.STATUS_MAP.values()) <= {"firing", "resolved"}
        assert normalizer.FINGERPRINT_FIELDS


def test_generic_sets_the_workload_from_the_deployment_and_leaves_the_cluster_to_dedup_key():
    payload = load_event("generic_high_cpu.json")
    normalizer = get_normalizer("webhook")
    east = normalizer.normalize({**payload, "cluster": "east"}, CTX)[0]
    west = normalizer.normalize({**payload, "cluster": "west"}, CTX)[0]
    assert (east.workload, east.workload_kind) == ("payments-api", "deployment")
    assert east.fingerprint == west.fingerprint
    assert east.dedup_key != west.dedup_key


# --- PagerDuty ------------------------------------------------------------------------

SEED_PD = {"event": {"event_type": "incident.triggered", "data": {
    "id": "PD12345", "title": "Database connection pool exhausted", "urgency": "high",
    "service": {"summary": "auth-service"}}}}


def pd(event_type: str, **data: object) -> dict:
    return {"event": {**SEED_PD["event"], "id": "ev-1", "event_type": event_type,
                      "data": {**SEED_PD["event"]["data"], **data}}}


def test_pagerduty_seed_004_example():
    result = get_normalizer("pagerduty").read(SEED_PD, CTX)
    alert = result.alerts[0]
    assert (alert.title, alert.severity, alert.status, alert.service, alert.fingerprint) == (
        "Database connection pool exhausted", "high", "firing", "auth-service", "PD12345")
    assert result.delivery_id is None


@pytest.mark.parametrize(("event_type", "data", "status", "acknowledged"), [
    ("incident.acknowledged", {"status": "acknowledged"}, "firing", True),
    ("incident.unacknowledged", {"status": "triggered"}, "firing", False),
    ("incident.escalated", {"status": "acknowledged"}, "firing", True),
    ("incident.reassigned", {}, "firing", False),
    ("incident.resolved", {"status": "resolved"}, "resolved", False),
])
def test_pagerduty_lifecycle(event_type: str, data: dict, status: str, acknowledged: bool):
    alert = get_normalizer("pagerduty").normalize(pd(event_type, **data), CTX)[0]
    assert (alert.status, alert.acknowledged, alert.fingerprint) == (
        status, acknowledged, "PD12345")


@pytest.mark.parametrize(("priority", "urgency", "severity"), [
    ("P1", "low", "critical"), ("P2", "high", "high"), ("P3", "high", "warning"),
    ("P5", "high", "info"), (None, "low", "info"), ("Custom", "high", "high"),
])
def test_pagerduty_priority_ladder_then_urgency(priority: str | None, urgency: str,
                                                severity: str):
    payload = pd("incident.triggered", urgency=urgency,
                 priority={"summary": priority} if priority else None)
    assert get_normalizer("pagerduty").normalize(payload, CTX)[0].severity == severity


def test_pagerduty_sub_resource_events_and_v2_messages():
    note = {"event": {"id": "e", "event_type": "incident.annotated", "resource_type": "incident",
                      "data": {"type": "incident_note", "id": "N1", "content": "hi",
                               "incident": {"id": "PD12345", "type": "incident_reference"}}}}
    assert get_normalizer("pagerduty").read(note, CTX).kind == "ignore"
    v2 = {"messages": [{"id": "m1", "event": "incident.resolve", "incident": {
        "id": "PX", "incident_number": 7, "title": "old", "status": "resolved",
        "urgency": "low", "service": {"name": "svc"}}}]}
    result = get_normalizer("pagerduty").read(v2, CTX)
    assert result.delivery_id == "m1"
    assert (result.alerts[0].status, result.alerts[0].service) == ("resolved", "svc")


# --- Opsgenie -------------------------------------------------------------------------

def opsgenie(action: str, **alert: object) -> dict:
    return {"action": action, "integrationName": "Drover", "source": {"name": "", "type": "web"},
            "alert": {"alertId": "a7c5-11", "message": "DB down", "tags": ["db", "prod"],
                      "tinyId": "42", "entity": "db-1", "alias": "db-down-prod",
                      "createdAt": 1512568823542, "username": "ann", "priority": "P2",
                      "details": {"namespace": "shop", "deployment": "db"}, **alert}}


@pytest.mark.parametrize(("action", "status", "acknowledged"), [
    ("Create", "firing", False), ("Acknowledge", "firing", True),
    ("UnAcknowledge", "firing", False), ("Close", "resolved", False),
])
def test_opsgenie_state_actions(action: str, status: str, acknowledged: bool):
    alert = get_normalizer("opsgenie").normalize(opsgenie(action), CTX)[0]
    assert (alert.status, alert.acknowledged, alert.fingerprint) == (
        status, acknowledged, "db-down-prod")
    assert (alert.title, alert.severity, alert.external_id) == ("DB down", "high", "a7c5-11")
    assert (alert.namespace, alert.workload, alert.starts_at) == (
        "shop", "db", "2017-12-06T14:00:23.542Z")


def test_opsgenie_note_is_a_control_message_and_alias_falls_back_to_the_alert_id():
    note = get_normalizer("opsgenie").read(opsgenie("AddNote", note="looking"), CTX)
    assert (note.kind, note.control["note"], note.alerts) == ("control", "looking", ())
    bare = get_normalizer("opsgenie").normalize(opsgenie("Create", alias=None, priority=4), CTX)
    assert (bare[0].fingerprint, bare[0].severity) == ("a7c5-11", "info")
    missing = get_normalizer("opsgenie").normalize(opsgenie("Create", priority=None), CTX)
    assert missing[0].severity == "unknown"


# --- New Relic workflows, Grafana legacy states, Kubernetes events --------------------

def test_new_relic_workflow_issue():
    payload = {"id": "c2f4-issue", "issueUrl": "https://one.newrelic.com/i/1",
               "title": ["CPU high on cart"], "priority": "MEDIUM", "state": "ACKNOWLEDGED",
               "createdAt": 1700000000000, "alertPolicyNames": ["Golden"],
               "accumulations": {"tag.k8s.namespaceName": ["shop"], "tag.k8s.podName": ["c-1"]}}
    assert detect_source(payload) == "newrelic"
    alert = get_normalizer("newrelic").normalize(payload, CTX)[0]
    assert (alert.title, alert.severity, alert.status, alert.acknowledged) == (
        "CPU high on cart", "warning", "firing", True)
    assert (alert.namespace, alert.pod, alert.external_id) == ("shop", "c-1", "c2f4-issue")
    closed = get_normalizer("newrelic").normalize({**payload, "state": "CLOSED"}, CTX)[0]
    assert (closed.status, closed.fingerprint) == ("resolved", alert.fingerprint)


@pytest.mark.parametrize("state", ["no_data", "paused", "pending"])
def test_grafana_legacy_states_without_a_transition_are_ignored(state: str):
    result = get_normalizer("grafana").read({"ruleId": 1, "ruleName": "r", "state": state}, CTX)
    assert (result.kind, result.alerts) == ("ignore", ())
    assert state.replace("_", " ") in result.reason.replace("_", " ")


def test_kubernetes_events_v1_and_repeats():
    event = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "reason": "BackOff",
             "note": "Back-off restarting", "type": "Warning", "deprecatedCount": 3,
             "regarding": {"kind": "Deployment", "name": "cart", "namespace": "shop"},
             "eventTime": "2024-01-01T00:00:00.000001Z", "metadata": {"uid": "u1"}}
    normalizer = get_normalizer("k8s-event")
    first = normalizer.normalize(event, CTX)[0]
    repeat = normalizer.normalize({**event, "deprecatedCount": 9, "metadata": {"uid": "u2"}},
                                  CTX)[0]
    assert (first.title, first.severity, first.status) == (
        "BackOff: Deployment/cart", "warning", "firing")
    assert (first.workload, first.workload_kind, first.deployment, first.pod) == (
        "cart", "deployment", "cart", None)
    assert first.fingerprint == repeat.fingerprint
    assert first.starts_at == "2024-01-01T00:00:00.000Z"


# --- robustness ------------------------------------------------------------------------

WRONG = [None, [], "x", 0, 1.5, True, {}, {"alerts": "x"}, {"alerts": [None]},
         {"event": None}, {"event": {"event_type": 5}}, {"Type": "Notification", "Message": 5},
         {"Records": []}, {"Records": [{"Sns": "x"}]}, {"action": "Create", "alert": []},
         {"title": {"a": 1}}, {"AlarmName": [], "NewStateValue": "ALARM"},
         {"involvedObject": "pod", "reason": "x"}, {"incident_id": None},
         {"ruleName": "r", "state": None}, {"title": "t", "tags": {"a": 1}},
         {"alerts": [{"labels": {"a": {"b": [1, None]}}}], "externalURL": 3},
         {"kind": "EventList", "items": "x"}, {"type": "ADDED", "object": {"kind": "Event"}}]


@pytest.mark.parametrize("name", sorted(REGISTRY))
@pytest.mark.parametrize("payload", WRONG)
def test_wrong_shapes_give_a_422_or_a_classified_result_never_a_crash(name: str,
                                                                      payload: object):
    try:
        result = REGISTRY[name].read(payload, CTX)
    except ValidationFailed as err:
        assert (err.status, err.code) == (422, "invalid_payload")
    else:
        assert result.kind in ("alerts", "control", "ignore")


@pytest.mark.parametrize("payload", [*WRONG, {"Records": "x"}, {"messages": [1]},
                                     {"alerts": [1], "orgId": []}, {"object": 1}])
def test_detect_source_is_total(payload: object):
    assert detect_source(payload) in REGISTRY
