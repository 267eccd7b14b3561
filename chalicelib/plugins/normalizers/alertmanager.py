"""Prometheus Alertmanager webhook (v4, v3 tolerated): several alerts per payload."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urljoin

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.domain.clock import parse_time
from chalicelib.domain.models import Alert
from chalicelib.plugins.normalizers.base import (
    MAX_DESCRIPTION,
    NormalizeContext,
    Normalized,
    Normalizer,
    as_str_map,
    check_label_size,
    clip,
    parse_model,
    stable_fingerprint,
    subject_from_labels,
)


class AlertmanagerAlert(BaseModel):
    """One alert of an Alertmanager notification."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: str | None = None
    labels: dict[str, Any]
    annotations: dict[str, Any] = Field(default_factory=dict)
    starts_at: str | None = Field(default=None, alias="startsAt")
    ends_at: str | None = Field(default=None, alias="endsAt")
    generator_url: str | None = Field(default=None, alias="generatorURL")
    fingerprint: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _bounded(self) -> AlertmanagerAlert:
        check_label_size(self.labels, self.annotations)
        return self


class AlertmanagerPayload(BaseModel):
    """An Alertmanager webhook notification (group of alerts)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: str | None = None
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=10000)
    group_key: str | int | None = Field(default=None, alias="groupKey")
    external_url: str | None = Field(default=None, alias="externalURL")


class AlertmanagerNormalizer(Normalizer):
    """Alertmanager's webhook_config receiver."""

    NAME = "alertmanager"
    SEVERITY_MAP: ClassVar[Mapping[str, str]] = {
        "critical": "critical", "page": "critical", "high": "high", "error": "high",
        "warning": "warning", "warn": "warning", "info": "info", "none": "info",
    }
    STATUS_MAP: ClassVar[Mapping[str, str]] = {"firing": "firing", "resolved": "resolved"}
    # Alertmanager's own fingerprint is a hash of the label set; without it we hash the labels.
    FINGERPRINT_FIELDS = ("fingerprint", "labels")

    def read(self, payload: Any, context: NormalizeContext) -> Normalized:
        """Return one alert per entry of ``alerts``; per-alert status wins over the group's."""
        body = parse_model(AlertmanagerPayload, payload, self.NAME)
        group_status = self.status(body.status)
        group_key = None if body.group_key is None else str(body.group_key)
        return Normalized("alerts", tuple(
            self._alert(a, body, group_status, group_key, context) for a in body.alerts))

    def _alert(self, raw: AlertmanagerAlert, body: AlertmanagerPayload, group_status: str,
               group_key: str | None, context: NormalizeContext) -> Alert:
        labels = as_str_map(raw.labels)
        annotations = as_str_map(raw.annotations)
        subject = subject_from_labels(labels)
        cluster = subject.pop("cluster") or context.cluster
        description = (annotations.get("description") or annotations.get("summary")
                       or annotations.get("message") or "")
        title = labels.get("alertname") or annotations.get("title") or annotations.get(
            "summary") or "Alertmanager alert"
        generator = raw.generator_url or None
        if generator and body.external_url and "://" not in generator:
            generator = urljoin(body.external_url, generator)
        return Alert(
            integration=self.NAME,
            source=self.NAME,
            title=clip(title),
            description=clip(description, MAX_DESCRIPTION),
            severity=self.severity(labels.get("severity")),
            status=self.status(raw.status, default=group_status),
            fingerprint=raw.fingerprint or stable_fingerprint(labels),
            cluster=cluster,
            labels=labels,
            annotations=annotations,
            starts_at=parse_time(raw.starts_at),
            ends_at=parse_time(raw.ends_at),
            generator_url=generator,
            group_key=group_key,
            **subject,
        )


NORMALIZER = AlertmanagerNormalizer()
