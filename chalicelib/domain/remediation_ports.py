"""Ports of the remediation group: writing to a cluster, running the remediation workflow,
and the steps the workflow's tasks perform."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal

from chalicelib.domain.errors import DependencyUnavailable, DroverError
from chalicelib.domain.kube import ResourceKind

PatchType = Literal["merge", "strategic", "json"]


class ClusterWriter(ABC):
    """Mutations through the Kubernetes API. Every call can be a server-side dry run
    (``dryRun=All``): the API server validates and answers with the object as it would be,
    and nothing is persisted. Secrets are refused before any request."""

    @abstractmethod
    def patch(self, kind: ResourceKind, namespace: str | None, name: str, body: Any, *,
              patch_type: PatchType = "strategic", dry_run: bool) -> dict[str, Any]:
        """Patch an object; the object as patched (NotFound, ClusterRejected ...)."""

    @abstractmethod
    def delete(self, kind: ResourceKind, namespace: str | None, name: str, *, dry_run: bool,
               grace_period_seconds: int | None = None,
               propagation: str | None = "Background") -> dict[str, Any]:
        """Delete an object; the API server's answer (the object or a Status)."""

    @abstractmethod
    def create(self, kind: ResourceKind, namespace: str | None, body: dict[str, Any], *,
               dry_run: bool) -> dict[str, Any]:
        """Create an object; the object as created."""

    @abstractmethod
    def evict(self, namespace: str, pod: str, *, dry_run: bool) -> dict[str, Any]:
        """Evict a pod through the Eviction API, honouring PodDisruptionBudgets
        (EvictionBlocked when a budget forbids it now)."""


class EvictionBlocked(DroverError):
    """A PodDisruptionBudget does not allow this eviction now (the API server's 429)."""

    status = 409
    code = "eviction_blocked"


class TransientStepError(DependencyUnavailable):
    """A workflow step failed for a reason that may pass (the cluster or AWS is briefly
    unavailable): the state machine retries it with backoff."""

    code = "transient_step_error"


class StepFailed(DroverError):
    """A workflow step failed for good (refused by policy, rejected by the API server,
    verification failed): the state machine goes to its failure path, no retry."""

    status = 409
    code = "step_failed"


class WorkflowStarter(ABC):
    """Starts remediation workflows and answers their approval waits."""

    @abstractmethod
    def start(self, action_id: str, payload: dict[str, Any]) -> str:
        """Start the workflow for an action; the execution name is derived from the action id,
        so starting twice starts one execution. Returns the execution ARN."""

    @abstractmethod
    def approve(self, task_token: str, output: dict[str, Any]) -> None:
        """Let a workflow waiting for approval go on (SendTaskSuccess)."""

    @abstractmethod
    def reject(self, task_token: str, error: str, cause: str) -> None:
        """End a workflow waiting for approval (SendTaskFailure)."""

    @abstractmethod
    def status(self, execution_arn: str) -> dict[str, Any]:
        """The execution's status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED) and output."""


class RemediationSteps(ABC):
    """What the workflow's Lambda tasks do. Each step receives the state (a dict with at
    least ``action_id`` and ``workspace_id``) and returns the state for the next step; it
    raises TransientStepError to be retried and StepFailed to fail for good."""

    @abstractmethod
    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        """Check the action against the allowlist and the policy again."""

    @abstractmethod
    def dry_run(self, state: dict[str, Any]) -> dict[str, Any]:
        """Server-side dry run; the state gains the diff."""

    @abstractmethod
    def await_approval(self, state: dict[str, Any]) -> None:
        """Keep the task token (``state["task_token"]``) with the action so an approval can
        answer it; returns nothing (the workflow waits for SendTaskSuccess/Failure)."""

    @abstractmethod
    def execute(self, state: dict[str, Any]) -> dict[str, Any]:
        """Run the action through the Kubernetes API; the state gains what was done and how
        to undo it."""

    @abstractmethod
    def verify(self, state: dict[str, Any]) -> dict[str, Any]:
        """Check the action worked; the state gains ``verified`` (bool) and why."""

    @abstractmethod
    def rollback(self, state: dict[str, Any]) -> dict[str, Any]:
        """Undo what execute did, when the action can be undone."""

    @abstractmethod
    def record(self, state: dict[str, Any]) -> dict[str, Any]:
        """Record the outcome (succeeded, rolled_back, failed, rejected, timed_out) on the
        action, the incident's timeline and the audit log."""
