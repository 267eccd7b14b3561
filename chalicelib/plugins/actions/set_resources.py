"""set_resources: change one container's requests and limits (e.g. more memory after an
OOM kill), bounded by the workspace's limits."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.quantity import parse_quantity
from chalicelib.domain.remediation_ports import StepFailed
from chalicelib.plugins.actions._base import ActionContext, Preview, Undo, Verification
from chalicelib.plugins.actions._workloads import patch_preview, verify_rollout, workload_kind

NAME = "set_resources"
FIELDS = {"memory_limit": ("limits", "memory"), "memory_request": ("requests", "memory"),
          "cpu_limit": ("limits", "cpu"), "cpu_request": ("requests", "cpu")}
GIB = 2 ** 30


def _container(ctx: ActionContext, args: dict[str, Any]) -> dict[str, Any]:
    workload = ctx.reader.get(workload_kind(args), args["namespace"], args["name"])
    containers = ((workload.get("spec") or {}).get("template") or {}).get("spec", {}).get(
        "containers") or []
    found = next((c for c in containers if c.get("name") == args["container"]), None)
    if found is None:
        raise StepFailed(f"{args['name']} has no container {args['container']}",
                         code="container_not_found")
    return found


def _resources(ctx: ActionContext, args: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The requested values, checked against the bounds."""
    wanted: dict[str, dict[str, str]] = {}
    for field, (section, resource) in FIELDS.items():
        if args.get(field):
            wanted.setdefault(section, {})[resource] = args[field]
    if not wanted:
        raise StepFailed("give at least one of memory_limit, memory_request, cpu_limit, "
                         "cpu_request", code="nothing_to_set")
    max_memory = float(ctx.limits.get("max_memory_gib", 16)) * GIB
    for section in wanted.values():
        memory = parse_quantity(section.get("memory"))
        if memory is not None and memory > max_memory:
            raise StepFailed(f"memory above the workspace's bound of "
                             f"{ctx.limits.get('max_memory_gib', 16)}Gi", code="out_of_bounds")
    return wanted


def _body(args: dict[str, Any], resources: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [
        {"name": args["container"], "resources": resources}]}}}}


def preview(ctx: ActionContext, args: dict[str, Any]) -> Preview:
    """Dry-run the new resources."""
    _container(ctx, args)
    rk = workload_kind(args)
    _, changes = patch_preview(ctx, rk, args, _body(args, _resources(ctx, args)))
    return Preview(f"Would set the resources of container {args['container']} of "
                   f"{rk.kind} {args['name']} in namespace {args['namespace']} (a rollout)",
                   changes, {"kind": rk.kind, "namespace": args["namespace"],
                             "name": args["name"], "container": args["container"]})


def execute(ctx: ActionContext, args: dict[str, Any]) -> dict[str, Any]:
    """Patch the container's resources; remember the old ones."""
    before = _container(ctx, args).get("resources") or {}
    ctx.writer.patch(workload_kind(args), args["namespace"], args["name"],
                     _body(args, _resources(ctx, args)), dry_run=False)
    return {"message": f"resources of {args['container']} in {args['name']} updated",
            "previous_resources": before}


def verify(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Verification:
    """The rollout with the new resources completes."""
    return verify_rollout(ctx, workload_kind(args), args)


def rollback(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Undo:
    """Put the previous resources back (a merge patch, so removed keys go away)."""
    before = done.get("previous_resources") or {}
    rk = workload_kind(args)
    ctx.writer.patch(rk, args["namespace"], args["name"],
                     _body(args, {"limits": before.get("limits"),
                                  "requests": before.get("requests")}), dry_run=False)
    return {"message": "previous resources restored"}
