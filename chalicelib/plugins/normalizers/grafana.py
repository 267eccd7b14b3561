"""Grafana webhook contact point: unified alerting (8+) and the legacy (pre-8) rule format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.models import Alert
from chalicelib.plugins.normalizers.alertmanager import AlertmanagerNormalizer
from chalicelib.plugins.normalizers.base import (
    MAX_DESCRIPTION,
    NormalizeContext,
    Normalized,
    as_str_map,
    bounded,
    clip,
    parse_model,
    stable_fingerprint,
    subject_from_labels,
    text,
)


class LegacyEvalMatch(BaseModel):
    """One series that matched a legacy rule."""

    model_config = ConfigDict(extra="ignore")

    metric: Any = None
    tags: dict[str, Any] | None = None


class LegacyPayload(BaseModel):
    """A pre-8 Grafana alert notification: one rule, no ``alerts[]``, no timestamps."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    rule_name: str | None = Field(default=None, alias="ruleName", max_length=1024)
    rule_id: int | str | None = Field(default=None, alias="ruleId")
    org_id: int | str | None = Field(default=None, alias="orgId")
    state: str = Field(max_length=64)
    title: str | None = Field(default=None, max_length=4096)
    message: str | None = None
    rule_url: str | None = Field(default=None, alias="ruleUrl", max_length=4096)
    tags: dict[str, Any] | None = None
    eval_matches: list[LegacyEvalMatch] | None = Field(
        default=None, alias="evalMatches", max_length=10000)


class GrafanaNormalizer(AlertmanagerNormalizer):
    """Grafana's webhook: unified payloads read like Alertmanager's, legacy ones per rule."""

    NAME = "grafana"
    STATUS_MAP: ClassVar[Mapping[str, str]] = {
        "firing": "firing", "alerting": "firing", "resolved": "resolved", "ok": "resolved",
    }
    # Legacy states that are not a firing/resolved transition. no_data is ignored too:
    # the rule could not evaluate, which says nothing about the service (as CloudWatch's
    # INSUFFICIENT_DATA); users who want it paged set the rule's "If no data" to Alerting.
    LEGACY_IGNORED: ClassVar[Mapping[str, str]] = {
        "no_data": "the rule has no data (neither firing nor resolved)",
        "paused": "the rule is paused",
        "pending": "the rule is pending, not firing yet",
    }
    # Unified: Grafana's fingerprint (a label-set hash). Legacy: one alert per rule.
    FINGERPRINT_FIELDS = ("fingerprint", "labels", "ruleId", "orgId")

    def read(self, payload: Any, context: NormalizeContext) -> Normalized:
        """Unified payloads (with ``alerts``) read as Alertmanager's; legacy ones per rule."""
        if isinstance(payload, Mapping) and "alerts" not in payload and "state" in payload:
            return self._legacy(parse_model(LegacyPayload, payload, self.NAME), context)
        return super().read(payload, context)

    def _legacy(self, body: LegacyPayload, context: NormalizeContext) -> Normalized:
        state = body.state.strip().lower()
        rule = body.rule_name or body.title or "Grafana alert"
        if state in self.LEGACY_IGNORED:
            return Normalized("ignore", reason=f"Grafana rule '{clip(rule, 200)}': "
                                               f"{self.LEGACY_IGNORED[state]}")
        labels = _legacy_labels(body)
        bounded(labels, {}, self.NAME)
        subject = subject_from_labels(labels)
        cluster = subject.pop("cluster") or context.cluster
        rule_id = text(body.rule_id)
        key = ({"ruleId": rule_id, "orgId": text(body.org_id)} if rule_id
               else {"ruleName": rule})
        return Normalized("alerts", (Alert(
            integration=self.NAME,
            source=self.NAME,
            title=clip(body.title or rule),
            description=clip(body.message, MAX_DESCRIPTION),
            severity=self.severity(labels.get("severity")),
            status=self.status(state),
            fingerprint=stable_fingerprint(key),
            cluster=cluster,
            labels=labels,
            generator_url=body.rule_url or None,
            **subject,
        ),))


def _legacy_labels(body: LegacyPayload) -> dict[str, str]:
    """Tags every matched series shares, overridden by the rule's own tags, plus alertname.

    The rule's tags are what its author chose; a series tag may disagree (a ``service``
    tag on the metric) and only counts when every series agrees on it.
    """
    matches = [as_str_map(m.tags) for m in body.eval_matches or ()]
    shared: dict[str, str] = {}
    if matches:
        shared = {k: v for k, v in matches[0].items()
                  if all(m.get(k) == v for m in matches[1:])}
    labels = {**shared, **as_str_map(body.tags)}
    if body.rule_name:
        labels["alertname"] = body.rule_name
    return labels


NORMALIZER = GrafanaNormalizer()
