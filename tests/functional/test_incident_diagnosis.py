"""An alert about a failing pod on a registered cluster is diagnosed by the queue consumer:
the diagnosis names the right category, rests on the cluster's evidence, is stored with the
incident and recorded on its timeline; redelivery does not diagnose twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fake_kube import FakeKubeServer
from tests.functional.conftest import Api, register_cluster

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "k8s"
OOM = CORPUS / "hg-oomkilled-analytics-exporter.json"
MISSING_ENV = CORPUS / "hg-crashloop-missing-env-var.json"
pytestmark = pytest.mark.skipif(not OOM.exists(), reason="k8s eval corpus not found")


def alertmanager(pod: str, namespace: str = "default", cluster: str | None = "case",
                 alertname: str = "KubePodCrashLooping") -> dict:
    labels = {"alertname": alertname, "namespace": namespace, "pod": pod,
              "severity": "critical"}
    if cluster:
        labels["cluster"] = cluster
    return {"version": "4", "status": "firing", "receiver": "drover", "groupKey": "{}:{}",
            "alerts": [{"status": "firing", "labels": labels,
                        "annotations": {"summary": f"Pod {pod} is crash looping"},
                        "startsAt": "2026-11-24T10:00:00Z", "fingerprint": pod[:16]}]}


def consume(api: Api, *bodies: dict) -> dict:
    from chalicelib.config import get_settings

    event = api.client.events.generate_sqs_event(
        message_bodies=[json.dumps(b) for b in bodies], queue_name=get_settings().diagnoses_queue)
    return api.client.lambda_.invoke("diagnoses_consumer", event).payload


def request_for(incident_id: str) -> dict:
    return {"incident_id": incident_id, "workspace_id": "default",
            "requested_at": "2026-11-24T10:00:01.000Z"}


def test_an_alert_on_a_registered_cluster_gets_the_right_diagnosis(api: Api) -> None:
    with FakeKubeServer.from_case_files(OOM) as server:
        register_cluster(api, server, "case")
        status, body = api.post_alert(alertmanager("analytics-exporter-fast-76897854c-cw5wh"))
        assert status in (200, 201, 202), body
        incident = body["incidents"][0]["incident_id"] if "incidents" in body \
            else body["incident_id"]
        assert consume(api, request_for(incident)) == {"batchItemFailures": []}
    status, diagnosis = api.call("GET", f"/incidents/{incident}/diagnosis")
    assert status == 200, diagnosis
    assert diagnosis["category"] == "OOMKilled"
    assert diagnosis["incident_id"] == incident
    assert diagnosis["confidence"] >= 0.8
    assert diagnosis["k8s_context"]["last_termination_reason"] == "OOMKilled"
    assert "100Mi" in diagnosis["root_cause"]
    assert any("OOMKilled" in line for line in diagnosis["evidence"])
    assert diagnosis["matched_playbooks"] == ["oom-recovery"]
    action = diagnosis["suggested_actions"][0]
    assert action["name"] == "set_resources" and action["dry_run"] is True
    assert action["arguments"]["memory_limit"] == "200Mi"
    assert action["arguments"]["name"] == "analytics-exporter-fast"
    assert diagnosis["provider"] == "builtin" and diagnosis["diagnosis_id"].startswith("diag_")
    _, timeline = api.call("GET", f"/incidents/{incident}/timeline")
    kinds = [e["event_type"] for e in timeline["events"]]
    assert kinds.count("diagnosis_started") == 1 and kinds.count("diagnosis_completed") == 1
    completed = next(e for e in timeline["events"] if e["event_type"] == "diagnosis_completed")
    assert completed["payload"]["category"] == "OOMKilled"
    assert completed["payload"]["suggested_actions_count"] == 1


def test_a_redelivered_request_does_not_diagnose_twice(api: Api) -> None:
    with FakeKubeServer.from_case_files(MISSING_ENV) as server:
        register_cluster(api, server, "case")
        _, body = api.post_alert(alertmanager("payment-processing-worker-747ccfb9db-pd6wz"))
        incident = body["incidents"][0]["incident_id"] if "incidents" in body \
            else body["incident_id"]
        assert consume(api, request_for(incident)) == {"batchItemFailures": []}
        assert consume(api, request_for(incident)) == {"batchItemFailures": []}
    _, timeline = api.call("GET", f"/incidents/{incident}/timeline")
    kinds = [e["event_type"] for e in timeline["events"]]
    assert kinds.count("diagnosis_completed") == 1
    _, diagnosis = api.call("GET", f"/incidents/{incident}/diagnosis")
    assert diagnosis["category"] == "CrashLoopBackOff-missing-config"
    assert "DEPLOY_ENV" in diagnosis["root_cause"]
    assert "Environment variable DEPLOY_ENV is undefined" in diagnosis["log_excerpt"]


def test_without_a_cluster_label_the_default_cluster_is_used(api: Api) -> None:
    with FakeKubeServer.from_case_files(OOM) as server:
        register_cluster(api, server, "only-one")
        _, body = api.post_alert(alertmanager("analytics-exporter-fast-76897854c-cw5wh",
                                              cluster=None))
        incident = body["incidents"][0]["incident_id"] if "incidents" in body \
            else body["incident_id"]
        consume(api, request_for(incident))
    _, diagnosis = api.call("GET", f"/incidents/{incident}/diagnosis")
    assert diagnosis["category"] == "OOMKilled"
    assert diagnosis["subject"]["cluster_name"] == "only-one"


def test_an_unknown_cluster_gives_a_text_only_diagnosis_that_says_so(api: Api) -> None:
    _, body = api.post_alert(alertmanager("web-1", cluster="nowhere"))
    incident = body["incidents"][0]["incident_id"] if "incidents" in body \
        else body["incident_id"]
    consume(api, request_for(incident))
    _, diagnosis = api.call("GET", f"/incidents/{incident}/diagnosis")
    assert diagnosis["confidence"] <= 0.45
    assert any("not registered" in w for w in diagnosis["warnings"])
    assert any("alert text only" in w for w in diagnosis["warnings"])


def test_poison_messages_fail_their_records_and_leave_the_good_one_done(api: Api) -> None:
    _, body = api.post_alert(alertmanager("web-1", cluster=None))
    incident = body["incidents"][0]["incident_id"] if "incidents" in body \
        else body["incident_id"]
    result = consume(api, {"workspace_id": "default"}, request_for("inc-missing"),
                     request_for(incident))
    assert len(result["batchItemFailures"]) == 2
    assert api.call("GET", f"/incidents/{incident}/diagnosis")[0] == 200
    # Every record failing fails the invocation: Lambda redelivers, then the DLQ keeps it.
    with pytest.raises(Exception, match="All records failed"):
        consume(api, request_for("inc-missing"))


def test_the_diagnosis_of_an_unknown_incident_is_a_404(api: Api) -> None:
    status, body = api.call("GET", "/incidents/inc-nope/diagnosis")
    assert status == 404 and body["code"] == "incident_not_found"


def test_a_resolved_incident_is_offered_with_its_resolution_to_the_next_like_it(api: Api) -> None:
    def oom_alert(pod: str) -> str:
        alert = {"title": f"Pod {pod} OOMKilled", "description": "container was OOMKilled "
                 "(exit code 137)", "severity": "critical", "source": "prometheus",
                 "namespace": "payments", "pod": pod, "deployment": "payments-api"}
        _, body = api.post_alert(alert, "webhook")
        consume(api, request_for(body["incident_id"]))
        return str(body["incident_id"])

    first = oom_alert("payments-api-7d8f9c6b5-aaaaa")
    status, _ = api.call("PUT", f"/api/pods/{first}/status", body={
        "status": "resolved", "resolution_note": "raised the memory limit to 1Gi"})
    assert status == 200
    second = oom_alert("payments-api-7d8f9c6b5-bbbbb")
    _, diagnosis = api.call("GET", f"/incidents/{second}/diagnosis")
    similar = diagnosis["similar_incidents"]
    assert [s["id"] for s in similar] == [first]
    assert similar[0]["resolution"] == "raised the memory limit to 1Gi"
    assert similar[0]["state"] == "resolved" and similar[0]["similarity_score"] >= 0.9
    assert similar[0]["category"] == "OOMKilled"


def test_a_diagnosed_pod_failure_lists_its_solution(api: Api) -> None:
    with FakeKubeServer.from_case_files(OOM) as server:
        register_cluster(api, server, "case")
        status, failure = api.call("POST", "/api/pods/failed", body={
            "pod_name": "analytics-exporter-fast-76897854c-cw5wh", "namespace": "default",
            "failure_reason": "OOMKilled", "failure_message": "container memory-eater OOMKilled"},
            headers={"X-Cluster-Id": "case"})
        assert status in (200, 201), failure
        consume(api, request_for(failure["id"]))
    _, listed = api.call("GET", "/api/pods/failed")
    mine = next(p for p in listed if p["id"] == failure["id"])
    assert mine["solution"].startswith("## Root Cause")
    assert "100Mi" in mine["solution"]
    _, incident = api.call("GET", f"/incidents/{failure['id']}")
    assert incident["incident"]["diagnosis_category"] == "OOMKilled"


def test_similar_incidents_come_from_the_signature_index_once_diagnosed(api: Api) -> None:
    ids = []
    for pod, title in (("payments-api-1", "Pod payments-api-1 OOMKilled"),
                       ("payments-api-2", "Memory limit hit by the payments service")):
        _, body = api.post_alert({"title": title, "description": "OOMKilled exit code 137",
                                  "severity": "critical", "source": "prometheus",
                                  "namespace": "payments", "pod": pod,
                                  "deployment": "payments-api"}, "webhook")
        consume(api, request_for(body["incident_id"]))
        ids.append(body["incident_id"])
    _, similar = api.call("GET", f"/incidents/{ids[1]}/similar")
    assert similar["similar_incidents"][0]["id"] == ids[0]
    assert similar["similar_incidents"][0]["category"] == "OOMKilled"
