"""Endpoint group ``ingest``: a cluster scanner's findings, clears, status and durations.

Seed 002 (Kure Monitor): the scanner authenticates with ``X-Service-Token`` and treats any
answer but 200 as a failure, so successes are 200, never 201.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import Call, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.security import ScanDurationReport, ScanStatusReport, SecurityFindingReport

bp = Blueprint(__name__)


# Findings arrive by the thousand on every scan; the findings themselves are the record,
# so only refused or failed reports are audited.
@endpoint(bp, "/api/security/findings", methods=("POST",), scope="ingest",
          audit_success=False, body=SecurityFindingReport)
def post_finding(call: Call) -> dict[str, Any]:
    """Report a finding; the same check on the same resource updates one finding."""
    return get_container().security_ingest.report_finding(call.workspace_id, call.json())


@endpoint(bp, "/api/security/scan/clear", methods=("POST",), scope="ingest")
def post_scan_clear(call: Call) -> dict[str, Any]:
    """Clear findings before a full rescan (Kure's scanner sends no body)."""
    return get_container().security_ingest.clear(call.workspace_id)


@endpoint(bp, "/api/security/rescan-status", methods=("POST",), scope="ingest",
          audit_success=False, body=ScanStatusReport)
def post_rescan_status(call: Call) -> dict[str, Any]:
    """Record that a rescan started or completed."""
    return get_container().security_ingest.rescan_status(call.workspace_id, call.json())


@endpoint(bp, "/api/security/findings/resource/{resource_type}/{namespace}/{resource_name}",
          methods=("DELETE",), scope="ingest")
def delete_resource_findings(call: Call, resource_type: str, namespace: str,
                             resource_name: str) -> dict[str, Any]:
    """Remove the findings of a resource deleted from the cluster."""
    return get_container().security_ingest.delete_resource(call.workspace_id, resource_type,
                                                           namespace, resource_name)


@endpoint(bp, "/api/metrics/security-scan-duration", methods=("POST",), scope="ingest",
          audit_success=False, body=ScanDurationReport)
def post_scan_duration(call: Call) -> dict[str, Any]:
    """Record how long a full scan took."""
    return get_container().security_ingest.scan_duration(call.workspace_id, call.json())
