"""Pods in the fake cluster: built from a controller's template, placed by a tiny scheduler
and started by a tiny kubelet (Ready, crash-looping, run to completion, or left Pending when
no node fits), plus the ownership and naming helpers the controllers share."""

from __future__ import annotations

import copy
import hashlib
import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]
# The characters the API server uses for generated names and pod-template hashes.
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
TERMINAL = ("Succeeded", "Failed")
TEMPLATE_HASH = "pod-template-hash"
REVISION_LABEL = "controller-revision-hash"
CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
              "PodScheduled")


def now() -> str:
    """The current time as the API server writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_suffix(length: int = 5) -> str:
    """What ``generateName`` appends."""
    return "".join(random.choice(ALPHABET) for _ in range(length))


def short_hash(value: Any, length: int = 10) -> str:
    """A stable hash of a JSON value in the API server's alphabet (pod-template-hash)."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()
    return "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:length])


def new_uid() -> str:
    """A fresh object uid."""
    return str(uuid.uuid4())


def owner_reference(owner: Obj) -> Obj:
    """The controller reference a controller puts on what it creates."""
    m = owner["metadata"]
    return {"apiVersion": owner.get("apiVersion"), "kind": owner.get("kind"),
            "name": m["name"], "uid": m.get("uid"), "controller": True,
            "blockOwnerDeletion": True}


def controller_of(obj: Obj) -> Obj | None:
    """The controlling owner reference of an object, if any."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), refs[0] if refs else None)


def controlled_by(obj: Obj, owner: Obj) -> bool:
    """Whether ``owner`` is the controller of ``obj``."""
    ref = controller_of(obj)
    m = owner["metadata"]
    return ref is not None and ref.get("kind") == owner.get("kind") and \
        ref.get("name") == m["name"] and ref.get("uid") in (None, m.get("uid"))


def is_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True."""
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def is_active(pod: Obj) -> bool:
    """Not terminating and not finished: a pod its controller counts."""
    return not (pod.get("metadata") or {}).get("deletionTimestamp") and \
        (pod.get("status") or {}).get("phase") not in TERMINAL


def pod_from_template(template: Obj, namespace: str, owner: Obj, *, name: str | None = None,
                      labels: dict[str, str] | None = None) -> Obj:
    """A pod as a controller creates it: the template, its labels, an owner reference, a
    name (``<owner>-<random>`` unless given) and the defaults admission adds."""
    meta = copy.deepcopy(template.get("metadata") or {})
    spec = copy.deepcopy(template.get("spec") or {})
    generate = f"{owner['metadata']['name']}-"
    meta.update({"name": name or generate + random_suffix(), "namespace": namespace,
                 "uid": new_uid(), "creationTimestamp": now(),
                 "labels": {**(meta.get("labels") or {}), **(labels or {})},
                 "ownerReferences": [owner_reference(owner)]})
    if name is None:
        meta["generateName"] = generate
    for key, value in (("restartPolicy", "Always"), ("terminationGracePeriodSeconds", 30),
                       ("dnsPolicy", "ClusterFirst"), ("schedulerName", "default-scheduler"),
                       ("serviceAccountName", "default")):
        spec.setdefault(key, value)
    for container in spec.get("containers") or []:
        container.setdefault("imagePullPolicy", "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": {"phase": "Pending", "qosClass": qos_class(spec)}}


def qos_class(spec: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits."""
    resources = [c.get("resources") or {} for c in spec.get("containers") or []]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        (r.get("limits") or {}).get(k) and (r.get("requests") or r.get("limits") or {}).get(k)
        == (r.get("limits") or {}).get(k) for r in resources for k in ("cpu", "memory"))
    return "Guaranteed" if guaranteed else "Burstable"


def schedule(pod: Obj, nodes: list[Obj], pods: list[Obj]) -> tuple[str | None, str]:
    """The node the scheduler binds a pod to (the least loaded that fits), or None and
    why nothing fits. A pod that names its node keeps it."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return spec["nodeName"], ""
    fitting = [n for n in nodes if fits(pod, n)]
    if not fitting:
        return None, (f"0/{len(nodes)} nodes are available: {len(nodes)} node(s) were "
                      "unschedulable or had untolerated taints. preemption: 0/"
                      f"{len(nodes)} nodes are available: {len(nodes)} Preemption is not "
                      "helpful for scheduling.")
    load = {n["metadata"]["name"]: 0 for n in fitting}
    for other in pods:
        node = (other.get("spec") or {}).get("nodeName")
        if node in load and is_active(other):
            load[node] += 1
    return min(load, key=lambda n: (load[n], n)), ""


def fits(pod: Obj, node: Obj) -> bool:
    """Whether a pod may run on a node: schedulable (or tolerated), Ready, untainted (or
    tolerated) and matching the pod's nodeSelector."""
    spec, node_spec = pod.get("spec") or {}, node.get("spec") or {}
    tolerations = spec.get("tolerations") or []
    taints = list(node_spec.get("taints") or [])
    if node_spec.get("unschedulable"):
        taints.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})
    if any(c.get("type") == "Ready" and c.get("status") != "True"
           for c in (node.get("status") or {}).get("conditions") or []):
        return False
    labels = (node.get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    return all(t.get("effect") == "PreferNoSchedule" or _tolerated(t, tolerations)
               for t in taints)


def _tolerated(taint: Obj, tolerations: list[Obj]) -> bool:
    for t in tolerations:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t["key"] == taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and t.get("value") == taint.get("value"):
            return True
    return False


def start(pod: Obj, node: Obj | None, *, fails: bool, reason: str = "") -> Obj:
    """The pod as the kubelet reports it once started on ``node``: Running and Ready,
    crash-looping when ``fails``, or finished when its restartPolicy says it runs once.
    Without a node it stays Pending with the scheduler's ``reason``."""
    status = pod.setdefault("status", {})
    stamp = now()
    if node is None and reason:
        status.update({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": reason, "lastProbeTime": None, "lastTransitionTime": stamp}]})
        return pod
    if node is not None:
        pod["spec"]["nodeName"] = node["metadata"]["name"]
        host = _internal_ip(node)
        status.update({"hostIP": host, "hostIPs": [{"ip": host}]})
    ip = f"10.42.{random.randint(0, 254)}.{random.randint(2, 254)}"
    status.update({"podIP": ip, "podIPs": [{"ip": ip}], "startTime": stamp})
    runs_once = (pod.get("spec") or {}).get("restartPolicy") in ("Never", "OnFailure")
    containers = (pod.get("spec") or {}).get("containers") or []
    if runs_once:
        status["phase"] = "Failed" if fails else "Succeeded"
        states = [_terminated(c, 1 if fails else 0, stamp) for c in containers]
    elif fails:
        status["phase"] = "Running"
        states = [_crashing(c, pod, stamp) for c in containers]
    else:
        status["phase"] = "Running"
        states = [_running(c, stamp) for c in containers]
    status["containerStatuses"] = states
    status["conditions"] = _conditions(states, stamp, runs_once)
    return pod


def _internal_ip(node: Obj) -> str:
    addresses = (node.get("status") or {}).get("addresses") or []
    return next((a["address"] for a in addresses if a.get("type") == "InternalIP"), "10.0.0.1")


def _base(container: Obj) -> Obj:
    return {"name": container["name"], "image": container.get("image", ""),
            "imageID": f"{container.get('image', '')}@sha256:{short_hash(container, 32)}",
            "containerID": f"containerd://{uuid.uuid4().hex}{uuid.uuid4().hex}",
            "lastState": {}}


def _running(container: Obj, stamp: str) -> Obj:
    return {**_base(container), "ready": True, "started": True, "restartCount": 0,
            "state": {"running": {"startedAt": stamp}}}


def _crashing(container: Obj, pod: Obj, stamp: str) -> Obj:
    m = pod["metadata"]
    return {**_base(container), "ready": False, "started": False, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message":
                                  f"back-off 40s restarting failed container="
                                  f"{container['name']} pod={m['name']}_{m['namespace']}"
                                  f"({m.get('uid')})"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                         "startedAt": stamp, "finishedAt": stamp}}}


def _terminated(container: Obj, code: int, stamp: str) -> Obj:
    return {**_base(container), "ready": False, "started": False, "restartCount": 0,
            "state": {"terminated": {"exitCode": code,
                                     "reason": "Error" if code else "Completed",
                                     "startedAt": stamp, "finishedAt": stamp}}}


def _conditions(states: list[Obj], stamp: str, runs_once: bool) -> list[Obj]:
    unready = [s["name"] for s in states if not s["ready"]]
    ready = "False" if unready else "True"
    out = []
    for kind in CONDITIONS:
        condition: Obj = {"type": kind, "status": "True", "lastProbeTime": None,
                          "lastTransitionTime": stamp}
        if kind in ("Ready", "ContainersReady"):
            condition["status"] = ready
            if unready:
                condition["reason"] = "PodCompleted" if runs_once else "ContainersNotReady"
                if not runs_once:
                    condition["message"] = (f"containers with unready status: "
                                            f"[{' '.join(unready)}]")
        if kind == "PodReadyToStartContainers" and runs_once:
            condition["status"] = "False"
        out.append(condition)
    return out


def canonical_template(obj: Obj) -> Any:
    """A workload's pod template without the controller-added hash labels and empty
    values, for "is this the same template" (nil and empty are equal in Kubernetes)."""
    template = copy.deepcopy((obj.get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels") or {}
    for label in (TEMPLATE_HASH, REVISION_LABEL):
        labels.pop(label, None)
    return _pruned(template)


def _pruned(value: Any) -> Any:
    if isinstance(value, dict):
        kept = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, {}, [], "")}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def without_zeros(status: Obj, keep: tuple[str, ...]) -> Obj:
    """A status without its zero counts (omitempty in the API types), but for ``keep``."""
    return {k: v for k, v in status.items() if v != 0 or k in keep}
