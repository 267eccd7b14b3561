"""Endpoint group ``ingest``: alerts in."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import Call, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.errors import BadRequest
from chalicelib.plugins.normalizers import NormalizeContext

bp = Blueprint(__name__)
MAX_CLUSTER_NAME = 253


@endpoint(bp, "/webhook", methods=("POST",), scope="ingest")
def post_webhook(call: Call) -> dict[str, Any]:
    """Ingest an alert payload; X-Source (or ?source=) picks the normalizer."""
    source = call.header("x-source") or call.query("source") or "webhook"
    payload = call.json()
    cluster = call.header("x-cluster-id") or call.query("cluster")
    if cluster is not None and len(cluster) > MAX_CLUSTER_NAME:
        raise BadRequest(f"cluster name is longer than {MAX_CLUSTER_NAME} characters",
                         code="bad_cluster")
    context = NormalizeContext(cluster=cluster)
    return get_container().ingest.ingest(call.workspace_id, source, payload, context)
