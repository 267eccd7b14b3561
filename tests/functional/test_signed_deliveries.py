"""Signed deliveries: PagerDuty and Grafana HMACs, SNS HTTPS subscriptions, the SNS topic."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from tests.conftest import EVAL, load_alert
from tests.unit.test_sns_signature import TOPIC, make_cert, sign

PD_FILE = "pagerduty__v3-signed-incident-priority-updated-go-pagerduty.json"
PD_SECRET = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK"
PD_VALID = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd"
PD_WRONG = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5"


def configure(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    from chalicelib import bootstrap

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    bootstrap.get_container.cache_clear()
    bootstrap.get_settings.cache_clear()


def incidents(api) -> int:
    return api.call("GET", "/incidents")[1]["count"]


@pytest.fixture
def pd_body() -> bytes:
    path = EVAL / "alerts" / PD_FILE
    if not path.exists():
        pytest.skip("eval corpus not found")
    return path.read_bytes()


@pytest.mark.parametrize(("header", "status"), [
    (PD_VALID, 200), (f"v1=deadbeef,{PD_VALID}", 200), (PD_WRONG, 401), (None, 401),
    ("garbage", 401)])
def test_pagerduty_signatures_are_checked_when_a_secret_is_set(
        api, monkeypatch, pd_body, header, status):
    configure(monkeypatch, DROVER_PAGERDUTY_WEBHOOK_SECRETS=f"old-secret,{PD_SECRET}")
    headers = {"X-PagerDuty-Signature": header} if header else {}
    got, body = api.call("POST", "/webhook/pagerduty", raw=pd_body, headers=headers)
    assert got == status, body
    assert incidents(api) == (1 if status == 200 else 0)
    if status == 401:
        assert body["code"] == "bad_signature"


def test_a_tampered_pagerduty_body_is_refused(api, monkeypatch, pd_body):
    configure(monkeypatch, DROVER_PAGERDUTY_WEBHOOK_SECRETS=PD_SECRET)
    tampered = pd_body.replace(b"PGR0VU2", b"PGR0VU3")
    status, _ = api.call("POST", "/webhook/pagerduty", raw=tampered,
                         headers={"X-PagerDuty-Signature": PD_VALID})
    assert status == 401


def grafana_headers(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    signed = f"{timestamp}:".encode() + body
    return {"X-Grafana-Alerting-Signature":
            hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest(),
            "X-Grafana-Alerting-Timestamp": str(timestamp), "X-Source": "grafana"}


@pytest.mark.parametrize(("age", "secret", "status"), [
    (0, "s3cret", 200), (600, "s3cret", 401), (-600, "s3cret", 401), (0, "wrong", 401)])
def test_grafana_signatures_and_their_timestamps_are_checked(api, monkeypatch, age, secret,
                                                            status):
    configure(monkeypatch, DROVER_GRAFANA_WEBHOOK_SECRETS="s3cret",
              DROVER_GRAFANA_SIGNATURE_HEADER="X-Grafana-Alerting-Signature",
              DROVER_GRAFANA_TIMESTAMP_HEADER="X-Grafana-Alerting-Timestamp")
    body = json.dumps(load_alert(
        "grafana__unified-v12-test-alert-relative-generatorurl-keep.json")).encode()
    headers = grafana_headers(body, secret, int(time.time()) - age)
    got, reply = api.call("POST", "/webhook", raw=body, headers=headers)
    assert got == status, reply
    assert incidents(api) == (1 if status == 200 else 0)


class Sns:
    """An SNS HTTPS subscription with a signing key and certificate made by the test."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = make_cert(self.key)
        self.fetched: list[str] = []
        self.confirmed: list[str] = []

    def install(self) -> None:
        from chalicelib.adapters.sns_signature import SnsVerifier
        from chalicelib.bootstrap import get_container
        from chalicelib.services.sns_http import SnsHttpService

        container = get_container()
        verifier = SnsVerifier(fetcher=lambda url: self.fetched.append(url) or self.pem)
        container.__dict__["sns_http"] = SnsHttpService(
            container.ingest, verifier.verify, self.confirmed.append,
            lambda: container.settings.sns_topic_allowlist)

    def message(self, kind: str = "Notification", **fields: Any) -> dict[str, Any]:
        base = {"Type": kind, "MessageId": f"msg-{time.time_ns()}", "TopicArn": TOPIC,
                "Timestamp": "2026-11-24T10:00:00.000Z"}
        if kind == "Notification":
            base["Message"] = json.dumps(load_alert(
                "aws-cloudwatch__alarm-message-single-metric-aws-lambda-go.json"))
            base["Subject"] = "ALARM: EXAMPLE"
        else:
            base.update(Message="confirm", Token="tok",
                        SubscribeURL="https://sns.us-west-2.amazonaws.com/"
                                     "?Action=ConfirmSubscription&Token=tok")
        return sign(self.key, {**base, **fields}, version="2")


@pytest.fixture
def sns(api, monkeypatch) -> Sns:
    configure(monkeypatch, DROVER_SNS_TOPIC_ALLOWLIST=TOPIC)
    subscription = Sns()
    subscription.install()
    return subscription


def test_a_signed_sns_notification_becomes_an_incident(api, sns):
    status, body = api.call("POST", "/webhook/sns", body=sns.message())
    assert status == 200, body
    assert body["incidents"][0]["title"] == "EXAMPLE"
    for _ in range(3):
        api.call("POST", "/webhook/sns", body=sns.message())
    assert len(sns.fetched) == 1  # the certificate is cached


def test_a_tampered_sns_notification_is_refused(api, sns):
    message = sns.message()
    message["Message"] = message["Message"].replace("EXAMPLE", "OTHER")
    status, body = api.call("POST", "/webhook/sns", body=message)
    assert (status, body["code"]) == (403, "bad_signature")
    assert incidents(api) == 0


def test_a_foreign_certificate_host_is_refused_without_fetching(api, sns):
    message = sns.message()
    message["SigningCertURL"] = "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem"
    status, body = api.call("POST", "/webhook/sns", body=message)
    assert (status, body["code"]) == (403, "bad_signing_cert_url")
    assert sns.fetched == []


def test_only_allowlisted_topics_are_confirmed(api, sns):
    status, body = api.call("POST", "/webhook/sns",
                            body=sns.message("SubscriptionConfirmation"))
    assert (status, body["confirmed"]) == (200, True)
    assert sns.confirmed == ["https://sns.us-west-2.amazonaws.com/"
                             "?Action=ConfirmSubscription&Token=tok"]
    other = sns.message("SubscriptionConfirmation",
                        TopicArn="arn:aws:sns:us-west-2:999999999999:Other")
    status, body = api.call("POST", "/webhook/sns", body=other)
    assert (status, body["code"]) == (403, "topic_not_allowed")
    assert len(sns.confirmed) == 1


def test_the_alerts_topic_subscriber_turns_an_alarm_into_an_incident(api):
    from chalice.test import Client

    import app as app_module

    alarm = json.dumps(load_alert("aws-cloudwatch__alarm-message-single-metric-aws-lambda-go.json"))
    with Client(app_module.app) as client:
        event = client.events.generate_sns_event(message=alarm, subject="ALARM: EXAMPLE")
        client.lambda_.invoke("alerts_subscriber", event)
        client.lambda_.invoke("alerts_subscriber", event)  # a retried delivery: same MessageId
        _, listed = api.call("GET", "/incidents")
        assert [(i["title"], i["alert_count"]) for i in listed["incidents"]] == [("EXAMPLE", 1)]
        event["Records"][0]["Sns"]["MessageId"] = "another-notification"
        client.lambda_.invoke("alerts_subscriber", event)
    _, listed = api.call("GET", "/incidents")
    assert [(i["title"], i["alert_count"]) for i in listed["incidents"]] == [("EXAMPLE", 2)]
