"""Every route but the public ones needs a valid key with the right scope."""

from __future__ import annotations

import pytest

from tests.conftest import load_event

# (method, path, body, scope that grants it)
PROTECTED = [
    ("POST", "/webhook", load_event("generic_high_cpu.json"), "ingest"),
    ("GET", "/incidents", None, "incidents:read"),
    ("GET", "/incidents/inc-missing", None, "incidents:read"),
    ("GET", "/incidents/inc-missing/timeline", None, "incidents:read"),
    ("GET", "/api/security/tokens", None, "settings:read"),
    ("POST", "/api/security/tokens", {"name": "x", "scopes": ["settings:write"]},
     "settings:write"),
    ("DELETE", "/api/security/tokens/tok-missing", None, "settings:write"),
]
SCOPES = ["incidents:read", "incidents:write", "ingest", "actions:execute", "settings:read",
          "settings:write"]


@pytest.mark.parametrize(("method", "path", "body", "_scope"), PROTECTED)
def test_no_key_is_401_in_the_error_shape(api, method, path, body, _scope):
    status, answer = api.call(method, path, key=None, body=body)
    assert status == 401
    assert set(answer) >= {"error", "detail", "code"}


@pytest.mark.parametrize(("method", "path", "body", "_scope"), PROTECTED)
def test_an_unknown_key_is_401(api, method, path, body, _scope):
    status, answer = api.call(method, path, key="drv_not-a-real-key", body=body)
    assert (status, answer["code"]) == (401, "invalid_api_key")


@pytest.mark.parametrize(("method", "path", "body", "scope"), PROTECTED)
def test_each_route_is_403_without_its_scope_and_allowed_with_it(api, make_key, method, path,
                                                                 body, scope):
    for other in (s for s in SCOPES if s != scope):
        status, answer = api.call(method, path, key=make_key(other), body=body)
        assert status == 403, (other, answer)
        assert answer["code"] == "missing_scope"
        assert answer["error"] and answer["detail"]
    status, _ = api.call(method, path, key=make_key(scope), body=body)
    assert status not in (401, 403)


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key", "X-API-Token",
                                    "X-Service-Token"])
def test_a_key_works_in_every_documented_header(api, make_key, header):
    key = make_key("incidents:read")
    value = f"Bearer {key}" if header == "Authorization" else key
    status, _ = api.call("GET", "/incidents", key=None, headers={header: value})
    assert status == 200


@pytest.mark.parametrize("path", ["/health", "/api/health", "/api/version"])
def test_health_and_version_are_public(api, path):
    status, body = api.call("GET", path, key=None)
    assert status == 200
    assert body["version"] == "0.1.0"


def test_health_answers_seed_000_and_004_together(api):
    _, body = api.call("GET", "/health", key=None)
    assert body["status"] == "ok"
    assert set(body) >= {"status", "version", "uptime_seconds", "timestamp"}
    assert body["timestamp"].endswith("Z")


def test_a_token_is_shown_once_listed_without_secrets_and_revocable(api):
    status, created = api.call("POST", "/api/security/tokens",
                               body={"name": "ci", "scopes": ["ingest"]})
    assert status == 201
    raw = created["token"]
    assert raw.startswith("drv_")
    _, listing = api.call("GET", "/api/security/tokens")
    entry = next(t for t in listing["tokens"] if t["id"] == created["id"])
    assert entry["scopes"] == ["ingest"]
    assert raw not in str(listing)
    assert "key_hash" not in entry
    assert api.post_alert(load_event("generic_high_cpu.json"), "webhook", key=raw)[0] == 200
    status, _ = api.call("DELETE", f"/api/security/tokens/{created['id']}")
    assert status == 200
    assert api.post_alert(load_event("generic_high_cpu.json"), "webhook", key=raw)[0] == 401


def test_a_key_cannot_mint_a_key_with_more_power_than_it_has(api, make_key):
    key = make_key("settings:write")
    status, body = api.call("POST", "/api/security/tokens", key=key,
                            body={"name": "escalate", "scopes": ["admin"]})
    assert (status, body["code"]) == (403, "scope_escalation")


@pytest.mark.parametrize(("body", "code"), [
    ({"name": "x", "scopes": ["monitoring:read"]}, "unknown_scope"),
    ({"name": "x", "scopes": []}, "missing_scope"),
    ({"name": "", "scopes": ["ingest"]}, "bad_name"),
    ({"scopes": ["ingest"]}, "bad_name"),
    ({"name": "x", "scopes": "ingest"}, "bad_scopes"),
])
def test_bad_token_requests_are_400_and_create_nothing(api, body, code):
    _, before = api.call("GET", "/api/security/tokens")
    status, answer = api.call("POST", "/api/security/tokens", body=body)
    assert (status, answer["code"]) == (400, code)
    _, after = api.call("GET", "/api/security/tokens")
    assert after["count"] == before["count"]


def test_another_workspaces_token_cannot_be_revoked(api, make_key):
    _, created = api.call("POST", "/api/security/tokens", body={"name": "a", "scopes": ["ingest"]},
                          headers={"X-Workspace-Id": "ws-a"})
    other_admin = make_key("settings:write", "ingest", workspace="ws-b")
    status, _ = api.call("DELETE", f"/api/security/tokens/{created['id']}", key=other_admin)
    assert status == 404


def test_a_key_cannot_revoke_a_more_powerful_key(api, make_key):
    _, admin = api.call("POST", "/api/security/tokens", body={"name": "a", "scopes": ["admin"]})
    weaker = make_key("settings:write")
    status, body = api.call("DELETE", f"/api/security/tokens/{admin['id']}", key=weaker)
    assert (status, body["code"]) == (403, "scope_escalation")
