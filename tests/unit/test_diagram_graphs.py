"""The diagram graphs are built from listed objects alone: edges, references, groups,
workload cuts, RBAC graphs, node statuses and manifest kinds, table by table."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.errors import BadRequest, Forbidden
from chalicelib.services.diagrams import (
    choose_container,
    has_previous_run,
    namespace_graph,
    pod_references,
    workload_graph,
)
from chalicelib.services.rbac_graph import (
    Graph,
    bindings_of,
    describe,
    manifest_kind,
    manifest_yaml,
    permissions,
    pod_status,
    rbac_graph,
    role_list,
)

NS = "shop"


def obj(name: str, *, labels: dict[str, str] | None = None, owner: tuple[str, str] | None = None,
        namespace: str | None = NS, **body: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": labels or {}}
    if namespace:
        metadata["namespace"] = namespace
    if owner:
        metadata["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return {"metadata": metadata, **body}


def pod(name: str, owner: tuple[str, str] | None = None, labels: dict[str, str] | None = None,
        **spec: Any) -> dict[str, Any]:
    return obj(name, owner=owner, labels=labels,
               spec={"containers": [{"name": "app"}], **spec}, status={"phase": "Running"})


def edges(graph: Graph) -> set[tuple[str, str, str]]:
    return {(e["kind"], e["source"], e["target"]) for e in graph.edges.values()}


def groups(graph: Graph) -> dict[str, set[str]]:
    return {g["label"]: set(g["members"]) for g in graph.to_dict()["groups"]}


EDGE_CASES = [
    ("a Deployment owns its ReplicaSet, which owns its Pod",
     {"deployments": [obj("web")], "replicasets": [obj("web-1", owner=("Deployment", "web"))],
      "pods": [pod("web-1-a", ("ReplicaSet", "web-1"))]},
     {("owns", "Deployment/shop/web", "ReplicaSet/shop/web-1"),
      ("owns", "ReplicaSet/shop/web-1", "Pod/shop/web-1-a")}),
    ("a CronJob owns its Job, which owns its Pod",
     {"cronjobs": [obj("nightly")], "jobs": [obj("nightly-1", owner=("CronJob", "nightly"))],
      "pods": [pod("nightly-1-x", ("Job", "nightly-1"))]},
     {("owns", "CronJob/shop/nightly", "Job/shop/nightly-1"),
      ("owns", "Job/shop/nightly-1", "Pod/shop/nightly-1-x")}),
    ("StatefulSets and DaemonSets own their Pods directly",
     {"statefulsets": [obj("db")], "daemonsets": [obj("agent")],
      "pods": [pod("db-0", ("StatefulSet", "db")), pod("agent-x", ("DaemonSet", "agent"))]},
     {("owns", "StatefulSet/shop/db", "Pod/shop/db-0"),
      ("owns", "DaemonSet/shop/agent", "Pod/shop/agent-x")}),
    ("a Service selects the Pods its selector matches",
     {"services": [obj("web", spec={"selector": {"app": "web"}})],
      "pods": [pod("web-a", labels={"app": "web"}), pod("db-a", labels={"app": "db"})]},
     {("selects", "Service/shop/web", "Pod/shop/web-a")}),
    ("an Ingress routes to the Services of its rules and default backend",
     {"services": [obj("web"), obj("api")],
      "ingresses": [obj("front", spec={
          "defaultBackend": {"service": {"name": "web"}},
          "rules": [{"http": {"paths": [{"backend": {"service": {"name": "api"}}}]}}]})]},
     {("routes", "Ingress/shop/front", "Service/shop/web"),
      ("routes", "Ingress/shop/front", "Service/shop/api")}),
    ("a bound claim binds its PersistentVolume",
     {"persistentvolumeclaims": [obj("data", spec={"volumeName": "pv-1"})],
      "persistentvolumes": [obj("pv-1", namespace=None)]},
     {("binds", "PersistentVolumeClaim/shop/data", "PersistentVolume/pv-1")}),
    ("a Pod mounts claims, ConfigMaps and Secrets and uses its ServiceAccount",
     {"pods": [pod("web-a", serviceAccountName="web", volumes=[
         {"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
         {"name": "c", "configMap": {"name": "settings"}},
         {"name": "s", "secret": {"secretName": "tls"}}])]},
     {("mounts", "Pod/shop/web-a", "PersistentVolumeClaim/shop/data"),
      ("mounts", "Pod/shop/web-a", "ConfigMap/shop/settings"),
      ("mounts", "Pod/shop/web-a", "Secret/shop/tls"),
      ("uses", "Pod/shop/web-a", "ServiceAccount/shop/web")}),
]


@pytest.mark.parametrize(("case", "objects", "expected"), EDGE_CASES,
                         ids=[c[0] for c in EDGE_CASES])
def test_namespace_graph_draws_the_edges_between_listed_objects(case, objects, expected):
    graph = namespace_graph(NS, objects)
    assert expected <= edges(graph), case
    for _, source, target in expected:
        assert {source, target} <= graph.nodes.keys()


REFERENCE_CASES = [
    ("ConfigMap", "settings", (), "missing"),
    ("ConfigMap", "settings", ("configmaps",), "unknown"),
    ("Secret", "tls", (), "not_read"),
    ("PersistentVolumeClaim", "data", (), "missing"),
]


@pytest.mark.parametrize(("kind", "name", "unread", "status"), REFERENCE_CASES)
def test_a_referenced_object_that_was_not_listed_says_why(kind, name, unread, status):
    spec = {"volumes": [{"name": "v", "configMap": {"name": "settings"}},
                        {"name": "s", "secret": {"secretName": "tls"}},
                        {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}
    graph = namespace_graph(NS, {"pods": [pod("web-a", **spec)]}, unread)
    node = graph.nodes[f"{kind}/shop/{name}"]
    assert node["status"] == status
    assert node["metadata"]["note"]


def test_an_owner_of_a_kind_the_diagram_does_not_list_is_a_reference_only():
    graph = namespace_graph(NS, {"pods": [pod("web-a", ("Rollout", "web"))]})
    assert graph.nodes["Rollout/shop/web"]["status"] == "not_listed"
    assert ("owns", "Rollout/shop/web", "Pod/shop/web-a") in edges(graph)


REFERENCE_SPECS = [
    ("envFrom", {"containers": [{"name": "a", "envFrom": [
        {"configMapRef": {"name": "cm"}}, {"secretRef": {"name": "sec"}}]}]},
     [("ConfigMap", "cm"), ("Secret", "sec")]),
    ("env valueFrom", {"initContainers": [{"name": "i", "env": [
        {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "k"}}},
        {"name": "C", "value": "plain"}]}]},
     [("ConfigMap", "cm"), ("Secret", "sec")]),
    ("projected volume", {"volumes": [{"name": "p", "projected": {"sources": [
        {"configMap": {"name": "cm"}}, {"secret": {"name": "sec"}}]}}]},
     [("ConfigMap", "cm"), ("Secret", "sec")]),
    ("the injected token volume is not drawn", {"volumes": [
        {"name": "kube-api-access-x2k9", "projected": {"sources": [
            {"serviceAccountToken": {"path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt"}}]}}]}, []),
    ("a generic ephemeral volume's claim", {"volumes": [
        {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {}}}]},
     [("PersistentVolumeClaim", "web-a-scratch")]),
    ("each reference once", {"volumes": [{"name": "a", "configMap": {"name": "cm"}}],
                             "containers": [{"name": "a", "envFrom": [
                                 {"configMapRef": {"name": "cm"}}]}]},
     [("ConfigMap", "cm")]),
]


@pytest.mark.parametrize(("case", "spec", "expected"), REFERENCE_SPECS,
                         ids=[c[0] for c in REFERENCE_SPECS])
def test_pod_references_finds_every_way_a_pod_spec_names_an_object(case, spec, expected):
    assert pod_references(spec, "web-a") == expected, case


def test_groups_follow_the_app_label_then_the_top_owner_then_the_neighbours():
    objects = {
        "deployments": [obj("web", labels={"app.kubernetes.io/name": "storefront"}),
                        obj("worker")],
        "replicasets": [obj("worker-1", owner=("Deployment", "worker"))],
        "pods": [pod("web-a", labels={"app": "storefront"}),
                 pod("worker-1-a", ("ReplicaSet", "worker-1"))],
        "services": [obj("web-svc", spec={"selector": {"app": "storefront"}})],
        "ingresses": [obj("front", spec={"defaultBackend": {"service": {"name": "web-svc"}}})],
    }
    found = groups(namespace_graph(NS, objects))
    assert found["storefront"] >= {"Deployment/shop/web", "Pod/shop/web-a",
                                   "Service/shop/web-svc", "Ingress/shop/front"}
    assert found["worker"] == {"Deployment/shop/worker", "ReplicaSet/shop/worker-1",
                               "Pod/shop/worker-1-a"}
    # The default ServiceAccount is used by both apps, so it belongs to neither.
    assert not any("ServiceAccount/shop/default" in m for m in found.values())


def _shop() -> dict[str, list[dict[str, Any]]]:
    return {
        "deployments": [obj("web"), obj("other")],
        "replicasets": [obj("web-1", owner=("Deployment", "web")),
                        obj("other-1", owner=("Deployment", "other"))],
        "pods": [pod("web-1-a", ("ReplicaSet", "web-1"), {"app": "web"},
                     volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]),
                 pod("other-1-a", ("ReplicaSet", "other-1"), {"app": "other"})],
        "services": [obj("web", spec={"selector": {"app": "web"}}),
                     obj("other", spec={"selector": {"app": "other"}})],
        "ingresses": [obj("front", spec={"defaultBackend": {"service": {"name": "web"}}})],
        "persistentvolumeclaims": [obj("data", spec={"volumeName": "pv-1"})],
        "persistentvolumes": [obj("pv-1", namespace=None), obj("pv-2", namespace=None)],
        "cronjobs": [obj("nightly", spec={"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "creds"}}]}]}}}}})],
    }


def test_a_workload_graph_keeps_the_workload_and_what_it_touches_only():
    found = workload_graph(NS, "Deployment", "web", _shop())
    assert found is not None
    ids = {n["id"] for n in found["nodes"]}
    assert ids == {"Deployment/shop/web", "ReplicaSet/shop/web-1", "Pod/shop/web-1-a",
                   "Service/shop/web", "Ingress/shop/front", "PersistentVolumeClaim/shop/data",
                   "PersistentVolume/pv-1", "ServiceAccount/shop/default"}
    assert all({e["source"], e["target"]} <= ids for e in found["edges"])
    assert all(set(g["members"]) <= ids for g in found["groups"])


def test_a_workload_without_pods_shows_what_its_template_would_mount():
    found = workload_graph(NS, "CronJob", "nightly", _shop())
    assert found is not None
    secret = next(n for n in found["nodes"] if n["kind"] == "Secret")
    assert (secret["name"], secret["status"]) == ("creds", "not_read")
    assert {"source": "CronJob/shop/nightly", "target": "Secret/shop/creds"}.items() <= \
        next(e for e in found["edges"] if e["kind"] == "mounts").items()


def test_a_workload_that_was_not_listed_has_no_graph():
    assert workload_graph(NS, "StatefulSet", "web", _shop()) is None
    # Known only as an owner reference: still not a listed workload.
    assert workload_graph(NS, "Deployment", "gone", {
        "replicasets": [obj("gone-1", owner=("Deployment", "gone"))]}) is None


POD_STATUSES = [
    ({"phase": "Running", "containerStatuses": [{"state": {"running": {}}}]}, {}, "Running"),
    ({"phase": "Running", "containerStatuses": [
        {"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}, {}, "CrashLoopBackOff"),
    ({"phase": "Pending", "initContainerStatuses": [
        {"state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}, {}, "Init:Error"),
    ({"phase": "Running", "initContainerStatuses": [
        {"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
      "containerStatuses": [{"state": {"running": {}}}]}, {}, "Running"),
    ({"phase": "Succeeded", "containerStatuses": [
        {"state": {"terminated": {"exitCode": 0}}}]}, {}, "Completed"),
    ({"phase": "Failed", "reason": "Evicted"}, {}, "Evicted"),
    ({"phase": "Running"}, {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "Terminating"),
    ({}, {}, "Unknown"),
]


@pytest.mark.parametrize(("status", "metadata", "expected"), POD_STATUSES)
def test_a_pod_node_has_the_status_kubectl_shows(status, metadata, expected):
    assert pod_status({"metadata": metadata, "status": status}) == expected


DESCRIPTIONS = [
    ("Deployment", {"spec": {"replicas": 3}, "status": {"readyReplicas": 3}}, "ready"),
    ("Deployment", {"spec": {"replicas": 3}, "status": {"readyReplicas": 1}}, "degraded"),
    ("StatefulSet", {"spec": {"replicas": 0}, "status": {}}, "scaled_down"),
    ("DaemonSet", {"status": {"desiredNumberScheduled": 2, "numberReady": 2}}, "ready"),
    ("Job", {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}, "complete"),
    ("Job", {"status": {"conditions": [{"type": "Failed", "status": "True"}]}}, "failed"),
    ("Job", {"status": {"active": 1}}, "running"),
    ("CronJob", {"spec": {"suspend": True}}, "suspended"),
    ("CronJob", {"spec": {"schedule": "0 * * * *"}, "status": {}}, "scheduled"),
    ("PersistentVolumeClaim", {"status": {"phase": "Pending"}}, "Pending"),
    ("Ingress", {"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}}, "addressed"),
    ("Service", {"spec": {"type": "NodePort"}}, "NodePort"),
    ("ConfigMap", {"data": {"a": "secret-looking value"}}, "present"),
]


@pytest.mark.parametrize(("kind", "body", "expected"), DESCRIPTIONS)
def test_each_kind_has_a_status_a_user_can_read(kind, body, expected):
    status, details = describe(kind, {"metadata": {"name": "x"}, **body})
    assert status == expected
    assert "secret-looking value" not in str(details)  # ConfigMaps show key names only


PERMISSION_CASES = [
    ("one node per (apiGroup, resource), named as kubectl names it",
     [{"apiGroups": ["", "apps"], "resources": ["pods", "deployments"], "verbs": ["get"]}],
     {"pods": ["get"], "deployments": ["get"], "pods.apps": ["get"], "deployments.apps": ["get"]}),
    ("rules on the same resource merge their verbs",
     [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
      {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"], "resourceNames": ["a"]}],
     {"pods": ["get", "list"]}),
    ("non-resource URLs are permissions too",
     [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}], {"/healthz": ["get"]}),
]


@pytest.mark.parametrize(("case", "rules", "expected"), PERMISSION_CASES,
                         ids=[c[0] for c in PERMISSION_CASES])
def test_permissions_summarise_rules(case, rules, expected):
    found = permissions(rules)
    assert {name: p["verbs"] for name, p in found.items()} == expected, case


def test_merged_permissions_keep_each_rule_so_a_named_verb_is_not_widened():
    found = permissions(PERMISSION_CASES[1][1])["pods"]
    assert found["resourceNames"] == ["a"]
    assert found["rules"] == [{"verbs": ["list"], "resourceNames": []},
                              {"verbs": ["get"], "resourceNames": ["a"]}]


ROLE = obj("reader", rules=[{"apiGroups": [""], "resources": ["configmaps"],
                             "verbs": ["get"], "resourceNames": ["settings"]}])


def binding(name: str, role_kind: str, role: str, subjects: list[dict[str, Any]],
            namespace: str | None = NS) -> dict[str, Any]:
    return obj(name, namespace=namespace, subjects=subjects,
               roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind,
                        "name": role})


def test_a_role_graph_has_the_role_its_bindings_permissions_and_subjects():
    bindings = [
        binding("readers", "Role", "reader", [
            {"kind": "ServiceAccount", "name": "web"},
            {"kind": "User", "name": "jane@example.com", "apiGroup": "rbac.authorization.k8s.io"},
            {"kind": "Group", "name": "oncall", "apiGroup": "rbac.authorization.k8s.io"}]),
        binding("elsewhere", "Role", "reader", [{"kind": "User", "name": "bob"}], "other"),
        binding("cluster-one", "ClusterRole", "reader", [{"kind": "User", "name": "eve"}]),
    ]
    graph = rbac_graph("Role", ROLE, bindings_of("RoleBinding", bindings))
    ids = {n["id"] for n in graph["nodes"]}
    assert ids == {"Role/shop/reader", "Permission/shop/configmaps", "RoleBinding/shop/readers",
                   "Subject:ServiceAccount/shop/web", "Subject:User/jane@example.com",
                   "Subject:Group/oncall"}
    permission = next(n for n in graph["nodes"] if n["kind"] == "Permission")
    assert permission["metadata"]["verbs"] == ["get"]
    assert permission["metadata"]["resourceNames"] == ["settings"]
    assert {(e["kind"], e["source"], e["target"]) for e in graph["edges"]} >= {
        ("role_ref", "RoleBinding/shop/readers", "Role/shop/reader"),
        ("grants", "Role/shop/reader", "Permission/shop/configmaps"),
        ("binds", "RoleBinding/shop/readers", "Subject:Group/oncall")}
    assert {g["label"] for g in graph["groups"]} == {"bindings", "permissions", "subjects"}


def test_a_clusterrole_graph_has_cluster_and_namespaced_bindings_that_use_it():
    role = obj("viewer", namespace=None, rules=[{"apiGroups": ["apps"],
                                                  "resources": ["deployments"],
                                                  "verbs": ["list"]}])
    bindings = bindings_of("ClusterRoleBinding", [binding("all-viewers", "ClusterRole", "viewer", [
        {"kind": "Group", "name": "devs"}], namespace=None)]) + bindings_of(
        "RoleBinding", [binding("shop-viewers", "ClusterRole", "viewer", [
            {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}]),
            binding("shop-editors", "ClusterRole", "editor", [])])
    ids = {n["id"] for n in rbac_graph("ClusterRole", role, bindings)["nodes"]}
    assert ids == {"ClusterRole/viewer", "Permission/deployments.apps",
                   "ClusterRoleBinding/all-viewers", "RoleBinding/shop/shop-viewers",
                   "Subject:Group/devs", "Subject:ServiceAccount/tools/ci"}


def test_the_role_list_is_sorted():
    found = role_list([obj("b", namespace=None), obj("a", namespace=None)],
                      [obj("z", namespace="x"), obj("y", namespace="a")])
    assert found == {"cluster_roles": [{"name": "a"}, {"name": "b"}],
                     "roles": [{"namespace": "a", "name": "y"}, {"namespace": "x", "name": "z"}]}


MANIFEST_KINDS = [
    ("Deployment", "deployments"), ("pod", "pods"), ("ClusterRole", "clusterroles"),
    ("PersistentVolume", "persistentvolumes"), ("Subject:ServiceAccount", "serviceaccounts"),
]


@pytest.mark.parametrize(("kind", "plural"), MANIFEST_KINDS)
def test_diagram_node_kinds_map_to_the_resource_whose_manifest_is_read(kind, plural):
    assert manifest_kind(kind).plural == plural


REFUSED_KINDS = [("Secret", Forbidden), ("secrets", Forbidden), ("Permission", BadRequest),
                 ("Subject:User", BadRequest), ("Subject:Group", BadRequest),
                 ("Gadget", BadRequest)]


@pytest.mark.parametrize(("kind", "error"), REFUSED_KINDS)
def test_secrets_synthesized_and_unknown_kinds_have_no_manifest(kind, error):
    with pytest.raises(error) as raised:
        manifest_kind(kind)
    if error is Forbidden:
        assert raised.value.message == "Secret manifests are not readable by design."


def test_a_manifest_is_yaml_without_managed_fields():
    import yaml

    text = manifest_yaml({"spec": {"replicas": 1}, "kind": "Deployment", "apiVersion": "apps/v1",
                          "metadata": {"name": "web", "managedFields": [{"manager": "k"}]}},
                         manifest_kind("Deployment"))
    assert text.startswith("apiVersion: apps/v1\nkind: Deployment\n")
    assert "managedFields" not in text
    assert yaml.safe_load(text)["spec"] == {"replicas": 1}


MULTI = {"metadata": {"name": "web", "namespace": NS, "annotations": {}},
         "spec": {"containers": [{"name": "app"}, {"name": "proxy"}],
                  "initContainers": [{"name": "migrate"}]},
         "status": {"containerStatuses": [
             {"name": "app", "restartCount": 2, "lastState": {"terminated": {"exitCode": 1}}},
             {"name": "proxy", "restartCount": 0, "lastState": {}}]}}
CONTAINER_CHOICES = [
    (MULTI, None, "app"),
    (MULTI, "migrate", "migrate"),
    ({**MULTI, "metadata": {**MULTI["metadata"], "annotations": {
        "kubectl.kubernetes.io/default-container": "proxy"}}}, None, "proxy"),
    ({"metadata": {"name": "bare"}, "spec": {}}, None, None),
]


@pytest.mark.parametrize(("pod_obj", "wanted", "expected"), CONTAINER_CHOICES)
def test_the_container_is_chosen_as_kubectl_logs_chooses_it(pod_obj, wanted, expected):
    assert choose_container(pod_obj, wanted) == expected


def test_an_unknown_container_is_refused_with_the_ones_there_are():
    with pytest.raises(BadRequest, match="app, proxy, migrate"):
        choose_container(MULTI, "sidecar")


@pytest.mark.parametrize(("container", "expected"),
                         [("app", True), ("proxy", False), ("migrate", True)])
def test_a_previous_log_exists_only_after_a_restart(container, expected):
    # No status for the init container: the API server decides.
    assert has_previous_run(MULTI, container) is expected


def test_graph_restriction_drops_edges_and_groups_that_leave_the_kept_nodes():
    graph = Graph()
    a, b = graph.add("Pod", "a", NS), graph.add("Pod", "b", NS)
    graph.link("owns", a, b)
    graph.group("x", a)
    graph.group("y", b)
    sub = graph.restricted({a}).to_dict()
    assert [n["id"] for n in sub["nodes"]] == [a]
    assert sub["edges"] == []
    assert sub["groups"] == [{"id": "group/x", "label": "x", "members": [a]}]

