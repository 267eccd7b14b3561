"""The embedded stack treats handler results and schedules as Lambda and EventBridge do."""

from __future__ import annotations

import threading

import pytest

from infra.local.scheduler import RateScheduler, rate_seconds
from infra.local.sqs_poller import failed_ids

RECEIVED = {"m1", "m2", "m3"}


@pytest.mark.parametrize(("result", "expected"), [
    (None, set()),
    ({"batchItemFailures": []}, set()),
    ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, {"m2"}),
    ({"batchItemFailures": [{"itemIdentifier": "unknown"}]}, RECEIVED),
    ({"batchItemFailures": [{}]}, RECEIVED),
    ({"batchItemFailures": "m2"}, RECEIVED),
    ("not a dict", RECEIVED),
])
def test_partial_batch_responses_decide_which_messages_are_retried(result: object,
                                                                   expected: set[str]):
    assert failed_ids(result, set(RECEIVED)) == expected


@pytest.mark.parametrize(("expression", "seconds"), [
    ("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200),
    ("rate(1 day)", 86400),
])
def test_rate_expressions_give_their_period(expression: str, seconds: int):
    assert rate_seconds(expression) == seconds


def test_cron_schedules_are_refused_clearly():
    with pytest.raises(ValueError, match="rate"):
        rate_seconds("cron(0 12 * * ? *)")


def test_a_scheduled_handler_fires_repeatedly_with_a_scheduled_event():
    fired = threading.Event()
    events: list[dict] = []

    def handler(event: dict, context: object) -> None:
        events.append(event)
        if len(events) >= 2:
            fired.set()

    scheduler = RateScheduler("patrol", "rate(1 minute)", handler, scale=0.0005)
    scheduler.start()
    assert fired.wait(5)
    scheduler.stop()
    scheduler.join(2)
    assert events[0]["detail-type"] == "Scheduled Event"
    assert events[0]["resources"][0].endswith("rule/patrol")


def test_a_failing_scheduled_handler_does_not_stop_the_schedule():
    calls = threading.Event()
    count = {"n": 0}

    def handler(event: dict, context: object) -> None:
        count["n"] += 1
        if count["n"] >= 2:
            calls.set()
        raise RuntimeError("boom")

    scheduler = RateScheduler("flaky", "rate(1 minute)", handler, scale=0.0005)
    scheduler.start()
    assert calls.wait(5)
    scheduler.stop()
    scheduler.join(2)


def test_a_null_failure_list_means_the_whole_batch_succeeded():
    assert failed_ids({"batchItemFailures": None}, set(RECEIVED)) == set()
