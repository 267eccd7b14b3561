"""Use case: an SNS HTTPS subscription delivering to ``POST /webhook/sns``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import BadRequest, Forbidden
from chalicelib.plugins.normalizers import NormalizeContext
from chalicelib.services.ingest import IngestService

Verifier = Callable[[Mapping[str, Any]], None]
Confirmer = Callable[[str], None]


@dataclass
class SnsHttpService:
    """Verifies every message, confirms allowlisted subscriptions, ingests notifications."""

    ingest: IngestService
    verify: Verifier
    confirm: Confirmer
    allowed_topics: Callable[[], tuple[str, ...]]

    def handle(self, workspace_id: str, envelope: Any,
               context: NormalizeContext) -> dict[str, Any]:
        """Verify the signature, then confirm, acknowledge or ingest the message."""
        if not isinstance(envelope, dict) or "Type" not in envelope:
            raise BadRequest("body is not an Amazon SNS message (no Type)", code="not_sns")
        self.verify(envelope)
        kind = envelope["Type"]
        topic = str(envelope.get("TopicArn") or "")
        if kind == "SubscriptionConfirmation":
            if topic not in self.allowed_topics():
                raise Forbidden(f"topic {topic or '(none)'} is not in the allowlist "
                                "(DROVER_SNS_TOPIC_ALLOWLIST); subscription not confirmed",
                                code="topic_not_allowed")
            self.confirm(str(envelope.get("SubscribeURL") or ""))
            return {"ok": True, "kind": "control", "confirmed": True, "topic_arn": topic}
        if kind == "UnsubscribeConfirmation":
            return {"ok": True, "kind": "control", "confirmed": False, "topic_arn": topic,
                    "reason": "unsubscribe confirmation acknowledged"}
        if kind != "Notification":
            raise BadRequest(f"unsupported SNS message type '{kind}'", code="not_sns")
        return self.ingest.ingest(workspace_id, "sns", envelope, context)
