"""New Relic webhooks: workflow (issue) payloads and the legacy alert-channel payload."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.domain.models import Alert
from chalicelib.plugins.normalizers.base import (
    MAX_DESCRIPTION,
    NormalizeContext,
    Normalized,
    Normalizer,
    bounded,
    clip,
    parse_model,
    stable_fingerprint,
    subject_from_labels,
    text,
    to_time,
)

Scalar = str | int | float | None

# New Relic Kubernetes entity tags -> the label names subject_from_labels reads.
SUBJECT_TAGS: dict[str, str] = {
    "k8s.namespacename": "namespace", "namespacename": "namespace",
    "k8s.podname": "pod", "podname": "pod", "k8s.deploymentname": "deployment",
    "deploymentname": "deployment", "k8s.statefulsetname": "statefulset",
    "k8s.daemonsetname": "daemonset", "k8s.jobname": "job_name",
    "k8s.clustername": "cluster", "clustername": "cluster",
}


class WorkflowPayload(BaseModel):
    """A workflow notification rendered from New Relic's default (Handlebars) template."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: Scalar = None
    issue_url: str | None = Field(default=None, alias="issueUrl")
    title: str | list[Scalar] | None = None
    priority: Scalar = None
    state: Scalar = None
    created_at: Scalar = Field(default=None, alias="createdAt")
    policy_names: list[Scalar] | None = Field(default=None, alias="alertPolicyNames",
                                              max_length=1000)
    condition_names: list[Scalar] | None = Field(default=None, alias="alertConditionNames",
                                                 max_length=1000)
    workflow_name: Scalar = Field(default=None, alias="workflowName")
    accumulations: dict[str, Any] | None = None
    labels: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _identified(self) -> WorkflowPayload:
        if text(self.id) is None and not _first_text(self.title):
            raise ValueError("the issue has neither an id nor a title")
        return self


class LegacyPayload(BaseModel):
    """The pre-workflow alert-channel payload (incident_id, condition_name, current_state)."""

    model_config = ConfigDict(extra="ignore")

    incident_id: int | str
    account_id: Scalar = None
    condition_name: str | None = None
    policy_name: str | None = None
    details: str | None = None
    severity: Scalar = None
    current_state: Scalar = None
    timestamp: Scalar = None
    incident_url: str | None = None


class NewRelicNormalizer(Normalizer):
    """New Relic issues (workflows) and incidents (legacy channels)."""

    NAME = "newrelic"
    # Workflow priority CRITICAL/HIGH/MEDIUM/LOW; legacy severity CRITICAL/WARNING/INFO.
    SEVERITY_MAP: ClassVar[Mapping[str, str]] = {
        "critical": "critical", "high": "high", "medium": "warning", "warning": "warning",
        "low": "info", "info": "info",
    }
    STATUS_MAP: ClassVar[Mapping[str, str]] = {
        "created": "firing", "activated": "firing", "acknowledged": "firing",
        "open": "firing", "closed": "resolved",
    }
    # The issue id (workflows) or account + incident id (legacy; 0 is a valid id).
    FINGERPRINT_FIELDS = ("id", "account_id", "incident_id")

    def read(self, payload: Any, context: NormalizeContext) -> Normalized:
        """One alert per issue or incident."""
        if isinstance(payload, Mapping) and "incident_id" in payload:
            return Normalized("alerts", (self._legacy(
                parse_model(LegacyPayload, payload, self.NAME), context),))
        return Normalized("alerts", (self._workflow(
            parse_model(WorkflowPayload, payload, self.NAME), context),))

    def _workflow(self, body: WorkflowPayload, context: NormalizeContext) -> Alert:
        issue_id = text(body.id)
        title = _first_text(body.title) or f"New Relic issue {issue_id}"
        tags = {**_flatten(body.accumulations), **_flatten(body.labels)}
        labels = {k: v for k, v in {
            **tags, "priority": text(body.priority), "state": text(body.state),
            "policy": _join(body.policy_names), "condition": _join(body.condition_names),
            "workflow": text(body.workflow_name)}.items() if v}
        bounded(labels, {}, self.NAME)
        subject = subject_from_labels(
            {SUBJECT_TAGS[k.lower()]: v for k, v in tags.items() if k.lower() in SUBJECT_TAGS})
        cluster = subject.pop("cluster") or context.cluster
        state = (text(body.state) or "").lower()
        return Alert(
            integration=self.NAME, source=self.NAME, title=clip(title),
            description=clip(_join(body.condition_names), MAX_DESCRIPTION),
            severity=self.severity(text(body.priority)), status=self.status(state),
            acknowledged=state == "acknowledged",
            fingerprint=stable_fingerprint({"issue": issue_id} if issue_id else {
                "title": title, "policy": labels.get("policy")}),
            cluster=cluster, labels=labels, starts_at=to_time(body.created_at),
            generator_url=body.issue_url, external_id=issue_id, **subject,
        )

    def _legacy(self, body: LegacyPayload, context: NormalizeContext) -> Alert:
        incident_id = str(body.incident_id).strip()  # 0 is a real (test) incident id
        state = (text(body.current_state) or "").lower()
        labels = {k: v for k, v in {
            "policy": body.policy_name, "condition": body.condition_name,
            "account_id": text(body.account_id), "current_state": state}.items() if v}
        bounded(labels, {}, self.NAME)
        return Alert(
            integration=self.NAME, source=self.NAME,
            title=clip(body.condition_name or body.details or f"New Relic incident "
                       f"{incident_id}"),
            description=clip(body.details, MAX_DESCRIPTION),
            severity=self.severity(text(body.severity)), status=self.status(state),
            acknowledged=state == "acknowledged",
            fingerprint=stable_fingerprint({"account": text(body.account_id),
                                            "incident": incident_id}),
            cluster=context.cluster, labels=labels, starts_at=to_time(body.timestamp),
            generator_url=body.incident_url, external_id=incident_id,
        )


def _first_text(value: object) -> str | None:
    """A title rendered as a string or as a one-element list."""
    if isinstance(value, list):
        return next((t for t in (text(v) for v in value) if t), None)
    return text(value)


def _join(values: list[Scalar] | None) -> str | None:
    found = [t for t in (text(v) for v in values or ()) if t]
    return ", ".join(dict.fromkeys(found)) or None


def _flatten(value: Mapping[str, Any] | None) -> dict[str, str]:
    """Tag maps whose values are lists (accumulations) or scalars, one value per key."""
    flat: dict[str, str] = {}
    for key, raw in (value or {}).items():
        found = _first_text(raw)
        if found:
            flat[str(key).removeprefix("tag.")[:256]] = found[:1024]
    return flat


NORMALIZER = NewRelicNormalizer()
