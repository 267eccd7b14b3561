"""What every action plugin shares: the context it acts through, previews (a server-side
dry run and the diff it implies), results, verification, and small helpers."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.cluster_ports import ClusterClient
from chalicelib.domain.kube import Obj, ResourceKind, resource_kind
from chalicelib.domain.remediation_ports import ClusterWriter

# What rollback returns: what it did, or None when there is nothing to undo.
Undo = dict[str, Any] | None
# Fields that change on every write and say nothing about what an action does.
NOISE = ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp",
         "selfLink")


@dataclass
class ActionContext:
    """A cluster to act on, with its limits, and a clock tests can speed up."""

    reader: ClusterClient
    writer: ClusterWriter
    limits: dict[str, Any] = field(default_factory=dict)
    verify_timeout_seconds: float = 60.0
    poll_seconds: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic


@dataclass
class Preview:
    """What a dry run said would happen."""

    message: str
    diff: list[dict[str, Any]] = field(default_factory=list)
    target: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verification:
    """Whether an executed action did what it should, and why."""

    verified: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def kind(plural: str) -> ResourceKind:
    """A resource kind by plural name (the action modules use only known ones)."""
    found = resource_kind(plural)
    assert found is not None, plural
    return found


def diff(before: Obj, after: Obj, path: str = "") -> list[dict[str, Any]]:
    """Changed leaves between two objects, as ``{path, before, after}`` (status and
    bookkeeping fields left out)."""
    changes: list[dict[str, Any]] = []
    if isinstance(before, dict) and after is None:
        after = {}
    if isinstance(after, dict) and before is None:
        before = {}
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            if key in NOISE or (not path and key == "status"):
                continue
            changes += diff(before.get(key), after.get(key), f"{path}.{key}" if path else key)
        return changes
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            changes += diff(b, a, f"{path}[{i}]")
        return changes
    if before != after:
        changes.append({"path": path, "before": before, "after": after})
    return changes


def wait_until(ctx: ActionContext, check: Callable[[], Verification]) -> Verification:
    """Poll ``check`` until it verifies or the context's timeout passes."""
    deadline = ctx.monotonic() + ctx.verify_timeout_seconds
    result = check()
    while not result.verified and (left := deadline - ctx.monotonic()) > 0:
        ctx.sleep(min(ctx.poll_seconds, left))
        result = check()
    return result


def pod_ready(pod: Obj) -> bool:
    """Running with every container ready."""
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    return status.get("phase") == "Running" and bool(statuses) and all(
        c.get("ready") for c in statuses)
