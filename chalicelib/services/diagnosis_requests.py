"""Use case: accept a diagnosis request from the queue and record it on the timeline.

The diagnosis engine itself arrives later; until then a request is recorded, not answered.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from chalicelib.domain.clock import now_iso
from chalicelib.domain.ports import IncidentRepository


class DiagnosisRequest(BaseModel):
    """The body of a message on the diagnoses queue."""

    incident_id: str = Field(min_length=1)
    workspace_id: str = Field(min_length=1)
    requested_at: str | None = None


@dataclass
class DiagnosisRequestService:
    """Consumes diagnosis requests idempotently."""

    incidents: IncidentRepository

    def accept(self, body: str) -> bool:
        """Record diagnosis_requested once; True if recorded now, False if already recorded.

        Raises for a malformed message or an unknown incident, so the message is retried
        and ends in the dead-letter queue with its error.
        """
        request = DiagnosisRequest.model_validate_json(body)
        return self.incidents.mark_diagnosis_requested(
            request.workspace_id, request.incident_id, now_iso(),
            {"requested_at": request.requested_at},
        )
