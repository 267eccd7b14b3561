"""Fixes for scanner findings: the builtin table, and the guards around an LLM's answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from chalicelib.domain.security import SecurityFinding
from chalicelib.services.security_fix import MASK, mask_env, parse_fix, prompt
from chalicelib.services.security_fix_rules import PIN_PLACEHOLDER, builtin_fix, line_diff

POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web-5d8f", "namespace": "shop", "uid": "u1"},
    "spec": {
        "containers": [
            {"name": "app", "image": "shop/web:latest",
             "securityContext": {"privileged": True, "runAsUser": 0},
             "ports": [{"containerPort": 8080, "hostPort": 8080}],
             "resources": {"limits": {"memory": "1Gi"}},
             "env": [{"name": "DB_PASSWORD", "value": "hunter2-literal"}]},
            {"name": "sidecar", "image": "envoy:1.30"}],
        "volumes": [{"name": "etc", "hostPath": {"path": "/etc"}},
                    {"name": "logs", "hostPath": {"path": "/var/log"}}]},
    "status": {"phase": "Running"}}


def finding(title: str, manifest: dict[str, Any] | None = POD, **changes: Any) -> SecurityFinding:
    fields: dict[str, Any] = {
        "id": "finding-0123456789abcdef01234567", "resource_type": "Pod",
        "resource_name": "web-5d8f", "namespace": "shop", "check_name": title, "title": title,
        "severity": "high", "message": "", "remediation": "Follow the policy.",
        "manifest": yaml.safe_dump(manifest) if manifest else "", "timestamp": "t",
        "first_seen": "t", "last_seen": "t"}
    return SecurityFinding(**{**fields, **changes})


def fixed_container(result: dict[str, Any], name: str = "app") -> dict[str, Any]:
    spec = yaml.safe_load(result["fixed_manifest"])["spec"]
    return next(c for c in spec["containers"] if c["name"] == name)


def test_a_privileged_container_is_made_unprivileged_in_the_whole_manifest():
    result = builtin_fix(finding("Privileged container: app"))
    assert fixed_container(result)["securityContext"]["privileged"] is False
    original = yaml.safe_load(result["original_manifest"])
    assert original["spec"]["containers"][0]["securityContext"]["privileged"] is True
    assert "status" not in original and "uid" not in original["metadata"]
    assert result["check"] == "privileged" and result["is_snippet"] is False
    diff = line_diff(result["original_manifest"], result["fixed_manifest"])
    assert {"content": "      privileged: true", "type": "removed"} in diff
    assert {"content": "      privileged: false", "type": "added"} in diff


def test_without_a_manifest_the_fix_is_a_snippet_of_the_corrected_fields():
    result = builtin_fix(finding("privileged_container", manifest=None,
                                 details={"container": "app"}))
    snippet = yaml.safe_load(result["fixed_manifest"])
    assert snippet["spec"]["containers"] == [{"name": "app",
                                              "securityContext": {"privileged": False}}]
    assert result["original_manifest"] == "" and result["is_snippet"] is True


@pytest.mark.parametrize(("title", "field", "value"), [
    ("Privilege escalation allowed: app", "allowPrivilegeEscalation", False),
    ("Writable root filesystem: app", "readOnlyRootFilesystem", True),
    ("Container runs as root (UID 0): app", "runAsNonRoot", True),
    ("Container runs as root (UID 0): app", "runAsUser", 10001),
])
def test_each_check_changes_its_own_security_context_field(title, field, value):
    context = fixed_container(builtin_fix(finding(title)))["securityContext"]
    assert context[field] == value
    assert context["privileged"] is True  # another finding's business


def test_only_the_named_container_is_changed():
    result = builtin_fix(finding("Capabilities not dropped: sidecar"))
    assert fixed_container(result, "sidecar")["securityContext"]["capabilities"] == {
        "drop": ["ALL"]}
    assert "capabilities" not in fixed_container(result)["securityContext"]


def test_the_named_host_path_becomes_an_empty_dir_and_the_others_stay():
    result = builtin_fix(finding("HostPath volume mounted: /etc"))
    volumes = yaml.safe_load(result["fixed_manifest"])["spec"]["volumes"]
    assert volumes == [{"name": "etc", "emptyDir": {}},
                       {"name": "logs", "hostPath": {"path": "/var/log"}}]


def test_missing_limits_are_added_without_overwriting_the_ones_set():
    resources = fixed_container(builtin_fix(finding("Missing resource limits: app")))[
        "resources"]
    assert resources["limits"] == {"cpu": "500m", "memory": "1Gi"}
    assert resources["requests"] == {"cpu": "100m", "memory": "128Mi"}


def test_a_latest_tag_is_replaced_by_a_placeholder_to_pin():
    assert fixed_container(builtin_fix(finding("Image uses latest tag: app")))["image"] == \
        f"shop/web:{PIN_PLACEHOLDER}"


def test_a_host_port_is_removed():
    assert fixed_container(builtin_fix(finding("Host port exposed: 8080")))["ports"] == [
        {"containerPort": 8080}]


def test_an_untrusted_registry_is_explained_and_the_image_kept():
    result = builtin_fix(finding("Image from untrusted registry: app"))
    assert result["changes"] == []
    assert fixed_container(result)["image"] == "shop/web:latest"
    assert "trusted registry" in result["explanation"]


def test_an_unknown_check_gives_the_scanners_advice_and_changes_nothing():
    result = builtin_fix(finding("Something exotic"))
    assert result["check"] is None and result["changes"] == []
    assert "Follow the policy." in result["explanation"]


def test_a_secrets_data_never_appears_in_a_fix():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
              "data": {"password": "aHVudGVyMg=="}, "stringData": {"token": "t0ps3cret"}}
    result = builtin_fix(finding("Secret exposed as environment variable: DB", secret,
                                 resource_type="Secret", resource_name="db"))
    assert "aHVudGVyMg==" not in json.dumps(result) and "t0ps3cret" not in json.dumps(result)


def test_env_values_are_masked_for_the_llm_and_put_back_in_its_answer():
    masked_copy = yaml.safe_load(yaml.safe_dump(POD))
    masked = mask_env(masked_copy)
    system, user = prompt(finding("Privileged container: app"), masked_copy)
    assert "hunter2-literal" not in system + user
    assert MASK in user
    answer = yaml.safe_load(yaml.safe_dump(masked_copy))
    answer["spec"]["containers"][0]["securityContext"]["privileged"] = False
    fixed, _ = parse_fix(json.dumps({"fixed_manifest": yaml.safe_dump(answer),
                                     "explanation": "done"}), POD, masked)
    assert yaml.safe_load(fixed)["spec"]["containers"][0]["env"] == [
        {"name": "DB_PASSWORD", "value": "hunter2-literal"}]


@pytest.mark.parametrize("answer", [
    "not json",
    json.dumps({"explanation": "no manifest key"}),
    json.dumps({"fixed_manifest": "- just a list", "explanation": "x"}),
    json.dumps({"fixed_manifest": "kind: Pod\nmetadata: {name: other}\n", "explanation": "x"}),
])
def test_an_llm_answer_that_is_not_a_fix_of_the_same_resource_is_refused(answer):
    with pytest.raises(ValueError):
        parse_fix(answer, POD, {})
