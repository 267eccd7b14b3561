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


@dataclass
class FakeCluster:
    """A fake API server registered as a cluster through the API."""

    server: Any
    name: str
    registered: dict[str, Any]

    @property
    def cluster_id(self) -> str:
        """The id Drover gave the cluster."""
        return str(self.registered["cluster_id"])


def register_cluster(api: Api, server: Any, name: str, **extra: Any) -> dict[str, Any]:
    """Register a started fake API server as a cluster; returns the 201 body."""
    body = {"name": name, "server": server.url, "auth_type": "bearer_token",
            "token": server.token, **extra}
    status, registered = api.call("POST", "/v1/api/clusters", body=body)
    assert status == 201, registered
    return dict(registered)


@pytest.fixture
def demo_cluster(api: Api) -> Iterator[FakeCluster]:
    """The fake API server with the demo case, registered as cluster ``demo``."""
    from tests.fake_kube import DEMO_CASE, FakeKubeServer

    server = FakeKubeServer.from_case_files(DEMO_CASE)
    server.start()
    try:
        yield FakeCluster(server, "demo", register_cluster(api, server, "demo"))
    finally:
        server.stop()
