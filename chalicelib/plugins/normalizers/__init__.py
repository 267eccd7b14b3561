"""Alert-source normalizers: an explicit registry keyed by the X-Source name."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from chalicelib.domain.errors import BadRequest
from chalicelib.plugins.normalizers.base import NormalizeContext, Normalized, Normalizer

# X-Source name -> the module of this package whose NORMALIZER serves it.
MODULES: dict[str, str] = {
    "webhook": "generic", "alertmanager": "alertmanager", "grafana": "grafana",
    "pagerduty": "pagerduty", "opsgenie": "opsgenie", "datadog": "datadog",
    "newrelic": "newrelic", "cloudwatch": "cloudwatch", "sns": "sns", "k8s-event": "k8s_event",
}


class _Registry(Mapping[str, Normalizer]):
    """The normalizers by name. Each module is imported when its source is first asked for:
    a cold start loads the one normalizer its first payload needs, not all ten (their
    payload models are built when their module is imported)."""

    def __getitem__(self, name: str) -> Normalizer:
        module = importlib.import_module(f"{__name__}.{MODULES[name]}")
        normalizer: Normalizer = module.NORMALIZER
        if name != normalizer.NAME:
            raise LookupError(f"{module.__name__} serves '{normalizer.NAME}', not '{name}'")
        return normalizer

    def __contains__(self, name: object) -> bool:
        return name in MODULES

    def __iter__(self) -> Iterator[str]:
        return iter(MODULES)

    def __len__(self) -> int:
        return len(MODULES)


REGISTRY: Mapping[str, Normalizer] = _Registry()

__all__ = ["REGISTRY", "NormalizeContext", "Normalized", "Normalizer", "detect_source",
           "get_normalizer"]


def get_normalizer(source: str) -> Normalizer:
    """Return the normalizer for an X-Source value, or raise BadRequest naming the valid ones."""
    normalizer = REGISTRY.get(source.strip().lower())
    if normalizer is None:
        raise BadRequest(
            f"unknown alert source '{source}'; supported sources: {', '.join(sorted(REGISTRY))}",
            code="unknown_source",
        )
    return normalizer


def detect_source(payload: Any) -> str:
    """Name the normalizer whose payload shape this is; "webhook" when none matches.

    Only top-level keys (and one level below) are looked at, so it is cheap and never
    raises. The order matters: envelopes first, then the most specific shapes.
    """
    if not isinstance(payload, Mapping):
        return "webhook"
    for name, matches in _SHAPES:
        if matches(payload):
            return name
    return "webhook"


def _first(value: object) -> Mapping[str, Any]:
    """The first element of a list if it is an object, else an empty mapping."""
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        return value[0]
    return {}


def _has(payload: Mapping[str, Any], *keys: str) -> bool:
    return all(key in payload for key in keys)


def _is_sns(p: Mapping[str, Any]) -> bool:
    record = _first(p.get("Records"))
    if isinstance(record.get("Sns"), Mapping) or record.get("EventSource") == "aws:sns":
        return True
    return isinstance(p.get("Type"), str) and ("TopicArn" in p or "MessageId" in p)


def _is_pagerduty(p: Mapping[str, Any]) -> bool:
    event = p.get("event")
    if isinstance(event, Mapping) and "event_type" in event:
        return True
    return str(_first(p.get("messages")).get("event", "")).startswith("incident.")


def _is_grafana(p: Mapping[str, Any]) -> bool:
    if isinstance(p.get("alerts"), list):
        # Grafana's unified payload is Alertmanager's plus orgId/state/title/message.
        alert = _first(p.get("alerts"))
        return (_has(p, "orgId") or _has(p, "state") or _has(p, "title")
                or any(k in alert for k in ("silenceURL", "dashboardURL", "valueString")))
    return _has(p, "ruleName", "state") or _has(p, "ruleId", "state")


def _is_k8s_event(p: Mapping[str, Any]) -> bool:
    if p.get("kind") in ("Event", "EventList"):
        return True
    if isinstance(p.get("object"), Mapping) and p["object"].get("kind") == "Event":
        return True
    return _has(p, "involvedObject", "reason") or _has(p, "regarding", "reason")


def _is_opsgenie(p: Mapping[str, Any]) -> bool:
    return isinstance(p.get("action"), str) and isinstance(p.get("alert"), Mapping)


def _is_datadog(p: Mapping[str, Any]) -> bool:
    return "alert_transition" in p or _has(p, "org", "event_type", "body")


def _is_newrelic(p: Mapping[str, Any]) -> bool:
    return ("issueUrl" in p or _has(p, "condition_name", "current_state")
            or _has(p, "incident_id", "current_state"))


_SHAPES: tuple[tuple[str, Callable[[Mapping[str, Any]], bool]], ...] = (
    ("sns", _is_sns),
    ("cloudwatch", lambda p: _has(p, "AlarmName", "NewStateValue")),
    ("pagerduty", _is_pagerduty),
    ("grafana", _is_grafana),
    ("alertmanager", lambda p: isinstance(p.get("alerts"), list)),
    ("k8s-event", _is_k8s_event),
    ("opsgenie", _is_opsgenie),
    ("datadog", _is_datadog),
    ("newrelic", _is_newrelic),
)
