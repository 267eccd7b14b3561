"""The remediation workflow's steps (the Step Functions tasks call these): validate again,
dry-run again, wait for approval, execute once, verify, roll back, record the outcome.

Each step is safe to run twice: Lambda and Step Functions retry. ``execute`` claims the
action with a conditional write before touching the cluster and returns the stored result
on a replay, so nothing runs twice; a claim left without a result (the attempt died after
acting) fails the step rather than acting again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.clock import now_iso
from chalicelib.domain.clusters import ClusterUnreachable
from chalicelib.domain.errors import Conflict, DependencyUnavailable, DroverError
from chalicelib.domain.policy import decide, target_key
from chalicelib.domain.remediation import TERMINAL, ActionRecord
from chalicelib.domain.remediation_ports import RemediationSteps, StepFailed, TransientStepError
from chalicelib.plugins.actions import PLUGINS
from chalicelib.plugins.actions._base import ActionContext
from chalicelib.services.remediation import RemediationService

OUTCOME_EVENTS = {"succeeded": "action_succeeded", "rolled_back": "action_rolled_back",
                  "failed": "action_failed", "rejected": "action_denied",
                  "timed_out": "action_approval_timed_out"}


@dataclass
class WorkflowSteps(RemediationSteps):
    """RemediationSteps over the remediation service."""

    remediation: RemediationService

    def _record(self, state: dict[str, Any]) -> ActionRecord:
        return self.remediation.get(state["workspace_id"], state["action_id"])

    def _context(self, record: ActionRecord) -> ActionContext:
        try:
            cluster = self.remediation.clusters.get(record.workspace_id,
                                                    record.cluster_id or "")
            return self.remediation.context(cluster,
                                            self.remediation.policy(record.workspace_id))
        except (ClusterUnreachable, DependencyUnavailable) as exc:
            raise TransientStepError(exc.message) from exc

    def _step(self, record: ActionRecord, step: str, **details: Any) -> ActionRecord:
        entry = {"step": step, "at": now_iso(), **details}
        return self._change(record, lambda r: {"steps": [*r.steps, entry]})

    def _change(self, record: ActionRecord, changes: Any) -> ActionRecord:
        """Update from the freshest record (an approval may land while a step runs)."""
        try:
            return self.remediation.change(record.workspace_id, record.id, changes)
        except Conflict as exc:
            raise TransientStepError(exc.message) from exc

    # --- steps ------------------------------------------------------------------------------
    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        """The action is still live and the policy still allows it."""
        record = self._record(state)
        if record.state in TERMINAL:
            raise StepFailed(f"action {record.id} already ended ({record.state})")
        policy = self.remediation.policy(record.workspace_id)
        decision = decide(policy, record.action, record.arguments)
        if not decision.allowed:
            raise StepFailed(decision.policy_reason, code="policy_refused")
        self._step(record, "validated")
        return {**state, "approval_required": record.approval_required,
                "approval_timeout_seconds": policy.approval_timeout_seconds}

    def dry_run(self, state: dict[str, Any]) -> dict[str, Any]:
        """The server-side dry run again, right before waiting or executing."""
        record = self._record(state)
        preview = self._guard(lambda: PLUGINS[record.action].preview(
            self._context(record), record.arguments))
        self._step(record, "dry_run", message=preview.message)
        return {**state, "diff": preview.diff}

    def await_approval(self, state: dict[str, Any]) -> None:
        """Keep the task token; answer it at once if the decision came first."""
        record = self._record(state)
        token = state["task_token"]
        record = self._change(record, lambda _r: {"task_token": token})
        workflow = self.remediation.workflow
        if record.approved_by:
            workflow.approve(token, {"approved_by": record.approved_by})
        elif any(s.get("step") == "denied" for s in record.steps):
            workflow.reject(token, "Rejected", record.error or "denied")
        else:
            self.remediation.log(record, "action_pending_approval", "system",
                                 {"diff": record.preview.get("diff", [])})

    def execute(self, state: dict[str, Any]) -> dict[str, Any]:
        """Run the action at most once: claim it, act, keep the result."""
        record = self._record(state)
        if record.result.get("executed_at"):
            return {**state, "result": record.result}  # a replay: it already ran
        if record.result.get("claimed_at"):
            # An attempt acted, or died acting, and kept no result: acting again could do
            # it twice (a second restart), so the outcome is left to a person.
            raise StepFailed(f"an earlier attempt of action {record.id} may have changed the "
                             "cluster but its result was not recorded; it is not run twice: "
                             "check the cluster, and request the action again if it is "
                             "still needed", code="outcome_unknown")
        if record.state not in ("running", "pending_approval"):
            raise StepFailed(f"action {record.id} is {record.state}; it cannot execute")
        ctx = self._context(record)
        try:
            record = self.remediation.store.update(
                record, expect_state=record.state, state="running",
                result={"claimed_at": now_iso()})
        except Conflict as exc:
            raise TransientStepError(f"action {record.id} changed; retrying") from exc
        try:
            done = self._guard(lambda: PLUGINS[record.action].execute(ctx, record.arguments))
        except TransientStepError:
            # The cluster refused or did not answer: release the claim so the retry acts.
            self._change(record, lambda _r: {"result": {}})
            raise
        at = now_iso()
        record = self._change(record, lambda _r: {"result": {**done, "executed_at": at}})
        self.remediation.store.note_execution(record.workspace_id,
                                              target_key(record.action, record.arguments),
                                              record.action, at)
        self.remediation.log(record, "action_executed", record.approved_by or "system",
                             {"message": done.get("message")})
        return {**state, "result": {**done, "executed_at": at}}

    def verify(self, state: dict[str, Any]) -> dict[str, Any]:
        """Check the action did what it should."""
        record = self._record(state)
        ctx = self._context(record)
        if "verify_timeout_seconds" in state:
            ctx.verify_timeout_seconds = float(state["verify_timeout_seconds"])
        result = self._guard(lambda: PLUGINS[record.action].verify(ctx, record.arguments,
                                                                   record.result))
        verification = {"verified": result.verified, "message": result.message,
                        **result.details}
        record = self._change(record, lambda _r: {"verification": verification})
        event = "action_verified" if result.verified else "action_verification_failed"
        self.remediation.log(record, event, "system", {"message": result.message})
        return {**state, "verified": result.verified, "verification": verification}

    def rollback(self, state: dict[str, Any]) -> dict[str, Any]:
        """Undo, when the action can be undone."""
        record = self._record(state)
        undone = self._guard(lambda: PLUGINS[record.action].rollback(
            self._context(record), record.arguments, record.result))
        outcome = undone or {"message": f"{record.action} has nothing to undo"}
        record = self._change(record, lambda _r: {"rollback": outcome})
        self.remediation.log(record, "action_rollback", "system", outcome)
        return {**state, "rollback": outcome}

    def record(self, state: dict[str, Any]) -> dict[str, Any]:
        """The final state of the action, on the action, the timeline and the audit log."""
        record = self._record(state)
        outcome = str(state.get("outcome") or "failed")
        error = _error_text(state.get("error"))
        if record.state in TERMINAL:
            return {**state, "outcome": record.state}  # already recorded (a replay)
        # A denial's reason is on the record already (Step Functions may not carry it).
        final = outcome if outcome in OUTCOME_EVENTS else "failed"
        record = self._change(record, lambda r: {
            "state": final, "finished_at": now_iso(),
            "error": r.error if outcome == "rejected" and r.error else (error or r.error)})
        self.remediation.log(record, OUTCOME_EVENTS.get(outcome, "action_failed"), "system",
                             {"outcome": outcome, "error": error})
        return {**state, "outcome": record.state}

    @staticmethod
    def _guard(run: Any) -> Any:
        """Cluster errors that may pass are retried; the rest fail the step for good."""
        try:
            return run()
        except (ClusterUnreachable, DependencyUnavailable) as exc:
            raise TransientStepError(exc.message) from exc
        except StepFailed:
            raise
        except DroverError as exc:
            raise StepFailed(exc.message, code=exc.code) from exc


def _error_text(error: Any) -> str | None:
    if not error:
        return None
    if isinstance(error, dict):
        cause = error.get("Cause") or error.get("cause") or ""
        try:
            parsed = json.loads(cause)
            if isinstance(parsed, dict):
                cause = parsed.get("errorMessage") or cause
        except (TypeError, ValueError):
            pass
        return f"{error.get('Error') or error.get('error') or 'Error'}: {cause}"[:1000]
    return str(error)[:1000]
