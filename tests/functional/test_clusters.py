"""The cluster registry (seed 003) and fleet views (seed 000) against a fake API server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fake_kube import FakeKubeServer
from tests.functional.conftest import Api, FakeCluster, register_cluster

SECRET_TOKEN = "fake-token"


def _no_secret_in(body: Any) -> None:
    text = json.dumps(body)
    assert SECRET_TOKEN not in text
    assert "credentials" not in body if isinstance(body, dict) else True


def test_registering_a_cluster_tests_it_and_answers_the_seed_shape(
        api: Api, demo_cluster: FakeCluster) -> None:
    body = demo_cluster.registered
    assert body["name"] == "demo"
    assert body["server"] == demo_cluster.server.url
    assert body["status"] == "connected"
    assert body["version"] == "v1.31.4+k3s1"
    assert body["provider"] == "k3s"
    assert body["node_count"] == 3
    assert body["is_default"] is True
    _no_secret_in(body)


def test_credentials_never_come_back_from_any_read(api: Api, demo_cluster: FakeCluster) -> None:
    for path in ("/v1/api/clusters", "/v1/api/clusters/demo", "/v1/api/clusters/default",
                 "/v1/api/clusters/demo/status", "/v1/api/clusters/demo/logs", "/api/clusters"):
        status, body = api.call("GET", path)
        assert status == 200, (path, body)
        _no_secret_in(body)


def test_credentials_are_stored_encrypted(api: Api, demo_cluster: FakeCluster) -> None:
    import boto3

    from chalicelib.bootstrap import get_container

    items = boto3.client("dynamodb").scan(
        TableName=get_container().settings.incidents_table)["Items"]
    stored = [i for i in items if i.get("sk", {}).get("S") == "CLUSTER#demo"]
    assert len(stored) == 1
    assert stored[0]["credentials"]["S"].startswith("local:v1:")
    assert SECRET_TOKEN not in json.dumps(items, default=repr)


def test_fleet_list_has_the_seed_000_fields(api: Api, demo_cluster: FakeCluster) -> None:
    status, body = api.call("GET", "/api/clusters")
    assert status == 200
    assert isinstance(body, list) and len(body) == 1
    row = body[0]
    assert {"cluster_id", "cluster_name", "health_status", "k8s_version", "node_count",
            "provider"} <= set(row)
    assert row["cluster_name"] == "demo"
    assert row["health_status"] in ("healthy", "degraded", "critical")


def test_health_score_has_a_score_and_a_trend_from_history(
        api: Api, demo_cluster: FakeCluster) -> None:
    path = f"/api/clusters/{demo_cluster.cluster_id}/health-score"
    status, first = api.call("GET", path)
    assert status == 200
    assert 0 <= first["score"] <= 100
    assert first["trend"] == "unknown"  # one point: nothing to compare with
    api.call("POST", "/v1/api/clusters/demo/refresh")
    status, second = api.call("GET", "/api/clusters/demo/health-score")
    assert second["trend"] == "stable"
    assert len(second["history"]) == 2


def test_an_unreachable_cluster_is_registered_with_the_reason(api: Api) -> None:
    server = FakeKubeServer()
    url = server.start()
    server.stop()  # nothing listens there any more
    status, body = api.call("POST", "/v1/api/clusters", body={
        "name": "gone", "server": url, "token": "t"})
    assert status == 201
    assert body["status"] == "unreachable"
    assert "reachable" in body["last_error"]
    status, body = api.call("POST", "/v1/api/clusters/gone/test")
    assert status == 503
    assert body["code"] == "cluster_unreachable"


def test_refused_credentials_give_a_502_and_can_be_rotated(api: Api) -> None:
    with FakeKubeServer(token="right") as server:
        registered = register_cluster(api, server, "rotating", token="wrong")
        assert registered["status"] == "unauthorized"
        status, body = api.call("POST", "/v1/api/clusters/rotating/test")
        assert status == 502
        assert body["code"] == "cluster_unauthorized"
        status, body = api.call("PUT", "/v1/api/clusters/rotating/credentials",
                                body={"auth_type": "bearer_token", "token": "right"})
        assert status == 200
        assert body["test"]["status"] == "healthy"
        assert api.call("GET", "/v1/api/clusters/rotating")[1]["status"] == "connected"


def test_tls_needs_the_ca_or_an_explicit_skip(api: Api) -> None:
    with FakeKubeServer(tls=True) as server:
        plain = register_cluster(api, server, "tls-plain")
        assert plain["status"] == "error"
        assert "TLS" in plain["last_error"]
        with_ca = register_cluster(api, server, "tls-ca", ca_data=server.ca_pem)
        assert with_ca["status"] == "connected"
        assert with_ca["has_ca_data"] is True
        skipped = register_cluster(api, server, "tls-skip", insecure_skip_verify=True)
        assert skipped["status"] == "connected"


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "Bad_Name", "server": "https://x:6443", "token": "t"}, "name"),
    ({"name": "ok", "server": "ftp://x", "token": "t"}, "server"),
    ({"name": "ok", "server": "https://user:pw@x:6443", "token": "t"}, "server"),
    ({"name": "ok", "server": "https://x:6443"}, "token"),
    ({"name": "ok", "server": "https://x:6443", "token": "t", "provider": "openshift"},
     "provider"),
    ({"name": "ok", "auth_type": "kubeconfig", "kubeconfig": "users: [{user: {exec: {}}}]"},
     "kubeconfig"),
])
def test_bad_registrations_get_a_422_and_store_nothing(api: Api, body: dict[str, Any],
                                                       field: str) -> None:
    status, answer = api.call("POST", "/v1/api/clusters", body=body)
    assert status == 422, answer
    assert field in answer["error"] or answer["code"] == "invalid_credentials"
    assert api.call("GET", "/v1/api/clusters")[1]["total"] == 0


def test_a_name_is_unique_in_a_workspace(api: Api, demo_cluster: FakeCluster) -> None:
    status, body = api.call("POST", "/v1/api/clusters", body={
        "name": "demo", "server": demo_cluster.server.url, "token": SECRET_TOKEN})
    assert status == 409
    assert body["code"] == "cluster_exists"


def test_default_update_share_and_delete(api: Api, demo_cluster: FakeCluster,
                                         make_key: Any) -> None:
    second = register_cluster(api, demo_cluster.server, "second")
    assert second["is_default"] is False
    status, body = api.call("PUT", "/v1/api/clusters/second/default")
    assert status == 200 and body["is_default"] is True
    assert api.call("GET", "/v1/api/clusters/default")[1]["name"] == "second"
    assert api.call("GET", "/v1/api/clusters/demo")[1]["is_default"] is False

    status, body = api.call("PUT", "/v1/api/clusters/second", body={"description": "staging"})
    assert status == 200 and body["description"] == "staging"

    status, body = api.call("POST", "/v1/api/clusters/second/share",
                            body={"workspace_id": "team-b"})
    assert status == 200 and body["shared_with"] == ["team-b"]
    other = make_key("clusters:read", "clusters:write", workspace="team-b")
    status, seen = api.call("GET", "/v1/api/clusters", key=other)
    assert [c["name"] for c in seen["clusters"]] == ["second"]
    assert seen["clusters"][0]["shared_from"] == "default"
    status, body = api.call("DELETE", "/v1/api/clusters/second", key=other)
    assert status == 403 and body["code"] == "cluster_read_only"

    status, body = api.call("DELETE", "/v1/api/clusters/second")
    assert status == 200 and body["deleted"] is True
    assert api.call("GET", "/v1/api/clusters/second")[0] == 404
    assert api.call("GET", "/v1/api/clusters", key=other)[1]["clusters"] == []


def test_connection_log_records_every_contact(api: Api, demo_cluster: FakeCluster) -> None:
    api.call("POST", "/v1/api/clusters/demo/test")
    status, body = api.call("GET", "/v1/api/clusters/demo/logs")
    assert status == 200
    actions = [entry["action"] for entry in body["logs"]]
    assert actions[:1] == ["test"]
    assert "snapshot" in actions
    assert all(entry["outcome"] == "success" for entry in body["logs"])


def test_list_pages_sorts_and_searches(api: Api, demo_cluster: FakeCluster) -> None:
    for name in ("alpha", "beta"):
        register_cluster(api, demo_cluster.server, name)
    _, body = api.call("GET", "/v1/api/clusters?sort=name&order=asc&limit=2&page=1")
    assert [c["name"] for c in body["clusters"]] == ["alpha", "beta"]
    assert body["total"] == 3 and body["total_pages"] == 2
    _, body = api.call("GET", "/v1/api/clusters?search=alp")
    assert [c["name"] for c in body["clusters"]] == ["alpha"]
    assert api.call("GET", "/v1/api/clusters?sort=secret")[0] == 400


def test_reads_need_the_clusters_read_scope(api: Api, demo_cluster: FakeCluster,
                                            make_key: Any) -> None:
    incidents_only = make_key("incidents:read")
    status, body = api.call("GET", "/v1/api/clusters", key=incidents_only)
    assert status == 403 and body["required_scope"] == "clusters:read"
    reader = make_key("clusters:read")
    assert api.call("POST", "/v1/api/clusters/demo/refresh", key=reader)[0] == 403


def test_status_shows_the_snapshot_and_findings(api: Api, demo_cluster: FakeCluster) -> None:
    status, body = api.call("GET", "/v1/api/clusters/demo/status")
    assert status == 200
    assert body["snapshot"]["objects"]["pods"] > 0
    assert body["findings"]["critical"] >= 1
    assert not any(path.startswith("/api/v1/secrets") or "/secrets" in path
                   for _, path in demo_cluster.server.requests)
