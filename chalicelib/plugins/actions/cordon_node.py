"""cordon_node: mark a node unschedulable (running pods stay); rollback uncordons it."""

from __future__ import annotations

from chalicelib.plugins.actions._nodes import toggle

NAME = "cordon_node"
preview, execute, verify, rollback = toggle(True)
