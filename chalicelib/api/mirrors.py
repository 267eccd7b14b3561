"""Endpoint group ``remediation``: seed 002 (Kure) mirror pods: deploy the fixed copy of a
failing pod's workload for a limited time, read its status live, delete it, list the
active ones, and the TTL setting.

Deploying and deleting need ``actions:execute``; the TTL setting ``settings:write``. Both
are audited by the endpoint layer and land on the pod failure's timeline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import Call, endpoint
from chalicelib.api.remediation_pulse import EXECUTE, READ, actor
from chalicelib.bootstrap import get_container
from chalicelib.domain.clock import utcnow
from chalicelib.domain.kube import Obj
from chalicelib.domain.validation import parse_body
from chalicelib.plugins.actions._base import pod_ready
from chalicelib.services.mirrors import LiveMirror, MirrorRecord

bp = Blueprint(__name__)
SETTINGS_READ = "settings:read"
SETTINGS_WRITE = "settings:write"


# --- shapes ----------------------------------------------------------------------------------
def record_view(record: MirrorRecord) -> dict[str, Any]:
    """A mirror from its record (nothing read from the cluster)."""
    left = (datetime.fromisoformat(record.expires_at) - utcnow()).total_seconds()
    return {"mirror_id": record.id, "id": record.id, "pod_failure_id": record.pod_failure_id,
            "mirror_name": record.name, "mirror_pod_name": record.pod_name or record.name,
            "kind": record.kind, "namespace": record.namespace,
            "cluster": record.cluster_name, "cluster_id": record.cluster_id,
            "source": record.source, "diagnosis_id": record.diagnosis_id,
            "ttl_seconds": record.ttl_seconds, "created_at": record.created_at,
            "created_by": record.created_by, "expires_at": record.expires_at,
            "expires_in_seconds": max(0, int(left)) if record.state == "active" else 0,
            "state": record.state, "status": record.state.capitalize(),
            "ended_at": record.ended_at, "ended_by": record.ended_by, "note": record.note}


def pod_summary(pod: Obj) -> dict[str, Any]:
    """A pod as a mirror's status shows it: phase, readiness, restarts, why not ready."""
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    states = [s for c in containers for s in ((c.get("state") or {}).get("waiting"),
                                             (c.get("state") or {}).get("terminated")) if s]
    unscheduled = next((c for c in status.get("conditions") or []
                        if c.get("type") == "PodScheduled" and c.get("status") == "False"), {})
    why = states[0] if states else unscheduled
    return {"name": (pod.get("metadata") or {}).get("name"),
            "phase": status.get("phase", "Unknown"), "ready": pod_ready(pod),
            "restarts": sum(int(c.get("restartCount") or 0) for c in containers),
            "reason": why.get("reason") or status.get("reason"),
            "message": why.get("message") or status.get("message"),
            "node": (pod.get("spec") or {}).get("nodeName")}


def live_view(live: LiveMirror) -> dict[str, Any]:
    """A mirror with its workload and pods as the cluster reports them now."""
    record, body = live.record, record_view(live.record)
    if record.state != "active":
        return body
    if live.gone:
        return {**body, "status": "NotFound", "ready": False, "pods": [],
                "message": f"{record.kind} {record.name} is no longer on the cluster"}
    pods = [pod_summary(p) for p in live.pods]
    spec = (live.workload or {}).get("spec") or {}
    desired = 1 if record.kind in ("Pod", "Job") else int(spec.get("replicas", 1))
    ready = sum(1 for p in pods if p["ready"])
    waiting = next((p for p in pods if not p["ready"]), None)
    status = "Running" if pods and ready >= max(desired, 1) else \
        str(waiting["reason"] or waiting["phase"]) if waiting else "Pending"
    return {**body, "status": status, "ready": status == "Running", "pods": pods,
            "mirror_pod_name": pods[0]["name"] if pods else body["mirror_pod_name"],
            "replicas": {"desired": desired, "ready": ready,
                         "available": ((live.workload or {}).get("status") or {}).get(
                             "availableReplicas", ready)}}


# --- mirrors ---------------------------------------------------------------------------------
class Deploy(BaseModel):
    """``POST /api/mirror/deploy/{pod_id}``: a TTL and an optional manifest override."""

    model_config = ConfigDict(extra="ignore")

    ttl_seconds: int | None = Field(default=None, strict=True)
    manifest: str | None = Field(default=None, max_length=200_000)


@endpoint(bp, "/api/mirror/deploy/{pod_id}", methods=("POST",), scope=EXECUTE,
          body=Deploy, body_required=False)
def deploy(call: Call, pod_id: str) -> dict[str, Any]:
    """Deploy the fixed copy of a failing pod's workload (its preview, or the manifest
    sent) beside the original, until its TTL passes."""
    req = parse_body(Deploy, call.optional_object(), "mirror deployment")
    live = get_container().mirrors.deploy(call.workspace_id, actor(call), pod_id[:100],
                                          ttl_seconds=req.ttl_seconds, manifest=req.manifest)
    return {**live_view(live), "fixed_manifest": live.fixed_manifest,
            "explanation": live.explanation, "changes": live.record.changes}


@endpoint(bp, "/api/mirror/status/{mirror_id}", scope=READ)
def status(call: Call, mirror_id: str) -> dict[str, Any]:
    """A mirror with its workload and pods read live from the cluster."""
    return live_view(get_container().mirrors.status(call.workspace_id, mirror_id))


@endpoint(bp, "/api/mirror/active", scope=READ)
def active(call: Call) -> dict[str, Any]:
    """The mirrors that have not expired, newest first."""
    mirrors = [record_view(r) for r in get_container().mirrors.active(call.workspace_id)]
    return {"mirrors": mirrors, "count": len(mirrors)}


@endpoint(bp, "/api/mirror/{mirror_id}", methods=("DELETE",), scope=EXECUTE)
def delete(call: Call, mirror_id: str) -> dict[str, Any]:
    """Delete a mirror from its cluster (dry run first) and mark it deleted."""
    record = get_container().mirrors.delete(call.workspace_id, actor(call), mirror_id)
    return {**record_view(record), "success": True, "deleted": True}


# --- the TTL setting -------------------------------------------------------------------------
class TtlSetting(BaseModel):
    """``PUT /api/admin/settings/mirror-ttl``."""

    model_config = ConfigDict(extra="ignore")

    seconds: int = Field(strict=True)


@endpoint(bp, "/api/admin/settings/mirror-ttl", scope=SETTINGS_READ)
def get_ttl(call: Call) -> dict[str, Any]:
    """How long new mirrors live, and the bounds."""
    return get_container().mirrors.ttl_setting(call.workspace_id)


@endpoint(bp, "/api/admin/settings/mirror-ttl", methods=("PUT",), scope=SETTINGS_WRITE,
          body=TtlSetting)
def put_ttl(call: Call) -> dict[str, Any]:
    """Set how long new mirrors live (30 to 3600 seconds)."""
    req = parse_body(TtlSetting, call.json_object(), "mirror TTL setting")
    return get_container().mirrors.set_ttl(call.workspace_id, req.seconds, actor(call))
