"""Cordoning and uncordoning nodes, shared by cordon_node, uncordon_node and drain_node."""

from __future__ import annotations

from typing import Any

from chalicelib.plugins.actions._base import ActionContext, Preview, Verification, diff, kind

NODES = kind("nodes")


def set_unschedulable(ctx: ActionContext, node: str, value: bool, *,
                      dry_run: bool) -> dict[str, Any]:
    """Patch ``spec.unschedulable``; the node as patched."""
    return ctx.writer.patch(NODES, None, node, {"spec": {"unschedulable": value}},
                            dry_run=dry_run)


def preview_unschedulable(ctx: ActionContext, node: str, value: bool) -> Preview:
    """Dry-run (un)cordoning a node."""
    before = ctx.reader.get(NODES, None, node)
    after = set_unschedulable(ctx, node, value, dry_run=True)
    verb = "cordon" if value else "uncordon"
    return Preview(f"Would {verb} node {node}", diff(before, after),
                   {"kind": "Node", "name": node})


def verify_unschedulable(ctx: ActionContext, node: str, value: bool) -> Verification:
    """The node's spec says what it should."""
    now = bool((ctx.reader.get(NODES, None, node).get("spec") or {}).get("unschedulable"))
    state = "cordoned" if now else "schedulable"
    return Verification(now == value, f"node {node} is {state}")


def toggle(value: bool) -> tuple[Any, Any, Any, Any]:
    """preview, execute, verify and rollback of (un)cordoning: the two actions are mirror
    images, each the other's rollback."""
    verb = "cordoned" if value else "uncordoned"

    def preview(ctx: ActionContext, args: dict[str, Any]) -> Preview:
        """Dry-run the change."""
        return preview_unschedulable(ctx, args["node_name"], value)

    def execute(ctx: ActionContext, args: dict[str, Any]) -> dict[str, Any]:
        """Change the node."""
        set_unschedulable(ctx, args["node_name"], value, dry_run=False)
        return {"message": f"Node {args['node_name']} {verb}"}

    def verify(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Verification:
        """The node's spec says so."""
        return verify_unschedulable(ctx, args["node_name"], value)

    def rollback(ctx: ActionContext, args: dict[str, Any],
                 done: dict[str, Any]) -> dict[str, Any] | None:
        """Change it back."""
        set_unschedulable(ctx, args["node_name"], not value, dry_run=False)
        return {"message": f"Node {args['node_name']} changed back"}

    return preview, execute, verify, rollback
