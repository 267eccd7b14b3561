"""Ask the configured LLM to confirm or improve the builtin diagnosis, and trust nothing it
says until it is validated: the schema, the category taxonomy, the action allowlist, and
shell-free fix commands. On a timeout, an error or an invalid answer the builtin diagnosis
stands, and its warnings say why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from chalicelib.domain.action_catalog import sanitize
from chalicelib.domain.diagnosis import Diagnosis, Fact, FixCommand, LlmDiagnosis, llm_json_schema
from chalicelib.domain.llm import LlmConfig, LlmConnector, LlmRequest, LlmUnavailable
from chalicelib.domain.prompt import build
from chalicelib.domain.redaction import redact
from chalicelib.services.llm_settings import LlmSettingsService

# A fix command is for a human to read and run: kubectl only, one command, no shell.
_SAFE_COMMAND = re.compile(r"^kubectl\s[^;&|`$<>\n\\]*$")
_FENCED_JSON = re.compile(r"```(?:json)?\s*(\{.*\})\s*```", re.DOTALL)
# When the model disagrees with the rules, it has to be right on its own: its confidence
# is capped, and the rules' answer is kept in the warnings.
DISAGREEMENT_CAP = 0.7


def parse_answer(text: str) -> LlmDiagnosis:
    """The model's JSON answer (bare, or in a ```json fence), validated."""
    text = text.strip()
    fenced = _FENCED_JSON.search(text)
    if fenced:
        text = fenced.group(1)
    return LlmDiagnosis.model_validate(json.loads(text))


@dataclass
class LlmRefiner:
    """Runs the LLM step of a diagnosis."""

    connector: LlmConnector
    llm_settings: LlmSettingsService

    def refine(self, workspace_id: str, config: LlmConfig, builtin: Diagnosis,
               facts: list[Fact], *, question: str = "",
               use_case: str = "diagnosis") -> Diagnosis:
        """The LLM's validated diagnosis, or the builtin one with a warning saying why not."""
        system, user = build(facts, builtin, question)
        request = LlmRequest(system=system, user=user, json_schema=llm_json_schema(),
                             max_output_tokens=config.max_output_tokens)
        reply = None
        try:
            reply = self.connector.connect(config).complete(request)
            answer = parse_answer(reply.text)
        except LlmUnavailable as exc:
            self._account(workspace_id, config, None, use_case, exc.message)
            return self._fallback(builtin, config, f"{exc.message} ({exc.code})")
        except (ValueError, ValidationError) as exc:
            self._account(workspace_id, config, reply, use_case, "invalid answer")
            return self._fallback(builtin, config, f"its answer was not a valid diagnosis "
                                                   f"({_first_error(exc)})")
        usage = self._account(workspace_id, config, reply, use_case, None)
        return self._merge(builtin, answer, config, reply.model or config.model, usage)

    def _account(self, workspace_id: str, config: LlmConfig, reply: Any, use_case: str,
                 error: str | None) -> dict[str, Any]:
        try:
            return self.llm_settings.record(workspace_id, config, reply, use_case,
                                            ok=error is None, error=error)
        except Exception:  # accounting must never cost the user their diagnosis
            return {}

    @staticmethod
    def _fallback(builtin: Diagnosis, config: LlmConfig, why: str) -> Diagnosis:
        warning = (f"The {config.provider} provider ({config.model}) could not be used: {why}. "
                   "This is the builtin diagnosis.")
        return builtin.model_copy(update={"warnings": [*builtin.warnings, warning]})

    @staticmethod
    def _merge(builtin: Diagnosis, answer: LlmDiagnosis, config: LlmConfig, model: str,
               usage: dict[str, Any]) -> Diagnosis:
        actions, dropped = sanitize(answer.suggested_actions)
        commands = [c for c in answer.fix_commands if _SAFE_COMMAND.match(c.command.strip())]
        warnings = [*builtin.warnings, *(redact(w) for w in answer.warnings), *dropped]
        if len(commands) < len(answer.fix_commands):
            warnings.append(f"dropped {len(answer.fix_commands) - len(commands)} fix "
                            "command(s) that were not single kubectl commands")
        confidence = answer.confidence
        if answer.category != builtin.category:
            confidence = min(confidence, DISAGREEMENT_CAP)
            warnings.append(f"The builtin rules found {builtin.category} "
                            f"(confidence {builtin.confidence}); the LLM disagrees.")
        return builtin.model_copy(update={
            "category": answer.category, "summary": redact(answer.summary),
            "root_cause": redact(answer.root_cause), "confidence": round(confidence, 2),
            "evidence": [redact(e) for e in answer.evidence] or builtin.evidence,
            "fix_summary": redact(answer.fix_summary),
            "fix_commands": [FixCommand(command=redact(c.command), description=c.description)
                             for c in commands] or builtin.fix_commands,
            "suggested_actions": actions or builtin.suggested_actions,
            "warnings": warnings, "provider": config.provider, "model": model,
            "usage": usage})


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"[:200]
    return str(exc)[:200]
