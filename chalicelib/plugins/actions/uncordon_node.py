"""uncordon_node: mark a node schedulable again; rollback cordons it."""

from __future__ import annotations

from chalicelib.plugins.actions._nodes import toggle

NAME = "uncordon_node"
preview, execute, verify, rollback = toggle(False)
