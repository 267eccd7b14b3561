"""Endpoint group ``remediation``: seed 004's workflows, runbooks and autonomy. Every step
that could change a cluster is an ordinary action request (dry run by default, approval as
the policy says), so these routes need ``actions:execute`` only to go beyond a dry run.

``/workflows/{id}/execute`` and ``/workflows/{id}/status`` share the path variable name
because API Gateway allows one variable per path level; for ``status`` it is a run id.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import Call, Reply, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.validation import parse_body
from chalicelib.domain.workflows import Runbook, WorkflowRun
from chalicelib.services.runbooks import GenerateRequest

bp = Blueprint(__name__)
READ = "incidents:read"
EXECUTE = "actions:execute"
SETTINGS_WRITE = "settings:write"
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


class WorkflowExecuteRequest(BaseModel):
    """Seed 004's ``POST /workflows/{id}/execute``."""

    model_config = ConfigDict(extra="ignore")

    context: dict[str, Any] = Field(default_factory=dict)
    dry_run: bool = True


def _actor(call: Call) -> str:
    return call.principal.actor if call.principal else "anonymous"


def _can_execute(call: Call) -> bool:
    return bool(call.principal and call.principal.has(EXECUTE))


def _flag(call: Call, name: str, default: bool) -> bool:
    raw = (call.query(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in TRUE + FALSE:
        raise BadRequest(f"'{name}' must be true or false", code="bad_parameter")
    return raw in TRUE


def _run_reply(run: WorkflowRun) -> Any:
    body = run.public()
    return body if run.dry_run or run.status == "failed" else Reply(202, body)


# --- workflows --------------------------------------------------------------------------------
@endpoint(bp, "/workflows", scope=READ)
def list_workflows(call: Call) -> dict[str, Any]:
    """Built-in workflows and the workspace's own."""
    workflows, warnings = get_container().workflows.list(call.workspace_id)
    body: dict[str, Any] = {"workflows": [w.summary() for w in workflows],
                            "count": len(workflows)}
    return {**body, "warnings": warnings} if warnings else body


@endpoint(bp, "/workflows/{id}/execute", methods=("POST",), scope=READ, body=WorkflowExecuteRequest)
def execute_workflow(call: Call, id: str) -> Any:
    """Run a workflow: checks, then each action step as an action request (a dry run unless
    ``dry_run`` is false, which needs ``actions:execute``)."""
    req = parse_body(WorkflowExecuteRequest, call.json_object(), "workflow request")
    if not req.dry_run:
        call.principal.require(EXECUTE)  # type: ignore[union-attr]
    run = get_container().workflows.execute(call.workspace_id, _actor(call), id, req.context,
                                             dry_run=req.dry_run,
                                             can_execute=_can_execute(call))
    return _run_reply(run)


@endpoint(bp, "/workflows/{id}/status", scope=READ)
def workflow_status(call: Call, id: str) -> dict[str, Any]:
    """A workflow or runbook run (``id`` is its run id), its actions' states refreshed."""
    return get_container().workflows.status(call.workspace_id, id).public()


# --- runbooks ---------------------------------------------------------------------------------
@endpoint(bp, "/runbooks", scope=READ)
def list_runbooks(call: Call) -> dict[str, Any]:
    """The built-in runbooks."""
    from chalicelib.services.runbooks import builtin_runbooks

    runbooks = [r.public() for r in builtin_runbooks()]
    return {"runbooks": runbooks, "count": len(runbooks)}


@endpoint(bp, "/runbooks/all", scope=READ)
def list_all_runbooks(call: Call) -> dict[str, Any]:
    """Built-in runbooks and the workspace's approved generated ones."""
    runbooks = get_container().runbooks.all(call.workspace_id)
    generated = sum(1 for r in runbooks if r.source == "generated")
    return {"runbooks": [r.public() for r in runbooks], "count": len(runbooks),
            "builtin_count": len(runbooks) - generated, "generated_count": generated}


@endpoint(bp, "/runbooks/generate", methods=("POST",), scope=READ, body=GenerateRequest)
def generate_runbook(call: Call) -> dict[str, Any]:
    """A runbook draft learned from resolved incidents of one diagnosis category."""
    return get_container().runbooks.generate(call.workspace_id, call.json_object())


@endpoint(bp, "/runbooks/generate/approve", methods=("POST",), scope=SETTINGS_WRITE, body=Runbook)
def approve_runbook(call: Call) -> dict[str, Any]:
    """Save a reviewed runbook draft."""
    return get_container().runbooks.approve(call.workspace_id, _actor(call),
                                            call.json_object())


@endpoint(bp, "/incidents/{incident_id}/runbooks", scope=READ)
def match_runbooks(call: Call, incident_id: str) -> dict[str, Any]:
    """The runbooks that fit an incident, best first."""
    return get_container().runbooks.match(call.workspace_id, incident_id)


@endpoint(bp, "/incidents/{incident_id}/runbooks/{runbook_id}/execute", methods=("POST",),
          scope=READ)
def execute_runbook(call: Call, incident_id: str, runbook_id: str) -> Any:
    """Run a runbook for an incident: a dry run unless ``dry_run=false`` (which needs
    ``actions:execute``); ``auto_approve=true`` pre-approves its actions for such callers."""
    dry_run = _flag(call, "dry_run", True)
    if not dry_run:
        call.principal.require(EXECUTE)  # type: ignore[union-attr]
    run = get_container().runbooks.execute(
        call.workspace_id, _actor(call), incident_id, runbook_id, dry_run=dry_run,
        approved=_flag(call, "auto_approve", False), can_execute=_can_execute(call))
    return _run_reply(run)


# --- autonomy ---------------------------------------------------------------------------------
@endpoint(bp, "/autonomy/status", scope=READ)
def autonomy_status(call: Call) -> dict[str, Any]:
    """What autonomy may do in this workspace."""
    return get_container().autonomy.status(call.workspace_id)


@endpoint(bp, "/autonomy/run", methods=("POST",), scope=EXECUTE)
def autonomy_run(call: Call) -> dict[str, Any]:
    """Run one autonomy cycle now."""
    limit = call.int_query("max_incidents", 0, 0, 200) or None
    return get_container().autonomy.run(call.workspace_id, limit)
