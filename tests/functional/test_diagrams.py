"""Kure Monitor's diagrams (seed 002): graphs, manifests and RBAC read live from a cluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.fake_kube import FakeKubeServer
from tests.functional.conftest import ADMIN_KEY, register_cluster

NS = "shop"


def meta(name: str, labels: dict[str, str] | None = None, owner: tuple[str, str] | None = None,
         namespace: str | None = NS) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "labels": labels or {}}
    if namespace:
        found["namespace"] = namespace
    if owner:
        found["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return found


WEB_POD_SPEC = {
    "serviceAccountName": "web",
    "containers": [{"name": "app", "image": "web:1",
                    "envFrom": [{"secretRef": {"name": "web-credentials"}}]}],
    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "settings", "configMap": {"name": "settings"}}],
}
CASE: dict[str, Any] = {"objects": {
    "namespaces": [{"metadata": {"name": NS}}],
    "deployments": [
        {"metadata": {**meta("web", {"app": "web"}),
                      "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
         "spec": {"replicas": 1, "template": {"spec": WEB_POD_SPEC}},
         "status": {"readyReplicas": 1}},
        {"metadata": meta("worker", {"app": "worker"}), "spec": {"replicas": 1},
         "status": {"readyReplicas": 1}}],
    "replicasets": [{"metadata": meta("web-7d9f8", {"app": "web"}, ("Deployment", "web")),
                     "spec": {"replicas": 1}, "status": {"readyReplicas": 1}},
                    {"metadata": meta("worker-5c6d7", {"app": "worker"},
                                      ("Deployment", "worker")),
                     "spec": {"replicas": 1}, "status": {"readyReplicas": 1}}],
    "pods": [{"metadata": meta("web-7d9f8-abcde", {"app": "web"}, ("ReplicaSet", "web-7d9f8")),
              "spec": WEB_POD_SPEC, "status": {"phase": "Running"}},
             {"metadata": meta("worker-5c6d7-fghij", {"app": "worker"},
                               ("ReplicaSet", "worker-5c6d7")),
              "spec": {"containers": [{"name": "worker", "image": "worker:1"}]},
              "status": {"phase": "Running"}}],
    "services": [{"metadata": meta("web"), "spec": {"selector": {"app": "web"},
                                                    "ports": [{"port": 80}]}}],
    "ingresses": [{"metadata": meta("front"), "spec": {"rules": [{"host": "shop.example", "http": {
        "paths": [{"path": "/", "backend": {"service": {"name": "web",
                                                         "port": {"number": 80}}}}]}}]}}],
    "persistentvolumeclaims": [{"metadata": meta("data"), "spec": {"volumeName": "pv-data"},
                                "status": {"phase": "Bound"}}],
    "persistentvolumes": [{"metadata": meta("pv-data", namespace=None),
                           "spec": {"claimRef": {"namespace": NS, "name": "data"}},
                           "status": {"phase": "Bound"}}],
    "configmaps": [{"metadata": meta("settings"), "data": {"LOG_LEVEL": "info"}}],
    "serviceaccounts": [{"metadata": meta("web")}],
    "secrets": [{"metadata": meta("web-credentials"), "data": {"password": "aHVudGVyMg=="}}],
    "roles": [{"metadata": meta("settings-reader"), "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"],
         "verbs": ["get"]}]}],
    "rolebindings": [
        {"metadata": meta("web-reads-settings"), "subjects": [
            {"kind": "ServiceAccount", "name": "web", "namespace": NS}],
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": "settings-reader"}},
        {"metadata": meta("shop-viewers"), "subjects": [
            {"kind": "Group", "name": "shop-devs", "apiGroup": "rbac.authorization.k8s.io"}],
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "viewer"}}],
    "clusterroles": [{"metadata": meta("viewer", namespace=None), "rules": [
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]}]}],
    "clusterrolebindings": [{"metadata": meta("oncall-viewers", namespace=None), "subjects": [
        {"kind": "User", "name": "oncall@example.com", "apiGroup": "rbac.authorization.k8s.io"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "viewer"}}],
}}


@pytest.fixture
def shop(api: Any) -> Iterator[FakeKubeServer]:
    """A fake API server holding the shop namespace, registered as the only cluster."""
    server = FakeKubeServer.from_cases(CASE)
    server.start()
    try:
        register_cluster(api, server, "shop")
        yield server
    finally:
        server.stop()


def ids(body: dict[str, Any]) -> set[str]:
    return {n["id"] for n in body["nodes"]}


def edge_set(body: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(e["kind"], e["source"], e["target"]) for e in body["edges"]}


def get_text(api: Any, path: str, **headers: str) -> tuple[int, str, str]:
    response = api.client.http.request("GET", path, headers={"X-API-Key": ADMIN_KEY, **headers})
    return response.status_code, response.headers.get("Content-Type", ""), \
        response.body.decode()


def no_secret_was_requested(server: FakeKubeServer) -> bool:
    return not any("/secrets" in path for path in server.paths())


def test_the_demo_cluster_lists_namespaces_and_draws_its_crash_looping_pod(api, demo_cluster):
    status, body = api.call("GET", "/api/diagram/namespaces")
    assert status == 200
    assert {"default", "demo-shop", "kube-system"} <= set(body["namespaces"])
    assert body["namespaces"] == sorted(body["namespaces"])
    assert body["cluster"] == "demo"
    status, body = api.call("GET", "/api/diagram/namespace/demo-shop")
    assert status == 200
    pod = "Pod/demo-shop/orders-api-5f9c8d7b6a-q2w8r"
    assert {n["id"]: n["status"] for n in body["nodes"]}[pod] == "CrashLoopBackOff"
    assert ("mounts", pod, "ConfigMap/demo-shop/orders-api-config") in edge_set(body)


def test_a_namespace_graph_links_workloads_pods_services_and_what_pods_mount(api, shop):
    status, body = api.call("GET", f"/api/diagram/namespace/{NS}")
    assert status == 200, body
    assert edge_set(body) >= {
        ("owns", "Deployment/shop/web", "ReplicaSet/shop/web-7d9f8"),
        ("owns", "ReplicaSet/shop/web-7d9f8", "Pod/shop/web-7d9f8-abcde"),
        ("selects", "Service/shop/web", "Pod/shop/web-7d9f8-abcde"),
        ("routes", "Ingress/shop/front", "Service/shop/web"),
        ("mounts", "Pod/shop/web-7d9f8-abcde", "PersistentVolumeClaim/shop/data"),
        ("mounts", "Pod/shop/web-7d9f8-abcde", "ConfigMap/shop/settings"),
        ("mounts", "Pod/shop/web-7d9f8-abcde", "Secret/shop/web-credentials"),
        ("binds", "PersistentVolumeClaim/shop/data", "PersistentVolume/pv-data"),
        ("uses", "Pod/shop/web-7d9f8-abcde", "ServiceAccount/shop/web")}
    node = {n["id"]: n for n in body["nodes"]}
    assert node["Pod/shop/web-7d9f8-abcde"]["status"] == "Running"
    assert node["Secret/shop/web-credentials"]["status"] == "not_read"
    groups = {g["label"]: set(g["members"]) for g in body["groups"]}
    assert {"Deployment/shop/web", "Ingress/shop/front",
            "PersistentVolume/pv-data"} <= groups["web"]
    assert body["missing"] == {}
    assert no_secret_was_requested(shop)


def test_a_kind_the_cluster_will_not_list_is_reported_and_the_rest_is_drawn(api, shop):
    shop.forbid("ingresses")
    status, body = api.call("GET", f"/api/diagram/namespace/{NS}")
    assert status == 200
    assert "forbid" in body["missing"]["ingresses"]
    assert "Ingress/shop/front" not in ids(body)
    assert "Service/shop/web" in ids(body)


BAD_REQUESTS = [
    ("/api/diagram/namespace/nowhere", 404, "namespace_not_found"),
    ("/api/diagram/namespace/Not_A_Namespace", 400, "invalid_name"),
    ("/api/diagram/workload/shop/ReplicaSet/web-7d9f8", 400, "invalid_kind"),
    ("/api/diagram/workload/shop/Deployment/absent", 404, "deployment_not_found"),
    ("/api/diagram/role/shop/absent", 404, "role_not_found"),
    ("/api/diagram/clusterrole/absent", 404, "clusterrole_not_found"),
    ("/api/diagram/manifest/shop/Pod/absent", 404, "pod_not_found"),
    ("/api/diagram/manifest/shop/Permission/configmaps", 400, "synthesized_kind"),
    ("/api/diagram/manifest/_/Subject:User/jane", 400, "synthesized_kind"),
    ("/api/diagram/manifest/_/Subject:Group/devs", 400, "synthesized_kind"),
    ("/api/diagram/manifest/shop/Gadget/x", 400, "unknown_kind"),
]


def test_bad_input_absent_objects_and_synthesized_kinds_get_a_clear_4xx(api, shop):
    for path, status, code in BAD_REQUESTS:
        got, body = api.call("GET", path)
        assert (got, body["code"]) == (status, code), (path, body)
        assert body["detail"]


def test_a_workload_graph_keeps_only_what_the_workload_touches(api, shop):
    status, body = api.call("GET", f"/api/diagram/workload/{NS}/deployment/web")
    assert status == 200, body
    assert ids(body) == {
        "Deployment/shop/web", "ReplicaSet/shop/web-7d9f8", "Pod/shop/web-7d9f8-abcde",
        "Service/shop/web", "Ingress/shop/front", "PersistentVolumeClaim/shop/data",
        "PersistentVolume/pv-data", "ConfigMap/shop/settings", "Secret/shop/web-credentials",
        "ServiceAccount/shop/web"}
    assert [g["label"] for g in body["groups"]] == ["web"]
    assert no_secret_was_requested(shop)


def test_a_manifest_is_the_live_object_as_yaml_without_managed_fields(api, shop):
    status, content_type, text = get_text(api, f"/api/diagram/manifest/{NS}/Deployment/web")
    assert status == 200
    assert content_type.startswith("text/yaml")
    manifest = yaml.safe_load(text)
    assert (manifest["kind"], manifest["metadata"]["name"]) == ("Deployment", "web")
    assert "managedFields" not in manifest["metadata"]
    # A caller that accepts only JSON gets the same YAML inside a JSON object.
    status, body = api.call("GET", f"/api/diagram/manifest/{NS}/Service/web",
                            headers={"Accept": "application/json"})
    assert status == 200
    assert yaml.safe_load(body["manifest"])["spec"]["selector"] == {"app": "web"}


def test_cluster_scoped_manifests_ignore_the_namespace_placeholder(api, shop):
    for path, name in [("/api/diagram/manifest/_/ClusterRole/viewer", "viewer"),
                       ("/api/diagram/manifest/anything/PersistentVolume/pv-data", "pv-data")]:
        status, _, text = get_text(api, path)
        assert status == 200, text
        assert yaml.safe_load(text)["metadata"]["name"] == name


def test_a_secret_manifest_is_refused_without_asking_the_api_server(api, shop):
    status, body = api.call("GET", f"/api/diagram/manifest/{NS}/Secret/web-credentials")
    assert status == 403
    assert body["detail"] == "Secret manifests are not readable by design."
    assert no_secret_was_requested(shop)


def test_roles_and_cluster_roles_are_listed(api, shop):
    status, body = api.call("GET", "/api/diagram/roles")
    assert status == 200
    assert body["cluster_roles"] == [{"name": "viewer"}]
    assert body["roles"] == [{"namespace": NS, "name": "settings-reader"}]


def test_a_role_graph_shows_permissions_bindings_and_subjects(api, shop):
    status, body = api.call("GET", f"/api/diagram/role/{NS}/settings-reader")
    assert status == 200
    assert ids(body) == {"Role/shop/settings-reader", "Permission/shop/configmaps",
                         "RoleBinding/shop/web-reads-settings",
                         "Subject:ServiceAccount/shop/web"}
    permission = next(n for n in body["nodes"] if n["kind"] == "Permission")
    assert (permission["metadata"]["verbs"], permission["metadata"]["resourceNames"]) == (
        ["get"], ["settings"])


def test_a_cluster_role_graph_includes_role_bindings_that_reference_it(api, shop):
    status, body = api.call("GET", "/api/diagram/clusterrole/viewer")
    assert status == 200
    assert ids(body) >= {"ClusterRole/viewer", "Permission/deployments.apps",
                         "ClusterRoleBinding/oncall-viewers", "RoleBinding/shop/shop-viewers",
                         "Subject:User/oncall@example.com", "Subject:Group/shop-devs"}


def test_diagrams_need_the_clusters_read_scope(api, make_key, shop):
    key = make_key("incidents:read")
    status, body = api.call("GET", "/api/diagram/namespaces", key=key)
    assert status == 403, body


def test_a_cluster_that_is_down_answers_503_with_the_reason(api, shop):
    shop.stop()
    status, body = api.call("GET", f"/api/diagram/namespace/{NS}")
    assert status == 503
    assert body["code"] == "cluster_unreachable"
