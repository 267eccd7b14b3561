"""Generic JSON webhook (seed 004): one alert object per request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.domain.clock import parse_time
from chalicelib.domain.models import Alert
from chalicelib.plugins.normalizers.base import (
    NormalizeContext,
    Normalized,
    Normalizer,
    as_str_map,
    check_label_size,
    parse_model,
    stable_fingerprint,
)


class GenericPayload(BaseModel):
    """The generic webhook body; unknown fields are kept out of the alert."""

    model_config = ConfigDict(extra="ignore")

    title: str = Field(min_length=1, max_length=1024)
    description: str = Field(default="", max_length=65536)
    severity: str | None = None
    status: str | None = None
    source: str = Field(default="webhook", max_length=256)
    namespace: str | None = Field(default=None, max_length=253)
    pod: str | None = Field(default=None, max_length=253)
    deployment: str | None = Field(default=None, max_length=253)
    service: str | None = Field(default=None, max_length=253)
    cluster: str | None = Field(default=None, max_length=253)
    fingerprint: str | None = Field(default=None, max_length=256)
    dedup_key: str | None = Field(default=None, max_length=256)
    labels: dict[str, Any] = Field(default_factory=dict)
    annotations: dict[str, Any] = Field(default_factory=dict)
    starts_at: str | int | float | None = None
    timestamp: str | int | float | None = None
    url: str | None = Field(default=None, max_length=2048)

    @model_validator(mode="after")
    def _bounded(self) -> GenericPayload:
        check_label_size(self.labels, self.annotations)
        return self


class GenericNormalizer(Normalizer):
    """Seed 004's generic alert JSON."""

    NAME = "webhook"
    SEVERITY_MAP: ClassVar[Mapping[str, str]] = {
        "critical": "critical", "crit": "critical", "fatal": "critical",
        "emergency": "critical", "p1": "critical", "sev1": "critical",
        "high": "high", "error": "high", "major": "high", "p2": "high", "sev2": "high",
        "warning": "warning", "warn": "warning", "medium": "warning", "minor": "warning",
        "p3": "warning", "sev3": "warning",
        "info": "info", "informational": "info", "low": "info", "p4": "info", "p5": "info",
    }
    STATUS_MAP: ClassVar[Mapping[str, str]] = {
        "firing": "firing", "triggered": "firing", "alerting": "firing", "active": "firing",
        "open": "firing", "problem": "firing",
        "resolved": "resolved", "ok": "resolved", "recovered": "resolved",
        "closed": "resolved", "inactive": "resolved",
    }
    # The pod is used only when no workload is named: pod names change on every restart.
    # The cluster is not hashed: Alert.dedup_key already keeps clusters apart.
    FINGERPRINT_FIELDS = ("source", "title", "namespace", "deployment", "service")

    def read(self, payload: Any, context: NormalizeContext) -> Normalized:
        """Return the single alert of a generic payload."""
        body = parse_model(GenericPayload, payload, self.NAME)
        cluster = body.cluster or context.cluster
        fields = {
            "source": body.source, "title": body.title, "namespace": body.namespace,
            "deployment": body.deployment, "service": body.service,
        }
        if not (body.deployment or body.service):
            fields["pod"] = body.pod
        fingerprint = body.fingerprint or body.dedup_key or stable_fingerprint(fields)
        return Normalized("alerts", (Alert(
            integration=self.NAME,
            source=body.source,
            title=body.title,
            description=body.description,
            severity=self.severity(body.severity),
            status=self.status(body.status),
            fingerprint=fingerprint,
            namespace=body.namespace,
            pod=body.pod,
            deployment=body.deployment,
            service=body.service,
            workload=body.deployment,
            workload_kind="deployment" if body.deployment else None,
            cluster=cluster,
            labels=as_str_map(body.labels),
            annotations=as_str_map(body.annotations),
            starts_at=parse_time(body.starts_at if body.starts_at is not None else body.timestamp),
            generator_url=body.url,
        ),))


NORMALIZER = GenericNormalizer()
