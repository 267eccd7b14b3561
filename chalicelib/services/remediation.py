"""Use cases of remediation: request an action (validated, decided by policy, dry-run on the
API server), approve or deny it, and read what happened. Execution itself runs in the
remediation workflow (Step Functions), whose steps are in ``remediation_steps``.

Every request, refusal, dry run and approval lands on the incident's timeline (when the
action belongs to one) and in the audit log.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field

from chalicelib.domain.action_catalog import ACTIONS, UnknownAction, suggest
from chalicelib.domain.clock import iso, new_id, now_iso, utcnow
from chalicelib.domain.clusters import Cluster
from chalicelib.domain.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from chalicelib.domain.policy import RemediationPolicy, decide, target_key
from chalicelib.domain.ports import AuditLog, AuditRecord, IncidentRepository, WorkspaceSettings
from chalicelib.domain.remediation import ActionRecord, ActionStore, Source
from chalicelib.domain.remediation_ports import WorkflowStarter
from chalicelib.plugins.actions import PLUGINS
from chalicelib.plugins.actions._base import ActionContext
from chalicelib.services.clusters import ClusterService

POLICY_SETTINGS = "remediation_policy"
CHANGE_ATTEMPTS = 5


class ActionRequest(BaseModel):
    """One request to run an allowlisted action, from any entry point."""

    action: str = Field(min_length=1, max_length=64)
    arguments: dict[str, Any] = Field(default_factory=dict)
    cluster: str | None = Field(default=None, max_length=253)
    incident_id: str | None = Field(default=None, max_length=100)
    diagnosis_id: str | None = Field(default=None, max_length=100)
    dry_run: bool = True
    approved: bool = False
    source: Source = "api"


@dataclass
class RemediationService:
    """Requests, approvals and reads of remediation actions."""

    store: ActionStore
    clusters: ClusterService
    incidents: IncidentRepository
    settings: WorkspaceSettings
    audit: AuditLog
    workflow: WorkflowStarter

    # --- policy -----------------------------------------------------------------------------
    def policy(self, workspace_id: str) -> RemediationPolicy:
        """The workspace's policy (the safe defaults until one is stored)."""
        stored = self.settings.get(workspace_id, POLICY_SETTINGS) or {}
        return RemediationPolicy.model_validate(stored)

    def context(self, cluster: Cluster, policy: RemediationPolicy) -> ActionContext:
        """A reader and writer on the cluster, bounded by the policy."""
        client = self.clusters.client(cluster)
        return ActionContext(reader=client, writer=client,  # type: ignore[arg-type]
                             limits=policy.limits())

    # --- requests ---------------------------------------------------------------------------
    def request(self, workspace_id: str, actor: str, req: ActionRequest, *,
                can_execute: bool) -> ActionRecord:
        """Validate, decide, dry-run; then either stop (dry run, refusal) or start the
        workflow. ``approved`` is honoured only when ``can_execute``."""
        args = self._validated(req)
        cluster = self._cluster(workspace_id, req)
        policy = self.policy(workspace_id)
        since = iso(utcnow() - timedelta(hours=1))
        recent = self.store.count_recent(workspace_id, target_key(req.action, args),
                                         req.action, since)
        decision = decide(policy, req.action, args, recent_executions=recent,
                          autonomous=req.source == "autonomy")
        record = self._new(workspace_id, actor, req, args, cluster=cluster,
                           decision=decision.as_dict())
        if not decision.allowed:
            return self._refuse(record, decision.policy_reason)
        preview = PLUGINS[req.action].preview(self.context(cluster, policy), args)
        record.preview = {"message": preview.message, "diff": preview.diff,
                          "target": preview.target}
        if req.dry_run:
            self._save(record, "action_dry_run", preview.message)
            return record
        return self._start(record, req, decision.approval_required, can_execute, policy)

    def _validated(self, req: ActionRequest) -> dict[str, Any]:
        if req.action not in ACTIONS:
            raise BadRequest(f"unknown action '{req.action}'; allowed: "
                             f"{', '.join(sorted(ACTIONS))}", code="unknown_action")
        try:
            return suggest(req.action, req.arguments).arguments
        except UnknownAction as exc:
            raise ValidationFailed(str(exc), code="invalid_arguments") from None

    def _cluster(self, workspace_id: str, req: ActionRequest) -> Cluster:
        ref = req.cluster
        if req.incident_id:
            incident = self.incidents.get(workspace_id, req.incident_id)
            if incident is None:
                raise NotFound(f"incident '{req.incident_id}' not found",
                               code="incident_not_found")
            ref = incident.cluster or ref
        return self.clusters.resolve(workspace_id, ref)

    def _new(self, workspace_id: str, actor: str, req: ActionRequest, args: dict[str, Any], *,
             cluster: Cluster, decision: dict[str, Any]) -> ActionRecord:
        now = now_iso()
        return ActionRecord(
            id=new_id("act-"), workspace_id=workspace_id, action=req.action, arguments=args,
            cluster_id=cluster.cluster_id, cluster_name=cluster.name,
            incident_id=req.incident_id, diagnosis_id=req.diagnosis_id, source=req.source,
            requested_by=actor, dry_run=req.dry_run, decision=decision,
            approval_required=bool(decision.get("approval_required")),
            created_at=now, updated_at=now)

    def _refuse(self, record: ActionRecord, reason: str) -> ActionRecord:
        record.state = "refused"
        record.error = reason
        record.finished_at = record.created_at
        self._save(record, "action_refused", reason)
        raise Forbidden(reason, code="policy_refused", action_id=record.id,
                        policy_name=record.decision.get("policy_name"),
                        policy_reason=reason)

    def _start(self, record: ActionRecord, req: ActionRequest, approval_required: bool,
               can_execute: bool, policy: RemediationPolicy) -> ActionRecord:
        spec = ACTIONS[record.action]
        if not spec.mutates:
            record.state = "succeeded"
            record.result = {"message": record.preview["message"], "mutated": False}
            record.finished_at = record.created_at
            self._save(record, "action_completed", record.preview["message"])
            return record
        pre_approved = req.approved and can_execute
        record.approval_required = approval_required and not pre_approved
        if pre_approved:
            record.approved_by, record.approved_at = record.requested_by, record.created_at
        record.state = "pending_approval" if record.approval_required else "running"
        self._save(record, "action_requested", record.preview["message"])
        arn = self.workflow.start(record.id, {
            "action_id": record.id, "workspace_id": record.workspace_id,
            "approval_required": record.approval_required,
            "approval_timeout_seconds": policy.approval_timeout_seconds,
            "verify_timeout_seconds": policy.verify_timeout_seconds})
        return self.store.update(record, execution_arn=arn)

    def _save(self, record: ActionRecord, event: str, message: str) -> None:
        self.store.put(record)
        self.log(record, event, record.requested_by, {"message": message})

    # --- approvals --------------------------------------------------------------------------
    def change(self, workspace_id: str, action_id: str,
               changes: Callable[[ActionRecord], dict[str, Any]],
               expect_state: str | None = None) -> ActionRecord:
        """Apply changes computed from the freshest record, retrying when a concurrent step
        (the workflow, an approval) changed it first."""
        for _ in range(CHANGE_ATTEMPTS):
            record = self.get(workspace_id, action_id)
            values = changes(record)  # may refuse (e.g. already decided): not retried
            try:
                return self.store.update(record, expect_state=expect_state, **values)
            except Conflict:
                continue
        raise Conflict(f"action {action_id} kept changing; retry", code="action_changed")

    def approve(self, workspace_id: str, action_id: str, actor: str) -> ActionRecord:
        """Approve a waiting action; the workflow goes on to execute it."""

        def decided(record: ActionRecord) -> dict[str, Any]:
            self._check_waiting(record)
            return {"approved_by": actor, "approved_at": now_iso()}

        record = self.change(workspace_id, action_id, decided, expect_state="pending_approval")
        self.log(record, "action_approved", actor, {})
        if record.task_token:
            self.workflow.approve(record.task_token, {"approved_by": actor})
        return record

    def deny(self, workspace_id: str, action_id: str, actor: str,
             reason: str | None = None) -> ActionRecord:
        """Deny a waiting action; the workflow ends with outcome ``rejected``."""
        why = reason or "denied"

        def decided(record: ActionRecord) -> dict[str, Any]:
            self._check_waiting(record)
            return {"error": why, "steps": [*record.steps, {"step": "denied", "by": actor,
                                                            "reason": why}]}

        record = self.change(workspace_id, action_id, decided, expect_state="pending_approval")
        self.log(record, "action_denied", actor, {"reason": why})
        if record.task_token:
            self.workflow.reject(record.task_token, "Rejected", f"denied by {actor}: {why}")
        return record

    @staticmethod
    def _check_waiting(record: ActionRecord) -> None:
        action_id = record.id
        if record.state != "pending_approval":
            raise Conflict(f"action {action_id} is {record.state}, not waiting for approval",
                           code="not_pending_approval", state=record.state)
        if record.approved_by or any(s.get("step") == "denied" for s in record.steps):
            raise Conflict(f"action {action_id} was already decided", code="already_decided")

    # --- reads ------------------------------------------------------------------------------
    def get(self, workspace_id: str, action_id: str) -> ActionRecord:
        """One action, or a 404."""
        record = self.store.get(workspace_id, action_id)
        if record is None:
            raise NotFound(f"action '{action_id}' not found", code="action_not_found")
        return record

    def list(self, workspace_id: str, *, state: str | None = None,
             incident_id: str | None = None, limit: int = 50) -> list[ActionRecord]:
        """Actions newest first."""
        return self.store.list(workspace_id, state=state, incident_id=incident_id,
                               limit=limit)

    # --- the trail --------------------------------------------------------------------------
    def log(self, record: ActionRecord, event: str, actor: str,
            payload: dict[str, Any]) -> None:
        """One step on the incident's timeline (if any) and in the audit log."""
        body = {"action_id": record.id, "action": record.action, "state": record.state,
                "arguments": record.arguments, "cluster": record.cluster_name, **payload}
        if record.incident_id:
            self.incidents.add_event(record.workspace_id, record.incident_id, event, actor,
                                     body)
        self.audit.append(AuditRecord(
            workspace_id=record.workspace_id, actor=actor, action=event,
            target=f"action/{record.id}", outcome=_outcome(event), status_code=200,
            request_id=str(uuid.uuid4()), source_ip="", detail=body))


def _outcome(event: str) -> str:
    if event in ("action_refused", "action_denied"):
        return "denied"
    return "error" if event in ("action_failed", "action_verification_failed") else "success"
