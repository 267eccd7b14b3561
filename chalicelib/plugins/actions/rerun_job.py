"""rerun_job: create a new job from a job's own spec (the controller-managed selector and
labels dropped), named ``<job>-rerun-<n>``."""

from __future__ import annotations

import copy
import time
from typing import Any

from chalicelib.domain.kube import Obj, meta
from chalicelib.plugins.actions._base import ActionContext, Preview, Undo, Verification, wait_until
from chalicelib.plugins.actions._jobs import JOBS, failed, job

NAME = "rerun_job"
MANAGED = ("controller-uid", "batch.kubernetes.io/controller-uid", "job-name",
           "batch.kubernetes.io/job-name")


def _copy(source: Obj, name: str) -> Obj:
    spec = copy.deepcopy(source.get("spec") or {})
    spec.pop("selector", None)
    spec.pop("manualSelector", None)
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    for key in MANAGED:
        labels.pop(key, None)
    m = meta(source)
    return {"apiVersion": "batch/v1", "kind": "Job", "spec": spec, "metadata": {
        "name": name, "namespace": m.get("namespace"),
        "labels": {k: v for k, v in (m.get("labels") or {}).items() if k not in MANAGED},
        "annotations": {"drover.io/rerun-of": m.get("name") or ""}}}


def _name(args: dict[str, Any]) -> str:
    return f"{args['name'][:45]}-rerun-{int(time.time()) % 100000}"


def preview(ctx: ActionContext, args: dict[str, Any]) -> Preview:
    """Dry-run creating the copy."""
    name = _name(args)
    ctx.writer.create(JOBS, args["namespace"], _copy(job(ctx, args), name), dry_run=True)
    return Preview(f"Would create job {name} from the spec of job {args['name']} in "
                   f"namespace {args['namespace']}",
                   [{"path": f"jobs/{name}", "before": None, "after": "created"}],
                   {"kind": "Job", "namespace": args["namespace"], "name": args["name"]})


def execute(ctx: ActionContext, args: dict[str, Any]) -> dict[str, Any]:
    """Create the copy."""
    name = _name(args)
    created = ctx.writer.create(JOBS, args["namespace"], _copy(job(ctx, args), name),
                                dry_run=False)
    name = meta(created).get("name") or name
    return {"message": f"Job {name} created from {args['name']}", "new_job": name}


def verify(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Verification:
    """The new job runs or has succeeded, and has not failed."""
    rerun = {**args, "name": done["new_job"]}

    def check() -> Verification:
        found = job(ctx, rerun)
        status = found.get("status") or {}
        if failed(found):
            return Verification(False, f"job {done['new_job']} failed too")
        if status.get("succeeded") or status.get("active"):
            return Verification(True, f"job {done['new_job']} is "
                                      f"{'done' if status.get('succeeded') else 'running'}")
        return Verification(False, f"job {done['new_job']} has no pod running yet")

    return wait_until(ctx, check)


def rollback(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Undo:
    """Delete the copy."""
    if not done.get("new_job"):
        return None
    ctx.writer.delete(JOBS, args["namespace"], done["new_job"], dry_run=False)
    return {"message": f"job {done['new_job']} deleted"}
