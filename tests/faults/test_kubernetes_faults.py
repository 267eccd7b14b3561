"""A Kubernetes API server that answers 500s or too slowly: refreshes, log reads and dry runs
answer a 503 that says what went wrong, nothing is stored as if it had worked, and a
diagnosis falls back to the last snapshot and says so."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fake_kube.testing import NS, POD
from tests.functional.conftest import Api, FakeCluster

REFRESH = "/v1/api/clusters/demo/refresh"
LOGS = f"/api/pods/{NS}/{POD}/logs"
ALWAYS = 1000  # more faults than any retry loop spends


def assert_cluster_503(status: int, body: dict[str, Any], *words: str) -> None:
    """A 503 in the API's error shape naming the API server's trouble."""
    assert status == 503, body
    assert body["code"] == "cluster_unreachable"
    assert body["error"] == body["detail"]
    for word in words:
        assert word in body["error"], body["error"]
    assert "Traceback" not in str(body)


def snapshot_taken_at(api: Api) -> str:
    status, body = api.call("GET", "/v1/api/clusters/demo/status")
    assert status == 200, body
    return str(body["snapshot"]["taken_at"])


def newest_log(api: Api) -> dict[str, Any]:
    _, body = api.call("GET", "/v1/api/clusters/demo/logs?limit=1")
    return dict(body["logs"][0])


@pytest.fixture
def slow_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drover's read timeout cut to 0.2 s, so a server slower than that times out quickly."""
    monkeypatch.setattr("chalicelib.adapters.kubernetes_api.READ_TIMEOUT", 0.2)


def test_a_refresh_while_the_api_server_answers_500_is_a_503_and_keeps_the_last_snapshot(
        api: Api, demo_cluster: FakeCluster) -> None:
    before = snapshot_taken_at(api)
    demo_cluster.server.fail_next(ALWAYS, 500, path_prefix="/api/v1/pods")
    status, body = api.call("POST", REFRESH)
    assert_cluster_503(status, body, "500")
    assert snapshot_taken_at(api) == before
    assert (newest_log(api)["action"], newest_log(api)["outcome"]) == ("snapshot", "error")
    demo_cluster.server.clear_faults()
    status, body = api.call("POST", REFRESH)
    assert status == 200, body
    assert snapshot_taken_at(api) == body["snapshot"]["taken_at"] > before


def test_a_passing_500_is_retried_and_the_refresh_succeeds(
        api: Api, demo_cluster: FakeCluster) -> None:
    def pod_lists() -> int:
        return len([p for p in demo_cluster.server.paths() if p.startswith("/api/v1/pods")])

    before = pod_lists()
    demo_cluster.server.fail_next(2, 500, path_prefix="/api/v1/pods")
    status, body = api.call("POST", REFRESH)
    assert status == 200, body
    assert body["snapshot"]["objects"]["pods"] > 0
    assert pod_lists() - before == 3  # two refused, then the answer


def test_a_refresh_from_an_api_server_that_is_too_slow_is_a_503_not_a_hang(
        api: Api, demo_cluster: FakeCluster, slow_reads: None) -> None:
    before = snapshot_taken_at(api)
    demo_cluster.server.delay_seconds = 1.0
    status, body = api.call("POST", REFRESH)
    demo_cluster.server.delay_seconds = 0.0
    assert_cluster_503(status, body, "timed out")
    assert snapshot_taken_at(api) == before


@pytest.mark.parametrize("fault", ["500", "slow"])
def test_a_log_read_the_api_server_fails_is_a_503(api: Api, demo_cluster: FakeCluster,
                                                 slow_reads: None, fault: str) -> None:
    if fault == "500":
        demo_cluster.server.fail_next(ALWAYS, 500, path_prefix=f"/api/v1/namespaces/{NS}/pods")
    else:
        demo_cluster.server.delay_seconds = 1.0
    status, body = api.call("GET", LOGS)
    demo_cluster.server.delay_seconds = 0.0
    assert_cluster_503(status, body, "500" if fault == "500" else "timed out")


def test_a_dry_run_the_api_server_fails_is_a_503_and_records_nothing(
        api: Api, demo_cluster: FakeCluster) -> None:
    _, alert = api.post_alert({"title": f"{POD} unhealthy", "severity": "critical",
                               "namespace": NS, "pod": POD, "cluster": "demo"}, "webhook")
    incident = alert["incident_id"]
    demo_cluster.server.fail_next(ALWAYS, 500, path_prefix=f"/api/v1/namespaces/{NS}/pods",
                                  method="DELETE")
    status, body = api.call("POST", "/actions/execute", body={
        "action": "restart_pod", "namespace": NS, "pod_name": POD, "cluster": "demo",
        "incident_id": incident})
    assert_cluster_503(status, body, "500")
    _, actions = api.call("GET", f"/incidents/{incident}/actions")
    assert actions["actions"] == []
    _, timeline = api.call("GET", f"/incidents/{incident}/timeline")
    assert not [e for e in timeline["events"] if e["event_type"].startswith("action_")]
    assert [m for m, _ in demo_cluster.server.requests if m not in ("GET", "DELETE")] == []
    dry_runs = demo_cluster.server.paths("DELETE")
    assert len(dry_runs) == 3 and all("dryRun=All" in p for p in dry_runs)  # retried, then 503


def test_a_diagnosis_while_the_api_server_fails_rests_on_the_last_snapshot_and_says_so(
        api: Api, demo_cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.faults.test_queue_faults import consume, kinds, request_for

    monkeypatch.setattr("chalicelib.services.diagnosis.FRESH_SECONDS", 0)  # always re-read
    taken_at = snapshot_taken_at(api)
    _, alert = api.post_alert({"title": f"{POD} unhealthy", "severity": "critical",
                               "namespace": NS, "pod": POD, "cluster": "demo"}, "webhook")
    incident = alert["incident_id"]
    demo_cluster.server.fail_next(ALWAYS, 500)
    assert consume(api, request_for(incident))[1] == {"batchItemFailures": []}
    _, diagnosis = api.call("GET", f"/incidents/{incident}/diagnosis")
    warning = next(w for w in diagnosis["warnings"] if "could not be read" in w)
    assert "cluster 'demo'" in warning and f"snapshot taken at {taken_at}" in warning
    assert kinds(api, incident)["diagnosis_completed"] == 1
    assert snapshot_taken_at(api) == taken_at
