"""The Bedrock adapter against botocore's Stubber: the Converse requests it makes, the
answers it reads and the errors it reports (no sockets)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.stub import ANY, Stubber

from chalicelib.adapters.llm_bedrock import BedrockClient
from chalicelib.adapters.llm_factory import DefaultLlmConnector
from chalicelib.domain.diagnosis import LlmDiagnosis, llm_json_schema
from chalicelib.domain.llm import LlmConfig, LlmRequest, LlmUnavailable
from tests.fake_llm import DEFAULT_ANSWER

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
CONFIG = LlmConfig(provider="bedrock", model=MODEL, region="us-west-2", max_output_tokens=800)


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def runtime() -> Iterator[Stubber]:
    client = boto3.client("bedrock-runtime", region_name="us-west-2")
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def control() -> Iterator[Stubber]:
    client = boto3.client("bedrock", region_name="us-west-2")
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def bedrock(runtime: Stubber, control: Stubber | None = None) -> BedrockClient:
    """The adapter on stubbed clients."""
    return BedrockClient(CONFIG, runtime=runtime.client,
                         control=control.client if control else None)


def converse_response(*blocks: dict[str, Any], stop: str = "end_turn") -> dict[str, Any]:
    """A Converse answer holding content blocks."""
    return {"output": {"message": {"role": "assistant", "content": list(blocks)}},
            "stopReason": stop, "usage": {"inputTokens": 812, "outputTokens": 143,
                                          "totalTokens": 955},
            "metrics": {"latencyMs": 900}}


def structured() -> LlmRequest:
    """A diagnosis request asking for the LlmDiagnosis schema."""
    return LlmRequest(system="You diagnose Kubernetes failures.", user="exit code 137",
                      json_schema=llm_json_schema(), max_output_tokens=1000)


def raises(client: BedrockClient, request: LlmRequest | None = None) -> LlmUnavailable:
    """The error a completion raises."""
    with pytest.raises(LlmUnavailable) as caught:
        client.complete(request or structured())
    return caught.value


def test_a_forced_tool_call_is_the_structured_answer(runtime: Stubber) -> None:
    tool_use = {"toolUse": {"toolUseId": "t1", "name": "diagnosis", "input": DEFAULT_ANSWER}}
    expected = {
        "modelId": MODEL,
        "system": [{"text": "You diagnose Kubernetes failures."}],
        "messages": [{"role": "user", "content": [{"text": "exit code 137"}]}],
        "inferenceConfig": {"maxTokens": 800, "temperature": 0.0},
        "toolConfig": {"tools": [{"toolSpec": {"name": "diagnosis", "description": ANY,
                                               "inputSchema": {"json": llm_json_schema()}}}],
                       "toolChoice": {"tool": {"name": "diagnosis"}}},
    }
    runtime.add_response("converse", converse_response(tool_use, stop="tool_use"), expected)

    reply = bedrock(runtime).complete(structured())

    assert LlmDiagnosis.model_validate_json(reply.text).category == "OOMKilled"
    assert json.loads(reply.text) == DEFAULT_ANSWER
    assert (reply.model, reply.input_tokens, reply.output_tokens) == (MODEL, 812, 143)


def test_a_plain_request_reads_the_text_blocks_without_tools(runtime: Stubber) -> None:
    expected = {"modelId": MODEL, "system": ANY, "messages": ANY,
                "inferenceConfig": {"maxTokens": 300, "temperature": 0.2}}
    runtime.add_response("converse", converse_response({"text": "The container was "},
                                                       {"text": "OOM killed."}), expected)

    reply = bedrock(runtime).complete(LlmRequest(system="Be brief.", user="exit 137?",
                                                 max_output_tokens=300, temperature=0.2))

    assert reply.text == "The container was OOM killed."


def test_a_model_answering_in_text_instead_of_the_tool_still_answers(
        runtime: Stubber) -> None:
    runtime.add_response("converse", converse_response({"text": json.dumps(DEFAULT_ANSWER)}))

    reply = bedrock(runtime).complete(structured())

    assert LlmDiagnosis.model_validate_json(reply.text).category == "OOMKilled"


def test_an_answer_with_no_text_is_llm_error(runtime: Stubber) -> None:
    runtime.add_response("converse", converse_response(stop="max_tokens"))
    error = raises(bedrock(runtime))
    assert error.code == "llm_error"
    assert "max_tokens" in error.message


@pytest.mark.parametrize(("aws_code", "code"), [
    ("ThrottlingException", "llm_rate_limited"),
    ("AccessDeniedException", "llm_unauthorized"),
    ("ModelTimeoutException", "llm_timeout"),
    ("ValidationException", "llm_error"),
])
def test_bedrock_errors_map_to_codes_a_caller_can_act_on(runtime: Stubber, aws_code: str,
                                                         code: str) -> None:
    runtime.add_client_error("converse", service_error_code=aws_code,
                             service_message="The model said no", http_status_code=400)

    error = raises(bedrock(runtime))

    assert (error.code, error.status) == (code, 503)
    assert aws_code in error.message


def test_access_denied_says_what_permission_to_grant(runtime: Stubber) -> None:
    runtime.add_client_error("converse", service_error_code="AccessDeniedException",
                             http_status_code=403)
    assert "bedrock:InvokeModel" in raises(bedrock(runtime)).message


class _Failing:
    """A runtime client whose calls raise a transport error."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.meta = type("Meta", (), {"region_name": "us-west-2"})()

    def converse(self, **_: Any) -> Any:
        raise self.error


@pytest.mark.parametrize(("error", "code"), [
    (ReadTimeoutError(endpoint_url="https://bedrock-runtime"), "llm_timeout"),
    (EndpointConnectionError(endpoint_url="https://bedrock-runtime"), "llm_unreachable"),
])
def test_transport_failures_are_timeout_or_unreachable(error: Exception, code: str) -> None:
    client = BedrockClient(CONFIG, runtime=_Failing(error))
    assert raises(client).code == code


def test_models_lists_the_text_models_sorted(runtime: Stubber, control: Stubber) -> None:
    summaries = [{"modelArn": f"arn:aws:bedrock:us-west-2::foundation-model/{m}",
                  "modelId": m} for m in ("meta.llama3-70b-instruct-v1:0", MODEL)]
    control.add_response("list_foundation_models", {"modelSummaries": summaries},
                         {"byOutputModality": "TEXT"})

    assert bedrock(runtime, control).models() == [MODEL, "meta.llama3-70b-instruct-v1:0"]


def test_listing_models_without_permission_is_llm_unauthorized(runtime: Stubber,
                                                               control: Stubber) -> None:
    control.add_client_error("list_foundation_models",
                             service_error_code="AccessDeniedException", http_status_code=403)
    with pytest.raises(LlmUnavailable) as caught:
        bedrock(runtime, control).models()
    assert caught.value.code == "llm_unauthorized"


def test_the_connector_builds_a_client_with_the_configured_region_and_timeouts() -> None:
    config = CONFIG.model_copy(update={"timeout_seconds": 12.0, "max_retries": 1})

    client = DefaultLlmConnector().connect(config)

    assert isinstance(client, BedrockClient)
    meta = client._runtime.meta
    assert meta.region_name == "us-west-2"
    assert meta.config.read_timeout == 12.0
    assert meta.config.retries["total_max_attempts"] == 2
