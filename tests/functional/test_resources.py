"""Resources: seed 003's tracked resources and Pulse's unified resources (seed 001) with the
metrics-store history, against the demo cluster and small hand-made cases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.fake_kube import FakeKubeServer
from tests.functional.conftest import Api, FakeCluster, register_cluster


def _rid(cluster: FakeCluster | str, kind: str, name: str, namespace: str | None = None) -> str:
    cid = cluster if isinstance(cluster, str) else cluster.cluster_id
    return ":".join(["k8s", cid, kind, *([namespace] if namespace else []), name])


def _ok(api: Api, method: str, path: str, **kwargs: Any) -> Any:
    status, body = api.call(method, path, **kwargs)
    assert status == 200, (path, body)
    return body


def _error(api: Api, path: str, status: int, method: str = "GET", **kwargs: Any) -> str:
    got, body = api.call(method, path, **kwargs)
    assert got == status, (path, body)
    assert {"error", "detail", "code"} <= set(body)
    return str(body["error"])


def _pod(name: str, labels: dict[str, str], owner: tuple[str, str] | None,
         phase: str = "Running", ready: bool = True) -> dict[str, Any]:
    refs = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "controller": True,
             "uid": f"uid-{owner[1]}"}] if owner else []
    return {"metadata": {"name": name, "namespace": "data", "labels": labels,
                         "ownerReferences": refs},
            "spec": {"nodeName": "solo-1", "containers": [{"name": "main", "image": "db:16"}]},
            "status": {"phase": phase, "containerStatuses": [
                {"name": "main", "ready": ready, "restartCount": 0, "image": "db:16",
                 "state": {"running": {}} if ready else {"terminated": {
                    "reason": "Completed", "exitCode": 0}} if phase == "Succeeded"
                else {"waiting": {"reason": "ContainerCreating"}}}]}}


def _record(cluster_name: str, minutes_ago: tuple[int, ...]) -> list[dict[str, Any]]:
    from chalicelib.bootstrap import get_container
    from chalicelib.domain.clock import iso, utcnow
    from chalicelib.domain.kube import Snapshot

    container = get_container()
    cluster = container.clusters.get(container.settings.default_workspace, cluster_name)
    latest = container.snapshots.latest(cluster)
    assert latest is not None
    client = container.clusters.client(cluster)
    return [container.resources.record_snapshot_metrics(cluster, client, Snapshot(
        cluster.cluster_id, iso(utcnow() - timedelta(minutes=m)), latest.objects))
        for m in minutes_ago]


# A one-node cluster without metrics-server: a StatefulSet whose selector has a set-based
# term, a CronJob with its Job, and a bare pod.
SMALL_CASE: dict[str, Any] = {"objects": {
    "nodes": [{"metadata": {"name": "solo-1", "labels": {
        "node-role.kubernetes.io/control-plane": "true"}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"}}}],
    "statefulsets": [{"metadata": {"name": "db", "namespace": "data"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "db"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["data"]}]},
        "template": {"spec": {"containers": [{"name": "main", "image": "db:16"}]}}},
        "status": {"replicas": 2, "readyReplicas": 1, "availableReplicas": 1}}],
    "pods": [_pod("db-0", {"app": "db", "tier": "data"}, ("StatefulSet", "db")),
             _pod("db-1", {"app": "db", "tier": "data"}, ("StatefulSet", "db"),
                  phase="Pending", ready=False),
             _pod("db-cache", {"app": "db", "tier": "cache"}, None),
             _pod("nightly-29000000-abcde", {"job-name": "nightly-29000000"},
                  ("Job", "nightly-29000000"), phase="Succeeded", ready=False)],
    "cronjobs": [{"metadata": {"name": "nightly", "namespace": "data"},
                  "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {}}}}],
    "jobs": [{"metadata": {"name": "nightly-29000000", "namespace": "data", "ownerReferences": [
        {"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly", "controller": True,
         "uid": "uid-nightly"}]},
        "spec": {"selector": {"matchLabels": {"job-name": "nightly-29000000"}}},
        "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}}],
}}


@pytest.fixture
def small_cluster(api: Api) -> Any:
    """SMALL_CASE served and registered as cluster ``small``."""
    server = FakeKubeServer.from_cases(SMALL_CASE)
    server.start()
    try:
        yield FakeCluster(server, "small", register_cluster(api, server, "small"))
    finally:
        server.stop()


# Seed 003: /v1/api/resources.

def test_tracked_resources_list_the_demo_objects_with_seed_003_paging_and_filters(
        api: Api, demo_cluster: FakeCluster) -> None:
    body = _ok(api, "GET", "/v1/api/resources")
    assert (body["page"], body["limit"], body["sort"], body["order"]) == (1, 20, "created_at",
                                                                          "desc")
    assert body["total"] == 25 and len(body["resources"]) == 20 and body["total_pages"] == 2
    assert {r["kind"] for r in body["resources"]} <= {"Node", "Pod", "Deployment", "Service",
                                                       "ConfigMap"}  # no ReplicaSets
    deployments = _ok(api, "GET", "/v1/api/resources?kind=Deployment&sort=name&order=asc"
                                  "&limit=100")["resources"]
    assert [d["name"] for d in deployments][:2] == ["cart-cache", "coredns"]
    orders = next(d for d in deployments if d["name"] == "orders-api")
    assert (orders["status"], orders["status_reason"]) == ("offline", "0/1 available")
    assert orders["summary"]["desired_replicas"] == 1 and orders["cluster"] == "demo"
    storefront = next(d for d in deployments if d["name"] == "storefront")
    assert storefront["id"] == _rid(demo_cluster, "deployment", "storefront", "demo-shop")
    crashing = _ok(api, "GET", "/v1/api/resources?kind=pods&namespace=demo-shop"
                               "&search=orders-api")["resources"]
    assert [(p["status"], p["status_reason"]) for p in crashing] == [("warning",
                                                                       "CrashLoopBackOff")]
    assert _ok(api, "GET", "/v1/api/resources?kind=ReplicaSet&cluster=demo")["total"] == 8
    assert _ok(api, "GET", "/v1/api/resources?namespace=kube-system&kind=deployment"
                           "&page=2&limit=1")["resources"][0]["name"] in ("coredns",
                                                                          "metrics-server")
    for query, status in (("sort=bogus", 400), ("order=up", 400), ("limit=0", 400),
                          ("limit=101", 400), ("page=x", 400), ("kind=Secret", 400),
                          ("kind=Event", 400), ("cluster=nope", 404)):
        assert "'" in _error(api, f"/v1/api/resources?{query}", status)


def test_a_tracked_resource_shows_its_owner_and_issues_and_unknown_ids_are_404(
        api: Api, demo_cluster: FakeCluster) -> None:
    pod = _ok(api, "GET", "/v1/api/resources/" + _rid(
        demo_cluster, "pod", "cart-cache-7b5d9f6c8e-h3n6t", "demo-shop"))
    assert pod["owner_references"][0]["kind"] == "ReplicaSet"
    assert pod["parent_id"] == _rid(demo_cluster, "deployment", "cart-cache", "demo-shop")
    assert pod["issues"] and pod["issues"][0]["severity"] == "critical"
    assert pod["summary"]["restarts"] == 6 and pod["summary"]["node_name"] == "demo-cp-1"
    node = _ok(api, "GET", "/v1/api/resources/" + _rid(demo_cluster, "node", "demo-gpu-1")
               .replace(":", "%3A"))
    assert node["namespace"] is None and node["summary"]["allocatable_cpu_cores"] > 0
    for missing in (_rid(demo_cluster, "pod", "gone", "demo-shop"),
                    _rid("c-0000000000000000", "node", "demo-cp-1"), "not-an-id",
                    _rid(demo_cluster, "secret", "x", "demo-shop"), "k8s:x:pod:only-a-name"):
        assert "not found" in _error(api, f"/v1/api/resources/{missing}", 404)


def test_user_fields_are_validated_stored_and_shown_in_both_views(
        api: Api, demo_cluster: FakeCluster, make_key: Any) -> None:
    rid = _rid(demo_cluster, "deployment", "payment-gateway", "demo-shop")
    changed = _ok(api, "PATCH", f"/v1/api/resources/{rid}", body={
        "display_name": "Payments", "tags": ["pci", "team:payments"], "owner": "payments-team",
        "notes": "card processing"})
    assert (changed["display_name"], changed["tags"], changed["owner"]) == (
        "Payments", ["pci", "team:payments"], "payments-team")
    assert changed["fields_updated_by"] and changed["fields_updated_at"]
    assert changed["status"] == "online"  # everything else still comes from the cluster
    cleared = _ok(api, "PATCH", f"/v1/api/resources/{rid}", body={"notes": None})
    assert cleared["notes"] is None and cleared["owner"] == "payments-team"
    listed = _ok(api, "GET", "/v1/api/resources?search=payments-team")["resources"]
    assert [r["id"] for r in listed] == [rid]
    unified = _ok(api, "GET", f"/api/v2/resources/{rid}")
    assert unified["displayName"] == "Payments" and unified["tags"][:2] == ["pci",
                                                                          "team:payments"]
    assert [r["id"] for r in _ok(api, "GET", "/api/v2/resources?tags=PCI")["data"]] == [rid]
    for bad in ({"name": "renamed"}, {}, {"tags": ["has space"]}, {"tags": "pci"},
                {"tags": ["x"] * 21}, {"display_name": "x" * 129}, {"owner": 5}):
        assert _error(api, f"/v1/api/resources/{rid}", 422, "PATCH", body=bad)
    assert _error(api, f"/v1/api/resources/{rid}", 400, "PATCH", body=["pci"])
    gone = _rid(demo_cluster, "deployment", "gone", "demo-shop")
    assert _error(api, f"/v1/api/resources/{gone}", 404, "PATCH", body={"owner": "me"})
    reader = make_key("clusters:read")
    assert _error(api, f"/v1/api/resources/{rid}", 403, "PATCH", key=reader,
                  body={"owner": "me"})
    other = make_key("clusters:read", workspace="elsewhere")
    assert _error(api, f"/v1/api/resources/{rid}", 404, key=other)


def test_sync_snapshots_the_cluster_and_an_unreachable_one_answers_503(
        api: Api, demo_cluster: FakeCluster) -> None:
    before = len(demo_cluster.server.paths())
    synced = _ok(api, "POST", "/v1/api/resources/sync")
    assert synced["cluster"] == "demo" and synced["counts"]["Deployment"] == 8
    assert synced["counts"]["Pod"] == 9 and synced["total"] == sum(synced["counts"].values())
    assert len(demo_cluster.server.paths()) > before  # it read the cluster again
    again = _ok(api, "POST", "/v1/api/resources/sync", body={"cluster": "demo"})
    assert again["synced_at"] > synced["synced_at"]
    assert "not found" in _error(api, "/v1/api/resources/sync", 404, "POST",
                                 body={"cluster": "nope"})
    assert _error(api, "/v1/api/resources/sync", 400, "POST", body={"cluster": 3})
    demo_cluster.server.stop()
    assert _error(api, "/v1/api/resources/sync", 503, "POST")
    pods = _rid(demo_cluster, "deployment", "storefront", "demo-shop") + "/pods"
    assert _error(api, f"/v1/api/resources/{pods}", 503)
    body = _ok(api, "GET", "/api/v2/resources?limit=100")
    cluster = next(r for r in body["data"] if r["type"] == "k8s-cluster")
    assert cluster["status"] == "offline"
    assert cluster["sourceStatus"]["kubernetes"]["status"] == "offline"
    assert {r["status"] for r in body["data"] if r["type"] != "k8s-cluster"} == {"unknown"}
    assert _record("demo", (1,))[0]["recorded"] == 0


def test_workload_pods_are_read_live_with_the_label_selector(
        api: Api, demo_cluster: FakeCluster, small_cluster: FakeCluster) -> None:
    rid = _rid(demo_cluster, "deployment", "storefront", "demo-shop")
    body = _ok(api, "GET", f"/v1/api/resources/{rid}/pods")
    assert body["selector"] == "app=storefront" and body["count"] == 2
    assert {p["ready"] for p in body["pods"]} == {"1/1"}
    assert any("labelSelector=app%3Dstorefront" in p for p in demo_cluster.server.paths())
    stateful = _ok(api, "GET", "/v1/api/resources/" + _rid(small_cluster, "statefulset", "db",
                                                            "data") + "/pods")
    assert stateful["selector"] == "app=db,tier in (data)"
    assert [p["name"] for p in stateful["pods"]] == ["db-0", "db-1"]
    assert stateful["pods"][1]["status"] == "ContainerCreating"
    job = _ok(api, "GET", "/v1/api/resources/" + _rid(small_cluster, "job", "nightly-29000000",
                                                       "data") + "/pods")
    assert [p["status"] for p in job["pods"]] == ["Completed"]
    for kind, name in (("service", "storefront"), ("pod", "storefront-6d8f7b9c4d-x7k2p")):
        assert "has no pods" in _error(
            api, f"/v1/api/resources/{_rid(demo_cluster, kind, name, 'demo-shop')}/pods", 400)
    assert _error(api, "/v1/api/resources/" + _rid(small_cluster, "cronjob", "nightly", "data")
                  + "/pods", 400)
    gone = _rid(demo_cluster, "deployment", "gone", "demo-shop")
    assert _error(api, f"/v1/api/resources/{gone}/pods", 404)


# Seed 001 (Pulse): /api/v2/resources.

def test_unified_list_has_pulses_shape_filters_and_pagination(
        api: Api, demo_cluster: FakeCluster) -> None:
    body = _ok(api, "GET", "/api/v2/resources")
    assert body["meta"] == {"page": 1, "limit": 50, "total": 26, "totalPages": 1}
    aggregations = body["aggregations"]
    assert aggregations["total"] == 26 and aggregations["bySource"] == {"kubernetes": 26}
    assert aggregations["byType"]["k8s-cluster"] == 1 and aggregations["byType"]["pod"] == 9
    names = [r["name"] for r in body["data"]]
    assert names == sorted(names, key=str.lower)
    cluster = next(r for r in body["data"] if r["type"] == "k8s-cluster")
    assert cluster["id"] == f"k8s:{demo_cluster.cluster_id}:cluster"
    assert cluster["status"] == "warning" and "parentId" not in cluster
    assert {"id", "type", "name", "displayName", "status", "lastSeen", "sources",
            "sourceStatus", "parentId", "clusterId", "tags", "kubernetes", "metricsTarget",
            "childCount"} <= set(next(r for r in body["data"] if r["type"] == "k8s-node"))
    pods = _ok(api, "GET", "/api/v2/resources?type=k8s-pod,pods&status=warning,offline"
                           "&sort=status&order=desc")["data"]
    assert {p["type"] for p in pods} == {"pod"} and pods[0]["status"] == "warning"
    assert {p["statusReason"] for p in pods} >= {"CrashLoopBackOff", "ImagePullBackOff"}
    top = _ok(api, "GET", f"/api/v2/resources?parent={cluster['id']}&limit=100")["data"]
    assert {r["type"] for r in top} == {"k8s-node", "k8s-deployment", "k8s-service",
                                        "k8s-configmap"}
    paged = _ok(api, "GET", "/api/v2/resources?type=k8s&q=STORE&page=2&limit=1"
                            "&cluster=DEMO&source=kubernetes")
    assert paged["meta"] == {"page": 2, "limit": 1, "total": 4, "totalPages": 4}
    assert _ok(api, "GET", "/api/v2/resources?type=vm")["data"] == []
    assert _ok(api, "GET", "/api/v2/resources?source=proxmox")["meta"]["total"] == 0
    assert _ok(api, "GET", "/api/v2/resources?cluster=other")["meta"]["total"] == 0
    assert _ok(api, "GET", "/api/v2/resources?type=k8s-replicaset")["meta"]["total"] == 8
    for query in ("type=vmz", "source=cloud", "status=critical", "sort=created", "order=up",
                  "limit=101", "limit=0", "page=0", "page=one"):
        assert "'" in _error(api, f"/api/v2/resources?{query}", 400)


def test_one_resource_its_children_stats_and_live_usage_follow_the_tree(
        api: Api, demo_cluster: FakeCluster) -> None:
    deployment = _rid(demo_cluster, "deployment", "storefront", "demo-shop")
    one = _ok(api, "GET", f"/api/v2/resources/{deployment}")
    assert one["type"] == "k8s-deployment" and one["childCount"] == 2
    assert one["kubernetes"]["availableReplicas"] == 2
    children = _ok(api, "GET", f"/api/v2/resources/{deployment}/children")
    assert children["count"] == 2 and {c["parentId"] for c in children["data"]} == {deployment}
    assert {c["kubernetes"]["nodeName"] for c in children["data"]} == {"demo-cp-1",
                                                                       "demo-worker-1"}
    node = _ok(api, "GET", f"/api/v2/resources/{_rid(demo_cluster, 'node', 'demo-cp-1')}")
    assert node["status"] == "online" and "control-plane" in node["tags"]
    assert node["metricsTarget"] == {"resourceType": "k8s", "resourceId": node["id"]}
    root = f"k8s:{demo_cluster.cluster_id}:cluster"
    assert _ok(api, "GET", f"/api/v2/resources/{root}/children")["count"] == 16
    stats = _ok(api, "GET", "/api/v2/resources/stats")
    assert stats["total"] == 26 and sum(stats["byStatus"].values()) == 26
    assert stats["health"]["online"] == stats["byStatus"]["online"]
    assert stats["clusters"][0]["name"] == "demo" and stats["clusters"][0]["issues"] > 0
    assert "not found" in _error(api, f"/api/v2/resources/{root}x", 404)
    assert _error(api, f"/api/v2/resources/{deployment}x/children", 404)
    node = _ok(api, "GET", f"/api/v2/resources/{_rid(demo_cluster, 'node', 'demo-cp-1')}"
                           "/metrics")
    assert node["available"] is True and node["source"] == "metrics-server"
    assert node["cpu"]["unit"] == "cores" and node["cpu"]["total"] == 4
    assert 0 < node["cpu"]["percent"] < 100 and 0 < node["memory"]["percent"] < 100
    whole = _ok(api, "GET", f"/api/v2/resources/k8s:{demo_cluster.cluster_id}:cluster/metrics")
    assert whole["measured"] == 3 and whole["cpu"]["used"] > node["cpu"]["used"]
    pods = _ok(api, "GET", "/api/v2/resources/" + _rid(
        demo_cluster, "deployment", "storefront", "demo-shop") + "/metrics")
    assert pods["available"] is True and pods["measured"] == 2
    service = _ok(api, "GET", "/api/v2/resources/" + _rid(
        demo_cluster, "service", "storefront", "demo-shop") + "/metrics")
    assert service["available"] is False and "Service" in service["reason"]


# Live usage and history.

def test_snapshot_metrics_become_downsampled_history_and_bad_queries_are_refused(
        api: Api, demo_cluster: FakeCluster) -> None:
    node = _rid(demo_cluster, "node", "demo-worker-1")
    path = f"/api/metrics-store/history?resourceType=k8s&resourceId={node}&metric=cpu&range=1h"
    # Points the snapshot flow itself recorded (at registration), if it records any.
    extra = len(_ok(api, "GET", path)["points"])
    assert _record("demo", (50, 40, 30, 20, 10)) == [{"recorded": 4,
                                                     "metrics_server": True}] * 5
    cpu = _ok(api, "GET", path)
    assert (cpu["metric"], cpu["range"], cpu["source"]) == ("cpu", "1h", "store")
    assert len(cpu["points"]) == 5 + extra and cpu["end"] - cpu["start"] == 3_600_000
    assert all(p["min"] == p["max"] == p["value"] and 0 < p["value"] < 100
               for p in cpu["points"])
    assert [p["timestamp"] for p in cpu["points"]] == sorted(p["timestamp"]
                                                               for p in cpu["points"])
    fewer = _ok(api, "GET", f"/api/metrics-store/history?resourceType=k8s-node&resourceId="
                            f"{node}&metric=memory&maxPoints=2&range=90m")["points"]
    assert len(fewer) == 2 and sum(p["count"] for p in fewer) == 5 + extra
    short = _ok(api, "GET", f"/api/metrics-store/history?resourceType=node&resourceId={node}"
                            "&range=25m")
    assert set(short["metrics"]) == {"cpu", "memory"}
    assert len(short["metrics"]["cpu"]) == 2 + extra
    whole = _ok(api, "GET", "/api/metrics-store/history?resourceType=k8s-cluster"
                            "&resourceId=demo")
    assert set(whole["metrics"]) == {"cpu", "memory", "health"}
    assert len(whole["metrics"]["cpu"]) == 5 + extra and len(whole["metrics"]["health"]) >= 1
    listed = _ok(api, "GET", f"/api/v2/resources/{node}")
    assert listed["metrics"]["cpu"]["percent"] == cpu["points"][-1]["value"]
    node = _rid(demo_cluster, "node", "demo-cp-1")
    base = "/api/metrics-store/history?"
    for query in ("resourceId=x", "resourceType=k8s", f"resourceType=vmz&resourceId={node}",
                  f"resourceType=k8s&resourceId={node}&metric=disk",
                  f"resourceType=k8s&resourceId={node}&metric=health",
                  f"resourceType=k8s&resourceId={node}&range=forever",
                  f"resourceType=k8s&resourceId={node}&range=91d",
                  f"resourceType=k8s&resourceId={node}&range=30s",
                  f"resourceType=k8s&resourceId={node}&maxPoints=0",
                  "resourceType=k8s&resourceId=" + _rid(demo_cluster, "pod", "p", "demo-shop")):
        assert _error(api, base + query, 400)
    for query in ("resourceType=k8s-node&resourceId=demo-cp-1",
                  "resourceType=cluster&resourceId=nope",
                  "resourceType=k8s&resourceId=k8s:c-0000000000000000:cluster"):
        assert _error(api, base + query, 404)
    health = _ok(api, "GET", base + f"resourceType=cluster&resourceId={demo_cluster.cluster_id}"
                                    "&metric=health&range=7d")
    assert len(health["points"]) >= 1 and 0 <= health["points"][0]["value"] <= 100
    assert "message" not in health


def test_a_cluster_without_metrics_server_says_so_everywhere(
        api: Api, small_cluster: FakeCluster) -> None:
    assert _record("small", (5,)) == [{"recorded": 0, "metrics_server": False}]
    node = _rid(small_cluster, "node", "solo-1")
    live = _ok(api, "GET", f"/api/v2/resources/{node}/metrics")
    assert live["available"] is False and "metrics-server is not installed" in live["reason"]
    history = _ok(api, "GET", f"/api/metrics-store/history?resourceType=k8s&resourceId={node}")
    assert history["metrics"] == {"cpu": [], "memory": []}
    assert "metrics-server" in history["message"]
    resources = {r["name"]: r for r in _ok(api, "GET", "/api/v2/resources?cluster=small")["data"]}
    assert "metrics" not in resources["solo-1"]
    assert resources["db"]["status"] == "warning"  # 1 of 2 replicas available
    assert resources["db-1"]["parentId"] == resources["db"]["id"]
    assert resources["db-cache"]["parentId"] == node  # a bare pod sits under its node
    assert resources["nightly-29000000"]["parentId"] == resources["nightly"]["id"]
    assert resources["nightly-29000000-abcde"]["status"] == "offline"  # Pulse: Succeeded
