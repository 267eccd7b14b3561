"""The ReplicaSet and Deployment controllers of the fake cluster (see controllers.py):
pods per ReplicaSet, and rolling updates that make a new ReplicaSet revision per pod
template (or bring an old one back, as a rollback does), honouring maxSurge and
maxUnavailable, so a rollout whose new pods never get Ready stalls as a real one does."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.fake_kube.pods import (
    TEMPLATE_HASH,
    canonical_template,
    controlled_by,
    controller_of,
    is_ready,
    new_uid,
    now,
    owner_reference,
    pod_from_template,
    short_hash,
    without_zeros,
)
from tests.fake_kube.store import ObjectStore

if TYPE_CHECKING:
    from tests.fake_kube.controllers import Controllers

Obj = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
MAX_STEPS = 50


def sync_replicaset(c: Controllers, rs: Obj, *, notify: bool = True) -> Obj:
    """As many pods as the replicas say (the unready and newest go first), and the status."""
    namespace = rs["metadata"]["namespace"]
    pods = c.pods_of(rs)
    wanted = int((rs.get("spec") or {}).get("replicas", 1))
    template = (rs.get("spec") or {}).get("template") or {}
    for _ in range(wanted - len(pods)):
        pods.append(c.create_pod(pod_from_template(template, namespace, rs)))
    # Scale down the least useful pods first: unready, then the newest.
    pods.sort(key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True)
    pods.sort(key=is_ready)
    for pod in pods[:max(0, len(pods) - wanted)]:
        c.delete_pod(pod)
    kept = pods[max(0, len(pods) - wanted):]
    ready = sum(1 for p in kept if is_ready(p))
    rs["status"] = without_zeros({
        "replicas": len(kept), "fullyLabeledReplicas": len(kept), "readyReplicas": ready,
        "availableReplicas": ready,
        "observedGeneration": rs["metadata"].get("generation", 1)}, keep=("replicas",))
    stored = c.save("replicasets", rs)
    owner = controller_of(rs)
    if notify and owner and owner.get("kind") == "Deployment":
        c.enqueue(("deployments", namespace, owner.get("name", "")))
    return stored


def sync_deployment(c: Controllers, dep: Obj) -> None:
    """Roll the deployment's pods onto its template's ReplicaSet, and the status."""
    namespace, spec = dep["metadata"]["namespace"], dep.get("spec") or {}
    owned = [rs for rs in c.store.list("replicasets", namespace) if controlled_by(rs, dep)]
    desired = int(spec.get("replicas", 1))
    new = _current_replicaset(c, dep, owned)
    olds = [rs for rs in owned if rs["metadata"]["name"] != new["metadata"]["name"]]
    surge, unavailable = _rolling_numbers(spec, desired)
    if not spec.get("paused"):
        for _ in range(MAX_STEPS):
            if not _rollout_step(c, new, olds, desired, surge, unavailable):
                break
    annotations = new["metadata"].setdefault("annotations", {})
    annotations.update({"deployment.kubernetes.io/desired-replicas": str(desired),
                        "deployment.kubernetes.io/max-replicas": str(desired + surge)})
    new = c.save("replicasets", new)
    dep["metadata"].setdefault("annotations", {})[REVISION] = \
        new["metadata"]["annotations"][REVISION]
    dep["status"] = _deployment_status(dep, new, olds, desired, unavailable)
    c.save("deployments", dep)


def _current_replicaset(c: Controllers, dep: Obj, owned: list[Obj]) -> Obj:
    """The ReplicaSet of the deployment's template (made if none has it), its revision
    the newest (a rollback makes an old revision the newest again)."""
    template = canonical_template(dep)
    same = [rs for rs in owned if canonical_template(rs) == template]
    if not same and owned and template == c.baseline("deployments", dep)[0]:
        same = owned  # the case's own ReplicaSets, whatever small drift they carry
    newest = max((revision(rs) for rs in owned), default=0)
    if same:
        current = max(same, key=revision)
        if revision(current) < newest:
            current["metadata"]["annotations"][REVISION] = str(newest + 1)
            current = c.save("replicasets", current)
        return current
    return c.save("replicasets", _new_replicaset(dep, newest + 1, c.store))


def _rollout_step(c: Controllers, new: Obj, olds: list[Obj], desired: int, surge: int,
                  unavailable: int) -> bool:
    """One step of a rolling update (or of a Recreate when ``surge`` is -1)."""
    replicas = {id(rs): int(rs["spec"].get("replicas", 0)) for rs in [new, *olds]}
    ready = {id(rs): sum(1 for p in c.pods_of(rs) if is_ready(p)) for rs in [new, *olds]}
    target = dict(replicas)
    old_total = sum(replicas[id(rs)] for rs in olds)
    if surge < 0:  # Recreate: old pods go first, then the new ones come
        for rs in olds:
            target[id(rs)] = 0
        target[id(new)] = desired if old_total == 0 else 0
    else:
        room = desired + surge - sum(replicas.values())
        target[id(new)] = min(desired, replicas[id(new)] + max(0, room)) \
            if replicas[id(new)] < desired else desired
        _scale_down_olds(olds, target, ready, desired - unavailable,
                         target[id(new)] - ready[id(new)])
    changed = False
    for rs in [new, *olds]:
        if target[id(rs)] != replicas[id(rs)]:
            rs["spec"]["replicas"] = target[id(rs)]
            rs.update(sync_replicaset(c, rs, notify=False))
            changed = True
    return changed


def _scale_down_olds(olds: list[Obj], target: dict[int, int], ready: dict[int, int],
                     min_available: int, new_unavailable: int) -> None:
    # As the deployment controller does: unhealthy old pods go first, then available
    # ones, never below min_available and never while new pods are not available yet.
    room = sum(target.values()) - min_available - new_unavailable
    for rs in sorted(olds, key=revision):
        take = max(0, min(room, target[id(rs)] - ready[id(rs)]))
        target[id(rs)] -= take
        room -= take
    available = sum(ready.values())
    room = min(room, available - min_available)
    for rs in sorted(olds, key=revision):
        take = max(0, min(room, target[id(rs)]))
        target[id(rs)] -= take
        room -= take


def _new_replicaset(dep: Obj, number: int, store: ObjectStore) -> Obj:
    template = copy.deepcopy(dep["spec"].get("template") or {})
    name, namespace = dep["metadata"]["name"], dep["metadata"]["namespace"]
    salt = 0
    digest = short_hash(canonical_template(dep))
    while store.get("replicasets", namespace, f"{name}-{digest}") is not None:
        salt += 1
        digest = short_hash([canonical_template(dep), salt])
    labels = {**(template.setdefault("metadata", {}).get("labels") or {}), TEMPLATE_HASH: digest}
    template["metadata"]["labels"] = labels
    selector = copy.deepcopy(dep["spec"].get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), TEMPLATE_HASH: digest}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
        "name": f"{name}-{digest}", "namespace": namespace, "uid": new_uid(),
        "creationTimestamp": now(), "generation": 1, "labels": dict(labels),
        "annotations": {REVISION: str(number)}, "ownerReferences": [owner_reference(dep)]},
        "spec": {"replicas": 0, "selector": selector, "template": template},
        "status": {"replicas": 0}}


def _deployment_status(dep: Obj, new: Obj, olds: list[Obj], desired: int,
                       unavailable: int) -> Obj:
    everything = [new, *olds]
    total = sum(int((rs.get("status") or {}).get("replicas", 0)) for rs in everything)
    available = sum(int((rs.get("status") or {}).get("availableReplicas", 0))
                    for rs in everything)
    updated = int((new.get("status") or {}).get("replicas", 0))
    done = updated == desired == total and available >= desired
    rs_name = new["metadata"]["name"]
    conditions = [
        ("Available", available >= desired - unavailable,
         "MinimumReplicasAvailable" if available >= desired - unavailable
         else "MinimumReplicasUnavailable",
         "Deployment has minimum availability." if available >= desired - unavailable
         else "Deployment does not have minimum availability."),
        ("Progressing", True, "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
         f'ReplicaSet "{rs_name}" has successfully progressed.' if done
         else f'ReplicaSet "{rs_name}" is progressing.')]
    old = {c.get("type"): c for c in (dep.get("status") or {}).get("conditions") or []}
    return without_zeros({
        "observedGeneration": dep["metadata"].get("generation", 1), "replicas": total,
        "updatedReplicas": updated, "readyReplicas": available,
        "availableReplicas": available, "unavailableReplicas": max(0, total - available),
        "conditions": [_condition(old.get(t), t, ok, reason, message)
                       for t, ok, reason, message in conditions]}, keep=())


def _condition(old: Obj | None, kind: str, ok: bool, reason: str, message: str) -> Obj:
    stamp = now()
    status = "True" if ok else "False"
    same = old is not None and old.get("status") == status and old.get("reason") == reason
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastUpdateTime": old.get("lastUpdateTime", stamp) if same and old else stamp,
            "lastTransitionTime": old.get("lastTransitionTime", stamp)
            if old is not None and old.get("status") == status else stamp}


def _rolling_numbers(spec: Obj, desired: int) -> tuple[int, int]:
    """maxSurge (rounded up) and maxUnavailable (rounded down); surge -1 for Recreate."""
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return -1, desired
    rolling = strategy.get("rollingUpdate") or {}
    surge = _scaled(rolling.get("maxSurge", "25%"), desired, math.ceil)
    unavailable = _scaled(rolling.get("maxUnavailable", "25%"), desired, math.floor)
    return surge, (1 if surge == 0 and unavailable == 0 else unavailable)


def _scaled(value: Any, total: int, rounding: Callable[[float], int]) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return int(rounding(total * int(value[:-1]) / 100))
    return int(value)


def revision(rs: Obj) -> int:
    """A ReplicaSet's deployment revision number (0 when unknown)."""
    try:
        return int(((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0
