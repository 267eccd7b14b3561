"""cordon_node: mark a node unschedulable (running pods stay)."""

from __future__ import annotations

from typing import Any

from chalicelib.plugins.actions._base import ActionContext, Preview, Undo, Verification
from chalicelib.plugins.actions._nodes import (
    preview_unschedulable,
    set_unschedulable,
    verify_unschedulable,
)

NAME = "cordon_node"


def preview(ctx: ActionContext, args: dict[str, Any]) -> Preview:
    """Dry-run the cordon."""
    return preview_unschedulable(ctx, args["node_name"], True)


def execute(ctx: ActionContext, args: dict[str, Any]) -> dict[str, Any]:
    """Cordon the node."""
    set_unschedulable(ctx, args["node_name"], True, dry_run=False)
    return {"message": f"Node {args['node_name']} cordoned"}


def verify(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Verification:
    """The node is unschedulable."""
    return verify_unschedulable(ctx, args["node_name"], True)


def rollback(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Undo:
    """Uncordon it again."""
    set_unschedulable(ctx, args["node_name"], False, dry_run=False)
    return {"message": f"Node {args['node_name']} uncordoned"}
