"""A fake OpenAI-compatible server for tests: chat completions and the model list in the
real wire format, with canned or computed answers and fault injection."""

from __future__ import annotations

from tests.fake_llm.server import DEFAULT_ANSWER, FakeOpenAIServer

__all__ = ["DEFAULT_ANSWER", "FakeOpenAIServer"]
