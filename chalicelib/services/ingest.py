"""Use case: turn an alert payload into deduplicated incidents and diagnosis requests."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.clock import new_id, now_iso
from chalicelib.domain.errors import DependencyUnavailable, DroverError
from chalicelib.domain.lifecycle import IngestPolicy
from chalicelib.domain.models import IngestOutcome
from chalicelib.domain.ports import (
    DeadLetter,
    DeadLetterStore,
    DeliveryLog,
    DiagnosisQueue,
    IncidentRepository,
    WorkspaceSettings,
)
from chalicelib.plugins.normalizers import (
    NormalizeContext,
    Normalized,
    detect_source,
    get_normalizer,
)

logger = logging.getLogger("drover.ingest")
POLICY_SETTINGS = "alerts_config"
POLICY_CACHE_SECONDS = 30.0


@dataclass
class IngestService:
    """Normalizes, deduplicates and records alerts; asks for a diagnosis of new incidents."""

    incidents: IncidentRepository
    diagnoses: DiagnosisQueue
    dead_letters: DeadLetterStore
    deliveries: DeliveryLog
    settings: WorkspaceSettings
    _policies: dict[str, tuple[float, IngestPolicy]] = field(default_factory=dict)

    def ingest(self, workspace_id: str, source: str | None, payload: Any,
               context: NormalizeContext, *, delivery_id: str | None = None) -> dict[str, Any]:
        """Record every alert of the payload; seed 004's response plus ``incidents``.

        ``source`` None means: recognize the payload by its shape. A payload that fails
        for a reason other than bad input is kept in the dead-letter store, then the
        error is raised so the sender retries.
        """
        source = source or detect_source(payload)
        normalized = get_normalizer(source).read(payload, context)
        delivery = delivery_id or normalized.delivery_id
        try:
            return self._record(workspace_id, source, normalized, delivery)
        except DroverError as exc:
            if isinstance(exc, DependencyUnavailable):
                self.dead_letter(workspace_id, source, payload, exc.message)
            raise
        except Exception as exc:
            self.dead_letter(workspace_id, source, payload, f"{type(exc).__name__}: {exc}")
            raise

    def _record(self, workspace_id: str, source: str, normalized: Normalized,
                delivery: str | None) -> dict[str, Any]:
        if normalized.kind != "alerts":
            return _reply(source, normalized, [])
        if delivery and self.deliveries.seen(workspace_id, source, delivery):
            return {**_reply(source, normalized, []), "replayed": True,
                    "reason": f"delivery {delivery} was already processed"}
        policy = self.policy(workspace_id)
        outcomes = self.incidents.record_alerts(
            workspace_id, [(alert, f"{alert.integration}:{alert.source}")
                           for alert in normalized.alerts], policy)
        self.request_diagnoses(workspace_id, outcomes)
        if delivery:
            self.deliveries.remember(workspace_id, source, delivery)
        return _reply(source, normalized, outcomes)

    def policy(self, workspace_id: str) -> IngestPolicy:
        """The workspace's lifecycle policy, cached briefly (it is read on every alert)."""
        cached = self._policies.get(workspace_id)
        if cached and time.monotonic() - cached[0] < POLICY_CACHE_SECONDS:
            return cached[1]
        stored = self.settings.get(workspace_id, POLICY_SETTINGS) or {}
        known = IngestPolicy.__dataclass_fields__
        policy = IngestPolicy(**{k: v for k, v in stored.items() if k in known})
        self._policies[workspace_id] = (time.monotonic(), policy)
        return policy

    def forget_policy(self, workspace_id: str) -> None:
        """Drop the cached policy after it was changed."""
        self._policies.pop(workspace_id, None)

    def dead_letter(self, workspace_id: str, source: str, payload: Any, error: str) -> None:
        """Keep a payload that could not be processed; log it if even that fails."""
        entry = DeadLetter(id=new_id("dlq-"), workspace_id=workspace_id, source=source,
                           error=error, payload=payload, timestamp=now_iso())
        try:
            self.dead_letters.put(entry)
        except Exception:
            logger.exception("dead-letter store unavailable; payload kept in this log: %s",
                             {"source": source, "error": error, "payload": payload})

    def request_diagnoses(self, workspace_id: str, outcomes: list[IngestOutcome]) -> None:
        """Queue a diagnosis for each new incident among the outcomes (idempotent downstream)."""
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


def _reply(source: str, normalized: Normalized, outcomes: list[IngestOutcome]) -> dict[str, Any]:
    first = next((o for o in outcomes if o.incident_id), outcomes[0] if outcomes else None)
    return {
        "ok": True,
        "incident_id": first.incident_id if first else None,
        "deduplicated": first.deduplicated if first else False,
        "dedup_strategy": first.dedup_strategy if first else None,
        "group_id": first.parent_id if first else None,
        "source": source,
        "kind": normalized.kind,
        "reason": normalized.reason,
        "incidents": [o.model_dump(exclude={"needs_diagnosis"}) for o in outcomes],
        "count": len(outcomes),
    }
