"""Remediation plans (seed 001 ``/api/ai/remediation/*``): the suggested actions of a
diagnosis as an ordered plan, approved by a person, executed as allowlisted actions through
the remediation service (source ``plan``), and rolled back by requesting each executed
action's inverse as a new action.

A plan is derived, not stored: its id is ``plan-<diagnosis id>`` and its steps are the
diagnosis' suggested actions. What is stored is each *execution* of a plan: who approved
it, the actions it requested, and its rollback. Every action goes through the same policy,
dry run, approval and workflow as any other request: a plan adds no way around them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from chalicelib.domain.clock import new_id, now_iso
from chalicelib.domain.diagnosis import Diagnosis
from chalicelib.domain.errors import BadRequest, Conflict, DroverError, NotFound
from chalicelib.domain.models import Incident
from chalicelib.domain.ports import IncidentRepository
from chalicelib.domain.remediation import ActionRecord
from chalicelib.plugins.actions.set_resources import FIELDS as RESOURCE_FIELDS
from chalicelib.services.diagnosis import DiagnosisService
from chalicelib.services.remediation import ActionRequest, RemediationService

PLAN_PREFIX = "plan-"
MAX_PLAN_ID = 120
# Step states after which the rest of a plan is not requested.
STOPPING = frozenset({"refused", "error", "skipped"})
# Action states that ended without doing what was asked.
ENDED_BADLY = frozenset({"refused", "error", "failed", "rolled_back", "rejected",
                         "timed_out"})
# Why some actions cannot be taken back.
IRREVERSIBLE = {
    "restart_pod": "a deleted pod cannot be restored (its controller already replaced it)",
    "rollout_restart": "a restart cannot be undone (the pods were already replaced)",
    "delete_failed_job": "a deleted Job cannot be restored",
    "rerun_job": "a rerun cannot be undone",
    "suggest_config_fix": "a suggestion changed nothing",
}
# Inverses that need only the node (a drain's evicted pods are not moved back).
NODE_INVERSES = {"cordon_node": "uncordon_node", "uncordon_node": "cordon_node",
                 "drain_node": "uncordon_node"}
REVERSIBLE = frozenset({*NODE_INVERSES, "scale_deployment", "set_resources",
                        "rollback_deployment"})
Inverse = tuple[tuple[str, dict[str, Any]] | None, str]
Plan = tuple[Diagnosis, Incident | None, list["PlanExecution"]]


class PlanExecution(BaseModel):
    """One execution of a plan: its approval, the actions it requested, its rollback."""

    id: str
    workspace_id: str
    plan_id: str
    diagnosis_id: str
    incident_id: str | None = None
    state: Literal["pending", "approved", "executed", "rolled_back"] = "pending"
    approved_by: str | None = None
    approved_at: str | None = None
    approver_note: str | None = None  # the seed's free-text ``approved_by``, as written
    executed_by: str | None = None
    started_at: str | None = None
    steps: list[dict[str, Any]] = Field(default_factory=list)
    rolled_back_by: str | None = None
    rolled_back_at: str | None = None
    rollback_steps: list[dict[str, Any]] = Field(default_factory=list)
    created_at: str
    updated_at: str
    version: int = 1


class PlanExecutionStore(ABC):
    """Plan executions (the port of ``adapters/dynamodb_plans``)."""

    @abstractmethod
    def put(self, execution: PlanExecution) -> None:
        """Store a new execution (Conflict if the id exists)."""

    @abstractmethod
    def get(self, workspace_id: str, execution_id: str) -> PlanExecution | None:
        """One execution."""

    @abstractmethod
    def update(self, execution: PlanExecution, *, expect_state: str | None = None,
               **changes: Any) -> PlanExecution:
        """Change fields if nobody changed the execution since it was read (and it is in
        ``expect_state``); Conflict otherwise."""

    @abstractmethod
    def for_plan(self, workspace_id: str, plan_id: str, limit: int = 20) -> list[PlanExecution]:
        """A plan's executions, newest first."""


# --- pure parts ------------------------------------------------------------------------------
def plan_id_of(diagnosis_id: str) -> str:
    """The plan of a diagnosis."""
    return f"{PLAN_PREFIX}{diagnosis_id}"


def diagnosis_id_of(plan_id: str) -> str:
    """The diagnosis behind a plan id (400 for something that is not a plan id)."""
    if not plan_id.startswith(PLAN_PREFIX) or not len(PLAN_PREFIX) < len(plan_id) <= MAX_PLAN_ID:
        raise BadRequest(f"'{plan_id[:MAX_PLAN_ID]}' is not a plan id (plan-<diagnosis id>)",
                         code="bad_plan_id")
    return plan_id[len(PLAN_PREFIX):]


def inverse_of(record: ActionRecord) -> Inverse:
    """The action that undoes an executed one with its arguments, or None; and why."""
    if record.state != "succeeded":
        return None, f"it is {record.state}: there is nothing of it to undo"
    args, done = record.arguments, record.result
    if record.action in NODE_INVERSES:
        inverse = NODE_INVERSES[record.action]
        return (inverse, {"node_name": args["node_name"]}), f"{inverse} {args['node_name']}"
    if record.action == "rollback_deployment":
        return ((record.action, {"namespace": args["namespace"], "name": args["name"]}),
                "rolls back to the revision it left")
    if record.action == "set_resources":
        return _resources_inverse(args, done.get("previous_resources") or {})
    was = done.get("previous_replicas")
    if record.action == "scale_deployment" and was is not None:
        return (record.action, {**args, "replicas": was}), f"scales back to {was} replicas"
    return None, IRREVERSIBLE.get(record.action, "its previous state was not recorded")


def _resources_inverse(args: dict[str, Any], before: dict[str, Any]) -> Inverse:
    inverse = {k: args[k] for k in ("namespace", "kind", "name", "container") if k in args}
    for field, (section, resource) in RESOURCE_FIELDS.items():
        if not args.get(field):
            continue
        old = (before.get(section) or {}).get(resource)
        if old is None:
            return None, (f"container {args['container']} had no {resource} {section[:-1]} "
                          "before, and set_resources cannot unset one")
        inverse[field] = old
    return ("set_resources", inverse), "puts the previous resources back"


def execution_status(execution: PlanExecution, states: list[str]) -> str:
    """How an execution stands, from the states of the actions it requested."""
    if execution.state != "executed":
        return execution.state
    if not states or any(s in ENDED_BADLY or s == "skipped" for s in states):
        return "failed"
    if "pending_approval" in states:
        return "pending_approval"
    return "completed" if all(s == "succeeded" for s in states) else "running"


def _success(state: str) -> bool | None:
    """True once an action succeeded, False once it ended otherwise, None until then."""
    if state == "succeeded":
        return True
    return False if state in ENDED_BADLY | STOPPING else None


def _failed(step: dict[str, Any], exc: DroverError) -> dict[str, Any]:
    policy = {k: v for k, v in exc.extra.items() if k in ("policy_name", "policy_reason")}
    return {**step, "action_id": exc.extra.get("action_id"),
            "state": "refused" if exc.status == 403 else "error",  # noqa: PLR2004 - Forbidden
            "error": exc.message, "code": exc.code, **policy}


# --- the service -----------------------------------------------------------------------------
@dataclass
class RemediationPlanService:
    """Lists, approves, executes and rolls back remediation plans."""

    incidents: IncidentRepository
    diagnoses: DiagnosisService
    remediation: RemediationService
    executions: PlanExecutionStore

    # --- reads ------------------------------------------------------------------------------
    def list(self, workspace_id: str, *, limit: int,
             cursor: str | None) -> tuple[list[Plan], str | None]:
        """Plans of the workspace's recent diagnosed incidents (newest first), each with
        its latest execution."""
        page = self.incidents.list(workspace_id, state=None, limit=limit, cursor=cursor)
        plans: list[Plan] = []
        for incident in page.items:
            diagnosis = self.diagnoses.store.get(workspace_id, incident.diagnosis_id) \
                if incident.diagnosis_id else None
            if diagnosis is not None and diagnosis.suggested_actions:
                plans.append((diagnosis, incident, self.executions.for_plan(
                    workspace_id, plan_id_of(diagnosis.diagnosis_id), limit=1)))
        return plans, page.next_cursor

    def get(self, workspace_id: str, plan_id: str) -> Plan:
        """One plan (its diagnosis and incident) with its executions, newest first."""
        diagnosis = self.diagnoses.store.get(workspace_id, diagnosis_id_of(plan_id))
        if diagnosis is None or not diagnosis.suggested_actions:
            why = "" if diagnosis is None else ": its diagnosis suggests no actions"
            raise NotFound(f"plan '{plan_id}' not found{why}", code="plan_not_found")
        incident = self.incidents.get(workspace_id, diagnosis.incident_id) \
            if diagnosis.incident_id else None
        return diagnosis, incident, self.executions.for_plan(workspace_id, plan_id)

    def execution(self, workspace_id: str, execution_id: str) -> PlanExecution:
        """One execution, or a 404."""
        found = self.executions.get(workspace_id, execution_id[:100])
        if found is None:
            raise NotFound(f"execution '{execution_id[:100]}' not found",
                           code="execution_not_found")
        return found

    def live(self, workspace_id: str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Steps with the current state of the actions they requested."""
        out = []
        for step in steps:
            record = self.remediation.store.get(workspace_id, step["action_id"]) \
                if step.get("action_id") else None
            if record is None:
                out.append({**step, "success": _success(step["state"])})
                continue
            out.append({**step, "state": record.state, "success": _success(record.state),
                        "output": record.result.get("message") or record.preview.get(
                            "message") or record.error, "error": record.error,
                        "verified": record.verification.get("verified")})
        return out

    # --- approval and execution -------------------------------------------------------------
    def approve(self, workspace_id: str, plan_id: str, actor: str,
                note: str | None = None) -> PlanExecution:
        """Approve a plan: an approved execution ready to run (the waiting one, if any)."""
        diagnosis, _, executions = self.get(workspace_id, plan_id)
        waiting = next((e for e in executions if e.state == "approved"), None)
        if waiting is not None:
            return waiting
        execution = self._new(workspace_id, diagnosis, state="approved", approved_by=actor,
                              approved_at=now_iso(), approver_note=note)
        self._event(execution, "plan_approved", actor, {"approver_note": note})
        return execution

    def preview(self, workspace_id: str, actor: str, plan_id: str) -> list[dict[str, Any]]:
        """Dry-run every step (each a recorded dry-run action; nothing else is stored)."""
        diagnosis, _, _ = self.get(workspace_id, plan_id)
        return self.live(workspace_id, self._request_all(
            workspace_id, actor, diagnosis, dry_run=True, approved=False))

    def execute(self, workspace_id: str, actor: str, *, plan_id: str | None,
                execution_id: str | None) -> PlanExecution:
        """Run a plan once: claim the execution (the one named, the plan's approved one,
        or a new unapproved one), then request each step, pre-approved only when the
        plan was approved."""
        execution = self.execution(workspace_id, execution_id) if execution_id else None
        if execution and plan_id and execution.plan_id != plan_id:
            raise BadRequest(f"execution {execution.id} belongs to {execution.plan_id}, "
                             f"not {plan_id}", code="plan_mismatch")
        if execution is None and not plan_id:
            raise BadRequest("give plan_id or execution_id", code="missing_plan")
        diagnosis, _, executions = self.get(workspace_id, execution.plan_id if execution
                                            else str(plan_id))
        execution = execution or next((e for e in executions if e.state == "approved"),
                                      None) or self._new(workspace_id, diagnosis)
        if execution.state not in ("pending", "approved"):
            raise Conflict(f"execution {execution.id} already ran ({execution.state}); "
                           "approve the plan again for a new run", code="already_executed")
        before = execution.state
        execution = self.executions.update(execution, expect_state=before, state="executed",
                                           executed_by=actor, started_at=now_iso())
        try:
            steps = self._request_all(workspace_id, actor, diagnosis, dry_run=False,
                                      approved=execution.approved_by is not None)
        except DroverError:  # nothing was started: the execution may run again
            self.executions.update(execution, state=before)
            raise
        execution = self.executions.update(execution, steps=steps)
        self._event(execution, "plan_executed", actor, {"steps": steps})
        return execution

    def _new(self, workspace_id: str, diagnosis: Diagnosis, **fields: Any) -> PlanExecution:
        now = now_iso()
        execution = PlanExecution(id=new_id("exec-"), workspace_id=workspace_id,
                                  plan_id=plan_id_of(diagnosis.diagnosis_id),
                                  diagnosis_id=diagnosis.diagnosis_id,
                                  incident_id=diagnosis.incident_id, created_at=now,
                                  updated_at=now, **fields)
        self.executions.put(execution)
        return execution

    def _request_all(self, workspace_id: str, actor: str, diagnosis: Diagnosis, *,
                     dry_run: bool, approved: bool) -> list[dict[str, Any]]:
        """Request each step in order. An error before anything started is raised (a
        clean error); after, the step records it and the rest are skipped."""
        results: list[dict[str, Any]] = []
        for order, action in enumerate(diagnosis.suggested_actions, 1):
            step = {"step": order, "action": action.name, "action_id": None}
            if results and results[-1]["state"] in STOPPING:
                results.append({**step, "state": "skipped",
                                "error": "an earlier step did not start"})
                continue
            try:
                record = self.remediation.request(workspace_id, actor, ActionRequest(
                    action=action.name, arguments=action.arguments,
                    incident_id=diagnosis.incident_id, diagnosis_id=diagnosis.diagnosis_id,
                    dry_run=dry_run, approved=approved, source="plan"), can_execute=True)
            except DroverError as exc:
                if not results:
                    raise
                results.append(_failed(step, exc))
                continue
            results.append({**step, "action_id": record.id, "state": record.state,
                            "diff": record.preview.get("diff", [])})
        return results

    # --- rollback ---------------------------------------------------------------------------
    def rollback(self, workspace_id: str, actor: str, execution_id: str, *,
                 dry_run: bool, approved: bool) -> dict[str, Any]:
        """Request the inverse of every executed step that succeeded and can be undone
        (last step first); 409 naming why when nothing can be."""
        execution = self.execution(workspace_id, execution_id)
        if execution.state != "executed":
            what = f"was already rolled back by {execution.rolled_back_by}" \
                if execution.state == "rolled_back" else f"has not run ({execution.state})"
            raise Conflict(f"execution {execution.id} {what}; nothing to roll back",
                           code="not_executed", state=execution.state)
        inverses, not_undoable = self._inverses(workspace_id, execution)
        if not inverses:
            reasons = "; ".join(f"step {n['step']} {n['action']}: {n['reason']}"
                                for n in not_undoable)
            raise Conflict(f"nothing in execution {execution.id} can be undone ({reasons})",
                           code="not_undoable", not_undoable=not_undoable)
        if not dry_run:
            execution = self.executions.update(execution, expect_state="executed",
                                               state="rolled_back", rolled_back_by=actor,
                                               rolled_back_at=now_iso())
        steps = [self._request_inverse(workspace_id, actor, execution, inverse,
                                       dry_run=dry_run, approved=approved)
                 for inverse in inverses]
        if not dry_run:
            execution = self.executions.update(execution, rollback_steps=steps)
            self._event(execution, "plan_rolled_back", actor,
                        {"steps": steps, "not_undoable": not_undoable})
        return {"execution_id": execution.id, "plan_id": execution.plan_id,
                "status": "dry_run" if dry_run else "rolled_back", "dry_run": dry_run,
                "rollback_steps": self.live(workspace_id, steps),
                "not_undoable": not_undoable}

    def _inverses(self, workspace_id: str, execution: PlanExecution
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        inverses, not_undoable = [], []
        for step in reversed(execution.steps):
            record = self.remediation.store.get(workspace_id, step["action_id"]) \
                if step.get("action_id") else None
            inverse, why = inverse_of(record) if record else (None, "it never started")
            if inverse is None:
                not_undoable.append({"step": step["step"], "action": step["action"],
                                     "action_id": step.get("action_id"), "reason": why})
            else:
                inverses.append({"step": step["step"], "undoes": step["action_id"],
                                 "action": inverse[0], "arguments": inverse[1], "why": why})
        return inverses, not_undoable

    def _request_inverse(self, workspace_id: str, actor: str, execution: PlanExecution,
                         inverse: dict[str, Any], *, dry_run: bool,
                         approved: bool) -> dict[str, Any]:
        step = {k: inverse[k] for k in ("step", "undoes", "action", "why")}
        try:
            record = self.remediation.request(workspace_id, actor, ActionRequest(
                action=inverse["action"], arguments=inverse["arguments"],
                incident_id=execution.incident_id, diagnosis_id=execution.diagnosis_id,
                dry_run=dry_run, approved=approved, source="plan"), can_execute=True)
        except DroverError as exc:
            return _failed(step, exc)
        return {**step, "action_id": record.id, "state": record.state,
                "diff": record.preview.get("diff", [])}

    def _event(self, execution: PlanExecution, event: str, actor: str,
               payload: dict[str, Any]) -> None:
        if execution.incident_id:
            self.incidents.add_event(execution.workspace_id, execution.incident_id, event,
                                     actor, {"plan_id": execution.plan_id,
                                             "execution_id": execution.id, **payload})
