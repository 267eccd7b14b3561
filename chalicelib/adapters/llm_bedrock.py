"""Amazon Bedrock through the Converse API (boto3, created only when configured).

Structured output is a forced tool call: the schema is the tool's input schema and the
tool's input is the answer. Credentials are the process's AWS credentials (the Lambda role);
``config.base_url``, when set, is the bedrock-runtime endpoint (a VPC endpoint, say).
"""

from __future__ import annotations

import json
import time
from typing import Any

from chalicelib.adapters.aws import error_code
from chalicelib.config import get_settings
from chalicelib.domain.llm import LlmClient, LlmConfig, LlmReply, LlmRequest, LlmUnavailable

CONNECT_TIMEOUT = 3.0
MAX_DETAIL = 300
# AWS error codes that mean something the caller can act on; anything else is llm_error.
_CODES = {
    "ThrottlingException": "llm_rate_limited",
    "TooManyRequestsException": "llm_rate_limited",
    "ServiceQuotaExceededException": "llm_rate_limited",
    "AccessDeniedException": "llm_unauthorized",
    "UnrecognizedClientException": "llm_unauthorized",
    "ExpiredTokenException": "llm_unauthorized",
    "InvalidSignatureException": "llm_unauthorized",
    "ModelTimeoutException": "llm_timeout",
}
_ADVICE = {
    "llm_rate_limited": "retry later or raise the account's Bedrock quota",
    "llm_unauthorized": "grant the Lambda role bedrock:InvokeModel on this model and enable "
                        "model access in the Bedrock console",
    "llm_timeout": "raise timeout_seconds or use a faster model",
}


def _boto_client(service: str, config: LlmConfig, endpoint_url: str | None = None) -> Any:
    import boto3
    from botocore.config import Config

    # botocore's "max_attempts" counts retries only; "total_max_attempts" counts the first try.
    return boto3.client(
        service,
        region_name=config.region or get_settings().region,
        endpoint_url=endpoint_url,
        config=Config(connect_timeout=min(CONNECT_TIMEOUT, config.timeout_seconds),
                      read_timeout=config.timeout_seconds,
                      retries={"total_max_attempts": config.max_retries + 1,
                               "mode": "standard"}),
    )


class BedrockClient(LlmClient):
    """A Bedrock model answering through ``converse``."""

    provider = "bedrock"

    def __init__(self, config: LlmConfig, *, runtime: Any = None, control: Any = None) -> None:
        self.model = config.model
        self._config = config
        self._runtime = runtime or _boto_client("bedrock-runtime", config, config.base_url)
        self._control = control

    def complete(self, request: LlmRequest) -> LlmReply:
        """Answer one request; structured when ``request.json_schema`` is set."""
        started = time.perf_counter()
        response = self._call(self._runtime.converse, **self._arguments(request))
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        text = _answer_text(response, request)
        if not text:
            raise LlmUnavailable(f"Bedrock model {self.model} returned no text "
                                 f"(stop reason {response.get('stopReason', 'unknown')})",
                                 code="llm_error", provider=self.provider)
        usage = response.get("usage") or {}
        return LlmReply(text=text, model=self.model,
                        input_tokens=int(usage.get("inputTokens") or 0),
                        output_tokens=int(usage.get("outputTokens") or 0),
                        latency_ms=latency_ms)

    def models(self) -> list[str]:
        """Ids of the region's foundation models that answer with text."""
        if self._control is None:
            self._control = _boto_client("bedrock", self._config)
        response = self._call(self._control.list_foundation_models, byOutputModality="TEXT")
        return sorted(summary["modelId"] for summary in response.get("modelSummaries", []))

    def _arguments(self, request: LlmRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "modelId": self.model,
            "system": [{"text": request.system}],
            "messages": [{"role": "user", "content": [{"text": request.user}]}],
            "inferenceConfig": {
                "maxTokens": min(request.max_output_tokens, self._config.max_output_tokens),
                "temperature": request.temperature,
            },
        }
        if request.json_schema is not None:
            name = request.schema_name
            arguments["toolConfig"] = {
                "tools": [{"toolSpec": {
                    "name": name,
                    "description": f"Record the {name} as structured data.",
                    "inputSchema": {"json": request.json_schema},
                }}],
                "toolChoice": {"tool": {"name": name}},
            }
        return arguments

    def _call(self, operation: Any, **arguments: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return operation(**arguments)
        except ClientError as exc:
            raise self._client_error(exc) from exc
        except BotoCoreError as exc:
            raise self._transport_error(exc) from exc

    def _client_error(self, exc: Exception) -> LlmUnavailable:
        aws_code = error_code(exc) or "error"
        code = _CODES.get(aws_code, "llm_error")
        message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", ""))
        advice = _ADVICE.get(code) or message[:MAX_DETAIL] or "see the Bedrock console"
        return LlmUnavailable(f"Bedrock model {self.model} failed ({aws_code}): {advice}",
                              code=code, provider=self.provider)

    def _transport_error(self, exc: Exception) -> LlmUnavailable:
        from botocore.exceptions import (
            ConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
            ReadTimeoutError,
        )

        region = self._runtime.meta.region_name
        if isinstance(exc, ReadTimeoutError):
            message, code = (f"Bedrock model {self.model} did not answer within "
                             f"{self._config.timeout_seconds:g}s; {_ADVICE['llm_timeout']}",
                             "llm_timeout")
        elif isinstance(exc, ConnectionError):
            message, code = (f"could not connect to Bedrock in {region}; check the region "
                             "and the network path (VPC endpoint, NAT)", "llm_unreachable")
        elif isinstance(exc, NoCredentialsError | PartialCredentialsError):
            message, code = ("no AWS credentials to call Bedrock with; run Drover with a role "
                             "allowed bedrock:InvokeModel", "llm_unauthorized")
        else:
            message, code = f"Bedrock call failed ({type(exc).__name__})", "llm_error"
        return LlmUnavailable(message, code=code, provider=self.provider)


def _answer_text(response: dict[str, Any], request: LlmRequest) -> str:
    """The forced tool call's input as JSON, else the text blocks joined."""
    blocks = ((response.get("output") or {}).get("message") or {}).get("content") or []
    if request.json_schema is not None:
        for block in blocks:
            tool_use = block.get("toolUse")
            if tool_use and tool_use.get("name") == request.schema_name:
                return json.dumps(tool_use.get("input"))
    return "".join(block["text"] for block in blocks if "text" in block).strip()
