"""The upgrade-risk rules: version parsing, direction, skipped minors, kubelet skew, removed
APIs and the risk level, each table-driven."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import BadRequest
from chalicelib.domain.kube import Snapshot
from chalicelib.services.upgrade_risk import (
    Signals,
    apis_in_use,
    check_direction,
    kubelet_lag_allowed,
    kubelet_skew_problems,
    parse_version,
    policy,
    removed_between,
    risk_level,
    skipped_minors,
    upgrade_path,
)


def v(text: str):
    parsed = parse_version(text)
    assert parsed is not None, text
    return parsed


@pytest.mark.parametrize(("text", "expected"), [
    ("v1.31.4+k3s1", (1, 31, 4, "k3s", 1)),
    ("1.31", (1, 31, None, None, None)),
    ("v1.31.4-eks-1a2b3c4", (1, 31, 4, "eks", None)),
    ("v1.30.5-gke.1014001", (1, 30, 5, "gke", None)),
    ("v1.30.4+rke2r1", (1, 30, 4, "rke2", 1)),
    ("1.29.10", (1, 29, 10, None, None)),
    (" v1.32.1+k3s2 ", (1, 32, 1, "k3s", 2)),
])
def test_versions_parse_as_distributions_print_them(text, expected):
    got = v(text)
    assert (got.major, got.minor, got.patch, got.distro, got.revision) == expected


@pytest.mark.parametrize("text", ["", "latest", "v1", "1.x.3", "v1.31.4 extra", None])
def test_anything_else_is_not_a_version(text):
    assert parse_version(text) is None


@pytest.mark.parametrize(("current", "target", "code"), [
    ("v1.31.4+k3s1", "v1.30.9+k3s1", "downgrade_refused"),
    ("v1.31.4+k3s2", "v1.31.4+k3s1", "downgrade_refused"),
    ("v1.31.4", "v2.0.0", "unsupported_upgrade"),
    ("v1.31.4+k3s1", "v1.31.4+k3s1", "no_upgrade"),
])
def test_downgrades_major_jumps_and_no_ops_are_refused(current, target, code):
    with pytest.raises(BadRequest) as refused:
        check_direction(v(current), v(target))
    assert refused.value.code == code


@pytest.mark.parametrize(("current", "target"), [
    ("v1.31.4+k3s1", "v1.31.4+k3s2"), ("v1.31.4", "1.31.5"), ("1.31", "v1.32.0")])
def test_patch_revision_and_minor_upgrades_are_accepted(current, target):
    check_direction(v(current), v(target))


@pytest.mark.parametrize(("current", "target", "skipped", "path"), [
    ("v1.31.4", "v1.31.9", [], ["1.31"]),
    ("v1.31.4", "v1.32.0", [], ["1.32"]),
    ("v1.29.1", "v1.32.0", ["1.30", "1.31"], ["1.30", "1.31", "1.32"]),
])
def test_each_skipped_minor_is_named_and_the_path_goes_one_minor_at_a_time(
        current, target, skipped, path):
    assert skipped_minors(v(current), v(target)) == skipped
    assert upgrade_path(v(current), v(target)) == path


@pytest.mark.parametrize(("kubelet_minor", "allowed"), [(24, 2), (25, 3), (31, 3)])
def test_kubelets_may_trail_by_three_minors_or_two_before_1_25(kubelet_minor, allowed):
    assert kubelet_lag_allowed(kubelet_minor) == allowed


@pytest.mark.parametrize(("target", "kubelet", "problem"), [
    ("v1.32.0", "v1.29.3", False),   # lag 3, kubelet >= 1.25
    ("v1.32.0", "v1.28.3", True),    # lag 4
    ("v1.26.0", "v1.24.9", False),   # lag 2, kubelet < 1.25
    ("v1.27.0", "v1.24.9", True),    # lag 3, but kubelet < 1.25 allows 2
    ("v1.30.0", "v1.31.1", True),    # kubelet newer than the API server
])
def test_kubelet_skew_against_the_target_api_server(target, kubelet, problem):
    found = kubelet_skew_problems(v(target), {"node-a": v(kubelet), "node-b": v(kubelet)})
    assert bool(found) is problem
    if problem:
        assert found[0]["nodes"] == ["node-a", "node-b"]


@pytest.mark.parametrize(("current", "target", "expected"), [
    ("v1.24.9", "v1.25.0", {("policy/v1beta1", "PodSecurityPolicy"), ("batch/v1beta1", "CronJob"),
                            ("autoscaling/v2beta1", "HorizontalPodAutoscaler")}),
    ("v1.25.3", "v1.26.0", {("autoscaling/v2beta2", "HorizontalPodAutoscaler"),
                            ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema")}),
    ("v1.26.1", "v1.27.0", {("storage.k8s.io/v1beta1", "CSIStorageCapacity")}),
    ("v1.31.4", "v1.32.0", {("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema")}),
    ("v1.21.0", "v1.22.0", {("networking.k8s.io/v1beta1", "Ingress"),
                            ("extensions/v1beta1", "Ingress"),
                            ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition")}),
])
def test_the_apis_removed_by_the_releases_crossed_are_listed(current, target, expected):
    removed = {(r["api_version"], r["kind"]) for r in removed_between(v(current), v(target))}
    assert expected <= removed


@pytest.mark.parametrize(("current", "target"), [("v1.30.0", "v1.31.0"), ("v1.32.0", "v1.32.4")])
def test_a_release_that_removes_nothing_lists_nothing(current, target):
    assert removed_between(v(current), v(target)) == []


def test_objects_stored_with_a_removed_api_version_count_as_in_use():
    snapshot = Snapshot.from_case("c-1", "2026-01-01T00:00:00Z", {"cronjobs": [
        {"apiVersion": "batch/v1beta1", "kind": "CronJob",
         "metadata": {"name": "nightly", "namespace": "ops"}},
        {"apiVersion": "batch/v1", "kind": "CronJob",
         "metadata": {"name": "hourly", "namespace": "ops"}}]})
    removed = removed_between(v("v1.24.0"), v("v1.25.0"))
    assert apis_in_use(snapshot, removed) == {
        ("batch/v1beta1", "CronJob"): ["CronJob ops/nightly"]}
    assert apis_in_use(None, removed) == {}


@pytest.mark.parametrize(("signals", "level"), [
    (Signals(), "low"),
    (Signals(unsupported_path=1), "critical"),
    (Signals(unsupported_path=1, not_ready_nodes=2), "critical"),
    (Signals(apis_in_use=1), "high"),
    (Signals(not_ready_nodes=1), "high"),
    (Signals(unreachable=True), "high"),
    (Signals(critical_findings=3), "medium"),
    (Signals(removals_unproven=4), "medium"),
    (Signals(health_unknown=True), "medium"),
    (Signals(release_knowledge=False), "medium"),
    (Signals(release_knowledge=False, not_ready_nodes=1), "high"),
])
def test_the_risk_level_follows_the_documented_rules(signals, level):
    assert risk_level(signals) == level


def test_the_shipped_policy_table_is_well_formed():
    table = policy()
    assert table["rules"]["control_plane_step"]["max_minor_step"] == 1
    for row in table["removed_apis"]:
        assert set(row) >= {"removed_in", "api_version", "kind", "replacement"}
        assert row["removed_in"].startswith("1.")
        assert "/" in row["api_version"]
