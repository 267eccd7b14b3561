"""Endpoint group ``admin``: health, version, API tokens."""

from __future__ import annotations

import os
import time
from typing import Any

from chalice import Blueprint
from pydantic import BaseModel

from chalicelib import __version__
from chalicelib.api.http import Call, Reply, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.clock import now_iso
from chalicelib.domain.errors import BadRequest

bp = Blueprint(__name__)


class TokenRequest(BaseModel):
    """A new API token: its name and scopes."""

    name: str
    scopes: list[str]
_STARTED = time.time()


def _uptime() -> int:
    return int(time.time() - _STARTED)


@endpoint(bp, "/health", public=True)
def health(call: Call) -> dict[str, Any]:
    """Liveness, in the shape of seeds 000 and 004."""
    return {"status": "ok", "version": __version__, "uptime_seconds": _uptime(),
            "timestamp": now_iso()}


@endpoint(bp, "/api/health", public=True)
def api_health(call: Call) -> dict[str, Any]:
    """Liveness, in the shape of seed 001 (epoch timestamp, uptime) plus seed 000's fields."""
    return {"status": "healthy", "timestamp": int(time.time()), "uptime": _uptime(),
            "uptime_seconds": _uptime(), "version": __version__}


@endpoint(bp, "/api/version", public=True)
def api_version(call: Call) -> dict[str, Any]:
    """Version information (seed 001): plain semantic version, no leading v."""
    return {"version": __version__, "buildTime": os.environ.get("DROVER_BUILD_TIME"),
            "channel": "stable",
            "deploymentType": "lambda" if os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
            else "local"}


@endpoint(bp, "/api/security/tokens", scope="settings:read")
def list_tokens(call: Call) -> dict[str, Any]:
    """The workspace's API tokens, without secrets."""
    return get_container().keys.list(call.workspace_id)


@endpoint(bp, "/api/security/tokens", methods=("POST",), scope="settings:write",
          body=TokenRequest, status=201)
def create_token(call: Call) -> Reply:
    """Create a token; the raw value is in this response only."""
    body = call.json_object()
    name, scopes = body.get("name"), body.get("scopes")
    if not isinstance(name, str):
        raise BadRequest("'name' (string) is required", code="bad_name")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise BadRequest("'scopes' must be a list of strings", code="bad_scopes")
    assert call.principal is not None
    return Reply(201, get_container().keys.create(call.principal, call.workspace_id, name,
                                                  scopes))


@endpoint(bp, "/api/security/tokens/{token_id}", methods=("DELETE",), scope="settings:write")
def revoke_token(call: Call, token_id: str) -> dict[str, Any]:
    """Revoke a token of the workspace."""
    assert call.principal is not None
    return get_container().keys.revoke(call.principal, call.workspace_id, token_id)
