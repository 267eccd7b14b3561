"""Every payload of the shared eval corpus normalizes to what its INDEX.md says."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bench import eval_alerts
from chalicelib.plugins.normalizers import REGISTRY, NormalizeContext, detect_source
from chalicelib.plugins.normalizers.base import Normalized
from tests.conftest import EVAL, load_alert

CTX = NormalizeContext()
CORPUS = EVAL / "alerts"
HASH = "#"  # the fingerprint is derived (a 16-hex hash), the payload carries none

# file -> (source, kind, alert count, first alert's title, severity, status, namespace, pod,
#          fingerprint, starts_at, delivery_id)
EXPECTED: dict[str, tuple[Any, ...]] = {
    "alertmanager__alerta-legacy-v3-integer-groupkey.json": (
        "alertmanager", "alerts", 1, "failedConnect", "critical", "firing", None, None, HASH,
        "2016-08-01T10:27:08.008Z", None),
    "alertmanager__alerta-v4-no-fingerprint-severity-in-annotations.json": (
        "alertmanager", "alerts", 1, "thing_dead", "critical", "firing", None, None, HASH,
        "2017-08-03T19:17:37.804Z", None),
    "alertmanager__grafana-oncall-example-grouped-2-firing-numfiring.json": (
        "alertmanager", "alerts", 2, "InstanceDown", "critical", "firing", None, None,
        "f404ecabc8dd5cd7", "2023-06-12T08:24:38.326Z", None),
    "alertmanager__grafana-oncall-legacy-example-empty-commonlabels.json": (
        "alertmanager", "alerts", 1, "TestAlert", "critical", "firing", None, None, HASH,
        "2018-12-25T15:47:47.377Z", None),
    "alertmanager__kubesphere-deployment-mismatch-pod-label-is-ksm.json": (
        "alertmanager", "alerts", 1, "KubeDeploymentReplicasMismatch", "critical", "firing",
        "t1", None, "eb2c25952544e774", "2020-02-26T07:04:04.989Z", None),
    "alertmanager__kubesphere-grouped-2-kubepodnotready.json": (
        "alertmanager", "alerts", 2, "KubePodNotReady", "critical", "firing", "t1",
        "s2i-1-viafnz-5474c8b5b7-px7kz", "6362d3bf47e6c5a5", "2020-02-26T07:04:04.989Z", None),
    "alertmanager__kubesphere-grouped-8-cputhrottling.json": (
        "alertmanager", "alerts", 8, "CPUThrottlingHigh", "warning", "firing", "kube-system",
        "calico-kube-controllers-67f5689d7-sqg89", "83fb3d34d52108b0",
        "2020-03-21T05:45:44.782Z", None),
    "alertmanager__kubesphere-kubejobfailed.json": (
        "alertmanager", "alerts", 1, "KubeJobFailed", "warning", "firing", "demo-project", None,
        "3c8dec50ef8cf6fd", "2020-02-26T07:04:04.989Z", None),
    "alertmanager__kubesphere-kubeletdown-no-namespace.json": (
        "alertmanager", "alerts", 1, "KubeletDown", "critical", "firing", None, None,
        "784778fbea8cd7a6", "2020-02-26T07:03:36.952Z", None),
    "alertmanager__kubesphere-kubepodcrashlooping-pod-ns.json": (
        "alertmanager", "alerts", 1, "KubePodCrashLooping", "critical", "firing", "pp1",
        "dd1-0", "a4c6c4f7a49ca0ae", "2020-02-26T07:05:04.989Z", None),
    "alertmanager__msteams-grouped-3-firing-info.json": (
        "alertmanager", "alerts", 3, "JustATestAlert_1", "info", "firing",
        "whatever/promstack", None, "ff6a7a0f5f1c1309", "2020-10-11T14:34:11.279Z", None),
    "alertmanager__msteams-single-firing-no-alert-status.json": (
        "alertmanager", "alerts", 1, "high_memory_load", "warning", "firing", None, None, HASH,
        "2018-03-07T11:33:21.873Z", None),
    "aws-cloudwatch__alarm-message-metric-math-aws-lambda-go.json": (
        "cloudwatch", "alerts", 1, "EXAMPLE", "unknown", "firing", None, None,
        "arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE", "2015-06-03T17:43:27.123Z",
        None),
    "aws-cloudwatch__alarm-message-single-metric-aws-lambda-go.json": (
        "cloudwatch", "alerts", 1, "EXAMPLE", "unknown", "firing", None, None,
        "arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE", "2015-06-03T17:43:27.123Z",
        None),
    "aws-sns__notification-cloudwatch-alarm-alerta.json": (
        "sns", "alerts", 1, "bucketbytesAlarm", "unknown", "firing", None, None, HASH,
        "2019-02-15T23:53:45.093Z", "e288882d-4281-5be4-8fde-dccc11c8cb01"),
    "aws-sns__notification-cloudwatch-alarm-ec2-cpu-spaceone.json": (
        "sns", "alerts", 1, "EC2-CPU", "unknown", "firing", None, None,
        "arn:aws:cloudwatch:ap-northeast-2:257706363616:alarm:EC2-CPU",
        "2021-06-23T08:41:06.622Z", "e7c82e01-7cd8-5569-9ac1-774d893afc01"),
    "aws-sns__notification-cloudwatch-insufficient-data-alerta.json": (
        "sns", "ignore", 0, None, None, None, None, None, None, None,
        "3a6a339c-60fc-5718-875e-66cf50fbf89a"),
    "aws-sns__notification-cloudwatch-ok-containerinsights-anomaly-spaceone.json": (
        "sns", "alerts", 1, "ContainerInsight-pod_cpu_utilization", "unknown", "resolved", None,
        None, "arn:aws:cloudwatch:ap-northeast-2:257706363616:alarm:"
        "ContainerInsight-pod_cpu_utilization", "2021-06-27T13:53:39.351Z",
        "448b4055-f4e5-5887-a547-190771c6686b"),
    "aws-sns__notification-hello-world-awsdocs.json": (
        "sns", "alerts", 1, "My First Message", "unknown", "firing", None, None, HASH,
        "2012-05-02T00:54:06.655Z", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"),
    "aws-sns__subscription-confirmation-alerta.json": (
        "sns", "control", 0, None, None, None, None, None, None, None,
        "8a14e4f3-f3ab-4be0-a12f-681ee8fe214f"),
    "aws-sns__subscription-confirmation-awsdocs.json": (
        "sns", "control", 0, None, None, None, None, None, None, None,
        "165545c9-2a5c-472c-8df2-7ff2be2b3b1b"),
    "aws-sns__unsubscribe-confirmation-awsdocs.json": (
        "sns", "control", 0, None, None, None, None, None, None, None,
        "47138184-6831-46b8-8f7c-afc488602d7d"),
    "datadog__default-payload-rendered-test-notification-relay.json": (
        "datadog", "alerts", 1, "[Triggered] [TEST] Host Cluster Alert", "unknown", "firing",
        None, None, HASH, "2020-06-03T20:43:05.000Z", "5485379890863845239"),
    "datadog__keep-rendered-log-alert-recovered-p2.json": (
        "datadog", "alerts", 1, "[P2] [Recovered] Unauthorized access to API", "high",
        "resolved", None, None, HASH, "2024-12-11T15:24:39.000Z", "7879718351573282995"),
    "datadog__keep-rendered-log-alert-recovered-same-monitor-group.json": (
        "datadog", "alerts", 1, "[Recovered on {service:keep-api-feature-unique-id}] Error "
        "monitor", "info", "resolved", None, None, HASH, "2024-12-11T15:29:34.000Z",
        "7879723300958553556"),
    "datadog__keep-rendered-log-alert-triggered-by-service.json": (
        "datadog", "alerts", 1, "[Triggered on {service:keep-api-feature-unique-id}] Error "
        "monitor", "high", "firing", None, None, HASH, "2024-12-11T15:24:34.000Z",
        "7879718271367299818"),
    "datadog__keep-rendered-log-alert-triggered-db-scope.json": (
        "datadog", "alerts", 1, "[Triggered on {database_id:keephq-sandbox:keep}] Somethine "
        "weird in DB", "high", "firing", None, None, HASH, "2024-12-11T15:15:35.000Z",
        "7879709234193994156"),
    "datadog__keep-rendered-log-alert-triggered-p2.json": (
        "datadog", "alerts", 1, "[P2] [Triggered] Unauthorized access to API keep-api", "high",
        "firing", None, None, HASH, "2024-12-11T15:25:38.000Z", "7879719351243698466"),
    "datadog__keep-rendered-log-alert-warn-p2.json": (
        "datadog", "alerts", 1, "[P2] [Warn] Unauthorized access to API keep-api", "high",
        "firing", None, None, HASH, "2024-12-11T15:19:38.000Z", "7879713311244615328"),
    "datadog__template-keep-provider-PLACEHOLDERS.json": (
        "datadog", "ignore", 0, None, None, None, None, None, None, None, None),
    "grafana__legacy-alerting-evalmatches-alerta.json": (
        "grafana", "alerts", 1, "[Alerting] CPU alert", "unknown", "firing", None, None, HASH,
        None, None),
    "grafana__legacy-ok-alerta.json": (
        "grafana", "alerts", 1, "[OK] CPU alert", "unknown", "resolved", None, None, HASH, None,
        None),
    "grafana__legacy-v6-alerting-rule-tags-alerta.json": (
        "grafana", "alerts", 1, "[Alerting] TEST -> Battery Voltage alert", "warning", "firing",
        None, None, HASH, None, None),
    "grafana__unified-default-payload-template-grafana-alerting-test.json": (
        "grafana", "alerts", 1, "alert1", "unknown", "firing", None, None, "fac0861a85de433a",
        None, None),
    "grafana__unified-v12-test-alert-relative-generatorurl-keep.json": (
        "grafana", "alerts", 1, "TestAlert", "unknown", "firing", None, None,
        "c4edaaf9f9f839b0", "2026-05-05T13:04:57.622Z", None),
    "k8s-event__normal-killing-kind-cluster-kspan.json": (
        "k8s-event", "alerts", 1, "Killing: Pod/hello-world-7ff854f459-kl4hq", "info", "firing",
        "default", "hello-world-7ff854f459-kl4hq", HASH, "2020-11-27T12:04:06.000Z",
        "bb189ee2-1d61-4ab5-ad75-bb72f088ec6b/649454"),
    "newrelic__legacy-v1-channel-incident-open-alerta.json": (
        "newrelic", "alerts", 1, "New Relic Alert - Test Condition", "info", "firing", None,
        None, HASH, "2020-09-25T11:23:27.849Z", None),
    "pagerduty__v3-incident-priority-updated-docs.json": (
        "pagerduty", "alerts", 1, "A little bump in the road", "critical", "firing", None, None,
        "PGR0VU2", "2020-04-09T15:16:27.000Z", "5ac64822-4adc-4fda-ade0-410becf0de4f"),
    "pagerduty__v3-service-updated-non-incident-docs.json": (
        "pagerduty", "control", 0, None, None, None, None, None, None, None,
        "01BRB6ZP4M6T8ZG4X6BP63ZB9O"),
    "pagerduty__v3-signed-incident-priority-updated-go-pagerduty.json": (
        "pagerduty", "alerts", 1, "A little bump in the road", "critical", "firing", None, None,
        "PGR0VU2", "2021-04-26T17:36:27.458Z", "01BWDWL3NYY7LUFPZCC28QUCMK"),
}
PREFIX_SOURCE = {"aws-sns": "sns", "aws-cloudwatch": "cloudwatch"}


def corpus_files() -> list[str]:
    return sorted(p.name for p in CORPUS.glob("*.json")) if CORPUS.is_dir() else []


def read(name: str) -> Normalized:
    """Normalize a corpus file the way an unlabelled delivery would be: by its shape."""
    payload = load_alert(name)
    return REGISTRY[detect_source(payload)].read(payload, CTX)


def test_every_corpus_file_has_an_expectation():
    if not CORPUS.is_dir():
        pytest.skip("eval corpus not beside the repository")
    assert set(corpus_files()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_normalizes_as_the_index_says(name: str):
    (source, kind, count, title, severity, status, namespace, pod, fingerprint, starts_at,
     delivery_id) = EXPECTED[name]
    assert detect_source(load_alert(name)) == source
    result = read(name)
    assert (result.kind, len(result.alerts), result.delivery_id) == (kind, count, delivery_id)
    if kind != "alerts":
        assert result.reason
        return
    alert = result.alerts[0]
    assert (alert.title, alert.severity, alert.status) == (title, severity, status)
    assert (alert.namespace, alert.pod, alert.starts_at) == (namespace, pod, starts_at)
    if fingerprint == HASH:
        assert re.fullmatch(r"[0-9a-f]{16}", alert.fingerprint)
    else:
        assert alert.fingerprint == fingerprint
    assert alert.ends_at is None or alert.status == "resolved"


@pytest.mark.parametrize("name", corpus_files())
def test_detect_source_reads_the_shape_the_file_name_announces(name: str):
    prefix = name.split("__", 1)[0]
    assert detect_source(load_alert(name)) == PREFIX_SOURCE.get(prefix, prefix)


def test_the_kube_state_metrics_pod_is_not_the_subject():
    job = read("alertmanager__kubesphere-kubejobfailed.json").alerts[0]
    assert (job.pod, job.workload, job.workload_kind) == (None, "dddd", "job")
    mismatch = read("alertmanager__kubesphere-deployment-mismatch-pod-label-is-ksm.json")
    assert (mismatch.alerts[0].pod, mismatch.alerts[0].deployment) == (None, "s2i-1-viafnz")


def test_grafana_relative_generator_url_is_joined_with_the_external_url():
    alert = read("grafana__unified-v12-test-alert-relative-generatorurl-keep.json").alerts[0]
    assert alert.generator_url == "https://grafana.example.com/?orgId=1"
    assert alert.labels["grafana_folder"] == "Test Folder"


def test_grafana_legacy_ok_resolves_the_alerting_rule_and_rule_tags_win():
    alerting = read("grafana__legacy-alerting-evalmatches-alerta.json").alerts[0]
    ok = read("grafana__legacy-ok-alerta.json").alerts[0]
    assert alerting.fingerprint == ok.fingerprint
    assert alerting.labels["instance"] == "zeta.domain"
    v6 = read("grafana__legacy-v6-alerting-rule-tags-alerta.json").alerts[0]
    assert (v6.service, v6.severity) == ("Physical", "warning")


def test_cloudwatch_metric_namespace_is_never_the_kubernetes_namespace():
    ec2 = read("aws-sns__notification-cloudwatch-alarm-ec2-cpu-spaceone.json").alerts[0]
    assert (ec2.namespace, ec2.pod, ec2.cluster) == (None, None, None)
    assert ec2.labels["metric_namespace"] == "AWS/EC2"
    assert ec2.labels["dimension.InstanceId"] == "i-0f672ea50a80cda4b"
    insights = read(
        "aws-sns__notification-cloudwatch-ok-containerinsights-anomaly-spaceone.json").alerts[0]
    assert (insights.namespace, insights.pod) == (None, None)
    assert insights.cluster == "cloudone-dev-v1-eks-cluster"
    assert insights.labels["metric_namespace"] == "ContainerInsights"
    assert insights.ends_at == "2021-06-27T13:53:39.351Z"


def test_cloudwatch_dimensions_name_kubernetes_objects_only_under_container_insights():
    alarm = load_alert("aws-cloudwatch__alarm-message-single-metric-aws-lambda-go.json")
    dims = [{"name": "ClusterName", "value": "eks-1"}, {"name": "Namespace", "value": "shop"},
            {"name": "PodName", "value": "cart"}]
    other = {**alarm, "Trigger": {**alarm["Trigger"], "Dimensions": dims}}
    insights = {**alarm, "Trigger": {**other["Trigger"], "Namespace": "ContainerInsights"}}
    plain = REGISTRY["cloudwatch"].normalize(other, CTX)[0]
    assert (plain.cluster, plain.namespace, plain.pod) == (None, None, None)
    k8s = REGISTRY["cloudwatch"].normalize(insights, CTX)[0]
    assert (k8s.cluster, k8s.namespace, k8s.pod) == ("eks-1", "shop", "cart")


def test_cloudwatch_without_an_arn_keys_on_name_account_and_region():
    alarm = json.loads(load_alert("aws-sns__notification-cloudwatch-alarm-alerta.json")["Message"])
    first = REGISTRY["cloudwatch"].normalize(alarm, CTX)[0]
    elsewhere = REGISTRY["cloudwatch"].normalize({**alarm, "Region": "US East"}, CTX)[0]
    later = REGISTRY["cloudwatch"].normalize({**alarm, "StateChangeTime": "2020-01-01"}, CTX)[0]
    assert first.fingerprint == later.fingerprint != elsewhere.fingerprint
    assert first.labels["aws_account_id"] == "1234567890"


def test_sns_plain_text_message_is_one_generic_alert():
    result = read("aws-sns__notification-hello-world-awsdocs.json")
    alert = result.alerts[0]
    assert (alert.integration, alert.description) == ("sns", "Hello world!")
    envelope = load_alert("aws-sns__notification-hello-world-awsdocs.json")
    for message in ("{not json", "[1, 2]", "null", "", "first line\nsecond"):
        got = REGISTRY["sns"].read({**envelope, "Subject": None, "Message": message}, CTX)
        assert got.kind == "alerts" and got.alerts[0].title


def test_sns_confirmation_is_a_control_message_with_what_confirming_needs():
    result = read("aws-sns__subscription-confirmation-awsdocs.json")
    assert result.control == {
        "type": "SubscriptionConfirmation",
        "topic_arn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
        "subscribe_url": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&"
        "TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37...",
        "token": "2336412f37...", "message_id": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b"}


def test_sns_lambda_event_and_http_envelope_give_the_same_cloudwatch_alert():
    envelope = load_alert("aws-sns__notification-cloudwatch-alarm-ec2-cpu-spaceone.json")
    direct = REGISTRY["sns"].read(envelope, CTX)
    event = {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": envelope}]}
    assert detect_source(event) == "sns"
    via_lambda = REGISTRY["sns"].read(event, CTX)
    assert via_lambda == direct
    assert direct.alerts[0].integration == "cloudwatch"
    bare = json.loads(envelope["Message"])
    assert REGISTRY["cloudwatch"].normalize(bare, CTX)[0].dedup_key == (
        direct.alerts[0].dedup_key)


def test_sns_delegates_any_recognised_json_message():
    envelope = load_alert("aws-sns__notification-hello-world-awsdocs.json")
    inner = load_alert("alertmanager__kubesphere-kubepodcrashlooping-pod-ns.json")
    result = REGISTRY["sns"].read({**envelope, "Message": json.dumps(inner)}, CTX)
    assert result.alerts[0].fingerprint == "a4c6c4f7a49ca0ae"
    assert result.delivery_id == envelope["MessageId"]


def test_epoch_milliseconds_become_iso_utc():
    newrelic = read("newrelic__legacy-v1-channel-incident-open-alerta.json").alerts[0]
    assert newrelic.starts_at == "2020-09-25T11:23:27.849Z"
    datadog = read("datadog__default-payload-rendered-test-notification-relay.json").alerts[0]
    assert datadog.starts_at == "2020-06-03T20:43:05.000Z"  # sent as a digit string


def test_new_relic_incident_id_zero_is_a_real_id():
    payload = load_alert("newrelic__legacy-v1-channel-incident-open-alerta.json")
    zero = REGISTRY["newrelic"].normalize(payload, CTX)[0]
    assert zero.external_id == "0"
    again = REGISTRY["newrelic"].normalize({**payload, "timestamp": 1601033999000}, CTX)[0]
    other = REGISTRY["newrelic"].normalize({**payload, "incident_id": 1}, CTX)[0]
    assert zero.fingerprint == again.fingerprint != other.fingerprint


def test_datadog_keeps_non_ascii_and_strips_the_markdown_fences():
    alert = read("datadog__default-payload-rendered-test-notification-relay.json").alerts[0]
    assert "\u00b7" in alert.description
    assert not alert.description.startswith("%%%")
    assert alert.labels["monitor_id"] == "18692904"  # from the body's monitor link


def test_datadog_flapping_monitor_group_keeps_one_fingerprint():
    names = ["datadog__keep-rendered-log-alert-warn-p2.json",
             "datadog__keep-rendered-log-alert-recovered-p2.json",
             "datadog__keep-rendered-log-alert-triggered-p2.json"]
    alerts = [read(n).alerts[0] for n in names]
    assert [a.status for a in alerts] == ["firing", "resolved", "firing"]
    assert len({a.fingerprint for a in alerts}) == 1
    assert len({read(n).delivery_id for n in names}) == 3
    assert alerts[0].service == "keep-api"


def test_datadog_multi_alert_groups_differ_and_recover_their_own_trigger():
    triggered = read("datadog__keep-rendered-log-alert-triggered-by-service.json").alerts[0]
    recovered = read(
        "datadog__keep-rendered-log-alert-recovered-same-monitor-group.json").alerts[0]
    other = read("datadog__keep-rendered-log-alert-triggered-db-scope.json").alerts[0]
    assert triggered.fingerprint == recovered.fingerprint != other.fingerprint
    assert (triggered.severity, triggered.severity_fallback) == ("high", True)
    assert triggered.service == "keep-api-feature-unique-id"
    assert other.labels["database_id"] == "keephq-sandbox:keep"


def test_pagerduty_incident_fields():
    alert = read("pagerduty__v3-incident-priority-updated-docs.json").alerts[0]
    assert (alert.service, alert.external_id, alert.acknowledged) == (
        "API Service", "PGR0VU2", False)
    assert alert.labels["incident_key"] == "d3640fbd41094207a1c11e58e46b1662"
    assert alert.labels["teams"] == "Engineering"


def test_bench_prints_one_line_per_corpus_file_and_no_errors(capsys: pytest.CaptureFixture[str]):
    if not CORPUS.is_dir():
        pytest.skip("eval corpus not beside the repository")
    assert eval_alerts.main([str(CORPUS)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == corpus_files()
    assert [line["file"] for line in lines if line["kind"] == "error"] == []
    by_file = {line["file"]: line for line in lines}
    assert by_file["datadog__template-keep-provider-PLACEHOLDERS.json"]["kind"] == "ignore"
    assert set(by_file["pagerduty__v3-incident-priority-updated-docs.json"]["alerts"][0]) == {
        *eval_alerts.ALERT_FIELDS}


def test_bench_reports_unreadable_files_as_errors(tmp_path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "a.json").write_text("{not json")
    (tmp_path / "b.json").write_text('{"alerts": "x"}')
    (tmp_path / "c.json").write_text('{"title": "plain"}')
    assert eval_alerts.main([str(tmp_path)]) == 0
    kinds = [json.loads(line)["kind"] for line in capsys.readouterr().out.splitlines()]
    assert kinds == ["error", "error", "alerts"]
