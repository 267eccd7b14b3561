"""Use cases of the diagnosis engine: diagnose an incident (from the queue or on request),
answer a question about a cluster, and serve stored diagnoses.

An incident is diagnosed against its cluster (the one recorded at ingest, else the
workspace's default): a fresh snapshot when the stored one is stale, the analyzers'
findings, then the evidence about the incident's subject, the builtin engine, and the
configured LLM on top when there is one. The result is stored with the incident, indexed
for similar incidents, and the timeline says when it started and what it concluded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.clock import now_iso
from chalicelib.domain.clusters import Cluster
from chalicelib.domain.diagnosis import DeployCorrelation, Diagnosis, solution_text
from chalicelib.domain.diagnosis_ports import DiagnosisStore, KnowledgeStore
from chalicelib.domain.errors import DroverError, NotFound
from chalicelib.domain.kube import Finding, Snapshot
from chalicelib.domain.models import Incident
from chalicelib.domain.ports import IncidentRepository
from chalicelib.services.builtin_engine import BuiltinEngine
from chalicelib.services.clusters import ClusterService
from chalicelib.services.deploys import DeployService
from chalicelib.services.evidence import Evidence, SubjectHint, collect
from chalicelib.services.llm_refiner import LlmRefiner
from chalicelib.services.llm_settings import LlmSettingsService
from chalicelib.services.similar import SimilarService

# A snapshot older than this is retaken before diagnosing: the alert is about now.
FRESH_SECONDS = 60
DEPLOY_LOOKBACK_MINUTES = 120
ALERT_TEXT_KEYS = ("summary", "description", "message")
MAX_SOLUTION = 4000


def hint_for(incident: Incident) -> SubjectHint:
    """What the incident says it is about."""
    labels = incident.labels
    return SubjectHint(
        pod=incident.pod, namespace=incident.namespace,
        workload=incident.workload or incident.deployment, workload_kind=incident.workload_kind,
        node=labels.get("node") or labels.get("instance_node") or labels.get("kubernetes_node"),
        service=incident.service if incident.service and not incident.workload else None)


def _age_seconds(taken_at: str) -> float:
    then = datetime.fromisoformat(taken_at)
    return (datetime.fromisoformat(now_iso()) - then).total_seconds()


@dataclass
class DiagnosisService:
    """Diagnoses incidents and questions."""

    incidents: IncidentRepository
    store: DiagnosisStore
    clusters: ClusterService
    deploys: DeployService
    similar: SimilarService
    knowledge: KnowledgeStore
    llm_settings: LlmSettingsService
    refiner: LlmRefiner
    engine: BuiltinEngine = field(default_factory=BuiltinEngine)

    # --- incidents --------------------------------------------------------------------------
    def diagnose_incident(self, workspace_id: str, incident_id: str, *, log_limit: int = 50,
                          actor: str = "system") -> Diagnosis:
        """Diagnose an incident now, store the result, and record it on the timeline."""
        incident = self._incident(workspace_id, incident_id)
        self.incidents.add_event(workspace_id, incident_id, "diagnosis_started", actor,
                                 {"cluster": incident.cluster})
        evidence = self._evidence(workspace_id, incident.cluster, hint_for(incident),
                                  log_limit)
        for text in [incident.title, incident.description,
                     *(incident.annotations.get(k, "") for k in ALERT_TEXT_KEYS)]:
            if text:
                evidence.add("alert", text, "alert")
        diagnosis = self._diagnose(workspace_id, evidence, incident.title, "incident")
        diagnosis.incident_id = incident.id
        diagnosis.similar_incidents = self.similar.find(workspace_id, incident, diagnosis)
        diagnosis.deploy_correlation = self._deploy(workspace_id, incident.id)
        self.store.put(workspace_id, diagnosis)
        self.record_completed(workspace_id, incident, diagnosis, actor)
        return diagnosis

    def record_completed(self, workspace_id: str, incident: Incident, diagnosis: Diagnosis,
                         actor: str = "system") -> None:
        """Index a stored diagnosis and record it on its incident and timeline."""
        self.similar.remember(workspace_id, incident, diagnosis)
        self.incidents.add_event(workspace_id, incident.id, "diagnosis_completed", actor, {
            "diagnosis_id": diagnosis.diagnosis_id, "summary": diagnosis.summary,
            "category": diagnosis.category, "confidence": diagnosis.confidence,
            "provider": diagnosis.provider, "model": diagnosis.model,
            "suggested_actions_count": len(diagnosis.suggested_actions)},
            incident_fields={"diagnosis_id": diagnosis.diagnosis_id,
                             "diagnosis_category": diagnosis.category,
                             "diagnosis_confidence": diagnosis.confidence,
                             "solution": solution_text(diagnosis)[:MAX_SOLUTION]})

    def incident_diagnosis(self, workspace_id: str, incident_id: str,
                           log_limit: int | None) -> Diagnosis:
        """The stored diagnosis; a new one when none exists yet or logs were asked for."""
        self._incident(workspace_id, incident_id)
        stored = self.store.latest(workspace_id, incident_id)
        if stored is not None and log_limit is None:
            return stored
        return self.diagnose_incident(workspace_id, incident_id, log_limit=log_limit or 50,
                                      actor="api")

    def _incident(self, workspace_id: str, incident_id: str) -> Incident:
        incident = self.incidents.get(workspace_id, incident_id)
        if incident is None:
            raise NotFound(f"incident '{incident_id}' not found", code="incident_not_found")
        return incident

    def _deploy(self, workspace_id: str, incident_id: str) -> DeployCorrelation | None:
        found = self.deploys.correlation(workspace_id, incident_id, DEPLOY_LOOKBACK_MINUTES)
        deploy = found.get("correlated_deploy")
        if not deploy:
            return None
        return DeployCorrelation(deploy_id=deploy["deploy_id"], service=deploy.get("service"),
                                 minutes_before_incident=deploy["minutes_before_incident"],
                                 actor=deploy.get("actor"), version=deploy.get("image"))

    # --- questions --------------------------------------------------------------------------
    def diagnose_question(self, workspace_id: str, query: str, *, cluster: str | None = None,
                          hint: SubjectHint | None = None, log_limit: int = 50,
                          use_case: str = "question") -> Diagnosis:
        """A diagnosis of a question about a cluster (its default one when none is named)."""
        evidence = self._evidence(workspace_id, cluster, hint or SubjectHint(), log_limit,
                                  required=cluster is not None)
        evidence.add("alert", query, "question")
        diagnosis = self._diagnose(workspace_id, evidence, query, use_case)
        self.store.put(workspace_id, diagnosis)
        return diagnosis

    def get(self, workspace_id: str, diagnosis_id: str) -> Diagnosis:
        """A stored diagnosis by id, or a 404."""
        found = self.store.get(workspace_id, diagnosis_id)
        if found is None:
            raise NotFound(f"diagnosis '{diagnosis_id}' not found", code="diagnosis_not_found")
        return found

    # --- the engine -------------------------------------------------------------------------
    def _diagnose(self, workspace_id: str, evidence: Evidence, question: str,
                  use_case: str) -> Diagnosis:
        builtin = self.engine.diagnose(evidence, question, self.knowledge.list(workspace_id))
        config = self.llm_settings.config(workspace_id)
        if not config.uses_llm:
            return builtin
        return self.refiner.refine(workspace_id, config, builtin, evidence.facts,
                                   question=question, use_case=use_case)

    def _evidence(self, workspace_id: str, cluster_ref: str | None, hint: SubjectHint,
                  log_limit: int, required: bool = False) -> Evidence:
        """Evidence from the cluster; text-only (with a warning) when there is none."""
        try:
            cluster = self.clusters.resolve(workspace_id, cluster_ref)
        except NotFound as exc:
            if required:
                raise
            evidence = collect(None, [], hint)
            if cluster_ref:
                evidence.warnings.append(f"cluster '{cluster_ref}' is not registered: "
                                         f"{exc.message}")
            return evidence
        snapshot, findings, client, warning = self._cluster_state(cluster)
        evidence = collect(snapshot, findings, hint, client=client,
                           cluster_id=cluster.cluster_id, cluster_name=cluster.name,
                           log_limit=log_limit)
        if warning:
            evidence.warnings.append(warning)
        return evidence

    def _cluster_state(self, cluster: Cluster) -> tuple[Snapshot | None, list[Finding], Any,
                                                         str | None]:
        """A fresh snapshot and a live client; the stored snapshot if the cluster is down."""
        snapshots = self.clusters.snapshots
        stored = snapshots.latest(cluster)
        try:
            client = self.clusters.client(cluster)
            if stored is not None and _age_seconds(stored.taken_at) < FRESH_SECONDS:
                found = snapshots.findings(cluster)
                return stored, found[1] if found else [], client, None
            result = snapshots.take(cluster, client)
            return result.snapshot, result.findings, client, None
        except DroverError as exc:
            found = snapshots.findings(cluster) if stored is not None else None
            why = (f"cluster '{cluster.name}' could not be read ({exc.message}); "
                   + (f"using the snapshot taken at {stored.taken_at}" if stored
                      else "no snapshot is stored, so this rests on the alert alone"))
            return stored, found[1] if found else [], None, why
