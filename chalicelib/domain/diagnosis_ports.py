"""Ports of the diagnosis engine: where diagnoses, the similar-incidents index, workspace
knowledge entries and LLM usage are kept."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from chalicelib.domain.diagnosis import Diagnosis
from chalicelib.domain.knowledge import KnowledgeEntry


class DiagnosisStore(ABC):
    """Diagnoses, kept with their incident (or on their own for a question)."""

    @abstractmethod
    def put(self, workspace_id: str, diagnosis: Diagnosis) -> None:
        """Store a diagnosis (it may have an incident_id)."""

    @abstractmethod
    def latest(self, workspace_id: str, incident_id: str) -> Diagnosis | None:
        """The newest diagnosis of an incident, or None."""

    @abstractmethod
    def get(self, workspace_id: str, diagnosis_id: str) -> Diagnosis | None:
        """One diagnosis by id, or None."""


class SimilarIndex(ABC):
    """Past incidents by signature token: one item per (token, incident), read by Query."""

    @abstractmethod
    def add(self, workspace_id: str, record: dict[str, Any], tokens: list[str]) -> None:
        """Index an incident (record: incident_id, title, category, created_at)."""

    @abstractmethod
    def lookup(self, workspace_id: str, tokens: list[str],
               per_token: int = 25) -> list[dict[str, Any]]:
        """Indexed incidents sharing a token: each record with its ``tokens``."""


class KnowledgeStore(ABC):
    """A workspace's own knowledge entries (the shipped ones live in the package)."""

    @abstractmethod
    def list(self, workspace_id: str) -> list[KnowledgeEntry]:
        """Every entry of the workspace."""

    @abstractmethod
    def put(self, workspace_id: str, entry: KnowledgeEntry) -> None:
        """Create or replace an entry by id."""

    @abstractmethod
    def delete(self, workspace_id: str, entry_id: str) -> bool:
        """Remove an entry; False if it did not exist."""


class LlmUsageLog(ABC):
    """One record per LLM call: tokens, cost, outcome."""

    @abstractmethod
    def record(self, workspace_id: str, usage: dict[str, Any]) -> None:
        """Append a usage record (it has ``at``)."""

    @abstractmethod
    def since(self, workspace_id: str, since: str, limit: int = 5000) -> list[dict[str, Any]]:
        """Usage records at or after a time, oldest first."""
