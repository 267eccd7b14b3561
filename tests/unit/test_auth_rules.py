"""Who may do what: scopes, workspaces and how keys are presented."""

from __future__ import annotations

import pytest

from chalicelib.api.http import presented_key
from chalicelib.domain.auth import Principal, hash_key, same_hash, validate_scopes
from chalicelib.domain.errors import BadRequest, Forbidden


def principal(*scopes: str, workspace: str = "*") -> Principal:
    return Principal(key_id="tok-1", name="t", scopes=frozenset(scopes), workspace_id=workspace)


def test_admin_holds_every_scope():
    assert principal("admin").has("actions:execute")


def test_a_missing_scope_is_forbidden_and_names_the_scope():
    with pytest.raises(Forbidden) as err:
        principal("incidents:read").require("ingest")
    assert err.value.extra["required_scope"] == "ingest"


def test_a_workspace_key_acts_in_its_workspace_by_default_and_nowhere_else():
    key = principal("ingest", workspace="ws-a")
    assert key.resolve_workspace(None, "default") == "ws-a"
    assert key.resolve_workspace("ws-a", "default") == "ws-a"
    with pytest.raises(Forbidden):
        key.resolve_workspace("ws-b", "default")


def test_an_all_workspaces_key_uses_the_requested_or_default_workspace():
    key = principal("admin")
    assert key.resolve_workspace(None, "default") == "default"
    assert key.resolve_workspace("ws-b", "default") == "ws-b"


@pytest.mark.parametrize("bad", ["", "-lead", "has space", "x" * 65, "semi;colon"])
def test_malformed_workspace_ids_are_rejected(bad: str):
    with pytest.raises(BadRequest):
        principal("admin").resolve_workspace(bad or " ", "default")


def test_keys_can_only_grant_scopes_they_hold():
    assert principal("settings:write", "ingest").can_grant(["ingest"])
    assert not principal("settings:write").can_grant(["admin"])


def test_unknown_scopes_are_refused_with_the_valid_list():
    with pytest.raises(BadRequest) as err:
        validate_scopes(["monitoring:read"])
    assert "incidents:read" in err.value.message


def test_hashes_compare_equal_only_for_the_same_key():
    assert same_hash(hash_key("a"), hash_key("a"))
    assert not same_hash(hash_key("a"), hash_key("b"))


@pytest.mark.parametrize("headers", [
    {"authorization": "Bearer k1"}, {"authorization": "bearer k1"}, {"x-api-key": "k1"},
    {"x-api-token": "k1"}, {"x-service-token": "k1"},
])
def test_a_key_is_accepted_in_any_documented_header(headers: dict[str, str]):
    assert presented_key(headers) == "k1"


def test_basic_auth_carries_the_key_as_its_password_or_user_name():
    # Alertmanager basic_auth and SNS https://user:key@host subscriptions send Basic.
    assert presented_key({"authorization": "Basic dXNlcjpwYXNz"}) == "pass"  # user:pass
    assert presented_key({"authorization": "Basic azE6"}) == "k1"  # "k1:"
    assert presented_key({"authorization": "Basic !!notbase64"}) is None


def test_a_key_in_the_query_string_is_accepted_for_senders_without_headers():
    assert presented_key({}, {"api_key": "k1"}) == "k1"
    assert presented_key({"x-api-key": "k2"}, {"api_key": "k1"}) == "k2"
