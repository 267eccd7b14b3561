"""scale_deployment: set a deployment's replicas within the workspace's bounds."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.remediation_ports import StepFailed
from chalicelib.plugins.actions._base import ActionContext, Preview, Undo, Verification, kind
from chalicelib.plugins.actions._workloads import patch_preview, verify_rollout

NAME = "scale_deployment"
DEPLOYMENTS = kind("deployments")


def _bounded(ctx: ActionContext, args: dict[str, Any]) -> int:
    low = int(ctx.limits.get("min_replicas", 0))
    high = int(ctx.limits.get("max_replicas", 20))
    replicas = int(args["replicas"])
    if not low <= replicas <= high:
        raise StepFailed(f"replicas must be between {low} and {high} (the workspace's "
                         "bounds)", code="replicas_out_of_bounds")
    return replicas


def preview(ctx: ActionContext, args: dict[str, Any]) -> Preview:
    """Dry-run the new replica count."""
    replicas = _bounded(ctx, args)
    current, changes = patch_preview(ctx, DEPLOYMENTS, args, {"spec": {"replicas": replicas}})
    was = (current.get("spec") or {}).get("replicas")
    return Preview(f"Would scale deployment {args['name']} in namespace {args['namespace']} "
                   f"from {was} to {replicas} replicas", changes,
                   {"kind": "Deployment", "namespace": args["namespace"], "name": args["name"]})


def execute(ctx: ActionContext, args: dict[str, Any]) -> dict[str, Any]:
    """Patch the replica count; remember the old one."""
    replicas = _bounded(ctx, args)
    was = (ctx.reader.get(DEPLOYMENTS, args["namespace"], args["name"]).get("spec") or {}
           ).get("replicas")
    ctx.writer.patch(DEPLOYMENTS, args["namespace"], args["name"],
                     {"spec": {"replicas": replicas}}, dry_run=False)
    return {"message": f"Deployment {args['name']} scaled to {replicas} replicas in namespace "
                       f"{args['namespace']}", "previous_replicas": was}


def verify(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Verification:
    """Every replica is available."""
    return verify_rollout(ctx, DEPLOYMENTS, args)


def rollback(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Undo:
    """Scale back to the replica count before."""
    was = done.get("previous_replicas")
    if was is None:
        return None
    ctx.writer.patch(DEPLOYMENTS, args["namespace"], args["name"],
                     {"spec": {"replicas": was}}, dry_run=False)
    return {"message": f"scaled back to {was} replicas"}
