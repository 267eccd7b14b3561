"""rollout_restart: restart every pod of a workload, one batch at a time (what
``kubectl rollout restart`` does: a new restartedAt annotation on the pod template)."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.clock import now_iso
from chalicelib.plugins.actions._base import ActionContext, Preview, Undo, Verification
from chalicelib.plugins.actions._workloads import patch_preview, verify_rollout, workload_kind

NAME = "rollout_restart"
ANNOTATION = "kubectl.kubernetes.io/restartedAt"


def _body() -> dict[str, Any]:
    return {"spec": {"template": {"metadata": {"annotations": {ANNOTATION: now_iso()}}}}}


def preview(ctx: ActionContext, args: dict[str, Any]) -> Preview:
    """Dry-run the annotation patch."""
    rk = workload_kind(args)
    _, changes = patch_preview(ctx, rk, args, _body())
    return Preview(f"Would restart every pod of {rk.kind} {args['name']} in namespace "
                   f"{args['namespace']}, batch by batch", changes,
                   {"kind": rk.kind, "namespace": args["namespace"], "name": args["name"]})


def execute(ctx: ActionContext, args: dict[str, Any]) -> dict[str, Any]:
    """Patch the annotation."""
    rk = workload_kind(args)
    ctx.writer.patch(rk, args["namespace"], args["name"], _body(), dry_run=False)
    return {"message": f"{rk.kind} {args['name']} restarted in namespace {args['namespace']}"}


def verify(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Verification:
    """The rollout completes."""
    return verify_rollout(ctx, workload_kind(args), args)


def rollback(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Undo:
    """A restart has nothing to undo."""
    return None
