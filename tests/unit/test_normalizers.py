"""Normalizers turn real payloads into the fields a responder expects."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import BadRequest, ValidationFailed
from chalicelib.plugins.normalizers import REGISTRY, NormalizeContext, get_normalizer
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
