"""Analyzer speed on a large synthetic cluster: `python -m bench.analysis [--pods N] ...`.

Builds one snapshot (default 10,000 pods on 500 nodes: Deployments owning ReplicaSets owning
the pods, a Service and Endpoints per Deployment, ~3% of pods in the failure states the pod
analyzer knows with ~2 events each, plus a few failing nodes, Jobs, claims, ingresses and
policies), times `analyze(snapshot)` (index building included) and prints one JSON object.
Exit status 1 if the best run is over budget. No server, no AWS.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from typing import Any

from chalicelib.domain.kube import Snapshot
from chalicelib.plugins.analyzers import analyze

Obj = dict[str, Any]
BUDGET_SECONDS = 2.0
REPLICAS = 10
NAMESPACES = 20
CRASH = {"waiting": {"reason": "CrashLoopBackOff"}}


def _meta(name: str, ns: str | None, labels: Obj | None = None,
          owner: tuple[str, str] | None = None) -> Obj:
    out: Obj = {"name": name, "labels": labels or {}}
    if ns:
        out["namespace"] = ns
    if owner:
        out["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return out


def _event(ns: str, name: str, reason: str, message: str, count: int = 5) -> Obj:
    return {"metadata": _meta(f"{name}.{reason.lower()}", ns), "type": "Warning",
            "reason": reason, "message": message, "count": count,
            "lastTimestamp": "2026-01-01T00:00:00Z",
            "involvedObject": {"kind": "Pod", "name": name, "namespace": ns}}


def _backoff(ns: str, name: str) -> Obj:
    return _event(ns, name, "BackOff", f"Back-off restarting failed container app in pod {name}")


def _status(ready: bool, state: Obj | None = None, last: Obj | None = None,
            restarts: int = 0, phase: str = "Running") -> Obj:
    return {"phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}],
            "containerStatuses": [{"name": "app", "image": "app:1", "ready": ready,
                                   "restartCount": restarts,
                                   "state": state or {"running": {}}, "lastState": last or {}}]}


def _restarting(kind: str, pod: Obj, ns: str, name: str) -> list[Obj]:
    reason, code = ("OOMKilled", 137) if kind == "oom" else ("Error", 1)
    pod["status"] = _status(False, CRASH, {"terminated": {"reason": reason, "exitCode": code}},
                            7)
    probe = _event(ns, name, "Unhealthy", "Liveness probe failed: connection refused") \
        if kind == "liveness" else _event(ns, name, "Started", "Started container app")
    return [_backoff(ns, name), probe]


def _image_pull(_: str, pod: Obj, ns: str, name: str) -> list[Obj]:
    pod["status"] = _status(False, {"waiting": {"reason": "ImagePullBackOff"}}, phase="Pending")
    return [_event(ns, name, "Failed", 'Failed to pull image "app:1": not found'),
            _event(ns, name, "BackOff", 'Back-off pulling image "app:1"')]


def _config_error(_: str, pod: Obj, ns: str, name: str) -> list[Obj]:
    pod["status"] = _status(False, {"waiting": {"reason": "CreateContainerConfigError",
                                                "message": 'configmap "cfg" not found'}},
                            phase="Pending")
    return [_event(ns, name, "Failed", 'Error: configmap "cfg" not found'), _backoff(ns, name)]


def _pending(_: str, pod: Obj, ns: str, name: str) -> list[Obj]:
    pod["status"] = {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}
    pod["spec"].pop("nodeName", None)
    msg = "0/500 nodes are available: 500 Insufficient memory."
    return [_event(ns, name, "FailedScheduling", msg),
            _event(ns, name, "FailedScheduling", msg, 2)]


def _readiness(_: str, pod: Obj, ns: str, name: str) -> list[Obj]:
    pod["status"] = _status(False)
    return [_event(ns, name, "Unhealthy", "Readiness probe failed: HTTP 503"),
            _event(ns, name, "Started", "Started container app")]


def _evicted(_: str, pod: Obj, ns: str, name: str) -> list[Obj]:
    pod["status"] = {"phase": "Failed", "reason": "Evicted",
                     "message": "The node was low on resource: memory."}
    return [_event(ns, name, "Evicted", "The node was low on resource: memory."),
            _event(ns, name, "Killing", "Stopping container app")]


def _init(_: str, pod: Obj, ns: str, name: str) -> list[Obj]:
    pod["status"] = _status(False, {"waiting": {"reason": "PodInitializing"}}, phase="Pending")
    pod["status"]["initContainerStatuses"] = [
        {"name": "init", "image": "init:1", "restartCount": 4, "state": CRASH,
         "lastState": {"terminated": {"reason": "Error", "exitCode": 2}}}]
    return [_backoff(ns, name), _event(ns, name, "Pulled", "Container image already present")]


def _mount(_: str, pod: Obj, ns: str, name: str) -> list[Obj]:
    pod["status"] = _status(False, {"waiting": {"reason": "ContainerCreating"}},
                            phase="Pending")
    return [_event(ns, name, "FailedMount", 'MountVolume.SetUp failed for volume "cfg" : '
                                            'configmap "cfg" not found'),
            _event(ns, name, "FailedMount", "Unable to attach or mount volumes")]


FAILURES: dict[str, Callable[[str, Obj, str, str], list[Obj]]] = {
    "crashloop": _restarting, "oom": _restarting, "liveness": _restarting,
    "imagepull": _image_pull, "configerror": _config_error, "pending": _pending,
    "readiness": _readiness, "evicted": _evicted, "init": _init, "mount": _mount,
}


def failing_pod(kind: str, pod: Obj) -> list[Obj]:
    """Turn a healthy pod into one failure state; return its (about two) events."""
    meta = pod["metadata"]
    return FAILURES[kind](kind, pod, meta["namespace"], meta["name"])


def _node(i: int, rng: random.Random) -> Obj:
    conditions = [{"type": t, "status": "False"} for t in ("MemoryPressure", "DiskPressure",
                                                           "PIDPressure")]
    ready = "Unknown" if rng.random() < 0.01 else "True"
    conditions.append({"type": "Ready", "status": ready, "message": "Kubelet stopped "
                       "posting node status." if ready != "True" else "kubelet is ready"})
    return {"metadata": _meta(f"node-{i:04d}", None, {"kubernetes.io/hostname": f"node-{i}"}),
            "spec": {"unschedulable": rng.random() < 0.005}, "status": {"conditions": conditions}}


def _deployment(objects: dict[str, list[Obj]], ns: str, app: str, pods: list[Obj]) -> None:
    ready = sum(p["status"].get("conditions", [{}])[0].get("status") == "True" for p in pods)
    objects["deployments"].append({"metadata": _meta(app, ns, {"app": app}), "spec": {
        "replicas": len(pods), "selector": {"matchLabels": {"app": app}}}, "status": {
        "replicas": len(pods), "readyReplicas": ready, "availableReplicas": ready,
        "updatedReplicas": len(pods)}})
    objects["replicasets"].append({"metadata": _meta(f"{app}-5d4f8c7b9d", ns, {"app": app},
                                                     ("Deployment", app))})
    objects["services"].append({"metadata": _meta(app, ns), "spec": {
        "selector": {"app": app}, "ports": [{"port": 80}]}})
    addresses = [{"ip": p["status"].get("podIP", "10.0.0.1")} for p in pods
                 if p["status"].get("conditions", [{}])[0].get("status") == "True"]
    objects["endpoints"].append({"metadata": _meta(app, ns),
                                 "subsets": [{"addresses": addresses}] if addresses else []})


def build(pods: int, nodes: int, failing: float, seed: int = 7) -> Snapshot:
    """A synthetic cluster snapshot of the given size."""
    rng = random.Random(seed)
    objects: dict[str, list[Obj]] = {k: [] for k in (
        "nodes", "pods", "events", "deployments", "replicasets", "services", "endpoints",
        "jobs", "persistentvolumeclaims", "storageclasses", "ingresses", "networkpolicies")}
    objects["nodes"] = [_node(i, rng) for i in range(nodes)]
    objects["storageclasses"] = [{"metadata": _meta("gp3", None)}]
    for d in range(max(pods // REPLICAS, 1)):
        ns, app = f"team-{d % NAMESPACES:02d}", f"app-{d:04d}"
        group = []
        for r in range(min(REPLICAS, pods - d * REPLICAS)):
            pod = {"metadata": _meta(f"{app}-5d4f8c7b9d-{r:05d}", ns, {"app": app},
                                     ("ReplicaSet", f"{app}-5d4f8c7b9d")),
                   "spec": {"nodeName": f"node-{rng.randrange(nodes):04d}",
                            "containers": [{"name": "app", "image": "app:1"}]},
                   "status": _status(True)}
            pod["status"]["podIP"] = f"10.{d % 250}.{r}.{d % 200}"
            if rng.random() < failing:
                objects["events"].extend(failing_pod(rng.choice(sorted(FAILURES)), pod))
            group.append(pod)
        objects["pods"].extend(group)
        _deployment(objects, ns, app, group)
    _extras(objects, rng)
    return Snapshot(cluster_id="bench", taken_at="2026-01-01T00:00:00Z", objects=objects)


def _extras(objects: dict[str, list[Obj]], rng: random.Random) -> None:
    for i in range(40):
        ns = f"team-{i % NAMESPACES:02d}"
        failed = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}] \
            if i % 10 == 0 else []
        objects["jobs"].append({"metadata": _meta(f"job-{i}", ns), "spec": {"backoffLimit": 3},
                                "status": {"failed": 4 if failed else 0,
                                           "conditions": failed}})
        phase = "Pending" if i % 13 == 0 else "Bound"
        objects["persistentvolumeclaims"].append({"metadata": _meta(f"data-{i}", ns), "spec": {
            "storageClassName": "gp3" if i % 2 else "fast"}, "status": {"phase": phase}})
        # Backends live in the ingress's namespace; one ingress in 20 names a missing one.
        backend = f"app-{rng.randrange(50) * NAMESPACES + i % NAMESPACES:04d}" if i % 20 \
            else "gone"
        objects["ingresses"].append({"metadata": _meta(f"web-{i}", ns), "spec": {"rules": [
            {"host": f"{i}.example.com", "http": {"paths": [{"path": "/", "backend": {
                "service": {"name": backend, "port": {"number": 80}}}}]}}]}})
    for n in range(NAMESPACES):
        ns = f"team-{n:02d}"
        objects["networkpolicies"].extend([
            {"metadata": _meta("default-deny", ns), "spec": {
                "podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
            {"metadata": _meta("allow-dns", ns), "spec": {
                "podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [
                    {"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}}])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.analysis", description=__doc__)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--failing", type=float, default=0.03,
                        help="share of pods put in a failure state")
    parser.add_argument("--runs", type=int, default=3)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Time the analyzers and print one JSON object; exit 1 if over budget."""
    args = parse_args(argv)
    snapshot = build(args.pods, args.nodes, args.failing)
    times, findings = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        findings = analyze(snapshot)
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    analyze(snapshot)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    best = min(times)
    report = {
        "benchmark": "analysis", "pods": len(snapshot.items("pods")),
        "nodes": len(snapshot.items("nodes")),
        "objects": sum(len(v) for v in snapshot.objects.values()),
        "events": len(snapshot.items("events")), "findings": len(findings),
        "by_reason": dict(Counter(f.reason for f in findings).most_common()),
        "seconds_best": round(best, 4), "seconds_median": round(statistics.median(times), 4),
        "peak_mb": round(peak / 2**20, 1), "budget_seconds": BUDGET_SECONDS,
        "within_budget": best < BUDGET_SECONDS,
    }
    print(json.dumps(report))
    return 0 if report["within_budget"] else 1


if __name__ == "__main__":
    sys.exit(main())
