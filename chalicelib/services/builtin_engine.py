"""The ``builtin`` provider: the knowledge base's signatures over the evidence, offline and
deterministic. Rules see through symptoms (an entry that matches can supersede the symptom
entries it explains), and confidence reflects both how strong and how unrivalled the best
match is, so a wrong answer rarely carries a high one.
"""

from __future__ import annotations

import json
import math
import time
from functools import lru_cache
from importlib import resources
from typing import Any

from chalicelib.domain.action_catalog import UnknownAction, suggest
from chalicelib.domain.clock import new_id, now_iso
from chalicelib.domain.diagnosis import (
    MAX_EVIDENCE,
    Diagnosis,
    Fact,
    FixCommand,
    SuggestedAction,
)
from chalicelib.domain.knowledge import (
    KnowledgeEntry,
    Match,
    TextIndex,
    match_entry,
    rank,
    render,
)
from chalicelib.domain.llm import BUILTIN_MODEL
from chalicelib.services.evidence import Evidence

MAX_CONFIDENCE = 0.95
# "other" is what is left when nothing specific fits: never claimed with high confidence.
MAX_OTHER_CONFIDENCE = 0.6
# Without cluster evidence a diagnosis rests on the alert's words alone.
MAX_TEXT_ONLY_CONFIDENCE = 0.45
# Below this BM25 score a question shares too few words with any entry to name a category.
MIN_TEXT_SCORE = 2.0


@lru_cache(maxsize=1)
def builtin_entries() -> tuple[KnowledgeEntry, ...]:
    """The knowledge base shipped in the package (chalicelib/data/knowledge_base.json)."""
    raw = resources.files("chalicelib.data").joinpath("knowledge_base.json").read_text("utf-8")
    return tuple(KnowledgeEntry.model_validate(e) for e in json.loads(raw)["entries"])


@lru_cache(maxsize=1)
def builtin_text_index() -> TextIndex:
    """BM25 over the shipped entries (built once per process)."""
    return TextIndex(list(builtin_entries()))


def confidence(top: float, rival: float, category: str, text_only: bool) -> float:
    """Strength of the best match (saturating in its score) scaled by its margin over the
    best match of another category."""
    strength = 1.0 - math.exp(-top / 3.0)
    margin = (top - rival) / top if top > 0 else 0.0
    value = 0.15 + 0.8 * strength * (0.45 + 0.55 * margin)
    cap = MAX_CONFIDENCE
    if category == "other":
        cap = MAX_OTHER_CONFIDENCE
    if text_only:
        cap = min(cap, MAX_TEXT_ONLY_CONFIDENCE)
    return round(min(cap, value), 2)


def _without_symptoms(matches: list[Match]) -> list[Match]:
    """Drop entries that a matched entry explains (its ``supersedes``)."""
    hidden = {i for m in matches for i in m.entry.supersedes}
    return [m for m in matches if m.entry.id not in hidden]


def _rival(matches: list[Match], top: Match) -> float:
    return max((m.score for m in matches if m.entry.category != top.entry.category), default=0.0)


class BuiltinEngine:
    """Diagnoses evidence with the shipped knowledge base plus a workspace's own entries."""

    provider = "builtin"
    model = BUILTIN_MODEL

    def diagnose(self, evidence: Evidence, question: str = "",
                 extra_entries: list[KnowledgeEntry] | None = None) -> Diagnosis:
        """The best-supported diagnosis; ``other`` with low confidence when nothing fits."""
        started = time.perf_counter()
        entries = [*builtin_entries(), *(extra_entries or [])]
        cluster_facts = [f for f in evidence.facts if f.channel != "alert"]
        matches = _without_symptoms(rank(entries, evidence.facts))
        text_only = not cluster_facts
        if matches:
            top = matches[0]
            score = confidence(top.score, _rival(matches, top), top.entry.category, text_only)
        else:
            top, score = self._from_text(entries, evidence, question)
        diagnosis = self._build(top, score, evidence, text_only)
        diagnosis.duration_ms = round((time.perf_counter() - started) * 1000, 2)
        return diagnosis

    def _from_text(self, entries: list[KnowledgeEntry], evidence: Evidence,
                   question: str) -> tuple[Match | None, float]:
        """No anchored signature: the alert's own words, then BM25 over the question."""
        alert = [f for f in evidence.facts if f.channel == "alert"]
        hinted = [m for e in entries if (m := match_entry(e, alert)) is not None]
        hinted.sort(key=lambda m: -m.score)
        if hinted:
            top = hinted[0]
            return top, min(MAX_TEXT_ONLY_CONFIDENCE,
                            confidence(top.score, _rival(hinted, top), top.entry.category, True))
        text = question or " ".join(f.text for f in alert)
        found = builtin_text_index().search(text, limit=2) if text.strip() else []
        if not found or found[0][1] < MIN_TEXT_SCORE:
            return None, 0.15
        entry, bm25 = found[0]
        runner_up = found[1][1] if len(found) > 1 else 0.0
        margin = (bm25 - runner_up) / bm25
        return Match(entry, bm25), round(min(0.4, 0.15 + 0.3 * margin), 2)

    def _build(self, top: Match | None, score: float, evidence: Evidence,
               text_only: bool) -> Diagnosis:
        values = self._values(top, evidence)
        warnings = list(evidence.warnings)
        if text_only:
            warnings.append("No cluster evidence was available (no registered cluster, or the "
                            "subject was not found in it): this rests on the alert text only.")
        if top is None:
            return self._unknown(evidence, warnings, score)
        entry = top.entry
        actions, dropped = self._actions(entry, values)
        return Diagnosis(
            diagnosis_id=new_id("diag_"), category=entry.category,
            summary=f"{evidence.subject.label}: {entry.title}.",
            root_cause=render(entry.explanation, values), confidence=score,
            evidence=self._evidence_lines(top, evidence), fix_summary=render(entry.fix, values),
            fix_commands=[FixCommand(command=render(c.command, values),
                                     description=render(c.description, values))
                          for c in entry.fix_commands],
            suggested_actions=actions, warnings=[*warnings, *entry.warnings, *dropped],
            source_url=entry.doc_url, matched_playbooks=[entry.playbook] if entry.playbook else [],
            log_excerpt=self._excerpt(evidence), k8s_context=evidence.k8s_context,
            subject=evidence.subject, provider=self.provider, model=self.model,
            knowledge_ids=[entry.id], created_at=now_iso())

    def _unknown(self, evidence: Evidence, warnings: list[str], score: float) -> Diagnosis:
        lines = [f.text for f in evidence.facts if f.channel != "spec"][:MAX_EVIDENCE]
        return Diagnosis(
            diagnosis_id=new_id("diag_"), category="other",
            summary=f"{evidence.subject.label}: no known failure signature matched.",
            root_cause="The evidence matches no failure signature in the knowledge base; the "
                       "cause needs a human look at the evidence below.",
            confidence=score, evidence=lines,
            fix_summary="Inspect the listed evidence (events, container states, logs).",
            warnings=warnings, log_excerpt=self._excerpt(evidence),
            k8s_context=evidence.k8s_context, subject=evidence.subject,
            provider=self.provider, model=self.model, created_at=now_iso())

    @staticmethod
    def _values(top: Match | None, evidence: Evidence) -> dict[str, Any]:
        values: dict[str, Any] = {**evidence.context, **(top.captures if top else {})}
        if top and top.facts:
            telling = next((f for f in top.facts if f.channel in ("log", "message", "event")),
                           top.facts[0])
            values["line"] = telling.text
        for key, value in list(values.items()):
            values[f"{key}_suffix"] = f" ({value})"
        return values

    @staticmethod
    def _actions(entry: KnowledgeEntry,
                 values: dict[str, Any]) -> tuple[list[SuggestedAction], list[str]]:
        kept: list[SuggestedAction] = []
        for template in entry.actions:
            args = {k: render(v, values) if isinstance(v, str) else v
                    for k, v in template.arguments.items()}
            try:
                kept.append(suggest(template.name, args))
            except UnknownAction:
                continue  # a placeholder the evidence could not fill: nothing safe to suggest
        return kept, []

    @staticmethod
    def _evidence_lines(top: Match, evidence: Evidence) -> list[str]:
        lines = [_labelled(f) for f in top.facts]
        for fact in evidence.facts:
            if len(lines) >= MAX_EVIDENCE:
                break
            if fact.channel in ("reason", "state", "event") and _labelled(fact) not in lines:
                lines.append(_labelled(fact))
        return lines[:MAX_EVIDENCE]

    @staticmethod
    def _excerpt(evidence: Evidence, limit: int = 20) -> str:
        lines = evidence.log_lines or [f.text for f in evidence.facts if f.channel == "log"]
        return "\n".join(lines[-limit:])


def _labelled(fact: Fact) -> str:
    return f"[{fact.source}] {fact.text}" if fact.source else fact.text
