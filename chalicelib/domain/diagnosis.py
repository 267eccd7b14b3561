"""The diagnosis: what is wrong, why, how sure, on what evidence, and what to do about it.

Pure models shared by the builtin engine, the LLM providers (whose answers are validated
against :class:`LlmDiagnosis`), the queue consumer and every diagnosis endpoint.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The taxonomy of ../shared/eval/README.md: every diagnosis names exactly one.
Category = Literal[
    "CrashLoopBackOff-app-error", "CrashLoopBackOff-missing-config", "OOMKilled",
    "ImagePullBackOff-bad-tag", "ImagePullBackOff-auth", "ImagePullBackOff-registry-unreachable",
    "Pending-insufficient-resources", "Pending-unbound-pvc", "Pending-node-selector-taint",
    "FailedMount-configmap-secret-missing", "CreateContainerConfigError",
    "Readiness-probe-failing", "Liveness-probe-failing", "Init-container-failing",
    "Job-backoff-limit", "Evicted", "Node-NotReady", "Node-DiskPressure", "Node-MemoryPressure",
    "Service-no-endpoints", "DNS-failure", "etcd-quorum", "cert-expired", "other",
]
CATEGORIES: tuple[str, ...] = get_args(Category)
BlastRadius = Literal["none", "single_pod", "workload", "node", "namespace", "cluster"]
MAX_EVIDENCE = 12
MAX_LINE = 400


class FixCommand(BaseModel):
    """A command for a human to run (kubectl, shell-free), with what it does."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1, max_length=500)
    description: str = Field(min_length=1, max_length=300)


class SuggestedAction(BaseModel):
    """A structured remediation from the action allowlist; never executed from here."""

    name: str
    description: str = ""
    arguments: dict[str, Any] = Field(default_factory=dict)
    dry_run: bool = True
    approval_required: bool = True
    blast_radius: BlastRadius = "single_pod"
    risk: Literal["low", "medium", "high"] = "medium"
    executable: bool = True
    auto_executable: bool = False
    allowed: bool = True
    policy_name: str = "default"
    policy_reason: str = "Action is within guardrails"


class SimilarIncident(BaseModel):
    """A past incident that looked like this one, and how it was resolved."""

    id: str
    title: str
    similarity_score: float
    resolution: str | None = None
    category: str | None = None
    state: str | None = None
    severity: str | None = None
    created_at: str | None = None


class Subject(BaseModel):
    """What a diagnosis is about: one object of one cluster (or only a question)."""

    cluster_id: str | None = None
    cluster_name: str | None = None
    kind: Literal["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job",
                  "CronJob", "Node", "Service", "Namespace", "Cluster", "Question",
                  "PersistentVolumeClaim", "NetworkPolicy", "Ingress"] = "Question"
    name: str | None = None
    namespace: str | None = None

    @property
    def label(self) -> str:
        """``Pod shop/web-1``, ``Node n1``, ``the cluster``."""
        if self.kind in ("Question", "Cluster") or not self.name:
            return "the cluster" if self.kind == "Cluster" else "the question"
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


class Fact(BaseModel):
    """One line of evidence, with the channel signatures match on and where it came from.

    Channels: ``reason`` (status and finding reasons), ``message`` (finding messages and
    container status messages), ``event`` (Kubernetes events), ``log`` (container log
    lines), ``state`` (container and node state lines), ``spec`` (relevant spec facts),
    ``alert`` (the alert's or question's own text: untrusted, weighted low).
    """

    model_config = ConfigDict(frozen=True)

    channel: Literal["reason", "message", "event", "log", "state", "spec", "alert"]
    text: str
    source: str = ""


class DeployCorrelation(BaseModel):
    """A deploy of the same service shortly before the incident."""

    deploy_id: str
    service: str | None = None
    minutes_before_incident: float
    actor: str | None = None
    version: str | None = None


class Diagnosis(BaseModel):
    """A complete diagnosis, as stored and served."""

    diagnosis_id: str
    incident_id: str | None = None
    category: Category
    summary: str
    root_cause: str
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[str] = Field(default_factory=list)
    fix_summary: str
    fix_commands: list[FixCommand] = Field(default_factory=list)
    suggested_actions: list[SuggestedAction] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    source_url: str | None = None
    similar_incidents: list[SimilarIncident] = Field(default_factory=list)
    deploy_correlation: DeployCorrelation | None = None
    matched_playbooks: list[str] = Field(default_factory=list)
    log_excerpt: str = ""
    k8s_context: dict[str, Any] = Field(default_factory=dict)
    subject: Subject = Field(default_factory=Subject)
    provider: str = "builtin"
    model: str = "builtin-rules"
    knowledge_ids: list[str] = Field(default_factory=list)
    usage: dict[str, Any] = Field(default_factory=dict)
    created_at: str = ""
    duration_ms: float = 0.0


class LlmDiagnosis(BaseModel):
    """What an LLM may answer: validated strictly before it can replace the builtin answer."""

    model_config = ConfigDict(extra="ignore")

    category: Category
    summary: str = Field(min_length=1, max_length=1000)
    root_cause: str = Field(min_length=1, max_length=2000)
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[str] = Field(default_factory=list, max_length=20)
    fix_summary: str = Field(min_length=1, max_length=1000)
    fix_commands: list[FixCommand] = Field(default_factory=list, max_length=10)
    suggested_actions: list[dict[str, Any]] = Field(default_factory=list, max_length=5)
    warnings: list[str] = Field(default_factory=list, max_length=10)

    @field_validator("evidence", "warnings")
    @classmethod
    def _clip(cls, lines: list[str]) -> list[str]:
        return [str(line)[:MAX_LINE] for line in lines]


def llm_json_schema() -> dict[str, Any]:
    """The JSON schema the LLM's structured output must follow."""
    return LlmDiagnosis.model_json_schema()


def solution_text(diagnosis: Diagnosis) -> str:
    """A diagnosis as a short text for a human: root cause, fix, commands, notes."""
    lines = ["## Root Cause", diagnosis.root_cause, "", "## Solution", diagnosis.fix_summary]
    if diagnosis.fix_commands:
        lines += ["", "## Commands"]
        lines += [f"{i}. `{c.command}`: {c.description}"
                  for i, c in enumerate(diagnosis.fix_commands, 1)]
    if diagnosis.warnings:
        lines += ["", "## Notes", *(f"- {w}" for w in diagnosis.warnings)]
    return "\n".join(lines)
