"""Drover's Kubernetes writes (the ClusterWriter of the official-client adapter) against the
fake API server: dry runs, real writes, disruption budgets, refusals and error mapping."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.kubernetes_api import KubernetesClusterClient
from chalicelib.domain.clusters import ClusterRejected, ClusterUnreachable
from chalicelib.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from chalicelib.domain.remediation_ports import EvictionBlocked
from tests.fake_kube import FakeKubeServer
from tests.fake_kube.testing import (
    CONFIGMAPS,
    DEPLOYMENTS,
    JOBS,
    NODES,
    NS,
    OLD_RS,
    OTHER_POD,
    PDBS,
    POD,
    PODS,
    SECRETS,
    Obj,
    connect,
    job_body,
    owner_of,
    ready,
    storefront_pods,
)

pytestmark = pytest.mark.integration



# Dry runs change nothing and answer with the object as it would be


def test_a_dry_run_patch_answers_the_would_be_object_and_stores_nothing(
        server: FakeKubeServer, kube: KubernetesClusterClient) -> None:
    before = kube.get(DEPLOYMENTS, NS, "storefront")
    answer = kube.patch(DEPLOYMENTS, NS, "storefront", {"spec": {"replicas": 5}}, dry_run=True)
    assert answer["spec"]["replicas"] == 5 and answer["metadata"]["generation"] == 2
    assert kube.get(DEPLOYMENTS, NS, "storefront") == before
    assert len(storefront_pods(kube)) == 2
    assert server.paths("PATCH") == ["/apis/apps/v1/namespaces/demo-shop/deployments/"
                                     "storefront?dryRun=All"]


def test_a_dry_run_delete_answers_with_the_terminating_pod_and_keeps_it(
        kube: KubernetesClusterClient) -> None:
    answer = kube.delete(PODS, NS, POD, dry_run=True, grace_period_seconds=5)
    assert answer["metadata"]["name"] == POD
    assert answer["metadata"]["deletionGracePeriodSeconds"] == 5
    assert "deletionTimestamp" not in kube.get(PODS, NS, POD)["metadata"]
    assert [p["metadata"]["name"] for p in storefront_pods(kube)] == \
        [OTHER_POD, POD]


def test_a_dry_run_create_answers_with_the_defaulted_object_and_stores_nothing(
        kube: KubernetesClusterClient) -> None:
    answer = kube.create(JOBS, NS, job_body("report-rerun"), dry_run=True)
    uid = answer["metadata"]["uid"]
    assert "resourceVersion" not in answer["metadata"]
    assert answer["spec"]["selector"] == {
        "matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert answer["spec"]["template"]["metadata"]["labels"]["job-name"] == "report-rerun"
    with pytest.raises(NotFound):
        kube.get(JOBS, NS, "report-rerun")


def test_a_dry_run_eviction_succeeds_and_keeps_the_pod(
        server: FakeKubeServer, kube: KubernetesClusterClient) -> None:
    answer = kube.evict(NS, POD, dry_run=True)
    assert answer["status"] == "Success"
    assert kube.get(PODS, NS, POD)["status"]["phase"] == "Running"
    assert server.paths("POST") == [f"/api/v1/namespaces/{NS}/pods/{POD}/eviction?dryRun=All"]


def test_a_dry_run_that_the_api_server_rejects_is_mapped_like_a_real_write(
        kube: KubernetesClusterClient) -> None:
    with pytest.raises(ValidationFailed) as caught:
        kube.patch(DEPLOYMENTS, NS, "storefront", {"spec": {"replicas": -1}}, dry_run=True)
    assert "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in \
        caught.value.message


# Real writes change the store


def test_a_strategic_patch_merges_containers_by_name_and_bumps_versions(
        kube: KubernetesClusterClient) -> None:
    before = kube.get(DEPLOYMENTS, NS, "storefront")
    body = {"spec": {"template": {"spec": {"containers": [
        {"name": "storefront", "resources": {"limits": {"memory": "512Mi"}}}]}}}}
    answer = kube.patch(DEPLOYMENTS, NS, "storefront", body, dry_run=False)
    container = kube.get(DEPLOYMENTS, NS, "storefront")["spec"]["template"]["spec"][
        "containers"][0]
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"},
                                      "limits": {"memory": "512Mi"}}
    assert container["image"] == "ghcr.io/demo-shop/storefront:3.8.2"
    assert answer["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert int(answer["metadata"]["resourceVersion"]) > \
        int(before["metadata"]["resourceVersion"])


def test_a_merge_patch_replaces_lists_and_null_removes_keys(
        kube: KubernetesClusterClient) -> None:
    kube.patch(DEPLOYMENTS, NS, "storefront", {"metadata": {"labels": {
        "app.kubernetes.io/part-of": None, "tier": "web"}}}, patch_type="merge", dry_run=False)
    kube.patch(NODES, None, "demo-worker-1", {"spec": {"taints": [
        {"key": "maintenance", "effect": "NoSchedule"}]}}, patch_type="merge", dry_run=False)
    assert kube.get(DEPLOYMENTS, NS, "storefront")["metadata"]["labels"] == {
        "app": "storefront", "tier": "web"}
    assert kube.get(NODES, None, "demo-worker-1")["spec"]["taints"] == [
        {"key": "maintenance", "effect": "NoSchedule"}]


def test_a_json_patch_applies_its_operations_in_order(kube: KubernetesClusterClient) -> None:
    kube.patch(DEPLOYMENTS, NS, "storefront", [
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/metadata/annotations/owner", "value": "team-web"}],
        patch_type="json", dry_run=False)
    deployment = kube.get(DEPLOYMENTS, NS, "storefront")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["metadata"]["annotations"]["owner"] == "team-web"
    assert len(storefront_pods(kube)) == 3


def test_delete_removes_the_object_and_answers_a_success_status(
        kube: KubernetesClusterClient) -> None:
    answer = kube.delete(CONFIGMAPS, NS, "orders-api-config", dry_run=False)
    assert answer["status"] == "Success" and answer["details"]["name"] == "orders-api-config"
    with pytest.raises(NotFound):
        kube.get(CONFIGMAPS, NS, "orders-api-config")


def test_a_created_job_gets_a_pod_that_runs_to_completion(
        kube: KubernetesClusterClient) -> None:
    created = kube.create(JOBS, NS, job_body("report-rerun"), dry_run=False)
    job = kube.get(JOBS, NS, "report-rerun")
    pods = kube.list(PODS, NS, label_selector="job-name=report-rerun")
    assert created["metadata"]["resourceVersion"]
    assert job["status"]["succeeded"] == 1 and job["status"]["completionTime"]
    assert {"Complete", "SuccessCriteriaMet"} <= {c["type"] for c in job["status"]["conditions"]}
    assert [p["status"]["phase"] for p in pods] == ["Succeeded"]


def test_an_eviction_deletes_the_pod_and_its_replicaset_replaces_it(
        kube: KubernetesClusterClient) -> None:
    answer = kube.evict(NS, POD, dry_run=False)
    pods = storefront_pods(kube)
    assert answer["status"] == "Success"
    assert POD not in [p["metadata"]["name"] for p in pods]
    assert len(pods) == 2 and all(ready(p) and owner_of(p) == OLD_RS for p in pods)


# Disruption budgets


def add_budget(kube: KubernetesClusterClient, **spec: Any) -> Obj:
    """A policy/v1 PodDisruptionBudget over the storefront pods."""
    return kube.create(PDBS, NS, {"metadata": {"name": "storefront"}, "spec": {
        "selector": {"matchLabels": {"app": "storefront"}}, **spec}}, dry_run=False)


def test_an_eviction_a_budget_forbids_raises_eviction_blocked_and_keeps_the_pod(
        kube: KubernetesClusterClient) -> None:
    add_budget(kube, minAvailable=2)
    for dry_run in (True, False):
        with pytest.raises(EvictionBlocked) as caught:
            kube.evict(NS, POD, dry_run=dry_run)
        assert caught.value.message == (
            "Cannot evict pod as it would violate the pod's disruption budget. (The "
            "disruption budget storefront needs 2 healthy pods and has 2 currently)")
    budget = kube.get(PDBS, NS, "storefront")["status"]
    assert (budget["disruptionsAllowed"], budget["currentHealthy"]) == (0, 2)
    assert kube.get(PODS, NS, POD)["status"]["phase"] == "Running"


def test_a_budget_allows_one_disruption_at_a_time(
        server: FakeKubeServer, kube: KubernetesClusterClient) -> None:
    add_budget(kube, maxUnavailable=1)
    server.auto_settle = False  # the replacement pod is not there yet
    kube.evict(NS, POD, dry_run=False)
    with pytest.raises(EvictionBlocked):
        kube.evict(NS, OTHER_POD, dry_run=False)
    assert server.settle() > 0
    kube.evict(NS, OTHER_POD, dry_run=False)
    assert len([p for p in storefront_pods(kube) if ready(p)]) == 1  # not settled again


def test_an_unready_pod_may_be_evicted_while_the_budget_is_met(
        server: FakeKubeServer, kube: KubernetesClusterClient) -> None:
    kube.patch(DEPLOYMENTS, NS, "storefront", {"spec": {"replicas": 3}}, dry_run=False)
    server.fail_new_pods = True
    crashing = kube.delete(PODS, NS, POD, dry_run=False)["metadata"]["name"]
    add_budget(kube, minAvailable=2)
    unready = next(p["metadata"]["name"] for p in storefront_pods(kube) if not ready(p))
    assert unready != crashing
    kube.evict(NS, unready, dry_run=True)
    healthy = next(p["metadata"]["name"] for p in storefront_pods(kube) if ready(p))
    with pytest.raises(EvictionBlocked):
        kube.evict(NS, healthy, dry_run=True)


# Refusals and error mapping


def test_secrets_are_refused_before_any_request(
        server: FakeKubeServer, kube: KubernetesClusterClient) -> None:
    calls = [lambda: kube.patch(SECRETS, NS, "db", {"data": {}}, dry_run=True),
             lambda: kube.delete(SECRETS, NS, "db", dry_run=False),
             lambda: kube.create(SECRETS, NS, {"metadata": {"name": "db"}}, dry_run=True)]
    for call in calls:
        with pytest.raises(Forbidden) as caught:
            call()
        assert caught.value.code == "secret_forbidden"
    assert server.requests == []


@pytest.mark.parametrize(("write", "error", "code", "says"), [
    (lambda k: k.patch(DEPLOYMENTS, NS, "nope", {"spec": {}}, dry_run=False), NotFound,
     "not_found", 'deployments.apps "nope" not found'),
    (lambda k: k.create(JOBS, "no-such-ns", job_body("x"), dry_run=True), NotFound,
     "not_found", 'namespaces "no-such-ns" not found'),
    (lambda k: k.create(CONFIGMAPS, NS, {"metadata": {"name": "orders-api-config"}},
                        dry_run=False), Conflict, "already_exists",
     'configmaps "orders-api-config" already exists'),
    (lambda k: k.patch(DEPLOYMENTS, NS, "storefront", {"metadata": {"resourceVersion": "7"},
                                                       "spec": {"replicas": 3}},
                       patch_type="merge", dry_run=False), Conflict, "cluster_conflict",
     "the object has been modified"),
    (lambda k: k.patch(DEPLOYMENTS, NS, "storefront", {"spec": {"template": {"spec": {
        "containers": [{"name": "storefront", "resources": {"requests": {"memory": "1Gi"}}}]
    }}}}, dry_run=False), ValidationFailed, "cluster_invalid",
     'spec.template.spec.containers[0].resources.requests: Invalid value: "1Gi": must be '
     "less than or equal to memory limit of 256Mi"),
    (lambda k: k.patch(PODS, NS, POD, {"spec": {"containers": [
        {"name": "storefront", "resources": {"limits": {"memory": "1Gi"}}}]}}, dry_run=True),
     ValidationFailed, "cluster_invalid", "pod updates may not change fields other than"),
    (lambda k: k.patch(DEPLOYMENTS, NS, "storefront", [
        {"op": "remove", "path": "/metadata/labels/missing"}], patch_type="json",
        dry_run=False), ValidationFailed, "cluster_invalid", "missing value"),
    (lambda k: k.create(JOBS, NS, {**job_body("x"), "spec": {
        **job_body("x")["spec"], "selector": {"matchLabels": {"a": "b"}}}}, dry_run=True),
     ValidationFailed, "cluster_invalid", "`selector` will be auto-generated"),
])
def test_refused_writes_map_to_drover_errors(
        kube: KubernetesClusterClient, write: Any, error: type[Exception], code: str,
        says: str) -> None:
    with pytest.raises(error) as caught:
        write(kube)
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert says in caught.value.message  # type: ignore[attr-defined]


def test_rbac_and_credential_refusals_of_writes_are_cluster_rejections(
        server: FakeKubeServer, kube: KubernetesClusterClient) -> None:
    server.forbid("pods/eviction")
    with pytest.raises(ClusterRejected) as caught:
        kube.evict(NS, POD, dry_run=True)
    assert caught.value.code == "cluster_forbidden"
    assert "forbids this eviction" in caught.value.message
    assert 'cannot create resource "pods/eviction"' in caught.value.message
    intruder = connect(server, token="wrong")
    with pytest.raises(ClusterRejected) as caught:
        intruder.delete(PODS, NS, POD, dry_run=False)
    assert caught.value.code == "cluster_unauthorized"
    assert kube.get(PODS, NS, POD)


def test_a_write_that_failed_on_the_server_is_not_retried_but_a_dry_run_is(
        server: FakeKubeServer, kube: KubernetesClusterClient) -> None:
    path = f"/apis/apps/v1/namespaces/{NS}/deployments/storefront"
    server.fail_next(1, 503, path_prefix=path)
    with pytest.raises(ClusterUnreachable) as caught:
        kube.patch(DEPLOYMENTS, NS, "storefront", {"spec": {"replicas": 3}}, dry_run=False)
    assert caught.value.extra["upstream_status"] == 503
    assert len(server.paths("PATCH")) == 1
    server.fail_next(1, 500, path_prefix=path)
    answer = kube.patch(DEPLOYMENTS, NS, "storefront", {"spec": {"replicas": 3}}, dry_run=True)
    assert answer["spec"]["replicas"] == 3
    assert len(server.paths("PATCH")) == 3


def test_an_eviction_refused_for_too_many_requests_without_a_budget_is_still_blocked(
        server: FakeKubeServer, kube: KubernetesClusterClient) -> None:
    server.fail_next(1, 429, path_prefix=f"/api/v1/namespaces/{NS}/pods/{POD}/eviction")
    with pytest.raises(EvictionBlocked):
        kube.evict(NS, POD, dry_run=False)
    assert len(server.paths("POST")) == 1
