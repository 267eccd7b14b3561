"""Remediation steps failing mid-way, on the real state machine (moto's executor) against the
fake cluster: a passing failure is retried and the action runs once; a verification that
breaks rolls back; an unexpected error fails the action on the record, the timeline and the
audit log; and an attempt that acted but kept no result is never acted again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.domain.remediation_ports import TransientStepError
from tests.fake_kube.testing import DEPLOYMENTS, NS, connect
from tests.faults.injection import AwsFault, before_the_call
from tests.functional.conftest import Api, FakeCluster
from tests.functional.test_remediation_actions import finished, incident_for, mutations, restart


def plugin(name: str) -> Any:
    from chalicelib.plugins.actions import PLUGINS

    return PLUGINS[name]


def deletes(cluster: FakeCluster) -> list[str]:
    return [p for m, p in mutations(cluster) if m == "DELETE"]


def kinds(api: Api, incident: str) -> Counter:
    _, body = api.call("GET", f"/incidents/{incident}/timeline")
    return Counter(e["event_type"] for e in body["events"])


def audited(action_id: str) -> list[dict[str, Any]]:
    from tests.functional.test_audit_and_consumer import audit_entries

    return [e for e in audit_entries() if e["target"] == f"action/{action_id}"]


def failing_once(real: Callable[..., Any], error: Exception, *, after_acting: bool
                 ) -> Callable[..., Any]:
    """``real``, except that its first call raises ``error`` (before or after acting)."""
    calls: list[int] = []

    def step(*args: Any) -> Any:
        calls.append(1)
        if len(calls) > 1:
            return real(*args)
        if after_acting:
            real(*args)
        raise error

    return step


def run_restart(api: Api, incident: str) -> dict[str, Any]:
    status, body = restart(api, incident, dry_run=False, approved=True)
    assert status == 202, body
    return finished(api, body["action_id"])


def test_an_execute_step_that_fails_once_is_retried_and_deletes_the_pod_once(
        api: Api, demo_cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    restart_pod = plugin("restart_pod")
    monkeypatch.setattr(restart_pod, "execute", failing_once(
        restart_pod.execute, TransientStepError("API server briefly unavailable"),
        after_acting=False))
    incident = incident_for(api)
    record = run_restart(api, incident)
    assert record["state"] == "succeeded", record
    assert len(deletes(demo_cluster)) == 1
    found = kinds(api, incident)
    assert (found["action_executed"], found["action_succeeded"]) == (1, 1)


def revision(cluster: FakeCluster) -> int:
    deployment = connect(cluster.server, cluster.server.token).get(DEPLOYMENTS, NS, "storefront")
    return int(deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"])


def test_an_api_server_refusing_the_change_once_is_retried_and_the_change_lands_once(
        api: Api, demo_cluster: FakeCluster) -> None:
    before = revision(demo_cluster)
    demo_cluster.server.fail_next(1, 503, path_prefix=f"/apis/apps/v1/namespaces/{NS}/"
                                                      "deployments/storefront", method="PATCH",
                                  dry_run=False)
    status, body = api.call("POST", "/actions/execute", body={
        "action": "rollout_restart", "namespace": NS, "cluster": "demo", "dry_run": False,
        "approved": True, "arguments": {"kind": "deployment", "name": "storefront"}})
    assert status == 202, body
    record = finished(api, body["action_id"])
    assert record["state"] == "succeeded", record
    patches = [p for m, p in mutations(demo_cluster) if m == "PATCH"]
    assert len(patches) == 2  # the refused one and the one that landed
    assert revision(demo_cluster) == before + 1  # one restart, not two


def test_a_verification_that_breaks_rolls_the_change_back(
        api: Api, demo_cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    kube = connect(demo_cluster.server, demo_cluster.server.token)

    def limits() -> Any:
        container = kube.get(DEPLOYMENTS, NS, "storefront")["spec"]["template"]["spec"][
            "containers"][0]
        return container.get("resources", {}).get("limits")

    before = limits()

    def broken(*_: Any) -> Any:
        raise RuntimeError("the metrics backend exploded")

    monkeypatch.setattr(plugin("set_resources"), "verify", broken)
    status, body = api.call("POST", "/actions/execute", body={
        "action": "set_resources", "namespace": NS, "cluster": "demo", "dry_run": False,
        "approved": True, "arguments": {"kind": "deployment", "name": "storefront",
                                        "container": "storefront", "memory_limit": "1Gi"}})
    assert status == 202, body
    record = finished(api, body["action_id"])
    assert record["state"] == "rolled_back", record
    assert record["rollback"]["message"] == "previous resources restored"
    assert limits() == before
    assert "action_rolled_back" in [e["action"] for e in audited(record["id"])]


def test_an_unexpected_error_after_acting_fails_the_action_everywhere_and_acts_no_more(
        api: Api, demo_cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    restart_pod = plugin("restart_pod")
    monkeypatch.setattr(restart_pod, "execute", failing_once(
        restart_pod.execute, KeyError("owner_name"), after_acting=True))
    incident = incident_for(api)
    record = run_restart(api, incident)
    assert record["state"] == "failed", record
    assert "KeyError" in record["error"] and "owner_name" in record["error"]
    assert len(deletes(demo_cluster)) == 1
    assert kinds(api, incident)["action_failed"] == 1
    failed = [e for e in audited(record["id"]) if e["action"] == "action_failed"]
    assert len(failed) == 1 and failed[0]["outcome"] == "error"


def test_an_attempt_that_acted_but_could_not_record_it_is_not_acted_again(
        api: Api, demo_cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.adapters.aws import client

    rollout_restart = plugin("rollout_restart")
    real = rollout_restart.execute
    # Right after the restart, DynamoDB refuses (past every retry) the write of its result.
    lost = AwsFault("UpdateItem", "ProvisionedThroughputExceededException", times=0)

    def restart_then_lose_the_result(*args: Any) -> Any:
        done = real(*args)
        lost.times = 1
        return done

    monkeypatch.setattr(rollout_restart, "execute", restart_then_lose_the_result)
    with before_the_call(client("dynamodb"), lost):
        status, body = api.call("POST", "/actions/execute", body={
            "action": "rollout_restart", "namespace": NS, "cluster": "demo", "dry_run": False,
            "approved": True, "arguments": {"kind": "deployment", "name": "storefront"}})
        assert status == 202, body
        record = finished(api, body["action_id"])
    assert lost.served == 1
    assert [m for m, _ in mutations(demo_cluster)] == ["PATCH"]  # one restart, not two
    assert record["state"] == "failed", record
    assert "not run twice" in record["error"]
