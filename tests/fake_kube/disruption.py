"""PodDisruptionBudgets as the disruption controller and the Eviction API apply them
(policy/v1: minAvailable or maxUnavailable, integers or percentages, over matching pods)."""

from __future__ import annotations

import math
from typing import Any

from chalicelib.domain.kube import label_selector_matches
from tests.fake_kube.pods import controller_of, is_active, is_ready
from tests.fake_kube.status import ApiError
from tests.fake_kube.store import ObjectStore

Obj = dict[str, Any]
BLOCKED = "Cannot evict pod as it would violate the pod's disruption budget."
MANY = "This pod has more than one PodDisruptionBudget, which the eviction subresource " \
       "does not support."


def selects(pdb: Obj, pod: Obj) -> bool:
    """Whether a budget covers a pod (an empty selector covers the whole namespace, a
    missing one nothing, as in policy/v1)."""
    selector = (pdb.get("spec") or {}).get("selector")
    if selector is None:
        return False
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return label_selector_matches(selector, labels, empty_matches_all=True)


def budget(pdb: Obj, pods: list[Obj], store: ObjectStore) -> Obj:
    """The budget's numbers now: expected, currently healthy and desired healthy pods,
    and how many disruptions that allows."""
    covered = [p for p in pods if is_active(p) and selects(pdb, p)]
    healthy = sum(1 for p in covered if is_ready(p))
    spec = pdb.get("spec") or {}
    relative = spec.get("maxUnavailable") is not None or \
        str(spec.get("minAvailable", "")).endswith("%")
    # As the disruption controller: percentages and maxUnavailable count the replicas the
    # pods' controllers want (a pod being replaced still counts), minAvailable the pods.
    expected = _scale(covered, store) if relative else len(covered)
    if spec.get("maxUnavailable") is not None:
        desired = expected - _scaled(spec["maxUnavailable"], expected)
    elif spec.get("minAvailable") is not None:
        desired = _scaled(spec["minAvailable"], expected)
    else:
        desired = expected
    desired = max(0, desired)
    return {"expectedPods": expected, "currentHealthy": healthy, "desiredHealthy": desired,
            "disruptionsAllowed": max(0, healthy - desired)}


def _scale(pods: list[Obj], store: ObjectStore) -> int:
    wanted: dict[tuple[str, str], int] = {}
    bare = 0
    for pod in pods:
        owner = _scalable_owner(pod, store)
        if owner is None:
            bare += 1
        else:
            key = (owner["kind"], owner["metadata"]["name"])
            wanted[key] = int((owner.get("spec") or {}).get("replicas", 1))
    return bare + sum(wanted.values())


def _scalable_owner(pod: Obj, store: ObjectStore) -> Obj | None:
    namespace = pod["metadata"].get("namespace", "")
    ref = controller_of(pod)
    plural = {"ReplicaSet": "replicasets", "StatefulSet": "statefulsets"}.get(
        (ref or {}).get("kind", ""))
    owner = store.get(plural, namespace, ref["name"]) if plural and ref else None
    parent = controller_of(owner) if owner else None
    if parent and parent.get("kind") == "Deployment":
        return store.get("deployments", namespace, parent["name"]) or owner
    return owner


def _scaled(value: Any, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(total * int(value[:-1]) / 100)
    return int(value)


def status(pdb: Obj, pods: list[Obj], store: ObjectStore, stamp: str) -> Obj:
    """The status the disruption controller writes."""
    numbers = budget(pdb, pods, store)
    allowed = numbers["disruptionsAllowed"] > 0
    old = next((c for c in (pdb.get("status") or {}).get("conditions") or []
                if c.get("type") == "DisruptionAllowed"), {})
    condition = {"type": "DisruptionAllowed", "status": "True" if allowed else "False",
                 "reason": "SufficientPods" if allowed else "InsufficientPods",
                 "message": "", "observedGeneration": (pdb["metadata"]).get("generation", 1),
                 "lastTransitionTime": stamp}
    if old.get("status") == condition["status"]:
        condition["lastTransitionTime"] = old.get("lastTransitionTime", stamp)
    return {**numbers, "observedGeneration": pdb["metadata"].get("generation", 1),
            "conditions": [condition]}


def check_eviction(pod: Obj, pdbs: list[Obj], pods: list[Obj], store: ObjectStore) -> None:
    """Raise the API server's answer when the budgets of ``pdbs`` forbid evicting ``pod``
    now (429, or 500 for a pod covered by several budgets)."""
    if not is_active(pod):
        return  # finished or already terminating pods are evicted freely
    covering = [b for b in pdbs if selects(b, pod)]
    if len(covering) > 1:
        raise ApiError(500, MANY)
    if not covering:
        return
    pdb = covering[0]
    numbers = budget(pdb, pods, store)
    policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") or "IfHealthyBudget"
    if not is_ready(pod) and (policy == "AlwaysAllow"
                              or numbers["currentHealthy"] >= numbers["desiredHealthy"]):
        return  # an unready pod may go when the application is not disrupted
    if is_ready(pod) and numbers["disruptionsAllowed"] > 0:
        return
    name = pdb["metadata"]["name"]
    raise ApiError(429, BLOCKED, details={"causes": [{
        "reason": "DisruptionBudget",
        "message": f"The disruption budget {name} needs {numbers['desiredHealthy']} healthy "
                   f"pods and has {numbers['currentHealthy']} currently"}]})
