"""Workflows, runbooks and their runs as Drover records them: step definitions (a read-only
check, an allowlisted action template, or text for a person), runbooks and how well one fits
an incident, what each step of a run did, the run's overall status, and the port that stores
runs and saved runbooks. Pure."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.domain.action_catalog import ACTIONS
from chalicelib.domain.diagnosis import Diagnosis
from chalicelib.domain.errors import ValidationFailed

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
RUNBOOK_ID = r"^[a-z0-9][a-z0-9-]{0,99}$"
# The read-only checks a step may name (chalicelib/services/workflow_checks.py runs them).
CHECK_NAMES = frozenset({"collect_diagnosis", "check_recent_deploys", "verify_rollout"})
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
CONTEXT_KEY = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
MAX_CONTEXT_VALUE = 253
MAX_CONTEXT_KEYS = 30
# What an action record's state means for the step that requested it.
STATE_STATUS = {"dry_run": "previewed", "pending_approval": "waiting_approval",
                "running": "running", "succeeded": "succeeded", "refused": "refused",
                "rolled_back": "failed", "failed": "failed", "rejected": "failed",
                "timed_out": "failed"}
STOPPING = frozenset({"failed", "refused"})
FINAL_RUN = frozenset({"dry_run", "failed", "succeeded", "incomplete"})
ContextValue = str | int | bool


class WorkflowStep(BaseModel):
    """One step: a read-only check, an allowlisted action template, or text for a person."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=NAME_PATTERN)
    name: str = Field(min_length=1, max_length=300)
    check: str | None = None
    action: str | None = None
    arguments: dict[str, ContextValue] = Field(default_factory=dict)
    text: str = Field(default="", max_length=1000)
    command: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _one_kind(self) -> WorkflowStep:
        if self.check and self.action:
            raise ValueError(f"step {self.id} is a check or an action, not both")
        if self.check and self.check not in CHECK_NAMES:
            raise ValueError(f"unknown check '{self.check}'; known: "
                             f"{', '.join(sorted(CHECK_NAMES))}")
        if self.action and self.action not in ACTIONS:
            raise ValueError(f"'{self.action}' is not an allowlisted action")
        if not (self.check or self.action or self.text):
            raise ValueError(f"step {self.id} needs a check, an action or text")
        return self

    @property
    def kind(self) -> Literal["check", "action", "manual"]:
        """What the step does."""
        return "check" if self.check else "action" if self.action else "manual"


class Workflow(BaseModel):
    """A named, ordered set of steps and the context it needs."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=NAME_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    required_context: list[str] = Field(default_factory=list)
    optional_context: dict[str, str] = Field(default_factory=dict)
    steps: list[WorkflowStep] = Field(min_length=1, max_length=20)
    source: Literal["builtin", "workspace"] = "builtin"

    def summary(self) -> dict[str, Any]:
        """The workflow as ``GET /workflows`` lists it (seed 004 fields first)."""
        return {"id": self.id, "name": self.name, "description": self.description,
                "step_count": len(self.steps), "source": self.source,
                "required_context": self.required_context,
                "optional_context": self.optional_context,
                "steps": [{"id": s.id, "name": s.name, "type": s.kind,
                           **({"check": s.check} if s.check else {}),
                           **({"action": s.action, "risk": ACTIONS[s.action].risk}
                              if s.action else {})} for s in self.steps]}


class StepResult(BaseModel):
    """What one step of a run did."""

    step: int
    id: str
    name: str
    type: Literal["check", "action", "manual"]
    status: str
    message: str = ""
    check: str | None = None
    action: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    action_id: str | None = None
    action_state: str | None = None
    preview: dict[str, Any] = Field(default_factory=dict)
    policy_name: str | None = None
    policy_reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    error_code: str | None = None

    def set(self, status: str, message: str, **fields: Any) -> StepResult:
        """Record the step's outcome (and any other fields); returns the step."""
        self.status, self.message = status, message
        for name, value in fields.items():
            setattr(self, name, value)
        return self


class WorkflowRun(BaseModel):
    """One run of a workflow or a runbook, as stored."""

    id: str
    workspace_id: str
    kind: Literal["workflow", "runbook"] = "workflow"
    workflow_id: str
    workflow_name: str
    incident_id: str | None = None
    cluster_id: str | None = None
    cluster_name: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    resolved: dict[str, Any] = Field(default_factory=dict)
    dry_run: bool = True
    requested_by: str
    status: str = "running"
    steps: list[StepResult] = Field(default_factory=list)
    definition: list[WorkflowStep] = Field(default_factory=list)
    created_at: str
    updated_at: str
    version: int = 1

    def overall(self) -> str:
        """The run's status from its steps'."""
        statuses = {s.status for s in self.steps}
        if statuses & STOPPING:
            return "failed"
        if self.dry_run:
            return "dry_run"
        if "waiting_approval" in statuses:
            return "waiting_approval"
        if statuses & {"running", "waiting"}:
            return "running"
        skipped = any(s.type == "action" and s.status == "skipped" for s in self.steps)
        return "incomplete" if skipped else "succeeded"

    def public(self) -> dict[str, Any]:
        """The run as the API shows it."""
        body = self.model_dump(exclude={"workspace_id", "definition", "version", "id"})
        actions = [s.action_id for s in self.steps if s.action_id]
        return {"run_id": self.id, **body, "step_count": len(self.steps),
                "action_ids": actions, "message": self.message()}

    def message(self) -> str:
        """One line: what the run did so far."""
        counts: dict[str, int] = {}
        for step in self.steps:
            counts[step.status] = counts.get(step.status, 0) + 1
        tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        head = f"{self.kind} '{self.workflow_name}'"
        if self.status == "dry_run":
            return f"Dry run of {head}: {tally}; nothing was changed."
        state = {"waiting_approval": "waiting for approval"}.get(self.status, self.status)
        return f"{head[0].upper()}{head[1:]} is {state}: {tally}."


class ActionTemplate(BaseModel):
    """An allowlisted action whose string arguments may hold ``{placeholders}``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, str | int | bool] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _allowlisted(cls, value: str) -> str:
        if value not in ACTIONS:
            raise ValueError(f"'{value}' is not an allowlisted action")
        return value


class RunbookStep(BaseModel):
    """Text for a person, a command for them, an action template: any of them."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=1000)
    command: str | None = Field(default=None, max_length=500)
    action: ActionTemplate | None = None


class RunbookMatch(BaseModel):
    """Which incidents a runbook fits (a category ending in ``*`` matches a family)."""

    model_config = ConfigDict(extra="forbid")

    categories: list[str] = Field(default_factory=list)
    playbooks: list[str] = Field(default_factory=list)
    alert_names: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)


class Runbook(BaseModel):
    """A runbook, built in or generated."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(pattern=RUNBOOK_ID)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    source: Literal["builtin", "generated"] = "generated"
    match: RunbookMatch = Field(default_factory=RunbookMatch)
    steps: list[RunbookStep] = Field(default_factory=list, max_length=30)
    learned_from: list[str] = Field(default_factory=list)
    approved_by: str | None = None
    approved_at: str | None = None

    @field_validator("steps", mode="before")
    @classmethod
    def _plain_steps(cls, steps: Any) -> Any:
        """Seed 004 shows steps as plain strings: each is a text step."""
        if isinstance(steps, list):
            return [{"text": s} if isinstance(s, str) else s for s in steps]
        return steps

    def public(self) -> dict[str, Any]:
        """The runbook as the API shows it."""
        return {**self.model_dump(exclude_none=True), "step_count": len(self.steps)}

    def score(self, diagnosis: Diagnosis | None, alert_name: str,
              service: str | None) -> tuple[float, list[str]]:
        """How well the runbook fits an incident (0: not at all), and why."""
        found: list[tuple[float, str]] = []
        if diagnosis is not None:
            for playbook in set(self.match.playbooks) & set(diagnosis.matched_playbooks):
                found.append((1.0, f"the diagnosis matched playbook '{playbook}'"))
            for pattern in self.match.categories:
                if pattern == diagnosis.category:
                    found.append((0.9, f"diagnosis category is {diagnosis.category}"))
                elif pattern.endswith("*") and diagnosis.category.startswith(pattern[:-1]):
                    found.append((0.8, f"diagnosis category {diagnosis.category} is in "
                                       f"family {pattern}"))
        if alert_name and alert_name.lower() in {a.lower() for a in self.match.alert_names}:
            found.append((0.6, f"alert name is {alert_name}"))
        if not found:
            return 0.0, []
        score = max(s for s, _ in found)
        reasons = [r for _, r in sorted(found, key=lambda f: -f[0])]
        if service and service in self.match.services:
            score, reasons = min(1.0, score + 0.05), [*reasons, f"learned from {service}"]
        return round(score, 2), reasons


class RunStore(ABC):
    """Workflow and runbook runs, and saved (generated) runbooks."""

    @abstractmethod
    def put_run(self, run: WorkflowRun) -> None:
        """Store a new run."""

    @abstractmethod
    def get_run(self, workspace_id: str, run_id: str) -> WorkflowRun | None:
        """One run, or None."""

    @abstractmethod
    def save_run(self, run: WorkflowRun) -> WorkflowRun:
        """Write a changed run if nobody saved it since it was read (Conflict otherwise)."""

    @abstractmethod
    def put_runbook(self, workspace_id: str, runbook: dict[str, Any]) -> None:
        """Store (or replace) a saved runbook by its ``id``."""

    @abstractmethod
    def list_runbooks(self, workspace_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """The workspace's saved runbooks, by id."""


def fill(template: Any, values: dict[str, Any]) -> tuple[Any, set[str]]:
    """A template filled from ``values``, and the placeholders nothing filled. A template
    that is one placeholder keeps the value's type (replicas stay numbers)."""
    if not isinstance(template, str):
        return template, set()
    missing = {k for k in PLACEHOLDER.findall(template) if values.get(k) in (None, "")}
    whole = PLACEHOLDER.fullmatch(template)
    if whole and not missing:
        return values[whole.group(1)], set()
    return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1)) or m.group(0)), template), missing


def fill_arguments(arguments: dict[str, Any],
                   values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Every argument filled, and the sorted names of the values that were missing."""
    filled: dict[str, Any] = {}
    missing: set[str] = set()
    for name, template in arguments.items():
        filled[name], lacking = fill(template, values)
        missing |= lacking
    return filled, sorted(missing)


def checked_context(context: Any) -> dict[str, ContextValue]:
    """A run's context: a flat object of short scalar values (422 otherwise)."""
    if not isinstance(context, dict):
        raise ValidationFailed("'context' must be an object", code="invalid_context")
    bad = [str(k) for k, v in context.items() if not CONTEXT_KEY.match(str(k))
           or not isinstance(v, ContextValue | None)
           or (isinstance(v, str) and len(v) > MAX_CONTEXT_VALUE)]
    if bad or len(context) > MAX_CONTEXT_KEYS:
        raise ValidationFailed(f"context values must be strings (up to {MAX_CONTEXT_VALUE} "
                               f"characters), integers or booleans under lower_case keys, at "
                               f"most {MAX_CONTEXT_KEYS}; bad: {', '.join(bad[:10]) or 'count'}",
                               code="invalid_context")
    return {k: v for k, v in context.items() if v not in (None, "")}
