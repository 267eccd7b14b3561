"""suggest_config_fix: a configuration change for a human to review and apply. Nothing in
the cluster changes, so there is nothing to approve, verify or undo."""

from __future__ import annotations

from typing import Any

from chalicelib.plugins.actions._base import ActionContext, Preview, Undo, Verification

NAME = "suggest_config_fix"


def preview(ctx: ActionContext, args: dict[str, Any]) -> Preview:
    """The suggestion itself."""
    where = f"{args.get('kind') or 'object'} {args.get('name') or ''}".strip()
    return Preview(f"Suggestion for {where}: {args['suggestion']}", [],
                   {"kind": args.get("kind"), "namespace": args.get("namespace"),
                    "name": args.get("name")})


def execute(ctx: ActionContext, args: dict[str, Any]) -> dict[str, Any]:
    """Record the suggestion; the cluster is not touched."""
    return {"message": f"Suggestion recorded for a human: {args['suggestion']}",
            "mutated": False}


def verify(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Verification:
    """Nothing to verify."""
    return Verification(True, "a suggestion changes nothing in the cluster")


def rollback(ctx: ActionContext, args: dict[str, Any], done: dict[str, Any]) -> Undo:
    """Nothing to undo."""
    return None
