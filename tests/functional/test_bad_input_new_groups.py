"""Every POST/PUT/PATCH/DELETE route of the diagnosis and remediation groups answers bad input
(not JSON, the wrong JSON type, an empty object) with a clear 4xx in the API's error shape,
and changes no action, run or plan."""

from __future__ import annotations

import re

import pytest

from tests.functional.conftest import Api

GROUP_MODULES = ("chalicelib.api.diagnosis", "chalicelib.api.ai_pulse", "chalicelib.api.ai_kure",
                 "chalicelib.api.actions", "chalicelib.api.remediation_flows",
                 "chalicelib.api.remediation_pulse", "chalicelib.api.mirrors")


def mutating_routes() -> list[tuple[str, str]]:
    """The mutating routes the app registered from these groups' modules."""
    import app as app_module

    found = []
    for path, methods in app_module.app.routes.items():
        for method, entry in methods.items():
            if method in ("POST", "PUT", "PATCH", "DELETE") and \
                    entry.view_function.__module__ in GROUP_MODULES:
                found.append((method, re.sub(r"\{[^}]+\}", "x-1", path)))
    return sorted(found)


ROUTES = mutating_routes()


def test_the_probe_sees_the_routes() -> None:
    assert ("POST", "/actions/execute") in ROUTES and ("POST", "/api/diagnose") in ROUTES


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"{}"], ids=["not-json", "list", "empty"])
def test_bad_input_gets_a_clear_4xx_and_writes_nothing(api: Api, method: str, path: str,
                                                       raw: bytes) -> None:
    from chalicelib.bootstrap import get_container

    status, body = api.call(method, path, raw=raw)
    assert status < 500, (status, body)
    if status >= 400:
        assert body["error"] and body["code"], body
    assert get_container().action_store.list("default") == []
