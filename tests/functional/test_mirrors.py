"""Seed 002 (Kure) mirror pods against a fake API server holding the OOM case: a fixed copy
of the failing workload deployed beside it with a raised memory limit, read live, listed,
deleted, expired by the schedule, and refused where the policy protects the namespace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import yaml

from chalicelib.domain.clock import utcnow
from tests.fake_kube import FakeKubeServer
from tests.functional.conftest import Api, register_cluster
from tests.functional.test_remediation_pulse import (
    DEPLOYMENT,
    OOM,
    POD,
    container,
    oom_workload_case,
    real_writes,
    report_pod,
    writes,
)

MIRROR = f"{DEPLOYMENT}-mirror"
pytestmark = pytest.mark.skipif(not OOM.exists(), reason="k8s eval corpus not found")


@pytest.fixture
def cluster(api: Api) -> Iterator[FakeKubeServer]:
    """The OOM workload case (Deployment, ReplicaSet, node), registered as ``case``."""
    with FakeKubeServer.from_cases(oom_workload_case()) as server:
        register_cluster(api, server, "case")
        yield server


def deploy(api: Api, pod_id: str, **body) -> dict:
    status, answer = api.call("POST", f"/api/mirror/deploy/{pod_id}", body=body or None)
    assert status == 200, answer
    return answer


def mirror_in(server: FakeKubeServer) -> dict | None:
    return server.store.get("deployments", "default", MIRROR)


def timeline(api: Api, incident: str) -> list[str]:
    _, body = api.call("GET", f"/incidents/{incident}/timeline")
    return [e["event_type"] for e in body["events"]]


def test_a_deployed_mirror_is_a_labelled_copy_with_the_raised_memory_limit(api, cluster):
    pod_id = report_pod(api)
    body = deploy(api, pod_id, ttl_seconds=120)

    assert (body["mirror_name"], body["kind"], body["namespace"], body["ttl_seconds"]) == (
        MIRROR, "Deployment", "default", 120)
    assert body["mirror_id"].startswith("mir-") and body["status"] == "Running"
    assert body["mirror_pod_name"].startswith(f"{MIRROR}-")
    assert body["expires_at"] > body["created_at"]
    assert "## Changes Made" in body["explanation"]
    assert yaml.safe_load(body["fixed_manifest"])["metadata"]["name"] == MIRROR
    created = mirror_in(cluster)
    assert created["metadata"]["labels"]["drover.io/mirror"] == "true"
    assert created["spec"]["replicas"] == 1
    assert created["spec"]["selector"]["matchLabels"]["drover.io/mirror"] == "true"
    assert container(cluster, MIRROR)["resources"]["limits"]["memory"] == "200Mi"
    assert container(cluster)["resources"]["limits"]["memory"] == "100Mi"  # the original
    creates = [p for m, p in writes(cluster) if m == "POST"]
    assert creates == ["/apis/apps/v1/namespaces/default/deployments?dryRun=All",
                       "/apis/apps/v1/namespaces/default/deployments"]
    assert "mirror_deployed" in timeline(api, pod_id)


def test_status_reads_the_mirror_live_and_active_lists_it(api, cluster):
    mirror_id = deploy(api, report_pod(api))["mirror_id"]

    status, body = api.call("GET", f"/api/mirror/status/{mirror_id}")
    assert status == 200, body
    assert (body["status"], body["ready"], body["replicas"]["desired"]) == ("Running", True, 1)
    assert [p["phase"] for p in body["pods"]] == ["Running"]
    assert 0 < body["expires_in_seconds"] <= 3600
    status, active = api.call("GET", "/api/mirror/active")
    assert status == 200, active
    assert [m["mirror_id"] for m in active["mirrors"]] == [mirror_id]


def test_a_deleted_mirror_leaves_the_cluster_and_the_active_list(api, cluster):
    pod_id = report_pod(api)
    mirror_id = deploy(api, pod_id)["mirror_id"]

    status, body = api.call("DELETE", f"/api/mirror/{mirror_id}")
    assert status == 200, body
    assert (body["state"], body["deleted"]) == ("deleted", True)
    assert mirror_in(cluster) is None
    assert cluster.store.get("deployments", "default", DEPLOYMENT) is not None
    deletes = [p for m, p in writes(cluster) if m == "DELETE"]
    path = f"/apis/apps/v1/namespaces/default/deployments/{MIRROR}"
    assert deletes == [f"{path}?dryRun=All", path]
    assert api.call("GET", "/api/mirror/active")[1]["mirrors"] == []
    assert api.call("GET", f"/api/mirror/status/{mirror_id}")[1]["status"] == "Deleted"
    status, again = api.call("DELETE", f"/api/mirror/{mirror_id}")
    assert (status, again["code"]) == (409, "mirror_not_active")
    assert "mirror_deleted" in timeline(api, pod_id)


def test_one_mirror_at_a_time_per_workload(api, cluster):
    pod_id = report_pod(api)
    first = deploy(api, pod_id)["mirror_id"]
    status, body = api.call("POST", f"/api/mirror/deploy/{pod_id}")
    assert (status, body["code"], body["mirror_id"]) == (409, "mirror_exists", first)


def test_the_expiry_schedule_deletes_an_expired_mirror(api, cluster):
    from chalicelib.bootstrap import get_container

    pod_id = report_pod(api)
    mirror_id = deploy(api, pod_id, ttl_seconds=60)["mirror_id"]
    event = api.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])
    assert api.client.lambda_.invoke("mirror_expiry", event).payload == {"expired": 0,
                                                                         "failed": 0}
    assert mirror_in(cluster) is not None

    get_container().mirrors.clock = lambda: utcnow() + timedelta(minutes=2)
    assert api.client.lambda_.invoke("mirror_expiry", event).payload == {"expired": 1,
                                                                         "failed": 0}
    assert mirror_in(cluster) is None
    _, body = api.call("GET", f"/api/mirror/status/{mirror_id}")
    assert (body["state"], body["ended_by"]) == ("expired", "system:mirror-expiry")
    assert "mirror_expired" in timeline(api, pod_id)


def test_the_ttl_setting_bounds_and_applies_to_new_mirrors(api, cluster, make_key):
    status, body = api.call("GET", "/api/admin/settings/mirror-ttl")
    assert (status, body["seconds"], body["min_seconds"], body["max_seconds"]) == (
        200, 3600, 30, 3600)
    for bad in (10, 7200, "300", True):
        status, body = api.call("PUT", "/api/admin/settings/mirror-ttl", body={"seconds": bad})
        assert status == 422, body
    status, body = api.call("PUT", "/api/admin/settings/mirror-ttl", body={"seconds": 300},
                            key=make_key("incidents:read", "actions:execute"))
    assert (status, body["code"]) == (403, "missing_scope")
    status, body = api.call("PUT", "/api/admin/settings/mirror-ttl", body={"seconds": 300})
    assert (status, body["seconds"]) == (200, 300)
    assert deploy(api, report_pod(api))["ttl_seconds"] == 300
    status, body = api.call("POST", f"/api/mirror/deploy/{report_pod(api)}",
                            body={"ttl_seconds": 5})
    assert (status, body["code"]) == (422, "ttl_out_of_range")


def test_a_protected_namespace_is_refused_before_the_cluster_is_touched(api, cluster):
    pod_id = report_pod(api, namespace="kube-system", pod="coredns-5d78c9869d-abcde")
    status, body = api.call("POST", f"/api/mirror/deploy/{pod_id}")
    assert (status, body["code"]) == (403, "policy_refused"), body
    assert "kube-system" in body["policy_reason"] and body["policy_name"] == "default"
    assert writes(cluster) == []


def test_a_manifest_sent_may_change_the_spec_but_not_the_mirrors_identity(api, cluster):
    pod_id = report_pod(api)
    preview = api.call("POST", f"/api/mirror/preview/{pod_id}")[1]
    manifest = yaml.safe_load(preview["fixed_manifest"])
    renamed = json.loads(json.dumps(manifest))
    renamed["metadata"]["name"] = DEPLOYMENT
    status, body = api.call("POST", f"/api/mirror/deploy/{pod_id}",
                            body={"manifest": yaml.safe_dump(renamed)})
    assert (status, body["code"]) == (422, "mirror_identity")
    manifest["metadata"]["labels"] = {"app": DEPLOYMENT}  # would join the original's Service
    manifest["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"][
        "memory"] = "300Mi"
    body = deploy(api, pod_id, manifest=yaml.safe_dump(manifest))
    assert container(cluster, MIRROR)["resources"]["limits"]["memory"] == "300Mi"
    assert mirror_in(cluster)["metadata"]["labels"]["drover.io/mirror"] == "true"
    assert "app" not in mirror_in(cluster)["metadata"]["labels"]
    assert body["fixed_manifest"] == yaml.safe_dump(manifest)


def test_deploying_needs_the_execute_scope_and_a_known_pod_failure(api, cluster, make_key):
    pod_id = report_pod(api)
    status, body = api.call("POST", f"/api/mirror/deploy/{pod_id}",
                            key=make_key("incidents:read"))
    assert (status, body["code"]) == (403, "missing_scope")
    status, body = api.call("POST", "/api/mirror/deploy/inc-nope")
    assert (status, body["detail"]) == (404, "Pod failure not found")
    assert real_writes(cluster) == []
    assert api.call("GET", "/api/mirror/status/mir-nope")[0] == 404


def test_a_mirror_of_a_bare_pod_that_still_fails_says_why(api):
    with FakeKubeServer.from_case_files(OOM) as server:  # the pod alone, owner not found
        server.fail_new_pods = True
        register_cluster(api, server, "case")
        pod_id = report_pod(api)
        body = deploy(api, pod_id)
        assert (body["kind"], body["mirror_name"]) == ("Pod", f"{POD}-mirror")
        assert (body["status"], body["ready"]) == ("CrashLoopBackOff", False)
        assert body["pods"][0]["reason"] == "CrashLoopBackOff"
        created = server.store.get("pods", "default", f"{POD}-mirror")
        assert created["metadata"]["labels"]["drover.io/mirror"] == "true"
        assert created["spec"]["containers"][0]["resources"]["limits"]["memory"] == "200Mi"
