"""Composition root: builds services and adapters on first use, never at import."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.bootstrap_remediation import RemediationParts
from chalicelib.config import Settings, get_settings
from chalicelib.domain.ports import (
    ApiKeyRepository,
    AuditLog,
    DeadLetterStore,
    DeliveryLog,
    DeployLog,
    DiagnosisQueue,
    IncidentRepository,
    WorkspaceSettings,
)

if TYPE_CHECKING:
    from chalicelib.adapters.dynamodb_fleet_records import DynamoFleetRecords
    from chalicelib.domain.cluster_ports import (
        ClusterConnector,
        ClusterDataStore,
        ClusterRegistry,
        CredentialCipher,
    )
    from chalicelib.domain.diagnosis_ports import DiagnosisStore, KnowledgeStore
    from chalicelib.domain.llm import LlmConnector
    from chalicelib.domain.security import SecurityFindingStore
    from chalicelib.services.agent_reports import AgentReportService
    from chalicelib.services.alerts_v1 import PulseAlertService
    from chalicelib.services.cluster_snapshots import SnapshotService
    from chalicelib.services.cluster_views import ClusterViews
    from chalicelib.services.clusters import ClusterService
    from chalicelib.services.deploys import DeployService
    from chalicelib.services.diagnosis import DiagnosisService
    from chalicelib.services.diagnosis_requests import DiagnosisRequestService
    from chalicelib.services.diagnosis_views import DiagnosisViews
    from chalicelib.services.diagrams import DiagramService
    from chalicelib.services.incident_reports import IncidentReportService
    from chalicelib.services.incidents import IncidentService
    from chalicelib.services.ingest import IngestService
    from chalicelib.services.keys import KeyService
    from chalicelib.services.llm_settings import LlmSettingsService
    from chalicelib.services.pod_failures import PodFailureService
    from chalicelib.services.resources import ResourceService
    from chalicelib.services.security_ingest import SecurityIngestService
    from chalicelib.services.similar import SimilarService
    from chalicelib.services.sns_http import SnsHttpService


class Container(RemediationParts):
    """Holds the process's adapters and services, each created when first asked for
    (remediation's are in bootstrap_remediation)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def incident_repository(self) -> IncidentRepository:
        """Incidents on DynamoDB."""
        from chalicelib.adapters.dynamodb_incidents import DynamoIncidentRepository

        return DynamoIncidentRepository(self.settings.incidents_table)

    @cached_property
    def key_repository(self) -> ApiKeyRepository:
        """API keys on DynamoDB."""
        from chalicelib.adapters.dynamodb_keys import DynamoApiKeyRepository

        return DynamoApiKeyRepository(self.settings.incidents_table)

    @cached_property
    def audit_log(self) -> AuditLog:
        """The hash-chained audit log on DynamoDB."""
        from chalicelib.adapters.dynamodb_audit import DynamoAuditLog

        return DynamoAuditLog(self.settings.audit_table)

    @cached_property
    def diagnosis_queue(self) -> DiagnosisQueue:
        """Diagnosis requests on SQS."""
        from chalicelib.adapters.sqs_queue import SqsDiagnosisQueue

        return SqsDiagnosisQueue(self.settings.diagnoses_queue)

    @cached_property
    def dead_letters(self) -> DeadLetterStore:
        """Payloads that failed, on DynamoDB."""
        from chalicelib.adapters.dynamodb_operations import DynamoDeadLetterStore

        return DynamoDeadLetterStore(self.settings.incidents_table)

    @cached_property
    def deliveries(self) -> DeliveryLog:
        """Processed delivery ids, on DynamoDB."""
        from chalicelib.adapters.dynamodb_operations import DynamoDeliveryLog

        return DynamoDeliveryLog(self.settings.incidents_table)

    @cached_property
    def deploy_log(self) -> DeployLog:
        """Deploy events, on DynamoDB."""
        from chalicelib.adapters.dynamodb_operations import DynamoDeployLog

        return DynamoDeployLog(self.settings.incidents_table)

    @cached_property
    def workspace_settings(self) -> WorkspaceSettings:
        """Per-workspace settings, on DynamoDB."""
        from chalicelib.adapters.dynamodb_operations import DynamoWorkspaceSettings

        return DynamoWorkspaceSettings(self.settings.incidents_table)

    @cached_property
    def security_findings(self) -> SecurityFindingStore:
        """Security findings, scan status and scan durations, on DynamoDB."""
        from chalicelib.adapters.dynamodb_security import DynamoSecurityFindingStore

        return DynamoSecurityFindingStore(self.settings.incidents_table)

    @cached_property
    def security_ingest(self) -> SecurityIngestService:
        """A cluster scanner's findings, clears, rescan status and scan durations."""
        from chalicelib.services.security_ingest import SecurityIngestService

        return SecurityIngestService(self.security_findings)

    @cached_property
    def ingest(self) -> IngestService:
        """Alert ingestion."""
        from chalicelib.services.ingest import IngestService

        return IngestService(self.incident_repository, self.diagnosis_queue, self.dead_letters,
                             self.deliveries, self.workspace_settings)

    @cached_property
    def sns_http(self) -> SnsHttpService:
        """SNS HTTPS subscriptions: signature check, confirmation, ingestion."""
        from chalicelib.adapters.sns_confirm import confirm_subscription
        from chalicelib.adapters.sns_signature import default_verifier
        from chalicelib.services.sns_http import SnsHttpService


        return SnsHttpService(self.ingest, default_verifier().verify, confirm_subscription,
                              lambda: self.settings.sns_topic_allowlist)

    @cached_property
    def deploys(self) -> DeployService:
        """Deploy events and deploy correlation."""
        from chalicelib.services.deploys import DeployService

        return DeployService(self.deploy_log, self.incident_repository)

    @cached_property
    def incidents(self) -> IncidentService:
        """Incident reads."""
        from chalicelib.services.incidents import IncidentService

        return IncidentService(self.incident_repository,
                               lambda ws, incident, limit: self.similar.find(ws, incident, None,
                                                                             limit),
                               self.action_store)

    @cached_property
    def incident_reports(self) -> IncidentReportService:
        """Postmortems, shift handoff digests and noisy-incident reports."""
        from chalicelib.services.incident_reports import IncidentReportService

        return IncidentReportService(self.incidents, self.deploys)

    @cached_property
    def keys(self) -> KeyService:
        """API keys."""
        from chalicelib.services.keys import KeyService

        return KeyService(self.key_repository)

    @cached_property
    def diagnosis_requests(self) -> DiagnosisRequestService:
        """The diagnoses queue consumer's use case."""
        from chalicelib.services.diagnosis_requests import DiagnosisRequestService

        return DiagnosisRequestService(self.incident_repository, self.diagnosis_store,
                                       self.diagnoses)

    @cached_property
    def diagnosis_idempotency(self) -> Any:
        """Powertools idempotency settings of the diagnoses consumer (one hour window)."""
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        return IdempotencyConfig(event_key_jmespath="[workspace_id, incident_id, requested_at]",
                                 expires_after_seconds=3600, raise_on_no_idempotency_key=True)

    @cached_property
    def diagnosis_consumer(self) -> Callable[..., Any]:
        """``handle(request=...)`` made idempotent by powertools, its records in the incidents
        table (pk ``idempotency#<function>``, sk the request's hash, expiring by TTL)."""
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            idempotent_function,
        )

        from chalicelib.adapters.aws import client

        store = DynamoDBPersistenceLayer(
            table_name=self.settings.incidents_table, key_attr="pk", sort_key_attr="sk",
            expiry_attr="expires_at", boto3_client=client("dynamodb"))
        return idempotent_function(data_keyword_argument="request", persistence_store=store,
                                   config=self.diagnosis_idempotency)(
            self.diagnosis_requests.handle)

    @cached_property
    def diagnosis_views(self) -> DiagnosisViews:
        """The LLM status and the chat bot."""
        from chalicelib.services.diagnosis_views import DiagnosisViews

        return DiagnosisViews(self.diagnoses, self.llm_settings, self.llm_connector,
                              self.knowledge_store)

    @cached_property
    def diagnosis_store(self) -> DiagnosisStore:
        """Diagnoses on DynamoDB."""
        from chalicelib.adapters.dynamodb_diagnoses import DynamoDiagnosisStore

        return DynamoDiagnosisStore(self.settings.incidents_table)

    @cached_property
    def similar(self) -> SimilarService:
        """The similar-incidents index and its lookups."""
        from chalicelib.adapters.dynamodb_diagnoses import DynamoSimilarIndex
        from chalicelib.services.similar import SimilarService

        return SimilarService(DynamoSimilarIndex(self.settings.incidents_table),
                              self.incident_repository)

    @cached_property
    def knowledge_store(self) -> KnowledgeStore:
        """A workspace's own knowledge entries, on DynamoDB."""
        from chalicelib.adapters.dynamodb_ai_records import DynamoKnowledgeStore

        return DynamoKnowledgeStore(self.settings.incidents_table)

    @cached_property
    def llm_connector(self) -> LlmConnector:
        """OpenAI-compatible and Bedrock clients (each imported on first use)."""
        from chalicelib.adapters.llm_factory import DefaultLlmConnector

        return DefaultLlmConnector()

    @cached_property
    def llm_settings(self) -> LlmSettingsService:
        """LLM settings per workspace, provider tests and cost accounting."""
        from chalicelib.adapters.dynamodb_ai_records import DynamoLlmUsageLog
        from chalicelib.domain.llm import LlmConfig
        from chalicelib.services.llm_settings import DEFAULT_MODELS, LlmSettingsService

        s = self.settings
        default = LlmConfig(provider=s.llm_provider,  # type: ignore[arg-type]
                            model=s.llm_model or DEFAULT_MODELS.get(s.llm_provider,
                                                                    "builtin-rules"),
                            base_url=s.llm_base_url, api_key=s.llm_api_key, region=s.llm_region)
        return LlmSettingsService(self.workspace_settings, self.credential_cipher,
                                  self.llm_connector, DynamoLlmUsageLog(s.incidents_table),
                                  default)

    @cached_property
    def diagnoses(self) -> DiagnosisService:
        """The diagnosis engine's use cases."""
        from chalicelib.services.diagnosis import DiagnosisService
        from chalicelib.services.llm_refiner import LlmRefiner

        return DiagnosisService(self.incident_repository, self.diagnosis_store, self.clusters,
                                self.deploys, self.similar, self.knowledge_store,
                                self.llm_settings, LlmRefiner(self.llm_connector,
                                                              self.llm_settings))

    @cached_property
    def pod_failures(self) -> PodFailureService:
        """Seed 002's pod failures (Kure Monitor) over incidents."""
        from chalicelib.services.pod_failures import PodFailureService

        return PodFailureService(self.incident_repository, self.ingest)

    @cached_property
    def pulse_alerts(self) -> PulseAlertService:
        """Seed 001's alerts (Pulse) over incidents and the lifecycle policy."""
        from chalicelib.services.alerts_v1 import PulseAlertService

        return PulseAlertService(self.incident_repository, self.workspace_settings, self.ingest)

    @cached_property
    def agent_reports(self) -> AgentReportService:
        """Seed 001's Kubernetes agent reports (Pulse) turned into alerts."""
        from chalicelib.services.agent_reports import AgentReportService

        return AgentReportService(self.incident_repository, self.workspace_settings,
                                  self.ingest)

    @cached_property
    def cluster_registry(self) -> ClusterRegistry:
        """Registered clusters on DynamoDB."""
        from chalicelib.adapters.dynamodb_clusters import DynamoClusterRegistry

        return DynamoClusterRegistry(self.settings.incidents_table)

    @cached_property
    def cluster_data(self) -> ClusterDataStore:
        """Snapshots, findings, health history and connection logs on DynamoDB."""
        from chalicelib.adapters.dynamodb_cluster_data import DynamoClusterDataStore

        return DynamoClusterDataStore(self.settings.incidents_table)

    @cached_property
    def credential_cipher(self) -> CredentialCipher:
        """KMS in AWS, a local key on one machine."""
        from chalicelib.adapters.credential_cipher import cipher_from_settings

        s = self.settings
        return cipher_from_settings(s.kms_key_id, s.local_key, s.local_key_file)

    @cached_property
    def cluster_connector(self) -> ClusterConnector:
        """The official Kubernetes client (imported on first connection)."""
        from chalicelib.adapters.kubernetes_api import KubernetesConnector

        return KubernetesConnector()

    @cached_property
    def snapshots(self) -> SnapshotService:
        """Snapshots, analysis and health of clusters."""
        from chalicelib.services.cluster_snapshots import SnapshotService

        # A lambda, so the resources service is built only when a snapshot is taken.
        return SnapshotService(self.cluster_data, on_snapshot=lambda cluster, client, snapshot:  # noqa: PLW0108
                               self.resources.record_snapshot_metrics(cluster, client, snapshot))

    @cached_property
    def clusters(self) -> ClusterService:
        """The cluster registry's use cases."""
        from chalicelib.services.clusters import ClusterService

        return ClusterService(self.cluster_registry, self.credential_cipher,
                              self.cluster_connector, self.cluster_data, self.snapshots)

    @cached_property
    def cluster_views(self) -> ClusterViews:
        """Fleet list, status, metrics and issues of registered clusters."""
        from chalicelib.services.cluster_views import ClusterViews

        return ClusterViews(self.clusters, self.snapshots)

    @cached_property
    def resources(self) -> ResourceService:
        """Tracked and unified resources, user fields, live pods and usage history."""
        from chalicelib.adapters.dynamodb_metric_points import DynamoMetricPointStore
        from chalicelib.adapters.dynamodb_resource_fields import DynamoResourceFieldStore
        from chalicelib.services.resources import ResourceService

        table = self.settings.incidents_table
        return ResourceService(self.clusters, self.snapshots, self.cluster_data,
                               DynamoResourceFieldStore(table), DynamoMetricPointStore(table))

    @cached_property
    def diagrams(self) -> DiagramService:
        """Seed 002's live diagrams, manifests, RBAC graphs and pod logs."""
        from chalicelib.services.diagrams import DiagramService

        return DiagramService(self.clusters)

    @cached_property
    def fleet_records(self) -> DynamoFleetRecords:
        """etcd operator requests and support bundles, on DynamoDB."""
        from chalicelib.adapters.dynamodb_fleet_records import DynamoFleetRecords

        return DynamoFleetRecords(self.settings.incidents_table)


@lru_cache(maxsize=1)
def get_container() -> Container:
    """Return the process-wide container."""
    return Container(get_settings())


def reset() -> None:
    """Drop the container, settings and clients (tests change the environment)."""
    from chalicelib.adapters.aws import reset_clients

    get_container.cache_clear()
    get_settings.cache_clear()
    reset_clients()
