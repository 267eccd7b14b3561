"""Golden tests: secrets never survive redaction, and ordinary text is left alone."""

from __future__ import annotations

import pytest

from chalicelib.domain.redaction import redact, secret_env_names

PEM = """-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEA7bq0nGkNf1fakefakefakefakefakefakefakefake
abcdefghijklmnopqrstuvwxyz0123456789
-----END RSA PRIVATE KEY-----"""

GOLDEN = [
    ("aws access key AKIAIOSFODNN7EXAMPLE used", "aws access key [REDACTED-AWS-KEY] used"),
    ("temp key ASIAY34FZKBOKMUTVV7A", "temp key [REDACTED-AWS-KEY]"),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "aws_secret_access_key=[REDACTED]"),
    ("Authorization: Bearer abc.def-ghi_jkl123456", "Authorization: Bearer [REDACTED]"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpM",
     "jwt [REDACTED-JWT]"),
    ("connecting to postgres://app:s3cr3t@db:5432/orders",
     "connecting to postgres://app:[REDACTED]@db:5432/orders"),
    ("password=hunter2 user=bob", "password=[REDACTED] user=bob"),
    ("DB_PASSWORD: 'correct horse'", "DB_PASSWORD: '[REDACTED]'"),
    ('{"api_key": "sk-live-123456"}', '{"api_key": "[REDACTED]"}'),
    ("client_secret=abc123&grant=x", "client_secret=[REDACTED]&grant=x"),
    ("x-api-token: drv_abcdef", "x-api-token: [REDACTED]"),
    (f"cert follows {PEM} end", "cert follows [REDACTED-PEM RSA PRIVATE KEY] end"),
    ("-----BEGIN CERTIFICATE-----\nMIIB truncated", "[REDACTED-PEM CERTIFICATE]"),
    ("OOMKilled exitCode=137 limit 100Mi", "OOMKilled exitCode=137 limit 100Mi"),
    ("Environment variable DEPLOY_ENV is undefined",
     "Environment variable DEPLOY_ENV is undefined"),
    ("GET /healthz 200 in 3ms", "GET /healthz 200 in 3ms"),
]


@pytest.mark.parametrize(("raw", "expected"), GOLDEN)
def test_redaction_golden(raw: str, expected: str) -> None:
    assert redact(raw) == expected


def test_values_of_env_vars_taken_from_secrets_are_redacted() -> None:
    spec = {"containers": [{"name": "app", "env": [
        {"name": "STRIPE_WEBHOOK", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "MODE", "value": "prod"}]}]}
    names = secret_env_names(spec)
    assert names == {"STRIPE_WEBHOOK"}
    assert redact("starting with STRIPE_WEBHOOK=whsec_9f8e7d MODE=prod", names) == \
        "starting with STRIPE_WEBHOOK=[REDACTED] MODE=prod"


def test_redaction_is_idempotent() -> None:
    for raw, _ in GOLDEN:
        once = redact(raw)
        assert redact(once) == once
