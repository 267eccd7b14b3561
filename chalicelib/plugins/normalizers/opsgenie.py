"""Opsgenie outgoing webhook: one alert action per request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.domain.models import Alert
from chalicelib.plugins.normalizers.base import (
    MAX_DESCRIPTION,
    PRIORITY_LADDER,
    NormalizeContext,
    Normalized,
    Normalizer,
    as_str_map,
    bounded,
    clip,
    key_fingerprint,
    parse_model,
    subject_from_labels,
    text,
    to_time,
)


class OpsgenieAlert(BaseModel):
    """The ``alert`` object of an Opsgenie webhook."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    alert_id: str | None = Field(default=None, alias="alertId", max_length=512)
    message: str | None = None
    description: str | None = None
    alias: str | None = None
    tiny_id: str | int | None = Field(default=None, alias="tinyId")
    priority: str | int | None = None
    entity: str | None = None
    source: str | None = None
    tags: list[Any] = Field(default_factory=list, max_length=1000)
    details: dict[str, Any] = Field(default_factory=dict)
    created_at: int | float | str | None = Field(default=None, alias="createdAt")
    username: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _identified(self) -> OpsgenieAlert:
        if not (self.alert_id or self.alias):
            raise ValueError("the alert has neither alertId nor alias")
        return self


class OpsgeniePayload(BaseModel):
    """An Opsgenie webhook body."""

    model_config = ConfigDict(extra="ignore")

    action: str = Field(min_length=1, max_length=128)
    alert: OpsgenieAlert


class OpsgenieNormalizer(Normalizer):
    """Opsgenie's Webhook integration; actions that change no state are control messages."""

    NAME = "opsgenie"
    SEVERITY_MAP: ClassVar[Mapping[str, str]] = {
        **PRIORITY_LADDER, "1": "critical", "2": "high", "3": "warning", "4": "info",
        "5": "info",
    }
    # Keyed by the lower-cased action. Anything else (AddNote, AddTags, Assign...) is
    # acknowledged as a control message: it changes nothing Drover tracks.
    STATUS_MAP: ClassVar[Mapping[str, str]] = {
        "create": "firing", "acknowledge": "firing", "unacknowledge": "firing",
        "close": "resolved",
    }
    # The alias is the sender's dedup key; Opsgenie falls back to its own alert id.
    FINGERPRINT_FIELDS = ("alert.alias", "alert.alertId")

    def read(self, payload: Any, context: NormalizeContext) -> Normalized:
        """One alert for Create/Acknowledge/UnAcknowledge/Close; a control message else."""
        body = parse_model(OpsgeniePayload, payload, self.NAME)
        action = body.action.strip().lower()
        raw = body.alert
        if action not in self.STATUS_MAP:
            facts = {"action": body.action, "alert_id": raw.alert_id, "alias": raw.alias,
                     "tiny_id": text(raw.tiny_id), "user": raw.username, "note": raw.note}
            return Normalized("control", reason=f"Opsgenie action {clip(body.action, 64)} "
                              "changes no alert state",
                              control={k: v for k, v in facts.items() if v is not None})
        return Normalized("alerts", (self._alert(raw, action, context),))

    def _alert(self, raw: OpsgenieAlert, action: str, context: NormalizeContext) -> Alert:
        details = as_str_map(raw.details)
        tags = [t for t in (text(tag) for tag in raw.tags) if t]
        labels = {**details, **{k: v for k, v in {
            "tags": ",".join(tags), "entity": raw.entity, "source": raw.source,
            "tiny_id": text(raw.tiny_id), "priority": text(raw.priority),
        }.items() if v}}
        bounded(labels, {}, self.NAME)
        subject = subject_from_labels(details)
        cluster = subject.pop("cluster") or context.cluster
        identity = raw.alias or raw.alert_id or ""
        return Alert(
            integration=self.NAME,
            source=self.NAME,
            title=clip(raw.message or f"Opsgenie alert {text(raw.tiny_id) or identity}"),
            description=clip(raw.description, MAX_DESCRIPTION),
            severity=self.severity(text(raw.priority)),
            status=self.status(action),
            acknowledged=action == "acknowledge",
            fingerprint=key_fingerprint(identity),
            cluster=cluster,
            labels=labels,
            starts_at=to_time(raw.created_at),
            external_id=raw.alert_id,
            **subject,
        )


NORMALIZER = OpsgenieNormalizer()
