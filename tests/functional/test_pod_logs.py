"""Kure Monitor's pod logs (seed 002): the last lines of a container, read live."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fake_kube import FakeKubeServer
from tests.functional.conftest import register_cluster

STOREFRONT = "/api/pods/demo-shop/storefront-6d8f7b9c4d-x7k2p/logs"
ORDERS = "/api/pods/demo-shop/orders-api-5f9c8d7b6a-q2w8r/logs"

SIDECAR_CASE: dict[str, Any] = {
    "objects": {"pods": [{
        "metadata": {"name": "web-0", "namespace": "shop",
                     "annotations": {"kubectl.kubernetes.io/default-container": "app"}},
        "spec": {"containers": [{"name": "proxy", "image": "envoy:1"},
                                {"name": "app", "image": "web:1"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "proxy", "state": {"running": {}}},
            {"name": "app", "state": {"running": {}}}]}}]},
    "logs": {"web-0/proxy": "proxy ready\n", "web-0/app": "app ready\n"},
}


@pytest.fixture
def sidecar(api: Any) -> Iterator[FakeKubeServer]:
    """A cluster whose only pod has two containers, ``app`` marked as the default."""
    server = FakeKubeServer.from_cases(SIDECAR_CASE)
    server.start()
    try:
        register_cluster(api, server, "sidecar")
        yield server
    finally:
        server.stop()


def test_logs_are_the_last_lines_of_the_pods_container_in_kures_shape(api, demo_cluster):
    status, body = api.call("GET", f"{STOREFRONT}?tail_lines=2")
    assert status == 200, body
    assert body == {
        "pod_name": "storefront-6d8f7b9c4d-x7k2p", "namespace": "demo-shop",
        "container": "storefront", "previous": False, "tail_lines": 2, "cluster": "demo",
        "containers": ["storefront"],
        "logs": "2026-03-04T09:13:03Z GET /products 200 15ms\n"
                "2026-03-04T09:14:20Z GET /cart 502 3ms upstream=orders-api "
                "error=\"connection refused\"\n"}
    assert "tailLines=2" in demo_cluster.server.paths()[-1]


def test_previous_true_reads_the_run_before_a_crash(api, demo_cluster):
    status, body = api.call("GET", f"{ORDERS}?previous=true&container=orders-api")
    assert status == 200, body
    assert body["previous"] is True
    assert "FATAL cannot start without a database connection string" in body["logs"]


def test_previous_logs_of_a_container_that_never_restarted_are_not_found(api, demo_cluster):
    status, body = api.call("GET", f"{STOREFRONT}?previous=true")
    assert status == 404
    assert body["code"] == "previous_log_not_found"
    assert "has not restarted" in body["detail"]


BAD_REQUESTS = [
    (f"{STOREFRONT}?tail_lines=0", 400, "bad_parameter"),
    (f"{STOREFRONT}?tail_lines=5001", 400, "bad_parameter"),
    (f"{STOREFRONT}?tail_lines=many", 400, "bad_parameter"),
    (f"{STOREFRONT}?previous=maybe", 400, "bad_parameter"),
    (f"{STOREFRONT}?container=Not_Valid", 400, "invalid_name"),
    (f"{STOREFRONT}?container=sidecar", 400, "unknown_container"),
    ("/api/pods/Demo_Shop/storefront-6d8f7b9c4d-x7k2p/logs", 400, "invalid_name"),
    ("/api/pods/demo-shop/no-such-pod/logs", 404, "pod_not_found"),
    ("/api/pods/demo-shop/recommendations-84c6d5f7b9-t5r1v/logs", 400, "cluster_bad_request"),
]


def test_bad_input_unknown_pods_and_unstarted_containers_get_a_clear_4xx(api, demo_cluster):
    for path, status, code in BAD_REQUESTS:
        got, body = api.call("GET", path)
        assert (got, body["code"]) == (status, code), (path, body)
    # A container that never started: the API server's reason reaches the caller.
    _, body = api.call("GET", BAD_REQUESTS[-1][0])
    assert "is waiting to start" in body["detail"]


def test_a_multi_container_pod_defaults_as_kubectl_does_and_reads_the_one_named(api, sidecar):
    status, body = api.call("GET", "/api/pods/shop/web-0/logs")
    assert status == 200, body
    assert (body["container"], body["logs"]) == ("app", "app ready\n")
    assert body["containers"] == ["proxy", "app"]
    status, body = api.call("GET", "/api/pods/shop/web-0/logs?container=proxy")
    assert (status, body["logs"]) == (200, "proxy ready\n")


def test_a_cluster_whose_rbac_forbids_logs_says_so(api, demo_cluster):
    demo_cluster.server.forbid("pods/log")
    status, body = api.call("GET", STOREFRONT)
    assert status == 502
    assert body["code"] == "cluster_forbidden"
    assert "pods/log" in body["detail"]


def test_logs_need_the_clusters_read_scope(api, make_key, demo_cluster):
    status, _ = api.call("GET", STOREFRONT, key=make_key("incidents:read"))
    assert status == 403


def test_a_cluster_that_is_down_answers_503(api, demo_cluster):
    demo_cluster.server.stop()
    status, body = api.call("GET", STOREFRONT)
    assert (status, body["code"]) == (503, "cluster_unreachable")
