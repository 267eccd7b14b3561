"""drain_node: cordon a node and evict its pods through the Eviction API, so
PodDisruptionBudgets are honoured (DaemonSet pods, mirror pods and finished pods stay)."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.kube import Obj, meta
from chalicelib.domain.remediation_ports import EvictionBlocked, StepFailed
from chalicelib.plugins.actions._base import (
    ActionContext,
    Preview,
    Undo,
    Verification,
    kind,
    wait_until,
)
from chalicelib.plugins.actions._nodes import NODES, set_unschedulable

NAME = "drain_node"
PODS = kind("pods")
MIRROR = "kubernetes.io/config.mirror"


def _evictable(ctx: ActionContext, node: str) -> list[Obj]:
    pods = ctx.reader.list(PODS, field_selector=f"spec.nodeName={node}")
    keep = []
    for pod in pods:
        m = meta(pod)
        if (pod.get("spec") or {}).get("nodeName") != node:
            continue
        if any(o.get("kind") == "DaemonSet" for o in m.get("ownerReferences") or []):
            continue
        if MIRROR in (m.get("annotations") or {}):
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        keep.append(pod)
    return keep


def preview(ctx: ActionContext, args: dict[str, Any]) -> Preview:
    """Dry-run the cordon and every eviction (a PodDisruptionBudget refusal shows here)."""
    node = args["node_name"]
    ctx.reader.get(NODES, None, node)
    set_unschedulable(ctx, node, True, dry_run=True)
    pods = _evictable(ctx, node)
    blocked = []
    for pod in pods:
        try:
            ctx.writer.evict(meta(pod).get("namespace") or "default", meta(pod)["name"],
                             dry_run=True)
        except EvictionBlocked:
            blocked.append(meta(pod)["name"])
    names = [f"{meta(p).get('namespace')}/{meta(p).get('name')}" for p in pods]
    message = f"Would cordon node {node} and evict {len(pods)} pod(s)"
    if blocked:
        message += f"; a disruption budget blocks {', '.join(blocked)} now"
    return Preview(message, [{"path": f"pods/{n}", "before": "running", "after": "evicted"}
                             for n in names] + [{"path": "spec.unschedulable",
                                                 "before": None, "after": True}],
                   {"kind": "Node", "name": node, "pods": names, "blocked": blocked})


def execute(ctx: ActionContext, args: dict[str, Any]) -> dict[str, Any]:
    """Cordon, then evict; a budget that blocks an eviction stops the drain (node stays
    cordoned, which rollback undoes)."""
    node = args["node_name"]
    set_unschedulable(ctx, node, True, dry_run=False)
    evicted = []
    for pod in _evictable(ctx, node):
        name = meta(pod)["name"]
        try:
            ctx.writer.evict(meta(pod).get("namespace") or "default", name, dry_run=False)
        except EvictionBlocked as exc:
            raise StepFailed(f"drain of {node} stopped: {exc.message} (evicted so far: "
                             f"{', '.join(evicted) or 'none'})", code="eviction_blocked") from exc
        evicted.append(name)
    return {"message": f"Node {node} cordoned and {len(evicted)} pod(s) evicted",
            "evicted": evicted}


def verify(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Verification:
    """Nothing evictable is left on the node."""

    def check() -> Verification:
        left = [meta(p)["name"] for p in _evictable(ctx, args["node_name"])]
        return Verification(not left, "node drained" if not left else
                            f"{len(left)} pod(s) still on the node: {', '.join(left[:5])}")

    return wait_until(ctx, check)


def rollback(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Undo:
    """Uncordon the node (evicted pods have been rescheduled elsewhere by their owners)."""
    set_unschedulable(ctx, args["node_name"], False, dry_run=False)
    return {"message": f"Node {args['node_name']} uncordoned"}
