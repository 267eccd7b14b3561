"""Use cases of seed 001 (Pulse) ``/api/ai/*`` and ``/api/settings/ai``: AI settings, chat-style
execution, alert investigation, cluster analysis, investigations of analyzer findings, and the
workspace's own knowledge entries.

Everything that diagnoses goes through :class:`DiagnosisService`, so it is stored, accounted
and bounded by the action allowlist like any other diagnosis. Nothing here executes an
action: suggestions are returned dry-run, for a human to run through the remediation API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.action_catalog import ACTIONS
from chalicelib.domain.clock import now_iso
from chalicelib.domain.clusters import Cluster
from chalicelib.domain.diagnosis import Diagnosis
from chalicelib.domain.diagnosis_ports import KnowledgeStore
from chalicelib.domain.errors import Conflict, DroverError, NotFound, ValidationFailed
from chalicelib.domain.knowledge import KnowledgeEntry
from chalicelib.domain.kube import Finding
from chalicelib.domain.llm import LlmConfig
from chalicelib.domain.ports import WorkspaceSettings
from chalicelib.domain.validation import parse_body
from chalicelib.services.builtin_engine import builtin_entries
from chalicelib.services.cluster_snapshots import SnapshotService
from chalicelib.services.cluster_views import issue, issue_id
from chalicelib.services.clusters import ClusterService
from chalicelib.services.diagnosis import DiagnosisService
from chalicelib.services.evidence import WORKLOAD_PLURALS, SubjectHint
from chalicelib.services.llm_settings import COST_RESET_NAME, LlmSettingsService

SUGGESTIONS_ONLY = ("Suggestions only: /api/ai/* never executes an action. Run one through "
                    "POST /actions/execute, dry-run first and approved by someone allowed to.")
PROVIDERS = (
    {"id": "builtin", "name": "Builtin rules and knowledge base (offline, deterministic)",
     "requires_api_key": False, "requires_base_url": False},
    {"id": "openai", "name": "OpenAI-compatible API (OpenAI, Azure, Ollama, vLLM)",
     "requires_api_key": True, "requires_base_url": False},
    {"id": "bedrock", "name": "Amazon Bedrock (Converse API)",
     "requires_api_key": False, "requires_base_url": False},
)
# The workspace's own entries, on top of the shipped ones; an import carries at most this many.
MAX_WORKSPACE_ENTRIES = 200
EXPORT_VERSION = 1
INVESTIGATION_PREFIX = "investigation:"


def answer_text(diagnosis: Diagnosis) -> str:
    """A diagnosis as the assistant's reply: what, why, the fix, and what could be done."""
    lines = [diagnosis.summary, f"Root cause: {diagnosis.root_cause}",
             f"Fix: {diagnosis.fix_summary}"]
    lines += [f"- {c.command}  ({c.description})" for c in diagnosis.fix_commands]
    if diagnosis.suggested_actions:
        names = ", ".join(a.name for a in diagnosis.suggested_actions)
        lines.append(f"Suggested actions (not executed; dry-run first, approval as their "
                     f"risk requires): {names}.")
    lines += [f"Note: {w}" for w in diagnosis.warnings]
    return "\n".join(lines)


def alert_hint(*, namespace: str | None, pod: str | None, resource_type: str | None,
               resource_name: str | None, node: str | None) -> SubjectHint:
    """What an alert payload says it is about (Pulse's resource_type/name or Kubernetes
    labels)."""
    kind = (resource_type or "").lower()
    named: dict[str, str | None] = {}
    if resource_name and kind == "pod":
        named["pod"] = pod or resource_name
    elif resource_name and kind in WORKLOAD_PLURALS:
        named.update(workload=resource_name, workload_kind=kind)
    elif resource_name and kind == "node":
        named["node"] = resource_name
    elif resource_name and kind == "service":
        named["service"] = resource_name
    elif resource_name and not pod:
        named["workload"] = resource_name  # a workload of any kind by that name
    return SubjectHint(**{"pod": pod, "namespace": namespace, "node": node, **named})


def finding_hint(finding: Finding) -> SubjectHint:
    """The object an analyzer finding is about, as a subject hint."""
    if finding.kind.lower() not in ("pod", "node", "service", *WORKLOAD_PLURALS):
        return SubjectHint(namespace=finding.namespace, kind=finding.kind, name=finding.name)
    return alert_hint(namespace=finding.namespace, pod=None, resource_type=finding.kind,
                      resource_name=finding.name, node=None)


def _finding_question(finding: Finding) -> str:
    where = f"{finding.namespace}/{finding.name}" if finding.namespace else finding.name
    return f"Investigate {finding.kind} {where}: {finding.reason}. {finding.message}"[:4000]


@dataclass
class PulseAi:
    """Seed 001's AI use cases over the diagnosis engine, clusters and settings."""

    diagnoses: DiagnosisService
    clusters: ClusterService
    snapshots: SnapshotService
    llm_settings: LlmSettingsService
    settings: WorkspaceSettings

    # --- settings ---------------------------------------------------------------------------
    def settings_view(self, workspace_id: str) -> dict[str, Any]:
        """The public settings (never the key), whether an LLM is on, and the providers."""
        public = self.llm_settings.public(workspace_id)
        return {**public, "enabled": public["provider"] != "builtin",
                "providers": [dict(p) for p in PROVIDERS]}

    def update_settings(self, workspace_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Change the settings; Pulse's ``enabled: false`` means the builtin engine."""
        enabled = fields.pop("enabled", None)
        if enabled is False and "provider" not in fields:
            fields["provider"] = "builtin"
        if enabled is True and fields.get("provider", self.llm_settings.config(
                workspace_id).provider) == "builtin":
            raise ValidationFailed("enabled is true but no LLM provider is chosen: send "
                                   "'provider' (openai or bedrock)", code="invalid_llm_settings")
        self.llm_settings.update(workspace_id, fields)
        return self.settings_view(workspace_id)

    def test(self, workspace_id: str, overrides: dict[str, Any]) -> dict[str, Any]:
        """Test the provider, with unsaved overrides validated first (a 422, not a 500)."""
        if overrides:
            merged = {**self.llm_settings.config(workspace_id).model_dump(), **overrides}
            parse_body(LlmConfig, merged, "LLM settings")
        return self.llm_settings.test(workspace_id, overrides or None)

    def cost_summary(self, workspace_id: str, days: int) -> dict[str, Any]:
        """The cost summary, with when and by whom it was last reset."""
        reset = self.settings.get(workspace_id, COST_RESET_NAME) or {}
        return {**self.llm_settings.cost_summary(workspace_id, days),
                "last_reset": {"at": reset["at"], "by": reset.get("by")} if reset.get("at")
                else None}

    # --- a cluster's analysis ---------------------------------------------------------------
    def analyze_cluster(self, workspace_id: str, cluster_ref: str,
                        log_limit: int = 50) -> dict[str, Any]:
        """The cluster's findings (refreshed when it answers) and a diagnosis of the most
        severe one."""
        cluster = self.clusters.get(workspace_id, cluster_ref)
        warnings: list[str] = []
        try:
            self.clusters.refresh(workspace_id, cluster.cluster_id)
        except DroverError as exc:
            warnings.append(f"cluster '{cluster.name}' could not be refreshed ({exc.message}); "
                            "these are the stored findings")
        found = self.snapshots.findings(cluster)
        analyzed_at, findings = found if found else (None, [])
        diagnosis = None
        if findings:
            diagnosis = self.diagnoses.diagnose_question(
                workspace_id, f"What is the most severe problem of cluster {cluster.name}?",
                cluster=cluster.cluster_id, log_limit=log_limit, use_case="kubernetes_analyze")
        counts = {"critical": 0, "warning": 0, "info": 0}
        for f in findings:
            counts[f.severity] = counts.get(f.severity, 0) + 1
        return {"cluster": cluster, "analyzed_at": analyzed_at, "counts": counts,
                "issues": [issue(cluster, f, analyzed_at or "") for f in findings],
                "diagnosis": diagnosis, "warnings": warnings}

    # --- investigations of analyzer findings ------------------------------------------------
    def find_issue(self, workspace_id: str, finding_id: str) -> tuple[Cluster, Finding] | None:
        """The current finding with this issue id, on any of the workspace's clusters."""
        for cluster in self.clusters.list(workspace_id):
            found = self.snapshots.findings(cluster)
            for finding in found[1] if found else []:
                if issue_id(cluster.cluster_id, finding) == finding_id:
                    return cluster, finding
        return None

    def investigation(self, workspace_id: str,
                      finding_id: str) -> tuple[dict[str, Any], Diagnosis]:
        """The latest investigation of a finding, or a 404 when it was never investigated."""
        pointer = self.settings.get(workspace_id, INVESTIGATION_PREFIX + finding_id[:200])
        if not pointer or not pointer.get("diagnosis_id"):
            raise NotFound(f"finding '{finding_id[:200]}' has not been investigated; POST "
                           f".../reinvestigate starts one", code="investigation_not_found")
        return pointer, self.diagnoses.get(workspace_id, pointer["diagnosis_id"])

    def reinvestigate(self, workspace_id: str, finding_id: str, actor: str,
                      log_limit: int = 50) -> tuple[dict[str, Any], Diagnosis]:
        """Diagnose the finding's object now and remember it as the finding's investigation.

        A finding that has since gone from the cluster is investigated from what the last
        investigation recorded about it.
        """
        name = INVESTIGATION_PREFIX + finding_id[:200]
        previous = self.settings.get(workspace_id, name) or {}
        found = self.find_issue(workspace_id, finding_id)
        if found is not None:
            cluster_id, finding = found[0].cluster_id, found[1]
            shown = issue(found[0], finding, "")
        elif previous.get("finding"):
            cluster_id, shown = previous["cluster_id"], previous["finding"]
            finding = Finding.from_dict(shown)
        else:
            raise NotFound(f"finding '{finding_id[:200]}' not found on any cluster of this "
                           "workspace (ids come from GET /api/clusters/{id}/issues)",
                           code="finding_not_found")
        started = now_iso()
        diagnosis = self.diagnoses.diagnose_question(
            workspace_id, _finding_question(finding), cluster=cluster_id,
            hint=finding_hint(finding), log_limit=log_limit, use_case="investigation")
        pointer = {"finding_id": finding_id, "diagnosis_id": diagnosis.diagnosis_id,
                   "cluster_id": cluster_id, "finding": shown, "started_at": started,
                   "completed_at": now_iso(), "investigated_by": actor,
                   "investigation_count": int(previous.get("investigation_count") or 0) + 1}
        self.settings.put(workspace_id, name, pointer)
        return pointer, diagnosis


@dataclass
class WorkspaceKnowledge:
    """A workspace's own knowledge entries (Pulse keys them by ``guest_id``)."""

    store: KnowledgeStore

    def list(self, workspace_id: str, guest_id: str | None = None) -> list[KnowledgeEntry]:
        """The workspace's entries, only one guest's when ``guest_id`` is given."""
        entries = self.store.list(workspace_id)
        return [e for e in entries if guest_id is None or e.guest_id == guest_id]

    def save(self, workspace_id: str, body: dict[str, Any]) -> tuple[KnowledgeEntry, bool]:
        """Validate and store one entry; whether it is new."""
        entry = validated_entry(body, "knowledge entry")
        existing = {e.id for e in self.store.list(workspace_id)}
        if entry.id not in existing and len(existing) >= MAX_WORKSPACE_ENTRIES:
            raise Conflict(f"this workspace already holds {MAX_WORKSPACE_ENTRIES} knowledge "
                           "entries; delete some first", code="knowledge_full")
        self.store.put(workspace_id, entry)
        return entry, entry.id not in existing

    def delete(self, workspace_id: str, entry_id: str, guest_id: str | None = None) -> None:
        """Remove one entry (of that guest, when given); 404 if there is none."""
        if entry_id in _builtin_ids():
            raise Conflict(f"'{entry_id}' is a shipped entry and cannot be deleted; save an "
                           "entry that supersedes it instead", code="builtin_knowledge_id")
        if guest_id is not None and not any(e.id == entry_id
                                            for e in self.list(workspace_id, guest_id)):
            raise NotFound(f"knowledge entry '{entry_id[:100]}' not found for guest "
                           f"'{guest_id[:100]}'", code="knowledge_not_found")
        if not self.store.delete(workspace_id, entry_id):
            raise NotFound(f"knowledge entry '{entry_id[:100]}' not found",
                           code="knowledge_not_found")

    def clear(self, workspace_id: str, guest_id: str | None = None) -> int:
        """Remove every entry (or one guest's); how many were removed."""
        gone = self.list(workspace_id, guest_id)
        for entry in gone:
            self.store.delete(workspace_id, entry.id)
        return len(gone)

    def export(self, workspace_id: str, guest_id: str | None = None) -> dict[str, Any]:
        """The entries in the form :meth:`import_entries` accepts."""
        return {"version": EXPORT_VERSION, "exported_at": now_iso(), "guest_id": guest_id,
                "entries": [e.model_dump(mode="json") for e in self.list(workspace_id,
                                                                          guest_id)]}

    def import_entries(self, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store an export's entries, all or none: one bad entry rejects the import."""
        entries = _import_list(body)
        replace = body.get("replace", False)
        if not isinstance(replace, bool):
            raise ValidationFailed("'replace' must be true or false", code="invalid_payload")
        existing = {e.id for e in self.store.list(workspace_id)}
        total = len({e.id for e in entries} | (set() if replace else existing))
        if total > MAX_WORKSPACE_ENTRIES:
            raise ValidationFailed(f"the workspace would hold {total} knowledge entries; the "
                                   f"limit is {MAX_WORKSPACE_ENTRIES}", code="knowledge_full")
        if replace:
            self.clear(workspace_id)
        for entry in entries:
            self.store.put(workspace_id, entry)
        created = sum(1 for e in entries if replace or e.id not in existing)
        return {"success": True, "imported": len(entries), "created": created,
                "updated": len(entries) - created, "replaced": replace}


def _import_list(body: dict[str, Any]) -> list[KnowledgeEntry]:
    version = body.get("version", EXPORT_VERSION)
    if version != EXPORT_VERSION:
        raise ValidationFailed(f"unsupported export version {version!r}; this server reads "
                               f"version {EXPORT_VERSION}", code="invalid_payload")
    raw = body.get("entries")
    if not isinstance(raw, list):
        raise ValidationFailed("'entries' must be a list of knowledge entries",
                               code="invalid_payload")
    if len(raw) > MAX_WORKSPACE_ENTRIES:
        raise ValidationFailed(f"an import carries at most {MAX_WORKSPACE_ENTRIES} entries; "
                               f"this one has {len(raw)}", code="too_many_entries")
    entries: list[KnowledgeEntry] = []
    for number, item in enumerate(raw, start=1):
        label = item.get("id") if isinstance(item, dict) else None
        entries.append(validated_entry(item, f"knowledge entry #{number}"
                                             + (f" ('{str(label)[:80]}')" if label else "")))
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise ValidationFailed(f"entry id '{entry.id}' appears twice in the import",
                                   code="duplicate_entry")
        seen.add(entry.id)
    return entries


def _builtin_ids() -> frozenset[str]:
    return frozenset(e.id for e in builtin_entries())


def validated_entry(raw: Any, what: str) -> KnowledgeEntry:
    """A workspace entry: schema and regexes (422), not a shipped id (409), allowlisted
    actions with known arguments (422)."""
    if not isinstance(raw, dict):
        raise ValidationFailed(f"{what} must be a JSON object", code="invalid_payload")
    entry = parse_body(KnowledgeEntry, raw, what).model_copy(update={"source": "workspace"})
    if entry.id in _builtin_ids():
        raise Conflict(f"{what}: id '{entry.id}' is a shipped entry; choose another id (an "
                       "entry can supersede a shipped one with 'supersedes')",
                       code="builtin_knowledge_id")
    for action in entry.actions:
        spec = ACTIONS.get(action.name)
        if spec is None:
            raise ValidationFailed(f"{what}: action '{action.name[:60]}' is not on the "
                                   f"allowlist ({', '.join(sorted(ACTIONS))})",
                                   code="unknown_action")
        unknown = sorted(set(action.arguments) - set(spec.args.model_fields))
        if unknown:
            raise ValidationFailed(f"{what}: action '{action.name}' takes no argument(s) "
                                   f"{', '.join(unknown)}", code="unknown_action_argument")
    return entry
