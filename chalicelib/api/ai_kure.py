"""Endpoint group ``diagnosis``: seed 002 (Kure Monitor) AI endpoints, in Kure's shapes.

A retried solution is a new diagnosis of the pod failure's incident, rendered as Kure's
solution text; a security fix and a mirror preview come from the configured LLM or, with
``is_fallback`` true, from Drover's builtin rules. The ``/api/admin/llm`` routes manage the
workspace's LLM settings with Kure's provider names; the API key is never returned.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import Field, ValidationError

from chalicelib.api.diagnosis import present
from chalicelib.api.http import Call, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.clock import now_iso
from chalicelib.domain.diagnosis import Diagnosis, solution_text
from chalicelib.domain.errors import BadRequest, ValidationFailed
from chalicelib.domain.llm import BUILTIN_MODEL, LlmConfig, LlmSettingsFields
from chalicelib.domain.models import Incident
from chalicelib.domain.validation import parse_body
from chalicelib.services.llm_settings import DEFAULT_MODELS
from chalicelib.services.mirror_preview import MirrorPreviewService
from chalicelib.services.pod_failures import pod_view
from chalicelib.services.security_fix import SecurityFixService

bp = Blueprint(__name__)
WRITE = "incidents:write"
SETTINGS_READ = "settings:read"
SETTINGS_WRITE = "settings:write"
# Kure's provider names -> Drover's provider and the OpenAI-compatible endpoint that serves
# them (Anthropic, Groq and Gemini all offer one; Ollama serves one locally).
KURE_PROVIDERS: dict[str, tuple[str, str | None]] = {
    "openai": ("openai", None),
    "anthropic": ("openai", "https://api.anthropic.com/v1"),
    "claude": ("openai", "https://api.anthropic.com/v1"),
    "groq": ("openai", "https://api.groq.com/openai/v1"),
    "groq_cloud": ("openai", "https://api.groq.com/openai/v1"),
    "gemini": ("openai", "https://generativelanguage.googleapis.com/v1beta/openai"),
    "ollama": ("openai", "http://localhost:11434/v1"),
    "bedrock": ("bedrock", None),
    "builtin": ("builtin", None),
}
KURE_NAME_OF_URL = {url: name for name, (_, url) in reversed(KURE_PROVIDERS.items()) if url}
DROVER_FIELDS = ("region", "timeout_seconds", "max_retries", "max_output_tokens",
                 "input_cost_per_1k", "output_cost_per_1k")


class KureLlmConfig(LlmSettingsFields):
    """Kure's ``LLMConfigCreate`` (provider, api_key, model, base_url) plus Drover's knobs."""

    provider: str = Field(min_length=1, max_length=40,
                          json_schema_extra={"enum": list(KURE_PROVIDERS)})


def _actor(call: Call) -> str:
    return call.principal.actor if call.principal else "anonymous"


# --- pod failures and findings ---------------------------------------------------------------
def solution_view(incident: Incident, diagnosis: Diagnosis) -> dict[str, Any]:
    """Kure's pod failure record with the diagnosis as its solution."""
    return {**pod_view(incident), "solution": solution_text(diagnosis),
            "solution_provider": diagnosis.provider, "solution_model": diagnosis.model,
            "is_fallback": diagnosis.provider == "builtin",
            "diagnosis_id": diagnosis.diagnosis_id, "category": diagnosis.category,
            "confidence": diagnosis.confidence, "diagnosis": present(diagnosis)}


@endpoint(bp, "/api/pods/failed/{pod_id}/retry-solution", methods=("POST",), scope=WRITE)
def retry_solution(call: Call, pod_id: str) -> dict[str, Any]:
    """Diagnose the pod failure again; the record with its fresh solution."""
    c = get_container()
    incident = c.pod_failures.get(call.workspace_id, pod_id)
    diagnosis = c.diagnoses.diagnose_incident(call.workspace_id, pod_id, actor=_actor(call))
    return solution_view(incident, diagnosis)


@endpoint(bp, "/api/security/findings/{finding_id}/fix", methods=("POST",), scope=WRITE)
def security_fix(call: Call, finding_id: str) -> dict[str, Any]:
    """A corrected manifest (or snippet) and an explanation for one security finding."""
    c = get_container()
    service = SecurityFixService(c.security_findings, c.llm_settings, c.llm_connector)
    return service.fix(call.workspace_id, finding_id)


@endpoint(bp, "/api/mirror/preview/{pod_id}", methods=("POST",), scope=WRITE)
def mirror_preview(call: Call, pod_id: str) -> dict[str, Any]:
    """The failing pod's workload with the diagnosis' fix applied to a mirror copy; never
    deployed from here."""
    c = get_container()
    service = MirrorPreviewService(c.pod_failures, c.diagnoses, c.clusters)
    return service.preview(call.workspace_id, pod_id)


# --- admin: LLM settings ---------------------------------------------------------------------
def drover_settings(req: KureLlmConfig) -> dict[str, Any]:
    """Drover's settings for a Kure configuration (400 for a provider Drover cannot serve)."""
    name = req.provider.strip().lower()
    if name not in KURE_PROVIDERS:
        raise BadRequest(f"Invalid provider. Supported: {', '.join(KURE_PROVIDERS)}",
                         code="invalid_provider")
    provider, url = KURE_PROVIDERS[name]
    if url and not req.model:
        raise ValidationFailed(f"model is required for provider '{name}'",
                               code="invalid_llm_settings")
    # api_key and base_url stay even when None: a test must not borrow the stored ones.
    settings = {"provider": provider, "api_key": req.api_key, "base_url": req.base_url or url,
                "model": req.model or DEFAULT_MODELS.get(provider, BUILTIN_MODEL)}
    settings.update({f: getattr(req, f) for f in DROVER_FIELDS if getattr(req, f) is not None})
    return settings


def _keep_key(settings: dict[str, Any], current: LlmConfig) -> dict[str, Any]:
    """Without a new key, the stored one stays, but only for the same endpoint."""
    same_endpoint = (settings["provider"], settings["base_url"]) == (current.provider,
                                                                     current.base_url)
    if not settings["api_key"] and same_endpoint and current.api_key:
        return {**settings, "api_key": current.api_key}
    return settings


def kure_view(public: dict[str, Any]) -> dict[str, Any]:
    """Drover's public settings with Kure's status fields (the key only as api_key_set)."""
    uses_llm = public["provider"] != "builtin"
    source = ("database" if public["configured"] else "environment") if uses_llm else None
    return {**public, "provider": KURE_NAME_OF_URL.get(public.get("base_url") or "",
                                                       public["provider"]),
            "drover_provider": public["provider"], "configured": uses_llm, "source": source,
            "workspace_configured": public["configured"], "settings_source": public["source"]}


@endpoint(bp, "/api/admin/llm/status", scope=SETTINGS_READ)
def llm_status(call: Call) -> dict[str, Any]:
    """Whether an LLM is configured, which, and whether it answers."""
    c = get_container()
    status = c.diagnosis_views.llm_status(call.workspace_id)
    view = kure_view(c.llm_settings.public(call.workspace_id))
    return {**status, **view}


@endpoint(bp, "/api/admin/llm/config", methods=("POST",), scope=SETTINGS_WRITE, body=KureLlmConfig)
def llm_config(call: Call) -> dict[str, Any]:
    """Save the workspace's LLM configuration (Kure's provider names accepted)."""
    c = get_container()
    req = parse_body(KureLlmConfig, call.json_object(), "LLM configuration")
    settings = _keep_key(drover_settings(req), c.llm_settings.config(call.workspace_id))
    public = c.llm_settings.update(call.workspace_id,
                                   {k: v for k, v in settings.items() if v is not None},
                                   replace=True)
    return {**kure_view(public), "id": f"llm-{call.workspace_id}", "updated_at": now_iso()}


@endpoint(bp, "/api/admin/llm/test", methods=("POST",), scope=SETTINGS_WRITE,
          body=KureLlmConfig, body_required=False)
def llm_test(call: Call) -> dict[str, Any]:
    """Try a configuration without saving it (the saved one when no body is sent)."""
    c = get_container()
    if not (call.request.raw_body or b"").strip():
        return c.llm_settings.test(call.workspace_id)
    req = parse_body(KureLlmConfig, call.json_object(), "LLM configuration")
    current = c.llm_settings.config(call.workspace_id)
    settings = _keep_key(drover_settings(req), current)
    try:
        LlmConfig.model_validate({**current.model_dump(), **settings})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValidationFailed(f"invalid LLM settings: {'.'.join(map(str, first['loc']))}: "
                               f"{first['msg']}", code="invalid_llm_settings") from None
    return c.llm_settings.test(call.workspace_id, settings)


@endpoint(bp, "/api/admin/llm/config", methods=("DELETE",), scope=SETTINGS_WRITE)
def llm_reset(call: Call) -> dict[str, Any]:
    """Forget the workspace's LLM configuration: the builtin rules (or the deployment's
    default) answer again."""
    c = get_container()
    had = c.llm_settings.public(call.workspace_id)["configured"]
    public = c.llm_settings.reset(call.workspace_id)
    message = "LLM configuration deleted" if had else "No LLM configuration to delete"
    return {"message": message, **kure_view(public)}
