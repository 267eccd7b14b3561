"""``GET /openapi.json`` and ``GET /docs``: the OpenAPI 3.1 document, generated from the routes'
declarations and pydantic models (never written by hand), and Swagger UI over it."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from chalicelib import __version__
from chalicelib.api.http import Call, endpoint
from chalicelib.api.route_docs import REGISTRY, AnyJson, RouteDoc
from chalicelib.domain.auth import SCOPES

bp = Blueprint(__name__)
PARAM = re.compile(r"{([^}]+)}")
REF = "#/components/schemas/"
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "An API key as `Authorization: Bearer <key>`."},
    "basic": {"type": "http", "scheme": "basic",
              "description": "The API key as the Basic password (Alertmanager basic_auth, "
                             "SNS `https://user:key@host` URLs)."},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "apiToken": {"type": "apiKey", "in": "header", "name": "X-API-Token"},
    "serviceToken": {"type": "apiKey", "in": "header", "name": "X-Service-Token"},
}
WORKSPACE_HEADER = {
    "name": "X-Workspace-Id", "in": "header", "required": False,
    "description": "The workspace to act in (keys bound to one workspace may omit it).",
    # Empty (or blank) is the same as leaving the header out.
    "schema": {"type": "string", "pattern": r"^\s*([A-Za-z0-9][A-Za-z0-9_.-]{0,63})?\s*$"},
}
ERROR_STATUSES = {
    "400": "Malformed input (not JSON, bad parameter).",
    "401": "No valid API key.",
    "403": "The key lacks the scope or workspace.",
    "404": "Unknown object (also another workspace's).",
    "409": "Conflicts with the current state.",
    "413": "Body over 1 MiB.",
    "422": "The body does not match the schema.",
    "429": "Rate limited.",
    "503": "A dependency (cluster, LLM, AWS) is unavailable; retry later.",
    "500": "An unexpected error; it has been logged.",
}


class ErrorBody(BaseModel):
    """Every error answer: a human message, the same message as ``detail``, a machine code."""

    model_config = ConfigDict(extra="allow")

    error: str
    detail: str
    code: str = Field(description="Machine-readable error code, e.g. invalid_payload.")


def all_route_modules() -> list[str]:
    """Every api module of every endpoint group (importing one fills the route registry)."""
    from app import GROUPS  # the entrypoint's map; imported late to avoid a cycle

    return [m for modules in GROUPS.values() for m in modules if ".api." in m]


def build_document(routes: Iterable[RouteDoc], groups: dict[str, str]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``routes``; ``groups`` maps an api module to its group."""
    docs = sorted(set(routes), key=lambda d: (d.path, d.methods))
    schemas = _Schemas(docs)
    paths: dict[str, dict[str, Any]] = {}
    for doc in docs:
        for method in doc.methods:
            paths.setdefault(doc.path, {})[method.lower()] = _operation(
                doc, method, groups.get(doc.module, "admin"), schemas)
    error = {"application/json": {"schema": schemas.ref(ErrorBody)}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Drover", "version": __version__,
                 "description": "Open AI SRE engine for Kubernetes fleets: alert ingestion, "
                                "incidents, diagnosis, remediation, clusters. Scopes: "
                                + ", ".join(SCOPES) + "."},
        "tags": [{"name": g} for g in sorted(set(groups.values()))],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "responses": {status: {"description": text, "content": error}
                          for status, text in ERROR_STATUSES.items()},
            "securitySchemes": SECURITY_SCHEMES},
    }


class _Schemas:
    """The JSON schemas of every model the routes declare, generated together so that two
    models of the same name get distinct component names."""

    def __init__(self, docs: list[RouteDoc]) -> None:
        wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {
            (ErrorBody, "validation"): None}
        for doc in docs:
            if doc.body is not None and doc.body is not AnyJson:
                wanted[(doc.body, "validation")] = None
        self.refs, defs = models_json_schema(list(wanted), ref_template=REF + "{model}")
        self.components: dict[str, Any] = defs.get("$defs", {})

    def ref(self, model: type[BaseModel]) -> dict[str, Any]:
        """The schema (a reference) of a declared model."""
        if model is AnyJson:
            return {"description": "Any JSON document; the route recognises its shape."}
        return self.refs[(model, "validation")]



def _operation(doc: RouteDoc, method: str, group: str, schemas: _Schemas) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}}
        for name in PARAM.findall(doc.path)]
    op: dict[str, Any] = {
        "operationId": f"{method.lower()}_{_slug(doc.path)}",
        "tags": [group], "summary": doc.summary, "responses": _responses(doc)}
    if doc.description:
        op["description"] = doc.description
    if doc.public:
        op["security"] = []
    else:
        op["security"] = [{name: []} for name in SECURITY_SCHEMES]
        params.append(WORKSPACE_HEADER)
        if doc.scope:
            op["x-required-scope"] = doc.scope
    if params:
        op["parameters"] = params
    if doc.body is not None:
        op["requestBody"] = {"required": doc.body_required, "content": {
            "application/json": {"schema": schemas.ref(doc.body)}}}
    return op


def _responses(doc: RouteDoc) -> dict[str, Any]:
    body: dict[str, Any] = {}  # success bodies are not modelled yet: any JSON
    responses: dict[str, Any] = {str(doc.status): {
        "description": "Success.", "content": {
            media: {"schema": body if media == "application/json" else {"type": "string"}}
            for media in doc.media}}}
    if doc.status == HTTPStatus.OK:
        responses["2XX"] = {"description": "Accepted or created.", "content": {
            "application/json": {"schema": {}}}}
    for status in ERROR_STATUSES:
        if not (status in ("401", "403") and doc.public):
            responses[status] = {"$ref": f"#/components/responses/{status}"}
    return responses


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root"


def current_document() -> dict[str, Any]:
    """The document for every route of every group, whichever groups this process serves."""
    from app import GROUPS

    owner = {m: group for group, modules in GROUPS.items() for m in modules}
    for module in all_route_modules():
        importlib.import_module(module)
    return build_document(REGISTRY.values(), owner)


_DOCUMENT: dict[str, Any] = {}


@endpoint(bp, "/openapi.json", public=True)
def openapi_document(call: Call) -> dict[str, Any]:
    """This API's OpenAPI 3.1 document, generated from the routes' pydantic models."""
    if not _DOCUMENT:
        _DOCUMENT.update(current_document())
    return _DOCUMENT


SWAGGER_UI = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drover API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.17.14/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.17.14/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({url: new URL("openapi.json", window.location.href).href,
                             dom_id: "#swagger-ui", persistAuthorization: true});
</script></body></html>
"""


@endpoint(bp, "/docs", public=True, media=("text/html",))
def swagger_ui(call: Call) -> Response:
    """Swagger UI over ``/openapi.json`` (its assets come from the jsDelivr CDN)."""
    return Response(body=SWAGGER_UI, status_code=200,
                    headers={"Content-Type": "text/html; charset=utf-8"})
