"""SNS signature verification: real RSA signatures, certificate URL rules, fetch and cache."""

from __future__ import annotations

import base64
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from chalicelib.adapters import sns_signature
from chalicelib.adapters.sns_signature import (
    SnsVerifier,
    default_verifier,
    string_to_sign,
    validate_cert_url,
)
from chalicelib.domain.errors import DependencyUnavailable, Forbidden

CERT_URL = (
    "https://sns.us-west-2.amazonaws.com/"
    "SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
)
TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"


def make_cert(key: Any, *, days_valid: int = 30, offset_days: int = -1) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    start = datetime.now(UTC) + timedelta(days=offset_days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days_valid))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def pem(key) -> bytes:
    return make_cert(key)


class FakeFetcher:
    def __init__(self, body: bytes | Exception) -> None:
        self.body = body
        self.calls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        if isinstance(self.body, Exception):
            raise self.body
        return self.body


def sign(key: Any, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
    message = {**message, "SignatureVersion": version, "SigningCertURL": CERT_URL}
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    raw = key.sign(string_to_sign(message), padding.PKCS1v15(), algorithm)
    message["Signature"] = base64.b64encode(raw).decode()
    return message


def notification(subject: str | None = "My First Message") -> dict[str, Any]:
    message = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Message": '{"AlarmName":"cpu","NewStateValue":"ALARM"}\nsecond line',
        "Timestamp": "2012-05-02T00:54:06.655Z",
        "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe",
    }
    if subject is not None:
        message["Subject"] = subject
    return message


def confirmation(kind: str = "SubscriptionConfirmation") -> dict[str, Any]:
    return {
        "Type": kind,
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic.\nTo confirm, visit the URL.",
        "SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
        "Timestamp": "2012-04-26T20:45:04.751Z",
    }


def forbidden(verifier: SnsVerifier, message: Any, code: str = "bad_signature") -> Forbidden:
    with pytest.raises(Forbidden) as err:
        verifier.verify(message)
    assert err.value.code == code
    assert err.value.status == 403
    return err.value


# --- valid messages ----------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize(
    "message",
    [
        notification(),
        notification(subject=None),
        confirmation(),
        confirmation("UnsubscribeConfirmation"),
    ],
    ids=["notification", "notification-no-subject", "subscribe", "unsubscribe"],
)
def test_a_correctly_signed_message_verifies(key, pem, version, message):
    fetcher = FakeFetcher(pem)
    SnsVerifier(fetcher).verify(sign(key, message, version))
    assert fetcher.calls == [CERT_URL]


def test_string_to_sign_follows_the_documented_field_order():
    assert string_to_sign(notification()) == (
        b"Message\n" + notification()["Message"].encode() + b"\n"
        b"MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
        b"Subject\nMy First Message\n"
        b"Timestamp\n2012-05-02T00:54:06.655Z\n"
        b"TopicArn\n" + TOPIC.encode() + b"\n"
        b"Type\nNotification\n"
    )
    c = confirmation()
    expected = "".join(
        f"{name}\n{c[name]}\n"
        for name in ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn")
    )
    assert string_to_sign(c) == (expected + "Type\nSubscriptionConfirmation\n").encode()


def test_a_null_subject_is_treated_as_absent(key, pem):
    message = sign(key, notification(subject=None))
    SnsVerifier(FakeFetcher(pem)).verify({**message, "Subject": None})


# --- tampering and malformed messages ------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_tampered_message_fails(key, pem, version):
    message = sign(key, notification(), version)
    forbidden(SnsVerifier(FakeFetcher(pem)), {**message, "Message": "Hello world?"})


def test_adding_or_removing_the_subject_fails(key, pem):
    verifier = SnsVerifier(FakeFetcher(pem))
    with_subject = sign(key, notification())
    forbidden(verifier, {k: v for k, v in with_subject.items() if k != "Subject"})
    forbidden(verifier, {**sign(key, notification(subject=None)), "Subject": "added"})


def test_a_signature_from_another_key_fails(pem):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forbidden(SnsVerifier(FakeFetcher(pem)), sign(other, notification()))


@pytest.mark.parametrize("version", ["3", "", None, 1, "SHA256"])
def test_an_unknown_signature_version_fails_without_fetch(key, pem, version):
    fetcher = FakeFetcher(pem)
    forbidden(SnsVerifier(fetcher), {**sign(key, notification()), "SignatureVersion": version})
    assert fetcher.calls == []


@pytest.mark.parametrize("field", ["Message", "MessageId", "Timestamp", "TopicArn", "Type"])
def test_a_missing_signed_field_fails(key, pem, field):
    message = sign(key, notification())
    del message[field]
    forbidden(SnsVerifier(FakeFetcher(pem)), message)


@pytest.mark.parametrize("field", ["Token", "SubscribeURL"])
def test_a_confirmation_without_token_or_url_fails(key, pem, field):
    message = sign(key, confirmation())
    del message[field]
    forbidden(SnsVerifier(FakeFetcher(pem)), message)


@pytest.mark.parametrize("signature", [None, "", "not base64!!", "QQ", 5, "A" * 5000])
def test_a_malformed_signature_fails(key, pem, signature):
    forbidden(SnsVerifier(FakeFetcher(pem)), {**sign(key, notification()), "Signature": signature})


def test_a_non_mapping_message_fails(pem):
    forbidden(SnsVerifier(FakeFetcher(pem)), ["not", "a", "dict"])


# --- certificate URL -----------------------------------------------------------

GOOD_URLS = [
    CERT_URL,
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
    "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "https://sns.ap-southeast-3.amazonaws.com/SimpleNotificationService-abc.pem",
    "https://SNS.US-EAST-1.AMAZONAWS.COM/SimpleNotificationService-abc.pem",
    "https://sns.us-east-1.amazonaws.com:443/SimpleNotificationService-abc.pem",
]

BAD_URLS = [
    "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "HTTPS://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.txt",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem.exe",
    "https://sns.us-east-1.amazonaws.com/",
    "https://sns.us-east-1.amazonaws.com",
    "https://sns.us-east-1.amazonaws.com.evil.com/x.pem",
    "https://evil.com/sns.us-east-1.amazonaws.com/x.pem",
    "https://evil.com/?sns.us-east-1.amazonaws.com.pem",
    "https://sns.us-east-1.amazonaws.com@evil.com/x.pem",
    "https://user:pw@sns.us-east-1.amazonaws.com/x.pem",
    "https://evil.com#@sns.us-east-1.amazonaws.com/x.pem",
    "https://sns.us-east-1.amazonaws.com:8443/x.pem",
    "https://sns.us-east-1.amazonaws.com:/x.pem",
    "https://sns.us-east-1.amazonaws.com./x.pem",
    "https://sns.evil.amazonaws.com/x.pem",
    "https://sns.us-east-1.evil.com/x.pem",
    "https://sns.us-east-\u0661.amazonaws.com/x.pem",
    "https://sqs.us-east-1.amazonaws.com/x.pem",
    "https://xsns.us-east-1.amazonaws.com/x.pem",
    "https://sns.us-east-1.amazonaws.com.cn.evil.com/x.pem",
    "https://sns.us-east-1.amazonaws.com/x.pem?y=1",
    "https://sns.us-east-1.amazonaws.com/x.pem#frag",
    "https://sns.us-east-1.amazonaws.com/../x.pem",
    "https://sns.us-east-1.amazonaws.com/%2e%2e/x.pem",
    "https://sns.us-east-1.amazonaws.com\\@evil.com/x.pem",
    "https://sns.us-east-1.amazonaws.com /x.pem",
    "https://sns.us-east-1.amazonaws.com\n/x.pem",
    "//sns.us-east-1.amazonaws.com/x.pem",
    "file:///etc/sns.us-east-1.amazonaws.com.pem",
    "",
    None,
    42,
]


@pytest.mark.parametrize("url", GOOD_URLS)
def test_sns_certificate_urls_are_accepted(url):
    validate_cert_url(url)


@pytest.mark.parametrize("url", BAD_URLS)
def test_tricky_certificate_urls_are_refused_without_any_fetch(key, pem, url):
    with pytest.raises(Forbidden) as err:
        validate_cert_url(url)
    assert err.value.code == "bad_signing_cert_url"
    fetcher = FakeFetcher(pem)
    message = {**sign(key, notification()), "SigningCertURL": url}
    forbidden(SnsVerifier(fetcher), message, code="bad_signing_cert_url")
    assert fetcher.calls == []


def test_a_missing_certificate_url_is_refused_without_fetch(key, pem):
    fetcher = FakeFetcher(pem)
    message = sign(key, notification())
    del message["SigningCertURL"]
    forbidden(SnsVerifier(fetcher), message, code="bad_signing_cert_url")
    assert fetcher.calls == []


# --- fetch and cache -------------------------------------------------------------


def test_the_certificate_is_fetched_once_for_many_messages(key, pem):
    fetcher = FakeFetcher(pem)
    verifier = SnsVerifier(fetcher)
    for index in range(25):
        body = {**notification(), "MessageId": f"m-{index}"}
        verifier.verify(sign(key, body, "2" if index % 2 else "1"))
    assert fetcher.calls == [CERT_URL]


def test_the_cache_is_bounded_and_evicts_the_least_recently_used(key, pem):
    fetcher = FakeFetcher(pem)
    verifier = SnsVerifier(fetcher, cache_size=2)
    urls = [f"https://sns.us-east-1.amazonaws.com/cert-{n}.pem" for n in range(3)]
    for url in [*urls, urls[2], urls[0]]:
        message = {**notification(), "SigningCertURL": url, "SignatureVersion": "2"}
        raw = key.sign(string_to_sign(message), padding.PKCS1v15(), hashes.SHA256())
        verifier.verify({**message, "Signature": base64.b64encode(raw).decode()})
    assert fetcher.calls == [urls[0], urls[1], urls[2], urls[0]]
    assert verifier.cached_urls() == [urls[2], urls[0]]


def test_an_unparseable_certificate_is_rejected_and_not_cached(key, pem):
    fetcher = FakeFetcher(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    verifier = SnsVerifier(fetcher)
    message = sign(key, notification())
    forbidden(verifier, message)
    forbidden(verifier, message)
    assert len(fetcher.calls) == 2
    assert verifier.cached_urls() == []
    fetcher.body = pem
    verifier.verify(message)
    assert verifier.cached_urls() == [CERT_URL]


def test_a_network_failure_is_a_retryable_503(key):
    verifier = SnsVerifier(FakeFetcher(TimeoutError("slow")))
    with pytest.raises(DependencyUnavailable):
        verifier.verify(sign(key, notification()))
    assert verifier.cached_urls() == []


def test_an_unexpected_fetcher_error_is_a_403(key):
    forbidden(SnsVerifier(FakeFetcher(RuntimeError("boom"))), sign(key, notification()))


def test_a_certificate_without_an_rsa_key_is_rejected(key):
    ec_pem = make_cert(ec.generate_private_key(ec.SECP256R1()))
    forbidden(SnsVerifier(FakeFetcher(ec_pem)), sign(key, notification()))


def test_an_expired_or_not_yet_valid_certificate_is_rejected(key):
    expired = make_cert(key, days_valid=1, offset_days=-10)
    forbidden(SnsVerifier(FakeFetcher(expired)), sign(key, notification()))
    future = make_cert(key, days_valid=10, offset_days=5)
    forbidden(SnsVerifier(FakeFetcher(future)), sign(key, notification()))
    SnsVerifier(FakeFetcher(expired), check_validity=False).verify(sign(key, notification()))


def test_validity_is_checked_against_the_injected_clock(key, pem):
    later = datetime.now(UTC) + timedelta(days=365)
    forbidden(SnsVerifier(FakeFetcher(pem), clock=lambda: later), sign(key, notification()))


def test_default_verifier_is_a_process_wide_singleton():
    assert default_verifier() is default_verifier()


def test_importing_the_modules_does_not_load_cryptography():
    code = (
        "import sys, chalicelib.domain.signatures, chalicelib.adapters.sns_signature;"
        "sys.exit(1 if any(m.startswith('cryptography') for m in sys.modules) else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()


# --- the default urllib fetcher (no real network) ------------------------------


class FakeResponse:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self, limit: int) -> bytes:
        return self.body[:limit]


class FakeOpener:
    def __init__(self, outcome: bytes | Exception) -> None:
        self.outcome = outcome
        self.opened: list[tuple[str, float]] = []

    def open(self, url: str, timeout: float) -> FakeResponse:
        self.opened.append((url, timeout))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return FakeResponse(self.outcome)


@pytest.fixture
def opener(monkeypatch):
    fake = FakeOpener(b"")
    handlers: list[Any] = []

    def build_opener(*args: Any) -> FakeOpener:
        handlers.extend(args)
        return fake

    monkeypatch.setattr(sns_signature.urllib.request, "build_opener", build_opener)
    fake.handlers = handlers  # type: ignore[attr-defined]
    return fake


def test_fetch_certificate_uses_a_timeout_and_refuses_redirects(opener, pem):
    opener.outcome = pem
    assert sns_signature.fetch_certificate(CERT_URL) == pem
    assert opener.opened == [(CERT_URL, 5)]
    (handler,) = opener.handlers
    assert issubclass(handler, urllib.request.HTTPRedirectHandler)
    assert handler().redirect_request(None, None, 302, "Found", {}, "https://evil.com/") is None


def test_fetch_certificate_validates_before_opening(opener):
    with pytest.raises(Forbidden):
        sns_signature.fetch_certificate("https://evil.com/x.pem")
    assert opener.opened == []


def test_fetch_certificate_caps_the_size(opener):
    opener.outcome = b"x" * (64 * 1024 + 1)
    with pytest.raises(Forbidden):
        sns_signature.fetch_certificate(CERT_URL)


@pytest.mark.parametrize(
    ("code", "error"), [(302, Forbidden), (404, Forbidden), (503, DependencyUnavailable)]
)
def test_fetch_certificate_classifies_http_errors(opener, code, error):
    opener.outcome = urllib.error.HTTPError(CERT_URL, code, "x", None, None)  # type: ignore[arg-type]
    with pytest.raises(error):
        sns_signature.fetch_certificate(CERT_URL)


def test_fetch_certificate_timeout_is_retryable(opener):
    opener.outcome = urllib.error.URLError("timed out")
    with pytest.raises(DependencyUnavailable):
        sns_signature.fetch_certificate(CERT_URL)
