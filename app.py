"""Drover's Chalice app: registers one blueprint per endpoint group, nothing else."""

from __future__ import annotations

import importlib
import os

from chalice import Chalice

from chalicelib.api.http import error_shape_middleware

# Endpoint group -> the modules whose blueprints it serves. DROVER_GROUPS (comma-separated)
# limits a process to some groups, e.g. to measure one group's cold start.
GROUPS: dict[str, tuple[str, ...]] = {
    "ingest": ("chalicelib.api.ingest", "chalicelib.api.scanner_ingest",
               "chalicelib.api.agent_ingest", "chalicelib.events.alerts_topic"),
    "incidents": ("chalicelib.api.incidents", "chalicelib.api.pod_failures",
                  "chalicelib.api.alerts_v1", "chalicelib.api.advisories"),
    "diagnosis": ("chalicelib.events.diagnoses", "chalicelib.api.diagnosis",
                  "chalicelib.api.ai_pulse", "chalicelib.api.ai_kure"),
    "clusters": ("chalicelib.api.clusters", "chalicelib.events.cluster_refresh",
                 "chalicelib.api.fleet_ops", "chalicelib.api.diagrams",
                 "chalicelib.api.pod_logs", "chalicelib.api.resources"),
    "admin": ("chalicelib.api.admin", "chalicelib.api.openapi"),
    "remediation": ("chalicelib.events.remediation_tasks", "chalicelib.api.actions",
                    "chalicelib.api.remediation_flows", "chalicelib.api.remediation_pulse",
                    "chalicelib.api.mirrors", "chalicelib.events.mirror_expiry"),
}


def _selected_groups() -> list[str]:
    wanted = [g.strip() for g in os.environ.get("DROVER_GROUPS", "").split(",") if g.strip()]
    unknown = sorted(set(wanted) - set(GROUPS))
    if unknown:
        raise RuntimeError(f"unknown endpoint group(s) in DROVER_GROUPS: {', '.join(unknown)}")
    return wanted or list(GROUPS)


app = Chalice(app_name="drover")
app.register_middleware(error_shape_middleware, "http")
for _group in _selected_groups():
    for _module in GROUPS[_group]:
        app.register_blueprint(importlib.import_module(_module).bp)
