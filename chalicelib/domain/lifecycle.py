"""Incident lifecycle rules: what an alert does to the incident its fingerprint points at.

Pure decisions, no I/O: the repository reads the fingerprint's claim, asks ``decide`` what to
do, and carries the decision out in one conditional write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from chalicelib.domain.errors import Conflict
from chalicelib.domain.models import Alert

ClaimState = Literal["open", "resolved"]
Step = Literal["open", "touch", "acknowledge", "resolve", "reopen", "supersede", "ignore"]

# Who may move an incident where by hand (seed 004 states plus Kure's "ignored").
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"acknowledged", "resolved", "ignored"}),
    "acknowledged": frozenset({"open", "resolved", "ignored"}),
    "resolved": frozenset({"open"}),
    "ignored": frozenset({"open", "resolved"}),
}


@dataclass(frozen=True)
class Claim:
    """The fingerprint's pointer to its latest incident and whether that incident is open."""

    incident_id: str
    state: ClaimState
    resolved_at: str | None = None
    ended_at: str | None = None  # endsAt of the alert that resolved it, when the source says


@dataclass(frozen=True)
class IngestPolicy:
    """A workspace's lifecycle settings (seed 001 ``/api/alerts/config``)."""

    reopen_quiet_period_seconds: int = 3600
    correlation_window_seconds: int = 600
    correlation_enabled: bool = True


@dataclass(frozen=True)
class Decision:
    """What to do with one alert, and why (the why goes on the timeline)."""

    step: Step
    reason: str | None = None


def seconds_between(start: str, end: str) -> float:
    """Seconds from one ISO time to another."""
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def decide(claim: Claim | None, alert: Alert, now: str, policy: IngestPolicy) -> Decision:
    """Decide how an alert changes the incident its fingerprint claims."""
    if alert.status == "resolved":
        return _decide_resolved(claim)
    if claim is None:
        return Decision("open")
    if claim.state == "open":
        return Decision("acknowledge" if alert.acknowledged else "touch")
    if _is_stale_replay(claim, alert):
        return Decision("ignore", "the alert started before its incident was resolved "
                                  "(a replayed or delayed notification)")
    quiet = seconds_between(claim.resolved_at or now, now)
    if quiet <= policy.reopen_quiet_period_seconds:
        return Decision("reopen", f"re-fired {int(quiet)} s after resolution, within the "
                                  f"{policy.reopen_quiet_period_seconds} s quiet period")
    return Decision("supersede", f"re-fired {int(quiet)} s after resolution, after the "
                                 f"{policy.reopen_quiet_period_seconds} s quiet period")


def _decide_resolved(claim: Claim | None) -> Decision:
    if claim is None:
        return Decision("ignore", "no open incident for this alert")
    if claim.state == "resolved":
        return Decision("ignore", "the incident is already resolved")
    return Decision("resolve", "resolved alert received")


def _is_stale_replay(claim: Claim, alert: Alert) -> bool:
    # A notification whose alert started before the resolution describes the episode that
    # was resolved; a real re-fire starts afterwards.
    boundary = claim.ended_at or claim.resolved_at
    if not alert.starts_at or not boundary:
        return False
    return seconds_between(alert.starts_at, boundary) > 0


def correlation_subject(alert: Alert) -> tuple[str, str] | None:
    """The key under which alerts about the same service or workload correlate, and why."""
    scope = f"{alert.cluster or ''}:{alert.namespace or ''}"
    if alert.service:
        return f"svc:{scope}:{alert.service}", "same_service_within_window"
    workload = alert.workload or alert.deployment
    if workload:
        kind = alert.workload_kind or "deployment"
        return f"wl:{scope}:{kind}/{workload}", "same_workload_within_window"
    return None


def check_transition(current: str, target: str) -> None:
    """Refuse a manual state change the lifecycle does not allow."""
    if target == current:
        return
    if target not in TRANSITIONS.get(current, frozenset()):
        raise Conflict(f"an incident cannot go from '{current}' to '{target}'",
                       code="invalid_transition", state=current)
