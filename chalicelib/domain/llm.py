"""LLM providers as the engine sees them: a configuration, a request, a reply, two ports.

``builtin`` needs no client; ``openai`` (any OpenAI-compatible base URL) and ``bedrock``
(the Converse API) are adapters behind :class:`LlmClient`, imported only when configured.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.domain.errors import DependencyUnavailable

Provider = Literal["builtin", "openai", "bedrock"]
PROVIDERS: tuple[str, ...] = ("builtin", "openai", "bedrock")
BUILTIN_MODEL = "builtin-rules"


class LlmConfig(BaseModel):
    """A workspace's provider settings. ``api_key`` is write-only: never stored in clear,
    returned or logged (see :meth:`public`)."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider = "builtin"
    model: str = Field(default=BUILTIN_MODEL, min_length=1, max_length=200)
    base_url: str | None = Field(default=None, max_length=500)
    api_key: str | None = Field(default=None, max_length=4000, repr=False)
    region: str | None = Field(default=None, max_length=40)
    timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    max_retries: int = Field(default=2, ge=0, le=5)
    max_output_tokens: int = Field(default=1200, ge=100, le=8000)
    # USD per 1,000 tokens, for cost accounting; 0 when unknown (e.g. a local model).
    input_cost_per_1k: float = Field(default=0.0, ge=0, le=100)
    output_cost_per_1k: float = Field(default=0.0, ge=0, le=100)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/") if value else value

    def public(self) -> dict[str, Any]:
        """The settings as the API shows them: the key only as whether one is set."""
        data = self.model_dump(exclude={"api_key"})
        data["api_key_set"] = bool(self.api_key)
        return data

    @property
    def uses_llm(self) -> bool:
        """Whether diagnoses go through an LLM at all."""
        return self.provider != "builtin"


class LlmSettingsFields(BaseModel):
    """The settings a client may send to change a provider (all optional; unknown ignored)."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(default=None, max_length=200)
    base_url: str | None = Field(default=None, max_length=500)
    api_key: str | None = Field(default=None, max_length=4000, repr=False)
    region: str | None = Field(default=None, max_length=40)
    timeout_seconds: float | None = None
    max_retries: int | None = None
    max_output_tokens: int | None = None
    input_cost_per_1k: float | None = None
    output_cost_per_1k: float | None = None


class LlmRequest(BaseModel):
    """One completion: a system prompt, the (fenced, redacted) user content, and the JSON
    schema the answer must follow when structured output is wanted."""

    system: str
    user: str
    json_schema: dict[str, Any] | None = None
    schema_name: str = "diagnosis"
    max_output_tokens: int = 1200
    temperature: float = 0.0


class LlmReply(BaseModel):
    """The model's text and what it cost."""

    text: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0


class LlmUnavailable(DependencyUnavailable):
    """The LLM could not answer (down, timed out, refused the key, rate limited)."""

    code = "llm_unavailable"


class LlmClient(ABC):
    """A chat model that answers one request at a time."""

    provider: str
    model: str

    @abstractmethod
    def complete(self, request: LlmRequest) -> LlmReply:
        """Answer a request (raises LlmUnavailable on timeout, HTTP or auth errors)."""

    @abstractmethod
    def models(self) -> list[str]:
        """Model ids the provider offers (raises LlmUnavailable)."""


class LlmConnector(ABC):
    """Builds a client for a configuration."""

    @abstractmethod
    def connect(self, config: LlmConfig) -> LlmClient:
        """A client for ``config`` (ValidationFailed if it cannot be used)."""


def cost_usd(config: LlmConfig, reply: LlmReply) -> float:
    """What a reply cost at the configured prices."""
    return round(reply.input_tokens / 1000 * config.input_cost_per_1k
                 + reply.output_tokens / 1000 * config.output_cost_per_1k, 6)
