"""Use case: a diagnosis request from the queue: record it, diagnose, store the result.

Delivery is at least once; the consumer wraps :meth:`DiagnosisRequestService.handle` in
powertools' idempotency, so a redelivered message returns the stored outcome instead of
diagnosing twice. A redelivery after an attempt that stored the diagnosis but failed before
recording it on the incident finishes the recording. A malformed message or an unknown
incident raises, is retried, and ends in the dead-letter queue with its error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from chalicelib.domain.clock import now_iso
from chalicelib.domain.diagnosis_ports import DiagnosisStore
from chalicelib.domain.ports import IncidentRepository
from chalicelib.services.diagnosis import DiagnosisService


class DiagnosisRequest(BaseModel):
    """The body of a message on the diagnoses queue."""

    incident_id: str = Field(min_length=1)
    workspace_id: str = Field(min_length=1)
    requested_at: str | None = None


@dataclass
class DiagnosisRequestService:
    """Consumes diagnosis requests."""

    incidents: IncidentRepository
    store: DiagnosisStore
    diagnoses: DiagnosisService

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """Diagnose the incident unless a diagnosis newer than the request exists."""
        parsed = DiagnosisRequest.model_validate(request)
        ws, incident_id = parsed.workspace_id, parsed.incident_id
        self.incidents.mark_diagnosis_requested(ws, incident_id, now_iso(),
                                                {"requested_at": parsed.requested_at})
        existing = self.store.latest(ws, incident_id)
        if existing is not None and existing.created_at >= (parsed.requested_at or ""):
            incident = self.incidents.get(ws, incident_id)
            if incident is not None and incident.diagnosis_id != existing.diagnosis_id:
                # An earlier attempt stored it, then failed before recording it.
                self.diagnoses.record_completed(ws, incident, existing)
            return {"incident_id": incident_id, "diagnosis_id": existing.diagnosis_id,
                    "skipped": True}
        diagnosis = self.diagnoses.diagnose_incident(ws, incident_id)
        return {"incident_id": incident_id, "diagnosis_id": diagnosis.diagnosis_id,
                "category": diagnosis.category, "skipped": False}
