"""The resource catalog: ids, statuses, parents, Pulse's filters and pagination, and the
pure helpers of the resources service (selectors, usage points, downsampling, ranges)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chalicelib.domain.clusters import Cluster
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.kube import Finding, Snapshot
from chalicelib.services.resource_model import (
    ResourceRef,
    V2Filter,
    build_catalog,
    child_counts,
    job_status,
    node_status,
    parse_resource_id,
    phase_status,
    pod_status,
    resource_id,
    stats,
    workload_status,
)
from chalicelib.services.resources import downsample, label_selector, usage_series

CLUSTER = Cluster(cluster_id="c-1", workspace_id="default", name="prod", server="https://k",
                  provider="k3s", auth_type="bearer_token", created_at="t", updated_at="t",
                  created_by="me", status="connected")


def _meta(name: str, namespace: str | None = None, owner: tuple[str, str] | None = None,
          **labels: str) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "labels": labels}
    if namespace:
        found["namespace"] = namespace
    if owner:
        found["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return found


def _node(name: str, ready: str = "True", **spec: Any) -> dict[str, Any]:
    return {"metadata": _meta(name), "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}


def _pod(name: str, *, owner: tuple[str, str] | None = None, node: str | None = "n1",
         phase: str = "Running", ready: bool = True) -> dict[str, Any]:
    state = {"running": {}} if ready else {"waiting": {"reason": "CrashLoopBackOff"}}
    return {"metadata": _meta(name, "shop", owner, app=name.split("-", maxsplit=1)[0]),
            "spec": {"nodeName": node} if node else {},
            "status": {"phase": phase, "containerStatuses": [{"ready": ready, "state": state}]}}


OBJECTS: dict[str, list[dict[str, Any]]] = {
    "nodes": [_node("n1"), _node("n2", ready="False")],
    "deployments": [{"metadata": _meta("web", "shop"), "spec": {"replicas": 2},
                     "status": {"availableReplicas": 1}}],
    "replicasets": [{"metadata": _meta("web-5d9c8f7b6a", "shop", ("Deployment", "web")),
                     "spec": {"replicas": 2}, "status": {"availableReplicas": 1}}],
    "cronjobs": [{"metadata": _meta("nightly", "shop"), "spec": {"suspend": True}}],
    "jobs": [{"metadata": _meta("nightly-1", "shop", ("CronJob", "nightly")),
              "status": {"conditions": [{"type": "Complete", "status": "True"}]}}],
    "pods": [_pod("web-5d9c8f7b6a-aaaaa", owner=("ReplicaSet", "web-5d9c8f7b6a")),
             _pod("web-5d9c8f7b6a-bbbbb", owner=("ReplicaSet", "web-5d9c8f7b6a"), ready=False),
             _pod("nightly-1-ccccc", owner=("Job", "nightly-1"), phase="Succeeded"),
             _pod("debug", node="n2"), _pod("waiting", node=None, phase="Pending"),
             _pod("orphan", owner=("ReplicaSet", "gone-5d9c8f7b6a"))],
    "services": [{"metadata": _meta("web", "shop"), "spec": {"selector": {"app": "web"}}}],
}


def _catalog(cluster: Cluster = CLUSTER, findings: list[Finding] | None = None) -> list[Any]:
    snapshot = Snapshot.from_case("c-1", "2026-03-04T10:00:00.000Z", OBJECTS)
    return build_catalog(cluster, snapshot, findings or [])


@pytest.mark.parametrize(("args", "expected"), [
    (("c-1", "Cluster"), "k8s:c-1:cluster"),
    (("c-1", "Node", None, "n1"), "k8s:c-1:node:n1"),
    (("c-1", "PersistentVolumeClaim", "shop", "data"), "k8s:c-1:persistentvolumeclaim:shop:data"),
])
def test_ids_are_url_safe_and_parse_back(args: tuple[Any, ...], expected: str) -> None:
    assert resource_id(*args) == expected
    ref = parse_resource_id(expected)
    assert ref == ResourceRef(args[0], args[1], *(args[2:] if len(args) > 2 else ()))


@pytest.mark.parametrize("value", [
    "", "k8s", "k8s:c-1", "k8s::cluster", "vm:c-1:cluster", "k8s:c-1:node", "k8s:c-1:pod:web",
    "k8s:c-1:node:ns:n1", "k8s:c-1:secret:shop:token", "k8s:c-1:event:shop:e", "k8s:c-1:pod::x",
])
def test_anything_else_is_not_an_id(value: str) -> None:
    assert parse_resource_id(value) is None


@pytest.mark.parametrize(("rule", "obj", "expected"), [
    (node_status, _node("n"), ("online", "Ready")),
    (node_status, _node("n", ready="Unknown"), ("offline", "NotReady")),
    (node_status, _node("n", unschedulable=True), ("warning", "SchedulingDisabled")),
    (node_status, {"status": {"conditions": [{"type": "Ready", "status": "True"}, {
        "type": "DiskPressure", "status": "True"}]}}, ("warning", "DiskPressure")),
    (pod_status, _pod("p"), ("online", "Running")),
    (pod_status, _pod("p", ready=False), ("warning", "CrashLoopBackOff")),
    (pod_status, {"status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}},
     ("warning", "Unschedulable")),
    (pod_status, {"status": {"phase": "Failed", "reason": "Evicted"}}, ("offline", "Evicted")),
    (pod_status, {"status": {"phase": "Succeeded"}}, ("offline", "Completed")),
    (pod_status, {"status": {}}, ("unknown", "NoPhase")),
    (workload_status, {"spec": {"replicas": 3}, "status": {"availableReplicas": 3}},
     ("online", "3/3 available")),
    (workload_status, {"spec": {"replicas": 3}, "status": {"readyReplicas": 1}},
     ("warning", "1/3 available")),
    (workload_status, {"spec": {}, "status": {}}, ("offline", "0/1 available")),
    (workload_status, {"spec": {"replicas": 0}, "status": {}}, ("unknown", "scaled to zero")),
    (workload_status, {"kind": "DaemonSet", "status": {"desiredNumberScheduled": 2,
                                                       "numberAvailable": 2}},
     ("online", "2/2 available")),
    (job_status, {"status": {"conditions": [{"type": "Failed", "status": "True",
                                             "reason": "BackoffLimitExceeded"}]}},
     ("offline", "BackoffLimitExceeded")),
    (job_status, {"status": {"active": 1, "failed": 2}}, ("warning", "2 failed pod(s)")),
    (job_status, {"status": {"active": 1}}, ("online", "Running")),
    (phase_status, {"status": {"phase": "Bound"}}, ("online", "Bound")),
    (phase_status, {"status": {"phase": "Pending"}}, ("warning", "Pending")),
    (phase_status, {"status": {"phase": "Lost"}}, ("offline", "Lost")),
])
def test_statuses_follow_pulses_rules(rule: Any, obj: dict[str, Any],
                                      expected: tuple[str, str]) -> None:
    assert rule(obj) == expected


def test_parents_follow_ownership_and_fall_back_to_node_then_cluster() -> None:
    entries = {e.id: e for e in _catalog()}
    parent = {e.name: e.parent_id for e in entries.values()}
    root, web = "k8s:c-1:cluster", "k8s:c-1:deployment:shop:web"
    assert parent["prod"] is None and parent["n1"] == root and parent["web"] == root
    assert parent["web-5d9c8f7b6a-aaaaa"] == web and parent["web-5d9c8f7b6a"] == web
    assert parent["nightly-1"] == "k8s:c-1:cronjob:shop:nightly"
    assert parent["nightly-1-ccccc"] == "k8s:c-1:job:shop:nightly-1"
    assert parent["debug"] == "k8s:c-1:node:n2" and parent["waiting"] == root
    assert parent["orphan"] == "k8s:c-1:node:n1"  # its ReplicaSet is not in the snapshot
    counts = child_counts(list(entries.values()))
    assert counts[web] == 2  # the pods; the ReplicaSet is hidden
    assert entries["k8s:c-1:cronjob:shop:nightly"].reason == "Suspended"
    assert entries[root].status == "warning"  # a node is NotReady: 1/2 nodes ready


def test_findings_lower_online_objects_to_warning_and_degrade_the_cluster() -> None:
    finding = Finding("service", "Service", "web", "shop", "critical", "NoEndpoints", "none")
    healthy = replace(CLUSTER)
    entries = {e.name: e for e in _catalog(healthy, [finding]) if e.kind in ("Service",
                                                                           "Cluster")}
    assert (entries["web"].status, entries["web"].reason) == ("warning", "NoEndpoints")
    assert entries["prod"].findings == [finding]


def test_an_unreachable_or_unsnapshotted_cluster_makes_no_claims() -> None:
    down = replace(CLUSTER, status="unreachable", last_error="connection refused")
    entries = _catalog(down)
    assert (entries[0].status, entries[0].reason) == ("offline", "connection refused")
    assert {e.status for e in entries[1:]} == {"unknown"}
    only = build_catalog(CLUSTER, None, [])
    assert [(e.kind, e.status, e.reason) for e in only] == [("Cluster", "unknown",
                                                             "no snapshot yet")]


def test_v2_filters_sort_and_paginate_like_pulse() -> None:
    entries = _catalog()
    fields = {"k8s:c-1:service:shop:web": {"tags": ["Team-A"], "display_name": "Front door"}}
    page, meta = V2Filter(types=frozenset({"pod"}), limit=2, page=2, sort="name",
                          order="desc").select(entries, fields)
    assert meta == {"page": 2, "limit": 2, "total": 6, "totalPages": 3}
    assert [e.name for e in page] == ["waiting", "orphan"]
    assert [e.name for e in V2Filter(tags=frozenset({"team-a"})).select(entries, fields)[0]] \
        == ["web"]
    assert [e.kind for e in V2Filter(q="front").select(entries, fields)[0]] == ["Service"]
    assert V2Filter(statuses=frozenset({"offline"}), cluster="PROD").select(
        entries, {})[1]["total"] == 2  # n2 and the Succeeded job pod
    assert V2Filter(cluster="other").select(entries, {})[1]["total"] == 0
    assert V2Filter(sources=frozenset({"docker"})).select(entries, {})[1]["total"] == 0
    hidden = V2Filter(types=frozenset({"k8s-replicaset"})).select(entries, {})[0]
    assert [e.name for e in hidden] == ["web-5d9c8f7b6a"]
    assert "k8s-replicaset" not in stats(entries)["byType"]
    by_status = V2Filter(sort="status", limit=100).select(entries, {})[0]
    assert [e.status for e in by_status] == sorted(e.status for e in by_status)
    children = V2Filter(parent="k8s:c-1:deployment:shop:web").select(entries, {})[0]
    assert {e.kind for e in children} == {"Pod"}


def test_stats_count_every_listed_entry_by_type_status_and_source() -> None:
    found = stats(_catalog())
    assert found["total"] == 13 and found["bySource"] == {"kubernetes": 13}
    assert found["byType"]["pod"] == 6 and found["byType"]["k8s-cluster"] == 1
    assert sum(found["byStatus"].values()) == 13 and set(found["byStatus"]) == {
        "online", "warning", "offline", "unknown"}
    assert stats([])["bySource"] == {}


def test_label_selectors_become_the_query_string_kubectl_sends() -> None:
    assert label_selector({"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["a", "b"]},
        {"key": "env", "operator": "NotIn", "values": ["dev"]},
        {"key": "canary", "operator": "DoesNotExist"},
        {"key": "team", "operator": "Exists"}]}) == \
        "a=1,b=2,tier in (a,b),env notin (dev),!canary,team"
    assert label_selector(None) == ""


def test_usage_points_are_percent_of_allocatable_with_a_cluster_total() -> None:
    nodes = [{"metadata": {"name": n}, "status": {"allocatable": {"cpu": "2", "memory": "4Gi"}}}
             for n in ("a", "b", "unmeasured")]
    usage = [{"metadata": {"name": "a"}, "usage": {"cpu": "500m", "memory": "1Gi"}},
             {"metadata": {"name": "b"}, "usage": {"cpu": "1", "memory": "2Gi"}}]
    series = usage_series(nodes, usage)
    assert set(series) == {"node:a", "node:b", "cluster"}
    assert (series["node:a"]["cpu"], series["node:a"]["memory"]) == (25.0, 25.0)
    assert (series["cluster"]["cpu"], series["cluster"]["memory"]) == (37.5, 37.5)
    assert series["cluster"]["memory_total_bytes"] == 8 * 2 ** 30
    assert usage_series(nodes, []) == {}


def test_downsampling_averages_consecutive_points_into_at_most_max_points() -> None:
    points = [(i * 1000, float(i)) for i in range(10)]
    assert len(downsample(points, None)) == 10 and downsample(points, 20)[0]["count"] == 1
    buckets = downsample(points, 3)
    assert [b["count"] for b in buckets] == [4, 4, 2]
    assert buckets[0] == {"timestamp": 1500, "value": 1.5, "min": 0.0, "max": 3.0, "count": 4}


@pytest.mark.parametrize(("raw", "seconds"), [
    ("1h", 3600), ("24h", 86400), ("1d", 86400), ("90d", 90 * 86400), ("90m", 5400),
    ("1h30m", 5400), ("2w", 14 * 86400), ("1.5h", 5400)])
def test_ranges_accept_pulses_names_and_duration_strings(raw: str, seconds: int) -> None:
    from chalicelib.api.resources import range_seconds

    assert range_seconds(raw) == seconds


@pytest.mark.parametrize("raw", ["", "h", "24", "1y", "-1h", "30s", "91d", "1h 30m"])
def test_ranges_outside_a_minute_to_ninety_days_are_refused(raw: str) -> None:
    from chalicelib.api.resources import range_seconds

    with pytest.raises(BadRequest):
        range_seconds(raw)
