"""Amazon SNS envelopes (HTTP(S) subscription or Lambda event) around another payload."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.models import Alert
from chalicelib.plugins.normalizers.base import (
    MAX_DESCRIPTION,
    NormalizeContext,
    Normalized,
    Normalizer,
    clip,
    parse_model,
    stable_fingerprint,
    to_time,
)

MAX_MESSAGE = 256 * 1024  # SNS's own message size limit
FIRST_LINE = 200
# Sources an SNS message is never handed to: the fallback, and SNS itself (no nesting).
NOT_DELEGATED = frozenset({"webhook", "sns"})


class Envelope(BaseModel):
    """An SNS message; the Lambda form spells two URL keys differently."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"] = (
        Field(alias="Type"))
    message_id: str | None = Field(default=None, alias="MessageId", max_length=256)
    topic_arn: str | None = Field(default=None, alias="TopicArn", max_length=1024)
    subject: str | None = Field(default=None, alias="Subject", max_length=1024)
    message: str | None = Field(default=None, alias="Message", max_length=MAX_MESSAGE)
    timestamp: str | None = Field(default=None, alias="Timestamp")
    token: str | None = Field(default=None, alias="Token", max_length=4096)
    subscribe_url: str | None = Field(default=None, alias="SubscribeURL", max_length=4096)


class Record(BaseModel):
    """One record of an SNS-triggered Lambda event."""

    model_config = ConfigDict(extra="ignore")

    Sns: Envelope


class LambdaEvent(BaseModel):
    """The event SNS gives a Lambda function."""

    model_config = ConfigDict(extra="ignore")

    Records: list[Record] = Field(min_length=1, max_length=100)


class SnsNormalizer(Normalizer):
    """SNS: confirmations are control messages; notifications are read by their content."""

    NAME = "sns"
    SEVERITY_MAP: ClassVar[Mapping[str, str]] = {}
    STATUS_MAP: ClassVar[Mapping[str, str]] = {}
    # Only for messages no other normalizer recognises (plain text).
    FINGERPRINT_FIELDS = ("TopicArn", "Subject")

    def read(self, payload: Any, context: NormalizeContext) -> Normalized:
        """Classify the envelope; a recognised Message is read by its own normalizer."""
        if isinstance(payload, Mapping) and "Records" in payload:
            records = parse_model(LambdaEvent, payload, self.NAME).Records
            results = [self._envelope(r.Sns, context) for r in records]
            if len(results) == 1:
                return results[0]
            alerts = tuple(a for r in results for a in r.alerts)
            # Lambda batches one message per invocation today; keep the first's kind if empty.
            return Normalized("alerts", alerts) if alerts else results[0]
        return self._envelope(parse_model(Envelope, payload, self.NAME), context)

    def _envelope(self, envelope: Envelope, context: NormalizeContext) -> Normalized:
        if envelope.type != "Notification":
            control = {"type": envelope.type, "topic_arn": envelope.topic_arn,
                       "subscribe_url": envelope.subscribe_url, "token": envelope.token,
                       "message_id": envelope.message_id}
            return Normalized("control", reason=f"SNS {envelope.type}: a message about the "
                              "subscription, not an alert", control=control,
                              delivery_id=envelope.message_id)
        delegated = self._delegate(envelope.message, context)
        if delegated is not None:
            return dataclasses.replace(
                delegated, delivery_id=envelope.message_id or delegated.delivery_id)
        return Normalized("alerts", (self._text_alert(envelope, context),),
                          delivery_id=envelope.message_id)

    @staticmethod
    def _delegate(message: str | None, context: NormalizeContext) -> Normalized | None:
        """Read a JSON message another normalizer recognises; None if none does."""
        from chalicelib.plugins.normalizers import REGISTRY, detect_source

        content = (message or "").strip()
        if not content.startswith("{"):
            return None
        try:
            inner = json.loads(content)
        except (ValueError, RecursionError):
            return None
        source = detect_source(inner)
        if source in NOT_DELEGATED:
            return None
        try:
            return REGISTRY[source].read(inner, context)
        except ValidationFailed:
            return None  # looked like that source but is not: keep it as a text alert

    def _text_alert(self, envelope: Envelope, context: NormalizeContext) -> Alert:
        message = envelope.message or ""
        first_line = next((line.strip() for line in message.splitlines() if line.strip()), "")
        title = (envelope.subject or "").strip() or clip(first_line, FIRST_LINE) or (
            "SNS notification")
        return Alert(
            integration=self.NAME,
            source=self.NAME,
            title=clip(title),
            description=clip(message, MAX_DESCRIPTION),
            fingerprint=stable_fingerprint({"topic": envelope.topic_arn, "subject": title}),
            cluster=context.cluster,
            labels={k: v for k, v in {"topic_arn": envelope.topic_arn,
                                      "subject": envelope.subject}.items() if v},
            starts_at=to_time(envelope.timestamp),
        )


NORMALIZER = SnsNormalizer()
