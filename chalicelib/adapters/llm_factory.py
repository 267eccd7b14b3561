"""Builds the LLM client a workspace's configuration asks for, importing only that adapter."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.llm import LlmClient, LlmConfig, LlmConnector

MAX_CACHED_CLIENTS = 16


class DefaultLlmConnector(LlmConnector):
    """OpenAI-compatible and Bedrock clients, reused per configuration within a process
    (creating one costs an import and an HTTP pool, too much for every diagnosis)."""

    def __init__(self) -> None:
        self._clients: OrderedDict[str, LlmClient] = OrderedDict()
        self._lock = threading.Lock()

    def connect(self, config: LlmConfig) -> LlmClient:
        """A client for ``config`` (ValidationFailed if it cannot be used)."""
        _check(config)
        # A digest, so the cache's keys do not hold the API key in clear.
        key = hashlib.sha256(config.model_dump_json().encode()).hexdigest()
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
        client = _build(config)
        with self._lock:
            self._clients[key] = client
            while len(self._clients) > MAX_CACHED_CLIENTS:
                self._clients.popitem(last=False)
        return client


def _check(config: LlmConfig) -> None:
    if config.provider == "builtin":
        raise ValidationFailed("provider 'builtin' answers from Drover's own rules and needs "
                               "no LLM client; choose 'openai' or 'bedrock' to use a model",
                               code="llm_not_configured")
    if config.provider == "openai" and not config.base_url and not config.api_key:
        raise ValidationFailed("provider 'openai' needs an api_key (for api.openai.com) or a "
                               "base_url (for an OpenAI-compatible server such as Azure, "
                               "Ollama or vLLM)", code="llm_not_configured")


def _build(config: LlmConfig) -> LlmClient:
    if config.provider == "openai":
        from chalicelib.adapters.llm_openai import OpenAiClient

        return OpenAiClient(config)
    from chalicelib.adapters.llm_bedrock import BedrockClient

    return BedrockClient(config)
