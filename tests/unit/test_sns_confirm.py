"""Only genuine SNS ConfirmSubscription URLs are ever visited."""

from __future__ import annotations

import pytest

from chalicelib.adapters.sns_confirm import confirm_subscription, validate_subscribe_url
from chalicelib.domain.errors import Forbidden

GOOD = "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=a&Token=t"


def test_a_genuine_confirmation_url_is_accepted():
    assert validate_subscribe_url(GOOD) == GOOD
    assert validate_subscribe_url(GOOD.replace(".com/", ".com:443/"))


@pytest.mark.parametrize("url", [
    None, "", GOOD.replace("https", "http"),
    "https://sns.us-west-2.amazonaws.com.evil.example/?Action=ConfirmSubscription",
    "https://evil.example/sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
    "https://user:pw@sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
    "https://sns.us-west-2.amazonaws.com:8443/?Action=ConfirmSubscription",
    "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe",
    "https://sns.us-west-2.amazonaws.com/" + "a" * 5000,
])
def test_anything_else_is_refused_before_any_request(url, monkeypatch):
    import chalicelib.adapters.sns_confirm as module

    monkeypatch.setattr(module, "read_sns_url", pytest.fail)
    with pytest.raises(Forbidden):
        confirm_subscription(url)
