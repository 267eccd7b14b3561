"""The StatefulSet, DaemonSet and Job controllers of the fake cluster (see controllers.py):
ordered pods with stable names, one pod per fitting node, pods that run to completion."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.fake_kube.pods import (
    REVISION_LABEL,
    canonical_template,
    fits,
    is_active,
    is_ready,
    now,
    pod_from_template,
    short_hash,
    without_zeros,
)

if TYPE_CHECKING:
    from tests.fake_kube.controllers import Controllers

Obj = dict[str, Any]
# What the DaemonSet controller adds so its pods run on cordoned and troubled nodes.
DAEMON_TOLERATIONS = [{"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": e}
                      for k, e in (("unschedulable", "NoSchedule"), ("not-ready", "NoExecute"),
                                   ("unreachable", "NoExecute"), ("disk-pressure", "NoSchedule"),
                                   ("memory-pressure", "NoSchedule"), ("pid-pressure",
                                                                       "NoSchedule"))]
MAX_JOB_PODS = 50


def _revision(c: Controllers, plural: str, obj: Obj, update: str) -> Callable[[Obj], bool]:
    """Whether a pod is of the workload's current template: its revision label is the
    update revision, or the template is as loaded and the pod is one the case listed."""
    template, loaded = c.baseline(plural, obj)

    def current(pod: Obj) -> bool:
        label = (pod["metadata"].get("labels") or {}).get(REVISION_LABEL)
        if label == update:
            return True
        return template == canonical_template(obj) and (label is None or label in loaded)

    return current


def sync_statefulset(c: Controllers, sts: Obj) -> None:
    """Pods ``<name>-0`` .. ``<name>-(n-1)``, made in order (each Ready before the next
    unless podManagementPolicy is Parallel), updated from the highest ordinal down."""
    name, spec = sts["metadata"]["name"], sts.get("spec") or {}
    desired = int(spec.get("replicas", 1))
    update = f"{name}-{short_hash(canonical_template(sts))}"
    current = _revision(c, "statefulsets", sts, update)
    pods = {}
    for pod in c.pods_of(sts, active=False):
        ordinal = _ordinal(name, pod)
        if is_active(pod) and ordinal is not None and ordinal < desired:
            pods[ordinal] = pod
        else:  # failed, finished, or beyond the replicas: the controller removes it
            c.delete_pod(pod)
    ordered = spec.get("podManagementPolicy") != "Parallel"
    for ordinal in range(desired):
        if ordinal not in pods:
            pods[ordinal] = c.create_pod(_stateful_pod(sts, ordinal, update))
        if ordered and not is_ready(pods[ordinal]):
            break
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") != "OnDelete":
        partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0))
        for ordinal in sorted((o for o in pods if o >= partition), reverse=True):
            if not current(pods[ordinal]):
                c.delete_pod(pods[ordinal])
                pods[ordinal] = c.create_pod(_stateful_pod(sts, ordinal, update))
            if not is_ready(pods[ordinal]):
                break  # a rolling update waits for each pod to be Ready
    updated = sum(1 for p in pods.values() if current(p))
    ready = sum(1 for p in pods.values() if is_ready(p))
    old = sts.get("status") or {}
    sts["status"] = without_zeros({
        "observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(pods),
        "readyReplicas": ready, "availableReplicas": ready, "updatedReplicas": updated,
        "currentReplicas": len(pods) if updated == len(pods) else len(pods) - updated,
        "currentRevision": update if updated == len(pods) else
        old.get("currentRevision", update), "updateRevision": update, "collisionCount": 0},
        keep=("replicas", "availableReplicas"))
    c.save("statefulsets", sts)


def _ordinal(name: str, pod: Obj) -> int | None:
    suffix = pod["metadata"]["name"][len(name) + 1:]
    return int(suffix) if pod["metadata"]["name"].startswith(f"{name}-") and suffix.isdigit() \
        else None


def _stateful_pod(sts: Obj, ordinal: int, update: str) -> Obj:
    name = f"{sts['metadata']['name']}-{ordinal}"
    template = (sts.get("spec") or {}).get("template") or {}
    pod = pod_from_template(template, sts["metadata"]["namespace"], sts, name=name, labels={
        REVISION_LABEL: update, "statefulset.kubernetes.io/pod-name": name,
        "apps.kubernetes.io/pod-index": str(ordinal)})
    pod["spec"]["hostname"] = name
    if (sts.get("spec") or {}).get("serviceName"):
        pod["spec"]["subdomain"] = sts["spec"]["serviceName"]
    return pod


def sync_daemonset(c: Controllers, ds: Obj) -> None:
    """One pod per node the template fits (cordoned nodes included), replaced one at a
    time when the template changes."""
    spec = ds.get("spec") or {}
    template = spec.get("template") or {}
    update = short_hash(canonical_template(ds))
    current = _revision(c, "daemonsets", ds, update)
    probe = {"spec": {**(template.get("spec") or {}), "tolerations": [
        *((template.get("spec") or {}).get("tolerations") or []), *DAEMON_TOLERATIONS]}}
    nodes = [n["metadata"]["name"] for n in c.store.list("nodes") if fits(probe, n)]
    pods: dict[str, Obj] = {}
    for pod in c.pods_of(ds):
        node = (pod.get("spec") or {}).get("nodeName")
        if node in nodes and node not in pods:
            pods[node] = pod
        else:
            c.delete_pod(pod)
    rolling = (spec.get("updateStrategy") or {}).get("type") != "OnDelete"
    for node in nodes:
        if node in pods and rolling and not current(pods[node]) and \
                all(is_ready(p) for p in pods.values()):
            c.delete_pod(pods.pop(node))
        if node not in pods:
            pods[node] = c.create_pod(_daemon_pod(ds, node, update))
    ready = sum(1 for p in pods.values() if is_ready(p))
    ds["status"] = without_zeros({
        "observedGeneration": ds["metadata"].get("generation", 1),
        "desiredNumberScheduled": len(nodes), "currentNumberScheduled": len(pods),
        "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
        "numberUnavailable": len(nodes) - ready,
        "updatedNumberScheduled": sum(1 for p in pods.values() if current(p))},
        keep=("desiredNumberScheduled", "currentNumberScheduled", "numberMisscheduled",
              "numberReady"))
    c.save("daemonsets", ds)


def _daemon_pod(ds: Obj, node: str, update: str) -> Obj:
    template = (ds.get("spec") or {}).get("template") or {}
    pod = pod_from_template(template, ds["metadata"]["namespace"], ds,
                            labels={REVISION_LABEL: update})
    pod["spec"]["nodeName"] = node
    pod["spec"]["tolerations"] = [*(pod["spec"].get("tolerations") or []),
                                  *DAEMON_TOLERATIONS]
    return pod


def sync_job(c: Controllers, job: Obj) -> None:
    """Pods until ``completions`` succeed or more than ``backoffLimit`` fail; each pod runs
    to completion at once (or fails at once, per ``fail_new_pods``)."""
    spec, status = job.get("spec") or {}, dict(job.get("status") or {})
    if _finished(job) or spec.get("suspend"):
        return
    completions = int(spec.get("completions") or 1)
    parallelism = int(spec.get("parallelism", 1))
    backoff = int(spec.get("backoffLimit", 6))
    pods = c.pods_of(job, active=False)
    succeeded = max(int(status.get("succeeded", 0)), _phase_count(pods, "Succeeded"))
    failed = max(int(status.get("failed", 0)), _phase_count(pods, "Failed"))
    for _ in range(MAX_JOB_PODS):
        active = sum(1 for p in pods if is_active(p))
        if succeeded >= completions or failed > backoff or \
                active >= min(parallelism, completions - succeeded):
            break
        pod = c.create_pod(_job_pod(job))
        pods.append(pod)
        phase = (pod.get("status") or {}).get("phase")
        succeeded += phase == "Succeeded"
        failed += phase == "Failed"
    stamp = now()
    active_pods = [p for p in pods if is_active(p)]
    status.update({"startTime": status.get("startTime") or stamp, "active": len(active_pods),
                   "ready": sum(1 for p in active_pods if is_ready(p)),
                   "succeeded": succeeded, "failed": failed, "uncountedTerminatedPods": {}})
    if succeeded >= completions:
        status["conditions"] = [*status.get("conditions", []), *_job_end(
            stamp, "SuccessCriteriaMet", "Complete", "CompletionsReached",
            "Reached expected number of succeeded pods")]
        status["completionTime"] = stamp
    elif failed > backoff:
        status["conditions"] = [*status.get("conditions", []), *_job_end(
            stamp, "FailureTarget", "Failed", "BackoffLimitExceeded",
            "Job has reached the specified backoff limit")]
    job["status"] = without_zeros(status, keep=("ready", "uncountedTerminatedPods"))
    c.save("jobs", job)


def _job_pod(job: Obj) -> Obj:
    m = job["metadata"]
    ids = {"batch.kubernetes.io/controller-uid": m.get("uid", ""),
           "batch.kubernetes.io/job-name": m["name"], "controller-uid": m.get("uid", ""),
           "job-name": m["name"]}
    return pod_from_template((job.get("spec") or {}).get("template") or {}, m["namespace"],
                             job, labels=ids)


def _job_end(stamp: str, target: str, final: str, reason: str, message: str) -> list[Obj]:
    return [{"type": kind, "status": "True", "reason": reason, "message": message,
             "lastProbeTime": stamp, "lastTransitionTime": stamp} for kind in (target, final)]


def _finished(job: Obj) -> bool:
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


def _phase_count(pods: list[Obj], phase: str) -> int:
    return sum(1 for p in pods if (p.get("status") or {}).get("phase") == phase)
