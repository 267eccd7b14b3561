"""Use case: turn an alert payload into deduplicated incidents and diagnosis requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.clock import now_iso
from chalicelib.domain.errors import DependencyUnavailable
from chalicelib.domain.models import IngestOutcome
from chalicelib.domain.ports import DiagnosisQueue, IncidentRepository
from chalicelib.plugins.normalizers import NormalizeContext, get_normalizer


@dataclass
class IngestService:
    """Normalizes, deduplicates and records alerts; asks for a diagnosis of new incidents."""

    incidents: IncidentRepository
    diagnoses: DiagnosisQueue

    def ingest(self, workspace_id: str, source: str, payload: Any,
               context: NormalizeContext) -> dict[str, Any]:
        """Record every alert of the payload and return seed 004's response plus ``incidents``."""
        normalizer = get_normalizer(source)
        alerts = normalizer.normalize(payload, context)
        outcomes = [
            self.incidents.record_alert(workspace_id, alert, f"{alert.integration}:{alert.source}")
            for alert in alerts
        ]
        self._request_diagnoses(workspace_id, outcomes)
        first = outcomes[0]
        return {
            "ok": True,
            "incident_id": first.incident_id,
            "deduplicated": first.deduplicated,
            "dedup_strategy": first.dedup_strategy,
            "group_id": None,
            "incidents": [o.model_dump(exclude={"needs_diagnosis"}) for o in outcomes],
            "count": len(outcomes),
        }

    def _request_diagnoses(self, workspace_id: str, outcomes: list[IngestOutcome]) -> None:
        # A duplicate re-requests a diagnosis only if an earlier enqueue failed; the consumer
        # is idempotent, so a request sent twice does no harm.
        incident_ids = list(dict.fromkeys(
            o.incident_id for o in outcomes if o.needs_diagnosis and o.incident_id))
        if not incident_ids:
            return
        now = now_iso()
        try:
            self.diagnoses.request([
                {"incident_id": i, "workspace_id": workspace_id, "requested_at": now}
                for i in incident_ids
            ])
        except DependencyUnavailable as exc:
            raise DependencyUnavailable(
                "the alerts were recorded but their diagnosis could not be queued; "
                "retry the delivery (it will be deduplicated)", code="queue_unavailable",
                dependency="SQS",
            ) from exc
        self.incidents.mark_diagnosis_enqueued(workspace_id, incident_ids, now)
