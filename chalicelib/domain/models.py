"""Domain models: normalized alerts, incidents, timeline events."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["critical", "high", "warning", "info", "unknown"]
AlertStatus = Literal["firing", "resolved"]
IncidentState = Literal["open", "acknowledged", "resolved", "ignored"]
# Seed 004's three states, plus "ignored" for Kure's dismissed pod failures.
INCIDENT_STATES: tuple[str, ...] = ("open", "acknowledged", "resolved", "ignored")


class Alert(BaseModel):
    """One alert as every source normalizes it."""

    model_config = ConfigDict(frozen=True)

    integration: str = Field(description="normalizer that read it, e.g. alertmanager")
    source: str = Field(description="the monitoring system that raised it, e.g. prometheus")
    title: str
    description: str = ""
    severity: Severity = "unknown"
    status: AlertStatus = "firing"
    acknowledged: bool = False
    fingerprint: str
    namespace: str | None = None
    pod: str | None = None
    deployment: str | None = None
    service: str | None = None
    workload: str | None = Field(default=None, description="owning workload's name")
    workload_kind: str | None = Field(default=None, description="e.g. deployment, job")
    cluster: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: str | None = None
    ends_at: str | None = None
    generator_url: str | None = None
    group_key: str | None = None
    severity_fallback: bool = Field(
        default=False, description="severity was guessed from a weaker hint than a severity field")
    external_id: str | None = Field(
        default=None, description="the sender's id for the incident, e.g. a PagerDuty incident")
    details: dict[str, Any] = Field(
        default_factory=dict, description="source-specific facts kept with the incident")

    @property
    def dedup_key(self) -> str:
        """Key of this alert's open incident: integration, cluster (if known), fingerprint.

        The same label set from two clusters is two problems, not one.
        """
        return f"{self.integration}:{self.cluster or ''}:{self.fingerprint}"


class Incident(BaseModel):
    """A deduplicated incident: the open problem one or more alerts point at."""

    id: str
    workspace_id: str
    title: str
    description: str = ""
    severity: Severity = "unknown"
    source: str
    integration: str
    state: IncidentState = "open"
    namespace: str | None = None
    pod: str | None = None
    deployment: str | None = None
    service: str | None = None
    workload: str | None = None
    workload_kind: str | None = None
    cluster: str | None = None
    fingerprint: str
    dedup_key: str = ""
    external_id: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict,
                                    description="source-specific facts, e.g. a pod report")
    severity_fallback: bool = False
    alert_count: int = 1
    starts_at: str | None = None
    generator_url: str | None = None
    created_at: str
    updated_at: str
    last_seen_at: str
    acknowledged_at: str | None = None
    acknowledged_by: str | None = None
    resolved_at: str | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    reopened_count: int = 0
    previous_incident_id: str | None = None
    parent_id: str | None = None
    correlation_reason: str | None = None
    diagnosis_enqueued_at: str | None = None
    diagnosis_requested_at: str | None = None
    # The latest diagnosis in brief (the whole of it is stored with the incident).
    diagnosis_id: str | None = None
    diagnosis_category: str | None = None
    diagnosis_confidence: float | None = None
    solution: str | None = None
    version: int = 1

    @classmethod
    def open_from(cls, alert: Alert, *, incident_id: str, workspace_id: str, now: str,
                  **extra: Any) -> Incident:
        """Open a new incident for the first alert of a fingerprint."""
        return cls(
            id=incident_id,
            workspace_id=workspace_id,
            title=alert.title,
            description=alert.description,
            severity=alert.severity,
            source=alert.source,
            integration=alert.integration,
            namespace=alert.namespace,
            pod=alert.pod,
            deployment=alert.deployment,
            service=alert.service,
            workload=alert.workload or alert.deployment,
            workload_kind=alert.workload_kind or ("deployment" if alert.deployment else None),
            cluster=alert.cluster,
            fingerprint=alert.fingerprint,
            dedup_key=alert.dedup_key,
            external_id=alert.external_id,
            labels=alert.labels,
            annotations=alert.annotations,
            details=alert.details,
            severity_fallback=alert.severity_fallback,
            starts_at=alert.starts_at,
            generator_url=alert.generator_url,
            state="acknowledged" if alert.acknowledged else "open",
            acknowledged_at=now if alert.acknowledged else None,
            created_at=now,
            updated_at=now,
            last_seen_at=now,
            **extra,
        )


class TimelineEvent(BaseModel):
    """One entry of an incident's timeline."""

    id: str
    event_type: str
    actor: str
    payload: dict[str, Any] = Field(default_factory=dict)
    created_at: str


class IngestOutcome(BaseModel):
    """What happened to one alert of a payload."""

    incident_id: str | None
    action: Literal["created", "deduplicated", "acknowledged", "resolved", "reopened",
                    "ignored"]
    fingerprint: str
    status: AlertStatus
    title: str
    deduplicated: bool = False
    dedup_strategy: str | None = None
    needs_diagnosis: bool = False
    reason: str | None = None
    parent_id: str | None = None
    correlation_reason: str | None = None
    previous_incident_id: str | None = None


class Page(BaseModel):
    """A page of results and the opaque cursor of the next one."""

    items: list[Any]
    next_cursor: str | None = None
