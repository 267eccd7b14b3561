"""Time and identifier helpers: UTC everywhere, ISO-8601 with a trailing Z."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

# Epoch values above this are milliseconds (1e11 seconds is the year 5138).
_EPOCH_MS_THRESHOLD = 1e11


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """Format a datetime as ISO-8601 UTC with millisecond precision and a Z suffix."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    """Return the current UTC time as ISO-8601 with a Z suffix."""
    return iso(utcnow())


def parse_time(value: object) -> str | None:
    """Normalize an ISO-8601 string or epoch (seconds or ms) to UTC Z; None if absent or unset.

    Alertmanager's zero time (0001-01-01T00:00:00Z) means "not set" and maps to None.
    """
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float):
            seconds = value / 1000 if value > _EPOCH_MS_THRESHOLD else value
            return iso(datetime.fromtimestamp(seconds, UTC))
        if not isinstance(value, str) or not value.strip():
            return None
        dt = datetime.fromisoformat(value.strip())
        return iso(dt) if dt.year > 1 else None
    except (ValueError, OverflowError, OSError):
        return None  # NaN, out-of-range epochs, dates that overflow when moved to UTC


def new_id(prefix: str) -> str:
    """Return a new random identifier such as ``inc-3f9a1c2b7d4e5f60``."""
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def days_from_now_epoch(days: float) -> int:
    """Epoch seconds ``days`` from now (what DynamoDB's TTL attribute holds)."""
    return int(utcnow().timestamp() + days * 86400)
