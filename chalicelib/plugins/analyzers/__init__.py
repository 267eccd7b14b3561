"""Analyzers: one per Kubernetes kind or failure family (k8sgpt-style), in an explicit registry.

Each module declares ``NAME`` and ``analyze(index) -> list[Finding]``; it reads only the
snapshot index, never the network, so the whole set runs over a stored snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from chalicelib.domain.kube import Finding, Snapshot, SnapshotIndex
from chalicelib.plugins.analyzers import (
    control_plane,
    ingress,
    job,
    logs,
    networkpolicy,
    node,
    pod,
    service,
    storage,
    workload,
)

Analyze = Callable[[SnapshotIndex], list[Finding]]
_MODULES: tuple[ModuleType, ...] = (pod, workload, job, node, storage, service, ingress,
                                    networkpolicy, control_plane, logs)
ANALYZERS: dict[str, Analyze] = {m.NAME: m.analyze for m in _MODULES}
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def analyze(snapshot: Snapshot, only: tuple[str, ...] | None = None) -> list[Finding]:
    """Run every analyzer (or those named in ``only``) over a snapshot; the most severe
    findings first, then by namespace and name, so the order is stable."""
    index = SnapshotIndex(snapshot)
    found: list[Finding] = []
    for name, run in ANALYZERS.items():
        if only is None or name in only:
            found.extend(run(index))
    found.sort(key=lambda f: (SEVERITY_ORDER.get(f.severity, 3), f.namespace or "", f.kind,
                              f.name, f.reason))
    return found
