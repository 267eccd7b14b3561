"""The OpenAI adapter, driving the official ``openai`` client against a fake
OpenAI-compatible server over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters.llm_factory import DefaultLlmConnector
from chalicelib.adapters.llm_openai import OpenAiClient
from chalicelib.domain.diagnosis import LlmDiagnosis, llm_json_schema
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.llm import LlmConfig, LlmRequest, LlmUnavailable
from tests.fake_llm import FakeOpenAIServer

pytestmark = pytest.mark.integration
KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def client_for(server: FakeOpenAIServer, **settings: Any) -> OpenAiClient:
    """An adapter for the fake server (no retries unless asked)."""
    settings.setdefault("max_retries", 0)
    settings.setdefault("timeout_seconds", 5)
    return OpenAiClient(LlmConfig(provider="openai", model="fake-gpt", base_url=server.url,
                                  **settings))


def structured(user: str = "Pod shop/api-7f9 restarts with exit code 137") -> LlmRequest:
    """A diagnosis request asking for the LlmDiagnosis schema."""
    return LlmRequest(system="You diagnose Kubernetes failures. Answer in JSON.", user=user,
                      json_schema=llm_json_schema(), max_output_tokens=500)


def unavailable(client: OpenAiClient, request: LlmRequest | None = None) -> LlmUnavailable:
    """The error a completion raises."""
    with pytest.raises(LlmUnavailable) as caught:
        client.complete(request or structured())
    return caught.value


def test_a_structured_answer_parses_as_an_llm_diagnosis(server: FakeOpenAIServer) -> None:
    reply = client_for(server).complete(structured())

    diagnosis = LlmDiagnosis.model_validate_json(reply.text)
    assert diagnosis.category == "OOMKilled"
    assert reply.model == "fake-gpt"


def test_the_request_asks_for_json_schema_output_with_the_prompt(
        server: FakeOpenAIServer) -> None:
    client_for(server).complete(structured("exit code 137 in shop/api"))

    sent = server.requests[-1]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["name"] == "diagnosis"
    assert sent["response_format"]["json_schema"]["schema"] == llm_json_schema()
    assert sent["max_tokens"] == 500
    assert sent["temperature"] == 0.0
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["messages"][1]["content"] == "exit code 137 in shop/api"


def test_a_plain_request_sends_no_response_format(server: FakeOpenAIServer) -> None:
    server.answer = "Probably an OOM kill."
    reply = client_for(server).complete(LlmRequest(system="Be brief.", user="exit 137?"))

    assert reply.text == "Probably an OOM kill."
    assert "response_format" not in server.requests[-1]


def test_a_server_refusing_json_schema_is_asked_for_json_object_with_the_schema_in_the_prompt(
        server: FakeOpenAIServer) -> None:
    server.reject_json_schema = True
    client = client_for(server)

    reply = client.complete(structured())

    assert LlmDiagnosis.model_validate_json(reply.text).category == "OOMKilled"
    first, second = server.requests
    assert first["response_format"]["type"] == "json_schema"
    assert second["response_format"] == {"type": "json_object"}
    assert '"root_cause"' in second["messages"][0]["content"]
    assert client.json_schema_supported is False


def test_after_a_fallback_the_client_asks_for_json_object_straight_away(
        server: FakeOpenAIServer) -> None:
    server.reject_json_schema = True
    client = client_for(server)
    client.complete(structured())

    client.complete(structured())

    assert [r["response_format"]["type"] for r in server.requests] == [
        "json_schema", "json_object", "json_object"]


def test_a_server_slower_than_the_timeout_is_llm_timeout(server: FakeOpenAIServer) -> None:
    server.delay_seconds = 3
    error = unavailable(client_for(server, timeout_seconds=0.5))

    assert error.code == "llm_timeout"
    assert error.status == 503
    assert "0.5s" in error.message


def test_a_server_error_is_retried(server: FakeOpenAIServer) -> None:
    server.fail_next(1)
    reply = client_for(server, max_retries=1).complete(structured())

    assert LlmDiagnosis.model_validate_json(reply.text).category == "OOMKilled"
    assert len(server.requests) == 2


def test_server_errors_that_outlast_the_retries_are_llm_error(
        server: FakeOpenAIServer) -> None:
    server.fail_next(2, status=500)
    error = unavailable(client_for(server, max_retries=1))

    assert error.code == "llm_error"
    assert "500" in error.message
    assert len(server.requests) == 2


def test_a_rate_limit_is_llm_rate_limited(server: FakeOpenAIServer) -> None:
    server.fail_next(1, status=429)
    assert unavailable(client_for(server)).code == "llm_rate_limited"


def test_a_wrong_key_is_llm_unauthorized_and_the_message_hides_the_key(
        server: FakeOpenAIServer) -> None:
    server.require_key = "sk-the-right-one"
    error = unavailable(client_for(server, api_key=KEY))

    assert error.code == "llm_unauthorized"
    assert KEY not in error.message
    assert KEY not in str(error.to_body())


def test_the_right_key_is_sent_as_a_bearer_token(server: FakeOpenAIServer) -> None:
    server.require_key = KEY
    reply = client_for(server, api_key=KEY).complete(structured())

    assert reply.text


def test_an_unreachable_server_is_llm_unreachable() -> None:
    with FakeOpenAIServer() as fake:
        url = fake.url
    config = LlmConfig(provider="openai", model="m", base_url=url, max_retries=0)

    with pytest.raises(LlmUnavailable) as caught:
        OpenAiClient(config).complete(structured())

    assert caught.value.code == "llm_unreachable"
    assert "127.0.0.1" in caught.value.message


def test_usage_tokens_are_the_servers_counts(server: FakeOpenAIServer) -> None:
    reply = client_for(server).complete(structured())

    usage = server.responses[-1]["usage"]
    assert (reply.input_tokens, reply.output_tokens) == (
        usage["prompt_tokens"], usage["completion_tokens"])
    assert reply.input_tokens > 0
    assert reply.latency_ms > 0


def test_a_responder_sees_the_request_and_shapes_the_answer(server: FakeOpenAIServer) -> None:
    server.responder = lambda body: {"echo": body["messages"][1]["content"]}

    reply = client_for(server).complete(structured("hello"))

    assert reply.text == '{"echo": "hello"}'


def test_an_empty_answer_is_llm_error(server: FakeOpenAIServer) -> None:
    server.answer = ""
    assert unavailable(client_for(server)).code == "llm_error"


def test_models_are_listed_sorted(server: FakeOpenAIServer) -> None:
    server.models_list = ["llama3.1:8b", "gpt-4o-mini"]
    assert client_for(server).models() == ["gpt-4o-mini", "llama3.1:8b"]


def test_the_connector_builds_an_openai_client_for_a_base_url(
        server: FakeOpenAIServer) -> None:
    config = LlmConfig(provider="openai", model="fake-gpt", base_url=server.url)
    connector = DefaultLlmConnector()

    client = connector.connect(config)

    assert isinstance(client, OpenAiClient)
    assert connector.connect(config) is client
    assert client.complete(structured()).text


@pytest.mark.parametrize("config", [LlmConfig(), LlmConfig(provider="openai", model="gpt")])
def test_the_connector_refuses_configurations_without_a_client(config: LlmConfig) -> None:
    with pytest.raises(ValidationFailed) as caught:
        DefaultLlmConnector().connect(config)
    assert caught.value.code == "llm_not_configured"
