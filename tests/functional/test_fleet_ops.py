"""Seed 000's fleet operations (upgrade risk, GPU nodes, monitoring, etcd snapshots, support
bundles) through the API, against fake API servers: the demo k3s cluster (GPU node,
metrics-server) and small cases (no metrics-server, GKE, etcd snapshot records)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib.domain.kube import ResourceKind
from tests.fake_kube import FakeKubeServer
from tests.functional.conftest import Api, FakeCluster, register_cluster

Obj = dict[str, Any]
T0 = "2026-03-01T08:00:00Z"
ETCD_KIND = ResourceKind("etcdsnapshotfiles", "ETCDSnapshotFile", "k3s.cattle.io", "v1", False)
SNAP = "etcd-snapshot-cp-1-1772524800"
SNAP_PATH = f"/var/lib/rancher/k3s/server/db/snapshots/{SNAP}"


def node(name: str, *, ready: str = "True", kubelet: str = "v1.31.4+k3s1",
         labels: dict[str, str] | None = None, extra: dict[str, str] | None = None,
         pressure: str | None = None, memory: str = "8Gi") -> Obj:
    conditions = [{"type": t, "status": "False", "lastTransitionTime": T0, "reason": "ok"}
                  for t in ("MemoryPressure", "DiskPressure", "PIDPressure")]
    if pressure:
        conditions = [dict(c, status="True", reason=f"KubeletHas{pressure}",
                           message=f"kubelet has {pressure.lower()}")
                      if c["type"] == pressure else c for c in conditions]
    conditions.append({"type": "Ready", "status": ready, "lastTransitionTime": T0,
                       "reason": "KubeletReady" if ready == "True" else "NodeStatusUnknown",
                       "message": "kubelet stopped posting node status" if ready != "True"
                       else "kubelet is posting ready status"})
    resources = {"cpu": "4", "memory": memory, "pods": "110", **(extra or {})}
    return {"metadata": {"name": name, "labels": labels or {}},
            "status": {"capacity": resources, "allocatable": resources,
                       "conditions": conditions, "nodeInfo": {"kubeletVersion": kubelet}}}


CP = {"node-role.kubernetes.io/control-plane": "true"}


@contextmanager
def cluster(api: Api, name: str, case: Obj, **options: Any) -> Iterator[FakeKubeServer]:
    """A started fake API server holding ``case``, registered as ``name``."""
    server = FakeKubeServer.from_cases(case, **options)
    server.start()
    try:
        register_cluster(api, server, name)
        yield server
    finally:
        server.stop()


def serve_etcd_snapshot_files(server: FakeKubeServer, objects: list[Obj]) -> None:
    """Make the fake server serve k3s's cluster-scoped ETCDSnapshotFile resource."""
    server.api.groups[(ETCD_KIND.group, ETCD_KIND.version)] = {
        ETCD_KIND.plural: (ETCD_KIND, server.store)}
    for obj in objects:
        server.store.put(ETCD_KIND, obj)


def snapshot_file(name: str, snapshot: str, *, ready: bool = True, s3: bool = False) -> Obj:
    spec: Obj = {"snapshotName": snapshot, "nodeName": "s3" if s3 else "cp-1",
                 "location": f"s3://backups/k3s/{snapshot}" if s3 else f"file://{SNAP_PATH}"}
    if s3:
        spec["s3"] = {"bucket": "backups", "prefix": "k3s", "endpoint": "s3.example.com"}
    status: Obj = {"readyToUse": ready, "size": "8401952", "creationTime": "2026-03-03T08:00:00Z"}
    if not ready:
        status["error"] = {"message": "etcdserver: request timed out", "time": T0}
    return {"metadata": {"name": name}, "spec": spec, "status": status}


# Upgrade risk

BAD_UPGRADES = [
    ({"component": "k3s", "target_version": "v1.30.2+k3s1"}, 400, "downgrade_refused"),
    ({"component": "k3s", "target_version": "v1.31.4+k3s1"}, 400, "no_upgrade"),
    ({"component": "k3s", "target_version": "latest"}, 400, "bad_version"),
    ({"component": "kubernetes", "target_version": "v1.32.1+rke2r1"}, 400, "bad_version"),
    ({"component": "rke2", "target_version": "v1.32.1+rke2r1"}, 409, "cluster_feature_missing"),
    ({"target_version": "v1.32.1"}, 422, "invalid_payload"),
    ({"component": "k3s"}, 422, "invalid_payload"),
]


def test_upgrade_risk_weighs_findings_skipped_minors_and_unknown_components(
        api: Api, demo_cluster: FakeCluster) -> None:
    path = f"/api/clusters/{demo_cluster.cluster_id}/upgrade-risk"
    status, patch = api.call("POST", path, body={"component": "k3s",
                                                 "target_version": "v1.31.5+k3s1"})
    assert status == 200, patch
    assert patch["risk_level"] == "medium"  # the demo cluster has critical findings
    assert patch["breaking_changes"] == 0 and patch["breaking"] == []
    assert patch["known_issues"] == len(patch["issues"]) > 0
    assert any("OOMKilled" in i["title"] for i in patch["issues"])
    assert (patch["current_version"], patch["upgrade_type"]) == ("v1.31.4+k3s1", "patch")
    assert "known issues" in patch["recommendation"]

    status, jump = api.call("POST", "/api/clusters/demo/upgrade-risk",
                            body={"component": "kubernetes", "target_version": "1.33"})
    assert status == 200, jump
    assert jump["risk_level"] == "critical"
    assert [b["type"] for b in jump["breaking"]] == ["skipped_minor"]
    assert jump["upgrade_path"] == ["1.32", "1.33"] and "1.32 -> 1.33" in jump["recommendation"]
    flowcontrol = [r for r in jump["removed_apis"] if r["removed_in"] == "1.32"]
    assert flowcontrol and not any(r["detected"] for r in flowcontrol)

    status, addon = api.call("POST", "/api/clusters/demo/upgrade-risk",
                             body={"component": "longhorn", "target_version": "1.7.2"})
    assert status == 200, addon
    assert addon["release_knowledge"] is False and addon["breaking_changes_assessed"] is False
    assert (addon["risk_level"], addon["current_version"]) == ("medium", None)
    assert "no release knowledge of longhorn" in addon["recommendation"]


def test_bad_upgrade_requests_are_refused_with_the_reason(
        api: Api, demo_cluster: FakeCluster) -> None:
    for body, status, code in BAD_UPGRADES:
        got, answer = api.call("POST", "/api/clusters/demo/upgrade-risk", body=body)
        assert (got, answer["code"]) == (status, code), (body, answer)
    got, answer = api.call("POST", "/api/clusters/nope/upgrade-risk",
                           body={"component": "k3s", "target_version": "v1.32.0"})
    assert (got, answer["code"]) == (404, "cluster_not_found")


def test_lagging_kubelets_make_an_upgrade_critical_and_not_ready_nodes_high(api: Api) -> None:
    old = {"objects": {"nodes": [node("cp-1", kubelet="v1.24.9+k3s1", labels=CP),
                                 node("old-1", kubelet="v1.22.17+k3s1")]}}
    with cluster(api, "old", old, version="v1.24.9+k3s1"):
        status, body = api.call("POST", "/api/clusters/old/upgrade-risk",
                                body={"component": "k3s", "target_version": "v1.25.16+k3s4"})
    assert status == 200, body
    assert body["risk_level"] == "critical"
    skew = [b for b in body["breaking"] if b["type"] == "kubelet_skew"]
    assert skew[0]["nodes"] == ["old-1"] and "by 3 minor releases" in skew[0]["detail"]
    removed = {(r["api_version"], r["kind"]) for r in body["removed_apis"]}
    assert ("policy/v1beta1", "PodSecurityPolicy") in removed

    flaky = {"objects": {"nodes": [node("cp-1", labels=CP), node("w-1", ready="Unknown")]}}
    with cluster(api, "flaky", flaky, version="v1.31.4+k3s1"):
        status, body = api.call("POST", "/api/clusters/flaky/upgrade-risk",
                                body={"component": "k3s", "target_version": "v1.32.2+k3s1"})
    assert status == 200, body
    assert body["risk_level"] == "high"
    assert [i["type"] for i in body["issues"]] == ["node_not_ready"]


# GPU nodes


GPU_CASE = {"objects": {
    "nodes": [node("cpu-1", labels=CP),
              node("mi300-1", labels={"amd.com/gpu.product-name": "AMD_Instinct_MI300X",
                                      "amd.com/gpu.vram": "192G"}, extra={"amd.com/gpu": "8"})],
    "pods": [
        {"metadata": {"name": "train-0", "namespace": "ml"},
         "spec": {"nodeName": "mi300-1", "containers": [
             {"name": "t", "resources": {"limits": {"amd.com/gpu": "2"}}},
             {"name": "s", "resources": {"requests": {"amd.com/gpu": "1"},
                                         "limits": {"amd.com/gpu": "1"}}}]},
         "status": {"phase": "Running"}},
        {"metadata": {"name": "done-0", "namespace": "ml"},
         "spec": {"nodeName": "mi300-1", "containers": [
             {"name": "t", "resources": {"limits": {"amd.com/gpu": "4"}}}]},
         "status": {"phase": "Succeeded"}}]}}


def test_gpu_nodes_of_every_cluster_are_listed_without_invented_utilization(
        api: Api, demo_cluster: FakeCluster) -> None:
    with cluster(api, "ml", GPU_CASE):
        status, rows = api.call("GET", "/api/gpu/nodes")
        assert status == 200, rows
        assert [(r["cluster"], r["node_name"]) for r in rows] == [
            ("demo", "demo-gpu-1"), ("ml", "mi300-1")]
        a100, mi300 = rows
        assert (a100["gpu_model"], a100["gpu_count"], a100["gpu_allocatable"],
                a100["memory_total_gb"]) == ("NVIDIA-A100-SXM4-80GB", 2, 2, 160.0)
        assert (mi300["gpu_vendor"], mi300["gpu_model"], mi300["gpu_count"],
                mi300["gpus_requested"], mi300["gpus_free"], mi300["memory_total_gb"]) == (
            "amd", "AMD_Instinct_MI300X", 8, 3, 5, 1536.0)
        for row in rows:
            assert row["utilization"] is None and row["memory_used_gb"] is None
            assert "DCGM" in row["utilization_source"]
        status, only = api.call("GET", "/api/gpu/nodes?cluster=ml")
        assert [r["node_name"] for r in only] == ["mi300-1"]
    assert api.call("GET", "/api/gpu/nodes", key=None)[0] == 401


# Monitoring


def test_monitoring_status_tells_which_api_servers_and_metrics_servers_answer(
        api: Api, demo_cluster: FakeCluster) -> None:
    with cluster(api, "bare", {"objects": {"nodes": [node("cp-1", labels=CP)]}}):
        status, body = api.call("GET", "/api/monitoring/status")
    assert status == 200, body
    rows = {r["cluster"]: r for r in body["clusters"]}
    assert rows["demo"]["status"] == "ok" and rows["demo"]["metrics_server"]["available"]
    assert rows["demo"]["api_server"] == {"reachable": True, "version": "v1.31.4+k3s1",
                                          "nodes": 3, "error": None}
    assert rows["demo"]["last_snapshot_at"]
    assert rows["bare"]["status"] == "degraded"
    assert "metrics-server is not installed" in rows["bare"]["metrics_server"]["reason"]

    demo_cluster.server.stop()
    status, body = api.call("GET", "/api/monitoring/status?cluster=demo")
    assert status == 200, body
    row = body["clusters"][0]
    assert row["status"] == "unreachable" and row["api_server"]["reachable"] is False
    assert row["api_server"]["error"] and row["last_snapshot_at"]


def test_monitoring_metrics_show_usage_or_why_there_is_none(
        api: Api, demo_cluster: FakeCluster) -> None:
    status, body = api.call("GET", "/api/monitoring/metrics?namespace=demo-shop&limit=2")
    assert status == 200, body
    assert body["available"] is True
    assert {n["name"] for n in body["nodes"]} == {"demo-cp-1", "demo-worker-1", "demo-gpu-1"}
    cp = next(n for n in body["nodes"] if n["name"] == "demo-cp-1")
    assert 40 < cp["memory_percent"] < 50
    assert len(body["pods"]) == 2 and body["pods_truncated"] is True
    assert all(p["namespace"] == "demo-shop" for p in body["pods"])
    assert api.call("GET", "/api/monitoring/metrics?limit=0")[0] == 400
    assert api.call("GET", "/api/monitoring/metrics?namespace=../../api")[0] == 400

    with cluster(api, "bare", {"objects": {"nodes": [node("cp-1", labels=CP)]}}):
        status, body = api.call("GET", "/api/monitoring/metrics?cluster=bare")
    assert status == 200, body
    assert body["available"] is False and body["nodes"] == []
    assert "metrics-server is not installed" in body["reason"]


def test_alerts_come_from_node_conditions_and_usage_with_stable_ids(api: Api) -> None:
    case = {"objects": {"nodes": [node("cp-1", labels=CP, memory="4Gi"),
                                  node("w-1", pressure="MemoryPressure"),
                                  node("w-2", ready="Unknown")]},
            "metrics": {"nodes": [
                {"metadata": {"name": "cp-1"}, "usage": {"cpu": "500m", "memory": "3900Mi"},
                 "timestamp": "2026-03-04T09:14:45Z"},
                {"metadata": {"name": "w-1"}, "usage": {"cpu": "1", "memory": "1Gi"}}]}}
    with cluster(api, "hot", case):
        status, body = api.call("GET", "/api/monitoring/alerts?cluster=hot")
        again = api.call("GET", "/api/monitoring/alerts?cluster=hot")[1]
    assert status == 200, body
    found = {(a["name"], a["node"]): a for a in body["alerts"]}
    assert set(found) == {("NodeNotReady", "w-2"), ("NodeMemoryPressure", "w-1"),
                          ("NodeMemoryUsageHigh", "cp-1")}
    assert body["alerts"][0]["name"] == "NodeNotReady"  # critical first
    assert found[("NodeMemoryPressure", "w-1")]["firing_since"] == T0
    assert found[("NodeMemoryUsageHigh", "cp-1")]["firing_since"] == "2026-03-04T09:14:45Z"
    assert all(a["cluster"] == "hot" and a["id"].startswith("alert-") for a in body["alerts"])
    assert [a["id"] for a in again["alerts"]] == [a["id"] for a in body["alerts"]]
    assert body["clusters"] == [{"cluster": "hot", "checked": True, "usage_checked": True,
                                 "reason": None}]


# etcd


def test_etcd_of_a_managed_cluster_is_409(api: Api) -> None:
    case = {"objects": {"nodes": [node("gke-pool-1", kubelet="v1.30.5-gke.1014001")]}}
    with cluster(api, "gke-prod", case, version="v1.30.5-gke.1014001") as server:
        for method, path, body in (("GET", "/api/etcd/snapshots", None),
                                   ("POST", "/api/etcd/snapshot", {}),
                                   ("POST", "/api/etcd/restore", {"snapshot_name": SNAP})):
            status, answer = api.call(method, f"{path}?cluster=gke-prod", body=body)
            assert (status, answer["code"]) == (409, "cluster_feature_missing"), answer
            assert "managed by the provider" in answer["error"]
        assert server.paths("POST") == []


def test_etcd_snapshots_come_from_etcdsnapshotfiles_or_the_older_configmap(api: Api) -> None:
    with cluster(api, "edge", {"objects": {"nodes": [node("cp-1", labels=CP)]}}) as server:
        serve_etcd_snapshot_files(server, [
            snapshot_file("local-a", SNAP), snapshot_file("s3-a", SNAP, s3=True),
            snapshot_file("local-b", "etcd-snapshot-cp-1-1772438400", ready=False)])
        status, body = api.call("GET", "/api/etcd/snapshots?cluster=edge")
    assert status == 200, body
    assert body["source"] == "etcdsnapshotfiles.k3s.cattle.io" and body["count"] == 3
    local = next(s for s in body["snapshots"] if s["snapshot_id"] == "local-a")
    assert (local["name"], local["node"], local["storage"], local["size_bytes"],
            local["status"]) == (SNAP, "cp-1", "local", 8401952, "ready")
    failed = next(s for s in body["snapshots"] if s["snapshot_id"] == "local-b")
    assert failed["status"] == "failed" and "timed out" in failed["error"]

    record = {"name": SNAP, "nodeName": "cp-1", "location": f"file://{SNAP_PATH}",
              "createdAt": "2026-03-03T08:00:00Z", "size": 123, "status": "successful"}
    legacy = {"objects": {"nodes": [node("cp-1", labels=CP)], "configmaps": [
        {"metadata": {"name": "k3s-etcd-snapshots", "namespace": "kube-system"},
         "data": {f"local-{SNAP}": json.dumps(record)}}]}}
    with cluster(api, "legacy", legacy, version="v1.25.16+k3s4"):
        status, body = api.call("GET", "/api/etcd/snapshots?cluster=legacy")
    assert status == 200, body
    assert body["source"] == "configmap kube-system/k3s-etcd-snapshots"
    assert [(s["name"], s["status"], s["size_bytes"]) for s in body["snapshots"]] == [
        (SNAP, "ready", 123)]

    with cluster(api, "sqlite", {"objects": {"nodes": [node("cp-1", labels=CP)]}}):
        status, body = api.call("GET", "/api/etcd/snapshots?cluster=sqlite")
    assert status == 200, body
    assert body["snapshots"] == [] and body["source"] is None and "SQLite" in body["message"]


def test_a_restore_is_recorded_for_an_operator_and_never_touches_the_cluster(
        api: Api, make_key: Any) -> None:
    case = {"objects": {"nodes": [node("cp-1", labels=CP), node("cp-2", labels=CP),
                                  node("cp-3", labels=CP), node("w-1")]}}
    with cluster(api, "edge", case) as server:
        serve_etcd_snapshot_files(server, [snapshot_file("local-a", SNAP)])
        status, body = api.call("POST", "/api/etcd/restore?cluster=edge",
                                body={"snapshot_name": SNAP})
        assert status == 202, body
        assert {m for m, _ in server.requests} == {"GET"}
        listed = api.call("GET", "/api/etcd/snapshots?cluster=edge")[1]
        read_only = make_key("clusters:read")
        assert api.call("POST", "/api/etcd/restore?cluster=edge", key=read_only,
                        body={"snapshot_name": SNAP})[0] == 403
    assert body["restore_id"].startswith("restore-") and body["status"] == "awaiting_operator"
    assert (body["snapshot_name"], body["started_at"]) == (SNAP, body["requested_at"])
    assert body["drover_executes"] is False and "resets etcd membership" in body["warning"]
    commands = [(s["run_on"], s["command"]) for s in body["steps"]]
    assert commands[0] == ("every server node (cp-1, cp-2, cp-3)", "sudo systemctl stop k3s")
    assert commands[1] == ("cp-1", "sudo k3s server --cluster-reset "
                                   f"--cluster-reset-restore-path={SNAP_PATH}")
    assert commands[3] == ("each other server node (cp-2, cp-3)",
                           "sudo rm -rf /var/lib/rancher/k3s/server/db")
    request = listed["operator_requests"][0]
    assert (request["request_id"], request["kind"], request["requested_by"]) == (
        body["restore_id"], "restore", body["requested_by"])


def test_a_restore_needs_a_listed_ready_snapshot(api: Api) -> None:
    with cluster(api, "edge", {"objects": {"nodes": [node("cp-1", labels=CP)]}}) as server:
        serve_etcd_snapshot_files(server, [snapshot_file("local-a", SNAP),
                                           snapshot_file("local-b", "broken", ready=False)])
        for body, status, code in (
                ({"snapshot_name": "etcd-snapshot-nope"}, 404, "etcd_snapshot_not_found"),
                ({"snapshot_id": "local-b"}, 409, "etcd_snapshot_failed"),
                ({}, 422, "invalid_payload")):
            got, answer = api.call("POST", "/api/etcd/restore?cluster=edge", body=body)
            assert (got, answer["code"]) == (status, code), answer
            if got == 404:  # the refusal names the snapshots that can be restored
                assert SNAP in answer["error"]


def test_an_s3_snapshot_restore_passes_the_bucket_flags(api: Api) -> None:
    case = {"objects": {"nodes": [node("cp-1", labels=CP, kubelet="v1.30.4+rke2r1")]}}
    with cluster(api, "rke", case, version="v1.30.4+rke2r1") as server:
        serve_etcd_snapshot_files(server, [snapshot_file("s3-a", SNAP, s3=True)])
        status, body = api.call("POST", "/api/etcd/restore?cluster=rke",
                                body={"snapshot_id": "s3-a"})
    assert status == 202, body
    assert body["steps"][0]["command"] == "sudo systemctl stop rke2-server"
    assert body["steps"][1]["command"] == (
        f"sudo rke2 server --cluster-reset --cluster-reset-restore-path={SNAP} --etcd-s3 "
        "--etcd-s3-bucket=backups --etcd-s3-folder=k3s --etcd-s3-endpoint=s3.example.com")


def test_an_on_demand_snapshot_request_gives_the_save_command(
        api: Api, demo_cluster: FakeCluster) -> None:
    status, body = api.call("POST", "/api/etcd/snapshot", body={"name": "pre-upgrade"})
    assert status == 202, body
    assert body["snapshot_id"].startswith("etcdsnap-") and body["status"] == "awaiting_operator"
    assert body["steps"][0]["command"] == "sudo k3s etcd-snapshot save --name pre-upgrade"
    assert body["steps"][0]["run_on"] == "one server node (demo-cp-1)"
    assert body["warnings"]  # the demo cluster has no snapshot records
    status, bad = api.call("POST", "/api/etcd/snapshot", body={"name": "x; rm -rf /"})
    assert (status, bad["code"]) == (422, "invalid_payload")


# Support bundles


def test_a_support_bundle_is_built_stored_fetched_and_survives_a_cluster_outage(
        api: Api, demo_cluster: FakeCluster, make_key: Any) -> None:
    log_key = "orders-api-5f9c8d7b6a-q2w8r/orders-api"
    demo_cluster.server.logs[log_key] += (
        "DEBUG calling billing with Authorization: Bearer sk_live_abcdefghijklmnop\n"
        "DEBUG db url postgres://orders:hunter2@orders-db:5432/orders password=hunter2\n")
    status, made = api.call("POST", "/api/support-bundle")
    assert status == 200, made
    assert made["status"] == "ready" and made["bundle_id"].startswith("bundle-")
    assert made["size_bytes"] > 0 and made["estimated_size_mb"] >= 0
    assert made["contents"]["nodes"] == 3 and made["contents"]["pod_logs"] > 0
    assert made["redactions"] >= 3 and made["collection_errors"] == []
    status, bundle = api.call("GET", made["download_url"])
    assert status == 200, bundle
    text = json.dumps(bundle)
    assert "sk_live_abcdefghijklmnop" not in text and "hunter2" not in text
    assert "fake-token" not in text
    assert bundle["cluster"]["name"] == "demo" and bundle["versions"]["kubelets"]
    assert any(c["type"] == "Ready" for c in bundle["nodes"][0]["conditions"])
    orders = [p for p in bundle["pod_logs"] if p["container"] == "orders-api"]
    assert orders and "DATABASE_URL is not set" in orders[0]["text"]
    assert all(e["message"] is not None for e in bundle["warning_events"])
    assert bundle["findings"] and bundle["findings"][0]["evidence"]
    assert bundle["connection_log"] and bundle["snapshot"]["objects"]["pods"] == 9
    other = make_key("clusters:read", workspace="ws-other")
    assert api.call("GET", made["download_url"], key=other)[0] == 404

    demo_cluster.server.stop()  # a cluster that is down still gets what Drover stored
    status, made = api.call("POST", "/api/support-bundle?cluster=demo")
    assert status == 200, made
    assert made["collection_errors"][0]["part"] == "nodes"
    bundle = api.call("GET", made["download_url"])[1]
    assert bundle["nodes_source"] == "snapshot" and len(bundle["nodes"]) == 3
    assert bundle["pod_logs"] == [] and bundle["findings"]


def test_unknown_bundles_and_a_workspace_without_clusters_are_404(api: Api) -> None:
    for bundle_id in ("bundle-0000000000000000", "nope", "bundle-ZZZZ"):
        status, body = api.call("GET", f"/api/support-bundle/{bundle_id}")
        assert (status, body["code"]) == (404, "bundle_not_found")
    status, body = api.call("POST", "/api/support-bundle")
    assert (status, body["code"]) == (404, "no_default_cluster")
