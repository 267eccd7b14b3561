"""What every alert-source normalizer declares and the helpers they share."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel

from chalicelib.domain.clock import parse_time
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.models import Alert
from chalicelib.domain.validation import parse_body

# Labels that name the workload an alert is about (kube-state-metrics and kube-prometheus).
M = TypeVar("M", bound=BaseModel)

WORKLOAD_LABELS: dict[str, str] = {
    "deployment": "deployment", "statefulset": "statefulset", "daemonset": "daemonset",
    "job_name": "job", "cronjob": "cronjob", "replicaset": "replicaset",
}


@dataclass(frozen=True)
class NormalizeContext:
    """Facts about the delivery that are not in the payload (headers, query string)."""

    cluster: str | None = None


PayloadKind = Literal["alerts", "control", "ignore"]


@dataclass(frozen=True)
class Normalized:
    """What one payload turned out to be.

    ``alerts``: alerts to record. ``control``: a message about the delivery channel itself
    (SNS SubscriptionConfirmation, PagerDuty ``service.*``, Opsgenie AddNote) that is
    acknowledged and creates no incident; ``control`` carries its facts (e.g. TopicArn,
    SubscribeURL). ``ignore``: a well-formed payload with nothing to record (e.g. a
    CloudWatch INSUFFICIENT_DATA transition); ``reason`` says why.
    ``delivery_id`` is the sender's per-delivery id (SNS MessageId, PagerDuty event id),
    used for idempotency, never for grouping.
    """

    kind: PayloadKind
    alerts: tuple[Alert, ...] = ()
    reason: str | None = None
    control: Mapping[str, Any] | None = None
    delivery_id: str | None = None


class Normalizer(ABC):
    """Turns one source's payload into normalized alerts."""

    NAME: ClassVar[str]
    SEVERITY_MAP: ClassVar[Mapping[str, str]]
    STATUS_MAP: ClassVar[Mapping[str, str]]
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]]

    @abstractmethod
    def read(self, payload: Any, context: NormalizeContext) -> Normalized:
        """Classify the payload and return its alerts; raise ValidationFailed if malformed."""

    def normalize(self, payload: Any, context: NormalizeContext) -> list[Alert]:
        """The alerts of the payload (none for control and ignored messages)."""
        return list(self.read(payload, context).alerts)

    def severity(self, value: object) -> str:
        """Map a source severity to critical/high/warning/info/unknown, case-insensitively."""
        if value is None:
            return "unknown"
        return self.SEVERITY_MAP.get(str(value).strip().lower(), "unknown")

    def status(self, value: object, default: str = "firing") -> str:
        """Map a source status to firing/resolved; unknown values keep the default."""
        if value is None:
            return default
        return self.STATUS_MAP.get(str(value).strip().lower(), default)


def parse_model(model: type[M], payload: Any, source: str) -> M:
    """Validate a source's payload against a pydantic model, turning errors into a clear 422."""
    return parse_body(model, payload, f"{source} alert", source=source)


MAX_LABEL_BYTES = 64 * 1024  # labels and annotations of one alert, as JSON


def check_label_size(labels: Mapping[str, Any], annotations: Mapping[str, Any]) -> None:
    """Refuse labels and annotations too large to store with an incident."""
    size = len(json.dumps([labels, annotations], default=str))
    if size > MAX_LABEL_BYTES:
        raise ValueError(f"labels and annotations total {size} bytes; the limit is "
                         f"{MAX_LABEL_BYTES}")


def stable_fingerprint(fields: Mapping[str, object]) -> str:
    """Hash a set of identifying fields, independent of their order, to 16 hex chars."""
    canonical = json.dumps({k: v for k, v in fields.items() if v not in (None, "")},
                           sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def as_str_map(value: object) -> dict[str, str]:
    """Coerce a labels/annotations object to str->str, dropping nulls."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def subject_from_labels(labels: Mapping[str, str]) -> dict[str, str | None]:
    """Find the namespace, pod, workload and service an alert is about.

    A ``pod`` label that names the metrics exporter (kube-state-metrics scraped without
    honor_labels) is not the subject when a workload label says what is.
    """
    pod = labels.get("pod") or labels.get("pod_name")
    job = labels.get("job")
    workload_label = next((name for name in WORKLOAD_LABELS if labels.get(name)), None)
    has_workload = workload_label is not None
    if pod and job and has_workload and pod.startswith(f"{job}-"):
        pod = None
    service = labels.get("service")
    if service and service == job:
        service = None  # the scrape target's Service, not the alert's subject
    return {
        "namespace": labels.get("namespace") or None,
        "pod": pod or None,
        "deployment": labels.get("deployment") or None,
        "service": service or None,
        "workload": labels[workload_label] if workload_label else None,
        "workload_kind": WORKLOAD_LABELS[workload_label] if workload_label else None,
        "cluster": (labels.get("cluster") or "")[:253] or None,
    }


# --- helpers shared by the vendor normalizers -------------------------------------------

MAX_TITLE = 1024
MAX_DESCRIPTION = 65536
MAX_KEY = 256  # a fingerprint or id longer than this is hashed
_MAX_EPOCH_DIGITS = 16

# The PagerDuty/Opsgenie/Datadog priority ladder the eval INDEX prescribes.
PRIORITY_LADDER: dict[str, str] = {
    "p1": "critical", "p2": "high", "p3": "warning", "p4": "info", "p5": "info",
}


def to_time(value: object) -> str | None:
    """parse_time, plus epoch values sent as digit strings (Datadog renders every number so)."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.isdigit() and len(stripped) <= _MAX_EPOCH_DIGITS:
            return parse_time(int(stripped))
    return parse_time(value)


def text(value: object) -> str | None:
    """A scalar as a stripped string; None for null, empty, booleans and containers."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    result = str(value).strip()
    return result or None


def clip(value: str | None, limit: int = MAX_TITLE) -> str:
    """Truncate to ``limit`` characters with an ellipsis; None becomes the empty string."""
    if not value:
        return ""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def key_fingerprint(value: str) -> str:
    """Use a sender's stable id as the fingerprint, hashed when too long to be a key."""
    if len(value) <= MAX_KEY:
        return value
    return stable_fingerprint({"id": value})


def mapping(value: object) -> Mapping[str, Any]:
    """The value if it is a JSON object, else an empty one (for optional nested objects)."""
    return value if isinstance(value, Mapping) else {}


def bounded(labels: Mapping[str, Any], annotations: Mapping[str, Any], source: str) -> None:
    """check_label_size for labels built outside a pydantic model: a 422, not a 500."""
    try:
        check_label_size(labels, annotations)
    except ValueError as exc:
        raise ValidationFailed(f"payload is not a valid {source} alert: {exc}",
                               code="invalid_payload", source=source) from None
