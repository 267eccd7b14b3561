"""Runbooks (seed 004 ``/runbooks``): built-in ones (chalicelib/data/runbooks.json), matched
to an incident by its latest diagnosis (category, playbooks) and alert name, executed as a
run whose action steps are ordinary action requests (source ``runbook``), and generated from
the workspace's resolved incidents of one diagnosis category and the actions that were
executed on them. A generated draft is saved only when someone approves it.

Generation invents nothing: with no resolved incident of the category, fewer than
``min_incidents``, or no action executed on them, the draft has no steps and says why
(and approving a draft without steps is refused).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.domain.action_catalog import ACTIONS
from chalicelib.domain.clock import new_id, now_iso
from chalicelib.domain.diagnosis import CATEGORIES, Diagnosis
from chalicelib.domain.diagnosis_ports import DiagnosisStore
from chalicelib.domain.errors import Conflict, NotFound, ValidationFailed
from chalicelib.domain.knowledge import render
from chalicelib.domain.models import Incident
from chalicelib.domain.ports import IncidentRepository
from chalicelib.domain.remediation import ActionStore
from chalicelib.domain.validation import parse_body
from chalicelib.domain.workflows import (
    ActionTemplate,
    Runbook,
    RunbookMatch,
    RunbookStep,
    RunStore,
    WorkflowRun,
    WorkflowStep,
)
from chalicelib.services.workflows import Runner

WORKLOAD_KINDS = ("deployment", "statefulset", "daemonset")
# An argument of a suggested action -> the value name runbook templates use.
ARG_VALUES = {"namespace": "namespace", "pod_name": "pod_name", "name": "deployment_name",
              "kind": "workload_kind", "container": "container",
              "memory_limit": "memory_limit", "node_name": "node_name"}
WORKLOAD_ACTIONS = frozenset({"rollout_restart", "scale_deployment", "rollback_deployment",
                              "set_resources"})
# Values a learned argument may be generalized into, most specific first.
GENERALIZE = ("pod_name", "deployment_name", "container", "node_name", "memory_limit",
              "namespace", "workload_kind")
MAX_SCANNED = 500
MAX_LEARNED = 50


class GenerateRequest(BaseModel):
    """``POST /runbooks/generate``: an incident, or a pattern (category) and a service."""

    model_config = ConfigDict(extra="ignore")

    incident_id: str | None = Field(default=None, max_length=100)
    pattern: str | None = Field(default=None, max_length=100)
    category: str | None = Field(default=None, max_length=100)
    service: str | None = Field(default=None, max_length=253)
    min_incidents: int = Field(default=2, ge=1, le=100)


@lru_cache(maxsize=1)
def builtin_runbooks() -> tuple[Runbook, ...]:
    """The runbooks shipped in the package."""
    raw = resources.files("chalicelib.data").joinpath("runbooks.json").read_text("utf-8")
    return tuple(Runbook.model_validate(r) for r in json.loads(raw)["runbooks"])


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def categories_for(pattern: str) -> list[str]:
    """The diagnosis categories a pattern names (``oomkilled``, ``crashloopbackoff`` ...)."""
    wanted = _norm(pattern)
    exact = [c for c in CATEGORIES if _norm(c) == wanted]
    return exact or [c for c in CATEGORIES if wanted and _norm(c).startswith(wanted)]


def incident_values(incident: Incident, diagnosis: Diagnosis | None) -> dict[str, Any]:
    """The values runbook templates are filled from: the incident, then its diagnosis."""
    kind = (incident.workload_kind or "deployment").lower()
    values: dict[str, Any] = {
        "incident_id": incident.id, "namespace": incident.namespace,
        "pod_name": incident.pod, "service": incident.service,
        "deployment_name": incident.deployment or (incident.workload if kind in
                                                    WORKLOAD_KINDS else None),
        "workload_kind": kind if kind in WORKLOAD_KINDS else None}
    values = {k: v for k, v in values.items() if v}
    if diagnosis is None:
        return values
    subject, context = diagnosis.subject, diagnosis.k8s_context
    found = {"namespace": subject.namespace, "container": context.get("container"),
             "node_name": context.get("node") or (subject.name if subject.kind == "Node"
                                                  else None),
             "pod_name": subject.name if subject.kind == "Pod" else None}
    for action in diagnosis.suggested_actions:
        for arg, value in action.arguments.items():
            name = ARG_VALUES.get(arg)
            if name and (arg not in ("name", "kind") or action.name in WORKLOAD_ACTIONS):
                found.setdefault(name, value)
    return {**{k: v for k, v in found.items() if v not in (None, "")}, **values}


@dataclass
class RunbookService:
    """Built-in and generated runbooks: list, match, execute, generate, approve."""

    runner: Runner
    runs: RunStore
    incidents: IncidentRepository
    diagnoses: DiagnosisStore
    actions: ActionStore

    # --- reads ------------------------------------------------------------------------------
    def saved(self, workspace_id: str) -> list[Runbook]:
        """The workspace's approved generated runbooks."""
        kept: list[Runbook] = []
        for raw in self.runs.list_runbooks(workspace_id):
            try:
                kept.append(Runbook.model_validate(raw))
            except ValidationError:
                continue  # written by an older version: not offered rather than failing
        return kept

    def all(self, workspace_id: str) -> list[Runbook]:
        """Built-in runbooks, then the workspace's generated ones."""
        return [*builtin_runbooks(), *self.saved(workspace_id)]

    def get(self, workspace_id: str, runbook_id: str) -> Runbook:
        """One runbook by id, or a 404."""
        found = next((r for r in self.all(workspace_id) if r.id == runbook_id), None)
        if found is None:
            raise NotFound(f"runbook '{runbook_id[:100]}' not found", code="runbook_not_found")
        return found

    def _incident(self, workspace_id: str, incident_id: str) -> Incident:
        incident = self.incidents.get(workspace_id, incident_id)
        if incident is None:
            raise NotFound(f"incident '{incident_id[:100]}' not found",
                           code="incident_not_found")
        return incident

    def match(self, workspace_id: str, incident_id: str) -> dict[str, Any]:
        """The runbooks that fit an incident, best first, each with a score and a reason."""
        incident = self._incident(workspace_id, incident_id)
        diagnosis = self.diagnoses.latest(workspace_id, incident_id)
        alert_name = incident.labels.get("alertname", "")
        service = incident.service or incident.deployment or incident.workload
        matched = []
        for runbook in self.all(workspace_id):
            score, reasons = runbook.score(diagnosis, alert_name, service)
            if score > 0:
                matched.append({**runbook.public(), "score": score, "reason": "; ".join(reasons)})
        matched.sort(key=lambda r: -r["score"])
        note = None if diagnosis else ("no diagnosis yet: matched on the alert name only; "
                                       "diagnose the incident for better matches")
        return {"incident_id": incident_id, "diagnosis_id": getattr(diagnosis, "diagnosis_id",
                                                                    None),
                "category": getattr(diagnosis, "category", None),
                "matched_playbooks": getattr(diagnosis, "matched_playbooks", []),
                "alert_name": alert_name or None, "runbooks": matched, "count": len(matched),
                **({"message": note} if note else {})}

    # --- execute ----------------------------------------------------------------------------
    def execute(self, workspace_id: str, actor: str, incident_id: str, runbook_id: str, *,
                dry_run: bool, approved: bool, can_execute: bool) -> WorkflowRun:
        """A run of the runbook for the incident: its action steps become action requests
        (``approved`` honoured only when ``can_execute``), its other steps are listed for a
        person."""
        runbook = self.get(workspace_id, runbook_id)
        incident = self._incident(workspace_id, incident_id)
        values = incident_values(incident, self.diagnoses.latest(workspace_id, incident_id))
        steps = [WorkflowStep(id=f"step-{i}", name=render(s.text, values)[:300], text=s.text,
                              command=s.command, action=s.action.name if s.action else None,
                              arguments=s.action.arguments if s.action else {})
                 for i, s in enumerate(runbook.steps, 1)]
        now = now_iso()
        run = WorkflowRun(id=new_id("run-"), workspace_id=workspace_id, kind="runbook",
                          workflow_id=runbook.id, workflow_name=runbook.name,
                          incident_id=incident_id, context=values, dry_run=dry_run,
                          requested_by=actor, definition=steps, created_at=now,
                          updated_at=now)
        return self.runner.start(run, can_execute=can_execute,
                                 approved=approved and can_execute)

    # --- generate and approve ---------------------------------------------------------------
    def generate(self, workspace_id: str, body: Any) -> dict[str, Any]:
        """A draft learned from resolved incidents of one category (see the module doc)."""
        req = parse_body(GenerateRequest, body, "runbook generation request")
        categories, pattern = self._categories(workspace_id, req)
        history = self._history(workspace_id, categories, req.service)
        steps, used = self._learned_steps(workspace_id, history)
        label = categories[0] if len(categories) == 1 else f"{pattern}*"
        suffix = f"-{_slug(req.service)}" if req.service else ""
        draft = Runbook(id=f"generated-{_slug(pattern)}{suffix}"[:100].rstrip("-"),
                        name=f"{label} Recovery" + (f" for {req.service}" if req.service else ""),
                        description=f"Learned from {len(used)} resolved {label} incident(s) "
                                    "and the actions executed on them.",
                        match=RunbookMatch(categories=categories,
                                           services=[req.service] if req.service else []),
                        learned_from=used)
        seen = len(history)
        if seen >= req.min_incidents:
            draft.steps = steps
        message = _generation_message(pattern, seen, req.min_incidents, len(draft.steps),
                                      req.service)
        return {"pattern": pattern, "categories": categories, "occurrences": seen,
                "incidents_with_actions": len(used), "runbook": draft.public(),
                "source": "generated", "message": message}

    def _categories(self, workspace_id: str, req: GenerateRequest) -> tuple[list[str], str]:
        if req.incident_id:
            incident = self._incident(workspace_id, req.incident_id)
            diagnosis = self.diagnoses.latest(workspace_id, req.incident_id)
            category = getattr(diagnosis, "category", None) or incident.diagnosis_category
            if not category:
                raise ValidationFailed(f"incident '{req.incident_id}' has no diagnosis yet: "
                                       "diagnose it first, or give a pattern",
                                       code="no_diagnosis")
            return [category], _norm(category)
        pattern = req.pattern or req.category
        if not pattern:
            raise ValidationFailed("give incident_id, or pattern (a diagnosis category such as "
                                   "'oomkilled')", code="missing_pattern")
        found = categories_for(pattern)
        if not found:
            raise ValidationFailed(f"'{pattern}' names no diagnosis category; known: "
                                   f"{', '.join(CATEGORIES)}", code="unknown_pattern")
        return found, _norm(pattern)

    def _history(self, workspace_id: str, categories: list[str],
                 service: str | None) -> list[Incident]:
        """Resolved incidents of the categories (and service), newest first, bounded."""
        found: list[Incident] = []
        cursor, scanned = None, 0
        while scanned < MAX_SCANNED:
            page = self.incidents.list(workspace_id, state="resolved", limit=100,
                                       cursor=cursor)
            scanned += len(page.items)
            found += [i for i in page.items if i.diagnosis_category in categories and (
                not service or service in (i.service, i.deployment, i.workload))]
            cursor = page.next_cursor
            if not cursor:
                break
        return found[:MAX_LEARNED]

    def _learned_steps(self, workspace_id: str,
                       history: list[Incident]) -> tuple[list[RunbookStep], list[str]]:
        """One step per action executed on the incidents (most often executed first), its
        arguments generalized into placeholders where they named the incident's objects."""
        tally: dict[str, list[str]] = {}
        used: list[str] = []
        for incident in history:
            executed = [a for a in self.actions.list(workspace_id, incident_id=incident.id)
                        if a.state == "succeeded" and not a.dry_run]
            if not executed:
                continue
            used.append(incident.id)
            values = incident_values(incident, self.diagnoses.latest(workspace_id, incident.id))
            for record in reversed(executed):  # oldest first
                tally.setdefault(record.action, []).append(json.dumps(
                    _generalized(record.arguments, values), sort_keys=True))
        steps = []
        for action, seen in sorted(tally.items(), key=lambda kv: -len(kv[1])):
            arguments = json.loads(Counter(seen).most_common(1)[0][0])
            steps.append(RunbookStep(
                text=f"{ACTIONS[action].description} (executed on {len(seen)} of {len(used)} "
                     "past incidents)",
                action=ActionTemplate(name=action, arguments=arguments)))
        return steps, used

    def approve(self, workspace_id: str, actor: str, body: Any) -> dict[str, Any]:
        """Save a reviewed draft (a built-in's id is refused; an existing one is replaced)."""
        raw = body.get("runbook") if isinstance(body, dict) else None
        if not isinstance(raw, dict):
            raise ValidationFailed("send {\"runbook\": {...}} as POST /runbooks/generate "
                                   "returned it", code="invalid_payload")
        runbook = parse_body(Runbook, {**raw, "source": "generated"}, "runbook")
        if not runbook.steps:
            raise ValidationFailed("a runbook without steps cannot be saved",
                                   code="empty_runbook")
        if any(r.id == runbook.id for r in builtin_runbooks()):
            raise Conflict(f"'{runbook.id}' is a built-in runbook's id; choose another",
                           code="runbook_id_taken")
        replaced = any(r.id == runbook.id for r in self.saved(workspace_id))
        runbook.approved_by, runbook.approved_at = actor, now_iso()
        self.runs.put_runbook(workspace_id, runbook.model_dump(exclude_none=True))
        return {"ok": True, "runbook_id": runbook.id,
                "saved_path": f"runbooks/generated/{runbook.id}", "replaced": replaced,
                "message": f"Runbook '{runbook.id}' saved successfully."}


def _generalized(arguments: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for arg, value in arguments.items():
        name = next((n for n in GENERALIZE if value not in (None, "") and values.get(n) == value),
                    None)
        out[arg] = f"{{{name}}}" if name else value
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "runbook"


def _generation_message(pattern: str, seen: int, needed: int, steps: int,
                        service: str | None) -> str:
    where = f" of {service}" if service else ""
    if seen == 0:
        return (f"No resolved '{pattern}' incident{where} in this workspace: nothing to learn "
                "from, so the draft has no steps.")
    if seen < needed:
        return (f"Seen {seen}x{where}, fewer than min_incidents={needed}: the draft has no "
                "steps.")
    if steps == 0:
        return (f"Seen {seen}x{where}, but no action was executed on those incidents: nothing "
                "to learn, so the draft has no steps.")
    return (f"Generated runbook for '{pattern}' pattern (seen {seen}x). Review and approve to "
            "save.")
