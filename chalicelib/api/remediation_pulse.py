"""Endpoint group ``remediation``: seed 001 (Pulse) approvals, run-command and remediation
plans.

Approvals are the remediation actions waiting for a person (Pulse's ApprovalRequest shape,
camelCase, with Drover's action record under ``action``). ``run-command`` parses a kubectl
command into one allowlisted action (anything else is a 400, audited by the endpoint
layer). A plan is a diagnosis' suggested actions; approving it creates an approved
execution, executing requests each step (a dry run unless ``dry_run`` is false), and a
rollback requests each executed step's inverse. Nothing here runs anything directly: every
action goes through the policy, the dry run, the approval and the workflow.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.actions import present
from chalicelib.api.http import Call, Reply, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.action_catalog import ACTIONS
from chalicelib.domain.clock import iso
from chalicelib.domain.command_parser import parse
from chalicelib.domain.diagnosis import Diagnosis
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import Incident
from chalicelib.domain.remediation import TERMINAL, ActionRecord
from chalicelib.domain.validation import parse_body
from chalicelib.services.remediation import ActionRequest
from chalicelib.services.remediation_plans import (
    REVERSIBLE,
    PlanExecution,
    execution_status,
    plan_id_of,
)

bp = Blueprint(__name__)
READ = "incidents:read"
EXECUTE = "actions:execute"
RISKS = ("low", "medium", "high")


def actor(call: Call) -> str:
    """Who is calling, as audit and timelines name them."""
    return call.principal.actor if call.principal else "anonymous"


def can_execute(call: Call) -> bool:
    """Whether the caller may execute (and so pre-approve) actions."""
    return bool(call.principal and call.principal.has(EXECUTE))


# --- approvals -------------------------------------------------------------------------------
def _approval_status(record: ActionRecord) -> str:
    denied = any(s.get("step") == "denied" for s in record.steps)
    if record.state == "rejected" or denied:
        return "denied"
    if record.state == "timed_out":
        return "expired"
    if record.approved_by:
        return "approved"
    return "pending" if record.state == "pending_approval" else record.state


def approval(record: ActionRecord, timeout_seconds: int) -> dict[str, Any]:
    """An action waiting for (or past) approval, in Pulse's ApprovalRequest shape."""
    target = record.preview.get("target") or {}
    node = record.arguments.get("node_name")
    denial = next((s for s in record.steps if s.get("step") == "denied"), {})
    denier = denial.get("by")
    status = _approval_status(record)
    expires = datetime.fromisoformat(record.created_at) + timedelta(seconds=timeout_seconds)
    return {"id": record.id, "executionId": record.execution_arn, "toolId": record.action,
            "command": " ".join([record.action, *(f"{k}={v}" for k, v in
                                                  sorted(record.arguments.items()))]),
            "targetType": str(target.get("kind") or ("node" if node else "workload")).lower(),
            "targetId": "/".join(str(v) for v in (target.get("namespace"), target.get("name"))
                                 if v) or node,
            "targetName": target.get("name") or node,
            "context": record.preview.get("message", ""),
            "riskLevel": ACTIONS[record.action].risk if record.action in ACTIONS else "high",
            "status": status, "requestedAt": record.created_at, "requestedBy":
            record.requested_by, "expiresAt": iso(expires), "source": record.source,
            "decidedAt": record.approved_at or (record.updated_at if denier else None),
            "decidedBy": record.approved_by or denier,
            "denyReason": denial.get("reason") or record.error if status == "denied" else None,
            "cluster": record.cluster_name, "incidentId": record.incident_id,
            "action": present(record)}


def _timeout(call: Call) -> int:
    return get_container().remediation.policy(call.workspace_id).approval_timeout_seconds


@endpoint(bp, "/api/ai/approvals", scope=READ)
def list_approvals(call: Call) -> dict[str, Any]:
    """Actions waiting for someone's decision, newest first."""
    records = get_container().remediation.list(call.workspace_id, state="pending_approval",
                                               limit=call.int_query("limit", 50, 1, 200))
    waiting = [r for r in records if _approval_status(r) == "pending"]
    timeout = _timeout(call)
    return {"approvals": [approval(r, timeout) for r in waiting], "count": len(waiting),
            "stats": {"pending": len(waiting)}}


@endpoint(bp, "/api/ai/approvals/{id}", scope=READ)
def get_approval(call: Call, id: str) -> dict[str, Any]:
    """One approval, whatever became of it."""
    record = get_container().remediation.get(call.workspace_id, id[:100])
    return approval(record, _timeout(call))


@endpoint(bp, "/api/ai/approvals/{id}/approve", methods=("POST",), scope=EXECUTE)
def approve(call: Call, id: str) -> dict[str, Any]:
    """Approve a waiting action: its workflow goes on to execute and verify it."""
    record = get_container().remediation.approve(call.workspace_id, id[:100], actor(call))
    return {**approval(record, _timeout(call)), "success": True,
            "message": f"{record.action} approved; the workflow executes it and verifies it"}


class Denial(BaseModel):
    """``POST /api/ai/approvals/{id}/deny``: an optional reason."""

    model_config = ConfigDict(extra="ignore")

    reason: str | None = Field(default=None, max_length=1000)


@endpoint(bp, "/api/ai/approvals/{id}/deny", methods=("POST",), scope=EXECUTE,
          body=Denial, body_required=False)
def deny(call: Call, id: str) -> dict[str, Any]:
    """Deny a waiting action: its workflow ends, rejected, without running it."""
    req = parse_body(Denial, call.optional_object(), "denial")
    record = get_container().remediation.deny(call.workspace_id, id[:100], actor(call),
                                              req.reason)
    return {**approval(record, _timeout(call)), "success": True,
            "message": f"{record.action} denied; it will not run"}


# --- run-command -----------------------------------------------------------------------------
class RunCommand(BaseModel):
    """``POST /api/ai/run-command``."""

    model_config = ConfigDict(extra="ignore")

    command: str = Field(min_length=1, max_length=2000)
    cluster_id: str | None = Field(default=None, max_length=253)
    cluster: str | None = Field(default=None, max_length=253)
    incident_id: str | None = Field(default=None, max_length=100)
    dry_run: bool = True
    approved: bool = False


@endpoint(bp, "/api/ai/run-command", methods=("POST",), scope=READ, body=RunCommand)
def run_command(call: Call) -> Any:
    """A kubectl command parsed into one allowlisted action and requested (a dry run unless
    ``dry_run`` is false, which needs ``actions:execute``); anything else is refused."""
    req = parse_body(RunCommand, call.json_object(), "command")
    action, arguments = parse(req.command)
    if not req.dry_run:
        call.principal.require(EXECUTE)  # type: ignore[union-attr]
    record = get_container().remediation.request(
        call.workspace_id, actor(call), ActionRequest(
            action=action, arguments=arguments, cluster=req.cluster_id or req.cluster,
            incident_id=req.incident_id, dry_run=req.dry_run, approved=req.approved,
            source="command"), can_execute=can_execute(call))
    shown = present(record)
    body = {"success": record.state not in ("failed", "refused"), "output": shown["message"],
            "execution_id": record.id, "approval_id": record.id
            if record.state == "pending_approval" else None, **shown}
    return body if record.state in ("dry_run", "succeeded") else Reply(202, body)


# --- remediation plans -----------------------------------------------------------------------
def _step(order: int, diagnosis: Diagnosis) -> dict[str, Any]:
    action = diagnosis.suggested_actions[order - 1]
    spec = ACTIONS.get(action.name)
    return {"step": order, "order": order, "action": action.name,
            "description": action.description or (spec.description if spec else ""),
            "arguments": action.arguments, "risk": action.risk,
            "blast_radius": action.blast_radius,
            "executable": action.executable and action.allowed,
            "approval_required": action.approval_required, "policy_name": action.policy_name,
            "policy_reason": action.policy_reason, "reversible": action.name in REVERSIBLE}


def plan(diagnosis: Diagnosis, incident: Incident | None,
         executions: list[PlanExecution]) -> dict[str, Any]:
    """A diagnosis' plan in Pulse's RemediationPlan shape, with its status."""
    steps = [_step(i, diagnosis) for i in range(1, len(diagnosis.suggested_actions) + 1)]
    mutating = [s for s in steps if s["action"] in ACTIONS and ACTIONS[s["action"]].mutates]
    latest = executions[0] if executions else None
    subject = diagnosis.subject
    return {"id": plan_id_of(diagnosis.diagnosis_id),
            "plan_id": plan_id_of(diagnosis.diagnosis_id),
            "finding_id": diagnosis.incident_id, "incident_id": diagnosis.incident_id,
            "diagnosis_id": diagnosis.diagnosis_id,
            "resource_id": "/".join(p for p in (subject.namespace, subject.name) if p) or None,
            "title": diagnosis.summary, "description": diagnosis.root_cause,
            "rationale": diagnosis.fix_summary, "warnings": diagnosis.warnings,
            "category": "guided" if mutating else "informational",
            "diagnosis_category": diagnosis.category, "confidence": diagnosis.confidence,
            "risk_level": max((s["risk"] for s in steps), key=RISKS.index, default="low"),
            "requires_approval": any(s["approval_required"] for s in mutating),
            "steps": steps, "cluster": incident.cluster if incident else None,
            "incident_title": incident.title if incident else None,
            "status": "proposed" if latest is None or latest.state == "pending"
            else latest.state, "approved_by": latest.approved_by if latest else None,
            "latest_execution_id": latest.id if latest else None,
            "created_at": diagnosis.created_at}


def execution(item: PlanExecution) -> dict[str, Any]:
    """A plan execution in Pulse's RemediationExecution shape, its actions read live."""
    plans = get_container().remediation_plans
    results = plans.live(item.workspace_id, item.steps)
    status = execution_status(item, [r["state"] for r in results])
    verified = [r.get("verified") for r in results if r["state"] == "succeeded"]
    failed = next((r for r in results if r.get("error")), None)
    return {"id": item.id, "execution_id": item.id, "plan_id": item.plan_id, "status": status,
            "approved_by": item.approved_by, "approved_at": item.approved_at,
            "approver_note": item.approver_note, "executed_by": item.executed_by,
            "started_at": item.started_at,
            "completed_at": item.updated_at if status in ("completed", "failed") else None,
            "current_step": sum(1 for r in results if r["state"] == "succeeded"),
            "step_results": results, "error": failed["error"] if failed else None,
            "verified": all(verified) if status == "completed" and verified else None,
            "rolled_back_by": item.rolled_back_by, "rolled_back_at": item.rolled_back_at,
            "rollback_steps": plans.live(item.workspace_id, item.rollback_steps),
            "incident_id": item.incident_id, "created_at": item.created_at}


@endpoint(bp, "/api/ai/remediation/plans", scope=READ)
def list_plans(call: Call) -> dict[str, Any]:
    """Plans of the recent diagnosed incidents, newest first."""
    found, cursor = get_container().remediation_plans.list(
        call.workspace_id, limit=call.int_query("limit", 20, 1, 100),
        cursor=call.query("cursor"))
    plans = [plan(*item) for item in found]
    return {"plans": plans, "count": len(plans), "next_cursor": cursor}


@endpoint(bp, "/api/ai/remediation/plan", scope=READ)
def get_plan(call: Call) -> dict[str, Any]:
    """One plan (``?plan_id=``) with its executions."""
    plan_id = required(call.query("plan_id") or call.query("id"), "plan_id")
    diagnosis, incident, executions = get_container().remediation_plans.get(
        call.workspace_id, plan_id)
    return {**plan(diagnosis, incident, executions),
            "executions": [execution(e) for e in executions]}


def required(value: str | None, name: str) -> str:
    """A parameter that must be given (400 naming it otherwise)."""
    if not value:
        raise BadRequest(f"'{name}' is required", code="missing_parameter")
    return value


class PlanApproval(BaseModel):
    """``POST /api/ai/remediation/approve``."""

    model_config = ConfigDict(extra="ignore")

    plan_id: str = Field(min_length=1, max_length=120)
    approved_by: str | None = Field(default=None, max_length=200)


@endpoint(bp, "/api/ai/remediation/approve", methods=("POST",), scope=EXECUTE, body=PlanApproval)
def approve_plan(call: Call) -> dict[str, Any]:
    """Approve a plan as the caller (the body's ``approved_by`` is kept as a note)."""
    req = parse_body(PlanApproval, call.json_object(), "plan approval")
    item = get_container().remediation_plans.approve(call.workspace_id, req.plan_id,
                                                     actor(call), req.approved_by)
    return {**execution(item), "success": True}


class PlanRun(BaseModel):
    """``POST /api/ai/remediation/execute`` and ``.../rollback``."""

    model_config = ConfigDict(extra="ignore")

    execution_id: str | None = Field(default=None, max_length=100)
    plan_id: str | None = Field(default=None, max_length=120)
    dry_run: bool | None = None
    approved: bool = False


@endpoint(bp, "/api/ai/remediation/execute", methods=("POST",), scope=READ, body=PlanRun)
def execute_plan(call: Call) -> Any:
    """Dry-run every step (the default), or, with ``dry_run`` false and
    ``actions:execute``, run the plan once: each step is pre-approved only if the plan was
    approved."""
    req = parse_body(PlanRun, call.json_object(), "plan execution")
    plans = get_container().remediation_plans
    if req.dry_run is not False:
        plan_id = required(req.plan_id or (plans.execution(
            call.workspace_id, req.execution_id).plan_id if req.execution_id else None),
            "plan_id")
        steps = plans.preview(call.workspace_id, actor(call), plan_id)
        return {"plan_id": plan_id, "execution_id": req.execution_id, "dry_run": True,
                "status": "dry_run", "step_results": steps}
    call.principal.require(EXECUTE)  # type: ignore[union-attr]
    item = plans.execute(call.workspace_id, actor(call), plan_id=req.plan_id,
                         execution_id=req.execution_id)
    body = {**execution(item), "dry_run": False}
    return body if body["status"] in TERMINAL | {"completed"} else Reply(202, body)


@endpoint(bp, "/api/ai/remediation/rollback", methods=("POST",), scope=EXECUTE, body=PlanRun)
def rollback_plan(call: Call) -> Any:
    """Request the inverse of each executed step that can be undone (409 naming why when
    none can); the inverses wait for approval unless ``approved`` is true."""
    req = parse_body(PlanRun, call.json_object(), "rollback")
    result = get_container().remediation_plans.rollback(
        call.workspace_id, actor(call), required(req.execution_id, "execution_id"),
        dry_run=bool(req.dry_run),
        approved=req.approved)
    return result if req.dry_run else Reply(202, result)
