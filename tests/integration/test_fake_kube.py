"""The fake Kubernetes API server, driven by the official ``kubernetes`` client over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.conftest import EVAL
from tests.fake_kube import DEMO_CASE, FakeKubeServer

pytestmark = pytest.mark.integration
TOKEN = "test-token"
NS = "demo-shop"
EVAL_CASES = sorted((EVAL / "k8s").glob("*.json"))


def kube(url: str, token: str = TOKEN, ca_file: Path | None = None,
         retries: bool | None = None) -> client.ApiClient:
    """An official API client for the fake server, configured as a kubeconfig would."""
    config = client.Configuration(host=url, api_key={"authorization": f"Bearer {token}"})
    config.retries = retries
    if ca_file is not None:
        config.ssl_ca_cert = str(ca_file)
    return client.ApiClient(config)


def status_of(error: ApiException) -> dict[str, Any]:
    """The Status object an ApiException carries."""
    return json.loads(error.body)


@pytest.fixture(scope="module")
def demo() -> Iterator[FakeKubeServer]:
    """The demo cluster, served for the whole module."""
    with FakeKubeServer.from_case_files(DEMO_CASE, token=TOKEN) as server:
        yield server


@pytest.fixture
def core(demo: FakeKubeServer) -> Iterator[client.CoreV1Api]:
    """A CoreV1Api on the demo cluster."""
    with kube(demo.url) as api_client:
        yield client.CoreV1Api(api_client)


def test_pods_in_all_namespaces_page_through_continue_tokens(core: client.CoreV1Api) -> None:
    everything = core.list_pod_for_all_namespaces()
    names, token, remaining = [], None, []
    while True:
        page = core.list_pod_for_all_namespaces(limit=1, _continue=token)
        names += [(p.metadata.namespace, p.metadata.name) for p in page.items]
        token = page.metadata._continue
        if not token:
            break
        remaining.append(page.metadata.remaining_item_count)
    assert everything.kind == "PodList" and everything.metadata.resource_version
    assert names == sorted(names) == [(p.metadata.namespace, p.metadata.name)
                                      for p in everything.items]
    assert len(names) == 9 and remaining == list(range(8, 0, -1))


def test_label_selector_picks_only_matching_pods(core: client.CoreV1Api) -> None:
    def apps(selector: str) -> set[str]:
        pods = core.list_namespaced_pod(NS, label_selector=selector).items
        return {p.metadata.labels["app"] for p in pods}

    assert apps("app=storefront") == {"storefront"}
    assert apps("app in (cart-cache, orders-api),pod-template-hash") == {"cart-cache",
                                                                        "orders-api"}
    assert "storefront" not in apps("app!=storefront")
    assert apps("app notin (storefront),!missing-label") == apps("app!=storefront")
    assert apps("missing-label") == set()


def test_field_selector_finds_the_pending_pods(core: client.CoreV1Api) -> None:
    pending = core.list_pod_for_all_namespaces(field_selector="status.phase=Pending").items
    on_cp = core.list_namespaced_pod(NS, field_selector="spec.nodeName==demo-cp-1").items
    assert {p.metadata.name for p in pending} == {"report-builder-c7f6b5d4e3-z9p4k",
                                                  "recommendations-84c6d5f7b9-t5r1v"}
    assert {p.spec.node_name for p in on_cp} == {"demo-cp-1"}


def test_events_are_selected_by_involved_object(core: client.CoreV1Api) -> None:
    events = core.list_namespaced_event(
        NS, field_selector="involvedObject.name=report-builder-c7f6b5d4e3-z9p4k,type=Warning")
    assert [(e.reason, e.message) for e in events.items] == [
        ("FailedScheduling", "0/3 nodes are available: 3 Insufficient memory.")]


def test_an_unknown_field_selector_is_a_bad_request(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.list_pod_for_all_namespaces(field_selector="spec.colour=blue")
    assert caught.value.status == 400
    assert status_of(caught.value)["message"] == "field label not supported: spec.colour"


def test_reading_a_missing_pod_raises_404_with_a_status_body(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod("ghost", NS)
    assert caught.value.status == 404
    assert status_of(caught.value) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'pods "ghost" not found', "reason": "NotFound",
        "details": {"name": "ghost", "kind": "pods"}, "code": 404}


def test_objects_get_server_metadata_and_consistent_owners(demo: FakeKubeServer) -> None:
    with kube(demo.url) as api_client:
        apps = client.AppsV1Api(api_client)
        pod = client.CoreV1Api(api_client).read_namespaced_pod("orders-api-5f9c8d7b6a-q2w8r", NS)
        owner = pod.metadata.owner_references[0]
        replica_set = apps.read_namespaced_replica_set(owner.name, NS)
        deployment = apps.read_namespaced_deployment(
            replica_set.metadata.owner_references[0].name, NS)
    assert pod.kind == "Pod" and pod.api_version == "v1" and pod.metadata.resource_version
    assert owner.uid == replica_set.metadata.uid
    assert replica_set.metadata.owner_references[0].uid == deployment.metadata.uid
    terminated = pod.status.container_statuses[0].last_state.terminated
    assert (terminated.exit_code, deployment.spec.replicas) == (1, 1)


def test_a_wrong_token_is_refused_with_401(demo: FakeKubeServer) -> None:
    with kube(demo.url, token="stolen") as api_client, pytest.raises(ApiException) as caught:
        client.CoreV1Api(api_client).list_namespace()
    assert caught.value.status == 401
    assert status_of(caught.value) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


def test_secrets_are_forbidden_and_the_attempt_is_recorded(demo: FakeKubeServer,
                                                           core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_secret(NS)
    assert caught.value.status == 403
    assert status_of(caught.value)["message"].startswith(
        'secrets is forbidden: User "system:serviceaccount:drover:drover" cannot list '
        'resource "secrets"')
    assert ("GET", f"/api/v1/namespaces/{NS}/secrets") in demo.requests


def test_pod_log_honours_tail_lines_and_previous(core: client.CoreV1Api) -> None:
    name = "orders-api-5f9c8d7b6a-q2w8r"
    tail = core.read_namespaced_pod_log(name, NS, container="orders-api", tail_lines=2)
    previous = core.read_namespaced_pod_log(name, NS, previous=True)
    assert tail.splitlines()[0].endswith("DATABASE_URL is not set")
    assert len(tail.splitlines()) == 2 and "DATABASE_URL" in previous
    with pytest.raises(ApiException) as no_previous:
        core.read_namespaced_pod_log("storefront-6d8f7b9c4d-x7k2p", NS, previous=True)
    with pytest.raises(ApiException) as no_container:
        core.read_namespaced_pod_log(name, NS, container="sidecar")
    assert (no_previous.value.status, no_container.value.status) == (400, 400)
    assert status_of(no_previous.value)["message"] == (
        'previous terminated container "storefront" in pod "storefront-6d8f7b9c4d-x7k2p" '
        "not found")


def test_tls_server_is_verified_with_its_ca(tmp_path: Path) -> None:
    with FakeKubeServer.from_case_files(DEMO_CASE, token=TOKEN, tls=True) as server:
        assert server.url.startswith("https://127.0.0.1:") and server.ca_pem
        ca_file = tmp_path / "ca.crt"
        ca_file.write_text(server.ca_pem)
        with kube(server.url, ca_file=ca_file) as api_client:
            nodes = client.CoreV1Api(api_client).list_node().items
            version = client.VersionApi(api_client).get_code()
    assert {n.status.node_info.kubelet_version for n in nodes} == {"v1.31.4+k3s1"}
    assert (version.git_version, version.major, version.minor) == ("v1.31.4+k3s1", "1", "31")


def test_metrics_are_served_only_when_given(demo: FakeKubeServer) -> None:
    with FakeKubeServer(token=TOKEN) as bare, kube(bare.url) as api_client:
        with pytest.raises(ApiException) as caught:
            client.CustomObjectsApi(api_client).list_cluster_custom_object(
                "metrics.k8s.io", "v1beta1", "nodes")
        groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    with kube(demo.url) as api_client:
        usage = client.CustomObjectsApi(api_client).list_cluster_custom_object(
            "metrics.k8s.io", "v1beta1", "nodes")
        demo_groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    assert caught.value.status == 404 and "metrics.k8s.io" not in groups
    assert "metrics.k8s.io" in demo_groups and usage["kind"] == "NodeMetricsList"
    assert {n["metadata"]["name"] for n in usage["items"]} == {"demo-cp-1", "demo-worker-1",
                                                               "demo-gpu-1"}


def test_fail_next_answers_the_injected_status_then_recovers(core: client.CoreV1Api,
                                                             demo: FakeKubeServer) -> None:
    demo.fail_next(2, status=503, path_prefix="/api/v1/nodes")
    core.list_namespace()  # other paths are unaffected
    for _ in range(2):
        with pytest.raises(ApiException) as caught:
            core.list_node()
        assert caught.value.status == 503
        assert status_of(caught.value)["reason"] == "ServiceUnavailable"
    assert len(core.list_node().items) == 3


def test_a_slow_server_makes_the_client_time_out() -> None:
    with FakeKubeServer(token=None) as server, kube(server.url, retries=False) as api_client:
        server.delay_seconds = 1.0
        with pytest.raises(urllib3.exceptions.ReadTimeoutError):
            client.CoreV1Api(api_client).list_node(_request_timeout=(1, 0.1))
    assert server.paths() == ["/api/v1/nodes"]


def test_metrics_refuse_write_verbs(demo: FakeKubeServer) -> None:
    with kube(demo.url) as api_client, pytest.raises(ApiException) as caught:
        client.CustomObjectsApi(api_client).delete_namespaced_custom_object(
            "metrics.k8s.io", "v1beta1", NS, "pods", "storefront-6d8f7b9c4d-x7k2p")
    assert caught.value.status == 405


@pytest.mark.skipif(not EVAL_CASES, reason=f"eval corpus not found at {EVAL / 'k8s'}")
@pytest.mark.parametrize("path", EVAL_CASES, ids=lambda p: p.stem)
def test_every_eval_case_loads_and_its_pods_are_listable(path: Path) -> None:
    case = json.loads(path.read_text())
    with FakeKubeServer.from_case_files(path, token=TOKEN) as server, \
            kube(server.url) as api_client:
        core = client.CoreV1Api(api_client)
        pods = core.list_pod_for_all_namespaces().items
        events = core.list_event_for_all_namespaces().items
        logs = {key: core.read_namespaced_pod_log(pod.metadata.name, pod.metadata.namespace,
                                                  container=key.split("/")[1])
                for pod in pods for key in case.get("logs", {})
                if key.split("/")[0] == pod.metadata.name and key.count("/") == 1}
    assert len(pods) == len(case["objects"].get("pods", []))
    assert len(events) == len(case["objects"].get("events", []))
    assert all(logs[key] == case["logs"][key] for key in logs)
