"""Seed 002's diagrams (Kure Monitor 2.3.2+): namespace and workload graphs, live manifests,
RBAC graphs, and pod logs, all read live from a registered cluster.

The graph builders (here and in :mod:`rbac_graph`) are pure; :class:`DiagramService` lists
the objects through the cluster client and passes them in. Workload edges: ``owns``
(Deployment -> ReplicaSet -> Pod, CronJob -> Job -> Pod, StatefulSet/DaemonSet -> Pod),
``selects`` (Service -> Pod), ``routes`` (Ingress -> Service), ``mounts`` (Pod -> PVC,
ConfigMap, Secret), ``binds`` (PVC -> PV), ``uses`` (Pod -> ServiceAccount). A Secret node
carries only the name a pod spec gives: Secrets are never read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.domain.clusters import Cluster, ClusterRejected
from chalicelib.domain.errors import BadRequest, NotFound
from chalicelib.domain.kube import (
    ALL_KINDS,
    Obj,
    ResourceKind,
    label_selector_matches,
    meta,
    resource_kind,
)
from chalicelib.services.rbac_graph import (
    Graph,
    bindings_of,
    manifest_yaml,
    node_id,
    rbac_graph,
    role_list,
)

if TYPE_CHECKING:
    from chalicelib.domain.cluster_ports import ClusterClient
    from chalicelib.services.clusters import ClusterService

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
# What a namespace diagram lists, in drawing order (plural -> kind).
GRAPH_KINDS = {p: ALL_KINDS[p].kind for p in (
    "deployments", "statefulsets", "daemonsets", "cronjobs", "jobs", "replicasets", "pods",
    "services", "ingresses", "persistentvolumeclaims", "configmaps", "serviceaccounts")}
CHAIN_KINDS = frozenset({*WORKLOAD_KINDS, "ReplicaSet", "Pod"})
APP_LABELS = ("app.kubernetes.io/name", "app")
# Statuses of nodes that stand for a reference, not for an object that was read.
REFERENCE_STATUSES = frozenset({"missing", "unknown", "not_read", "not_listed"})
# The service account token volume every pod gets from admission; drawing its
# kube-root-ca.crt ConfigMap on every pod would hide the mounts someone chose.
TOKEN_VOLUME_PREFIX = "kube-api-access-"  # noqa: S105
# Below the official client's smallest connection pool (5 per CPU), so no connection is
# dropped for lack of room on a one-CPU Lambda.
READ_WORKERS = 4
# kubectl logs picks this container of a multi-container pod when none is named.
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"


def pod_references(spec: Obj, pod_name: str = "") -> list[tuple[str, str]]:
    """What a pod spec mounts or reads, as ``(kind, name)``: PVCs, ConfigMaps and Secrets
    from volumes, projected volumes, envFrom and env valueFrom."""
    found = [*_volume_refs(spec.get("volumes") or [], pod_name), *_env_refs(spec)]
    return list(dict.fromkeys((kind, name) for kind, name in found if name))


def _volume_refs(volumes: list[Obj], pod_name: str) -> Iterator[tuple[str, str | None]]:
    for volume in volumes:
        yield "PersistentVolumeClaim", (volume.get("persistentVolumeClaim") or {}).get(
            "claimName")
        if volume.get("ephemeral") and pod_name:
            # A generic ephemeral volume's claim is named <pod>-<volume>.
            yield "PersistentVolumeClaim", f"{pod_name}-{volume.get('name')}"
        yield "ConfigMap", (volume.get("configMap") or {}).get("name")
        yield "Secret", (volume.get("secret") or {}).get("secretName")
        if str(volume.get("name") or "").startswith(TOKEN_VOLUME_PREFIX):
            continue
        for source in (volume.get("projected") or {}).get("sources") or []:
            yield "ConfigMap", (source.get("configMap") or {}).get("name")
            yield "Secret", (source.get("secret") or {}).get("name")


def _env_refs(spec: Obj) -> Iterator[tuple[str, str | None]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            for source in container.get("envFrom") or []:
                yield "ConfigMap", (source.get("configMapRef") or {}).get("name")
                yield "Secret", (source.get("secretRef") or {}).get("name")
            for env in container.get("env") or []:
                value_from = env.get("valueFrom") or {}
                yield "ConfigMap", (value_from.get("configMapKeyRef") or {}).get("name")
                yield "Secret", (value_from.get("secretKeyRef") or {}).get("name")


def template_spec(kind: str, obj: Obj) -> Obj:
    """The pod spec a workload creates its pods from."""
    spec = obj.get("spec") or {}
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return (spec.get("template") or {}).get("spec") or {}


class _Builder:
    """Builds one namespace's graph: nodes first, then the edges between them."""

    def __init__(self, namespace: str, unread: frozenset[str]) -> None:
        self.graph = Graph()
        self.namespace, self.unread = namespace, unread
        self.objects: dict[str, tuple[str, Obj]] = {}

    def add(self, kind: str, obj: Obj) -> None:
        namespace = self.namespace if kind != "PersistentVolume" else None
        self.objects[self.graph.add_object(kind, obj, namespace)] = (kind, obj)

    def ref(self, kind: str, name: str) -> str:
        """The node of a referenced object, added as a reference if it was not listed."""
        rk = resource_kind(kind)
        namespace = self.namespace if rk is None or rk.namespaced else None
        if node_id(kind, namespace, name) in self.graph.nodes:
            return node_id(kind, namespace, name)
        if kind == "Secret":
            status, note = "not_read", "Secrets are never read; the name is from the pod spec"
        elif rk is None or rk.plural not in {*GRAPH_KINDS, "persistentvolumes"}:
            status, note = "not_listed", "this kind is not drawn; only the reference is known"
        elif rk.plural in self.unread:
            status, note = "unknown", "the cluster did not allow listing this kind"
        else:
            status, note = "missing", "referenced, but not found on the cluster"
        return self.graph.add(kind, name, namespace, status=status, metadata={"note": note})

    def link_all(self) -> None:
        listed = list(self.objects.items())
        for nid, (_, obj) in listed:
            owner = _controller(obj)
            if owner is not None:
                self.graph.link("owns", self.ref(owner["kind"], owner["name"]), nid)
        pods = [(nid, obj) for nid, (kind, obj) in listed if kind == "Pod"]
        for nid, (kind, obj) in listed:
            self._link_one(nid, kind, obj, pods)
        for nid, (kind, obj) in listed:
            if kind in WORKLOAD_KINDS and _controller(obj) is None and not any(
                    self.graph.nodes[d]["kind"] == "Pod"
                    for d in self.graph.descendants(nid, "owns")):
                # No pod runs now (scaled down, between CronJob runs, failing to create):
                # the template still says what its pods would mount.
                self._link_spec(nid, template_spec(kind, obj), "")

    def _link_one(self, nid: str, kind: str, obj: Obj, pods: list[tuple[str, Obj]]) -> None:
        spec = obj.get("spec") or {}
        if kind == "Pod":
            self._link_spec(nid, spec, str(meta(obj).get("name") or ""))
        elif kind == "Service" and spec.get("selector"):
            for pod_id, pod in pods:
                if label_selector_matches(spec["selector"], meta(pod).get("labels")):
                    self.graph.link("selects", nid, pod_id)
        elif kind == "Ingress":
            for service in ingress_services(spec):
                self.graph.link("routes", nid, self.ref("Service", service))
        elif kind == "PersistentVolumeClaim" and spec.get("volumeName"):
            self.graph.link("binds", nid, self.ref("PersistentVolume", spec["volumeName"]))

    def _link_spec(self, nid: str, spec: Obj, pod_name: str) -> None:
        for kind, name in pod_references(spec, pod_name):
            self.graph.link("mounts", nid, self.ref(kind, name))
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        self.graph.link("uses", nid, self.ref("ServiceAccount", account))


def _controller(obj: Obj) -> Obj | None:
    refs = meta(obj).get("ownerReferences") or []
    chosen = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
    return chosen if chosen and chosen.get("kind") and chosen.get("name") else None


def ingress_services(spec: Obj) -> list[str]:
    """The Services an Ingress routes to (networking.k8s.io/v1 and the older v1beta1)."""
    backends = [spec.get("defaultBackend") or spec.get("backend") or {}]
    for rule in spec.get("rules") or []:
        backends += [p.get("backend") or {} for p in (rule.get("http") or {}).get("paths") or []]
    names = [(b.get("service") or {}).get("name") or b.get("serviceName") for b in backends]
    return list(dict.fromkeys(n for n in names if n))


def group_by_app(graph: Graph) -> None:
    """Group nodes by app: the ``app.kubernetes.io/name`` or ``app`` label, else (for
    workloads and pods) the top owner's; other nodes join the one app all their
    neighbours share (an Ingress its Services', a PV its claim's)."""
    owner_of = {e["target"]: e["source"] for e in graph.edges.values() if e["kind"] == "owns"}
    app: dict[str, str] = {}
    for nid, node in graph.nodes.items():
        found = next((node["labels"][k] for k in APP_LABELS if node["labels"].get(k)), None)
        if found:
            app[nid] = found
    for nid, node in graph.nodes.items():
        if nid not in app and node["kind"] in CHAIN_KINDS:
            top = _top_owner(nid, owner_of)
            app[nid] = app.get(top) or graph.nodes[top]["name"]
    around: dict[str, set[str]] = {}
    for edge in graph.edges.values():
        around.setdefault(edge["source"], set()).add(edge["target"])
        around.setdefault(edge["target"], set()).add(edge["source"])
    for _ in range(2):  # Ingress -> Service -> Pod and PV -> PVC -> Pod are two hops
        joined = {}
        for nid in graph.nodes.keys() - app.keys():
            apps = {app[n] for n in around.get(nid, ()) if n in app}
            if len(apps) == 1:
                joined[nid] = apps.pop()
        app.update(joined)
    for nid, label in app.items():
        graph.group(label, nid)


def _top_owner(nid: str, owner_of: dict[str, str]) -> str:
    seen = {nid}
    while nid in owner_of and owner_of[nid] not in seen:  # bad data must not loop
        nid = owner_of[nid]
        seen.add(nid)
    return nid


def namespace_graph(namespace: str, objects: dict[str, list[Obj]],
                    unread: Iterable[str] = ()) -> Graph:
    """The graph of one namespace from its listed objects (plural -> items); ``unread``
    names the plurals the cluster would not list, so references to them show as
    ``unknown`` rather than ``missing``."""
    builder = _Builder(namespace, frozenset(unread))
    for plural, kind in GRAPH_KINDS.items():
        for obj in objects.get(plural, []):
            builder.add(kind, obj)
    claimed = {(c.get("spec") or {}).get("volumeName")
               for c in objects.get("persistentvolumeclaims", [])}
    for volume in objects.get("persistentvolumes", []):
        if meta(volume).get("name") in claimed:
            builder.add("PersistentVolume", volume)
    builder.link_all()
    group_by_app(builder.graph)
    return builder.graph


def workload_graph(namespace: str, kind: str, name: str, objects: dict[str, list[Obj]],
                   unread: Iterable[str] = ()) -> Obj | None:
    """The namespace graph cut to one workload: its ReplicaSets/Jobs/Pods, the Services
    selecting them, the Ingresses routing there, what they mount and use; None if the
    workload is not among the objects."""
    graph = namespace_graph(namespace, objects, unread)
    root = node_id(kind, namespace, name)
    if root not in graph.nodes or graph.nodes[root]["status"] in REFERENCE_STATUSES:
        return None
    chain = {root} | graph.descendants(root, "owns")
    services = graph.sources(["selects"], chain)
    used = graph.targets(["mounts", "uses"], chain)
    keep = chain | services | graph.sources(["routes"], services) | used
    return graph.restricted(keep | graph.targets(["binds"], used)).to_dict()


@dataclass
class DiagramService:
    """Seed 002's live reads of one cluster: diagrams, manifests, RBAC graphs, pod logs."""

    clusters: ClusterService

    def namespaces(self, cluster: Cluster) -> Obj:
        """``GET /api/diagram/namespaces``: the namespace names, sorted."""
        items = self.clusters.client(cluster).list(ALL_KINDS["namespaces"])
        return {"namespaces": sorted(str(meta(n).get("name")) for n in items),
                "cluster": cluster.name}

    def namespace_graph(self, cluster: Cluster, namespace: str) -> Obj:
        """``GET /api/diagram/namespace/{namespace}``."""
        client = self.clusters.client(cluster)
        _require_namespace(client, cluster, namespace)
        objects, missing = _read_namespace(client, namespace)
        graph = namespace_graph(namespace, objects, missing)
        return {**graph.to_dict(), **_context(cluster, namespace, missing)}

    def workload_graph(self, cluster: Cluster, namespace: str, kind: str, name: str) -> Obj:
        """``GET /api/diagram/workload/{namespace}/{kind}/{name}``."""
        client = self.clusters.client(cluster)
        _get(client, kind, namespace, name)
        objects, missing = _read_namespace(client, namespace)
        found = workload_graph(namespace, kind, name, objects, missing)
        if found is None:  # deleted between the get and the lists
            raise NotFound(f"{kind} {namespace}/{name} not found on cluster "
                           f"'{cluster.name}'", code="workload_not_found")
        return {**found, **_context(cluster, namespace, missing)}

    def manifest(self, cluster: Cluster, namespace: str, rk: ResourceKind, name: str) -> str:
        """``GET /api/diagram/manifest/...``: the live object as YAML (never a Secret)."""
        client = self.clusters.client(cluster)
        return manifest_yaml(_get(client, rk.kind, namespace, name), rk)

    def roles(self, cluster: Cluster, namespace: str | None = None) -> Obj:
        """``GET /api/diagram/roles``: ClusterRoles and Roles (of one namespace if given)."""
        client = self.clusters.client(cluster)
        found = role_list(client.list(ALL_KINDS["clusterroles"]),
                          client.list(ALL_KINDS["roles"], namespace))
        return {**found, "cluster": cluster.name}

    def role_graph(self, cluster: Cluster, namespace: str, name: str) -> Obj:
        """``GET /api/diagram/role/{namespace}/{name}``."""
        client = self.clusters.client(cluster)
        role = _get(client, "Role", namespace, name)
        bindings, missing = _list_or_reason(client, "rolebindings", namespace)
        graph = rbac_graph("Role", role, bindings_of("RoleBinding", bindings))
        return {**graph, **_context(cluster, namespace, missing)}

    def clusterrole_graph(self, cluster: Cluster, name: str) -> Obj:
        """``GET /api/diagram/clusterrole/{name}``: with its ClusterRoleBindings and the
        RoleBindings of any namespace that reference it."""
        client = self.clusters.client(cluster)
        role = _get(client, "ClusterRole", None, name)
        cluster_bindings, missing = _list_or_reason(client, "clusterrolebindings", None)
        bindings, missing_too = _list_or_reason(client, "rolebindings", None)
        graph = rbac_graph("ClusterRole", role, bindings_of("ClusterRoleBinding",
                                                            cluster_bindings)
                           + bindings_of("RoleBinding", bindings))
        return {**graph, **_context(cluster, None, {**missing, **missing_too})}

    def pod_log(self, cluster: Cluster, namespace: str, pod_name: str, *,
                container: str | None, tail_lines: int, previous: bool) -> Obj:
        """``GET /api/pods/{namespace}/{pod_name}/logs``: the last lines of a container."""
        client = self.clusters.client(cluster)
        pod = _get(client, "Pod", namespace, pod_name)
        chosen = choose_container(pod, container)
        if previous and chosen and not has_previous_run(pod, chosen):
            raise no_previous_log(namespace, pod_name, chosen)
        try:
            text = client.pod_log(namespace, pod_name, container=chosen,
                                  tail_lines=tail_lines, previous=previous)
        except BadRequest as exc:
            if previous and "previous terminated container" in exc.message:
                raise no_previous_log(namespace, pod_name, chosen) from None
            raise
        return {"pod_name": pod_name, "namespace": namespace, "container": chosen,
                "previous": previous, "tail_lines": tail_lines, "logs": text,
                "cluster": cluster.name, "containers": container_names(pod)}


def _context(cluster: Cluster, namespace: str | None, missing: dict[str, str]) -> Obj:
    return {"cluster": cluster.name, "namespace": namespace, "missing": missing}


def _get(client: ClusterClient, kind: str, namespace: str | None, name: str) -> Obj:
    rk = resource_kind(kind)
    assert rk is not None, kind
    try:
        return client.get(rk, namespace if rk.namespaced else None, name)
    except NotFound:
        where = f"{namespace}/{name}" if rk.namespaced else name
        raise NotFound(f"{rk.kind} {where} not found on the cluster",
                       code=f"{rk.kind.lower()}_not_found") from None


def _require_namespace(client: ClusterClient, cluster: Cluster, namespace: str) -> None:
    try:
        client.get(ALL_KINDS["namespaces"], None, namespace)
    except NotFound:
        raise NotFound(f"namespace '{namespace}' not found on cluster '{cluster.name}'",
                       code="namespace_not_found") from None
    except ClusterRejected as exc:
        if exc.code != "cluster_forbidden":
            raise  # RBAC may allow listing a namespace's objects but not reading it


def _list_or_reason(client: ClusterClient, plural: str,
                    namespace: str | None) -> tuple[list[Obj], dict[str, str]]:
    """The objects, or none and why the cluster would not list them (RBAC, or a
    resource type it does not serve); a cluster that is down still fails the request."""
    try:
        return client.list(ALL_KINDS[plural], namespace), {}
    except ClusterRejected as exc:
        if exc.code != "cluster_forbidden":
            raise
        return [], {plural: exc.message}
    except NotFound as exc:
        return [], {plural: f"the cluster does not serve {plural}: {exc.message}"}


def _read_namespace(client: ClusterClient,
                    namespace: str) -> tuple[dict[str, list[Obj]], dict[str, str]]:
    # The lists are independent round trips: read them side by side.
    with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
        futures = {p: pool.submit(_list_or_reason, client, p, namespace) for p in GRAPH_KINDS}
        results = {p: f.result() for p, f in futures.items()}
    objects = {p: items for p, (items, _) in results.items()}
    missing: dict[str, str] = {}
    for _, reason in results.values():
        missing.update(reason)
    if any((c.get("spec") or {}).get("volumeName")
           for c in objects["persistentvolumeclaims"]):
        objects["persistentvolumes"], reason = _list_or_reason(client, "persistentvolumes", None)
        missing.update(reason)
    return objects, missing


def container_names(pod: Obj) -> list[str]:
    """A pod's containers, then its init and ephemeral containers."""
    spec = pod.get("spec") or {}
    return [str(c.get("name")) for key in ("containers", "initContainers", "ephemeralContainers")
            for c in spec.get(key) or [] if c.get("name")]


def choose_container(pod: Obj, wanted: str | None) -> str | None:
    """The container whose log to read: the one asked for (400 if the pod has no such
    container), else as ``kubectl logs`` chooses: the default-container annotation, else
    the first container; None when the spec names none (the API server decides)."""
    names = container_names(pod)
    if wanted:
        if names and wanted not in names:
            namespace, name = meta(pod).get("namespace"), meta(pod).get("name")
            raise BadRequest(f"pod {namespace}/{name} has no container '{wanted}'; its "
                             f"containers are: {', '.join(names)}", code="unknown_container")
        return wanted
    annotated = (meta(pod).get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    main = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    return annotated if annotated in main else (main[0] if main else None)


def has_previous_run(pod: Obj, container: str) -> bool:
    """Whether a container has a terminated earlier instance whose log can be read
    (True when the pod's status does not say, so that the API server decides)."""
    status = pod.get("status") or {}
    for found in (c for key in ("containerStatuses", "initContainerStatuses",
                                "ephemeralContainerStatuses")
                  for c in status.get(key) or [] if c.get("name") == container):
        return bool((found.get("lastState") or {}).get("terminated")
                    or found.get("restartCount"))
    return True


def no_previous_log(namespace: str, pod: str, container: str | None) -> NotFound:
    """The error for ``previous=true`` on a container that never restarted."""
    return NotFound(f"container '{container}' of pod {namespace}/{pod} has not restarted, so "
                    "there is no previous log; ask with previous=false",
                    code="previous_log_not_found")
