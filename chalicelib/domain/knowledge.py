"""The knowledge base of failure signatures and how evidence is matched against it.

An entry says: when these patterns appear in these channels of the evidence, the failure is
this category, because of this, and this is the fix. Matching is regular expressions over a
few dozen evidence lines (microseconds per entry); free-text questions without evidence
are ranked by BM25 over the entries' words. Nothing here needs a model or the network.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.domain.diagnosis import Category, Fact

Channel = Literal["reason", "message", "event", "log", "state", "spec", "alert", "any"]
# The alert's own words (and a user's question) are a hint, never proof: they are untrusted
# and say what hurts, not why.
ALERT_WEIGHT = 0.35
_TOKEN = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*")


class Signature(BaseModel):
    """A pattern over one channel of the evidence (``any``: every channel but ``alert``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Channel = "any"
    pattern: str = Field(min_length=1, max_length=500)
    # Negative: counter-evidence (e.g. a Service has no endpoints *because* its pods fail).
    weight: float = Field(default=1.0, ge=-10, le=10)
    # An entry counts only if one of its anchors matched: the signal that defines it.
    anchor: bool = False

    @model_validator(mode="after")
    def _meaningful(self) -> Signature:
        if self.weight == 0 or (self.anchor and self.weight < 0):
            raise ValueError("weight must be non-zero, and positive for an anchor")
        return self

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from None
        return value


class Command(BaseModel):
    """A fix command template for a human; ``{placeholders}`` come from the match."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1, max_length=500)
    description: str = Field(min_length=1, max_length=300)


class ActionTemplate(BaseModel):
    """An allowlisted action to suggest, its arguments as templates."""

    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class KnowledgeEntry(BaseModel):
    """One failure signature with its explanation and fix."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,80}$")
    title: str = Field(min_length=1, max_length=200)
    category: Category
    signatures: list[Signature] = Field(min_length=1, max_length=40)
    explanation: str = Field(min_length=1, max_length=2000)
    fix: str = Field(min_length=1, max_length=2000)
    fix_commands: list[Command] = Field(default_factory=list, max_length=10)
    actions: list[ActionTemplate] = Field(default_factory=list, max_length=5)
    doc_url: str | None = Field(default=None, max_length=500)
    keywords: list[str] = Field(default_factory=list, max_length=40)
    playbook: str | None = Field(default=None, max_length=80)
    warnings: list[str] = Field(default_factory=list, max_length=5)
    source: Literal["builtin", "workspace"] = "builtin"
    guest_id: str | None = Field(default=None, max_length=200)
    # Entries this one sees through: when it matches, they are symptoms, not rivals.
    supersedes: list[str] = Field(default_factory=list, max_length=20)

    @cached_property
    def compiled(self) -> list[tuple[Signature, re.Pattern[str]]]:
        """The signatures with their compiled patterns (case-insensitive)."""
        return [(s, re.compile(s.pattern, re.IGNORECASE)) for s in self.signatures]


@dataclass
class Match:
    """How an entry matched: its score, the facts it rests on, what the patterns captured."""

    entry: KnowledgeEntry
    score: float
    facts: list[Fact] = field(default_factory=list)
    captures: dict[str, str] = field(default_factory=dict)
    anchored: bool = False


def _channel_fits(signature: Signature, fact: Fact) -> bool:
    if signature.channel == "any":
        return True
    return signature.channel == fact.channel


def match_entry(entry: KnowledgeEntry, facts: list[Fact]) -> Match | None:
    """Score one entry: each signature counts once, at its weight (alert lines at a third)."""
    found = Match(entry, 0.0)
    for signature, regex in entry.compiled:
        best: tuple[float, Fact, re.Match[str]] | None = None
        for fact in facts:
            if not _channel_fits(signature, fact) and not (
                    fact.channel == "alert" and signature.channel != "spec"):
                continue
            hit = regex.search(fact.text)
            if hit is None:
                continue
            weight = signature.weight * (ALERT_WEIGHT if fact.channel == "alert" else 1.0)
            if best is None or weight > best[0]:
                best = (weight, fact, hit)
        if best is None:
            continue
        weight, fact, hit = best
        found.score += weight
        if weight < 0:
            continue  # counter-evidence lowers the score; it is not what the entry rests on
        if fact not in found.facts:
            found.facts.append(fact)
        found.captures.update({k: v for k, v in hit.groupdict().items() if v})
        found.anchored |= signature.anchor and fact.channel != "alert"
    return found if found.score > 0 and found.facts else None


def rank(entries: list[KnowledgeEntry], facts: list[Fact]) -> list[Match]:
    """Entries whose anchors matched, best first (ties: the more specific entry first)."""
    matches = [m for e in entries if (m := match_entry(e, facts)) is not None and m.anchored]
    matches.sort(key=lambda m: (-m.score, -len(m.entry.signatures), m.entry.id))
    return matches


def tokens(text: str) -> list[str]:
    """Lower-case word tokens (keeps ``crash-loop``, ``x509``, ``nvidia.com``)."""
    return _TOKEN.findall(text.lower())


class TextIndex:
    """BM25 over the entries' title, category, keywords and explanation, for questions that
    come without cluster evidence."""

    K1 = 1.2
    B = 0.75

    def __init__(self, entries: list[KnowledgeEntry]) -> None:
        self.entries = entries
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.lengths: list[int] = []
        for i, entry in enumerate(entries):
            words = tokens(" ".join([entry.title, entry.category, *entry.keywords,
                                     entry.explanation]))
            self.lengths.append(len(words))
            for word, count in Counter(words).items():
                self.postings[word].append((i, count))
        self.mean_length = (sum(self.lengths) / len(self.lengths)) if self.lengths else 1.0

    def search(self, text: str, limit: int = 5) -> list[tuple[KnowledgeEntry, float]]:
        """The entries most relevant to ``text``, with their BM25 scores."""
        scores: dict[int, float] = defaultdict(float)
        n = len(self.entries)
        for word in set(tokens(text)):
            posting = self.postings.get(word)
            if not posting:
                continue
            idf = math.log(1 + (n - len(posting) + 0.5) / (len(posting) + 0.5))
            for i, count in posting:
                norm = self.K1 * (1 - self.B + self.B * self.lengths[i] / self.mean_length)
                scores[i] += idf * count * (self.K1 + 1) / (count + norm)
        best = sorted(scores.items(), key=lambda kv: -kv[1])[:limit]
        return [(self.entries[i], round(score, 3)) for i, score in best]


class _Blank(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def render(template: str, values: dict[str, Any]) -> str:
    """Fill ``{placeholders}``; a missing value shows as ``<name>`` for a human to fill."""
    try:
        return template.format_map(_Blank({k: v for k, v in values.items() if v not in (None, "")}))
    except (ValueError, IndexError, AttributeError):
        return template
