"""Fixtures for functional tests: the Chalice app through chalice.test.Client on moto."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client

ADMIN_KEY = "drv_functional-admin-key"


@dataclass
class Api:
    """A thin HTTP helper over chalice.test.Client that speaks JSON."""

    client: Client

    def call(self, method: str, path: str, *, key: str | None = ADMIN_KEY,
             body: Any = None, raw: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """Send a request; return the status and the decoded JSON body."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            sent.setdefault("X-API-Key", key)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        response = self.client.http.request(method, path, headers=sent, body=data or b"")
        text = response.body.decode() if response.body else ""
        return response.status_code, (json.loads(text) if text else None)

    def post_alert(self, payload: Any, source: str = "alertmanager",
                   key: str = ADMIN_KEY, **headers: str) -> tuple[int, Any]:
        """POST a payload to /webhook with X-Source."""
        return self.call("POST", "/webhook", key=key, body=payload,
                         headers={"X-Source": source, **headers})


@pytest.fixture
def api(aws: None) -> Iterator[Api]:
    """The app on moto, with a bootstrap admin key."""
    import app as app_module
    from chalicelib.bootstrap import get_container

    get_container().keys.ensure_bootstrap(ADMIN_KEY)
    with Client(app_module.app) as client:
        yield Api(client)


@pytest.fixture
def make_key(api: Api) -> Callable[..., str]:
    """Create an API key with the given scopes (and workspace) through the API."""

    def create(*scopes: str, workspace: str = "default") -> str:
        status, body = api.call("POST", "/api/security/tokens",
                                body={"name": f"test-{'-'.join(scopes)}", "scopes": list(scopes)},
                                headers={"X-Workspace-Id": workspace})
        assert status == 201, body
        return str(body["token"])

    return create
