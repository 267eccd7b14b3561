"""uncordon_node: mark a node schedulable again."""

from __future__ import annotations

from typing import Any

from chalicelib.plugins.actions._base import ActionContext, Preview, Undo, Verification
from chalicelib.plugins.actions._nodes import (
    preview_unschedulable,
    set_unschedulable,
    verify_unschedulable,
)

NAME = "uncordon_node"


def preview(ctx: ActionContext, args: dict[str, Any]) -> Preview:
    """Dry-run the uncordon."""
    return preview_unschedulable(ctx, args["node_name"], False)


def execute(ctx: ActionContext, args: dict[str, Any]) -> dict[str, Any]:
    """Uncordon the node."""
    set_unschedulable(ctx, args["node_name"], False, dry_run=False)
    return {"message": f"Node {args['node_name']} uncordoned"}


def verify(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Verification:
    """The node is schedulable."""
    return verify_unschedulable(ctx, args["node_name"], False)


def rollback(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Undo:
    """Cordon it again."""
    set_unschedulable(ctx, args["node_name"], True, dry_run=False)
    return {"message": f"Node {args['node_name']} cordoned again"}
