"""Kubernetes Event objects (core/v1 and events.k8s.io/v1): point-in-time signals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.domain.models import Alert
from chalicelib.plugins.normalizers.base import (
    MAX_DESCRIPTION,
    NormalizeContext,
    Normalized,
    Normalizer,
    bounded,
    clip,
    mapping,
    parse_model,
    stable_fingerprint,
    text,
    to_time,
)

# Kinds whose name is the workload itself (a Pod's owner is not in the event: not guessed).
WORKLOAD_KINDS = frozenset({"deployment", "statefulset", "daemonset", "job", "cronjob",
                            "replicaset"})
WATCH_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK"})
MAX_EVENTS = 1000


class ObjectRef(BaseModel):
    """involvedObject (core/v1) or regarding (events.k8s.io/v1)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    kind: str | None = Field(default=None, max_length=253)
    name: str | None = Field(default=None, max_length=253)
    namespace: str | None = Field(default=None, max_length=253)
    uid: str | None = Field(default=None, max_length=256)
    field_path: str | None = Field(default=None, alias="fieldPath", max_length=1024)


class KubeEvent(BaseModel):
    """A Kubernetes Event; the events.k8s.io/v1 field names are folded into core/v1's."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    involved: ObjectRef = Field(alias="involvedObject")
    reason: str = Field(min_length=1, max_length=1024)
    message: str | None = None
    type: str | None = Field(default=None, max_length=64)
    count: int | None = None
    first_timestamp: str | None = Field(default=None, alias="firstTimestamp")
    last_timestamp: str | None = Field(default=None, alias="lastTimestamp")
    event_time: str | None = Field(default=None, alias="eventTime")
    source: dict[str, Any] | None = None
    reporting_component: str | None = Field(default=None, alias="reportingComponent")
    metadata: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _events_v1(cls, value: Any) -> Any:
        """Accept events.k8s.io/v1 (regarding, note, deprecated*, reportingController)."""
        if not isinstance(value, Mapping) or "involvedObject" in value:
            return value
        renamed = {"regarding": "involvedObject", "note": "message",
                   "deprecatedCount": "count", "deprecatedFirstTimestamp": "firstTimestamp",
                   "deprecatedLastTimestamp": "lastTimestamp",
                   "reportingController": "reportingComponent"}
        folded = dict(value)
        for new, old in renamed.items():
            if new in value and old not in value:
                folded[old] = value[new]
        return folded


class KubeEventNormalizer(Normalizer):
    """Kubernetes Events: Warning -> warning, Normal -> info; always firing."""

    NAME = "k8s-event"
    SEVERITY_MAP: ClassVar[Mapping[str, str]] = {"warning": "warning", "normal": "info"}
    # Events have no lifecycle: each is a point-in-time "this happened".
    STATUS_MAP: ClassVar[Mapping[str, str]] = {"warning": "firing", "normal": "firing"}
    # The same reason on the same object is one problem however often it repeats; the
    # event's own uid changes when the event is recreated.
    FINGERPRINT_FIELDS = ("involvedObject.namespace", "involvedObject.kind",
                          "involvedObject.name", "reason")

    def read(self, payload: Any, context: NormalizeContext) -> Normalized:
        """One alert per Event (a watch event or an EventList is unwrapped)."""
        if _is_watch_event(payload):
            payload = payload["object"]
        if isinstance(payload, Mapping) and payload.get("kind") == "EventList":
            items = payload.get("items")
            if not isinstance(items, list) or not items or len(items) > MAX_EVENTS:
                return Normalized("ignore", reason="empty or oversized EventList")
            return Normalized("alerts", tuple(self._alert(
                parse_model(KubeEvent, item, self.NAME), context) for item in items))
        event = parse_model(KubeEvent, payload, self.NAME)
        return Normalized("alerts", (self._alert(event, context),),
                          delivery_id=_delivery_id(event))

    def _alert(self, event: KubeEvent, context: NormalizeContext) -> Alert:
        ref = event.involved
        kind = (ref.kind or "Object").strip()
        name = (ref.name or "").strip()
        subject = _subject(kind, name, ref.namespace)
        source = mapping(event.source)
        labels = {k: v for k, v in {
            "reason": event.reason, "type": event.type, "kind": kind, "name": name,
            "uid": ref.uid, "field_path": ref.field_path, "count": text(event.count),
            "component": event.reporting_component or text(source.get("component")),
            "host": text(source.get("host")),
            "node": name if kind.lower() == "node" else None}.items() if v}
        bounded(labels, {}, self.NAME)
        return Alert(
            integration=self.NAME,
            source=self.NAME,
            title=clip(f"{event.reason}: {kind}/{name}" if name else event.reason),
            description=clip(event.message, MAX_DESCRIPTION),
            severity=self.severity(event.type),
            status="firing",
            fingerprint=stable_fingerprint({"namespace": ref.namespace, "kind": kind,
                                            "name": name, "reason": event.reason}),
            cluster=context.cluster,
            labels=labels,
            starts_at=(to_time(event.first_timestamp) or to_time(event.event_time)
                       or to_time(mapping(event.metadata).get("creationTimestamp"))),
            **subject,
        )


def _subject(kind: str, name: str, namespace: str | None) -> dict[str, str | None]:
    """What the event is about; a pod's workload is not derived from its name (a guess)."""
    lowered = kind.lower()
    workload = name if lowered in WORKLOAD_KINDS and name else None
    return {
        "namespace": namespace or None,
        "pod": name if lowered == "pod" and name else None,
        "deployment": name if lowered == "deployment" and name else None,
        "service": name if lowered == "service" and name else None,
        "workload": workload,
        "workload_kind": lowered if workload else None,
    }


def _is_watch_event(payload: Any) -> bool:
    """A watch stream entry: {"type": "ADDED", "object": {...Event}}."""
    return (isinstance(payload, Mapping) and isinstance(payload.get("type"), str)
            and payload["type"] in WATCH_TYPES and isinstance(payload.get("object"), Mapping))


def _delivery_id(event: KubeEvent) -> str | None:
    """The event object's uid and resourceVersion: a repeat bumps the version."""
    meta = mapping(event.metadata)
    uid, version = text(meta.get("uid")), text(meta.get("resourceVersion"))
    return f"{uid}/{version}" if uid and version else uid


NORMALIZER = KubeEventNormalizer()
