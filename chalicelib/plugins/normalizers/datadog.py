"""Datadog webhook integration: the default payload and the common custom templates."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.models import Alert
from chalicelib.plugins.normalizers.base import (
    MAX_DESCRIPTION,
    PRIORITY_LADDER,
    NormalizeContext,
    Normalized,
    Normalizer,
    bounded,
    clip,
    parse_model,
    stable_fingerprint,
    subject_from_labels,
    text,
    to_time,
)

Scalar = str | int | float | None

# An unrendered template variable such as $ALERT_TRANSITION.
PLACEHOLDER = re.compile(r"^\$[A-Z][A-Z0-9_]*$")
# The bracketed prefixes of a title: "[P2] [Warn] ..." or "[Triggered on {service:x}] ...".
TITLE_TAG = re.compile(r"\s*\[([^\[\]]{1,200})\]")
MAX_TITLE_TAGS = 5
MAX_TAGS = 1000
MONITOR_LINK = re.compile(r"/monitors[#/](\d{1,20})")

# Datadog tag names (kube_*, Agent autodiscovery) -> the label names subject_from_labels reads.
SUBJECT_TAGS: dict[str, str] = {
    "kube_namespace": "namespace", "namespace": "namespace", "pod_name": "pod",
    "kube_deployment": "deployment", "kube_stateful_set": "statefulset",
    "kube_daemon_set": "daemonset", "kube_job": "job_name", "kube_cronjob": "cronjob",
    "kube_replica_set": "replicaset", "service": "service", "kube_service": "service",
    "kube_cluster_name": "cluster", "cluster_name": "cluster",
}


class DatadogPayload(BaseModel):
    """A rendered Datadog webhook body: every key is optional except the title."""

    model_config = ConfigDict(extra="ignore")

    title: str = Field(min_length=1, max_length=65536)
    body: str | None = None
    id: Scalar = None
    date: Scalar = None
    last_updated: Scalar = None
    event_type: Scalar = None
    alert_transition: Scalar = None
    alert_type: Scalar = None
    alert_status: Scalar = None
    alert_priority: Scalar = None
    priority: Scalar = None
    severity: Scalar = None
    monitor_id: Scalar = None
    alert_id: Scalar = None
    scopes: Scalar = None
    alert_scope: Scalar = None
    alert_cycle_key: Scalar = None
    cycle_key: Scalar = None
    aggreg_key: Scalar = None
    url: Scalar = None
    link: Scalar = None
    hostname: Scalar = None
    tags: str | list[Scalar] | None = None
    org: dict[str, Any] | None = None


class DatadogNormalizer(Normalizer):
    """Datadog monitor notifications posted by the Webhooks integration."""

    NAME = "datadog"
    SEVERITY_MAP: ClassVar[Mapping[str, str]] = {
        **PRIORITY_LADDER, "critical": "critical", "high": "high", "error": "high",
        "warning": "warning", "medium": "warning", "low": "info", "info": "info",
    }
    # $ALERT_TRANSITION values (dd-docs), lower-cased; also the title's "[...]" prefix.
    STATUS_MAP: ClassVar[Mapping[str, str]] = {
        "triggered": "firing", "re-triggered": "firing", "warn": "firing",
        "re-warn": "firing", "no data": "firing", "re-no data": "firing",
        "renotify": "firing", "alert": "firing", "warning": "firing",
        "recovered": "resolved", "ok": "resolved",
    }
    # alert_type when no priority is set: a weaker hint, flagged as a fallback.
    ALERT_TYPE_SEVERITY: ClassVar[Mapping[str, str]] = {
        "error": "high", "warning": "warning", "info": "info", "success": "info",
    }
    # The monitor and its group (scope) are stable; the event ``id`` is per notification.
    FINGERPRINT_FIELDS = ("monitor_id", "scopes", "alert_cycle_key", "aggreg_key", "org.id")

    def read(self, payload: Any, context: NormalizeContext) -> Normalized:
        """One alert per notification; an unrendered template is ignored."""
        body = parse_model(DatadogPayload, payload, self.NAME)
        if any(PLACEHOLDER.match(str(v or "").strip()) for v in (body.title, body.id, body.date)):
            return Normalized("ignore", reason="template placeholders, not a rendered "
                                               "notification")
        values = {k: _value(v) for k, v in body.model_dump(exclude={"org", "tags"}).items()}
        tags = _tags(body.tags)
        scope = values["scopes"] or values["alert_scope"] or _title_scope(body.title)
        labels = {**tags, **_tags(scope)}
        subject_labels = {SUBJECT_TAGS[k]: v for k, v in labels.items() if k in SUBJECT_TAGS}
        subject = subject_from_labels(subject_labels)
        cluster = subject.pop("cluster") or context.cluster
        org = text((body.org or {}).get("id"))
        monitor = (values["monitor_id"] or values["alert_id"]
                   or _first(MONITOR_LINK.search(body.body or "")))
        labels.update({k: v for k, v in {"monitor_id": monitor, "scope": scope, "org": org,
                                         "event_type": values["event_type"]}.items() if v})
        bounded(labels, {}, self.NAME)
        severity, fallback = self._severity(body.title, values)
        status = self._status(body.title, values)
        when = to_time(values["date"]) or to_time(values["last_updated"])
        return Normalized("alerts", (Alert(
            integration=self.NAME,
            source=self.NAME,
            title=clip(body.title.strip()),
            description=clip((body.body or "").strip().strip("%").strip(), MAX_DESCRIPTION),
            severity=severity,
            severity_fallback=fallback,
            status=status,
            fingerprint=self._fingerprint(body.title, values, monitor, scope, org),
            cluster=cluster,
            labels=labels,
            starts_at=when,
            ends_at=when if status == "resolved" else None,
            generator_url=values["url"] or values["link"],
            **subject,
        ),), delivery_id=values["id"])

    def _status(self, title: str, values: Mapping[str, str | None]) -> str:
        """$ALERT_TRANSITION, else the title's "[Triggered]" prefix, else alert_type."""
        transition = values["alert_transition"] or values["alert_status"]
        if transition and transition.lower() in self.STATUS_MAP:
            return self.status(transition)
        for tag in _title_tags(title):
            word = tag.split(" on ", 1)[0].strip().lower()
            if word in self.STATUS_MAP:
                return self.status(word)
        return "resolved" if (values["alert_type"] or "").lower() == "success" else "firing"

    def _severity(self, title: str, values: Mapping[str, str | None]) -> tuple[str, bool]:
        """$ALERT_PRIORITY (under any common key or as a "[P2]" title tag), else alert_type."""
        candidates = [values["alert_priority"], values["priority"], values["severity"],
                      *(t for t in _title_tags(title) if re.fullmatch(r"[Pp][1-5]", t))]
        for candidate in candidates:
            severity = self.severity(candidate)
            if severity != "unknown":
                return severity, False
        hint = self.ALERT_TYPE_SEVERITY.get((values["alert_type"] or "").lower())
        return (hint, True) if hint else ("unknown", False)

    @staticmethod
    def _fingerprint(title: str, values: Mapping[str, str | None], monitor: str | None,
                     scope: str | None, org: str | None) -> str:
        cycle = values["alert_cycle_key"] or values["cycle_key"]
        if monitor:
            return stable_fingerprint({"monitor": monitor, "scope": scope, "cycle": cycle,
                                       "aggreg_key": values["aggreg_key"], "org": org})
        # No monitor id: the title without its status/priority tags is what stays the same.
        return stable_fingerprint({"title": _bare_title(title), "scope": scope, "org": org,
                                   "aggreg_key": values["aggreg_key"],
                                   "event_type": values["event_type"]})


def _value(value: object) -> str | None:
    """A rendered value; an unrendered $PLACEHOLDER counts as absent."""
    result = text(value)
    return None if result is None or PLACEHOLDER.match(result) else result


def _tags(value: object) -> dict[str, str]:
    """Datadog tags ("env:prod,service:api" or a list) as labels; bare tags are dropped."""
    items = value.split(",") if isinstance(value, str) else (
        value if isinstance(value, list) else [])
    labels: dict[str, str] = {}
    for item in items[:MAX_TAGS]:
        name, sep, tag_value = (text(item) or "").partition(":")
        if sep and name.strip() and tag_value.strip():
            labels[name.strip()[:256]] = tag_value.strip()[:1024]
    return labels


def _title_tags(title: str) -> list[str]:
    """The leading "[...]" groups of a title."""
    tags, position = [], 0
    while (match := TITLE_TAG.match(title, position)) and len(tags) < MAX_TITLE_TAGS:
        tags.append(match.group(1).strip())
        position = match.end()
    return tags


def _title_scope(title: str) -> str | None:
    """The group of a multi-alert title: "[Triggered on {service:x}]" -> "service:x"."""
    for tag in _title_tags(title):
        _, sep, scope = tag.partition(" on ")
        if sep:
            return scope.strip().strip("{}").strip() or None
    return None


def _bare_title(title: str) -> str:
    """The title without its leading status and priority tags."""
    rest = title
    for tag in _title_tags(title):
        head = tag.split(" on ", 1)[0].strip().lower()
        if head in DatadogNormalizer.STATUS_MAP or re.fullmatch(r"p[1-5]", head):
            rest = rest.replace(f"[{tag}]", "", 1)
    return " ".join(rest.split())


def _first(match: re.Match[str] | None) -> str | None:
    return match.group(1) if match else None


NORMALIZER = DatadogNormalizer()
