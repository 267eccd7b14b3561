"""Helpers of the actions that change a workload and wait for its rollout."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.kube import Obj, ResourceKind
from chalicelib.plugins.actions._base import ActionContext, Verification, diff, kind, wait_until

PLURALS = {"deployment": "deployments", "statefulset": "statefulsets",
           "daemonset": "daemonsets"}


def workload_kind(args: dict[str, Any]) -> ResourceKind:
    """The kind an action's ``kind`` argument names (deployment by default)."""
    return kind(PLURALS[args.get("kind") or "deployment"])


def patch_preview(ctx: ActionContext, rk: ResourceKind, args: dict[str, Any],
                  body: Any) -> tuple[Obj, list[dict[str, Any]]]:
    """The object now, and the diff a dry-run patch implies."""
    current = ctx.reader.get(rk, args["namespace"], args["name"])
    after = ctx.writer.patch(rk, args["namespace"], args["name"], body, dry_run=True)
    return current, diff(current, after)


def rolled_out(workload: Obj) -> tuple[bool, str]:
    """Whether the latest spec is observed and every replica updated and available."""
    spec, status = workload.get("spec") or {}, workload.get("status") or {}
    wanted = int(spec.get("replicas", 1) if "replicas" in spec else
                 status.get("desiredNumberScheduled", 1))
    generation = (workload.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    updated = int(status.get("updatedReplicas", status.get("updatedNumberScheduled", 0)) or 0)
    available = int(status.get("availableReplicas", status.get("numberAvailable", 0)) or 0)
    if generation is not None and observed is not None and observed < generation:
        return False, f"the controller has not observed generation {generation} yet"
    if updated < wanted or available < wanted:
        return False, f"{updated}/{wanted} updated, {available}/{wanted} available"
    return True, f"{available}/{wanted} replicas updated and available"


def verify_rollout(ctx: ActionContext, rk: ResourceKind, args: dict[str, Any]) -> Verification:
    """Wait for the workload's rollout to complete."""

    def check() -> Verification:
        ok, why = rolled_out(ctx.reader.get(rk, args["namespace"], args["name"]))
        return Verification(ok, why)

    return wait_until(ctx, check)
