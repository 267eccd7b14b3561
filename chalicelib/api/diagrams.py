"""Endpoint group ``clusters``: seed 002's diagrams (Kure Monitor 2.3.2+, ``/api/diagram``).

Every route reads the cluster live: the one ``?cluster=`` / ``?cluster_id=`` /
``X-Cluster-Id`` names, else the workspace default. ``clusters:read`` stands for Kure's
``require_read``. Graph responses add ``cluster``, ``namespace`` and ``missing`` (kinds the
cluster would not list, with why) to seed 002's ``nodes``/``edges``/``groups``.
"""

from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.cluster_ref import cluster_for
from chalicelib.api.http import Call, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.errors import BadRequest
from chalicelib.services.diagrams import WORKLOAD_KINDS
from chalicelib.services.rbac_graph import manifest_kind

bp = Blueprint(__name__)
READ = "clusters:read"
BASE = "/api/diagram"
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# RBAC object names are path segments (``system:metrics-server``), not DNS names.
RBAC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=-]*")
MAX_NAME = 253
_WORKLOADS = {kind.lower(): kind for kind in WORKLOAD_KINDS}


def dns_label(value: str, what: str) -> str:
    """A namespace or container name (RFC 1123 label), else a 400 saying so."""
    if not DNS_LABEL.fullmatch(value):
        raise BadRequest(f"'{value[:80]}' is not a valid {what} name: lower-case letters, "
                         "digits and '-', at most 63 characters", code="invalid_name")
    return value


def dns_subdomain(value: str, what: str) -> str:
    """An object name such as a pod's (RFC 1123 subdomain), else a 400 saying so."""
    if len(value) > MAX_NAME or not DNS_SUBDOMAIN.fullmatch(value):
        raise BadRequest(f"'{value[:80]}' is not a valid {what} name: lower-case letters, "
                         "digits, '-' and '.', at most 253 characters", code="invalid_name")
    return value


def rbac_name(value: str, what: str) -> str:
    """A Role or ClusterRole name, else a 400 saying so."""
    if len(value) > MAX_NAME or not RBAC_NAME.fullmatch(value):
        raise BadRequest(f"'{value[:80]}' is not a valid {what} name", code="invalid_name")
    return value


@endpoint(bp, f"{BASE}/namespaces", scope=READ)
def namespaces(call: Call) -> dict[str, Any]:
    """The cluster's namespaces: ``{"namespaces": [...]}``."""
    return get_container().diagrams.namespaces(cluster_for(call))


@endpoint(bp, BASE + "/namespace/{namespace}", scope=READ)
def namespace_graph(call: Call, namespace: str) -> dict[str, Any]:
    """Every workload, pod, service, ingress, claim, ConfigMap and account of a namespace."""
    dns_label(namespace, "namespace")
    return get_container().diagrams.namespace_graph(cluster_for(call), namespace)


@endpoint(bp, BASE + "/workload/{namespace}/{kind}/{name}", scope=READ)
def workload_graph(call: Call, namespace: str, kind: str, name: str) -> dict[str, Any]:
    """One Deployment, StatefulSet, DaemonSet, Job or CronJob and what it touches."""
    canonical = _WORKLOADS.get(kind.lower())
    if canonical is None:
        raise BadRequest(f"kind must be one of {', '.join(WORKLOAD_KINDS)}, not '{kind[:80]}'",
                         code="invalid_kind")
    dns_label(namespace, "namespace")
    dns_subdomain(name, canonical)
    return get_container().diagrams.workload_graph(cluster_for(call), namespace, canonical,
                                                   name)


@endpoint(bp, BASE + "/manifest/{namespace}/{kind}/{name}", scope=READ,
          media=("text/yaml", "application/json"))
def manifest(call: Call, namespace: str, kind: str, name: str) -> Response:
    """The live manifest as YAML (``text/yaml``; JSON ``{"manifest": ...}`` for a caller
    that accepts only JSON). Secrets: 403, never asked for; synthesized nodes: 400.
    Cluster-scoped kinds ignore the namespace segment (send any placeholder, e.g. ``_``)."""
    rk = manifest_kind(kind)
    if rk.namespaced:
        dns_label(namespace, "namespace")
    rbac_name(name, rk.kind)
    cluster = cluster_for(call)
    text = get_container().diagrams.manifest(cluster, namespace, rk, name)
    accept = (call.header("accept") or "").lower()
    if "application/json" in accept and "yaml" not in accept:
        return Response(body={"manifest": text, "kind": rk.kind, "name": name,
                              "namespace": namespace if rk.namespaced else None,
                              "cluster": cluster.name},
                        status_code=200, headers={"Content-Type": "application/json"})
    return Response(body=text, status_code=200,
                    headers={"Content-Type": "text/yaml; charset=utf-8"})


@endpoint(bp, f"{BASE}/roles", scope=READ)
def roles(call: Call) -> dict[str, Any]:
    """Every ClusterRole and Role (``?namespace=`` limits the Roles to one namespace)."""
    namespace = call.query("namespace")
    if namespace:
        dns_label(namespace, "namespace")
    return get_container().diagrams.roles(cluster_for(call), namespace)


@endpoint(bp, BASE + "/role/{namespace}/{name}", scope=READ)
def role_graph(call: Call, namespace: str, name: str) -> dict[str, Any]:
    """A Role, its RoleBindings, the permissions it grants and the subjects it binds."""
    dns_label(namespace, "namespace")
    rbac_name(name, "Role")
    return get_container().diagrams.role_graph(cluster_for(call), namespace, name)


@endpoint(bp, BASE + "/clusterrole/{name}", scope=READ)
def clusterrole_graph(call: Call, name: str) -> dict[str, Any]:
    """A ClusterRole with its ClusterRoleBindings and the RoleBindings that use it."""
    rbac_name(name, "ClusterRole")
    return get_container().diagrams.clusterrole_graph(cluster_for(call), name)
