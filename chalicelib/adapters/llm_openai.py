"""Any OpenAI-compatible chat endpoint (OpenAI, Azure, Ollama, vLLM) through the official
``openai`` client, imported only when a workspace configures this provider.

Structured output is asked for as ``json_schema``; servers that refuse it with a 400 (older
Ollama and vLLM) are asked again for a plain ``json_object`` with the schema in the prompt,
and the client remembers not to ask them for ``json_schema`` again. Every failure becomes
:class:`LlmUnavailable` with a code the caller can act on; the API key is never in a message.
"""

from __future__ import annotations

import json
import logging
import time
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from chalicelib.domain.llm import LlmClient, LlmConfig, LlmReply, LlmRequest, LlmUnavailable

logger = logging.getLogger("drover.llm")
DEFAULT_BASE_URL = "https://api.openai.com/v1"
OFFICIAL_HOST = "api.openai.com"
MAX_DETAIL = 300


class OpenAiClient(LlmClient):
    """A chat model behind an OpenAI-compatible base URL."""

    provider = "openai"

    def __init__(self, config: LlmConfig) -> None:
        import openai

        self.model = config.model
        self._config = config
        self._errors = openai
        base_url = config.base_url or DEFAULT_BASE_URL
        self._host = urlsplit(base_url).netloc.rpartition("@")[2] or base_url
        self._client = openai.OpenAI(base_url=base_url, api_key=config.api_key or "not-needed",
                                     timeout=config.timeout_seconds,
                                     max_retries=config.max_retries)
        # Official OpenAI rejects max_tokens for reasoning models; local servers may not
        # know max_completion_tokens yet.
        self._tokens_param = ("max_completion_tokens" if self._host == OFFICIAL_HOST
                              else "max_tokens")
        self.json_schema_supported = True

    def complete(self, request: LlmRequest) -> LlmReply:
        """Answer one request; structured when ``request.json_schema`` is set."""
        started = time.perf_counter()
        try:
            response = self._create(request)
        except self._errors.OpenAIError as exc:
            raise self._unavailable(exc) from exc
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        return self._reply(response, latency_ms)

    def models(self) -> list[str]:
        """Model ids the server lists."""
        try:
            return sorted(model.id for model in self._client.models.list())
        except self._errors.OpenAIError as exc:
            raise self._unavailable(exc) from exc

    # Requests

    def _create(self, request: LlmRequest) -> Any:
        if request.json_schema is None:
            return self._chat(request, None)
        if self.json_schema_supported:
            schema_format = {"type": "json_schema", "json_schema": {
                "name": request.schema_name, "schema": request.json_schema, "strict": False}}
            try:
                return self._chat(request, schema_format)
            except (self._errors.BadRequestError, self._errors.UnprocessableEntityError) as exc:
                logger.warning("LLM at %s refused json_schema output (%s); retrying with "
                               "json_object", self._host, exc.status_code)
        response = self._chat(request, {"type": "json_object"}, schema=request.json_schema)
        self.json_schema_supported = False
        return response

    def _chat(self, request: LlmRequest, response_format: dict[str, Any] | None,
              schema: dict[str, Any] | None = None) -> Any:
        system = request.system
        if schema is not None:
            # json_object mode checks only that the answer is JSON: the schema must be in
            # the prompt (and OpenAI requires the word JSON there).
            system += ("\n\nAnswer with one JSON object that follows this JSON schema:\n"
                       + json.dumps(schema, separators=(",", ":")))
        arguments: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": system},
                         {"role": "user", "content": request.user}],
            "temperature": request.temperature,
            self._tokens_param: min(request.max_output_tokens, self._config.max_output_tokens),
        }
        if response_format is not None:
            arguments["response_format"] = response_format
        return self._client.chat.completions.create(**arguments)

    def _reply(self, response: Any, latency_ms: float) -> LlmReply:
        choices = getattr(response, "choices", None) or []
        message = getattr(choices[0], "message", None) if choices else None
        text = getattr(message, "content", None)
        if not text:
            refusal = getattr(message, "refusal", None)
            reason = f"refused: {refusal[:MAX_DETAIL]}" if refusal else "returned no text"
            raise LlmUnavailable(f"the LLM at {self._host} {reason}", code="llm_error",
                                 provider=self.provider)
        if getattr(choices[0], "finish_reason", None) == "length":
            logger.warning("LLM answer from %s was cut at the token limit; raise "
                           "max_output_tokens", self._host)
        usage = getattr(response, "usage", None)
        return LlmReply(text=text, model=getattr(response, "model", None) or self.model,
                        input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                        latency_ms=latency_ms)

    # Errors

    def _unavailable(self, exc: Exception) -> LlmUnavailable:
        errors, host, tries = self._errors, self._host, self._config.max_retries + 1
        if isinstance(exc, errors.APITimeoutError):
            return self._error(f"the LLM at {host} did not answer within "
                               f"{self._config.timeout_seconds:g}s ({tries} attempt(s)); raise "
                               "timeout_seconds or use a faster model", "llm_timeout")
        if isinstance(exc, errors.APIConnectionError):
            return self._error(f"could not connect to the LLM at {host}; check base_url and "
                               "that the server is running and reachable", "llm_unreachable")
        status = int(getattr(exc, "status_code", 0) or 0)
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            # The server's own message may echo the key: leave it out.
            return self._error(f"the LLM at {host} refused the API key ({status}); set a "
                               "valid api_key in the LLM settings", "llm_unauthorized")
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            return self._error(f"the LLM at {host} is rate limiting Drover (429) after "
                               f"{tries} attempt(s); retry later or raise the quota",
                               "llm_rate_limited")
        where = f"answered {status}" if status else "failed"
        return self._error(f"the LLM at {host} {where}: {self._detail(exc)}", "llm_error")

    def _error(self, message: str, code: str) -> LlmUnavailable:
        return LlmUnavailable(message, code=code, provider=self.provider)

    def _detail(self, exc: Exception) -> str:
        body = getattr(exc, "body", None)
        detail = body.get("message") if isinstance(body, dict) else None
        text = str(detail or getattr(exc, "message", None) or type(exc).__name__)
        key = self._config.api_key
        if key:
            text = text.replace(key, "***")
        return text[:MAX_DETAIL]
