"""Endpoint group ``diagnosis``: seed 001 (Pulse) AI settings, execution, investigations,
cluster analysis, knowledge and cost.

Pulse documents paths, not bodies; these answer snake_case JSON objects. Every reply that
carries a diagnosis has the same shape (:func:`answer`): the text for a chat pane
(``response``, and ``content`` as Pulse's execute names it), the full diagnosis, and its
suggested actions, which are never executed from here.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.diagnosis import present
from chalicelib.api.http import Call, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.diagnosis import Diagnosis
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.knowledge import KnowledgeEntry
from chalicelib.domain.llm import LlmSettingsFields
from chalicelib.domain.validation import parse_body
from chalicelib.services.ai_pulse import (
    SUGGESTIONS_ONLY,
    PulseAi,
    WorkspaceKnowledge,
    alert_hint,
    answer_text,
)
from chalicelib.services.evidence import SubjectHint

bp = Blueprint(__name__)


class KnowledgeExport(BaseModel):
    """An export of knowledge entries to import, all or none."""

    version: int = 1
    entries: list[KnowledgeEntry]
    replace: bool = False
READ = "incidents:read"
WRITE = "incidents:write"
SETTINGS_READ = "settings:read"
SETTINGS_WRITE = "settings:write"
NAME = 253


class SettingsUpdate(LlmSettingsFields):
    """``PUT|POST /api/settings/ai/update``: the fields to change (others keep their value)."""

    enabled: bool | None = None
    provider: str | None = Field(default=None, max_length=40)


class ProviderTest(BaseModel):
    """``POST /api/ai/test``: optional unsaved settings to try."""

    model_config = ConfigDict(extra="ignore")

    provider: str | None = Field(default=None, max_length=40)
    model: str | None = Field(default=None, max_length=200)
    base_url: str | None = Field(default=None, max_length=500)
    api_key: str | None = Field(default=None, max_length=4000)
    region: str | None = Field(default=None, max_length=40)
    timeout_seconds: float | None = None


class _Subject(BaseModel):
    """An optional object of a cluster a request is about."""

    model_config = ConfigDict(extra="ignore")

    cluster_id: str | None = Field(default=None, max_length=NAME)
    namespace: str | None = Field(default=None, max_length=63)
    pod: str | None = Field(default=None, max_length=NAME)
    node: str | None = Field(default=None, max_length=NAME)
    log_limit: int = Field(default=50, ge=1, le=200)


class ExecuteRequest(_Subject):
    """``POST /api/ai/execute``: a prompt, optionally about one object of a cluster."""

    prompt: str | None = Field(default=None, max_length=4000)
    message: str | None = Field(default=None, max_length=4000)
    workload: str | None = Field(default=None, max_length=NAME)


class AlertInvestigation(_Subject):
    """``POST /api/ai/investigate-alert``: an alert id (an incident id) or the alert itself."""

    alert_id: str | None = Field(default=None, max_length=500)
    fresh: bool = False
    title: str | None = Field(default=None, max_length=1000)
    name: str | None = Field(default=None, max_length=1000)
    message: str | None = Field(default=None, max_length=2000)
    alert_type: str | None = Field(default=None, max_length=200)
    resource: str | None = Field(default=None, max_length=NAME)
    resource_name: str | None = Field(default=None, max_length=NAME)
    resource_type: str | None = Field(default=None, max_length=60)
    cluster: str | None = Field(default=None, max_length=NAME)


class ClusterAnalysis(BaseModel):
    """``POST /api/ai/kubernetes/analyze``."""

    model_config = ConfigDict(extra="ignore")

    cluster_id: str = Field(min_length=1, max_length=NAME)
    log_limit: int = Field(default=50, ge=1, le=200)


class KnowledgeRef(BaseModel):
    """``POST /api/ai/knowledge/delete``: an entry id (Pulse's ``note_id`` also works)."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(default=None, min_length=1, max_length=100)
    note_id: str | None = Field(default=None, min_length=1, max_length=100)
    guest_id: str | None = Field(default=None, max_length=200)


class GuestScope(BaseModel):
    """``POST /api/ai/knowledge/clear``: every entry, or one guest's."""

    model_config = ConfigDict(extra="ignore")

    guest_id: str | None = Field(default=None, max_length=200)


def _pulse() -> PulseAi:
    c = get_container()
    return PulseAi(c.diagnoses, c.clusters, c.snapshots, c.llm_settings, c.workspace_settings)


def _knowledge() -> WorkspaceKnowledge:
    return WorkspaceKnowledge(get_container().knowledge_store)


def _actor(call: Call) -> str:
    return call.principal.actor if call.principal else "anonymous"


def answer(diagnosis: Diagnosis, **extra: Any) -> dict[str, Any]:
    """A diagnosis as an assistant reply: text, the diagnosis, its (unexecuted) suggestions."""
    text = answer_text(diagnosis)
    body = present(diagnosis)
    return {"response": text, "content": text, "diagnosis_id": diagnosis.diagnosis_id,
            "category": diagnosis.category, "confidence": diagnosis.confidence,
            "provider": diagnosis.provider, "model": diagnosis.model,
            "input_tokens": int(diagnosis.usage.get("input_tokens") or 0),
            "output_tokens": int(diagnosis.usage.get("output_tokens") or 0),
            "diagnosis": body, "suggested_actions": body["suggested_actions"],
            "findings": [], "tool_calls": [], "actions_executed": False,
            "note": SUGGESTIONS_ONLY, **extra}


# --- settings, models, provider test --------------------------------------------------------
@endpoint(bp, "/api/settings/ai", scope=SETTINGS_READ)
def get_settings(call: Call) -> dict[str, Any]:
    """The AI settings (the API key only as ``api_key_set``) and the providers offered."""
    return _pulse().settings_view(call.workspace_id)


@endpoint(bp, "/api/settings/ai/update", methods=("PUT", "POST"), scope=SETTINGS_WRITE,
          body=SettingsUpdate)
def update_settings(call: Call) -> dict[str, Any]:
    """Change the AI settings; fields this server does not know are listed, not kept."""
    body = call.json_object()
    req = parse_body(SettingsUpdate, body, "AI settings update")
    result = _pulse().update_settings(call.workspace_id, req.model_dump(exclude_unset=True))
    ignored = sorted(set(body) - set(SettingsUpdate.model_fields))
    return {**result, "ignored_fields": ignored} if ignored else result


@endpoint(bp, "/api/ai/models", scope=SETTINGS_READ)
def list_models(call: Call) -> dict[str, Any]:
    """Models the configured provider offers, queried live (503 if it does not answer)."""
    found = get_container().llm_settings.models(call.workspace_id)
    return {**found, "models": [{"id": m["id"], "name": m["id"]} for m in found["models"]]}


@endpoint(bp, "/api/ai/test", methods=("POST",), scope=SETTINGS_WRITE,
          body=ProviderTest, body_required=False)
def test_provider(call: Call) -> dict[str, Any]:
    """Ask the provider (saved settings, or unsaved ones in the body) for a one-word answer."""
    req = parse_body(ProviderTest, call.optional_object(), "provider test")
    return _pulse().test(call.workspace_id, req.model_dump(exclude_none=True))


# --- execution and investigations -----------------------------------------------------------
@endpoint(bp, "/api/ai/execute", methods=("POST",), scope=WRITE, body=ExecuteRequest)
def execute(call: Call) -> dict[str, Any]:
    """Answer a prompt with a diagnosis (of the named object, else the cluster's worst
    problem); suggested actions are returned, never executed."""
    req = parse_body(ExecuteRequest, call.json_object(), "execute request")
    prompt = (req.prompt or req.message or "").strip()
    if not prompt:
        raise BadRequest("send the question as 'prompt' (or 'message')", code="missing_prompt")
    hint = SubjectHint(pod=req.pod, namespace=req.namespace, workload=req.workload,
                       node=req.node)
    diagnosis = get_container().diagnoses.diagnose_question(
        call.workspace_id, prompt, cluster=req.cluster_id, hint=hint, log_limit=req.log_limit,
        use_case="execute")
    return answer(diagnosis)


@endpoint(bp, "/api/ai/investigate-alert", methods=("POST",), scope=WRITE, body=AlertInvestigation)
def investigate_alert(call: Call) -> dict[str, Any]:
    """Investigate an alert: an ``alert_id`` is an incident (its stored diagnosis, or a new
    one with ``fresh``); otherwise the payload's words and resource are diagnosed."""
    req = parse_body(AlertInvestigation, call.json_object(), "alert investigation")
    diagnoses = get_container().diagnoses
    if req.alert_id:
        diagnosis = diagnoses.incident_diagnosis(call.workspace_id, req.alert_id,
                                                 req.log_limit if req.fresh else None)
        return answer(diagnosis, alert_id=req.alert_id, incident_id=req.alert_id)
    words = [w for w in (req.title or req.name, req.alert_type, req.message) if w]
    if not words:
        raise BadRequest("send 'alert_id' (an incident id) or the alert's 'title' or "
                         "'message'", code="missing_alert")
    hint = alert_hint(namespace=req.namespace, pod=req.pod, resource_type=req.resource_type,
                      resource_name=req.resource_name or req.resource, node=req.node)
    diagnosis = diagnoses.diagnose_question(
        call.workspace_id, ": ".join(words)[:4000], cluster=req.cluster or req.cluster_id,
        hint=hint, log_limit=req.log_limit, use_case="investigation")
    return answer(diagnosis, alert_id=None, incident_id=None)


@endpoint(bp, "/api/ai/kubernetes/analyze", methods=("POST",), scope=WRITE, body=ClusterAnalysis)
def analyze_cluster(call: Call) -> dict[str, Any]:
    """A cluster's analyzer findings (refreshed) and a diagnosis of the most severe one."""
    req = parse_body(ClusterAnalysis, call.json_object(), "cluster analysis")
    found = _pulse().analyze_cluster(call.workspace_id, req.cluster_id, req.log_limit)
    cluster, diagnosis = found["cluster"], found["diagnosis"]
    counts = found["counts"]
    body: dict[str, Any] = {
        "cluster_id": cluster.cluster_id, "cluster_name": cluster.name,
        "analyzed_at": found["analyzed_at"], "healthy": not found["issues"],
        "summary": {"total": len(found["issues"]), **counts}, "findings": found["issues"],
        "top_finding": found["issues"][0] if found["issues"] else None,
        "warnings": found["warnings"]}
    if diagnosis is None:
        text = f"The analyzers found no problem in cluster {cluster.name}."
        return {**body, "response": text, "content": text, "diagnosis": None,
                "suggested_actions": [], "actions_executed": False, "note": SUGGESTIONS_ONLY}
    return {**answer(diagnosis), **body}


def _investigation(pointer: dict[str, Any], diagnosis: Diagnosis) -> dict[str, Any]:
    body = present(diagnosis)
    return {"id": diagnosis.diagnosis_id, "finding_id": pointer["finding_id"],
            "status": "completed", "cluster_id": pointer.get("cluster_id"),
            "started_at": pointer.get("started_at"), "completed_at": pointer.get("completed_at"),
            "investigated_by": pointer.get("investigated_by"),
            "investigation_count": pointer.get("investigation_count", 1),
            "summary": diagnosis.summary, "category": diagnosis.category,
            "confidence": diagnosis.confidence,
            "proposed_fix": {"description": diagnosis.fix_summary,
                             "commands": body["fix_commands"],
                             "actions": body["suggested_actions"]},
            "finding": pointer.get("finding"), "diagnosis": body,
            "actions_executed": False, "note": SUGGESTIONS_ONLY}


@endpoint(bp, "/api/ai/findings/{finding_id}/investigation", scope=READ)
def finding_investigation(call: Call, finding_id: str) -> dict[str, Any]:
    """The latest investigation of an analyzer finding (404 if never investigated)."""
    return _investigation(*_pulse().investigation(call.workspace_id, finding_id))


@endpoint(bp, "/api/ai/findings/{finding_id}/reinvestigate", methods=("POST",), scope=WRITE)
def reinvestigate(call: Call, finding_id: str) -> dict[str, Any]:
    """Investigate an analyzer finding (an issue id of ``GET /api/clusters/{id}/issues``)
    now."""
    log_limit = call.int_query("log_limit", 50, 1, 200)
    return _investigation(*_pulse().reinvestigate(call.workspace_id, finding_id,
                                                  _actor(call), log_limit))


# --- knowledge ------------------------------------------------------------------------------
@endpoint(bp, "/api/ai/knowledge", scope=SETTINGS_READ)
def list_knowledge(call: Call) -> dict[str, Any]:
    """The workspace's own entries (``?guest_id=`` keeps one guest's)."""
    guest_id = call.query("guest_id")
    entries = _knowledge().list(call.workspace_id, guest_id)
    return {"entries": [e.model_dump(mode="json") for e in entries], "count": len(entries),
            "guest_id": guest_id}


@endpoint(bp, "/api/ai/knowledge/save", methods=("POST",), scope=SETTINGS_WRITE,
          body=KnowledgeEntry)
def save_knowledge(call: Call) -> dict[str, Any]:
    """Create or replace one entry (matched by every later diagnosis of the workspace)."""
    entry, created = _knowledge().save(call.workspace_id, call.json_object())
    return {"success": True, "created": created, "entry": entry.model_dump(mode="json")}


@endpoint(bp, "/api/ai/knowledge/delete", methods=("POST",), scope=SETTINGS_WRITE,
          body=KnowledgeRef)
def delete_knowledge(call: Call) -> dict[str, Any]:
    """Remove one entry by ``id``."""
    req = parse_body(KnowledgeRef, call.json_object(), "knowledge reference")
    entry_id = req.id or req.note_id
    if not entry_id:
        raise BadRequest("send the entry's 'id'", code="missing_id")
    _knowledge().delete(call.workspace_id, entry_id, req.guest_id)
    return {"success": True, "deleted": entry_id}


@endpoint(bp, "/api/ai/knowledge/clear", methods=("POST",), scope=SETTINGS_WRITE,
          body=GuestScope, body_required=False)
def clear_knowledge(call: Call) -> dict[str, Any]:
    """Remove every entry of the workspace, or one guest's."""
    req = parse_body(GuestScope, call.optional_object(), "knowledge scope")
    deleted = _knowledge().clear(call.workspace_id, req.guest_id)
    return {"success": True, "deleted": deleted, "guest_id": req.guest_id}


@endpoint(bp, "/api/ai/knowledge/export", scope=SETTINGS_READ)
def export_knowledge(call: Call) -> dict[str, Any]:
    """The entries as ``{version, entries}``, which the import accepts."""
    return _knowledge().export(call.workspace_id, call.query("guest_id"))


@endpoint(bp, "/api/ai/knowledge/import", methods=("POST",), scope=SETTINGS_WRITE,
          body=KnowledgeExport)
def import_knowledge(call: Call) -> dict[str, Any]:
    """Store an export's entries, all or none (``replace: true`` drops the others first)."""
    return _knowledge().import_entries(call.workspace_id, call.json_object())


# --- cost -----------------------------------------------------------------------------------
@endpoint(bp, "/api/ai/cost/summary", scope=SETTINGS_READ)
def cost_summary(call: Call) -> dict[str, Any]:
    """Calls, tokens and cost since the later of ``days`` ago (default 30) and the reset."""
    return _pulse().cost_summary(call.workspace_id, call.int_query("days", 30, 1, 365))


@endpoint(bp, "/api/ai/cost/reset", methods=("POST",), scope=SETTINGS_WRITE)
def cost_reset(call: Call) -> dict[str, Any]:
    """Start the summary's window now (records are kept for the export)."""
    actor = _actor(call)
    return {**get_container().llm_settings.cost_reset(call.workspace_id, actor),
            "reset_by": actor}


@endpoint(bp, "/api/ai/cost/export", scope=SETTINGS_READ, media=("text/csv", "application/json"))
def cost_export(call: Call) -> Any:
    """Every usage record of the last ``days`` days (default 90): CSV, or ``format=json``."""
    fmt = (call.query("format") or "csv").lower()
    if fmt not in ("csv", "json"):
        raise BadRequest("'format' must be csv or json", code="bad_parameter")
    days = call.int_query("days", 90, 1, 365)
    records = get_container().llm_settings.cost_export(call.workspace_id, days, fmt)
    if fmt == "json":
        return {"days": days, "count": len(records), "records": records}
    filename = f"drover-ai-cost-{date.today().isoformat()}.csv"
    return Response(body=records, status_code=200, headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"'})
