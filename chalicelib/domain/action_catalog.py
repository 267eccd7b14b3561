"""The remediation allowlist: every action Drover may ever suggest or run, with its argument
schema, risk and blast radius. Anything not here cannot be suggested, let alone executed.

A diagnosis (builtin or LLM) only *suggests*: a suggestion is validated against this
catalog and dropped if it does not fit, then shown with ``dry_run`` on and approval as the
risk demands. Execution, policy and verification live with the remediation group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.domain.diagnosis import SuggestedAction

DNS_1123 = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"
MAX_REPLICAS = 100


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PodArgs(_Args):
    """One pod."""

    namespace: str = Field(pattern=DNS_1123)
    pod_name: str = Field(pattern=SUBDOMAIN)


class NamedArgs(_Args):
    """One namespaced object by name (a deployment, a job)."""

    namespace: str = Field(pattern=DNS_1123)
    name: str = Field(pattern=SUBDOMAIN)


class WorkloadArgs(NamedArgs):
    """One workload."""

    kind: Literal["deployment", "statefulset", "daemonset"] = "deployment"


class ScaleArgs(NamedArgs):
    """A deployment and its new replica count."""

    replicas: int = Field(ge=0, le=MAX_REPLICAS)


class ResourcesArgs(WorkloadArgs):
    """New requests/limits for one container of a workload."""

    container: str = Field(pattern=DNS_1123)
    memory_limit: str | None = Field(default=None, pattern=QUANTITY)
    memory_request: str | None = Field(default=None, pattern=QUANTITY)
    cpu_limit: str | None = Field(default=None, pattern=QUANTITY)
    cpu_request: str | None = Field(default=None, pattern=QUANTITY)


class NodeArgs(_Args):
    """One node."""

    node_name: str = Field(pattern=SUBDOMAIN)


class ConfigFixArgs(_Args):
    """A change for a human to review and apply; nothing is mutated."""

    namespace: str | None = Field(default=None, pattern=DNS_1123)
    kind: str = Field(default="", max_length=60)
    name: str | None = Field(default=None, max_length=253)
    suggestion: str = Field(min_length=1, max_length=1000)


@dataclass(frozen=True)
class ActionSpec:
    """One allowlisted action."""

    name: str
    description: str
    args: type[_Args]
    risk: Literal["low", "medium", "high"]
    blast_radius: Literal["none", "single_pod", "workload", "node", "namespace", "cluster"]
    mutates: bool = True


ACTIONS: dict[str, ActionSpec] = {s.name: s for s in (
    ActionSpec("restart_pod", "Delete one pod so its controller recreates it.", PodArgs,
               "low", "single_pod"),
    ActionSpec("rollout_restart", "Restart every pod of a workload, one batch at a time.",
               WorkloadArgs, "medium", "workload"),
    ActionSpec("scale_deployment", "Change a deployment's replica count.", ScaleArgs,
               "medium", "workload"),
    ActionSpec("rollback_deployment", "Roll a deployment back to its previous revision.",
               NamedArgs, "high", "workload"),
    ActionSpec("set_resources", "Change a container's resource requests and limits.",
               ResourcesArgs, "medium", "workload"),
    ActionSpec("cordon_node", "Mark a node unschedulable.", NodeArgs, "medium", "node"),
    ActionSpec("uncordon_node", "Mark a node schedulable again.", NodeArgs, "low", "node"),
    ActionSpec("drain_node", "Evict a node's pods, honouring PodDisruptionBudgets.", NodeArgs,
               "high", "node"),
    ActionSpec("delete_failed_job", "Delete a failed job and its pods.", NamedArgs, "low",
               "workload"),
    ActionSpec("rerun_job", "Re-create a failed job from its own spec.", NamedArgs, "medium",
               "workload"),
    ActionSpec("suggest_config_fix", "Propose a configuration change for a human to apply.",
               ConfigFixArgs, "low", "none", mutates=False),
)}


class UnknownAction(ValueError):
    """The action is not on the allowlist, or its arguments do not fit its schema."""


def suggest(name: str, arguments: dict[str, Any], description: str = "") -> SuggestedAction:
    """A validated suggestion of an allowlisted action (UnknownAction otherwise).

    Suggestions are always dry-run first; anything that mutates needs approval unless a
    policy later decides it may run on its own (only low-risk actions can).
    """
    spec = ACTIONS.get(name)
    if spec is None:
        raise UnknownAction(f"'{name}' is not an allowlisted action")
    try:
        args = spec.args.model_validate(arguments)
    except ValidationError as exc:
        raise UnknownAction(f"bad arguments for {name}: {exc.errors()[0]['msg']}") from None
    return SuggestedAction(
        name=name, description=description or spec.description,
        arguments=args.model_dump(exclude_none=True), dry_run=True,
        approval_required=spec.mutates, blast_radius=spec.blast_radius, risk=spec.risk,
        executable=spec.mutates, auto_executable=spec.mutates and spec.risk == "low")


def sanitize(suggestions: list[dict[str, Any]]) -> tuple[list[SuggestedAction], list[str]]:
    """Keep the suggestions that fit the allowlist; say why each other one was dropped."""
    kept: list[SuggestedAction] = []
    dropped: list[str] = []
    for raw in suggestions:
        name = str(raw.get("name") or raw.get("action") or "")
        try:
            kept.append(suggest(name, dict(raw.get("arguments") or {}),
                                str(raw.get("description") or "")[:300]))
        except (UnknownAction, TypeError, ValueError) as exc:
            dropped.append(f"dropped suggested action {name[:60]!r}: {exc}")
    return kept, dropped
