"""Use cases of seed 002 (Kure Monitor): pod failures are incidents about a pod.

The agent's report becomes an alert (integration ``kure-agent``) recorded like any other, so it
is deduplicated, correlated and diagnosed the same way. The views list every incident that
names a pod, whatever its source: a Kure client shows pod failures, and an Alertmanager
``KubePodCrashLooping`` is one as much as an agent report is.
Kure's statuses map onto incident states: new = open, investigating = acknowledged,
resolved = resolved, ignored = ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.errors import BadRequest, Conflict, NotFound
from chalicelib.domain.models import Alert, Incident, IngestOutcome
from chalicelib.domain.ports import IncidentRepository
from chalicelib.domain.validation import parse_body
from chalicelib.plugins.normalizers.base import clip, stable_fingerprint
from chalicelib.services.alerts_v1 import incidents_in_states
from chalicelib.services.ingest import IngestService

INTEGRATION = "kure-agent"
MAX_LOG_CHARS = 32 * 1024  # the tail of the logs: the end is where a crash explains itself
MAX_MANIFEST_CHARS = 32 * 1024
MAX_DETAILS_BYTES = 200 * 1024  # a DynamoDB item holds 400 KB; the incident needs the rest
MAX_RAW_LOG_BYTES = 256 * 1024  # the agent's own cap on one container's log block
MAX_TEXT = 1024
MAX_EVENTS = 50
MAX_CONTAINERS = 20
MAX_LISTED = 500  # per state, for the list views
STATE_OF_STATUS = {"new": "open", "investigating": "acknowledged", "resolved": "resolved",
                   "ignored": "ignored"}
STATUS_OF_STATE = {state: status for status, state in STATE_OF_STATUS.items()}
VIEWS = {"active": ("open", "acknowledged"), "history": ("resolved",), "ignored": ("ignored",)}
# Severity of a failure reason (the agent sends none); anything else is a warning.
REASON_SEVERITY = {
    "NodeLost": "critical", "OOMKilled": "high", "CrashLoopBackOff": "high", "Error": "high",
    "RunContainerError": "high", "NotReady": "high",
}


class ContainerStatus(BaseModel):
    """A container status as Kure's agent reports it."""

    name: str = Field(default="", max_length=253)
    ready: bool = False
    restart_count: int = 0
    image: str = Field(default="", max_length=MAX_TEXT)
    state: str = Field(default="", max_length=64)
    reason: str | None = Field(default=None, max_length=256)
    message: str | None = None
    exit_code: int | None = None


class PodEvent(BaseModel):
    """A Kubernetes event about the pod."""

    type: str = Field(default="", max_length=64)
    reason: str = Field(default="", max_length=256)
    message: str = ""
    timestamp: str | None = Field(default=None, max_length=64)


class PodFailureReport(BaseModel):
    """POST /api/pods/failed: Kure's ``PodFailureReport`` (unknown fields are ignored)."""

    model_config = ConfigDict(extra="ignore")

    pod_name: str = Field(default="", max_length=253)
    namespace: str = Field(default="", max_length=253)
    node_name: str | None = Field(default=None, max_length=253)
    phase: str | None = Field(default=None, max_length=64)
    creation_timestamp: str | None = Field(default=None, max_length=64)
    failure_reason: str = Field(default="Unknown", min_length=1, max_length=256)
    failure_message: str | None = None
    container_statuses: list[ContainerStatus] = Field(default_factory=list, max_length=100)
    events: list[PodEvent] = Field(default_factory=list, max_length=1000)
    logs: str = ""
    manifest: str = ""
    failure_logs: dict[str, Any] | None = None


class StatusUpdate(BaseModel):
    """PUT /api/pods/{id}/status."""

    status: str = Field(max_length=32)
    resolution_note: str | None = Field(default=None, max_length=4000)


def tail(text: str, limit: int) -> str:
    """The last ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def previous_logs(failure_logs: dict[str, Any] | None) -> dict[str, str]:
    """Decode the agent's gzip+base64 previous-instance logs, bounded (a zip bomb stops)."""
    containers = (failure_logs or {}).get("containers")
    if not isinstance(containers, dict):
        return {}
    decoded: dict[str, str] = {}
    budget = MAX_LOG_CHARS
    for name, entry in list(containers.items())[:MAX_CONTAINERS]:
        data = _block_data(entry)
        if data is None or budget <= 0:
            continue
        try:
            raw = zlib.decompressobj(wbits=31).decompress(
                base64.b64decode(data, validate=True), MAX_RAW_LOG_BYTES)
        except (binascii.Error, ValueError, zlib.error):
            continue  # a block we cannot read is left out, not fatal to the report
        if not raw:
            continue
        text = tail(raw.decode("utf-8", "replace"), budget)
        decoded[str(name)[:253]] = text
        budget -= len(text)
    return decoded


def _block_data(entry: object) -> str | None:
    previous = entry.get("previous") if isinstance(entry, dict) else None
    data = previous.get("data") if isinstance(previous, dict) else None
    return data if isinstance(data, str) else None


def report_details(report: PodFailureReport) -> dict[str, Any]:
    """What the incident keeps of a report: bounded, so it fits one DynamoDB item."""
    statuses = [s.model_copy(update={"message": clip(s.message, MAX_TEXT) or None})
                for s in report.container_statuses[:MAX_CONTAINERS]]
    events = [e.model_copy(update={"message": clip(e.message, MAX_TEXT)})
              for e in report.events[-MAX_EVENTS:]]
    details = {
        "kind": "pod_failure", "node_name": report.node_name, "phase": report.phase,
        "creation_timestamp": report.creation_timestamp,
        "failure_reason": report.failure_reason,
        "failure_message": clip(report.failure_message, 4 * MAX_TEXT) or None,
        "container_statuses": [s.model_dump() for s in statuses],
        "events": [e.model_dump() for e in events],
        "logs": tail(report.logs, MAX_LOG_CHARS),
        "logs_truncated": len(report.logs) > MAX_LOG_CHARS,
        "manifest": clip(report.manifest, MAX_MANIFEST_CHARS),
        "previous_logs": previous_logs(report.failure_logs),
    }
    return within_item_size(details)


def within_item_size(details: dict[str, Any]) -> dict[str, Any]:
    """Drop the bulkiest facts until the details fit (multi-byte text can outgrow the caps)."""
    dropped = []
    for name in ("previous_logs", "manifest", "events", "logs"):
        if len(json.dumps(details, ensure_ascii=False).encode()) <= MAX_DETAILS_BYTES:
            break
        details[name] = type(details[name])()
        dropped.append(name)
    return {**details, "dropped_for_size": dropped} if dropped else details


def pod_alert(report: PodFailureReport, cluster: str | None) -> Alert:
    """The alert a pod failure report raises."""
    reason = report.failure_reason
    return Alert(
        integration=INTEGRATION, source=INTEGRATION,
        title=clip(f"{reason}: {report.namespace}/{report.pod_name}"),
        description=clip(report.failure_message, 4 * MAX_TEXT),
        severity=REASON_SEVERITY.get(reason, "warning"),
        severity_fallback=True,
        fingerprint=stable_fingerprint({"cluster": cluster, "namespace": report.namespace,
                                        "pod": report.pod_name, "reason": reason}),
        namespace=report.namespace, pod=report.pod_name, cluster=cluster,
        labels={"failure_reason": reason, "namespace": report.namespace,
                "pod": report.pod_name},
        details=report_details(report),
    )


def pod_view(incident: Incident) -> dict[str, Any]:
    """One incident in Kure's ``PodFailureResponse`` shape."""
    details = incident.details
    return {
        "id": incident.id,
        "pod_name": incident.pod, "namespace": incident.namespace,
        "node_name": details.get("node_name"), "phase": details.get("phase"),
        "creation_timestamp": details.get("creation_timestamp"),
        "failure_reason": (details.get("failure_reason") or incident.labels.get("reason")
                           or incident.labels.get("alertname") or incident.title),
        "failure_message": details.get("failure_message") or incident.description or None,
        "solution": incident.solution,  # the latest diagnosis, once the engine has answered
        "events": details.get("events", []),
        "container_statuses": details.get("container_statuses", []),
        "logs": details.get("logs", ""), "manifest": details.get("manifest", ""),
        "timestamp": details.get("creation_timestamp") or incident.created_at,
        "status": STATUS_OF_STATE[incident.state],
        "dismissed": incident.state == "ignored",
        "resolved_at": incident.resolved_at, "resolution_note": None,
        "cluster": incident.cluster, "severity": incident.severity,
        "source": incident.integration, "first_seen": incident.created_at,
        "last_seen": incident.last_seen_at, "occurrences": incident.alert_count,
    }


@dataclass
class PodFailureService:
    """Kure's pod endpoints over the incident repository."""

    incidents: IncidentRepository
    ingest: IngestService

    def report(self, workspace_id: str, body: Any, cluster: str | None,
               actor: str) -> dict[str, Any]:
        """Record a failed pod; the answer is the pod failure as Kure returns it."""
        report = parse_body(PodFailureReport, body, "pod failure report")
        if not report.pod_name.strip() or not report.namespace.strip():
            raise BadRequest("Pod name and namespace are required", code="missing_pod")
        outcome = self.incidents.record_alert(workspace_id, pod_alert(report, cluster), actor,
                                              self.ingest.policy(workspace_id))
        queue_diagnoses(self.ingest, workspace_id, [outcome])
        incident = self.incidents.get(workspace_id, outcome.incident_id) \
            if outcome.incident_id else None
        if incident is None:
            raise Conflict(f"the pod failure was not recorded: {outcome.reason}",
                           code="not_recorded")
        return {**pod_view(incident), "action": outcome.action,
                "deduplicated": outcome.deduplicated}

    def list(self, workspace_id: str, view: str) -> list[dict[str, Any]]:
        """Pod failures of one view (active, history, ignored), newest first."""
        found = incidents_in_states(self.incidents, workspace_id, VIEWS[view],
                                    per_state=MAX_LISTED)
        return [pod_view(i) for i in found if i.pod]

    def get(self, workspace_id: str, pod_id: str) -> Incident:
        """The pod failure, or a 404 (also for another workspace's or a non-pod incident)."""
        incident = self.incidents.get(workspace_id, pod_id)
        if incident is None or not incident.pod:
            raise NotFound("Pod failure not found", code="pod_failure_not_found")
        return incident

    def set_status(self, workspace_id: str, pod_id: str, body: Any,
                   actor: str) -> dict[str, Any]:
        """Move a pod failure to a Kure status."""
        update = parse_body(StatusUpdate, body, "status update")
        if update.status not in STATE_OF_STATUS:
            raise BadRequest("Invalid status. Must be one of: new, investigating, resolved, "
                             "ignored", code="invalid_status")
        self.get(workspace_id, pod_id)
        incident = self.incidents.transition(workspace_id, pod_id,
                                             STATE_OF_STATUS[update.status], actor,
                                             update.resolution_note)
        return {**pod_view(incident), "resolution_note": update.resolution_note}

    def dismiss(self, workspace_id: str, pod_id: str, actor: str) -> dict[str, Any]:
        """Ignore a pod failure (Kure's dismiss)."""
        self.get(workspace_id, pod_id)
        self.incidents.transition(workspace_id, pod_id, "ignored", actor, "dismissed")
        return {"message": "Pod failure dismissed", "id": pod_id, "status": "ignored"}

    def restore(self, workspace_id: str, pod_id: str, actor: str) -> dict[str, Any]:
        """Bring an ignored pod failure back as new."""
        if self.get(workspace_id, pod_id).state != "ignored":
            raise Conflict("only an ignored pod failure can be restored",
                           code="not_ignored")
        self.incidents.transition(workspace_id, pod_id, "open", actor, "restored")
        return {"message": "Pod failure restored", "id": pod_id, "status": "new"}

    def dismiss_deleted(self, workspace_id: str, namespace: str, pod_name: str,
                        cluster: str | None, actor: str) -> dict[str, Any]:
        """Resolve the active failures of a pod that no longer exists (in that cluster)."""
        active = incidents_in_states(self.incidents, workspace_id, VIEWS["active"],
                                     per_state=MAX_LISTED)
        resolved = []
        for incident in active:
            if (incident.namespace, incident.pod) != (namespace, pod_name) or \
                    (cluster and incident.cluster != cluster):
                continue
            try:
                self.incidents.transition(workspace_id, incident.id, "resolved", actor,
                                          "pod deleted")
            except (NotFound, Conflict):
                continue  # changed meanwhile by someone else: theirs is the newer word
            resolved.append(incident.id)
        return {"message": "Pod auto-resolved", "resolved": len(resolved),
                "incident_ids": resolved}


def queue_diagnoses(ingest: IngestService, workspace_id: str,
                    outcomes: list[IngestOutcome]) -> None:
    """Ask for a diagnosis of new incidents, exactly as webhook ingestion does."""
    # IngestService owns the queue-then-mark protocol.
    ingest.request_diagnoses(workspace_id, outcomes)
