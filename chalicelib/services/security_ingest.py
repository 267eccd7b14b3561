"""Use cases of a cluster scanner's traffic: findings, clears, rescan status, scan durations.

Response bodies keep Kure Monitor's (``message``, ``count``) so its scanner works unchanged,
plus what Drover adds (ids, first/last seen, occurrences).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.clock import now_iso
from chalicelib.domain.security import (
    ScanDurationReport,
    ScanStatusReport,
    SecurityFindingReport,
    SecurityFindingStore,
    parse_body,
    valid_identifier,
)

# A clear must finish inside API Gateway's 29 s; a scanner's startup clear is one call.
MAX_CLEAR_ITEMS = 10_000


@dataclass
class SecurityIngestService:
    """What the scanner's ingest endpoints do."""

    store: SecurityFindingStore

    def report_finding(self, workspace_id: str, body: Any) -> dict[str, Any]:
        """Upsert a finding; a re-report updates the same finding, never adds another."""
        report = parse_body(SecurityFindingReport, body, "security finding")
        finding = self.store.upsert(workspace_id, report, now_iso())
        return finding.model_dump()

    def clear(self, workspace_id: str) -> dict[str, Any]:
        """Delete the findings before a full rescan; dismissed ones stay, as in Kure."""
        result = self.store.clear(workspace_id, keep_dismissed=True,
                                  max_items=MAX_CLEAR_ITEMS)
        message = "Security findings cleared" if result.complete else \
            f"Cleared {result.deleted} security findings; call again to clear the rest"
        return {"message": message, "count": result.deleted, "complete": result.complete}

    def delete_resource(self, workspace_id: str, resource_type: str, namespace: str,
                        resource_name: str) -> dict[str, Any]:
        """Delete every finding of a resource that left the cluster."""
        resource = (valid_identifier(resource_type, "resource type", 63),
                    valid_identifier(namespace, "namespace"),
                    valid_identifier(resource_name, "resource name"))
        count = self.store.delete_resource(workspace_id, *resource)
        return {"message": f"Deleted {count} findings for resource", "count": count,
                "resource_type": resource[0], "namespace": resource[1],
                "resource_name": resource[2]}

    def rescan_status(self, workspace_id: str, body: Any) -> dict[str, Any]:
        """Record that a rescan started or completed."""
        report = parse_body(ScanStatusReport, body, "rescan status")
        status = self.store.put_scan_status(workspace_id, report, now_iso())
        return {"message": f"Rescan status '{status.status}' recorded", **status.model_dump()}

    def scan_duration(self, workspace_id: str, body: Any) -> dict[str, Any]:
        """Record how long a full scan took."""
        report = parse_body(ScanDurationReport, body, "scan duration")
        recorded = self.store.add_duration(workspace_id, report.duration_seconds, now_iso())
        return {"message": "Scan duration recorded", **recorded.model_dump()}
