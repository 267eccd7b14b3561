"""Endpoint group ``remediation``: seed 004 ``POST /actions/execute``, seed 000
``POST /api/clusters/{id}/actions/execute`` (a command string parsed into an allowlisted
action), and reading an action back."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import Call, Reply, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.action_catalog import ACTIONS
from chalicelib.domain.command_parser import parse
from chalicelib.domain.remediation import ActionRecord
from chalicelib.domain.validation import parse_body
from chalicelib.services.remediation import ActionRequest

bp = Blueprint(__name__)
EXECUTE = "actions:execute"
READ = "incidents:read"
# Seed 004's flat request fields, mapped onto each action's arguments.
FLAT_FIELDS = {"pod_name": "pod_name", "deployment_name": "name", "replicas": "replicas",
               "node_name": "node_name", "job_name": "name", "container": "container",
               "name": "name", "kind": "kind", "memory_limit": "memory_limit",
               "memory_request": "memory_request", "cpu_limit": "cpu_limit",
               "cpu_request": "cpu_request"}


class ExecuteRequest(BaseModel):
    """Seed 004's ``POST /actions/execute`` (plus cluster, incident and arguments)."""

    model_config = ConfigDict(extra="allow")

    action: str = Field(min_length=1, max_length=64,
                        json_schema_extra={"enum": sorted(ACTIONS)})
    namespace: str = ""
    dry_run: bool = True
    approved: bool = False
    component: str = ""
    issue: str = ""
    current_spec: str = Field(default="", max_length=20000)
    arguments: dict[str, Any] = Field(default_factory=dict)
    cluster_id: str | None = Field(default=None, max_length=253)
    cluster: str | None = Field(default=None, max_length=253)
    incident_id: str | None = Field(default=None, max_length=100)
    diagnosis_id: str | None = Field(default=None, max_length=100)


class CommandRequest(BaseModel):
    """Seed 000's ``POST /api/clusters/{id}/actions/execute``."""

    model_config = ConfigDict(extra="ignore")

    command: str = Field(min_length=1, max_length=2000)
    diagnosis_id: str | None = Field(default=None, max_length=100)
    dry_run: bool = True
    approved: bool = False
    incident_id: str | None = Field(default=None, max_length=100)


def _arguments(req: ExecuteRequest) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if req.namespace:
        args["namespace"] = req.namespace
    extra = req.model_extra or {}
    for field, arg in FLAT_FIELDS.items():
        if extra.get(field) not in (None, ""):
            args[arg] = extra[field]
    if req.action == "suggest_config_fix":
        args.update(kind=req.component or args.get("kind", ""),
                    suggestion=req.issue or "review the configuration")
    return {**args, **req.arguments}


def _actor(call: Call) -> str:
    return call.principal.actor if call.principal else "anonymous"


def _can_execute(call: Call) -> bool:
    return bool(call.principal and call.principal.has(EXECUTE))


def present(record: ActionRecord) -> dict[str, Any]:
    """An action in seed 004's shape (status, action, message, targets) plus its record."""
    status = {"dry_run": "dry_run", "succeeded": "success", "refused": "refused"}.get(
        record.state, record.state)
    message = record.result.get("message") or record.preview.get("message") or record.error
    return {"status": status, "action": record.action, "message": message,
            "action_id": record.id, **record.arguments,
            "diff": record.preview.get("diff", []), **record.decision, "record": record.public()}


@endpoint(bp, "/actions/execute", methods=("POST",), scope=READ, body=ExecuteRequest)
def execute_action(call: Call) -> Any:
    """Dry-run (the default) or request an allowlisted action through the policy engine;
    executing needs ``actions:execute``."""
    req = parse_body(ExecuteRequest, call.json_object(), "action request")
    if not req.dry_run:
        call.principal.require(EXECUTE)  # type: ignore[union-attr]
    record = get_container().remediation.request(
        call.workspace_id, _actor(call), ActionRequest(
            action=req.action, arguments=_arguments(req), cluster=req.cluster_id or req.cluster,
            incident_id=req.incident_id, diagnosis_id=req.diagnosis_id, dry_run=req.dry_run,
            approved=req.approved), can_execute=_can_execute(call))
    body = present(record)
    return body if record.state in ("dry_run", "succeeded") else Reply(202, body)


@endpoint(bp, "/api/clusters/{id}/actions/execute", methods=("POST",), scope=EXECUTE,
          body=CommandRequest)
def execute_command(call: Call, id: str) -> Any:
    """Parse a kubectl command into an allowlisted action and request it (dry run unless
    ``dry_run`` is false); anything else is refused with 400 and audited."""
    req = parse_body(CommandRequest, call.json_object(), "command request")
    action, arguments = parse(req.command)
    record = get_container().remediation.request(
        call.workspace_id, _actor(call), ActionRequest(
            action=action, arguments=arguments, cluster=id, incident_id=req.incident_id,
            diagnosis_id=req.diagnosis_id, dry_run=req.dry_run, approved=req.approved,
            source="command"), can_execute=True)
    body = {"execution_id": record.id, "status": present(record)["status"],
            "output": present(record)["message"], **present(record)}
    return body if record.state in ("dry_run", "succeeded") else Reply(202, body)


@endpoint(bp, "/actions/{action_id}", scope=READ)
def get_action(call: Call, action_id: str) -> dict[str, Any]:
    """One action and every step it went through."""
    return present(get_container().remediation.get(call.workspace_id, action_id))



