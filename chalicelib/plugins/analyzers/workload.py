"""Deployments, StatefulSets and DaemonSets: replicas that are not available, rollouts that
stopped progressing, and DaemonSet pods on nodes they should not run on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from chalicelib.domain.kube import Finding, Obj, SnapshotIndex, meta
from chalicelib.plugins.analyzers._common import (
    condition,
    condition_line,
    names,
    new_finding,
    pod_ready,
    warning_lines,
)

NAME = "workload"


def analyze(index: SnapshotIndex) -> list[Finding]:
    """Unavailable replicas, stuck rollouts and misscheduled DaemonSet pods."""
    rs_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rs in index.items("replicasets"):
        owner = index.owner(rs)
        if owner and owner.get("kind") == "Deployment":
            rs_of[(meta(rs).get("namespace") or "", owner.get("name") or "")].append(
                meta(rs).get("name") or "")
    found: list[Finding] = []
    for deploy in index.items("deployments"):
        key = (meta(deploy).get("namespace") or "", meta(deploy).get("name") or "")
        found.extend(_replicated(index, deploy, "Deployment", lambda k=key: [
            p for rs in rs_of.get(k, []) for p in index.pods_owned_by("ReplicaSet", k[0], rs)]))
        found.extend(_rollout(index, deploy))
    for sts in index.items("statefulsets"):
        found.extend(_replicated(index, sts, "StatefulSet", lambda s=sts: index.pods_owned_by(
            "StatefulSet", meta(s).get("namespace"), meta(s).get("name") or "")))
        found.extend(_rollout(index, sts, kind="StatefulSet"))
    for ds in index.items("daemonsets"):
        found.extend(_daemonset(index, ds))
    return found


def _not_ready(pods: list[Obj]) -> str:
    waiting = [p for p in pods if not pod_ready(p)
               and (p.get("status") or {}).get("phase") != "Succeeded"]
    return f"; pods not ready: {names(waiting)}" if waiting else ""


def _replicated(index: SnapshotIndex, obj: Obj, kind: str,
                pods: Callable[[], list[Obj]]) -> list[Finding]:
    """UnavailableReplicas; ``pods`` is only called for a workload that has a problem."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    desired = int(spec.get("replicas", 1) or 0)
    ready = int(status.get("readyReplicas") or 0)
    # StatefulSets before 1.22 report no availableReplicas: readiness is the best we have.
    available = int(status.get("availableReplicas", ready) or 0)
    updated = int(status.get("updatedReplicas") or 0)
    if desired == 0 or available >= desired:
        return []
    name = meta(obj).get("name")
    message = f"{kind} {name} has {available}/{desired} replicas available ({ready} ready)"
    if "updatedReplicas" in status and updated < desired:
        message += f"; only {updated} run the current template"
    message += _not_ready(pods())
    evidence = [f"spec.replicas: {desired}",
                f"status.availableReplicas: {available} status.readyReplicas: {ready} "
                f"status.updatedReplicas: {updated} status.unavailableReplicas: "
                f"{status.get('unavailableReplicas', desired - available)}"]
    cond = condition(obj, "Available")
    if cond and cond.get("status") != "True":
        evidence.append(condition_line(cond))
    evidence.extend(warning_lines(index.events_for(kind, meta(obj).get("namespace"),
                                                   name or ""), 2))
    severity = "critical" if available == 0 else "warning"
    return [new_finding(NAME, obj, kind, severity, "UnavailableReplicas", message=message + ".",
                        evidence=evidence, parent=index.top_owner(obj))]


def _rollout(index: SnapshotIndex, obj: Obj, kind: str = "Deployment") -> list[Finding]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if spec.get("paused"):
        return []
    name = meta(obj).get("name")
    generation = meta(obj).get("generation")
    observed = status.get("observedGeneration")
    cond = condition(obj, "Progressing")
    if cond and cond.get("status") == "False" and cond.get("reason") == \
            "ProgressDeadlineExceeded":
        available = int(status.get("availableReplicas") or 0)
        message = f"{kind} {name} rollout is stuck: it exceeded its progress deadline of " \
                  f"{spec.get('progressDeadlineSeconds', 600)}s " \
                  f"({str(cond.get('message') or 'no message').rstrip('.')})"
        evidence = [condition_line(cond), f"status.updatedReplicas: "
                    f"{status.get('updatedReplicas', 0)} of spec.replicas: "
                    f"{spec.get('replicas', 1)}"]
        severity = "critical" if available == 0 else "warning"
        return [new_finding(NAME, obj, kind, severity, "RolloutStuck", message=message + ".",
                            evidence=evidence, parent=index.top_owner(obj))]
    if generation is not None and observed is not None and int(observed) < int(generation):
        message = f"The controller of {kind} {name} has not acted on its latest spec " \
                  f"(generation {generation}, observed {observed})."
        return [new_finding(NAME, obj, kind, "info", "RolloutStuck", message=message,
                            parent=index.top_owner(obj),
                            evidence=[f"metadata.generation: {generation}",
                                      f"status.observedGeneration: {observed}"])]
    if kind == "StatefulSet" and status.get("updateRevision") and \
            status.get("currentRevision") != status.get("updateRevision") and \
            int(status.get("readyReplicas") or 0) < int(spec.get("replicas", 1) or 0):
        message = f"StatefulSet {name} rollout to revision {status['updateRevision']} is " \
                  f"not complete: {status.get('updatedReplicas', 0)} of " \
                  f"{spec.get('replicas', 1)} replicas updated and not all are ready."
        return [new_finding(NAME, obj, kind, "warning", "RolloutStuck", message=message,
                            evidence=[f"status.currentRevision: {status.get('currentRevision')}",
                             f"status.updateRevision: {status['updateRevision']}",
                             f"status.updatedReplicas: {status.get('updatedReplicas', 0)}"],
                            parent=index.top_owner(obj))]
    return []


def _daemonset(index: SnapshotIndex, ds: Obj) -> list[Finding]:
    status = ds.get("status") or {}
    name = meta(ds).get("name") or ""
    desired = int(status.get("desiredNumberScheduled") or 0)
    available = int(status.get("numberAvailable") or 0)
    unavailable = int(status.get("numberUnavailable") or max(desired - available, 0))
    misscheduled = int(status.get("numberMisscheduled") or 0)
    counts = f"status.desiredNumberScheduled: {desired} status.numberAvailable: {available} " \
             f"status.numberUnavailable: {unavailable} status.numberMisscheduled: {misscheduled}"
    found = []
    if unavailable > 0 and desired > 0:
        pods = index.pods_owned_by("DaemonSet", meta(ds).get("namespace"), name)
        message = f"DaemonSet {name} has {unavailable} of {desired} pods unavailable " \
                  f"({available} available){_not_ready(pods)}."
        severity = "critical" if available == 0 else "warning"
        found.append(new_finding(NAME, ds, "DaemonSet", severity, "UnavailableReplicas",
                                 message=message, evidence=[counts], parent=index.top_owner(ds)))
    if misscheduled > 0:
        message = f"DaemonSet {name} runs its pod on {misscheduled} node(s) that are not " \
                  f"supposed to run it (node selector, affinity or taints exclude them)."
        found.append(new_finding(NAME, ds, "DaemonSet", "warning", "Misscheduled", message=message,
                                 evidence=[counts], parent=index.top_owner(ds)))
    return found
