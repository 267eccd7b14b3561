"""The remediation group's part of the composition root: actions, the state machine,
workflows, runbooks and autonomy, each built on first use (the Container inherits it)."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.config import Settings
    from chalicelib.domain.diagnosis_ports import DiagnosisStore
    from chalicelib.domain.ports import AuditLog, IncidentRepository, WorkspaceSettings
    from chalicelib.domain.remediation import ActionStore
    from chalicelib.domain.remediation_ports import RemediationSteps, WorkflowStarter
    from chalicelib.domain.workflows import RunStore
    from chalicelib.services.autonomy import AutonomyService
    from chalicelib.services.clusters import ClusterService
    from chalicelib.services.deploys import DeployService
    from chalicelib.services.diagnosis import DiagnosisService
    from chalicelib.services.mirrors import MirrorService
    from chalicelib.services.pod_failures import PodFailureService
    from chalicelib.services.remediation import RemediationService
    from chalicelib.services.remediation_plans import RemediationPlanService
    from chalicelib.services.runbooks import RunbookService
    from chalicelib.services.workflows import Runner, WorkflowService


class RemediationParts:
    """Remediation's adapters and services (mixed into the Container)."""

    if TYPE_CHECKING:  # provided by the Container
        settings: Settings
        incident_repository: IncidentRepository
        workspace_settings: WorkspaceSettings
        audit_log: AuditLog
        clusters: ClusterService
        deploys: DeployService
        diagnosis_store: DiagnosisStore
        diagnoses: DiagnosisService
        pod_failures: PodFailureService

    @cached_property
    def action_store(self) -> ActionStore:
        """Remediation action records on DynamoDB."""
        from chalicelib.adapters.dynamodb_actions import DynamoActionStore

        return DynamoActionStore(self.settings.incidents_table)

    @cached_property
    def remediation(self) -> RemediationService:
        """Remediation requests, approvals and reads."""
        from chalicelib.services.remediation import RemediationService

        return RemediationService(self.action_store, self.clusters, self.incident_repository,
                                  self.workspace_settings, self.audit_log,
                                  self.workflow_starter)

    @cached_property
    def remediation_steps(self) -> RemediationSteps:
        """What the remediation workflow's tasks do."""
        from chalicelib.services.remediation_steps import WorkflowSteps

        return WorkflowSteps(self.remediation)

    @cached_property
    def workflow_starter(self) -> WorkflowStarter:
        """The remediation state machine on Step Functions."""
        from chalicelib.adapters.stepfunctions_workflow import StepFunctionsWorkflow

        return StepFunctionsWorkflow(self.settings.remediation_state_machine,
                                     self.settings.region)

    @cached_property
    def run_store(self) -> RunStore:
        """Workflow and runbook runs and saved runbooks, on DynamoDB."""
        from chalicelib.adapters.dynamodb_runs import DynamoRunStore

        return DynamoRunStore(self.settings.incidents_table)

    @cached_property
    def workflow_runner(self) -> Runner:
        """Runs workflow and runbook steps through the remediation service."""
        from chalicelib.services.workflows import Runner

        return Runner(self.remediation, self.run_store, self.deploys, self.diagnosis_store)

    @cached_property
    def workflows(self) -> WorkflowService:
        """Seed 004's workflows and their runs."""
        from chalicelib.services.workflows import WorkflowService

        return WorkflowService(self.workflow_runner, self.workspace_settings)

    @cached_property
    def runbooks(self) -> RunbookService:
        """Built-in and generated runbooks: match, execute, generate, approve."""
        from chalicelib.services.runbooks import RunbookService

        return RunbookService(self.workflow_runner, self.run_store, self.incident_repository,
                              self.diagnosis_store, self.action_store)

    @cached_property
    def autonomy(self) -> AutonomyService:
        """Autonomy status and cycles."""
        from chalicelib.services.autonomy import AutonomyService

        return AutonomyService(self.remediation, self.incident_repository,
                               self.diagnosis_store, self.workspace_settings)

    @cached_property
    def remediation_plans(self) -> RemediationPlanService:
        """Seed 001's remediation plans: approve, execute, roll back."""
        from chalicelib.adapters.dynamodb_plans import DynamoPlanExecutionStore
        from chalicelib.services.remediation_plans import RemediationPlanService

        return RemediationPlanService(self.incident_repository, self.diagnoses,
                                      self.remediation,
                                      DynamoPlanExecutionStore(self.settings.incidents_table))

    @cached_property
    def mirrors(self) -> MirrorService:
        """Seed 002's mirror pods: deploy, status, delete, expire."""
        from chalicelib.adapters.dynamodb_mirrors import DynamoMirrorStore
        from chalicelib.services.mirror_preview import MirrorPreviewService
        from chalicelib.services.mirrors import MirrorService

        return MirrorService(MirrorPreviewService(self.pod_failures, self.diagnoses,
                                                  self.clusters),
                             self.clusters, self.incident_repository, self.workspace_settings,
                             self.remediation.policy,
                             DynamoMirrorStore(self.settings.incidents_table))
