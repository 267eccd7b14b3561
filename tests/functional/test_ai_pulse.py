"""Seed 001 (Pulse) AI endpoints: settings that never give the key back, models and provider
tests against an OpenAI-compatible server, execution and investigations that diagnose a
registered cluster and never act on it, cluster analysis, finding investigations, the
workspace's own knowledge, and what the AI has cost."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_kube import FakeKubeServer
from tests.fake_llm import FakeOpenAIServer
from tests.functional.conftest import Api, register_cluster

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "k8s"
OOM = CORPUS / "hg-oomkilled-analytics-exporter.json"
POD = "analytics-exporter-fast-76897854c-cw5wh"
SECRET = "sk-test-4f1c9d2e8b7a6c5d4e3f2a1b"
needs_corpus = pytest.mark.skipif(not OOM.exists(), reason="k8s eval corpus not found")


@pytest.fixture
def oom_cluster(api: Api) -> Iterator[dict[str, Any]]:
    """The OOM case of the eval corpus, registered as cluster ``case``."""
    with FakeKubeServer.from_case_files(OOM) as server:
        registered = register_cluster(api, server, "case")
        yield {**registered, "fake": server}


@pytest.fixture
def llm(api: Api) -> Iterator[FakeOpenAIServer]:
    """A fake OpenAI-compatible server the workspace is pointed at."""
    with FakeOpenAIServer() as server:
        status, body = api.call("PUT", "/api/settings/ai/update", body={
            "provider": "openai", "base_url": server.url, "api_key": SECRET,
            "model": "fake-gpt-mini", "max_retries": 0})
        assert status == 200, body
        yield server


def entry(entry_id: str = "flux-capacitor", **extra: Any) -> dict[str, Any]:
    """A valid workspace knowledge entry."""
    return {"id": entry_id, "title": "Flux capacitor overheated",
            "category": "CrashLoopBackOff-app-error",
            "signatures": [{"channel": "log", "pattern": r"FLUXCAP-\d+ overheated",
                            "weight": 8, "anchor": True}],
            "explanation": "The flux capacitor in {pod} overheated and the process exits.",
            "fix": "Let it cool down: lower the temporal load.", **extra}


# --- settings -------------------------------------------------------------------------------
def test_settings_start_on_the_builtin_engine_and_offer_three_providers(api: Api) -> None:
    status, body = api.call("GET", "/api/settings/ai")
    assert status == 200, body
    assert body["provider"] == "builtin" and body["enabled"] is False
    assert body["api_key_set"] is False
    assert [p["id"] for p in body["providers"]] == ["builtin", "openai", "bedrock"]


def test_an_updated_key_is_never_echoed_nor_stored_in_clear(api: Api) -> None:
    from chalicelib.bootstrap import get_container

    status, body = api.call("PUT", "/api/settings/ai/update", body={
        "provider": "openai", "api_key": SECRET, "base_url": "https://llm.example/v1"})
    assert status == 200, body
    assert body["enabled"] is True and body["api_key_set"] is True
    assert SECRET not in json.dumps(body) and "api_key" not in body
    _, shown = api.call("GET", "/api/settings/ai")
    assert shown["provider"] == "openai" and shown["api_key_set"] is True
    assert SECRET not in json.dumps(shown)
    stored = get_container().workspace_settings.get("default", "llm")
    assert stored and stored.get("sealed_api_key")
    assert SECRET not in json.dumps(stored)


def test_post_also_updates_and_enabled_false_returns_to_the_builtin_engine(api: Api) -> None:
    api.call("PUT", "/api/settings/ai/update", body={"provider": "openai", "api_key": "k"})
    status, body = api.call("POST", "/api/settings/ai/update",
                            body={"enabled": False, "autonomous_mode": True})
    assert status == 200, body
    assert body["provider"] == "builtin" and body["enabled"] is False
    assert body["ignored_fields"] == ["autonomous_mode"]


@pytest.mark.parametrize("change", [
    {"provider": "skynet"},
    {"provider": "openai", "timeout_seconds": -1},
    {"provider": "openai", "base_url": "ftp://llm.example"},
    {"max_retries": "many"},
    {"enabled": True},
])
def test_bad_settings_are_refused_with_422(api: Api, change: dict[str, Any]) -> None:
    status, body = api.call("PUT", "/api/settings/ai/update", body=change)
    assert status == 422, body
    assert body["error"]
    assert api.call("GET", "/api/settings/ai")[1]["provider"] == "builtin"


def test_models_are_listed_live_from_the_provider(api: Api, llm: FakeOpenAIServer) -> None:
    status, body = api.call("GET", "/api/ai/models")
    assert status == 200, body
    assert body["provider"] == "openai"
    assert sorted(m["id"] for m in body["models"]) == ["fake-gpt", "fake-gpt-mini"]


def test_the_provider_test_reaches_the_configured_server(api: Api,
                                                         llm: FakeOpenAIServer) -> None:
    status, body = api.call("POST", "/api/ai/test")
    assert status == 200, body
    assert body["success"] is True and body["provider"] == "openai"
    assert len(llm.requests) == 1


def test_a_rejected_key_is_reported_and_not_echoed(api: Api) -> None:
    with FakeOpenAIServer(require_key="the-right-key") as server:
        api.call("PUT", "/api/settings/ai/update", body={
            "provider": "openai", "base_url": server.url, "api_key": SECRET,
            "max_retries": 0})
        status, body = api.call("POST", "/api/ai/test")
    assert status == 200, body
    assert body["success"] is False and body["status"] == "error"
    assert SECRET not in json.dumps(body)


def test_unsaved_test_settings_that_are_invalid_are_a_422(api: Api) -> None:
    status, body = api.call("POST", "/api/ai/test",
                            body={"provider": "openai", "base_url": "file:///etc/passwd"})
    assert status == 422, body


# --- execute and investigations -------------------------------------------------------------
@needs_corpus
def test_execute_diagnoses_the_named_pod_and_acts_on_nothing(
        api: Api, oom_cluster: dict[str, Any]) -> None:
    status, body = api.call("POST", "/api/ai/execute", body={
        "prompt": "why does this pod keep restarting?", "cluster_id": "case",
        "namespace": "default", "pod": POD})
    assert status == 200, body
    assert body["category"] == "OOMKilled" and body["diagnosis"]["category"] == "OOMKilled"
    assert "Root cause:" in body["response"] and body["content"] == body["response"]
    action = body["suggested_actions"][0]
    assert action["name"] == "set_resources" and action["dry_run"] is True
    assert body["actions_executed"] is False and body["findings"] == []
    server = oom_cluster["fake"]
    assert all(method == "GET" for method, _ in server.requests)


def test_execute_takes_message_too_and_needs_some_prompt(api: Api) -> None:
    status, body = api.call("POST", "/api/ai/execute", body={"message": "pod OOMKilled"})
    assert status == 200, body
    assert body["diagnosis"]["subject"]["kind"] == "Question"
    assert api.call("POST", "/api/ai/execute", body={"prompt": "  "})[0] == 400
    assert api.call("POST", "/api/ai/execute", body={"prompt": "x", "log_limit": 0})[0] == 422


@needs_corpus
def test_an_alert_payload_is_investigated_on_its_cluster(
        api: Api, oom_cluster: dict[str, Any]) -> None:
    status, body = api.call("POST", "/api/ai/investigate-alert", body={
        "title": "KubePodCrashLooping", "message": "Pod keeps restarting",
        "namespace": "default", "resource_type": "pod", "resource_name": POD,
        "cluster": "case"})
    assert status == 200, body
    assert body["category"] == "OOMKilled"
    assert body["diagnosis"]["subject"]["name"] == POD
    assert body["incident_id"] is None and body["actions_executed"] is False


@needs_corpus
def test_an_alert_id_is_investigated_as_its_incident(
        api: Api, oom_cluster: dict[str, Any]) -> None:
    _, posted = api.post_alert({"title": "analytics exporter restarting", "severity": "critical",
                                "cluster": "case", "namespace": "default", "pod": POD},
                               source="webhook")
    incident = posted["incidents"][0]["incident_id"] if "incidents" in posted \
        else posted["incident_id"]
    status, body = api.call("POST", "/api/ai/investigate-alert", body={"alert_id": incident})
    assert status == 200, body
    assert body["incident_id"] == incident and body["diagnosis"]["incident_id"] == incident
    assert body["category"] == "OOMKilled"


def test_an_unknown_alert_is_a_404_and_an_empty_one_a_400(api: Api) -> None:
    status, body = api.call("POST", "/api/ai/investigate-alert", body={"alert_id": "inc-nope"})
    assert status == 404 and body["code"] == "incident_not_found"
    assert api.call("POST", "/api/ai/investigate-alert", body={"namespace": "x"})[0] == 400


@needs_corpus
def test_cluster_analysis_summarizes_findings_and_diagnoses_the_worst(
        api: Api, oom_cluster: dict[str, Any]) -> None:
    cluster_id = oom_cluster["cluster_id"]
    status, body = api.call("POST", "/api/ai/kubernetes/analyze", body={"cluster_id": cluster_id})
    assert status == 200, body
    assert body["cluster_id"] == cluster_id and body["healthy"] is False
    assert body["summary"]["total"] == len(body["findings"]) >= 1
    assert body["top_finding"]["severity"] == "critical"
    assert body["diagnosis"]["category"] == "OOMKilled"
    _, issues = api.call("GET", f"/api/clusters/{cluster_id}/issues")
    analyzer_ids = {i["id"] for i in issues["issues"] if i["source"] == "analyzer"}
    assert {f["id"] for f in body["findings"]} == analyzer_ids


def test_analysis_of_an_unknown_cluster_is_a_404(api: Api) -> None:
    status, body = api.call("POST", "/api/ai/kubernetes/analyze", body={"cluster_id": "nope"})
    assert status == 404 and body["code"] == "cluster_not_found"
    assert api.call("POST", "/api/ai/kubernetes/analyze", body={})[0] == 422


@needs_corpus
def test_a_finding_has_no_investigation_until_one_is_run(
        api: Api, oom_cluster: dict[str, Any]) -> None:
    _, issues = api.call("GET", f"/api/clusters/{oom_cluster['cluster_id']}/issues")
    finding = next(i for i in issues["issues"] if i["source"] == "analyzer" and i["kind"] == "Pod")
    path = f"/api/ai/findings/{finding['id']}"
    status, body = api.call("GET", f"{path}/investigation")
    assert status == 404 and body["code"] == "investigation_not_found"
    status, first = api.call("POST", f"{path}/reinvestigate")
    assert status == 200, first
    assert first["finding_id"] == finding["id"] and first["category"] == "OOMKilled"
    assert first["diagnosis"]["subject"]["name"] == finding["name"]
    assert first["proposed_fix"]["actions"][0]["name"] == "set_resources"
    status, latest = api.call("GET", f"{path}/investigation")
    assert status == 200 and latest["id"] == first["id"]
    _, second = api.call("POST", f"{path}/reinvestigate")
    assert second["id"] != first["id"] and second["investigation_count"] == 2
    assert api.call("GET", f"{path}/investigation")[1]["id"] == second["id"]


def test_reinvestigating_an_unknown_finding_is_a_404(api: Api) -> None:
    status, body = api.call("POST", "/api/ai/findings/issue-0000000000000000/reinvestigate")
    assert status == 404 and body["code"] == "finding_not_found"


# --- cost -----------------------------------------------------------------------------------
def test_cost_counts_llm_calls_and_a_reset_starts_a_new_window(
        api: Api, llm: FakeOpenAIServer) -> None:
    assert api.call("POST", "/api/ai/test")[1]["success"] is True
    status, executed = api.call("POST", "/api/ai/execute", body={"prompt": "pod OOMKilled"})
    assert status == 200 and executed["provider"] == "openai", executed
    status, summary = api.call("GET", "/api/ai/cost/summary?days=7")
    assert status == 200, summary
    assert summary["total_calls"] == 2 == len(llm.requests)
    assert summary["by_model"][0]["model"] == "fake-gpt-mini"
    assert summary["total_input_tokens"] > 0 and summary["last_reset"] is None
    status, reset = api.call("POST", "/api/ai/cost/reset")
    assert status == 200 and reset["success"] is True, reset
    _, after = api.call("GET", "/api/ai/cost/summary")
    assert after["total_calls"] == 0 and after["total_input_tokens"] == 0
    assert after["last_reset"]["by"] == reset["reset_by"] and reset["reset_by"]
    # The records stay for the export.
    _, exported = api.call("GET", "/api/ai/cost/export?format=json")
    assert exported["count"] == 2
    assert {r["use_case"] for r in exported["records"]} == {"test", "execute"}


def test_cost_export_is_csv_by_default(api: Api, llm: FakeOpenAIServer) -> None:
    api.call("POST", "/api/ai/test")
    response = api.client.http.get("/api/ai/cost/export",
                                   headers={"X-API-Key": "drv_functional-admin-key"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    lines = response.body.decode().strip().splitlines()
    assert lines[0].startswith("at,provider,model,use_case") and len(lines) == 2
    assert ",openai,fake-gpt-mini,test," in lines[1]


@pytest.mark.parametrize("query", ["days=0", "days=366", "days=x"])
def test_cost_summary_days_are_bounded(api: Api, query: str) -> None:
    assert api.call("GET", f"/api/ai/cost/summary?{query}")[0] == 400


def test_cost_export_refuses_an_unknown_format(api: Api) -> None:
    assert api.call("GET", "/api/ai/cost/export?format=xml")[0] == 400


# --- knowledge ------------------------------------------------------------------------------
def test_knowledge_round_trips_through_save_list_export_import_and_clear(api: Api) -> None:
    status, saved = api.call("POST", "/api/ai/knowledge/save",
                             body=entry("flux-a", guest_id="pod-a"))
    assert status == 200 and saved["created"] is True, saved
    assert saved["entry"]["source"] == "workspace" and saved["entry"]["guest_id"] == "pod-a"
    api.call("POST", "/api/ai/knowledge/save", body=entry("flux-b", guest_id="pod-b"))
    assert api.call("GET", "/api/ai/knowledge")[1]["count"] == 2
    _, one = api.call("GET", "/api/ai/knowledge?guest_id=pod-a")
    assert [e["id"] for e in one["entries"]] == ["flux-a"]
    _, exported = api.call("GET", "/api/ai/knowledge/export")
    assert exported["version"] == 1 and len(exported["entries"]) == 2
    status, cleared = api.call("POST", "/api/ai/knowledge/clear", body={"guest_id": "pod-a"})
    assert status == 200 and cleared["deleted"] == 1
    status, imported = api.call("POST", "/api/ai/knowledge/import", body=exported)
    assert status == 200, imported
    assert (imported["imported"], imported["created"], imported["updated"]) == (2, 1, 1)
    assert api.call("POST", "/api/ai/knowledge/delete", body={"id": "flux-a"})[0] == 200
    status, gone = api.call("POST", "/api/ai/knowledge/delete", body={"id": "flux-a"})
    assert status == 404 and gone["code"] == "knowledge_not_found"
    assert api.call("POST", "/api/ai/knowledge/clear")[1]["deleted"] == 1
    assert api.call("GET", "/api/ai/knowledge")[1]["entries"] == []


def test_a_pattern_that_does_not_compile_is_a_422(api: Api) -> None:
    bad = entry(signatures=[{"channel": "log", "pattern": "(unclosed", "anchor": True}])
    status, body = api.call("POST", "/api/ai/knowledge/save", body=bad)
    assert status == 422 and "does not compile" in body["error"]


def test_an_action_off_the_allowlist_is_a_422(api: Api) -> None:
    status, body = api.call("POST", "/api/ai/knowledge/save",
                            body=entry(actions=[{"name": "exec_shell", "arguments": {}}]))
    assert status == 422 and body["code"] == "unknown_action"
    status, body = api.call("POST", "/api/ai/knowledge/save", body=entry(actions=[
        {"name": "restart_pod", "arguments": {"namespace": "{namespace}", "command": "rm"}}]))
    assert status == 422 and body["code"] == "unknown_action_argument"


def test_a_shipped_entry_cannot_be_shadowed_or_deleted(api: Api) -> None:
    status, body = api.call("POST", "/api/ai/knowledge/save", body=entry("oom-killed"))
    assert status == 409 and body["code"] == "builtin_knowledge_id"
    status, body = api.call("POST", "/api/ai/knowledge/import",
                            body={"version": 1, "entries": [entry("oom-killed")]})
    assert status == 409 and "oom-killed" in body["error"]
    assert api.call("POST", "/api/ai/knowledge/delete", body={"id": "oom-killed"})[0] == 409


def test_an_import_with_one_bad_entry_stores_nothing(api: Api) -> None:
    bad = entry("flux-bad", signatures=[{"pattern": "[z-a]", "anchor": True}])
    status, body = api.call("POST", "/api/ai/knowledge/import",
                            body={"version": 1, "entries": [entry("flux-good"), bad]})
    assert status == 422 and "#2 ('flux-bad')" in body["error"], body
    assert api.call("GET", "/api/ai/knowledge")[1]["count"] == 0
    many = [entry(f"flux-{i}") for i in range(201)]
    status, body = api.call("POST", "/api/ai/knowledge/import", body={"entries": many})
    assert status == 422 and body["code"] == "too_many_entries"
    twice = {"entries": [entry("flux-x"), entry("flux-x")]}
    assert api.call("POST", "/api/ai/knowledge/import", body=twice)[0] == 422


@needs_corpus
def test_a_saved_entry_changes_the_diagnosis_of_a_matching_failure(api: Api) -> None:
    case = copy.deepcopy(json.loads(OOM.read_text()))
    case["logs"] = {f"{POD}/memory-eater": "starting exporter\nFLUXCAP-88 overheated"}
    ask = {"prompt": "what is wrong?", "cluster_id": "flux", "namespace": "default", "pod": POD}
    with FakeKubeServer.from_cases(case) as server:
        register_cluster(api, server, "flux")
        assert api.call("POST", "/api/ai/execute", body=ask)[1]["category"] == "OOMKilled"
        saved = entry("flux-overheat", supersedes=["oom-killed"])
        assert api.call("POST", "/api/ai/knowledge/save", body=saved)[0] == 200
        status, body = api.call("POST", "/api/ai/execute", body=ask)
    assert status == 200, body
    assert body["category"] == "CrashLoopBackOff-app-error"
    assert body["diagnosis"]["knowledge_ids"] == ["flux-overheat"]
    assert POD in body["diagnosis"]["root_cause"]


# --- scopes ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "body"), [
    ("PUT", "/api/settings/ai/update", {"provider": "builtin"}),
    ("GET", "/api/settings/ai", None),
    ("POST", "/api/ai/test", {}),
    ("POST", "/api/ai/execute", {"prompt": "x"}),
    ("POST", "/api/ai/knowledge/save", entry()),
    ("POST", "/api/ai/cost/reset", {}),
    ("GET", "/api/ai/cost/summary", None),
])
def test_a_read_only_incidents_key_is_refused(api: Api, make_key: Callable[..., str],
                                              method: str, path: str, body: Any) -> None:
    key = make_key("incidents:read")
    status, answer = api.call(method, path, body=body, key=key)
    assert status == 403, answer


def test_a_settings_reader_can_read_but_not_change_settings(
        api: Api, make_key: Callable[..., str]) -> None:
    key = make_key("settings:read")
    assert api.call("GET", "/api/settings/ai", key=key)[0] == 200
    assert api.call("GET", "/api/ai/knowledge", key=key)[0] == 200
    assert api.call("PUT", "/api/settings/ai/update", key=key,
                    body={"provider": "builtin"})[0] == 403


def test_an_incidents_reader_can_read_investigations(api: Api,
                                                     make_key: Callable[..., str]) -> None:
    key = make_key("incidents:read")
    status, _ = api.call("GET", "/api/ai/findings/issue-0000000000000000/investigation", key=key)
    assert status == 404
    assert api.call("POST", "/api/ai/findings/issue-0/reinvestigate", key=key)[0] == 403
