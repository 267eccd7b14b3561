"""Webhook signature checks (PagerDuty v3, Grafana HMAC): pure functions, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from chalicelib.domain.errors import Unauthorized

BAD_SIGNATURE = "bad_signature"
DEFAULT_MAX_AGE = 300

PAGERDUTY_SIGNATURE_HEADER = "X-PagerDuty-Signature"
# The name Grafana's docs and contact-point form give as the default signature header.
GRAFANA_SIGNATURE_HEADER = "X-Grafana-Alerting-Signature"
# What grafana/alerting http/hmac.go actually sends when the Header field is left empty;
# endpoints should accept it too, or a default-configured Grafana never verifies.
GRAFANA_FALLBACK_SIGNATURE_HEADER = "X-Grafana-Alert-Signature"

# Bounds on attacker-controlled input, so a hostile header costs little work.
_MAX_HEADER_CHARS = 4096
_MAX_CANDIDATES = 16
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


def _reject(reason: str) -> Unauthorized:
    """Build the 401 every signature failure answers with (never echoes a secret)."""
    return Unauthorized(f"webhook signature rejected: {reason}", code=BAD_SIGNATURE)


def hmac_sha256_hex(secret: str | bytes, message: bytes) -> str:
    """Return the lowercase hex HMAC-SHA256 of message under secret (UTF-8 if str)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verify_hmac_sha256(
    message: bytes, candidates: Iterable[str], secrets: Sequence[str | bytes]
) -> bool:
    """Return True if any hex candidate equals HMAC-SHA256(secret, message) for any secret."""
    wanted = [candidate.strip().lower().encode("ascii", "replace") for candidate in candidates]
    matched = False
    for secret in secrets:
        if not secret:
            continue  # an empty secret would make anyone able to sign
        expected = hmac_sha256_hex(secret, message).encode("ascii")
        for candidate in wanted:
            # No early exit: the time taken does not reveal which pair matched.
            matched |= hmac.compare_digest(expected, candidate)
    return matched


def _epoch_seconds(now: datetime | float) -> float:
    """Accept an aware datetime or unix seconds as 'now'."""
    return now.timestamp() if isinstance(now, datetime) else float(now)


def check_timestamp_fresh(
    ts: str | int | None, now: datetime | float, max_age: int = DEFAULT_MAX_AGE
) -> int:
    """Return ts (unix seconds) if within max_age of now either way; else raise Unauthorized."""
    if ts is None or isinstance(ts, bool):
        raise _reject("the timestamp header is missing")
    text = str(ts).strip()
    if not _UNIX_SECONDS.fullmatch(text):
        raise _reject("the timestamp is not unix seconds")
    seconds = int(text)
    if abs(_epoch_seconds(now) - seconds) > max_age:
        raise _reject(f"the timestamp is more than {max_age} s from server time (replay or skew)")
    return seconds


def _as_secret_list(secrets: str | Sequence[str]) -> list[str]:
    """Normalize one secret or several (rotation) into a list of non-empty secrets."""
    items = [secrets] if isinstance(secrets, str) else list(secrets)
    return [item for item in items if item]


def _pagerduty_candidates(header: str | None) -> list[str]:
    """Extract the v1 hex values of an X-PagerDuty-Signature header; ignore other versions."""
    if not header or not header.strip():
        raise _reject(f"the {PAGERDUTY_SIGNATURE_HEADER} header is missing")
    if len(header) > _MAX_HEADER_CHARS:
        raise _reject(f"the {PAGERDUTY_SIGNATURE_HEADER} header is too long")
    candidates = []
    for part in header.split(",")[:_MAX_CANDIDATES]:
        version, sep, value = part.strip().partition("=")
        if sep and version.strip() == "v1" and _HEX_SHA256.fullmatch(value.strip()):
            candidates.append(value.strip())
    if not candidates:
        raise _reject(f"the {PAGERDUTY_SIGNATURE_HEADER} header holds no v1=<hex> value")
    return candidates


def verify_pagerduty(raw_body: bytes, header: str | None, secrets: Sequence[str]) -> None:
    """Accept a PagerDuty v3 webhook if any v1 signature matches any active secret."""
    active = _as_secret_list(secrets)
    if not active:
        raise _reject("no PagerDuty signing secret is configured")
    candidates = _pagerduty_candidates(header)
    if not verify_hmac_sha256(raw_body, candidates, active):
        raise _reject("no v1 signature matches the body and the configured secrets")


def grafana_signed_bytes(raw_body: bytes, timestamp: str | None) -> bytes:
    """Return what Grafana signs: 'timestamp:body' with a timestamp header, else the body."""
    if timestamp is None or timestamp == "":
        return raw_body
    return timestamp.strip().encode("ascii") + b":" + raw_body


def verify_grafana(
    raw_body: bytes,
    signature: str | None,
    timestamp: str | None,
    secret: str | Sequence[str],
    now: datetime | float,
    *,
    max_age: int = DEFAULT_MAX_AGE,
    require_timestamp: bool = True,
) -> None:
    """Accept a Grafana webhook whose hex HMAC-SHA256 matches and whose timestamp is fresh."""
    active = _as_secret_list(secret)
    if not active:
        raise _reject("no Grafana signing secret is configured")
    if not signature or not _HEX_SHA256.fullmatch(signature.strip()):
        raise _reject("the Grafana signature header is missing or not hex SHA-256")
    if timestamp is not None and timestamp.strip():
        check_timestamp_fresh(timestamp, now, max_age)
    elif require_timestamp:
        # Without a signed timestamp a captured request can be replayed forever.
        raise _reject(
            "the Grafana timestamp header is missing (configure hmacConfig.timestampHeader)"
        )
    else:
        timestamp = None
    if not verify_hmac_sha256(grafana_signed_bytes(raw_body, timestamp), [signature], active):
        raise _reject("the Grafana signature does not match the body and the configured secret")
