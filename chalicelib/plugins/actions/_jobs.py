"""What the job actions share."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.kube import Obj
from chalicelib.plugins.actions._base import ActionContext, kind

JOBS = kind("jobs")


def job(ctx: ActionContext, args: dict[str, Any]) -> Obj:
    """The job the action names."""
    return ctx.reader.get(JOBS, args["namespace"], args["name"])


def failed(job_obj: Obj) -> bool:
    """The job's Failed condition is True."""
    return any(c.get("type") == "Failed" and c.get("status") == "True"
               for c in (job_obj.get("status") or {}).get("conditions") or [])
