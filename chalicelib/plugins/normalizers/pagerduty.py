"""PagerDuty webhooks: V3 (``event``) and the retired V2 (``messages[]``)."""

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
    bounded,
    clip,
    key_fingerprint,
    mapping,
    parse_model,
    stable_fingerprint,
    text,
    to_time,
)

# V3 events whose ``data`` is not the incident (a note, a responder request, a status
# update...): they change no incident state.
INCIDENT_TYPES = frozenset({"incident", "incident_reference"})


class V3Event(BaseModel):
    """The ``event`` object of a V3 webhook."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(default=None, max_length=256)
    event_type: str = Field(min_length=1, max_length=256)
    resource_type: str | None = Field(default=None, max_length=256)
    occurred_at: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class V3Payload(BaseModel):
    """A V3 webhook body."""

    model_config = ConfigDict(extra="ignore")

    event: V3Event


class V2Message(BaseModel):
    """One message of a V2 webhook (``event`` like ``incident.trigger``)."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(default=None, max_length=256)
    event: str = Field(min_length=1, max_length=256)
    created_on: str | None = None
    incident: dict[str, Any]


class V2Payload(BaseModel):
    """A V2 webhook body."""

    model_config = ConfigDict(extra="ignore")

    messages: list[V2Message] = Field(min_length=1, max_length=1000)


class Incident(BaseModel):
    """The incident fields Drover reads (V3 ``data``, V2 ``incident``)."""

    model_config = ConfigDict(extra="ignore")

    id: str | int | None = None
    type: str | None = None
    title: str | None = None
    summary: str | None = None
    description: str | None = None
    status: str | None = None
    urgency: str | None = None
    incident_key: str | None = None
    created_at: str | None = None
    html_url: str | None = None
    number: int | str | None = Field(default=None, alias="incident_number")
    priority: dict[str, Any] | None = None
    service: dict[str, Any] | None = None
    escalation_policy: dict[str, Any] | None = None
    teams: list[Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        # V3 calls it ``number``, V2 ``incident_number``.
        if isinstance(value, Mapping) and "number" in value and "incident_number" not in value:
            return {**value, "incident_number": value["number"]}
        return value

    @model_validator(mode="after")
    def _identified(self) -> Incident:
        # Without any of these, unrelated incidents would share one fingerprint.
        if not (text(self.id) or self.incident_key or self.title):
            raise ValueError("the incident has no id, incident_key or title")
        return self


class PagerDutyNormalizer(Normalizer):
    """PagerDuty incident webhooks; non-incident events are control messages."""

    NAME = "pagerduty"
    SEVERITY_MAP: ClassVar[Mapping[str, str]] = {
        **PRIORITY_LADDER, "sev1": "critical", "sev2": "high", "sev3": "warning",
        "sev4": "info", "sev5": "info", "high": "high", "low": "info",
    }
    # Keyed by the action of the event type (``incident.<action>``), V3 and V2 spellings.
    STATUS_MAP: ClassVar[Mapping[str, str]] = {
        "triggered": "firing", "trigger": "firing", "acknowledged": "firing",
        "acknowledge": "firing", "unacknowledged": "firing", "unacknowledge": "firing",
        "reopened": "firing", "escalated": "firing", "escalate": "firing",
        "reassigned": "firing", "assign": "firing", "delegated": "firing",
        "delegate": "firing", "priority_updated": "firing", "annotated": "firing",
        "annotate": "firing", "resolved": "resolved", "resolve": "resolved",
    }
    ACK_ACTIONS = frozenset({"acknowledged", "acknowledge"})
    UNACK_ACTIONS = frozenset({"unacknowledged", "unacknowledge", "reopened", "triggered",
                               "trigger"})
    # PagerDuty's incident id: every event of one incident carries it.
    FINGERPRINT_FIELDS = ("data.id", "data.incident_key")

    def read(self, payload: Any, context: NormalizeContext) -> Normalized:
        """One alert per incident event; service.* and other resources are control messages."""
        if isinstance(payload, Mapping) and "messages" in payload and "event" not in payload:
            return self._v2(parse_model(V2Payload, payload, self.NAME), context)
        event = parse_model(V3Payload, payload, self.NAME).event
        resource = (event.resource_type or event.event_type.split(".", 1)[0]).lower()
        facts = {"event_type": event.event_type, "resource_type": resource,
                 "id": text(event.data.get("id"))}
        if resource != "incident":
            return Normalized("control", reason=f"PagerDuty {event.event_type} is about a "
                              f"{resource}, not an incident", control=facts,
                              delivery_id=event.id)
        data_type = text(event.data.get("type"))
        if data_type and data_type not in INCIDENT_TYPES:
            return Normalized("ignore", reason=f"PagerDuty {event.event_type} carries a "
                              f"{clip(data_type, 64)}, not the incident's state",
                              control=facts, delivery_id=event.id)
        incident = parse_model(Incident, event.data, self.NAME)
        alert = self._alert(incident, event.event_type, event.occurred_at, context)
        return Normalized("alerts", (alert,), delivery_id=event.id)

    def _v2(self, body: V2Payload, context: NormalizeContext) -> Normalized:
        alerts = tuple(
            self._alert(parse_model(Incident, m.incident, self.NAME), m.event, m.created_on,
                        context)
            for m in body.messages)
        delivery = body.messages[0].id if len(body.messages) == 1 else None
        return Normalized("alerts", alerts, delivery_id=delivery)

    def _alert(self, incident: Incident, event_type: str, occurred_at: str | None,
               context: NormalizeContext) -> Alert:
        action = event_type.split(".", 1)[-1].strip().lower()
        state = (incident.status or "").strip().lower()
        resolved = self.status(action) == "resolved" or state == "resolved"
        acknowledged = not resolved and action not in self.UNACK_ACTIONS and (
            action in self.ACK_ACTIONS or state == "acknowledged")
        incident_id = text(incident.id)
        service = text(mapping(incident.service).get("summary")) or text(
            mapping(incident.service).get("name"))
        labels = _labels(incident, event_type)
        bounded(labels, {}, self.NAME)
        return Alert(
            integration=self.NAME,
            source=self.NAME,
            title=clip(incident.title or incident.summary or f"PagerDuty incident "
                       f"{incident_id or ''}".strip()),
            description=clip(incident.description, MAX_DESCRIPTION),
            severity=self._severity(incident),
            status="resolved" if resolved else "firing",
            acknowledged=acknowledged,
            fingerprint=self._fingerprint(incident, incident_id, service),
            service=service,
            cluster=context.cluster,
            labels=labels,
            starts_at=to_time(incident.created_at) or to_time(occurred_at),
            generator_url=incident.html_url,
            external_id=incident_id,
        )

    def _severity(self, incident: Incident) -> str:
        """The priority ladder when the account uses priorities, else the urgency."""
        priority = self.severity(text(mapping(incident.priority).get("summary")))
        return priority if priority != "unknown" else self.severity(incident.urgency)

    @staticmethod
    def _fingerprint(incident: Incident, incident_id: str | None, service: str | None) -> str:
        if incident_id:
            return key_fingerprint(incident_id)
        if incident.incident_key:
            return key_fingerprint(incident.incident_key)
        return stable_fingerprint({"title": incident.title, "service": service})


def _labels(incident: Incident, event_type: str) -> dict[str, str]:
    """The incident facts worth showing next to the alert."""
    teams = [text(mapping(t).get("summary")) for t in incident.teams or ()]
    found = {
        "event_type": event_type,
        "incident_number": text(incident.number),
        "incident_key": incident.incident_key,
        "status": incident.status,
        "urgency": incident.urgency,
        "priority": text(mapping(incident.priority).get("summary")),
        "escalation_policy": text(mapping(incident.escalation_policy).get("summary")),
        "teams": ",".join(t for t in teams if t) or None,
    }
    return {k: clip(v, 1024) for k, v in found.items() if v}


NORMALIZER = PagerDutyNormalizer()
