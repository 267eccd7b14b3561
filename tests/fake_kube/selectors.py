"""Label and field selectors as the Kubernetes API server parses and applies them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


class SelectorError(ValueError):
    """A selector the API server would reject with 400 Bad Request."""


@dataclass(frozen=True)
class LabelRequirement:
    """One term of a label selector: ``key op values``."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether an object with these labels satisfies the term."""
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        # "!=" and "notin" also match objects that lack the label, as in Kubernetes.
        return value not in self.values


_KEY = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_TERM = re.compile(rf"^({_KEY})\s+(in|notin)\s*\(([^()]*)\)$")
_EQ_TERM = re.compile(rf"^({_KEY})\s*(==|=|!=)\s*({_VALUE})$")
_EXISTS_TERM = re.compile(rf"^(!?)\s*({_KEY})$")
_VALUE_ONLY = re.compile(rf"^{_VALUE}$")


def split_terms(text: str) -> list[str]:
    """Split a selector on the commas that are not inside ``( )``."""
    terms: list[str] = []
    depth, start = 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return [t.strip() for t in terms if t.strip()]


def parse_label_selector(text: str) -> list[LabelRequirement]:
    """The requirements of a ``labelSelector`` query parameter (empty selects all)."""
    return [_parse_label_term(term) for term in split_terms(text)]


def _parse_label_term(term: str) -> LabelRequirement:
    if match := _SET_TERM.match(term):
        values = tuple(v.strip() for v in match.group(3).split(",") if v.strip())
        if not values or not all(_VALUE_ONLY.match(v) for v in values):
            raise SelectorError(f"unable to parse requirement: invalid values in {term!r}")
        return LabelRequirement(match.group(1), match.group(2), values)
    if match := _EQ_TERM.match(term):
        op = "!=" if match.group(2) == "!=" else "="
        return LabelRequirement(match.group(1), op, (match.group(3),))
    if match := _EXISTS_TERM.match(term):
        return LabelRequirement(match.group(2), "!" if match.group(1) else "exists")
    raise SelectorError(f"unable to parse requirement: found '{term}', expected a label term")


def labels_match(requirements: list[LabelRequirement], obj: Obj) -> bool:
    """Whether an object's labels satisfy every requirement."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(r.matches(labels) for r in requirements)


@dataclass(frozen=True)
class FieldRequirement:
    """One term of a field selector: ``field op value``."""

    field: str
    negated: bool
    value: str


def _path(*keys: str) -> Callable[[Obj], Any]:
    def read(obj: Obj) -> Any:
        current: Any = obj
        for key in keys:
            current = current.get(key) if isinstance(current, dict) else None
        return current
    return read


_COMMON: dict[str, Callable[[Obj], Any]] = {
    "metadata.name": _path("metadata", "name"),
    "metadata.namespace": _path("metadata", "namespace"),
}
# The field labels each resource supports beyond metadata.name/namespace, as the real
# API server registers them; anything else is rejected rather than silently ignored.
_EXTRA: dict[str, dict[str, Callable[[Obj], Any]]] = {
    "pods": {f: _path(*f.split(".")) for f in (
        "status.phase", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
        "spec.serviceAccountName", "spec.hostNetwork", "status.podIP",
        "status.nominatedNodeName")},
    "events": {
        **{f: _path(*f.split(".")) for f in (
            "involvedObject.kind", "involvedObject.name", "involvedObject.namespace",
            "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.fieldPath",
            "involvedObject.resourceVersion", "reason", "type", "reportingComponent")},
        "source": _path("source", "component"),
    },
    "nodes": {"spec.unschedulable": _path("spec", "unschedulable")},
    "namespaces": {"status.phase": _path("status", "phase")},
    "secrets": {"type": _path("type")},
    "jobs": {"status.successful": _path("status", "succeeded")},
    "replicasets": {"status.replicas": _path("status", "replicas")},
}


def parse_field_selector(text: str, plural: str) -> list[FieldRequirement]:
    """The requirements of a ``fieldSelector`` for one resource; unknown fields are errors."""
    supported = {**_COMMON, **_EXTRA.get(plural, {})}
    requirements = []
    for term in split_terms(text):
        match = re.match(r"^([^=!]+?)\s*(==|=|!=)\s*(.*)$", term)
        if match is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        field_name, op, value = match.groups()
        if field_name not in supported:
            raise SelectorError(f'field label not supported: {field_name}')
        requirements.append(FieldRequirement(field_name, op == "!=", value))
    return requirements


def fields_match(requirements: list[FieldRequirement], obj: Obj, plural: str) -> bool:
    """Whether an object satisfies every field requirement."""
    supported = {**_COMMON, **_EXTRA.get(plural, {})}
    for req in requirements:
        actual = _as_field_text(supported[req.field](obj))
        if (actual == req.value) == req.negated:
            return False
    return True


def _as_field_text(value: Any) -> str:
    # The API server compares field values as strings; booleans print lower-case.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
