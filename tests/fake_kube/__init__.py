"""A fake Kubernetes API server for tests: the real REST paths, Status errors, selectors,
pagination, logs, TLS and fault injection, loaded from eval-format case files; write verbs
(patch, delete, create, eviction, scale, dryRun=All) and a tiny controller simulation so
remediations can be verified end to end."""

from __future__ import annotations

from tests.fake_kube.server import DEMO_CASE, FakeKubeServer, start_demo

__all__ = ["DEMO_CASE", "FakeKubeServer", "start_demo"]
