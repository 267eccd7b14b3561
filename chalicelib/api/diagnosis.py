"""Endpoint group ``diagnosis``: seed 000 (diagnose, LLM status) and seed 004 (incident
diagnosis, bot interaction)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import Call, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.diagnosis import Diagnosis
from chalicelib.domain.validation import parse_body
from chalicelib.services.evidence import SubjectHint

bp = Blueprint(__name__)
READ = "incidents:read"
WRITE = "incidents:write"


class DiagnoseRequest(BaseModel):
    """Seed 000's ``POST /api/diagnose``, plus an optional subject on a named cluster."""

    model_config = ConfigDict(extra="ignore")

    query: str = Field(min_length=1, max_length=4000)
    generate_plan: bool = False
    cluster_id: str | None = Field(default=None, max_length=253)
    namespace: str | None = Field(default=None, max_length=63)
    pod: str | None = Field(default=None, max_length=253)
    workload: str | None = Field(default=None, max_length=253)
    node: str | None = Field(default=None, max_length=253)
    log_limit: int = Field(default=50, ge=1, le=200)


class BotRequest(BaseModel):
    """Seed 004's ``POST /bot/interact``."""

    model_config = ConfigDict(extra="ignore")

    message: str = Field(min_length=1, max_length=4000)
    incident_id: str | None = Field(default=None, max_length=100)
    auto_apply: bool = False


def present(diagnosis: Diagnosis) -> dict[str, Any]:
    """A diagnosis as every seed shows it (a superset of seed 000's and seed 004's)."""
    body = diagnosis.model_dump(mode="json", exclude={"usage", "duration_ms"})
    body["subject"] = diagnosis.subject.model_dump(exclude_none=True)
    return body


@endpoint(bp, "/api/diagnose", methods=("POST",), scope=WRITE, body=DiagnoseRequest)
def diagnose(call: Call) -> dict[str, Any]:
    """Diagnose a question, against the named (or default) cluster when one is registered."""
    req = parse_body(DiagnoseRequest, call.json_object(), "diagnose request")
    hint = SubjectHint(pod=req.pod, namespace=req.namespace, workload=req.workload,
                       node=req.node)
    diagnosis = get_container().diagnoses.diagnose_question(
        call.workspace_id, req.query, cluster=req.cluster_id, hint=hint,
        log_limit=req.log_limit)
    body = present(diagnosis)
    if not req.generate_plan:
        body["fix_commands"] = []
        body["suggested_actions"] = []
    return {"diagnosis": body}


@endpoint(bp, "/api/llm/status", scope=READ)
def llm_status(call: Call) -> dict[str, Any]:
    """The provider, whether it answers, its model and the knowledge base's size."""
    return get_container().diagnosis_views.llm_status(call.workspace_id)


@endpoint(bp, "/incidents/{incident_id}/diagnosis", scope=READ)
def incident_diagnosis(call: Call, incident_id: str) -> dict[str, Any]:
    """The incident's diagnosis (seed 004); ``log_limit`` diagnoses again with that many
    log lines."""
    log_limit = call.int_query("log_limit", 50, 1, 200) if call.query("log_limit") else None
    diagnosis = get_container().diagnoses.incident_diagnosis(call.workspace_id, incident_id,
                                                             log_limit)
    return present(diagnosis)


@endpoint(bp, "/bot/interact", methods=("POST",), scope=READ, body=BotRequest)
def bot_interact(call: Call) -> dict[str, Any]:
    """Answer a chat message about an incident or the cluster; never applies anything."""
    req = parse_body(BotRequest, call.json_object(), "bot message")
    return get_container().diagnosis_views.bot(call.workspace_id, req.message,
                                               req.incident_id, req.auto_apply)
