"""Amazon SNS message signature verification, with a checked and cached signing certificate."""

from __future__ import annotations

import base64
import binascii
import re
import threading
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chalicelib.domain.clock import utcnow
from chalicelib.domain.errors import DependencyUnavailable, DroverError, Forbidden

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

BAD_SIGNATURE = "bad_signature"
BAD_SIGNING_CERT_URL = "bad_signing_cert_url"
FETCH_TIMEOUT_SECONDS = 5
MAX_CERT_BYTES = 64 * 1024
CACHE_SIZE = 32

# Region names: us-east-1, eu-central-2, cn-north-1, us-gov-west-1, ap-southeast-3 ...
_REGION = r"[a-z]{2}(?:-[a-z]+){1,2}-[0-9]{1,2}"
SNS_HOST = re.compile(rf"sns\.{_REGION}\.amazonaws\.com(?:\.cn)?")
# SNS serves e.g. /SimpleNotificationService-<hex>.pem; no dots-only segments, escapes, queries.
_CERT_PATH = re.compile(r"/(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*\.pem")
_MAX_URL_CHARS = 2048
_MAX_SIGNATURE_CHARS = 2048

NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
_SIGNED_FIELDS = {
    "Notification": NOTIFICATION_FIELDS,
    "SubscriptionConfirmation": CONFIRMATION_FIELDS,
    "UnsubscribeConfirmation": CONFIRMATION_FIELDS,
}
_OPTIONAL_FIELDS = frozenset({"Subject"})

Fetcher = Callable[[str], bytes]


def _bad_url(reason: str) -> Forbidden:
    """The 403 for a SigningCertURL that is not an SNS certificate."""
    return Forbidden(f"SigningCertURL rejected: {reason}", code=BAD_SIGNING_CERT_URL)


def _bad_signature(reason: str) -> Forbidden:
    """The 403 for any other reason an SNS message does not verify."""
    return Forbidden(f"SNS message signature rejected: {reason}", code=BAD_SIGNATURE)


def validate_cert_url(url: str) -> None:
    """Raise Forbidden unless url is https://sns.<region>.amazonaws.com[.cn]/<name>.pem."""
    if not isinstance(url, str) or not url or len(url) > _MAX_URL_CHARS:
        raise _bad_url("missing or too long")
    # Parsers disagree on backslashes, whitespace and controls; refuse them outright.
    if not url.isprintable() or any(ch in url for ch in " \\"):
        raise _bad_url("contains whitespace, control characters or backslashes")
    parts = urlsplit(url)
    if parts.scheme != "https" or not url.startswith("https://"):
        raise _bad_url("must use https")
    if "@" in parts.netloc:
        raise _bad_url("must not carry user information")
    host = parts.netloc.lower().removesuffix(":443")
    if not SNS_HOST.fullmatch(host):
        raise _bad_url("host is not sns.<region>.amazonaws.com[.cn]")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise _bad_url("must not carry a query or fragment")
    if not _CERT_PATH.fullmatch(parts.path):
        raise _bad_url("path must name a .pem file")


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """Return the canonical 'Name\\nvalue\\n' string SNS signs for this message type."""
    kind = message.get("Type")
    fields = _SIGNED_FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise _bad_signature("unknown or missing Type")
    lines: list[str] = []
    for name in fields:
        value = message.get(name)
        if value is None and name in _OPTIONAL_FIELDS:
            continue  # Subject is signed only when present
        if not isinstance(value, str):
            raise _bad_signature(f"field {name} is missing or not a string")
        lines.extend((name, value))
    return ("\n".join(lines) + "\n").encode("utf-8")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: a redirect could lead the fetch off the validated SNS host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        """Return None so urllib raises HTTPError instead of following."""
        return None


def read_sns_url(url: str, limit: int) -> bytes:
    """GET an already validated SNS URL: 5 s timeout, at most ``limit`` + 1 bytes, no redirects."""
    opener = urllib.request.build_opener(_NoRedirect)
    with opener.open(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
        return bytes(response.read(limit + 1))


def fetch_certificate(url: str) -> bytes:
    """Download a signing certificate (validated URL, 5 s timeout, 64 KiB cap, no redirects)."""
    validate_cert_url(url)
    try:
        # The URL was validated just above: https, an SNS host, a .pem path.
        body = read_sns_url(url, MAX_CERT_BYTES)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500:  # noqa: PLR2004 - a server error is transient, retry later
            raise _unreachable(f"HTTP {exc.code}") from exc
        raise _bad_signature(f"the signing certificate answered HTTP {exc.code}") from exc
    except (OSError, ValueError) as exc:
        raise _unreachable(type(exc).__name__) from exc
    if len(body) > MAX_CERT_BYTES:
        raise _bad_signature("the signing certificate is larger than 64 KiB")
    return body


def _unreachable(reason: str) -> DependencyUnavailable:
    """The 503 for a transient certificate fetch failure (SNS retries 5xx deliveries)."""
    return DependencyUnavailable(
        f"the SNS signing certificate could not be fetched ({reason}); retry the delivery",
        dependency="sns_signing_certificate",
    )


def _decode_signature(message: Mapping[str, Any]) -> bytes:
    """Return the raw bytes of the base64 Signature field."""
    value = message.get("Signature")
    if not isinstance(value, str) or not value or len(value) > _MAX_SIGNATURE_CHARS:
        raise _bad_signature("Signature is missing or malformed")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad_signature("Signature is not base64") from exc


def _hash_for(version: Any) -> Any:
    """Map SignatureVersion to its hash: 1 is SHA1withRSA, 2 is SHA256withRSA."""
    from cryptography.hazmat.primitives import hashes

    if version == "1":
        return hashes.SHA1()  # noqa: S303 - SNS SignatureVersion 1 is defined as SHA1withRSA
    if version == "2":
        return hashes.SHA256()
    raise _bad_signature("SignatureVersion must be '1' or '2'")


def _load_certificate(pem: bytes) -> Certificate:
    """Parse a PEM certificate, or raise Forbidden."""
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(pem)
    except (ValueError, TypeError) as exc:
        raise _bad_signature("the signing certificate is not a PEM X.509 certificate") from exc


class SnsVerifier:
    """Verify SNS message signatures, caching parsed certificates per SigningCertURL."""

    def __init__(
        self,
        fetcher: Fetcher | None = None,
        *,
        cache_size: int = CACHE_SIZE,
        clock: Callable[[], datetime] = utcnow,
        check_validity: bool = True,
    ) -> None:
        self._fetch = fetcher or fetch_certificate
        self._cache: OrderedDict[str, Certificate] = OrderedDict()
        self._cache_size = max(1, cache_size)
        self._clock = clock
        self._check_validity = check_validity
        self._lock = threading.Lock()

    def verify(self, message: Mapping[str, Any]) -> None:
        """Raise Forbidden (bad_signature / bad_signing_cert_url) unless the message verifies."""
        if not isinstance(message, Mapping):
            raise _bad_signature("the message is not a JSON object")
        algorithm = _hash_for(message.get("SignatureVersion"))
        signature = _decode_signature(message)
        data = string_to_sign(message)
        url = message.get("SigningCertURL")
        validate_cert_url(url)  # before any cache lookup or fetch
        cert = self._certificate(url)
        self._check_dates(cert)
        _verify_rsa(cert, signature, data, algorithm)

    def _certificate(self, url: str) -> Certificate:
        """Return the cached certificate for url, fetching and parsing it on a miss."""
        with self._lock:
            cached = self._cache.get(url)
            if cached is not None:
                self._cache.move_to_end(url)
                return cached
        try:
            pem = self._fetch(url)
        except DroverError:
            raise
        except OSError as exc:
            raise _unreachable(type(exc).__name__) from exc
        except Exception as exc:
            raise _bad_signature("the signing certificate could not be fetched") from exc
        cert = _load_certificate(pem)  # only parsed certificates reach the cache
        with self._lock:
            self._cache[url] = cert
            self._cache.move_to_end(url)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return cert

    def _check_dates(self, cert: Certificate) -> None:
        """Reject a certificate outside its validity window (checked on every use)."""
        if not self._check_validity:
            return
        now = self._clock()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise _bad_signature("the signing certificate is not valid at this time")

    def cached_urls(self) -> list[str]:
        """Return the URLs whose certificates are cached, least recently used first."""
        with self._lock:
            return list(self._cache)


def _verify_rsa(cert: Certificate, signature: bytes, data: bytes, algorithm: Any) -> None:
    """Check an RSA PKCS#1 v1.5 signature with the certificate's public key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise _bad_signature("the signing certificate does not hold an RSA key")
    try:
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    except InvalidSignature as exc:
        raise _bad_signature("the signature does not match the message") from exc


_default: SnsVerifier | None = None
_default_lock = threading.Lock()


def default_verifier() -> SnsVerifier:
    """Return the process-wide verifier, so warm Lambda invocations reuse its cache."""
    global _default  # noqa: PLW0603 - one cache per process is the point
    with _default_lock:
        if _default is None:
            _default = SnsVerifier()
        return _default
