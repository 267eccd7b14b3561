"""rollback_deployment: roll a deployment back to its previous ReplicaSet revision (what
``kubectl rollout undo`` does: the previous revision's pod template becomes the spec)."""

from __future__ import annotations

import copy
from typing import Any

from chalicelib.domain.kube import Obj, meta
from chalicelib.domain.remediation_ports import StepFailed
from chalicelib.plugins.actions._base import ActionContext, Preview, Undo, Verification, diff, kind
from chalicelib.plugins.actions._workloads import verify_rollout

NAME = "rollback_deployment"
DEPLOYMENTS = kind("deployments")
REPLICASETS = kind("replicasets")
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"


def _replace(template: Obj) -> list[dict[str, Any]]:
    """A JSON patch replacing the whole pod template (a merge patch would keep keys the old
    template lacks, such as a restart annotation, and roll nothing back)."""
    return [{"op": "replace", "path": "/spec/template", "value": template}]


def _revision(rs: Obj) -> int:
    try:
        return int((meta(rs).get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def _previous_template(ctx: ActionContext, args: dict[str, Any]) -> tuple[Obj, Obj, int]:
    """The deployment, the template of the revision before the current one, and its number."""
    deployment = ctx.reader.get(DEPLOYMENTS, args["namespace"], args["name"])
    owned = [rs for rs in ctx.reader.list(REPLICASETS, args["namespace"])
             if any(o.get("uid") == meta(deployment).get("uid")
                    or (o.get("kind") == "Deployment" and o.get("name") == args["name"])
                    for o in meta(rs).get("ownerReferences") or [])]
    owned.sort(key=_revision)
    if len(owned) < 2:  # noqa: PLR2004 - a current and a previous revision
        raise StepFailed(f"deployment {args['name']} has no previous revision to roll back to",
                         code="no_previous_revision")
    previous = owned[-2]
    template = copy.deepcopy((previous.get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop(HASH_LABEL, None)
    return deployment, template, _revision(previous)


def preview(ctx: ActionContext, args: dict[str, Any]) -> Preview:
    """Dry-run the template swap."""
    deployment, template, revision = _previous_template(ctx, args)
    after = ctx.writer.patch(DEPLOYMENTS, args["namespace"], args["name"], _replace(template),
                             patch_type="json", dry_run=True)
    return Preview(f"Would roll deployment {args['name']} in namespace {args['namespace']} "
                   f"back to revision {revision}", diff(deployment, after),
                   {"kind": "Deployment", "namespace": args["namespace"], "name": args["name"],
                    "to_revision": revision})


def execute(ctx: ActionContext, args: dict[str, Any]) -> dict[str, Any]:
    """Apply the previous template; remember the current one."""
    deployment, template, revision = _previous_template(ctx, args)
    current = (deployment.get("spec") or {}).get("template")
    ctx.writer.patch(DEPLOYMENTS, args["namespace"], args["name"], _replace(template),
                     patch_type="json", dry_run=False)
    return {"message": f"Deployment {args['name']} rolled back to revision {revision}",
            "previous_template": current, "to_revision": revision}


def verify(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Verification:
    """The rollout to the old revision completes."""
    return verify_rollout(ctx, DEPLOYMENTS, args)


def rollback(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Undo:
    """Roll forward again to the template that was current."""
    template = done.get("previous_template")
    if not template:
        return None
    ctx.writer.patch(DEPLOYMENTS, args["namespace"], args["name"], _replace(template),
                     patch_type="json", dry_run=False)
    return {"message": "the template before the rollback is restored"}
