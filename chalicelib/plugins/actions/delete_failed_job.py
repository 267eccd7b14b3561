"""delete_failed_job: delete a job that has failed, with its pods (a running or succeeded
job is refused)."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.errors import NotFound
from chalicelib.domain.remediation_ports import StepFailed
from chalicelib.plugins.actions._base import ActionContext, Preview, Undo, Verification, wait_until
from chalicelib.plugins.actions._jobs import JOBS, failed, job

NAME = "delete_failed_job"


def _failed_job(ctx: ActionContext, args: dict[str, Any]) -> dict[str, Any]:
    found = job(ctx, args)
    if not failed(found):
        raise StepFailed(f"job {args['name']} has not failed; only failed jobs are deleted",
                         code="job_not_failed")
    return found


def preview(ctx: ActionContext, args: dict[str, Any]) -> Preview:
    """Dry-run the deletion."""
    _failed_job(ctx, args)
    ctx.writer.delete(JOBS, args["namespace"], args["name"], dry_run=True)
    return Preview(f"Would delete failed job {args['name']} and its pods in namespace "
                   f"{args['namespace']}",
                   [{"path": f"jobs/{args['name']}", "before": "failed", "after": "deleted"}],
                   {"kind": "Job", "namespace": args["namespace"], "name": args["name"]})


def execute(ctx: ActionContext, args: dict[str, Any]) -> dict[str, Any]:
    """Delete the job; its pods go with it."""
    _failed_job(ctx, args)
    ctx.writer.delete(JOBS, args["namespace"], args["name"], dry_run=False)
    return {"message": f"Job {args['name']} deleted in namespace {args['namespace']}"}


def verify(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Verification:
    """The job is gone."""

    def check() -> Verification:
        try:
            job(ctx, args)
        except NotFound:
            return Verification(True, f"job {args['name']} is gone")
        return Verification(False, f"job {args['name']} still exists")

    return wait_until(ctx, check)


def rollback(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Undo:
    """A failed job's deletion has nothing worth restoring."""
    return None
