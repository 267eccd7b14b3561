"""The words of a postmortem: timeline descriptions, fact-based follow-ups, Markdown."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from chalicelib.domain.models import Incident, TimelineEvent

SLOW_RESPONSE_MINUTES = 30.0
NOISY_MINUTES = 5.0
MANY_ALERTS = 10
MAX_TEXT = 500
# Alert text is untrusted: keep it from adding Markdown structure, links or HTML.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!])")
AddFollowUp = Callable[[str, str], None]


def md(value: Any) -> str:
    """Untrusted text as inert Markdown on one line."""
    text = " ".join(str(value).split())[:MAX_TEXT]
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def describe_event(event: TimelineEvent) -> str:
    """A one-line account of a timeline event, from its type and payload."""
    payload = event.payload
    reason = f" ({payload['reason']})" if payload.get("reason") else ""
    if event.event_type == "alert_received":
        return (f"{payload.get('severity', 'unknown')} alert {payload.get('status', 'firing')} "
                f"from {payload.get('source', event.actor)}")
    if event.event_type == "incident_created":
        extra = ""
        if payload.get("previous_incident_id"):
            extra += f"; the alert fired before as {payload['previous_incident_id']}"
        if payload.get("parent_id"):
            extra += f"; grouped under {payload['parent_id']}"
        return f"Incident opened{extra}"
    if event.event_type == "note_added":
        return f"Note by {event.actor}: {payload.get('note', '')}"
    verbs = {"incident_acknowledged": "Acknowledged", "incident_unacknowledged":
             "Acknowledgement withdrawn", "incident_resolved": "Resolved",
             "incident_reopened": "Reopened", "incident_ignored": "Ignored",
             "incident_restored": "Restored", "diagnosis_requested": "Diagnosis requested"}
    verb = verbs.get(event.event_type, event.event_type.replace("_", " ").capitalize())
    return f"{verb} by {event.actor}{reason}"


def follow_ups(incident: Incident, doc: dict[str, Any]) -> list[dict[str, str]]:
    """Follow-up items, each drawn from a fact of the incident and saying which."""
    items: list[dict[str, str]] = []

    def add(item: str, evidence: str) -> None:
        items.append({"item": item, "evidence": evidence})

    add("Establish the root cause: run a diagnosis or investigate during the review",
        "no diagnosis is stored for this incident")
    if incident.state != "resolved":
        add("Finish the response before closing the review", f"the incident is {incident.state}")
    if incident.reopened_count:
        add("Check that the fix holds", f"the alert re-fired {incident.reopened_count} "
                                        "time(s) after it was resolved")
    if incident.previous_incident_id:
        add(f"Compare with {incident.previous_incident_id}",
            "the same alert opened that earlier incident")
    _response_follow_ups(doc, add)
    _signal_follow_ups(incident, doc, add)
    return items


def _response_follow_ups(doc: dict[str, Any], add: AddFollowUp) -> None:
    ttfr = doc["response"]["time_to_first_response_minutes"]
    if ttfr is None:
        add("Check paging and on-call routing", "nobody acknowledged or responded to it")
    elif ttfr > SLOW_RESPONSE_MINUTES:
        add("Review why the first response was slow", f"first response came after {ttfr} min")
    deploy = doc["deploy_correlation"].get("correlated_deploy")
    if deploy:
        add(f"Review deploy {deploy['deploy_id']} of {deploy['service']}",
            f"it was deployed {deploy['minutes_before_incident']} min before the incident "
            f"by {deploy.get('actor') or 'unknown'}")


def _signal_follow_ups(incident: Incident, doc: dict[str, Any], add: AddFollowUp) -> None:
    minutes = doc["resolution"]["resolution_time_minutes"]
    if minutes is not None and minutes <= NOISY_MINUTES and not doc["actions"]:
        add("Review the alert threshold", f"it resolved within {minutes} min with no action")
    if incident.alert_count >= MANY_ALERTS:
        add("Consider grouping or inhibiting repeats of this alert",
            f"it fired {incident.alert_count} times")
    if doc["correlated_incidents"]["children"]:
        add("Review the correlated incidents together",
            f"{len(doc['correlated_incidents']['children'])} incident(s) were grouped under it")
    if incident.severity_fallback:
        add("Set an explicit severity on the alert rule", "its severity was inferred")


def render_markdown(incident_id: str, doc: dict[str, Any], generated_at: str) -> str:
    """The postmortem document as Markdown."""
    lines = [f"# {md(doc['title'])}", "",
             f"Incident `{incident_id}` - draft generated {generated_at}", "",
             "## Summary", "", md(doc["summary"]), "", "## Impact", ""]
    lines += _impact_lines(doc["impact"])
    lines += ["", "## Detection and response", "", *_response_lines(doc)]
    lines += ["", "## Root cause", "", md(doc["root_cause_note"]), "", "## Timeline", ""]
    lines += [f"- {e['created_at']} `{e['event_type']}` {md(e['description'])}"
              for e in doc["timeline"]]
    lines += ["", "## Correlation", "", f"- {md(doc['deploy_correlation']['message'])}"]
    lines += [f"- Correlated incident `{c['incident_id']}` "
              f"({md(c['correlation_reason'] or 'correlated')})"
              for c in doc["correlated_incidents"]["children"]]
    lines += ["", "## Actions", "", "- No remediation actions were recorded.", "",
              "## Follow-ups", ""]
    lines += [f"- [ ] {md(f['item'])} - {md(f['evidence'])}" for f in doc["follow_ups"]]
    return "\n".join(lines) + "\n"


def _impact_lines(impact: dict[str, Any]) -> list[str]:
    labels = (("Severity", "severity"), ("State", "state"), ("Cluster", "cluster"),
              ("Namespace", "namespace"), ("Service", "service"), ("Workload", "workload"),
              ("Alerts", "alert_count"), ("Started", "started_at"), ("Ended", "ended_at"),
              ("Duration (min)", "duration_minutes"))
    return [f"- **{label}**: {md(impact[key]) if impact[key] is not None else 'n/a'}"
            for label, key in labels]


def _response_lines(doc: dict[str, Any]) -> list[str]:
    detection, response = doc["detection"], doc["response"]
    resolution = doc["resolution"]
    answered = (f"{response['first_response_at']} by {md(response['first_responder'])} "
                f"({response['time_to_first_response_minutes']} min)"
                if response["first_response_at"] else "none")
    took = resolution["resolution_time_minutes"]
    return [f"- First alert at {detection['first_alert_at']} from {md(detection['source'])} "
            f"(via {md(detection['integration'])})",
            f"- First response: {answered}",
            f"- Resolution: {md(resolution['how'])}" + (f" ({took} min)" if took is not None
                                                       else "")]
