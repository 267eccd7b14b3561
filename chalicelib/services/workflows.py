"""Remediation workflows (seed 004 ``/workflows``): named sequences of read-only checks and
allowlisted actions, defined in data (chalicelib/data/workflows.json, plus a workspace's own
under ``{"workflows": [...]}`` in its WorkspaceSettings document ``workflows``: same shape,
listed with source ``workspace``; one with a built-in's id replaces it for that workspace).

A run executes the checks itself and turns every action step into an ordinary action
request (source ``workflow``, or ``runbook`` for runbook runs): validated, decided by the
policy, dry-run on the API server, and, when not a dry run, sent to the remediation state
machine where it waits for approval as the policy says. Nothing here touches a cluster
except through those requests and the checks' reads.

A non-dry run requests all its action steps at once, in order; each waits for its own
approval. A check after an action step waits until the actions before it have succeeded:
``GET /workflows/{run_id}/status`` refreshes the actions' states and runs it then. A step
whose request fails or is refused stops the run (later steps are skipped); an action step
whose placeholders the context cannot fill is skipped and the run goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import ValidationError

from chalicelib.domain.clock import new_id, now_iso
from chalicelib.domain.clusters import Cluster
from chalicelib.domain.diagnosis_ports import DiagnosisStore
from chalicelib.domain.errors import Conflict, DroverError, NotFound, ValidationFailed
from chalicelib.domain.knowledge import render
from chalicelib.domain.ports import WorkspaceSettings
from chalicelib.domain.remediation import TERMINAL, ActionRecord
from chalicelib.domain.workflows import (
    FINAL_RUN,
    STATE_STATUS,
    STOPPING,
    RunStore,
    StepResult,
    Workflow,
    WorkflowRun,
    WorkflowStep,
    checked_context,
    fill_arguments,
)
from chalicelib.services.deploys import DeployService
from chalicelib.services.remediation import ActionRequest, RemediationService
from chalicelib.services.workflow_checks import CHECKS, CheckInput

SETTINGS_NAME = "workflows"


@lru_cache(maxsize=1)
def builtin_workflows() -> tuple[Workflow, ...]:
    """The workflows shipped in the package."""
    raw = resources.files("chalicelib.data").joinpath("workflows.json").read_text("utf-8")
    return tuple(Workflow.model_validate(w) for w in json.loads(raw)["workflows"])


@dataclass
class Runner:
    """Runs steps (checks directly, actions as ordinary requests through the remediation
    service) and refreshes a stored run from the action store."""

    remediation: RemediationService
    runs: RunStore
    deploys: DeployService
    diagnoses: DiagnosisStore

    def start(self, run: WorkflowRun, *, can_execute: bool,
              approved: bool = False) -> WorkflowRun:
        """Run every step in order and store the run."""
        cluster = self._cluster(run)
        run.cluster_id, run.cluster_name = cluster.cluster_id, cluster.name
        probe = self._probe(run, cluster, {"workload_kind": "deployment", **run.context})
        for index, step in enumerate(run.definition, 1):
            run.steps.append(self._step(run, index, step, probe, can_execute=can_execute,
                                        approved=approved))
        run.resolved = dict(probe.values)
        run.status = run.overall()
        self.runs.put_run(run)
        return run

    def _cluster(self, run: WorkflowRun) -> Cluster:
        ref = str(run.context.get("cluster") or "") or None
        if run.incident_id:
            incident = self.remediation.incidents.get(run.workspace_id, run.incident_id)
            if incident is None:
                raise NotFound(f"incident '{run.incident_id}' not found",
                               code="incident_not_found")
            ref = incident.cluster or ref
        return self.remediation.clusters.resolve(run.workspace_id, ref)

    def _probe(self, run: WorkflowRun, cluster: Cluster, values: dict[str, Any]) -> CheckInput:
        return CheckInput(run.workspace_id, values,
                          lambda: self.remediation.clusters.client(cluster), self.deploys,
                          self.diagnoses)

    def _step(self, run: WorkflowRun, index: int, step: WorkflowStep, probe: CheckInput, *,
              can_execute: bool, approved: bool) -> StepResult:
        result = StepResult(step=index, id=step.id, name=step.name, type=step.kind,
                            status="pending", check=step.check, action=step.action)
        failed = next((s for s in run.steps if s.status in STOPPING), None)
        if failed is not None:
            return result.set("skipped", f"not run: step {failed.step} ({failed.id}) "
                                         f"{failed.status}")
        if step.kind == "manual":
            details = {"command": render(step.command, probe.values)} if step.command else {}
            return result.set("manual", render(step.text, probe.values), details=details)
        if step.kind == "check":
            waiting = any(s.type == "action" and s.status != "succeeded" for s in run.steps)
            if waiting and not run.dry_run:
                return result.set("waiting", "runs once the actions before it have "
                                             "succeeded (GET /workflows/{run_id}/status)")
            return _check(result, step, probe)
        return self._action(run, result, step, probe.values, can_execute=can_execute,
                            approved=approved)

    def _action(self, run: WorkflowRun, result: StepResult, step: WorkflowStep,
                values: dict[str, Any], *, can_execute: bool, approved: bool) -> StepResult:
        args, missing = fill_arguments(step.arguments, values)
        result.arguments = args
        if missing:
            return result.set("skipped", f"needs {', '.join(missing)}, which the context "
                                         "does not give", error_code="missing_context")
        try:
            record = self.remediation.request(run.workspace_id, run.requested_by, ActionRequest(
                action=step.action or "", arguments=args, cluster=run.cluster_id,
                incident_id=run.incident_id, dry_run=run.dry_run, approved=approved,
                source=run.kind), can_execute=can_execute)
        except DroverError as exc:
            status = "refused" if exc.code == "policy_refused" else "failed"
            return result.set(status, exc.message, error_code=exc.code,
                              action_id=exc.extra.get("action_id"),
                              policy_name=exc.extra.get("policy_name"),
                              policy_reason=exc.extra.get("policy_reason"))
        return _from_record(result, record)

    # --- status ---------------------------------------------------------------------------
    def refresh(self, workspace_id: str, run_id: str) -> WorkflowRun:
        """The run with its actions' current states, and its waiting checks run once the
        actions before them have succeeded (skipped when one did not)."""
        run = self.get(workspace_id, run_id)
        if run.status in FINAL_RUN:
            return run
        before = run.model_dump_json()
        for result in run.steps:
            if result.action_id and result.action_state not in TERMINAL:
                _from_record(result, self.remediation.get(workspace_id, result.action_id))
        self._run_waiting_checks(run)
        run.status = run.overall()
        if run.model_dump_json() == before:
            return run
        try:
            return self.runs.save_run(run)
        except Conflict:
            return self.get(workspace_id, run_id)  # someone refreshed it meanwhile

    def _run_waiting_checks(self, run: WorkflowRun) -> None:
        probe: CheckInput | None = None
        for result in run.steps:
            earlier = [s for s in run.steps[:result.step - 1] if s.type == "action"]
            if result.status != "waiting" or any(
                    s.status in ("running", "waiting_approval") for s in earlier):
                continue
            if any(s.status != "succeeded" for s in earlier):
                result.set("skipped", "not run: an action before it did not succeed")
                continue
            if probe is None:
                cluster = self.remediation.clusters.get(run.workspace_id, run.cluster_id or "")
                probe = self._probe(run, cluster, dict(run.resolved))
            checked = _check(result.model_copy(), run.definition[result.step - 1], probe)
            if checked.status != "warning":  # e.g. a rollout still in progress: ask later
                run.steps[result.step - 1] = checked

    def get(self, workspace_id: str, run_id: str) -> WorkflowRun:
        """One stored run, or a 404."""
        run = self.runs.get_run(workspace_id, run_id[:100])
        if run is None:
            raise NotFound(f"workflow run '{run_id[:100]}' not found", code="run_not_found")
        return run


def _check(result: StepResult, step: WorkflowStep, probe: CheckInput) -> StepResult:
    try:
        outcome = CHECKS[step.check or ""](probe)
    except DroverError as exc:
        return result.set("failed", exc.message, error_code=exc.code)
    for key, value in outcome.provides.items():
        probe.values.setdefault(key, value)
    return result.set(outcome.status, outcome.message, details=outcome.details)


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(str(p) for p in error['loc']) or 'workflow'}: {error['msg']}"
    return str(exc)


def _from_record(result: StepResult, record: ActionRecord) -> StepResult:
    message = (record.result.get("message") or record.verification.get("message")
               or record.error or record.preview.get("message") or "")
    return result.set(STATE_STATUS.get(record.state, record.state), str(message),
                      action_id=record.id, action_state=record.state,
                      arguments=record.arguments, preview=record.preview,
                      policy_name=record.decision.get("policy_name"),
                      policy_reason=record.decision.get("policy_reason"))


@dataclass
class WorkflowService:
    """Lists workflows, starts runs of them, and reports a run's status."""

    runner: Runner
    settings: WorkspaceSettings

    def list(self, workspace_id: str) -> tuple[list[Workflow], list[str]]:
        """Built-in workflows merged with the workspace's own, and a warning for each
        stored definition that is not valid (it is left out)."""
        merged = {w.id: w for w in builtin_workflows()}
        warnings: list[str] = []
        stored = (self.settings.get(workspace_id, SETTINGS_NAME) or {}).get("workflows")
        for raw in stored if isinstance(stored, list) else []:
            try:
                workflow = Workflow.model_validate({**raw, "source": "workspace"})
            except (ValidationError, TypeError) as exc:
                name = str(raw.get("id", "?"))[:64] if isinstance(raw, dict) else "?"
                warnings.append(f"workspace workflow {name!r} ignored: {_first_error(exc)}")
                continue
            merged[workflow.id] = workflow
        return list(merged.values()), warnings

    def get(self, workspace_id: str, workflow_id: str) -> Workflow:
        """One workflow, or a 404 naming the known ones."""
        workflows, _ = self.list(workspace_id)
        found = next((w for w in workflows if w.id == workflow_id), None)
        if found is None:
            raise NotFound(f"workflow '{workflow_id[:64]}' not found; known: "
                           f"{', '.join(w.id for w in workflows)}", code="workflow_not_found")
        return found

    def execute(self, workspace_id: str, actor: str, workflow_id: str, context: Any, *,
                dry_run: bool, can_execute: bool) -> WorkflowRun:
        """Run a workflow with a context (422 naming the required fields it lacks)."""
        workflow = self.get(workspace_id, workflow_id)
        values = checked_context(context)
        missing = [f for f in workflow.required_context if f not in values]
        if missing:
            raise ValidationFailed(f"context lacks {', '.join(missing)} (workflow "
                                   f"{workflow.id} needs {', '.join(workflow.required_context)})",
                                   code="missing_context", missing=missing)
        now = now_iso()
        incident = values.get("incident_id")
        run = WorkflowRun(id=new_id("run-"), workspace_id=workspace_id, workflow_id=workflow.id,
                          workflow_name=workflow.name, context=values, dry_run=dry_run,
                          incident_id=str(incident) if incident else None, requested_by=actor,
                          definition=workflow.steps, created_at=now, updated_at=now)
        return self.runner.start(run, can_execute=can_execute)

    def status(self, workspace_id: str, run_id: str) -> WorkflowRun:
        """A run, refreshed."""
        return self.runner.refresh(workspace_id, run_id)
