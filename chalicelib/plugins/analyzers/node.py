"""Nodes: NotReady, pressure conditions, cordons, and kubelet certificate problems seen in
the node's conditions and events."""

from __future__ import annotations

import re

from chalicelib.domain.kube import Finding, Obj, Severity, SnapshotIndex, event_line, meta
from chalicelib.plugins.analyzers._common import (
    clip,
    condition_line,
    find_pattern,
    new_finding,
    warning_lines,
)

NAME = "node"
PRESSURES: dict[str, tuple[Severity, str]] = {
    "MemoryPressure": ("warning", "the kubelet evicts pods to reclaim memory"),
    "DiskPressure": ("warning", "the kubelet evicts pods and garbage-collects images"),
    "PIDPressure": ("warning", "new processes may fail and the kubelet evicts pods"),
    "NetworkUnavailable": ("critical", "pod networking on the node is not configured"),
}
CERT_PROBLEM = re.compile(r"x509|certificate (?:has )?expired|certificate is not yet valid|"
                          r"certificate signed by unknown authority|"
                          r"(?:failed|unable) to (?:load|rotate|renew) .*cert", re.IGNORECASE)


def analyze(index: SnapshotIndex) -> list[Finding]:
    """Findings of every node."""
    found: list[Finding] = []
    for node in index.items("nodes"):
        conds = {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or []}
        events = index.events_for("Node", None, meta(node).get("name") or "")
        not_ready = _not_ready(node, conds, events)
        if not_ready:
            found.append(not_ready)
        found.extend(_pressures(node, conds))
        cordoned = _cordoned(node)
        if cordoned:
            found.append(cordoned)
        cert = _certificate(node, conds, events, not_ready is not None)
        if cert:
            found.append(cert)
    return found


def _taint_lines(node: Obj) -> list[str]:
    return [f"spec.taints: {t.get('key')}:{t.get('effect')}"
            for t in (node.get("spec") or {}).get("taints") or []]


def _not_ready(node: Obj, conds: dict[str, Obj], events: list[Obj]) -> Finding | None:
    ready = conds.get("Ready")
    if ready is None or ready.get("status") == "True":
        return None
    name = meta(node).get("name")
    state = "Unknown (the kubelet stopped reporting)" if ready.get("status") == "Unknown" \
        else "False"
    message = f"Node {name} is NotReady: Ready={state}"
    if ready.get("reason") or ready.get("message"):
        detail = clip(ready.get("message"), 240).rstrip(".")
        message += f", {ready.get('reason') or 'no reason'}: {detail}"
    since = ready.get("lastTransitionTime")
    message += f" since {since}" if since else ""
    message += "; pods on it stop being served and are evicted after the toleration period"
    evidence = [condition_line(ready), *_taint_lines(node), *warning_lines(events)]
    return new_finding(NAME, node, "Node", "critical", "NotReady", message=message + ".",
                       evidence=evidence)


def _pressures(node: Obj, conds: dict[str, Obj]) -> list[Finding]:
    found = []
    for kind, (severity, effect) in PRESSURES.items():
        cond = conds.get(kind)
        if not cond or cond.get("status") != "True":
            continue
        detail = clip(cond.get("message") or cond.get("reason") or "", 240)
        message = f"Node {meta(node).get('name')} reports {kind}" + \
                  (f" ({detail})" if detail else "") + f"; {effect}."
        found.append(new_finding(NAME, node, "Node", severity, kind, message=message,
                                 evidence=[condition_line(cond), *_taint_lines(node)]))
    return found


def _cordoned(node: Obj) -> Finding | None:
    if not (node.get("spec") or {}).get("unschedulable"):
        return None
    message = f"Node {meta(node).get('name')} is cordoned (spec.unschedulable=true): " \
              f"no new pods are scheduled on it."
    return new_finding(NAME, node, "Node", "info", "Cordoned", message=message,
                       evidence=["spec.unschedulable: true", *_taint_lines(node)])


def _certificate(node: Obj, conds: dict[str, Obj], events: list[Obj],
                 not_ready: bool) -> Finding | None:
    lines = [condition_line(c) for c in conds.values()]
    hits = find_pattern(CERT_PROBLEM, [*lines, *(event_line(e) for e in events)])
    if not hits:
        return None
    message = f"The kubelet of node {meta(node).get('name')} has a certificate problem: " \
              f"{clip(hits[-1], 300)}"
    if not_ready:
        message += "; the node is NotReady as well"
    severity: Severity = "critical" if not_ready else "warning"
    return new_finding(NAME, node, "Node", severity, "KubeletCertificate", message=message + ".",
                       evidence=hits[-4:])
