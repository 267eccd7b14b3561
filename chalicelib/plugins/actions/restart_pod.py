"""restart_pod: delete one pod so its controller recreates it (a bare pod is refused: it
would not come back)."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.kube import meta
from chalicelib.domain.remediation_ports import StepFailed
from chalicelib.plugins.actions._base import (
    ActionContext,
    Preview,
    Undo,
    Verification,
    kind,
    pod_ready,
    wait_until,
)

NAME = "restart_pod"
PODS = kind("pods")


def _pod(ctx: ActionContext, args: dict[str, Any]) -> dict[str, Any]:
    pod = ctx.reader.get(PODS, args["namespace"], args["pod_name"])
    owners = meta(pod).get("ownerReferences") or []
    if not owners:
        raise StepFailed(f"pod {args['pod_name']} has no controller: deleting it would not "
                         "restart it, it would be gone", code="pod_without_controller")
    return pod


def preview(ctx: ActionContext, args: dict[str, Any]) -> Preview:
    """Dry-run the deletion."""
    pod = _pod(ctx, args)
    ctx.writer.delete(PODS, args["namespace"], args["pod_name"], dry_run=True)
    owner = (meta(pod).get("ownerReferences") or [{}])[0]
    return Preview(
        message=f"Would delete pod {args['pod_name']} in namespace {args['namespace']}; its "
                f"{owner.get('kind')} {owner.get('name')} recreates it",
        diff=[{"path": f"pods/{args['pod_name']}", "before": "present", "after": "deleted"}],
        target={"kind": "Pod", "namespace": args["namespace"], "name": args["pod_name"],
                "owner": {"kind": owner.get("kind"), "name": owner.get("name")}})


def execute(ctx: ActionContext, args: dict[str, Any]) -> dict[str, Any]:
    """Delete the pod; remember which one it was and who owns it."""
    pod = _pod(ctx, args)
    owner = (meta(pod).get("ownerReferences") or [{}])[0]
    before = [meta(p).get("uid") for p in _owned(ctx, args["namespace"], owner.get("name"))]
    ctx.writer.delete(PODS, args["namespace"], args["pod_name"], dry_run=False)
    return {"message": f"Pod {args['pod_name']} deleted in namespace {args['namespace']}",
            "deleted_uid": meta(pod).get("uid"), "owner_kind": owner.get("kind"),
            "owner_name": owner.get("name"), "pods_before": before}


def _owned(ctx: ActionContext, namespace: str, owner: str | None) -> list[dict[str, Any]]:
    return [p for p in ctx.reader.list(PODS, namespace)
            if any(o.get("name") == owner for o in meta(p).get("ownerReferences") or [])]


def verify(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Verification:
    """A pod of the same owner that did not exist before the deletion is Running and Ready
    (the siblings that were already there do not count)."""
    known = set(done.get("pods_before") or [done.get("deleted_uid")])

    def check() -> Verification:
        fresh = [p for p in _owned(ctx, args["namespace"], done.get("owner_name"))
                 if meta(p).get("uid") not in known]
        ready = [meta(p).get("name") for p in fresh if pod_ready(p)]
        if ready:
            return Verification(True, f"replacement pod {ready[0]} is Ready",
                                {"replacement": ready[0]})
        names = [meta(p).get("name") for p in fresh]
        return Verification(False, "no Ready replacement pod yet"
                            + (f" ({', '.join(names)} not Ready)" if names else ""),
                            {"replacements": names})

    return wait_until(ctx, check)


def rollback(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Undo:
    """A deleted pod cannot be brought back; its controller owns what comes next."""
    return None
