"""``GET /openapi.json`` and ``GET /docs`` through the API."""

from __future__ import annotations


def test_the_document_is_served_without_a_key_and_lists_every_group(api):
    status, body = api.call("GET", "/openapi.json", key=None)
    assert status == 200
    assert body["openapi"] == "3.1.0"
    assert {t["name"] for t in body["tags"]} == {
        "ingest", "incidents", "diagnosis", "clusters", "admin", "remediation"}
    assert body["paths"]["/webhook"]["post"]["tags"] == ["ingest"]


def test_swagger_ui_is_served_over_the_document(api):
    response = api.client.http.get("/docs")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.body.decode()
    assert "SwaggerUIBundle" in page and '"openapi.json"' in page
