"""The scheduled cluster refresh: a new snapshot, findings and health point per cluster."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from chalicelib.bootstrap import get_container

bp = Blueprint(__name__)
INTERVAL_MINUTES = 5
# Leave a margin under the Lambda timeout (60 s); clusters not reached go first next run.
BUDGET_SECONDS = 40.0


@bp.schedule(Rate(INTERVAL_MINUTES, unit=Rate.MINUTES), name="cluster_refresh")
def refresh_clusters(event: Any) -> dict[str, int]:
    """Refresh every cluster not checked in the last interval, stalest first."""
    return get_container().clusters.refresh_due(
        older_than_seconds=INTERVAL_MINUTES * 60 - 30, budget_seconds=BUDGET_SECONDS)
