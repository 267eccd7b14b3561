"""Remediation actions as Drover records them: what was asked, by whom, what the policy
said, the dry run's diff, the approval, what ran, the verification, and how it ended."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal

from pydantic import BaseModel, Field

ActionState = Literal["dry_run", "refused", "pending_approval", "running", "succeeded",
                      "rolled_back", "failed", "rejected", "timed_out"]
TERMINAL: frozenset[str] = frozenset({"dry_run", "refused", "succeeded", "rolled_back",
                                      "failed", "rejected", "timed_out"})
Source = Literal["api", "command", "llm", "runbook", "workflow", "autonomy", "plan"]


class ActionRecord(BaseModel):
    """One action request and everything that happened to it."""

    id: str
    workspace_id: str
    action: str
    arguments: dict[str, Any]
    cluster_id: str | None = None
    cluster_name: str | None = None
    incident_id: str | None = None
    diagnosis_id: str | None = None
    source: Source = "api"
    requested_by: str
    dry_run: bool = True
    state: ActionState = "dry_run"
    decision: dict[str, Any] = Field(default_factory=dict)
    preview: dict[str, Any] = Field(default_factory=dict)
    approval_required: bool = False
    approved_by: str | None = None
    approved_at: str | None = None
    execution_arn: str | None = None
    task_token: str | None = None
    result: dict[str, Any] = Field(default_factory=dict)
    verification: dict[str, Any] = Field(default_factory=dict)
    rollback: dict[str, Any] | None = None
    error: str | None = None
    steps: list[dict[str, Any]] = Field(default_factory=list)
    created_at: str
    updated_at: str
    finished_at: str | None = None
    version: int = 1

    def public(self) -> dict[str, Any]:
        """The record as the API shows it (the task token stays inside)."""
        return self.model_dump(exclude={"task_token", "version"})


class ActionStore(ABC):
    """Action records, and how many times an action ran on a target lately."""

    @abstractmethod
    def put(self, record: ActionRecord) -> None:
        """Create a record (Conflict if the id exists)."""

    @abstractmethod
    def get(self, workspace_id: str, action_id: str) -> ActionRecord | None:
        """One record."""

    @abstractmethod
    def update(self, record: ActionRecord, *, expect_state: str | None = None,
               **changes: Any) -> ActionRecord:
        """Change fields, if the record is still at its version (and state, when given);
        Conflict otherwise. Returns the new record."""

    @abstractmethod
    def list(self, workspace_id: str, *, state: str | None = None,
             incident_id: str | None = None, limit: int = 50) -> list[ActionRecord]:
        """Records newest first, optionally of one state or one incident."""

    @abstractmethod
    def count_recent(self, workspace_id: str, target: str, action: str, since: str) -> int:
        """Executions of an action on a target since a time (for rate budgets)."""

    @abstractmethod
    def note_execution(self, workspace_id: str, target: str, action: str, at: str) -> None:
        """Count one execution against the target's budget."""
