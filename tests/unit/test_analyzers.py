"""Each analyzer over small synthetic snapshots: what the corpus lacks (nodes, volumes,
ingresses, policies, workloads, CronJobs, control plane), plus healthy rows that must stay
quiet. Each row: objects -> the exact set of (kind, name, reason) and words the messages say."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from chalicelib.domain.kube import Snapshot
from chalicelib.plugins.analyzers import analyze

Obj = dict[str, Any]
NS = "shop"


# --- builders -------------------------------------------------------------------------------
def md(name: str, ns: str | None = NS, labels: Obj | None = None, owner: str | None = None,
       **extra: Any) -> Obj:
    """Metadata; ``owner`` is ``Kind/name``."""
    out: Obj = {"name": name, **extra}
    if ns:
        out["namespace"] = ns
    if labels:
        out["labels"] = labels
    if owner:
        kind, _, owner_name = owner.partition("/")
        out["ownerReferences"] = [{"kind": kind, "name": owner_name, "controller": True}]
    return out


def cs(name: str = "app", *, state: Obj | None = None, last: Obj | None = None,
       ready: bool = False, restarts: int = 0) -> Obj:
    """A container status; ``state``/``last`` such as ``{"waiting": {...}}``."""
    return {"name": name, "image": f"{name}:1", "ready": ready, "restartCount": restarts,
            "state": state or {"running": {}}, "lastState": last or {}}


def pod(name: str, *statuses: Obj, phase: str = "Running", ready: bool = False,
        labels: Obj | None = None, owner: str | None = "ReplicaSet/web-5d4f8c7b9d",
        ns: str = NS, spec: Obj | None = None, **status: Any) -> Obj:
    """A pod whose spec lists the containers of its statuses."""
    statuses = statuses or (cs(ready=ready),)
    containers = [{"name": s["name"], "image": s["image"]} for s in statuses]
    return {"metadata": md(name, ns, labels or {"app": "web"}, owner),
            "spec": {"containers": containers, **(spec or {})},
            "status": {"phase": phase, "containerStatuses": list(statuses),
                       "conditions": [{"type": "Ready", "status": str(ready)}], **status}}


def ev(kind: str, name: str, reason: str, message: str, ns: str | None = NS,
       type_: str = "Warning", count: int = 1) -> Obj:
    """An event about one object."""
    return {"metadata": md(f"{name}.{reason.lower()}", ns or "default"), "type": type_,
            "reason": reason, "message": message, "count": count,
            "involvedObject": {"kind": kind, "name": name, "namespace": ns}}


def cond(kind: str, status: str, reason: str = "", message: str = "") -> Obj:
    """A status condition."""
    return {"type": kind, "status": status, "reason": reason, "message": message}


def node(name: str, *conds: Obj, unschedulable: bool = False) -> Obj:
    """A node, Ready unless the conditions say otherwise."""
    given = {c["type"] for c in conds}
    all_conds = [*conds, *([cond("Ready", "True")] if "Ready" not in given else [])]
    return {"metadata": md(name, None), "spec": {"unschedulable": unschedulable},
            "status": {"conditions": all_conds}}


def deploy(name: str, replicas: int, available: int, *conds: Obj, **status: Any) -> Obj:
    """A Deployment with its replica counts."""
    return {"metadata": md(name), "spec": {"replicas": replicas},
            "status": {"replicas": replicas, "availableReplicas": available,
                       "readyReplicas": available, "updatedReplicas": replicas,
                       "conditions": list(conds), **status}}


def svc(name: str, selector: Obj | None, **spec: Any) -> Obj:
    """A ClusterIP Service."""
    return {"metadata": md(name), "spec": {"selector": selector, "ports": [{"port": 80}],
                                           **spec}}


def policy(name: str, selector: Obj, egress: list[Obj] | None = None,
           types: tuple[str, ...] = ("Egress",)) -> Obj:
    """A NetworkPolicy."""
    return {"metadata": md(name), "spec": {"podSelector": selector,
                                           "policyTypes": list(types), "egress": egress or []}}


def waiting(reason: str, message: str = "") -> Obj:
    """A waiting container state."""
    return {"waiting": {"reason": reason, "message": message}}


def terminated(reason: str, code: int, message: str = "") -> Obj:
    """A terminated container state."""
    return {"terminated": {"reason": reason, "exitCode": code, "message": message}}


def static_pod(component: str, *statuses: Obj, ready: bool = True) -> Obj:
    """A control-plane static pod in kube-system."""
    return pod(f"{component}-cp-1", *statuses, ready=ready, ns="kube-system",
               labels={"component": component, "tier": "control-plane"}, owner="Node/cp-1")


HEALTHY_WEB = pod("web-5d4f8c7b9d-aaaaa", cs(ready=True), ready=True)
DNS_RULE = {"to": [{"namespaceSelector": {}, "podSelector": {
    "matchLabels": {"k8s-app": "kube-dns"}}}], "ports": [{"protocol": "UDP", "port": 53}]}


class Row(NamedTuple):
    """One synthetic snapshot and what the analyzers must say about it."""

    id: str
    objects: dict[str, list[Obj]]
    expected: set[tuple[str, str, str]]
    says: tuple[str, ...] = ()


ROWS = [
    # nodes
    Row("node-not-ready", {"nodes": [node("n1", cond("Ready", "Unknown", "NodeStatusUnknown",
                                                     "Kubelet stopped posting node status."))]},
        {("Node", "n1", "NotReady")}, ("Kubelet stopped posting node status",)),
    Row("node-pressures", {"nodes": [node("n1", cond("MemoryPressure", "True"),
                                          cond("DiskPressure", "True", "KubeletHasDiskPressure"),
                                          cond("PIDPressure", "True"),
                                          cond("NetworkUnavailable", "True"))]},
        {("Node", "n1", "MemoryPressure"), ("Node", "n1", "DiskPressure"),
         ("Node", "n1", "PIDPressure"), ("Node", "n1", "NetworkUnavailable")}),
    Row("node-cordoned", {"nodes": [node("n1", unschedulable=True)]},
        {("Node", "n1", "Cordoned")}),
    Row("kubelet-cert-expired", {
        "nodes": [node("n1", cond("Ready", "False", "KubeletNotReady", "PLEG is not healthy"))],
        "events": [ev("Node", "n1", "FailedToRenewCertificate", "x509: certificate has expired"
                      " or is not yet valid: current time is after 2025-01-01", ns=None)]},
        {("Node", "n1", "NotReady"), ("Node", "n1", "KubeletCertificate")},
        ("certificate has expired",)),
    # storage
    Row("pvc-lost", {"pvcs": [{"metadata": md("data"), "spec": {"volumeName": "pv-1"},
                               "status": {"phase": "Lost"}}]},
        {("PersistentVolumeClaim", "data", "PVCLost")}, ("pv-1",)),
    Row("pv-released-and-failed", {"pvs": [
        {"metadata": md("pv-1", None), "status": {"phase": "Released"},
         "spec": {"persistentVolumeReclaimPolicy": "Retain",
                  "claimRef": {"namespace": NS, "name": "old"}}},
        {"metadata": md("pv-2", None), "spec": {"persistentVolumeReclaimPolicy": "Recycle"},
         "status": {"phase": "Failed", "message": "recycler pod failed"}}]},
        {("PersistentVolume", "pv-1", "PVReleased"), ("PersistentVolume", "pv-2", "PVFailed")},
        ("Retain", "recycler pod failed")),
    Row("pvc-class-absent-from-listed-classes", {
        "storageclasses": [{"metadata": md("gp3", None)}],
        "pvcs": [{"metadata": md("data"), "spec": {"storageClassName": "fast"},
                  "status": {"phase": "Pending"}}]},
        {("PersistentVolumeClaim", "data", "StorageClassNotFound")}, ('"fast"', "gp3")),
    Row("pvc-pending-provisioner-error", {
        "pvcs": [{"metadata": md("data"), "spec": {"storageClassName": "gp3"},
                  "status": {"phase": "Pending"}}],
        "events": [ev("PersistentVolumeClaim", "data", "ProvisioningFailed",
                      "failed to provision volume: quota exceeded")]},
        {("PersistentVolumeClaim", "data", "PVCPending")}, ("quota exceeded",)),
    Row("pvc-waiting-for-first-consumer-is-fine", {
        "storageclasses": [{"metadata": md("local", None),
                            "volumeBindingMode": "WaitForFirstConsumer"}],
        "pvcs": [{"metadata": md("data"), "spec": {"storageClassName": "local"},
                  "status": {"phase": "Pending"}}]}, set()),
    # ingress
    Row("ingress-backend-missing-and-tls", {"services": [svc("web", {"app": "web"})],
        "ingresses": [{"metadata": md("shop"), "spec": {
            "tls": [{"hosts": ["shop.example.com"]}],
            "rules": [{"host": "shop.example.com", "http": {"paths": [
                {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                {"path": "/api", "backend": {"service": {"name": "api",
                                                         "port": {"number": 80}}}}]}}]}}]},
        {("Ingress", "shop", "BackendServiceNotFound"), ("Ingress", "shop",
                                                         "TLSSecretNameMissing")},
        ("api", "shop.example.com")),
    Row("ingress-healthy", {"services": [svc("web", {"app": "web"})], "pods": [HEALTHY_WEB],
        "ingresses": [{"metadata": md("shop"), "spec": {
            "tls": [{"hosts": ["a.example.com"], "secretName": "tls"}],
            "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}}]}, set()),
    # network policies
    Row("policy-selects-nothing", {"pods": [HEALTHY_WEB], "networkpolicies": [
        policy("db-only", {"matchLabels": {"app": "db"}}, types=("Ingress",))]},
        {("NetworkPolicy", "db-only", "SelectsNoPods")}, ("app=db",)),
    Row("policy-egress-only-to-db", {"pods": [HEALTHY_WEB], "networkpolicies": [
        policy("to-db", {"matchLabels": {"app": "web"}}, [
            {"to": [{"podSelector": {"matchLabels": {"app": "db"}}}],
             "ports": [{"protocol": "TCP", "port": 5432}]}])]},
        {("NetworkPolicy", "to-db", "EgressBlocksDNS")}, ("web-5d4f8c7b9d-aaaaa",)),
    Row("policy-deny-all-plus-allow-dns", {"pods": [HEALTHY_WEB], "networkpolicies": [
        policy("deny-all", {}), policy("allow-dns", {}, [DNS_RULE])]}, set()),
    # workloads
    Row("deployment-unavailable-and-stuck", {"deployments": [deploy(
        "web", 3, 0, cond("Progressing", "False", "ProgressDeadlineExceeded",
                          'ReplicaSet "web-5d4f8c7b9d" has timed out progressing.'))]},
        {("Deployment", "web", "UnavailableReplicas"), ("Deployment", "web", "RolloutStuck")},
        ("0/3", "timed out progressing")),
    Row("deployment-generation-lag", {"deployments": [
        {**deploy("web", 2, 2, observedGeneration=3), "metadata": md("web", generation=4)}]},
        {("Deployment", "web", "RolloutStuck")}, ("generation 4",)),
    Row("statefulset-unavailable", {"statefulsets": [
        {"metadata": md("db"), "spec": {"replicas": 3}, "status": {"readyReplicas": 1}}]},
        {("StatefulSet", "db", "UnavailableReplicas")}, ("1/3",)),
    Row("daemonset-unavailable-misscheduled", {"daemonsets": [
        {"metadata": md("agent"), "status": {"desiredNumberScheduled": 5, "numberAvailable": 3,
                                             "numberUnavailable": 2, "numberMisscheduled": 1}}]},
        {("DaemonSet", "agent", "UnavailableReplicas"), ("DaemonSet", "agent", "Misscheduled")},
        ("2 of 5",)),
    Row("deployment-healthy", {"deployments": [deploy("web", 2, 2, cond(
        "Progressing", "True", "NewReplicaSetAvailable"))]}, set()),
    # jobs
    Row("cronjob-suspended", {"cronjobs": [{"metadata": md("nightly"), "spec": {
        "suspend": True, "schedule": "0 2 * * *"}}]},
        {("CronJob", "nightly", "CronJobSuspended")}, ("0 2 * * *",)),
    Row("cronjob-last-run-deadline", {
        "cronjobs": [{"metadata": md("nightly"), "spec": {"schedule": "0 2 * * *"}}],
        "jobs": [{"metadata": md("nightly-1", owner="CronJob/nightly"), "status": {
            "startTime": "2025-01-02T02:00:00Z", "failed": 1,
            "conditions": [cond("Failed", "True", "DeadlineExceeded",
                                "Job was active longer than specified deadline")]}}]},
        {("Job", "nightly-1", "JobFailed"), ("CronJob", "nightly", "LastJobFailed")},
        ("DeadlineExceeded",)),
    Row("job-never-created-pods", {
        "jobs": [{"metadata": md("load"), "spec": {"backoffLimit": 2}, "status": {
            "conditions": [cond("Failed", "True", "BackoffLimitExceeded")]}}],
        "events": [ev("Job", "load", "FailedCreate", 'serviceaccount "loader" not found')]},
        {("Job", "load", "BackoffLimitExceeded")}, ('serviceaccount "loader" not found',)),
    # pods
    Row("evicted", {"pods": [pod("web-5d4f8c7b9d-bbbbb", phase="Failed", reason="Evicted",
                                 message="The node was low on resource: memory.")]},
        {("Pod", "web-5d4f8c7b9d-bbbbb", "Evicted")}, ("low on resource: memory",)),
    Row("create-container-config-error", {"pods": [pod("web-5d4f8c7b9d-ccccc", cs(
        state=waiting("CreateContainerConfigError",
                      'couldn\'t find key DB_URL in ConfigMap shop/web-config')))]},
        {("Pod", "web-5d4f8c7b9d-ccccc", "CreateContainerConfigError")}, ("DB_URL",)),
    Row("liveness-restarts-count-once", {
        "pods": [pod("web-5d4f8c7b9d-ddddd", cs(state=waiting("CrashLoopBackOff"),
                                                last=terminated("Error", 137), restarts=5))],
        "events": [ev("Pod", "web-5d4f8c7b9d-ddddd", "Unhealthy",
                      "Liveness probe failed: HTTP probe failed with statuscode: 500", count=9)]},
        {("Pod", "web-5d4f8c7b9d-ddddd", "LivenessProbeFailed")}, ("statuscode: 500",
                                                                  "CrashLoopBackOff")),
    Row("oom-terminated-now", {"pods": [pod("web-5d4f8c7b9d-eeeee", cs(
        state=terminated("OOMKilled", 137)), spec={"containers": [
            {"name": "app", "resources": {"limits": {"memory": "64Mi"}}}]})]},
        {("Pod", "web-5d4f8c7b9d-eeeee", "OOMKilled")}, ("64Mi",)),
    Row("failed-mount", {
        "pods": [pod("web-5d4f8c7b9d-fffff", cs(state=waiting("ContainerCreating")),
                     phase="Pending")],
        "events": [ev("Pod", "web-5d4f8c7b9d-fffff", "FailedMount",
                      'MountVolume.SetUp failed for volume "cfg" : configmap "web" not found')]},
        {("Pod", "web-5d4f8c7b9d-fffff", "FailedMount")}, ('configmap "web" not found',)),
    Row("init-image-pull", {"pods": [pod(
        "web-5d4f8c7b9d-ggggg", cs(state=waiting("PodInitializing")), phase="Pending",
        initContainerStatuses=[cs("migrate", state=waiting("ImagePullBackOff"))])]},
        {("Pod", "web-5d4f8c7b9d-ggggg", "ImagePullBackOff")}, ("migrate:1",)),
    Row("crash-loop-hides-its-readiness-failures", {
        "pods": [pod("web-5d4f8c7b9d-iiiii", cs(state=waiting("CrashLoopBackOff"),
                                                last=terminated("Error", 2), restarts=3))],
        "events": [ev("Pod", "web-5d4f8c7b9d-iiiii", "Unhealthy",
                      "Readiness probe failed: connection refused")]},
        {("Pod", "web-5d4f8c7b9d-iiiii", "CrashLoopBackOff")}, ("exitCode=2",)),
    Row("unschedulable-from-condition-only", {"pods": [pod(
        "web-5d4f8c7b9d-jjjjj", phase="Pending", conditions=[cond(
            "PodScheduled", "False", "Unschedulable",
            "0/3 nodes are available: 3 node(s) had untolerated taint {gpu: true}.")])]},
        {("Pod", "web-5d4f8c7b9d-jjjjj", "Unschedulable")}, ("untolerated taint",)),
    Row("oom-in-a-failed-job-is-still-reported", {
        "jobs": [{"metadata": md("etl"), "spec": {"backoffLimit": 0}, "status": {
            "failed": 1, "conditions": [cond("Failed", "True", "BackoffLimitExceeded")]}}],
        "pods": [pod("etl-x1", cs(state=terminated("OOMKilled", 137)), phase="Failed",
                     owner="Job/etl")]},
        {("Job", "etl", "BackoffLimitExceeded"), ("Pod", "etl-x1", "OOMKilled")},
        ("reason=OOMKilled",)),
    Row("etcd-named-deployment-is-an-ordinary-pod", {"pods": [pod(
        "etcd-backup-7c9f6b5d4-kkkkk", cs(state=waiting("CrashLoopBackOff"),
                                          last=terminated("Error", 1), restarts=2),
        ns="kube-system", owner="ReplicaSet/etcd-backup-7c9f6b5d4")]},
        {("Pod", "etcd-backup-7c9f6b5d4-kkkkk", "CrashLoopBackOff")}),
    Row("policy-egress-to-any-ip-allows-dns", {"pods": [HEALTHY_WEB], "networkpolicies": [
        policy("egress-out", {}, [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}])]}, set()),
    Row("completed-pod-is-fine", {"pods": [pod("batch-x", cs(state=terminated("Completed", 0)),
                                               phase="Succeeded", owner="Job/batch")]}, set()),
    # services
    Row("service-pods-not-ready", {
        "pods": [pod("web-5d4f8c7b9d-hhhhh")], "services": [svc("web", {"app": "web"})],
        "endpoints": [{"metadata": md("web"), "subsets": [
            {"notReadyAddresses": [{"ip": "10.0.0.7"}]}]}]},
        {("Service", "web", "NoEndpoints")}, ("none is ready",)),
    Row("service-skips-externalname-and-selectorless", {"pods": [HEALTHY_WEB], "services": [
        svc("ext", None, type="ExternalName", externalName="db.example.com"),
        svc("manual", None)]}, set()),
    Row("service-healthy", {
        "pods": [HEALTHY_WEB], "services": [svc("web", {"app": "web"})],
        "endpoints": [{"metadata": md("web"), "subsets": [{"addresses": [{"ip": "10.0.0.8"}]}]}]},
        set()),
    # control plane
    Row("etcd-crash-looping", {"pods": [static_pod("etcd", cs(
        "etcd", state=waiting("CrashLoopBackOff"),
        last=terminated("Error", 1, "member has already been bootstrapped"), restarts=12),
        ready=False)]},
        {("Pod", "etcd-cp-1", "EtcdUnhealthy")}, ("already been bootstrapped",)),
    Row("apiserver-not-ready", {"pods": [static_pod("kube-apiserver", cs("kube-apiserver"),
                                                    ready=False)]},
        {("Pod", "kube-apiserver-cp-1", "ControlPlaneComponentFailing")}, ("not Ready",)),
    Row("etcd-timeouts-in-events", {
        "pods": [static_pod("etcd", cs("etcd", ready=True))],
        "events": [ev("ReplicaSet", "web-5d4f8c7b9d", "FailedCreate",
                      "Error creating: etcdserver: request timed out")]},
        {("Pod", "etcd-cp-1", "EtcdUnhealthy")}, ("etcdserver: request timed out",)),
    Row("control-plane-healthy", {"pods": [static_pod("kube-scheduler",
                                                      cs("kube-scheduler", ready=True))],
                                  "nodes": [node("cp-1")]}, set()),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_analyzers(row: Row) -> None:
    findings = analyze(Snapshot.from_case("c1", "2025-01-01T00:00:00Z", row.objects))
    assert {(f.kind, f.name, f.reason) for f in findings} == row.expected
    text = " ".join(f.message for f in findings)
    for fragment in row.says:
        assert fragment in text, (fragment, text)
    for finding in findings:
        assert finding.evidence and finding.message.endswith(".")


def test_pod_findings_carry_their_workload() -> None:
    objects = {"pods": [pod("web-5d4f8c7b9d-ccccc", cs(state=waiting("ErrImagePull")))]}
    (finding,) = analyze(Snapshot.from_case("c1", "t", objects))
    assert finding.parent == {"kind": "Deployment", "name": "web", "namespace": NS}


def test_only_runs_the_named_analyzers() -> None:
    objects = {"nodes": [node("n1", unschedulable=True)],
               "cronjobs": [{"metadata": md("x"), "spec": {"suspend": True}}]}
    findings = analyze(Snapshot.from_case("c1", "t", objects), only=("node",))
    assert [f.reason for f in findings] == ["Cordoned"]
