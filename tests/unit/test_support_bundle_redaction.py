"""The support bundle's redaction of secrets in log and event text."""

from __future__ import annotations

import pytest

from chalicelib.services.support_bundle import redact, redact_count

AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"


@pytest.mark.parametrize(("text", "secret"), [
    ("GET /api Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "eyJhbGci"),
    ("curl -H 'authorization: bearer abcdefgh12345678'", "abcdefgh12345678"),
    (f"using access key {AWS_KEY} for s3", AWS_KEY),
    (f"aws_secret_access_key={AWS_SECRET}", AWS_SECRET),
    (f'{{"SecretAccessKey": "{AWS_SECRET}"}}', AWS_SECRET),
    ("connecting with password=hunter2 to db", "hunter2"),
    ('{"password": "s3cr3t value"}', "s3cr3t value"),
    ("PASSWD: 'pa ss'", "pa ss"),
    ("dsn postgres://app:topsecret@db:5432/orders", "topsecret"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow"),
])
def test_secrets_are_replaced(text, secret):
    clean = redact(text)
    assert secret not in clean
    assert "[REDACTED]" in clean


@pytest.mark.parametrize("text", [
    "2026-03-04T09:08:12Z INFO orders-api 1.14.0 starting (pid 1)",
    "found DB_HOST=orders-db.demo-shop.svc DB_PORT=5432",
    "Back-off restarting failed container",
    "the bearer of bad news",
])
def test_ordinary_log_lines_are_left_alone(text):
    assert redact_count(text) == (text, 0)


def test_each_replacement_is_counted():
    clean, count = redact_count("password=a token: Bearer abcdefghijk password=b")
    assert count == 3
    assert clean == "password=[REDACTED] token: Bearer [REDACTED] password=[REDACTED]"
