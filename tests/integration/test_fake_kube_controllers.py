"""The fake API server's controllers, driven through Drover's adapter: what a remediation
verifies (pods recreated, rollouts, scaling, scheduling, jobs, stateful and daemon sets)
and the knobs that make verification fail (``fail_new_pods``)."""

from __future__ import annotations

import copy

import pytest
from kubernetes import client

from chalicelib.adapters.kubernetes_api import KubernetesClusterClient
from tests.fake_kube import FakeKubeServer
from tests.fake_kube.testing import (
    DAEMONSETS,
    DEPLOYMENTS,
    JOBS,
    NODES,
    NS,
    OLD_RS,
    OTHER_POD,
    POD,
    PODS,
    REPLICASETS,
    RESTARTED,
    STATEFULSETS,
    TOKEN,
    connect,
    job_body,
    owner_of,
    ready,
    revisions,
    rolled_out,
    storefront_pods,
    workload_body,
)

pytestmark = pytest.mark.integration



def test_a_deleted_replicaset_pod_is_recreated_ready_under_a_new_name(
        kube: KubernetesClusterClient) -> None:
    old = kube.get(PODS, NS, POD)
    answer = kube.delete(PODS, NS, POD, dry_run=False)
    pods = storefront_pods(kube)
    fresh = [p for p in pods if p["metadata"]["uid"] != answer["metadata"]["uid"]
             and p["metadata"]["name"] != OTHER_POD]
    assert answer["metadata"]["deletionTimestamp"]
    assert len(pods) == 2 and len(fresh) == 1
    assert fresh[0]["metadata"]["name"].startswith(f"{OLD_RS}-")
    assert fresh[0]["metadata"]["name"] != POD and ready(fresh[0])
    assert fresh[0]["spec"]["containers"] == old["spec"]["containers"]
    assert kube.get(REPLICASETS, NS, OLD_RS)["status"]["readyReplicas"] == 2


def test_rollout_restart_makes_a_new_revision_with_ready_pods(
        kube: KubernetesClusterClient) -> None:
    kube.patch(DEPLOYMENTS, NS, "storefront", RESTARTED, dry_run=False)
    deployment = kube.get(DEPLOYMENTS, NS, "storefront")
    (new_rs, (revision, replicas)), = [
        (name, value) for name, value in revisions(kube).items() if name != OLD_RS]
    pods = storefront_pods(kube)
    assert revisions(kube)[OLD_RS] == ("1", 0)
    assert (revision, replicas) == ("2", 2)
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert rolled_out(deployment, 2)
    assert len(pods) == 2 and all(ready(p) and owner_of(p) == new_rs for p in pods)
    assert all(p["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] for p in pods)


def test_fail_new_pods_makes_a_recreated_pod_crash_loop(
        server: FakeKubeServer, kube: KubernetesClusterClient) -> None:
    server.fail_new_pods = True
    kube.delete(PODS, NS, POD, dry_run=False)
    fresh = [p for p in storefront_pods(kube) if not ready(p)]
    assert len(fresh) == 1
    waiting = fresh[0]["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CrashLoopBackOff"
    assert fresh[0]["status"]["phase"] == "Running"


def test_a_rollout_whose_pods_crash_stalls_and_rolling_back_the_template_recovers(
        server: FakeKubeServer, kube: KubernetesClusterClient) -> None:
    server.fail_new_pods = lambda pod: pod["spec"]["containers"][0]["resources"][
        "limits"]["memory"] == "512Mi"
    previous = copy.deepcopy(kube.get(REPLICASETS, NS, OLD_RS)["spec"]["template"])
    del previous["metadata"]["labels"]["pod-template-hash"]
    kube.patch(DEPLOYMENTS, NS, "storefront", {"spec": {"template": {"spec": {"containers": [
        {"name": "storefront", "resources": {"limits": {"memory": "512Mi"}}}]}}}}, dry_run=False)
    stalled = kube.get(DEPLOYMENTS, NS, "storefront")
    assert not rolled_out(stalled, 2)
    assert (stalled["status"]["updatedReplicas"], stalled["status"]["availableReplicas"]) == (1, 2)
    assert revisions(kube)[OLD_RS] == ("1", 2)  # old pods keep serving
    kube.patch(DEPLOYMENTS, NS, "storefront", [
        {"op": "replace", "path": "/spec/template", "value": previous}], patch_type="json",
        dry_run=False)
    recovered = kube.get(DEPLOYMENTS, NS, "storefront")
    assert rolled_out(recovered, 2)
    assert revisions(kube)[OLD_RS] == ("3", 2)
    assert sorted(v for k, v in revisions(kube).items() if k != OLD_RS) == [("2", 0)]
    assert all(ready(p) and owner_of(p) == OLD_RS for p in storefront_pods(kube))


def test_the_scale_subresource_reads_and_changes_replicas(
        server: FakeKubeServer, kube: KubernetesClusterClient) -> None:
    with client.ApiClient(client.Configuration(
            host=server.url, api_key={"authorization": f"Bearer {TOKEN}"})) as api_client:
        apps = client.AppsV1Api(api_client)
        scale = apps.read_namespaced_deployment_scale("storefront", NS)
        assert (scale.spec.replicas, scale.status.selector) == (2, "app=storefront")
        apps.patch_namespaced_deployment_scale("storefront", NS, {"spec": {"replicas": 4}})
        assert len(storefront_pods(kube)) == 4
        apps.replace_namespaced_deployment_scale("storefront", NS, client.V1Scale(
            metadata=client.V1ObjectMeta(name="storefront"),
            spec=client.V1ScaleSpec(replicas=1)))
    assert [ready(p) for p in storefront_pods(kube)] == [True]
    assert kube.get(DEPLOYMENTS, NS, "storefront")["status"]["replicas"] == 1


def test_cordoned_nodes_get_no_new_pods_and_uncordoning_schedules_pending_ones(
        kube: KubernetesClusterClient) -> None:
    for node in ("demo-cp-1", "demo-gpu-1"):
        kube.patch(NODES, None, node, {"spec": {"unschedulable": True}}, dry_run=False)
    kube.delete(PODS, NS, OTHER_POD, dry_run=False)
    assert {p["spec"]["nodeName"] for p in storefront_pods(kube)} == {"demo-worker-1"}
    kube.patch(NODES, None, "demo-worker-1", {"spec": {"unschedulable": True}}, dry_run=False)
    kube.delete(PODS, NS, POD, dry_run=False)
    pending = [p for p in storefront_pods(kube) if p["status"]["phase"] == "Pending"]
    assert len(pending) == 1
    assert pending[0]["status"]["conditions"][0]["reason"] == "Unschedulable"
    kube.patch(NODES, None, "demo-gpu-1", {"spec": {"unschedulable": None}}, dry_run=False)
    moved = kube.get(PODS, NS, pending[0]["metadata"]["name"])
    assert moved["spec"]["nodeName"] == "demo-gpu-1" and ready(moved)


def test_deleting_a_job_deletes_its_pods_unless_they_are_orphaned(
        kube: KubernetesClusterClient) -> None:
    for name in ("cleanup", "keep-pods"):
        kube.create(JOBS, NS, job_body(name), dry_run=False)
    kube.delete(JOBS, NS, "cleanup", dry_run=False)
    kube.delete(JOBS, NS, "keep-pods", dry_run=False, propagation=None)  # batch/v1: Orphan
    assert kube.list(PODS, NS, label_selector="job-name=cleanup") == []
    orphans = kube.list(PODS, NS, label_selector="job-name=keep-pods")
    assert len(orphans) == 1 and orphans[0]["metadata"]["ownerReferences"] == []


def test_a_failing_job_stops_at_its_backoff_limit(
        server: FakeKubeServer, kube: KubernetesClusterClient) -> None:
    server.fail_new_pods = True
    kube.create(JOBS, NS, job_body("flaky", backoff=1), dry_run=False)
    job = kube.get(JOBS, NS, "flaky")
    failed = next(c for c in job["status"]["conditions"] if c["type"] == "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "BackoffLimitExceeded")
    assert job["status"]["failed"] == 2
    assert len(kube.list(PODS, NS, label_selector="job-name=flaky")) == 2


def test_statefulset_pods_come_back_with_their_names_and_restart_from_the_top(
        kube: KubernetesClusterClient) -> None:
    kube.create(STATEFULSETS, NS, workload_body("ledger", replicas=3), dry_run=False)
    uids = {p["metadata"]["name"]: p["metadata"]["uid"]
            for p in kube.list(PODS, NS, label_selector="app=ledger")}
    kube.delete(PODS, NS, "ledger-1", dry_run=False)
    again = kube.get(PODS, NS, "ledger-1")
    assert sorted(uids) == ["ledger-0", "ledger-1", "ledger-2"]
    assert again["metadata"]["uid"] != uids["ledger-1"] and ready(again)
    kube.patch(STATEFULSETS, NS, "ledger", RESTARTED, dry_run=False)
    after = {p["metadata"]["name"]: p["metadata"]["uid"]
             for p in kube.list(PODS, NS, label_selector="app=ledger")}
    sts = kube.get(STATEFULSETS, NS, "ledger")
    assert sorted(after) == sorted(uids) and not set(after.values()) & set(uids.values())
    assert rolled_out(sts, 3)
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]


def test_a_daemonset_runs_on_every_node_even_cordoned_and_restarts_pod_by_pod(
        kube: KubernetesClusterClient) -> None:
    kube.patch(NODES, None, "demo-gpu-1", {"spec": {"unschedulable": True}}, dry_run=False)
    kube.create(DAEMONSETS, NS, workload_body("log-agent"), dry_run=False)
    before = kube.list(PODS, NS, label_selector="app=log-agent")
    kube.patch(DAEMONSETS, NS, "log-agent", RESTARTED, dry_run=False)
    after = kube.list(PODS, NS, label_selector="app=log-agent")
    status = kube.get(DAEMONSETS, NS, "log-agent")["status"]
    assert sorted(p["spec"]["nodeName"] for p in before) == [
        "demo-cp-1", "demo-gpu-1", "demo-worker-1"]
    assert not {p["metadata"]["uid"] for p in before} & {p["metadata"]["uid"] for p in after}
    assert (status["desiredNumberScheduled"], status["updatedNumberScheduled"],
            status["numberAvailable"]) == (3, 3, 3)


def test_case_replicasets_without_a_revision_get_one_in_creation_order() -> None:
    template = {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "web:1"}]}}
    owner = [{"kind": "Deployment", "name": "web", "controller": True}]
    objects = {"deployments": [{"metadata": {"name": "web", "namespace": NS}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template}}],
        "replicasets": [{"metadata": {"name": f"web-{suffix}", "namespace": NS,
                                      "creationTimestamp": f"2026-01-0{day}T00:00:00Z",
                                      "ownerReferences": owner}}
                        for suffix, day in (("newer", 2), ("older", 1))]}
    with FakeKubeServer(objects, token=TOKEN) as server:
        found = {rs["metadata"]["name"]: rs["metadata"]["annotations"][
            "deployment.kubernetes.io/revision"] for rs in connect(server).list(REPLICASETS, NS)}
    assert found == {"web-older": "1", "web-newer": "2"}
