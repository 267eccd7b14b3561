"""Kure Monitor's AI endpoints (seed 002): a retried solution, a mirror preview, a security
fix (builtin or from the configured LLM) and the LLM admin settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from chalicelib.bootstrap import get_container
from tests.fake_kube import FakeKubeServer
from tests.fake_llm import FakeOpenAIServer
from tests.functional.conftest import register_cluster

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "k8s"
OOM = CORPUS / "hg-oomkilled-analytics-exporter.json"
OOM_POD = "analytics-exporter-fast-76897854c-cw5wh"
KEY = "sk-live-do-not-echo-0123456789"
SECRETS = ("hunter2-very-secret", "abcdef0123456789abcdef", "s3cr3t-env-value")
PRIVILEGED_POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "my-app-7d9f8b6c4-abc12", "namespace": "default",
                 "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                                 '{"env": "API_TOKEN=s3cr3t-env-value"}'}},
    "spec": {"containers": [{"name": "app", "image": "my-app:1.2",
                             "securityContext": {"privileged": True},
                             "env": [{"name": "API_TOKEN", "value": "s3cr3t-env-value"}]}]}}
FINDING = {
    "resource_type": "Pod", "resource_name": "my-app-7d9f8b6c4-abc12", "namespace": "default",
    "check_name": "privileged_container", "severity": "critical",
    "message": "Container 'app' is running in privileged mode (DB_PASSWORD=hunter2-very-secret,"
               " Authorization: Bearer abcdef0123456789abcdef)",
    "remediation": "Remove 'privileged: true' from securityContext",
    "details": {"container": "app", "field": "securityContext.privileged"},
    "manifest": yaml.safe_dump(PRIVILEGED_POD),
}
needs_corpus = pytest.mark.skipif(not OOM.exists(), reason="k8s eval corpus not found")


def report_pod(api, pod: str = OOM_POD, cluster: str | None = "case") -> str:
    body = {"pod_name": pod, "namespace": "default", "failure_reason": "OOMKilled",
            "failure_message": "Container memory-eater was OOMKilled",
            "creation_timestamp": "2026-03-26T10:30:00Z"}
    headers = {"X-Cluster-Id": cluster} if cluster else {}
    status, answer = api.call("POST", "/api/pods/failed", body=body, headers=headers)
    assert status == 200, answer
    return str(answer["id"])


def report_finding(api, **changes) -> str:
    status, answer = api.call("POST", "/api/security/findings", body={**FINDING, **changes})
    assert status in (200, 201), answer
    return str(answer["id"])


def use_llm(api, server: FakeOpenAIServer, **extra) -> dict:
    body = {"provider": "openai", "base_url": server.url, "api_key": KEY, "model": "fake-gpt",
            "max_retries": 0, **extra}
    status, answer = api.call("POST", "/api/admin/llm/config", body=body)
    assert status == 200, answer
    return answer


# --- retry-solution and mirror preview -------------------------------------------------------
@needs_corpus
def test_a_retried_solution_is_a_fresh_diagnosis_in_kures_record(api):
    with FakeKubeServer.from_case_files(OOM) as server:
        register_cluster(api, server, "case")
        pod_id = report_pod(api)
        status, body = api.call("POST", f"/api/pods/failed/{pod_id}/retry-solution")
    assert status == 200, body
    assert (body["id"], body["pod_name"], body["failure_reason"]) == (pod_id, OOM_POD,
                                                                      "OOMKilled")
    assert body["category"] == "OOMKilled"
    assert body["solution"].startswith("## Root Cause")
    assert "100Mi" in body["solution"] and "--limits=memory=200Mi" in body["solution"]
    assert (body["solution_provider"], body["is_fallback"]) == ("builtin", True)
    assert body["diagnosis"]["diagnosis_id"] == body["diagnosis_id"]
    _, timeline = api.call("GET", f"/incidents/{pod_id}/timeline")
    assert "diagnosis_completed" in [e["event_type"] for e in timeline["events"]]


@needs_corpus
def test_a_mirror_preview_raises_the_memory_limit_of_a_copy_only(api):
    with FakeKubeServer.from_case_files(OOM) as server:
        register_cluster(api, server, "case")
        pod_id = report_pod(api)
        status, body = api.call("POST", f"/api/mirror/preview/{pod_id}")
    assert status == 200, body
    fixed, original = yaml.safe_load(body["fixed_manifest"]), yaml.safe_load(body["original"])
    assert fixed["spec"]["containers"][0]["resources"]["limits"]["memory"] == "200Mi"
    assert original["spec"]["containers"][0]["resources"]["limits"]["memory"] == "100Mi"
    assert fixed["metadata"]["name"] == f"{OOM_POD}-mirror"
    assert fixed["metadata"]["labels"]["drover.io/mirror"] == "true"
    assert "status" not in fixed and "ownerReferences" not in fixed["metadata"]
    assert body["changes"][0]["to"] == "200Mi" and body["is_fallback"] is True
    assert body["diagnosis_id"].startswith("diag_")
    assert body["source"] | {"read_from": "cluster", "cluster": "case", "kind": "Pod"} == \
        body["source"]
    assert "## Changes Made" in body["explanation"]


@needs_corpus
def test_a_mirror_preview_says_so_when_the_cluster_cannot_be_read(api):
    server = FakeKubeServer.from_case_files(OOM)
    server.start()
    try:
        register_cluster(api, server, "case")
        pod_id = report_pod(api)
    finally:
        server.stop()
    status, body = api.call("POST", f"/api/mirror/preview/{pod_id}")
    assert status == 503, body
    assert "cluster 'case' could not be read" in body["detail"]


def test_unknown_pod_failures_are_404_for_both_endpoints(api):
    for path in ("/api/pods/failed/inc-nope/retry-solution", "/api/mirror/preview/inc-nope"):
        status, body = api.call("POST", path)
        assert (status, body["detail"]) == (404, "Pod failure not found")


# --- security findings -----------------------------------------------------------------------
def test_without_an_llm_a_privileged_container_gets_the_builtin_fix(api):
    finding_id = report_finding(api)
    status, body = api.call("POST", f"/api/security/findings/{finding_id}/fix")
    assert status == 200, body
    assert body["is_fallback"] is True and body["check"] == "privileged"
    fixed = yaml.safe_load(body["fixed_manifest"])
    assert fixed["spec"]["containers"][0]["securityContext"]["privileged"] is False
    assert "privileged: true" in body["original_manifest"]
    assert {"type": "added", "content": "      privileged: false"} in body["diff"]
    assert "last-applied-configuration" not in body["fixed_manifest"]


def test_with_an_llm_the_fix_is_its_answer_and_it_saw_no_secret(api):
    with FakeOpenAIServer() as server:
        use_llm(api, server)
        answer_manifest = yaml.safe_load(yaml.safe_dump(PRIVILEGED_POD))
        answer_manifest["metadata"].pop("annotations")
        answer_manifest["spec"]["containers"][0]["securityContext"]["privileged"] = False
        answer_manifest["spec"]["containers"][0]["env"][0]["value"] = "[REDACTED]"
        server.answer = {"fixed_manifest": yaml.safe_dump(answer_manifest),
                         "explanation": "Set privileged to false."}
        status, body = api.call("POST", f"/api/security/findings/{report_finding(api)}/fix")
    assert status == 200, body
    assert (body["is_fallback"], body["explanation"]) == (False, "Set privileged to false.")
    assert (body["provider"], body["model"]) == ("openai", "fake-gpt")
    container = yaml.safe_load(body["fixed_manifest"])["spec"]["containers"][0]
    assert container["securityContext"]["privileged"] is False
    assert container["env"] == [{"name": "API_TOKEN", "value": "s3cr3t-env-value"}]
    sent = json.dumps(server.requests)
    assert "privileged" in sent
    assert not [s for s in SECRETS if s in sent]
    costs = get_container().llm_settings.cost_summary("default")
    assert costs["total_calls"] == 1


def test_when_the_llm_is_down_the_builtin_fix_answers(api):
    with FakeOpenAIServer() as server:
        use_llm(api, server)
        server.fail_next(5, status=500)
        status, body = api.call("POST", f"/api/security/findings/{report_finding(api)}/fix")
    assert status == 200, body
    assert body["is_fallback"] is True and body["provider"] == "builtin"
    assert "could not be used" in body["warnings"][0]
    assert yaml.safe_load(body["fixed_manifest"])["spec"]["containers"][0][
        "securityContext"]["privileged"] is False
    summary = get_container().llm_settings.cost_summary("default")
    assert summary["by_model"][0]["failed_calls"] == 1


def test_an_unknown_finding_is_404(api):
    status, body = api.call("POST", "/api/security/findings/finding-nope/fix")
    assert (status, body["code"]) == (404, "finding_not_found")


# --- admin: LLM settings ---------------------------------------------------------------------
def test_the_llm_config_is_saved_and_its_key_is_never_echoed(api):
    with FakeOpenAIServer(require_key="another-key") as server:
        saved = use_llm(api, server)
        status, state = api.call("GET", "/api/admin/llm/status")
        tested = api.call("POST", "/api/admin/llm/test")[1]
    assert (saved["configured"], saved["provider"], saved["api_key_set"]) == (
        True, "openai", True)
    assert status == 200 and state["source"] == "database" and state["model"] == "fake-gpt"
    assert tested["success"] is False  # the server wants another key, and echoes what it got
    for body in (saved, state, tested):
        assert KEY not in json.dumps(body)


def test_kure_provider_names_map_to_openai_compatible_endpoints(api):
    status, saved = api.call("POST", "/api/admin/llm/config", body={
        "provider": "groq", "api_key": KEY, "model": "llama-3.1-8b-instant"})
    assert status == 200, saved
    assert (saved["provider"], saved["drover_provider"]) == ("groq", "openai")
    assert saved["base_url"] == "https://api.groq.com/openai/v1"
    status, body = api.call("POST", "/api/admin/llm/config",
                            body={"provider": "copilot", "api_key": KEY})
    assert status == 400 and body["detail"].startswith("Invalid provider")


def test_a_saved_config_without_a_key_keeps_the_stored_one_for_the_same_endpoint(api):
    with FakeOpenAIServer(require_key=KEY) as server:
        use_llm(api, server)
        status, saved = api.call("POST", "/api/admin/llm/config", body={
            "provider": "openai", "base_url": server.url, "model": "fake-gpt-mini"})
        assert status == 200 and saved["api_key_set"] is True
        assert api.call("POST", "/api/admin/llm/test")[1]["success"] is True


def test_deleting_the_config_brings_back_the_builtin_rules(api):
    with FakeOpenAIServer() as server:
        use_llm(api, server)
    status, body = api.call("DELETE", "/api/admin/llm/config")
    assert (status, body["message"], body["configured"]) == (
        200, "LLM configuration deleted", False)
    assert api.call("DELETE", "/api/admin/llm/config")[1]["message"] == \
        "No LLM configuration to delete"
    assert api.call("GET", "/api/admin/llm/status")[1]["provider"] == "builtin"


def test_changing_llm_settings_needs_settings_write(api, make_key):
    reader = make_key("settings:read")
    assert api.call("GET", "/api/admin/llm/status", key=reader)[0] == 200
    for method, path in (("POST", "/api/admin/llm/config"), ("POST", "/api/admin/llm/test"),
                         ("DELETE", "/api/admin/llm/config")):
        status, _ = api.call(method, path, key=reader, body={"provider": "openai"})
        assert status == 403, (method, path)
    assert api.call("GET", "/api/admin/llm/status", key=make_key("incidents:read"))[0] == 403
