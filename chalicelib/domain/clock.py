"""Time and identifier helpers: UTC everywhere, ISO-8601 with a trailing Z."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


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
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        return iso(datetime.fromtimestamp(seconds, UTC))
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if dt.year <= 1:
        return None
    return iso(dt)


def new_id(prefix: str) -> str:
    """Return a new random identifier such as ``inc-3f9a1c2b7d4e``."""
    return f"{prefix}{uuid.uuid4().hex[:16]}"
