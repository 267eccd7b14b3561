"""The control plane: static pods of etcd, the API server, the scheduler and the controller
manager that are not running and ready, and events that show etcd losing its leader, timing
out or lacking quorum."""

from __future__ import annotations

import re

from chalicelib.domain.kube import Finding, Obj, SnapshotIndex, event_line, event_time, meta
from chalicelib.plugins.analyzers._common import (
    condition,
    condition_line,
    control_plane_component,
    dedupe,
    new_finding,
    warning_lines,
)
from chalicelib.plugins.analyzers._containers import Container, classify

NAME = "control_plane"
ETCD_TROUBLE = re.compile(r"etcdserver: (?:request timed out|leader changed|no leader|"
                          r"too many requests)|lost (?:the )?quorum|quorum (?:lost|is lost|"
                          r"not available)|etcd.{0,40}leader (?:changed|lost|election)|"
                          r"raft.{0,40}(?:lost leader|no leader)", re.IGNORECASE)
SERIOUS = re.compile(r"timed out|no leader|quorum|lost leader", re.IGNORECASE)


def analyze(index: SnapshotIndex) -> list[Finding]:
    """Failing control-plane pods and etcd trouble seen in events."""
    found: dict[str, Finding] = {}
    etcd_pods = []
    for pod in index.items("pods"):
        component = control_plane_component(pod)
        if component is None:
            continue
        if component == "etcd":
            etcd_pods.append(pod)
        finding = _failing(index, pod, component)
        if finding:
            found[finding.key] = finding
    for finding in _etcd_events(index, etcd_pods, found):
        found[finding.key] = finding
    return list(found.values())


def _reason(component: str) -> str:
    return "EtcdUnhealthy" if component == "etcd" else "ControlPlaneComponentFailing"


def _failing(index: SnapshotIndex, pod: Obj, component: str) -> Finding | None:
    status = pod.get("status") or {}
    phase = status.get("phase")
    ready = condition(pod, "Ready")
    events = index.events_for("Pod", meta(pod).get("namespace"), meta(pod).get("name") or "")
    causes, evidence = [], []
    for cs in status.get("containerStatuses") or []:
        problem = classify(Container("containerStatuses", cs, {}, events))
        waiting = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
        if problem:
            causes.append(problem.message.rstrip("."))
            evidence.extend(problem.evidence)
        elif waiting:
            causes.append(f"container {cs.get('name')} is waiting ({waiting})")
    if phase != "Running":
        causes.insert(0, f"the pod is {phase or 'in an unknown phase'}")
    elif ready is not None and ready.get("status") != "True" and not causes:
        causes.append("the pod is running but not Ready")
    if not causes:
        return None
    if ready is not None:
        evidence.insert(0, condition_line(ready))
    message = f"Control-plane component {component} ({meta(pod).get('name')}) is failing: " \
              f"{'; '.join(causes)}."
    return new_finding(NAME, pod, "Pod", "critical", _reason(component), message=message,
                       evidence=[f"status.phase: {phase}", *evidence, *warning_lines(events, 2)],
                       parent=index.top_owner(pod))


def _etcd_events(index: SnapshotIndex, etcd_pods: list[Obj],
                 found: dict[str, Finding]) -> list[Finding]:
    hits = sorted((e for e in index.items("events")
                   if ETCD_TROUBLE.search(e.get("message") or "")), key=event_time)
    if not hits:
        return []
    lines = [event_line(e) for e in hits[-5:]]
    serious = any(SERIOUS.search(e.get("message") or "") for e in hits)
    target = etcd_pods[0] if etcd_pods else None
    if target is not None:
        existing = found.get(f"Pod/kube-system/{meta(target).get('name')}/EtcdUnhealthy")
        if existing:
            existing.evidence = dedupe([*existing.evidence, *lines])
            return []
        obj: Obj = target
        kind = "Pod"
    else:
        involved = hits[-1].get("involvedObject") or {}
        kind = involved.get("kind") or "Event"
        obj = {"metadata": {"name": involved.get("name") or "etcd",
                            "namespace": involved.get("namespace")}}
    message = f"etcd is unhealthy: {len(hits)} event(s) report leader changes, request " \
              f"timeouts or lost quorum, the latest: \"{hits[-1].get('message')}\"; API " \
              f"requests that need etcd fail or stall while this lasts."
    return [new_finding(NAME, obj, kind, "critical" if serious else "warning",
                        "EtcdUnhealthy", message=message, evidence=lines)]
