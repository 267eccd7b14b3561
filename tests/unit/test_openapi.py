"""The OpenAPI document is generated from the routes themselves: every route is in it, with
the pydantic model of its body, and nothing else is."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

import app
from chalicelib.api.openapi import build_document, current_document
from chalicelib.api.route_docs import REGISTRY

# Mutating routes that take no body (the path and query say everything).
BODILESS = {
    ("POST", "/api/ai/approvals/{id}/approve"), ("POST", "/api/ai/cost/reset"),
    ("POST", "/api/ai/findings/{finding_id}/reinvestigate"),
    ("POST", "/api/alerts/{alert_id}/acknowledge"), ("POST", "/api/alerts/{alert_id}/clear"),
    ("POST", "/api/alerts/{alert_id}/unacknowledge"), ("POST", "/api/mirror/preview/{pod_id}"),
    ("POST", "/api/pods/failed/{pod_id}/retry-solution"),
    ("PUT", "/api/pods/ignored/{pod_id}/restore"),
    ("POST", "/api/security/findings/{finding_id}/fix"), ("POST", "/api/security/scan/clear"),
    ("POST", "/api/support-bundle"), ("POST", "/autonomy/run"),
    ("POST", "/incidents/{incident_id}/postmortem"),
    ("POST", "/incidents/{incident_id}/runbooks/{runbook_id}/execute"),
    ("PUT", "/v1/api/clusters/{name}/default"), ("POST", "/v1/api/clusters/{name}/refresh"),
    ("POST", "/v1/api/clusters/{name}/test"),
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return current_document()


def operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}


def served() -> set[tuple[str, str]]:
    return {(method, path) for path, methods in app.app.routes.items() for method in methods}


def test_every_route_the_app_serves_is_in_the_document_and_nothing_else(document):
    assert len(served()) > 150
    assert operations(document) == served()


def test_a_route_left_out_of_the_document_is_noticed():
    some = [doc for doc in REGISTRY.values() if doc.path != "/incidents"]
    partial = build_document(some, {})
    assert served() - operations(partial) == {("GET", "/incidents")}


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_mutating_route_declares_its_body_model_unless_it_takes_none(document):
    without = {(method.upper(), path) for path, ops in document["paths"].items()
               for method, op in ops.items()
               if method in ("post", "put", "patch") and "requestBody" not in op}
    assert without == BODILESS


def test_bodies_are_the_pydantic_models_the_routes_validate_with(document):
    op = document["paths"]["/actions/execute"]["post"]
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert schema["required"] == ["action"]
    assert "restart_pod" in schema["properties"]["action"]["enum"]
    assert schema["properties"]["dry_run"] == {"default": True, "title": "Dry Run",
                                               "type": "boolean"}


def test_protected_routes_name_their_scope_and_every_key_scheme(document):
    op = document["paths"]["/incidents/{incident_id}"]["get"]
    assert op["x-required-scope"] == "incidents:read"
    assert {name for alt in op["security"] for name in alt} == {
        "bearer", "basic", "apiKey", "apiToken", "serviceToken"}
    assert op["parameters"][0] == {"name": "incident_id", "in": "path", "required": True,
                                   "schema": {"type": "string", "minLength": 1,
                                              "pattern": "^[^/]+$"}}
    assert document["paths"]["/health"]["get"]["security"] == []


def test_errors_share_one_documented_shape(document):
    responses = document["paths"]["/webhook"]["post"]["responses"]
    assert responses["422"] == {"$ref": "#/components/responses/422"}
    error = document["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"error", "detail", "code"}


def test_two_models_with_one_name_get_distinct_schemas(document):
    names = [n for n in document["components"]["schemas"] if n.endswith("__ExecuteRequest")]
    assert len(names) == 2
