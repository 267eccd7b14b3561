"""Read-side views of the diagnosis engine: the provider's status and the chat bot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.diagnosis_ports import KnowledgeStore
from chalicelib.domain.llm import LlmConnector, LlmUnavailable
from chalicelib.services.builtin_engine import builtin_entries
from chalicelib.services.diagnosis import DiagnosisService
from chalicelib.services.llm_settings import LlmSettingsService

AUTO_APPLY_REFUSED = ("auto_apply is not honoured from chat: actions run only through "
                      "POST /actions/execute, dry-run first and approved by someone allowed to.")


@dataclass
class DiagnosisViews:
    """Status and chat."""

    diagnoses: DiagnosisService
    llm_settings: LlmSettingsService
    connector: LlmConnector
    knowledge: KnowledgeStore

    def corpus_size(self, workspace_id: str) -> int:
        """Knowledge entries the engine matches against (shipped plus the workspace's)."""
        return len(builtin_entries()) + len(self.knowledge.list(workspace_id))

    def llm_status(self, workspace_id: str) -> dict[str, Any]:
        """Seed 000's status: provider, status, model, corpus_size (a live check for LLMs)."""
        config = self.llm_settings.config(workspace_id)
        body: dict[str, Any] = {"provider": config.provider, "status": "connected",
                                "model": config.model,
                                "corpus_size": self.corpus_size(workspace_id),
                                "fallback": "builtin"}
        if config.uses_llm:
            try:
                self.connector.connect(config).models()
            except LlmUnavailable as exc:
                body.update(status="error", message=exc.message, code=exc.code)
        return body

    def bot(self, workspace_id: str, message: str, incident_id: str | None,
            auto_apply: bool) -> dict[str, Any]:
        """A reply built from the incident's (or the question's) diagnosis."""
        if incident_id:
            diagnosis = self.diagnoses.incident_diagnosis(workspace_id, incident_id, None)
        else:
            diagnosis = self.diagnoses.diagnose_question(workspace_id, message,
                                                         use_case="bot")
        lines = [diagnosis.summary, f"Root cause: {diagnosis.root_cause}",
                 f"Fix: {diagnosis.fix_summary}"]
        if diagnosis.suggested_actions:
            names = ", ".join(a.name for a in diagnosis.suggested_actions)
            lines.append(f"Suggested actions (dry-run first, approval required): {names}.")
        warnings = list(diagnosis.warnings)
        if auto_apply:
            warnings.append(AUTO_APPLY_REFUSED)
        return {"reply": "\n".join(lines), "incident_id": incident_id,
                "diagnosis_id": diagnosis.diagnosis_id, "category": diagnosis.category,
                "confidence": diagnosis.confidence,
                "suggested_actions": [a.model_dump() for a in diagnosis.suggested_actions],
                "applied_actions": [], "auto_apply": False, "warnings": warnings,
                "provider": diagnosis.provider, "model": diagnosis.model}
