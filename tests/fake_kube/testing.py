"""Helpers for tests that drive the fake cluster through Drover's Kubernetes adapter: the
demo cluster's names, small manifests, and what a user would check on pods and rollouts."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.kubernetes_api import KubernetesClusterClient, KubernetesConnector
from chalicelib.domain.clusters import ClusterTarget
from chalicelib.domain.kube import ALL_KINDS, ResourceKind
from tests.fake_kube.server import FakeKubeServer

Obj = dict[str, Any]
TOKEN = "writer-token"
NS = "demo-shop"
POD = "storefront-6d8f7b9c4d-x7k2p"
OTHER_POD = "storefront-6d8f7b9c4d-m4q9z"
OLD_RS = "storefront-6d8f7b9c4d"
PODS, DEPLOYMENTS, REPLICASETS = ALL_KINDS["pods"], ALL_KINDS["deployments"], \
    ALL_KINDS["replicasets"]
JOBS, NODES, SECRETS = ALL_KINDS["jobs"], ALL_KINDS["nodes"], ALL_KINDS["secrets"]
STATEFULSETS, DAEMONSETS = ALL_KINDS["statefulsets"], ALL_KINDS["daemonsets"]
CONFIGMAPS = ALL_KINDS["configmaps"]
PDBS = ResourceKind("poddisruptionbudgets", "PodDisruptionBudget", "policy", "v1")
RESTARTED = {"spec": {"template": {"metadata": {"annotations": {
    "kubectl.kubernetes.io/restartedAt": "2026-03-10T09:00:00Z"}}}}}


def connect(server: FakeKubeServer, token: str = TOKEN) -> KubernetesClusterClient:
    """Drover's adapter connected to the fake server with a bearer token."""
    return KubernetesConnector().connect(ClusterTarget(server.url, {"token": token}))


def storefront_pods(kube: KubernetesClusterClient) -> list[Obj]:
    """The demo storefront deployment's pods, by name."""
    return sorted(kube.list(PODS, NS, label_selector="app=storefront"),
                  key=lambda p: p["metadata"]["name"])


def ready(pod: Obj) -> bool:
    """The pod's Ready condition is True."""
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod["status"].get("conditions") or [])


def revisions(kube: KubernetesClusterClient) -> dict[str, tuple[str, int]]:
    """Each storefront ReplicaSet's revision annotation and replicas."""
    return {rs["metadata"]["name"]: (rs["metadata"]["annotations"][
        "deployment.kubernetes.io/revision"], rs["spec"]["replicas"])
        for rs in kube.list(REPLICASETS, NS, label_selector="app=storefront")}


def owner_of(pod: Obj) -> str:
    """The name of a pod's controller."""
    return str(pod["metadata"]["ownerReferences"][0]["name"])


def rolled_out(obj: Obj, wanted: int) -> bool:
    """The controller saw the latest spec and every replica is updated and available."""
    status = obj["status"]
    return status.get("observedGeneration") == obj["metadata"]["generation"] and \
        status.get("updatedReplicas") == status.get("availableReplicas") == wanted


def job_body(name: str, *, backoff: int = 6) -> Obj:
    """A small Job as a user would create it."""
    return {"metadata": {"name": name}, "spec": {"backoffLimit": backoff, "template": {
        "spec": {"restartPolicy": "Never", "containers": [
            {"name": "main", "image": "busybox:1.36", "command": ["true"]}]}}}}


def workload_body(name: str, replicas: int | None = None) -> Obj:
    """A StatefulSet (with replicas) or DaemonSet (without) body."""
    spec: Obj = {"selector": {"matchLabels": {"app": name}}, "template": {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": f"ghcr.io/demo/{name}:1"}]}}}
    if replicas is not None:
        spec |= {"replicas": replicas, "serviceName": name}
    return {"metadata": {"name": name}, "spec": spec}

