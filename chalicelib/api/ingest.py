"""Endpoint group ``ingest``: alerts in."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import Call, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.plugins.normalizers import NormalizeContext

bp = Blueprint(__name__)


@endpoint(bp, "/webhook", methods=("POST",), scope="ingest")
def post_webhook(call: Call) -> dict[str, Any]:
    """Ingest an alert payload; X-Source (or ?source=) picks the normalizer."""
    source = call.header("x-source") or call.query("source") or "webhook"
    payload = call.json()
    context = NormalizeContext(cluster=call.header("x-cluster-id") or call.query("cluster"))
    return get_container().ingest.ingest(call.workspace_id, source, payload, context)
