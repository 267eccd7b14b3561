"""The alerts SNS topic's subscriber: CloudWatch alarms and any JSON alert become incidents."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from chalice.app import SNSEvent

from chalicelib.bootstrap import get_container
from chalicelib.config import alerts_topic_name
from chalicelib.domain.auth import validate_workspace
from chalicelib.plugins.normalizers import NormalizeContext

bp = Blueprint(__name__)


@bp.on_sns_message(topic=alerts_topic_name(), name="alerts_subscriber")
def on_alert_message(event: SNSEvent) -> dict[str, Any]:
    """Ingest one SNS message; a failure is kept in the dead-letter store, then raised."""
    record = event.to_dict()["Records"][0]["Sns"]
    attributes = record.get("MessageAttributes") or {}
    container = get_container()
    workspace = validate_workspace(_attribute(attributes, "workspace_id")
                                   or container.settings.default_workspace)
    context = NormalizeContext(cluster=_attribute(attributes, "cluster"))
    return container.ingest.ingest(workspace, "sns", {**record, "Type": "Notification"},
                                   context)


def _attribute(attributes: dict[str, Any], name: str) -> str | None:
    value = (attributes.get(name) or {}).get("Value")
    return str(value)[:253] if value else None
