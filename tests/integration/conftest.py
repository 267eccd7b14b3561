"""Fixtures of the integration tests: a fresh fake demo cluster and Drover's adapter on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.adapters.kubernetes_api import KubernetesClusterClient
from tests.fake_kube import DEMO_CASE, FakeKubeServer
from tests.fake_kube.testing import TOKEN, connect


@pytest.fixture
def server() -> Iterator[FakeKubeServer]:
    """A fresh demo cluster per test (writes change it)."""
    with FakeKubeServer.from_case_files(DEMO_CASE, token=TOKEN) as fake:
        yield fake


@pytest.fixture
def kube(server: FakeKubeServer) -> KubernetesClusterClient:
    """Drover's adapter on the fake server."""
    return connect(server)
