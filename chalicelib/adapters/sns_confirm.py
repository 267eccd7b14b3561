"""Confirming an SNS HTTPS subscription by visiting its SubscribeURL, on SNS hosts only."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from chalicelib.adapters.sns_signature import SNS_HOST, read_sns_url
from chalicelib.domain.errors import DependencyUnavailable, Forbidden


def validate_subscribe_url(url: object) -> str:
    """The SubscribeURL if it is an https SNS ConfirmSubscription call, else 403."""
    if not isinstance(url, str) or len(url) > 4096:  # noqa: PLR2004 - a sane URL bound
        raise Forbidden("SubscribeURL is missing", code="bad_subscribe_url")
    parts = urlsplit(url)
    action = parse_qs(parts.query).get("Action", [""])[0]
    if (parts.scheme != "https" or parts.username or parts.password or parts.port not in
            (None, 443) or not SNS_HOST.fullmatch(parts.hostname or "")
            or action != "ConfirmSubscription"):
        raise Forbidden("SubscribeURL is not an Amazon SNS ConfirmSubscription URL",
                        code="bad_subscribe_url")
    return url


def confirm_subscription(url: str) -> None:
    """Visit the SubscribeURL (validated first; 5 s timeout; no redirects)."""
    validate_subscribe_url(url)
    try:
        read_sns_url(url, 64 * 1024)
    except (OSError, ValueError) as exc:
        raise DependencyUnavailable(
            f"the subscription could not be confirmed ({type(exc).__name__}); SNS will "
            "resend the confirmation", code="sns_unreachable", dependency="SNS") from exc
