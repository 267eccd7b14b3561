"""A tiny kube-controller-manager, scheduler and kubelet for the fake API server, so a
remediation can be verified end to end: deleted pods come back, rollouts make new
ReplicaSet revisions, scaling adds and removes pods, garbage collection follows owners.

Controllers react only to what writes touched (as watch events would make them), never to
objects loaded from a case file: a case's broken state stays broken until something acts on
it. They run synchronously after each mutating request (``auto_settle``), or when a test
calls :meth:`Controllers.settle` itself. Pods start at once: Ready, unless ``fail_new_pods``
(a bool or a predicate on the new pod) makes them crash-loop (Job pods: fail)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fake_kube import deployments, disruption, workloads
from tests.fake_kube.pods import (
    REVISION_LABEL,
    canonical_template,
    controlled_by,
    controller_of,
    is_active,
    now,
    schedule,
    start,
)
from tests.fake_kube.store import ObjectStore, kind_for

Obj = dict[str, Any]
Key = tuple[str, str, str]  # plural, namespace, name
PODS = kind_for("pods")
WORKLOADS = ("deployments", "replicasets", "statefulsets", "daemonsets", "jobs")
DEPENDENTS = ("replicasets", "pods", "jobs")
MAX_RECONCILES = 500


class Controllers:
    """Reconciles the objects writes touched until nothing changes."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.fail_new_pods: bool | Callable[[Obj], bool] = False
        self.auto_settle = True
        self._queue: list[Key] = []
        self._baseline: dict[Key, Any] = {}
        self._unscheduled: set[Key] = set()
        self._pod_namespaces: set[str] = set()

    def remember_baseline(self) -> None:
        """Note the pod templates as loaded, and the revision labels their pods carry: the
        pods a case lists are of these templates, whatever hashes the case made up."""
        for plural in ("deployments", "statefulsets", "daemonsets"):
            for obj in self.store.list(plural):
                status = obj.get("status") or {}
                labels = {status.get("currentRevision"), status.get("updateRevision"),
                          *(((p["metadata"].get("labels") or {}).get(REVISION_LABEL))
                            for p in self.pods_of(obj, active=False))}
                self._baseline[_key(plural, obj)] = (canonical_template(obj),
                                                     frozenset(labels - {None}))

    def baseline(self, plural: str, obj: Obj) -> tuple[Any, frozenset[str]]:
        """The template a workload had when the case was loaded and its pods' revision
        labels then (``(None, {})`` for workloads created since)."""
        return self._baseline.get(_key(plural, obj), (None, frozenset()))

    # What the write verbs report

    def changed(self, plural: str, obj: Obj) -> None:
        """An object was created or updated."""
        if plural in (*WORKLOADS, "pods", "poddisruptionbudgets"):
            self.touch(plural, obj)
        if plural == "nodes":  # pods nothing could take may fit now
            for key in sorted(self._unscheduled):
                self.enqueue(key)

    def deleted(self, plural: str, obj: Obj, propagation: str) -> None:
        """An object was deleted: collect or orphan its dependents, wake its owner."""
        namespace = obj["metadata"].get("namespace", "")
        for dependent in DEPENDENTS:
            for child in self.store.list(dependent, namespace or None):
                if not _owned_by(child, obj):
                    continue
                if propagation == "Orphan":
                    refs = child["metadata"].get("ownerReferences") or []
                    child["metadata"]["ownerReferences"] = [
                        r for r in refs if r.get("uid") != obj["metadata"].get("uid")]
                    self.save(dependent, child)
                elif self.store.delete(dependent, child["metadata"].get("namespace", ""),
                                       child["metadata"]["name"]) is not None:
                    self.deleted(dependent, child, "Background")
        if plural == "pods":
            self._pod_namespaces.add(namespace)
            self._unscheduled.discard(_key("pods", obj))
            owner = controller_of(obj)
            rk = kind_for(owner.get("kind", "")) if owner else None
            if owner and rk is not None and rk.plural in WORKLOADS:
                self.enqueue((rk.plural, namespace, owner.get("name", "")))

    def touch(self, plural: str, obj: Obj) -> None:
        """Queue an object for reconciliation."""
        self.enqueue(_key(plural, obj))

    def enqueue(self, key: Key) -> None:
        """Queue ``(plural, namespace, name)`` for reconciliation (once)."""
        if key not in self._queue:
            self._queue.append(key)

    def settle(self) -> int:
        """Reconcile everything queued until nothing changes; how many reconciles ran."""
        done = 0
        while self._queue and done < MAX_RECONCILES:
            plural, namespace, name = self._queue.pop(0)
            obj = self.store.get(plural, namespace, name)
            if obj is not None:
                self._reconcile(plural, obj)
            done += 1
        for namespace in sorted(self._pod_namespaces):
            for pdb in self.store.list("poddisruptionbudgets", namespace):
                self._sync_pdb(pdb)
        self._pod_namespaces.clear()
        return done

    def _reconcile(self, plural: str, obj: Obj) -> None:
        handlers: dict[str, Callable[[Obj], Any]] = {
            "deployments": lambda o: deployments.sync_deployment(self, o),
            "replicasets": lambda o: deployments.sync_replicaset(self, o),
            "statefulsets": lambda o: workloads.sync_statefulset(self, o),
            "daemonsets": lambda o: workloads.sync_daemonset(self, o),
            "jobs": lambda o: workloads.sync_job(self, o),
            "pods": self._sync_pod, "poddisruptionbudgets": self._sync_pdb}
        handlers[plural](obj)

    # What the controllers share (workloads.py uses these too)

    def save(self, plural: str, obj: Obj) -> Obj:
        """Write an object back if it changed (a new resourceVersion); the stored object."""
        rk = kind_for(plural)
        assert rk is not None
        current = self.store.get(plural, obj["metadata"].get("namespace", ""),
                                 obj["metadata"]["name"])
        if current is not None and _same(current, obj):
            return current
        return self.store.put(rk, obj, keep_version=False)

    def pods_of(self, owner: Obj, *, active: bool = True) -> list[Obj]:
        """The pods an object controls (only running or pending ones by default)."""
        namespace = owner["metadata"].get("namespace", "")
        return [p for p in self.store.list("pods", namespace)
                if controlled_by(p, owner) and (is_active(p) or not active)]

    def create_pod(self, pod: Obj) -> Obj:
        """Schedule a new pod, let the kubelet start it, store it."""
        self._start(pod)
        self._pod_namespaces.add(pod["metadata"]["namespace"])
        assert PODS is not None
        return self.store.put(PODS, pod, keep_version=False)

    def delete_pod(self, pod: Obj) -> None:
        """Remove a pod (its controller deletes it)."""
        m = pod["metadata"]
        self.store.delete("pods", m.get("namespace", ""), m["name"])
        self._pod_namespaces.add(m.get("namespace", ""))
        self._unscheduled.discard(_key("pods", pod))

    def fails(self, pod: Obj) -> bool:
        """Whether a new pod crash-loops (or, run once, fails), per ``fail_new_pods``."""
        knob = self.fail_new_pods
        return bool(knob(pod)) if callable(knob) else bool(knob)

    def _start(self, pod: Obj) -> None:
        nodes = self.store.list("nodes")
        if not nodes:  # a case without nodes models no scheduling: run the pod anywhere
            start(pod, None, fails=self.fails(pod))
            return
        node_name, reason = schedule(pod, nodes, self.store.list("pods"))
        node = next((n for n in nodes if n["metadata"]["name"] == node_name), None)
        start(pod, node, fails=self.fails(pod), reason=reason)
        key = _key("pods", pod)
        if node is None:
            self._unscheduled.add(key)
        else:
            self._unscheduled.discard(key)

    def _sync_pod(self, pod: Obj) -> None:
        # A pod nobody scheduled yet (created bare, or left Pending): schedule and start it.
        if (pod.get("spec") or {}).get("nodeName") or not is_active(pod) or \
                (pod.get("status") or {}).get("phase") != "Pending":
            return
        self._start(pod)
        self._pod_namespaces.add(pod["metadata"].get("namespace", ""))
        self.save("pods", pod)

    def _sync_pdb(self, pdb: Obj) -> None:
        pods = self.store.list("pods", pdb["metadata"].get("namespace", ""))
        pdb["status"] = disruption.status(pdb, pods, self.store, now())
        self.save("poddisruptionbudgets", pdb)


def _owned_by(child: Obj, owner: Obj) -> bool:
    m = owner["metadata"]
    return any(r.get("uid") == m.get("uid") or (r.get("kind") == owner.get("kind")
                                               and r.get("name") == m["name"])
               for r in (child.get("metadata") or {}).get("ownerReferences") or [])


def _same(a: Obj, b: Obj) -> bool:
    strip = ("resourceVersion",)
    return {**a, "metadata": {k: v for k, v in a["metadata"].items() if k not in strip}} == \
        {**b, "metadata": {k: v for k, v in b["metadata"].items() if k not in strip}}


def _key(plural: str, obj: Obj) -> Key:
    m = obj.get("metadata") or {}
    return plural, m.get("namespace", "") or "", m.get("name", "")
