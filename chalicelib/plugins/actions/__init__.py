"""Remediation actions: one module per allowlisted action, in an explicit registry.

Each module declares ``NAME`` and four functions over an :class:`ActionContext` and the
action's validated arguments: ``preview`` (a server-side dry run and its diff),
``execute`` (returns what was done and how to undo it), ``verify`` and ``rollback``
(None when there is nothing to undo). Schemas, risk and blast radius are in
``chalicelib.domain.action_catalog``; every name here is one of its actions.
"""

from __future__ import annotations

from types import ModuleType

from chalicelib.domain.action_catalog import ACTIONS
from chalicelib.plugins.actions import (
    cordon_node,
    delete_failed_job,
    drain_node,
    rerun_job,
    restart_pod,
    rollback_deployment,
    rollout_restart,
    scale_deployment,
    set_resources,
    suggest_config_fix,
    uncordon_node,
)

PLUGINS: dict[str, ModuleType] = {m.NAME: m for m in (
    restart_pod, rollout_restart, scale_deployment, rollback_deployment, set_resources,
    cordon_node, uncordon_node, drain_node, delete_failed_job, rerun_job, suggest_config_fix)}
assert set(PLUGINS) == set(ACTIONS), "every allowlisted action has exactly one plugin"
