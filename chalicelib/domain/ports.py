"""Ports: what services need from the outside world, as abstract classes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.lifecycle import IngestPolicy
from chalicelib.domain.models import Alert, Incident, IngestOutcome, Page, TimelineEvent


class IncidentRepository(ABC):
    """Incidents, their timelines and the fingerprint claims that deduplicate alerts."""

    @abstractmethod
    def record_alert(self, workspace_id: str, alert: Alert, actor: str,
                     policy: IngestPolicy | None = None) -> IngestOutcome:
        """Open, deduplicate into, acknowledge, resolve or reopen an alert's incident."""

    def record_alerts(self, workspace_id: str, alerts: list[tuple[Alert, str]],
                      policy: IngestPolicy | None = None) -> list[IngestOutcome]:
        """``record_alert`` for each (alert, actor) of one payload, in order."""
        return [self.record_alert(workspace_id, alert, actor, policy) for alert, actor in alerts]

    @abstractmethod
    def transition(self, workspace_id: str, incident_id: str, target: str, actor: str,
                   reason: str | None = None) -> Incident:
        """Move an incident to another state by hand (NotFound, Conflict)."""

    @abstractmethod
    def add_note(self, workspace_id: str, incident_id: str, actor: str,
                 text: str) -> TimelineEvent:
        """Add a note to an incident's timeline."""

    @abstractmethod
    def add_event(self, workspace_id: str, incident_id: str, event_type: str, actor: str,
                  payload: dict[str, Any], *,
                  incident_fields: dict[str, Any] | None = None) -> TimelineEvent:
        """Append an event (e.g. diagnosis_completed) to an incident's timeline, setting
        ``incident_fields`` on the incident in the same transaction."""

    @abstractmethod
    def children(self, workspace_id: str, incident_id: str,
                 limit: int = 100) -> list[dict[str, Any]]:
        """The incidents correlated into this one: incident_id, correlation_reason, created_at."""

    @abstractmethod
    def get(self, workspace_id: str, incident_id: str) -> Incident | None:
        """Return one incident of the workspace, or None."""

    @abstractmethod
    def list(self, workspace_id: str, *, state: str | None, limit: int,
             cursor: str | None, since: str | None = None) -> Page:
        """Return incidents newest first, optionally of one state or created since a time."""

    @abstractmethod
    def timeline(self, workspace_id: str, incident_id: str, *, limit: int,
                 cursor: str | None) -> Page:
        """Return timeline events oldest first."""

    @abstractmethod
    def mark_diagnosis_enqueued(self, workspace_id: str, incident_ids: list[str],
                                at: str) -> None:
        """Remember that diagnosis requests for these incidents are on the queue."""

    @abstractmethod
    def mark_diagnosis_requested(self, workspace_id: str, incident_id: str, at: str,
                                 payload: dict[str, Any]) -> bool:
        """Record diagnosis_requested once; False if it was already recorded."""


@dataclass(frozen=True)
class StoredKey:
    """An API key as stored: its hash and metadata, never the raw key."""

    id: str
    key_hash: str
    name: str
    scopes: tuple[str, ...]
    workspace_id: str
    created_at: str
    created_by: str
    prefix: str


class ApiKeyRepository(ABC):
    """API keys stored by SHA-256 hash."""

    @abstractmethod
    def find_by_hash(self, key_hash: str) -> StoredKey | None:
        """Return the key with this hash, or None."""

    @abstractmethod
    def add(self, key: StoredKey) -> None:
        """Store a new key."""

    @abstractmethod
    def put_bootstrap(self, key: StoredKey) -> None:
        """Store or replace the bootstrap admin key."""

    @abstractmethod
    def list(self, workspace_id: str) -> list[StoredKey]:
        """Return the keys of a workspace."""

    @abstractmethod
    def get(self, key_id: str) -> StoredKey | None:
        """Return a key by id, or None."""

    @abstractmethod
    def delete(self, key: StoredKey) -> None:
        """Revoke a key."""


@dataclass(frozen=True)
class AuditRecord:
    """One audited request: who did what, when, and how it ended."""

    workspace_id: str
    actor: str
    action: str
    target: str
    outcome: str
    status_code: int
    request_id: str
    source_ip: str
    detail: dict[str, Any]


class AuditLog(ABC):
    """Append-only, hash-chained record of mutating requests."""

    @abstractmethod
    def append(self, record: AuditRecord) -> str:
        """Append a record and return its id."""


class DiagnosisQueue(ABC):
    """Where diagnosis requests wait for the diagnosis engine."""

    @abstractmethod
    def request(self, requests: list[dict[str, Any]]) -> None:
        """Enqueue diagnosis requests; raise DependencyUnavailable if any could not be sent."""


@dataclass(frozen=True)
class DeadLetter:
    """A payload that could not be processed, with why and where it came from."""

    id: str
    workspace_id: str
    source: str
    error: str
    payload: Any
    timestamp: str
    truncated: bool = False


class DeadLetterStore(ABC):
    """Where payloads that failed after retries wait for a human."""

    @abstractmethod
    def put(self, entry: DeadLetter) -> None:
        """Keep a failed payload."""

    @abstractmethod
    def list(self, workspace_id: str, limit: int) -> list[DeadLetter]:
        """The workspace's failed payloads, newest first."""


class DeployLog(ABC):
    """Deploy events from CI/CD, for deploy correlation."""

    @abstractmethod
    def add(self, workspace_id: str, deploy: dict[str, Any]) -> None:
        """Store a deploy event (it has deploy_id, service and timestamp)."""

    @abstractmethod
    def recent(self, workspace_id: str, *, limit: int, since: str | None = None,
               service: str | None = None, until: str | None = None) -> list[dict[str, Any]]:
        """Deploys newest first, optionally of one service and within a time range."""


class DeliveryLog(ABC):
    """Per-delivery ids already processed (PagerDuty X-Webhook-Id, SNS MessageId)."""

    @abstractmethod
    def seen(self, workspace_id: str, source: str, delivery_id: str) -> bool:
        """Whether this delivery was processed before."""

    @abstractmethod
    def remember(self, workspace_id: str, source: str, delivery_id: str) -> None:
        """Record a processed delivery (kept for a week)."""


class WorkspaceSettings(ABC):
    """Per-workspace settings documents, e.g. the alert lifecycle policy."""

    @abstractmethod
    def get(self, workspace_id: str, name: str) -> dict[str, Any] | None:
        """A settings document, or None if never set."""

    @abstractmethod
    def put(self, workspace_id: str, name: str, value: dict[str, Any]) -> None:
        """Store a settings document."""
