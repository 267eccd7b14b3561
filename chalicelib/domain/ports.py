"""Ports: what services need from the outside world, as abstract classes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.models import Alert, Incident, IngestOutcome, Page


class IncidentRepository(ABC):
    """Incidents, their timelines and the fingerprint claims that deduplicate alerts."""

    @abstractmethod
    def record_alert(self, workspace_id: str, alert: Alert, actor: str) -> IngestOutcome:
        """Open, deduplicate into, or resolve the incident of an alert, atomically."""

    @abstractmethod
    def get(self, workspace_id: str, incident_id: str) -> Incident | None:
        """Return one incident of the workspace, or None."""

    @abstractmethod
    def list(self, workspace_id: str, *, state: str | None, limit: int,
             cursor: str | None) -> Page:
        """Return incidents newest first, optionally of one state."""

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
