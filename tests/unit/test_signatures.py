"""PagerDuty v3 and Grafana webhook signatures: known vectors, rotation, tampering, replay."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.signatures import (
    check_timestamp_fresh,
    hmac_sha256_hex,
    verify_grafana,
    verify_hmac_sha256,
    verify_pagerduty,
)

ALERTS = Path(__file__).resolve().parents[3] / "shared" / "eval" / "alerts"
PD_VECTOR = ALERTS / "pagerduty__v3-signed-incident-priority-updated-go-pagerduty.json"
# Test secret and signatures from go-pagerduty, as listed in INDEX.md section 3.
PD_SECRET = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK"
PD_VALID = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd"
PD_REJECT = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5"

GRAFANA_SECRET = "grafana-hmac-secret"
NOW = 1_750_000_000
BODY = b'{"receiver":"drover","status":"firing","alerts":[]}'


@pytest.fixture(scope="module")
def pd_body() -> bytes:
    if not PD_VECTOR.exists():
        pytest.skip(f"eval vector not present: {PD_VECTOR}")
    return PD_VECTOR.read_bytes()


def rejected(call, *args, **kwargs) -> Unauthorized:
    with pytest.raises(Unauthorized) as err:
        call(*args, **kwargs)
    assert err.value.code == "bad_signature"
    assert err.value.status == 401
    return err.value


# --- PagerDuty ---------------------------------------------------------------


def test_pagerduty_vector_verifies(pd_body):
    verify_pagerduty(pd_body, PD_VALID, [PD_SECRET])


def test_pagerduty_must_reject_value_is_rejected(pd_body):
    err = rejected(verify_pagerduty, pd_body, PD_REJECT, [PD_SECRET])
    assert PD_SECRET not in err.message
    assert PD_SECRET not in str(err.to_body())


def test_pagerduty_one_valid_among_several_values(pd_body):
    verify_pagerduty(pd_body, f"{PD_REJECT}, {PD_VALID}", [PD_SECRET])
    verify_pagerduty(pd_body, f"{PD_VALID},{PD_REJECT}", [PD_SECRET])


def test_pagerduty_rotation_accepts_either_active_secret(pd_body):
    verify_pagerduty(pd_body, PD_VALID, ["the-new-secret", PD_SECRET])
    new_sig = "v1=" + hmac_sha256_hex("the-new-secret", pd_body)
    verify_pagerduty(pd_body, new_sig, ["the-new-secret", PD_SECRET])
    verify_pagerduty(pd_body, f"{PD_VALID},{new_sig}", ["the-new-secret"])


def test_pagerduty_tampered_body_is_rejected(pd_body):
    rejected(verify_pagerduty, pd_body.replace(b"P1", b"P2", 1), PD_VALID, [PD_SECRET])
    rejected(verify_pagerduty, pd_body + b"\n", PD_VALID, [PD_SECRET])


def test_pagerduty_wrong_secret_is_rejected(pd_body):
    rejected(verify_pagerduty, pd_body, PD_VALID, ["not-the-secret"])


def test_pagerduty_uppercase_hex_is_accepted(pd_body):
    verify_pagerduty(pd_body, "v1=" + PD_VALID[3:].upper(), [PD_SECRET])


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "garbage",
        "v1=",
        "v1=zz",
        "v1=" + "0" * 63,
        "v2=" + PD_VALID[3:],  # unknown version only
        PD_VALID[3:],  # bare hex, no version
        "v1=" + "a" * 5000,
    ],
)
def test_pagerduty_missing_or_garbled_header_is_rejected(pd_body, header):
    rejected(verify_pagerduty, pd_body, header, [PD_SECRET])


def test_pagerduty_unknown_versions_are_ignored(pd_body):
    verify_pagerduty(pd_body, f"v0=abc, v2={'f' * 64}, {PD_VALID}", [PD_SECRET])


def test_pagerduty_without_configured_secret_fails_closed(pd_body):
    rejected(verify_pagerduty, pd_body, PD_VALID, [])
    rejected(verify_pagerduty, pd_body, PD_VALID, [""])


# --- Grafana -----------------------------------------------------------------


def grafana_sig(body: bytes, ts: int | str, secret: str = GRAFANA_SECRET) -> str:
    """Sign as grafana/alerting http/hmac.go does: hex HMAC-SHA256 of 'ts:body'."""
    return hmac_sha256_hex(secret, f"{ts}:".encode() + body)


def test_grafana_valid_signature_passes():
    verify_grafana(BODY, grafana_sig(BODY, NOW), str(NOW), GRAFANA_SECRET, NOW)


def test_grafana_accepts_a_datetime_now():
    now = datetime.fromtimestamp(NOW + 10, UTC)
    verify_grafana(BODY, grafana_sig(BODY, NOW), str(NOW), GRAFANA_SECRET, now)


def test_grafana_tampered_body_is_rejected():
    sig = grafana_sig(BODY, NOW)
    rejected(
        verify_grafana, BODY.replace(b"firing", b"resolved"), sig, str(NOW), GRAFANA_SECRET, NOW
    )


def test_grafana_signature_bound_to_timestamp():
    sig = grafana_sig(BODY, NOW)
    rejected(verify_grafana, BODY, sig, str(NOW + 1), GRAFANA_SECRET, NOW)


def test_grafana_old_timestamp_is_rejected_even_if_signed():
    old = NOW - 301
    err = rejected(verify_grafana, BODY, grafana_sig(BODY, old), str(old), GRAFANA_SECRET, NOW)
    assert "300" in err.message


def test_grafana_future_timestamp_is_rejected():
    future = NOW + 301
    rejected(verify_grafana, BODY, grafana_sig(BODY, future), str(future), GRAFANA_SECRET, NOW)


def test_grafana_edge_of_window_is_accepted():
    edge = NOW - 300
    verify_grafana(BODY, grafana_sig(BODY, edge), str(edge), GRAFANA_SECRET, NOW)


@pytest.mark.parametrize("signature", [None, "", "nothex", "sha256=" + "0" * 64])
def test_grafana_missing_or_malformed_signature_is_rejected(signature):
    rejected(verify_grafana, BODY, signature, str(NOW), GRAFANA_SECRET, NOW)


def test_grafana_missing_timestamp_is_rejected_by_default():
    sig = hmac_sha256_hex(GRAFANA_SECRET, BODY)
    rejected(verify_grafana, BODY, sig, None, GRAFANA_SECRET, NOW)


def test_grafana_body_only_signature_when_timestamp_not_required():
    sig = hmac_sha256_hex(GRAFANA_SECRET, BODY)
    verify_grafana(BODY, sig, None, GRAFANA_SECRET, NOW, require_timestamp=False)
    rejected(verify_grafana, BODY + b" ", sig, None, GRAFANA_SECRET, NOW, require_timestamp=False)


def test_grafana_wrong_secret_and_rotation():
    sig = grafana_sig(BODY, NOW, "old-secret")
    rejected(verify_grafana, BODY, sig, str(NOW), GRAFANA_SECRET, NOW)
    verify_grafana(BODY, sig, str(NOW), [GRAFANA_SECRET, "old-secret"], NOW)


def test_grafana_custom_max_age():
    old = NOW - 100
    sig = grafana_sig(BODY, old)
    rejected(verify_grafana, BODY, sig, str(old), GRAFANA_SECRET, NOW, max_age=60)


# --- shared helpers ----------------------------------------------------------


@pytest.mark.parametrize(
    "ts", [None, "", "abc", "-5", "1.5", "1e9", "9" * 20, True, "\u0661\u0667\u0665\u0660"]
)
def test_check_timestamp_fresh_rejects_non_unix_seconds(ts):
    rejected(check_timestamp_fresh, ts, NOW)


def test_check_timestamp_fresh_returns_seconds():
    assert check_timestamp_fresh(str(NOW - 5), NOW) == NOW - 5
    assert check_timestamp_fresh(NOW + 5, NOW) == NOW + 5


def test_verify_hmac_sha256_ignores_empty_secrets():
    assert not verify_hmac_sha256(b"x", [hmac_sha256_hex("", b"x")], [""])
    assert verify_hmac_sha256(b"x", [hmac_sha256_hex("k", b"x")], ["", "k"])
