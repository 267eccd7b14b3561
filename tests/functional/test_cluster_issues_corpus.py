"""Acceptance: each failure case of the eval corpus, served by a fake API server and
registered as a cluster, shows its failing objects with the right reason in
``GET /api/clusters/{id}/issues`` (read through the official Kubernetes client over HTTP)."""

from __future__ import annotations

import pytest

from tests.fake_kube import FakeKubeServer
from tests.functional.conftest import Api, register_cluster
from tests.unit.test_analyzers_corpus import CASES, EXPECTED

pytestmark = pytest.mark.skipif(not CASES, reason="k8s eval corpus not found")


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_registered_case_cluster_lists_its_failing_objects(api: Api, path: object) -> None:
    with FakeKubeServer.from_case_files(path) as server:  # type: ignore[arg-type]
        registered = register_cluster(api, server, "case")
        assert registered["status"] == "connected", registered
        status, body = api.call("GET", f"/api/clusters/{registered['cluster_id']}/issues")
    assert status == 200, body
    assert body["analyzed_at"] and body["cluster_id"] == registered["cluster_id"]
    found = {(i["kind"], i["name"], i["reason"]) for i in body["issues"]}
    for kind, name, reasons in EXPECTED[path.stem]:  # type: ignore[attr-defined]
        assert any((kind, name, r) in found for r in reasons.split("|")), (kind, name, found)
    for issue in body["issues"]:
        assert {"id", "severity", "title", "detected_at"} <= set(issue)
        assert issue["evidence"] and issue["message"]
    assert not any("secrets" in p for _, p in server.requests)


def test_issues_by_cluster_name_include_its_open_incidents(api: Api, demo_cluster: object) -> None:
    api.post_alert({"title": "orders down", "severity": "critical", "cluster": "demo"},
                   source="webhook")
    status, body = api.call("GET", "/api/clusters/demo/issues")
    assert status == 200
    sources = {i["source"] for i in body["issues"]}
    assert sources == {"analyzer", "incident"}


def test_an_unregistered_cluster_still_lists_incidents_that_named_it(api: Api) -> None:
    api.post_alert({"title": "disk", "severity": "warning", "cluster": "edge-7"},
                   source="webhook")
    status, body = api.call("GET", "/api/clusters/edge-7/issues")
    assert status == 200
    assert [i["source"] for i in body["issues"]] == ["incident"]
    assert body["cluster_id"] is None
