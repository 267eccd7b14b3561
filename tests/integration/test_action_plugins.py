"""Every allowlisted action against the fake API server through Drover's Kubernetes adapter:
the preview is a server-side dry run that changes nothing, execute changes what it says,
verify sees the result (and sees a failure), rollback undoes what can be undone."""

from __future__ import annotations

import pytest

from chalicelib.domain.remediation_ports import StepFailed
from chalicelib.plugins.actions import PLUGINS
from chalicelib.plugins.actions._base import ActionContext
from tests.fake_kube import FakeKubeServer
from tests.fake_kube.testing import (
    DEPLOYMENTS,
    JOBS,
    NODES,
    NS,
    PDBS,
    POD,
    PODS,
    connect,
    job_body,
    storefront_pods,
)

pytestmark = pytest.mark.integration
DEPLOY = {"namespace": NS, "name": "storefront"}


@pytest.fixture
def ctx(server: FakeKubeServer) -> ActionContext:
    kube = connect(server)
    return ActionContext(reader=kube, writer=kube, limits={"max_replicas": 10},
                         verify_timeout_seconds=0, sleep=lambda _s: None)


def writes(server: FakeKubeServer) -> list[tuple[str, str]]:
    return [(m, p) for m, p in server.requests if m != "GET"]


def run(ctx: ActionContext, action: str, args: dict) -> tuple[dict, bool]:
    plugin = PLUGINS[action]
    done = plugin.execute(ctx, args)
    return done, plugin.verify(ctx, args, done).verified


def test_restart_pod_previews_deletes_and_sees_a_new_ready_pod(
        server: FakeKubeServer, ctx: ActionContext) -> None:
    args = {"namespace": NS, "pod_name": POD}
    preview = PLUGINS["restart_pod"].preview(ctx, args)
    assert "Would delete pod" in preview.message and preview.target["owner"]["kind"]
    assert POD in [p["metadata"]["name"] for p in storefront_pods(ctx.reader)]
    assert all("dryRun=All" in p for _, p in writes(server))
    done, verified = run(ctx, "restart_pod", args)
    assert verified and POD not in [p["metadata"]["name"] for p in storefront_pods(ctx.reader)]
    assert PLUGINS["restart_pod"].rollback(ctx, args, done) is None


def test_restart_pod_verification_fails_when_the_new_pod_crashes(
        server: FakeKubeServer, ctx: ActionContext) -> None:
    server.fail_new_pods = True
    _, verified = run(ctx, "restart_pod", {"namespace": NS, "pod_name": POD})
    assert not verified


def test_a_bare_pod_is_never_restarted(server: FakeKubeServer, ctx: ActionContext) -> None:
    ctx.writer.create(PODS, NS, {"metadata": {"name": "bare"}, "spec": {"containers": [
        {"name": "c", "image": "busybox"}]}}, dry_run=False)
    with pytest.raises(StepFailed, match="no controller"):
        PLUGINS["restart_pod"].preview(ctx, {"namespace": NS, "pod_name": "bare"})


def test_rollout_restart_then_rollback_deployment_returns_to_the_old_template(
        ctx: ActionContext) -> None:
    args = {**DEPLOY, "kind": "deployment"}
    preview = PLUGINS["rollout_restart"].preview(ctx, args)
    assert any("restartedAt" in d["path"] for d in preview.diff)
    assert "restartedAt" not in str(ctx.reader.get(DEPLOYMENTS, NS, "storefront")["spec"])
    _, verified = run(ctx, "rollout_restart", args)
    assert verified
    back = PLUGINS["rollback_deployment"].preview(ctx, DEPLOY)
    assert any("restartedAt" in d["path"] for d in back.diff)
    done, verified = run(ctx, "rollback_deployment", DEPLOY)
    assert verified
    assert "restartedAt" not in str(ctx.reader.get(DEPLOYMENTS, NS, "storefront")["spec"])
    PLUGINS["rollback_deployment"].rollback(ctx, DEPLOY, done)
    assert "restartedAt" in str(ctx.reader.get(DEPLOYMENTS, NS, "storefront")["spec"])


def test_scale_deployment_is_bounded_verified_and_undone(ctx: ActionContext) -> None:
    with pytest.raises(StepFailed, match="between 0 and 10"):
        PLUGINS["scale_deployment"].preview(ctx, {**DEPLOY, "replicas": 50})
    preview = PLUGINS["scale_deployment"].preview(ctx, {**DEPLOY, "replicas": 3})
    assert {"path": "spec.replicas", "before": 2, "after": 3} in preview.diff
    done, verified = run(ctx, "scale_deployment", {**DEPLOY, "replicas": 3})
    assert verified and len(storefront_pods(ctx.reader)) == 3
    PLUGINS["scale_deployment"].rollback(ctx, DEPLOY, done)
    assert ctx.reader.get(DEPLOYMENTS, NS, "storefront")["spec"]["replicas"] == 2


def test_set_resources_raises_memory_and_rolls_back(ctx: ActionContext) -> None:
    args = {**DEPLOY, "kind": "deployment", "container": "storefront",
            "memory_limit": "1Gi"}
    preview = PLUGINS["set_resources"].preview(ctx, args)
    assert any(d["after"] == "1Gi" for d in preview.diff)
    done, verified = run(ctx, "set_resources", args)
    assert verified
    container = ctx.reader.get(DEPLOYMENTS, NS, "storefront")["spec"]["template"]["spec"][
        "containers"][0]
    assert container["resources"]["limits"]["memory"] == "1Gi"
    PLUGINS["set_resources"].rollback(ctx, args, done)
    container = ctx.reader.get(DEPLOYMENTS, NS, "storefront")["spec"]["template"]["spec"][
        "containers"][0]
    assert container["resources"] == done["previous_resources"]
    with pytest.raises(StepFailed, match="bound"):
        PLUGINS["set_resources"].preview(ctx, {**args, "memory_limit": "64Gi"})


def test_cordon_and_uncordon_node(ctx: ActionContext) -> None:
    node = {"node_name": "demo-gpu-1"}
    PLUGINS["cordon_node"].preview(ctx, node)
    assert not ctx.reader.get(NODES, None, "demo-gpu-1")["spec"].get("unschedulable")
    done, verified = run(ctx, "cordon_node", node)
    assert verified
    PLUGINS["cordon_node"].rollback(ctx, node, done)
    _, verified = run(ctx, "uncordon_node", node)
    assert verified and not ctx.reader.get(NODES, None, "demo-gpu-1")["spec"].get(
        "unschedulable")


def test_drain_evicts_the_nodes_pods_and_a_budget_stops_it(
        server: FakeKubeServer, ctx: ActionContext) -> None:
    node = {"node_name": "demo-worker-1"}
    preview = PLUGINS["drain_node"].preview(ctx, node)
    assert f"{NS}/{POD}" in preview.target["pods"]
    ctx.writer.create(PDBS, NS, {"metadata": {"name": "storefront"}, "spec": {
        "minAvailable": 2, "selector": {"matchLabels": {"app": "storefront"}}}}, dry_run=False)
    assert POD in PLUGINS["drain_node"].preview(ctx, node).target["blocked"]
    with pytest.raises(StepFailed, match="disruption budget"):
        PLUGINS["drain_node"].execute(ctx, node)
    ctx.writer.delete(PDBS, NS, "storefront", dry_run=False)
    done, verified = run(ctx, "drain_node", node)
    assert verified and done["evicted"]
    PLUGINS["drain_node"].rollback(ctx, node, done)
    assert not ctx.reader.get(NODES, None, "demo-worker-1")["spec"].get("unschedulable")


def test_failed_jobs_are_deleted_or_rerun_and_others_refused(
        server: FakeKubeServer, ctx: ActionContext) -> None:
    ctx.writer.create(JOBS, NS, job_body("ok-job"), dry_run=False)
    with pytest.raises(StepFailed, match="has not failed"):
        PLUGINS["delete_failed_job"].preview(ctx, {"namespace": NS, "name": "ok-job"})
    server.fail_new_pods = True
    ctx.writer.create(JOBS, NS, job_body("bad-job", backoff=0), dry_run=False)
    server.fail_new_pods = False
    job = {"namespace": NS, "name": "bad-job"}
    rerun, verified = run(ctx, "rerun_job", job)
    assert verified and ctx.reader.get(JOBS, NS, rerun["new_job"])
    PLUGINS["rerun_job"].rollback(ctx, job, rerun)
    PLUGINS["delete_failed_job"].preview(ctx, job)
    assert ctx.reader.get(JOBS, NS, "bad-job")
    _, verified = run(ctx, "delete_failed_job", job)
    assert verified


def test_a_config_suggestion_touches_nothing(server: FakeKubeServer, ctx: ActionContext) -> None:
    before = len(server.requests)
    args = {"namespace": NS, "kind": "Deployment", "name": "orders-api",
            "suggestion": "set DATABASE_URL"}
    preview = PLUGINS["suggest_config_fix"].preview(ctx, args)
    done, verified = run(ctx, "suggest_config_fix", args)
    assert "set DATABASE_URL" in preview.message and verified and done["mutated"] is False
    assert len(server.requests) == before
