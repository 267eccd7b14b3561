"""A workspace's LLM provider settings: read, change, forget, test, and what they cost.

The API key is sealed with the credentials cipher (KMS in AWS) under the workspace's
context before it is stored; it is never returned, only whether one is set. Until a
workspace configures a provider, the deployment's default (``DROVER_LLM_*``) applies,
and without one the ``builtin`` engine answers alone.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from chalicelib.domain.clock import iso, now_iso, utcnow
from chalicelib.domain.cluster_ports import CredentialCipher
from chalicelib.domain.diagnosis_ports import LlmUsageLog
from chalicelib.domain.errors import BadRequest, ValidationFailed
from chalicelib.domain.llm import (
    BUILTIN_MODEL,
    LlmConfig,
    LlmConnector,
    LlmRequest,
    LlmUnavailable,
    cost_usd,
)
from chalicelib.domain.ports import WorkspaceSettings

SETTINGS_NAME = "llm"
COST_RESET_NAME = "llm_cost_reset"
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "bedrock": "anthropic.claude-3-5-haiku-20241022-v1:0"}


def _context(workspace_id: str) -> dict[str, str]:
    return {"workspace": workspace_id, "purpose": "llm"}


@dataclass
class LlmSettingsService:
    """LLM settings per workspace, their test, and cost accounting."""

    settings: WorkspaceSettings
    cipher: CredentialCipher
    connector: LlmConnector
    usage: LlmUsageLog
    default: LlmConfig

    # --- settings ---------------------------------------------------------------------------
    def config(self, workspace_id: str) -> LlmConfig:
        """The effective configuration, with the key opened (for the engine only)."""
        stored = self.settings.get(workspace_id, SETTINGS_NAME)
        if not stored:
            return self.default
        data = dict(stored)
        sealed = data.pop("sealed_api_key", None)
        if sealed:
            data["api_key"] = self.cipher.open(sealed, _context(workspace_id)).decode()
        return LlmConfig.model_validate(data)

    def public(self, workspace_id: str) -> dict[str, Any]:
        """The configuration as the API shows it (the key only as ``api_key_set``)."""
        stored = self.settings.get(workspace_id, SETTINGS_NAME)
        config = self.config(workspace_id)
        return {**config.public(), "configured": bool(stored),
                "source": "workspace" if stored else "deployment default"}

    def update(self, workspace_id: str, body: Any, *, replace: bool = False) -> dict[str, Any]:
        """Change the settings; fields not sent keep their value unless ``replace``."""
        if not isinstance(body, dict):
            raise BadRequest("request body must be a JSON object", code="invalid_body")
        current = {} if replace else self.config(workspace_id).model_dump()
        merged = {**current, **{k: v for k, v in body.items() if v is not None}}
        if body.get("provider") and "model" not in body and body["provider"] != "builtin":
            merged["model"] = DEFAULT_MODELS.get(body["provider"], merged.get("model"))
        if merged.get("provider") == "builtin":
            merged["model"] = BUILTIN_MODEL
        config = self._validated(merged)
        stored = config.model_dump(exclude={"api_key"})
        if config.api_key:
            stored["sealed_api_key"] = self.cipher.seal(config.api_key.encode(),
                                                        _context(workspace_id))
        self.settings.put(workspace_id, SETTINGS_NAME, stored)
        return self.public(workspace_id)

    @staticmethod
    def _validated(data: dict[str, Any]) -> LlmConfig:
        try:
            return LlmConfig.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValidationFailed(f"invalid LLM settings: {where}: {first['msg']}",
                                   code="invalid_llm_settings") from None

    def reset(self, workspace_id: str) -> dict[str, Any]:
        """Forget the workspace's settings (the deployment default applies again)."""
        self.settings.put(workspace_id, SETTINGS_NAME, {})
        return self.public(workspace_id)

    # --- tests and models -------------------------------------------------------------------
    def test(self, workspace_id: str, body: Any = None) -> dict[str, Any]:
        """Ask the provider for a one-word answer; say whether and how fast it answered."""
        config = self.config(workspace_id)
        if isinstance(body, dict) and body:
            config = self._validated({**config.model_dump(), **body})
        if not config.uses_llm:
            return {"success": True, "status": "connected", "provider": "builtin",
                    "model": BUILTIN_MODEL, "message": "the builtin engine needs no connection",
                    "latency_ms": 0.0}
        started = time.perf_counter()
        try:
            reply = self.connector.connect(config).complete(LlmRequest(
                system="Answer with the single word OK.", user="ping", max_output_tokens=5))
        except LlmUnavailable as exc:
            return {"success": False, "status": "error", "provider": config.provider,
                    "model": config.model, "message": exc.message, "code": exc.code}
        self.record(workspace_id, config, reply, "test", ok=True)
        return {"success": True, "status": "connected", "provider": config.provider,
                "model": reply.model or config.model, "message": "the provider answered",
                "latency_ms": round((time.perf_counter() - started) * 1000, 1)}

    def models(self, workspace_id: str) -> dict[str, Any]:
        """Models the configured provider offers (queried live)."""
        config = self.config(workspace_id)
        if not config.uses_llm:
            return {"provider": "builtin", "models": [{"id": BUILTIN_MODEL}]}
        ids = self.connector.connect(config).models()
        return {"provider": config.provider, "models": [{"id": m} for m in ids]}

    # --- cost -------------------------------------------------------------------------------
    def record(self, workspace_id: str, config: LlmConfig, reply: Any, use_case: str,
               *, ok: bool, error: str | None = None) -> dict[str, Any]:
        """Account for one call (a failed call records no tokens)."""
        usage = {"at": now_iso(), "provider": config.provider, "model": config.model,
                 "use_case": use_case, "ok": ok, "error": error,
                 "input_tokens": getattr(reply, "input_tokens", 0) if reply else 0,
                 "output_tokens": getattr(reply, "output_tokens", 0) if reply else 0,
                 "cost_usd": cost_usd(config, reply) if reply else 0.0}
        self.usage.record(workspace_id, usage)
        return usage

    def _window_start(self, workspace_id: str, days: int) -> str:
        start = iso(utcnow() - timedelta(days=days))
        reset = (self.settings.get(workspace_id, COST_RESET_NAME) or {}).get("at")
        return max(start, reset) if reset else start

    def cost_summary(self, workspace_id: str, days: int = 30) -> dict[str, Any]:
        """Calls, tokens and cost since the later of ``days`` ago and the last reset."""
        since = self._window_start(workspace_id, days)
        records = self.usage.since(workspace_id, since)
        by_model: dict[str, dict[str, Any]] = {}
        for r in records:
            row = by_model.setdefault(f"{r['provider']}/{r['model']}", {
                "provider": r["provider"], "model": r["model"], "calls": 0, "failed_calls": 0,
                "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0})
            row["calls"] += 1
            row["failed_calls"] += 0 if r.get("ok") else 1
            row["input_tokens"] += r.get("input_tokens", 0)
            row["output_tokens"] += r.get("output_tokens", 0)
            row["cost_usd"] = round(row["cost_usd"] + r.get("cost_usd", 0.0), 6)
        return {"since": since, "days": days, "total_calls": len(records),
                "total_input_tokens": sum(r["input_tokens"] for r in by_model.values()),
                "total_output_tokens": sum(r["output_tokens"] for r in by_model.values()),
                "total_cost_usd": round(sum(r["cost_usd"] for r in by_model.values()), 6),
                "by_model": sorted(by_model.values(), key=lambda r: -r["cost_usd"])}

    def cost_reset(self, workspace_id: str, actor: str) -> dict[str, Any]:
        """Start counting from now; the records themselves are kept for the export."""
        at = now_iso()
        self.settings.put(workspace_id, COST_RESET_NAME, {"at": at, "by": actor})
        return {"success": True, "reset_at": at}

    def cost_export(self, workspace_id: str, days: int = 90, fmt: str = "csv") -> str | list:
        """Every usage record of the last ``days`` days, as CSV or a JSON list."""
        records = self.usage.since(workspace_id, iso(utcnow() - timedelta(days=days)))
        if fmt == "json":
            return records
        out = io.StringIO()
        fields = ["at", "provider", "model", "use_case", "ok", "input_tokens",
                  "output_tokens", "cost_usd", "error"]
        writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
        return out.getvalue()
