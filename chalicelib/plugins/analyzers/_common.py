"""Helpers the analyzers share: building findings, status and condition lines, a label index
over pods, and the lookups several analyzers need. Pure: reads the snapshot index only."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from weakref import WeakKeyDictionary

from chalicelib.domain.kube import (
    Finding,
    Obj,
    Severity,
    SnapshotIndex,
    event_line,
    label_selector_matches,
    meta,
)

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
MAX_TEXT = 400


def new_finding(analyzer: str, obj: Obj, kind: str, severity: Severity, reason: str, *,
                message: str, evidence: Iterable[str], parent: Obj | None = None) -> Finding:
    """A finding about one object, its namespace taken from the object (None if cluster-wide)."""
    m = meta(obj)
    return Finding(analyzer=analyzer, kind=kind, name=m.get("name") or "",
                   namespace=m.get("namespace") or None, severity=severity, reason=reason,
                   message=message, evidence=dedupe(evidence), parent=parent)


def dedupe(lines: Iterable[str]) -> list[str]:
    """Lines in order with repeats and blanks dropped."""
    return list(dict.fromkeys(line for line in lines if line))


def clip(text: Any, limit: int = MAX_TEXT) -> str:
    """Text on one line, cut to ``limit`` characters (status messages can be pages long)."""
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def plural(count: int, word: str) -> str:
    """``1 pod``, ``3 pods``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def names(objs: Iterable[Obj], limit: int = 5) -> str:
    """Up to ``limit`` object names, comma separated, with how many more there are."""
    all_names = [meta(o).get("name") or "?" for o in objs]
    shown = ", ".join(all_names[:limit])
    extra = len(all_names) - limit
    return f"{shown} and {extra} more" if extra > 0 else shown


# --- container and pod status ---------------------------------------------------------------
def state_detail(detail: Obj, *, with_message: bool = True) -> str:
    """``reason=OOMKilled exitCode=137`` for a waiting or terminated state."""
    parts = [f"{k}={detail[k]}" for k in ("reason", "exitCode", "signal") if
             detail.get(k) is not None and detail.get(k) != ""]
    if with_message and detail.get("message"):
        parts.append(f"message={clip(detail['message'])}")
    return " ".join(parts)


def state_line(section: str, name: str, field: str, state: Obj | None) -> str:
    """``containerStatuses[app].lastState.terminated: reason=OOMKilled exitCode=137``, or ""
    when the state is empty or merely running."""
    for phase in ("waiting", "terminated"):
        detail = (state or {}).get(phase)
        if detail is not None:
            return f"{section}[{name}].{field}.{phase}: {state_detail(detail)}".rstrip()
    return ""


def condition(obj: Obj, kind: str) -> Obj | None:
    """The status condition of one type, if present."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def condition_line(cond: Obj) -> str:
    """``conditions[Ready]: status=False reason=KubeletNotReady message=...``."""
    parts = [f"status={cond.get('status')}"]
    if cond.get("reason"):
        parts.append(f"reason={cond['reason']}")
    if cond.get("message"):
        parts.append(f"message={clip(cond['message'])}")
    return f"conditions[{cond.get('type')}]: " + " ".join(parts)


def pod_ready(pod: Obj) -> bool:
    """Whether the pod's Ready condition is True (or, without conditions, all containers are)."""
    cond = condition(pod, "Ready")
    if cond is not None:
        return cond.get("status") == "True"
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and all(cs.get("ready") for cs in statuses)


def is_live(pod: Obj) -> bool:
    """Whether a pod is neither Succeeded nor Failed."""
    return (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES


def control_plane_component(pod: Obj) -> str | None:
    """The control-plane component a kube-system pod runs (``etcd``, ``kube-apiserver``...)."""
    m = meta(pod)
    if m.get("namespace") != "kube-system":
        return None
    component = (m.get("labels") or {}).get("component")
    if component in CONTROL_PLANE:
        return component
    # By name only for static pods (owned by their Node) or bare ones: an "etcd-backup"
    # Deployment is not etcd.
    owners = {o.get("kind") for o in m.get("ownerReferences") or []}
    if owners - {"Node"}:
        return None
    name = m.get("name") or ""
    return next((c for c in CONTROL_PLANE if name == c or name.startswith(c + "-")), None)


def warning_lines(events: Iterable[Obj], limit: int = 3) -> list[str]:
    """The latest Warning events as evidence lines."""
    warnings = [e for e in events if e.get("type") == "Warning"]
    return [event_line(e) for e in warnings[-limit:]]


# --- what a snapshot holds ------------------------------------------------------------------
def listed(index: SnapshotIndex, plural_name: str) -> bool:
    """Whether the snapshot read this kind at all, so that absence from it means absence
    from the cluster (a kind RBAC refused says nothing)."""
    snap = index.snapshot
    return plural_name in snap.objects and plural_name not in snap.missing


class PodLabels:
    """Live pods per namespace with a (key, value) -> pods index, so that a selector costs
    the size of its smallest label group instead of a scan of the namespace."""

    def __init__(self, pods: Iterable[Obj]) -> None:
        self.by_ns: dict[str, list[Obj]] = defaultdict(list)
        self.by_label: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        for pod in pods:
            if not is_live(pod):
                continue
            m = meta(pod)
            ns = m.get("namespace") or ""
            pods_here = self.by_ns[ns]
            for key, value in (m.get("labels") or {}).items():
                self.by_label[(ns, key, str(value))].append(len(pods_here))
            pods_here.append(pod)

    def match_labels(self, namespace: str, wanted: dict[str, Any]) -> list[Obj]:
        """Pods whose labels include every ``wanted`` pair (all pods if ``wanted`` is empty)."""
        pods = self.by_ns.get(namespace, [])
        if not wanted:
            return list(pods)
        groups = sorted((self.by_label.get((namespace, k, str(v)), []) for k, v in
                         wanted.items()), key=len)
        found = set(groups[0])
        for group in groups[1:]:
            found.intersection_update(group)
        return [pods[i] for i in sorted(found)]

    def select(self, namespace: str, selector: Obj | None) -> list[Obj]:
        """Pods a LabelSelector (``matchLabels``/``matchExpressions``) selects; empty = all."""
        selector = selector or {}
        candidates = self.match_labels(namespace, selector.get("matchLabels") or {})
        if not selector.get("matchExpressions"):
            return candidates
        return [p for p in candidates
                if label_selector_matches(selector, meta(p).get("labels"))]

    def nearest(self, namespace: str, wanted: dict[str, Any]) -> tuple[int, list[Obj]]:
        """The pods sharing the most ``wanted`` pairs, and how many pairs they share."""
        pods = self.by_ns.get(namespace, [])
        counts: dict[int, int] = defaultdict(int)
        for k, v in wanted.items():
            for i in self.by_label.get((namespace, k, str(v)), []):
                counts[i] += 1
        if not counts:
            return 0, []
        best = max(counts.values())
        return best, [pods[i] for i, n in sorted(counts.items()) if n == best]


_LABELS: WeakKeyDictionary[SnapshotIndex, PodLabels] = WeakKeyDictionary()


def pod_labels(index: SnapshotIndex) -> PodLabels:
    """The label index of an index's pods, built once per snapshot index."""
    found = _LABELS.get(index)
    if found is None:
        found = _LABELS[index] = PodLabels(index.items("pods"))
    return found


def format_labels(labels: dict[str, Any] | None) -> str:
    """``app=backend,version=v2`` (``{}`` when empty)."""
    return ",".join(f"{k}={v}" for k, v in (labels or {}).items()) or "{}"


def find_pattern(pattern: re.Pattern[str], texts: Iterable[str]) -> list[str]:
    """The texts the pattern matches, in order."""
    return [t for t in texts if t and pattern.search(t)]
