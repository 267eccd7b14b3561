"""The mirror preview's pure parts: cleaning a live object, copying it as a Drover mirror,
and applying a diagnosis' fix to the copy while the original stays as it was."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.domain.cluster_ports import ClusterClient
from chalicelib.domain.diagnosis import Diagnosis, FixCommand, SuggestedAction
from chalicelib.domain.errors import NotFound
from chalicelib.services.mirror_preview import (
    MIRROR_LABEL,
    PLACEHOLDER,
    apply_fix,
    build_preview,
    clean,
    mirror_copy,
    owner_workload,
    parse_manifest,
)

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "k8s"
OOM_CASE = CORPUS / "hg-oomkilled-analytics-exporter.json"


def oom_pod() -> dict[str, Any]:
    if not OOM_CASE.exists():
        pytest.skip("k8s eval corpus not found")
    return json.loads(OOM_CASE.read_text())["objects"]["pods"][0]


def diagnosis(category: str = "OOMKilled", **changes: Any) -> Diagnosis:
    base: dict[str, Any] = {
        "diagnosis_id": "diag_1", "category": category, "summary": "s",
        "root_cause": "Container memory-eater uses more than its 100Mi limit.",
        "confidence": 0.9, "fix_summary": "Raise the memory limit.",
        "k8s_context": {"container": "memory-eater"}}
    return Diagnosis(**{**base, **changes})


def set_resources(memory: str = "200Mi", container: str = "memory-eater") -> SuggestedAction:
    return SuggestedAction(name="set_resources", arguments={
        "namespace": "default", "kind": "deployment", "name": "analytics-exporter-fast",
        "container": container, "memory_limit": memory})


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "9",
                     "generation": 3, "labels": {"app": "web"},
                     "annotations": {"deployment.kubernetes.io/revision": "4",
                                     "kubectl.kubernetes.io/last-applied-configuration": "{}",
                                     "team": "payments"}},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web",
                                                      "pod-template-hash": "abc"}},
                              "spec": {"containers": [{
                                  "name": "api", "image": "shop/api:1.2",
                                  "env": [{"name": "LOG_LEVEL", "value": "info"}],
                                  "readinessProbe": {"httpGet": {"path": "/ready",
                                                                 "port": 8080}}}]}}},
        "status": {"replicas": 4}}


def test_an_oom_fix_raises_the_memory_limit_of_the_copy_and_leaves_the_original_alone():
    pod = oom_pod()
    before = copy.deepcopy(pod)
    preview = build_preview(pod, diagnosis(suggested_actions=[set_resources()]))
    fixed = yaml.safe_load(preview["fixed_manifest"])
    original = yaml.safe_load(preview["original"])
    container = fixed["spec"]["containers"][0]
    assert container["resources"]["limits"]["memory"] == "200Mi"
    assert original["spec"]["containers"][0]["resources"]["limits"]["memory"] == "100Mi"
    assert pod == before
    assert preview["changes"][0] | {"reason": None} == {
        "path": "spec.containers[memory-eater].resources.limits.memory", "action": "set",
        "from": "100Mi", "to": "200Mi", "reason": None}
    assert "100Mi -> 200Mi" in preview["explanation"]


def test_the_copy_is_a_named_labelled_mirror_without_what_the_cluster_assigned():
    pod = oom_pod()
    pod["metadata"].update(uid="u", resourceVersion="1", managedFields=[{"manager": "k"}])
    pod["spec"]["volumes"] = [{"name": "kube-api-access-x1", "projected": {}},
                              {"name": "data", "emptyDir": {}}]
    fixed = mirror_copy(pod, "diag_1")
    meta = fixed["metadata"]
    assert meta["name"] == "analytics-exporter-fast-76897854c-cw5wh-mirror"
    assert meta["labels"][MIRROR_LABEL] == "true"
    assert "app" not in meta["labels"]  # a Service of the original must not select it
    assert not {"uid", "resourceVersion", "managedFields", "ownerReferences"} & set(meta)
    assert "status" not in fixed and "nodeName" not in fixed["spec"]
    assert fixed["spec"]["volumes"] == [{"name": "data", "emptyDir": {}}]
    assert "tolerations" not in fixed["spec"]  # only the defaults Kubernetes added


def test_a_deployment_mirror_selects_only_its_own_single_replica():
    fixed = mirror_copy(deployment(), "diag_1")
    spec = fixed["spec"]
    assert fixed["metadata"]["name"] == "web-mirror"
    assert spec["replicas"] == 1
    assert spec["selector"]["matchLabels"] == spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"][MIRROR_LABEL] == "true"
    assert fixed["metadata"]["annotations"]["team"] == "payments"
    assert "kubectl.kubernetes.io/last-applied-configuration" not in \
        fixed["metadata"]["annotations"]


def test_cleaning_drops_status_ids_and_generated_labels_but_keeps_the_spec():
    cleaned = clean(deployment())
    assert "status" not in cleaned
    assert cleaned["metadata"] == {"name": "web", "namespace": "shop", "labels": {"app": "web"},
                                   "annotations": {"team": "payments"}}
    assert cleaned["spec"]["template"]["metadata"]["labels"] == {"app": "web"}
    assert cleaned["spec"]["replicas"] == 4


def test_without_a_suggested_action_the_limit_comes_from_the_fix_command():
    command = FixCommand(command="kubectl -n default set resources deployment/x -c "
                                 "memory-eater --limits=memory=512Mi", description="raise")
    changes = apply_fix(oom_pod(), diagnosis(fix_commands=[command]))
    assert changes[0]["to"] == "512Mi"


def test_without_any_suggestion_the_current_limit_is_doubled():
    pod = oom_pod()
    changes = apply_fix(pod, diagnosis())
    assert changes[0]["to"] == "200Mi"
    assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == "200Mi"


def test_a_suggested_container_missing_from_the_manifest_is_flagged_not_guessed():
    pod = oom_pod()
    changes = apply_fix(pod, diagnosis(suggested_actions=[set_resources(container="other")]))
    assert changes[0]["action"] == "flag"
    assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == "100Mi"


def test_a_missing_variable_is_added_with_a_placeholder():
    obj = deployment()
    command = FixCommand(command="kubectl -n shop set env deployment/web -c api "
                                 "DEPLOY_ENV=<value>", description="add it")
    changes = apply_fix(obj, diagnosis("CrashLoopBackOff-missing-config",
                                       fix_commands=[command]))
    env = obj["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "DEPLOY_ENV", "value": PLACEHOLDER} in env
    assert changes[0]["path"] == "spec.template.spec.containers[api].env[DEPLOY_ENV]"
    assert changes[0]["action"] == "add"


def test_a_variable_named_in_the_suggestion_that_is_already_set_is_flagged():
    obj = deployment()
    action = SuggestedAction(name="suggest_config_fix", arguments={
        "suggestion": "Set the environment variable LOG_LEVEL on container api"})
    changes = apply_fix(obj, diagnosis("CrashLoopBackOff-missing-config",
                                       suggested_actions=[action]))
    assert changes[0]["action"] == "flag"
    assert obj["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "LOG_LEVEL", "value": "info"}]


@pytest.mark.parametrize(("category", "field", "kept"), [
    ("ImagePullBackOff-bad-tag", "image", "shop/api:1.2"),
    ("Readiness-probe-failing", "readinessProbe", {"httpGet": {"path": "/ready",
                                                               "port": 8080}}),
])
def test_fixes_that_need_judgement_keep_the_field_and_flag_it(category, field, kept):
    obj = deployment()
    changes = apply_fix(obj, diagnosis(category, k8s_context={"container": "api"}))
    assert obj["spec"]["template"]["spec"]["containers"][0][field] == kept
    assert changes == [changes[0] | {"action": "flag", "from": kept, "to": kept}]
    assert changes[0]["path"].endswith(f"containers[api].{field}")


def test_a_category_without_a_mechanical_fix_changes_nothing_and_says_what_to_do():
    obj = deployment()
    before = copy.deepcopy(obj)
    changes = apply_fix(obj, diagnosis("DNS-failure", fix_summary="Fix the egress policy."))
    assert obj == before
    assert changes[0]["action"] == "flag" and "Fix the egress policy." in changes[0]["reason"]


def test_a_preview_is_a_fallback_only_when_the_builtin_rules_diagnosed():
    assert build_preview(oom_pod(), diagnosis())["is_fallback"] is True
    assert build_preview(oom_pod(), diagnosis(provider="openai"))["is_fallback"] is False


class OwnerChain(ClusterClient):
    """A cluster holding some of a pod's owners."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = {(o["kind"], o["metadata"]["name"]): o for o in objects}

    def get(self, kind, namespace, name):
        found = self.objects.get((kind.kind, name))
        if found is None:
            raise NotFound(f"{kind.kind} {name} not found")
        return found

    def check(self):
        raise NotImplementedError

    def list(self, kind, namespace=None, **_):
        raise NotImplementedError

    def pod_log(self, namespace, pod, **_):
        raise NotImplementedError

    def metrics(self, plural, namespace=None):
        raise NotImplementedError


def _owned(kind: str, name: str, owner: tuple[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return {"kind": kind, "metadata": meta, "spec": {}}


def test_the_source_is_the_deployment_above_the_pods_replicaset():
    rs = _owned("ReplicaSet", "web-5d8f", ("Deployment", "web"))
    client = OwnerChain(rs, _owned("Deployment", "web"))
    assert owner_workload(client, _owned("Pod", "web-5d8f-x", ("ReplicaSet", "web-5d8f"))) \
        ["metadata"]["name"] == "web"


def test_an_owner_that_cannot_be_found_leaves_the_pod_as_the_source():
    pod = _owned("Pod", "web-5d8f-x", ("ReplicaSet", "web-5d8f"))
    assert owner_workload(OwnerChain(), pod) is pod


def test_manifests_are_read_from_yaml_or_json_and_anything_else_is_refused():
    assert parse_manifest("kind: Pod\nmetadata: {name: a}\n")["kind"] == "Pod"
    assert parse_manifest('{"kind": "Pod"}') == {"kind": "Pod"}
    assert parse_manifest("- a list") is None
    assert parse_manifest("key: [unclosed") is None
