"""Autonomy (seed 004 ``/autonomy``): one cycle looks at the newest open incidents that have a
diagnosis and requests the suggested actions the policy lets run on their own
(``decide(..., autonomous=True)``: autonomy enabled, the action listed in
``autonomous_actions``, low risk, within the blast radius). Each is an ordinary action
request with source ``autonomy``, a dry run when the policy's ``default_dry_run`` says so.
Everything else is skipped with the reason. Disabled (the default), a cycle does nothing.

The policy's autonomy fields live in the workspace's remediation policy; the cycle's own
knobs (``max_incidents_per_cycle``, ``poll_interval_seconds``, ``deployment_profile``) in the
WorkspaceSettings document ``autonomy``. Cycles run when ``POST /autonomy/run`` asks: no
schedule runs them (``scheduled`` says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.action_catalog import ACTIONS
from chalicelib.domain.clock import now_iso
from chalicelib.domain.diagnosis import Diagnosis, SuggestedAction
from chalicelib.domain.diagnosis_ports import DiagnosisStore
from chalicelib.domain.errors import DroverError
from chalicelib.domain.models import Incident
from chalicelib.domain.policy import BLAST_ORDER, RemediationPolicy, decide
from chalicelib.domain.ports import IncidentRepository, WorkspaceSettings
from chalicelib.domain.remediation import ActionRecord
from chalicelib.services.remediation import ActionRequest, RemediationService

SETTINGS_NAME = "autonomy"
ACTOR = "autonomy"
PAGE = 50
MAX_PAGES = 10


class AutonomySettings(BaseModel):
    """The cycle's knobs (the policy holds what may run)."""

    model_config = ConfigDict(extra="ignore")

    poll_interval_seconds: int = Field(default=30, ge=5, le=86400)
    max_incidents_per_cycle: int = Field(default=20, ge=1, le=200)
    deployment_profile: str = Field(default="serverless", max_length=40)


@dataclass
class AutonomyService:
    """Autonomy's status and one cycle."""

    remediation: RemediationService
    incidents: IncidentRepository
    diagnoses: DiagnosisStore
    settings: WorkspaceSettings

    def knobs(self, workspace_id: str) -> AutonomySettings:
        """The workspace's cycle settings (defaults until stored)."""
        return AutonomySettings.model_validate(self.settings.get(workspace_id,
                                                                 SETTINGS_NAME) or {})

    def status(self, workspace_id: str) -> dict[str, Any]:
        """Seed 004's autonomy status, from the policy and the cycle settings."""
        policy = self.remediation.policy(workspace_id)
        knobs = self.knobs(workspace_id)
        effective = _effective(policy)
        return {"enabled": policy.autonomy_enabled,
                "approval_required": not (policy.autonomy_enabled and effective),
                "default_dry_run": policy.default_dry_run,
                "poll_interval_seconds": knobs.poll_interval_seconds,
                "max_incidents_per_cycle": knobs.max_incidents_per_cycle,
                "autonomous_actions": policy.autonomous_actions,
                "allowed_namespaces": policy.allowed_namespaces,
                "deployment_profile": knobs.deployment_profile,
                "effective_autonomous_actions": effective,
                "denied_namespaces": policy.denied_namespaces, "policy_name": policy.name,
                "scheduled": False}

    def run(self, workspace_id: str, max_incidents: int | None = None) -> dict[str, Any]:
        """One cycle: what it requested, what it skipped and why."""
        policy = self.remediation.policy(workspace_id)
        limit = self.knobs(workspace_id).max_incidents_per_cycle
        limit = min(limit, max_incidents) if max_incidents else limit
        report: dict[str, Any] = {"enabled": policy.autonomy_enabled, "ran_at": now_iso(),
                                  "dry_run": policy.default_dry_run, "policy_name": policy.name,
                                  "incidents_checked": 0, "requested": [], "skipped": []}
        if not policy.autonomy_enabled:
            report["message"] = (f"Autonomy is disabled by policy '{policy.name}': nothing was "
                                 "done. Set autonomy_enabled in the remediation policy to "
                                 "enable it.")
            return report
        for incident, diagnosis in self._diagnosed(workspace_id, limit):
            report["incidents_checked"] += 1
            for action in diagnosis.suggested_actions:
                self._consider(workspace_id, policy, incident, diagnosis, action,
                               report=report)
        report["message"] = (f"Checked {report['incidents_checked']} open diagnosed "
                             f"incident(s): {len(report['requested'])} action(s) requested"
                             f"{' as dry runs' if policy.default_dry_run else ''}, "
                             f"{len(report['skipped'])} skipped.")
        return report

    def _diagnosed(self, workspace_id: str, limit: int) -> list[tuple[Incident, Diagnosis]]:
        """The newest open incidents that have a diagnosis, up to ``limit``."""
        found: list[tuple[Incident, Diagnosis]] = []
        cursor = None
        for _ in range(MAX_PAGES):
            page = self.incidents.list(workspace_id, state="open", limit=PAGE, cursor=cursor)
            for incident in page.items:
                diagnosis = self.diagnoses.latest(workspace_id, incident.id) \
                    if incident.diagnosis_id else None
                if diagnosis is not None:
                    found.append((incident, diagnosis))
                if len(found) >= limit:
                    return found
            cursor = page.next_cursor
            if not cursor:
                break
        return found

    def _consider(self, workspace_id: str, policy: RemediationPolicy, incident: Incident,
                  diagnosis: Diagnosis, action: SuggestedAction, *,
                  report: dict[str, Any]) -> None:
        entry = {"incident_id": incident.id, "action": action.name,
                 "arguments": action.arguments}
        skip = self._reason_to_skip(workspace_id, policy, incident, action)
        if skip:
            report["skipped"].append({**entry, "reason": skip})
            return
        try:
            record = self.remediation.request(workspace_id, ACTOR, ActionRequest(
                action=action.name, arguments=action.arguments, incident_id=incident.id,
                diagnosis_id=diagnosis.diagnosis_id, dry_run=policy.default_dry_run,
                source="autonomy"), can_execute=False)
        except DroverError as exc:
            report["skipped"].append({**entry, "reason": exc.message, "code": exc.code,
                                      **({"action_id": exc.extra["action_id"]}
                                         if exc.extra.get("action_id") else {})})
            return
        report["requested"].append({**entry, "action_id": record.id, "state": record.state,
                                    "policy_reason": record.decision.get("policy_reason")})

    def _reason_to_skip(self, workspace_id: str, policy: RemediationPolicy,
                        incident: Incident, action: SuggestedAction) -> str | None:
        spec = ACTIONS.get(action.name)
        if spec is not None and not spec.mutates:
            return f"{action.name} changes nothing: it stays a suggestion for a person"
        decision = decide(policy, action.name, action.arguments, autonomous=True)
        if not decision.allowed:
            return decision.policy_reason
        earlier = _same_request(self.remediation.list(workspace_id, incident_id=incident.id),
                                action, policy.default_dry_run)
        if earlier is not None:
            return f"already requested by autonomy ({earlier.id}, {earlier.state})"
        return None


def _same_request(records: list[ActionRecord], action: SuggestedAction,
                  dry_run: bool) -> ActionRecord | None:
    """An earlier autonomy request of the same action (a dry run blocks only dry runs)."""
    return next((r for r in records if r.source == "autonomy" and r.action == action.name
                 and r.arguments == action.arguments and r.state != "refused"
                 and (not r.dry_run or dry_run)), None)


def _effective(policy: RemediationPolicy) -> list[str]:
    """The autonomous actions the policy's other rules let run without a person."""
    limit = BLAST_ORDER.get(policy.max_blast_radius_without_approval, 1)
    return [a for a in policy.autonomous_actions if a in ACTIONS and a in policy.allowed_actions
            and ACTIONS[a].mutates and ACTIONS[a].risk == "low"
            and BLAST_ORDER[ACTIONS[a].blast_radius] <= limit]
