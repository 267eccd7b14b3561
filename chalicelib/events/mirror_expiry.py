"""The scheduled mirror expiry: deletes every workspace's mirrors whose TTL has passed."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from chalicelib.bootstrap import get_container

bp = Blueprint(__name__)
INTERVAL_MINUTES = 5
# Mirrors handled per run, so a run stays well inside the Lambda timeout; the rest go next.
BATCH = 25


@bp.schedule(Rate(INTERVAL_MINUTES, unit=Rate.MINUTES), name="mirror_expiry")
def expire_mirrors(event: Any) -> dict[str, int]:
    """Delete expired mirrors from their clusters and mark their records expired."""
    return get_container().mirrors.expire_due(limit=BATCH)
