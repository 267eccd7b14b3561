"""Endpoint group ``ingest``: alerts, PagerDuty and SNS deliveries, deploy events in."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import Call, endpoint
from chalicelib.api.route_docs import AnyJson
from chalicelib.bootstrap import get_container
from chalicelib.domain.clock import utcnow
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.signatures import (
    GRAFANA_FALLBACK_SIGNATURE_HEADER,
    GRAFANA_SIGNATURE_HEADER,
    PAGERDUTY_SIGNATURE_HEADER,
    verify_grafana,
    verify_pagerduty,
)
from chalicelib.plugins.normalizers import NormalizeContext, detect_source
from chalicelib.services.deploys import DeployEvent

bp = Blueprint(__name__)
MAX_CLUSTER_NAME = 253


def _context(call: Call) -> NormalizeContext:
    cluster = call.header("x-cluster-id") or call.query("cluster")
    if cluster is not None and len(cluster) > MAX_CLUSTER_NAME:
        raise BadRequest(f"cluster name is longer than {MAX_CLUSTER_NAME} characters",
                         code="bad_cluster")
    return NormalizeContext(cluster=cluster)


@endpoint(bp, "/webhook", methods=("POST",), scope="ingest",
          audit_success=False, body=AnyJson)
def post_webhook(call: Call) -> dict[str, Any]:
    """Ingest an alert payload; X-Source or ?source= picks the normalizer, else its shape."""
    context = _context(call)
    payload = call.json()
    source = (call.header("x-source") or call.query("source") or detect_source(payload))
    source = source.strip().lower()
    if source == "grafana":
        _check_grafana_signature(call)
    elif source == "pagerduty":
        _check_pagerduty_signature(call)
    return get_container().ingest.ingest(call.workspace_id, source, payload, context,
                                         delivery_id=call.header("x-webhook-id"))


def _check_grafana_signature(call: Call) -> None:
    settings = get_container().settings
    if not settings.grafana_secrets:
        return
    header = settings.grafana_signature_header
    # Grafana's docs name X-Grafana-Alerting-Signature; its code sends X-Grafana-Alert-Signature
    # when the contact point leaves the header name empty.
    signature = (call.header(header) if header else
                 call.header(GRAFANA_SIGNATURE_HEADER) or
                 call.header(GRAFANA_FALLBACK_SIGNATURE_HEADER))
    timestamp_header = settings.grafana_timestamp_header
    verify_grafana(call.request.raw_body or b"", signature,
                   call.header(timestamp_header) if timestamp_header else None,
                   settings.grafana_secrets, utcnow(),
                   require_timestamp=bool(timestamp_header))


def _check_pagerduty_signature(call: Call) -> None:
    secrets = get_container().settings.pagerduty_secrets
    if secrets:
        verify_pagerduty(call.request.raw_body or b"", call.header(PAGERDUTY_SIGNATURE_HEADER),
                         secrets)


@endpoint(bp, "/webhook/pagerduty", methods=("POST",), scope="ingest",
          audit_success=False, body=AnyJson)
def post_pagerduty(call: Call) -> dict[str, Any]:
    """PagerDuty v3 webhooks: signature, X-Webhook-Id replay protection, state sync."""
    _check_pagerduty_signature(call)
    payload = call.json()
    result = get_container().ingest.ingest(call.workspace_id, "pagerduty", payload,
                                           _context(call),
                                           delivery_id=call.header("x-webhook-id"))
    event = payload.get("event") if isinstance(payload, dict) else None
    event = event if isinstance(event, dict) else {}
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    outcome = result["incidents"][0] if result["incidents"] else None
    return {**result, "event_type": event.get("event_type"), "pd_incident_id": data.get("id"),
            "local_incident_id": result["incident_id"],
            "action_taken": "replayed" if result.get("replayed") else
            outcome["action"] if outcome else "ignored"}


@endpoint(bp, "/webhook/sns", methods=("POST",), scope="ingest",
          audit_success=False, body=AnyJson)
def post_sns(call: Call) -> dict[str, Any]:
    """An SNS HTTPS subscription: verified, confirmed if allowlisted, then ingested."""
    return get_container().sns_http.handle(call.workspace_id, call.json(), _context(call))


@endpoint(bp, "/webhook/dead-letter", scope="incidents:read")
def get_dead_letters(call: Call) -> dict[str, Any]:
    """Payloads that failed after retries, newest first (seed 004)."""
    limit = call.int_query("limit", 100, 1, 1000)
    entries = get_container().dead_letters.list(call.workspace_id, limit)
    return {"entries": [{"id": e.id, "payload": e.payload, "source": e.source,
                         "error": e.error, "timestamp": e.timestamp,
                         "truncated": e.truncated} for e in entries],
            "count": len(entries)}


@endpoint(bp, "/webhook/deploy", methods=("POST",), scope="ingest", body=DeployEvent)
def post_deploy(call: Call) -> dict[str, Any]:
    """Record a deploy event from CI/CD (seed 004)."""
    return get_container().deploys.add(call.workspace_id, call.json())


@endpoint(bp, "/webhook/deploy/recent", scope="incidents:read")
def get_recent_deploys(call: Call) -> dict[str, Any]:
    """Recent deploy events, newest first."""
    return get_container().deploys.recent(
        call.workspace_id, limit=call.int_query("limit", 50, 1, 500),
        hours=call.int_query("hours", 24, 1, 720), service=call.query("service"))
