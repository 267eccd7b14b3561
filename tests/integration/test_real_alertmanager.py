"""A real prometheus-alertmanager delivers to the embedded stack through its webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench._stack import (
    INSTALL_HINT,
    Alertmanager,
    Drover,
    alertmanager,
    alertmanager_binary,
    drover_stack,
    wait_for,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(alertmanager_binary() is None,
                       reason=f"prometheus-alertmanager is not installed; {INSTALL_HINT}"),
]
KEY = "drv_real-alertmanager-admin"
CLUSTER = "am-test"
TITLE = "DroverAmCrashLooping"
WRONG_KEY_TITLE = "DroverAmWrongKey"


def _receiver(name: str, url: str, credentials: str) -> dict[str, Any]:
    return {"name": name, "webhook_configs": [{
        "url": url, "send_resolved": True,
        "http_config": {"authorization": {"type": "Bearer", "credentials": credentials}},
    }]}


def _config(drover: Drover) -> dict[str, Any]:
    url = f"{drover.url}/webhook?source=alertmanager&cluster={CLUSTER}"
    return {
        "route": {
            "receiver": "drover", "group_by": ["alertname"], "group_wait": "0s",
            "group_interval": "1s", "repeat_interval": "4h",
            "routes": [{"receiver": "drover-wrong-key",
                        "matchers": ['drover_test="wrong-key"']}],
        },
        "receivers": [_receiver("drover", url, KEY),
                      _receiver("drover-wrong-key", url, "drv_not-a-key")],
    }


@pytest.fixture(scope="module")
def drover() -> Iterator[Drover]:
    with drover_stack(KEY) as running:
        yield running


@pytest.fixture(scope="module")
def am(drover: Drover, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    with alertmanager(_config(drover), Path(tmp_path_factory.mktemp("alertmanager"))) as running:
        yield running


def _alert(title: str, pod: str, *, resolved: bool = False, **labels: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    alert: dict[str, Any] = {
        "labels": {"alertname": title, "severity": "critical", "namespace": "payments",
                   "pod": pod, **labels},
        "annotations": {"summary": f"{pod} is crash looping"},
        "startsAt": (now - timedelta(minutes=5)).isoformat(),
        "generatorURL": "http://prometheus.example/graph",
    }
    if resolved:
        alert["endsAt"] = (now - timedelta(seconds=30)).isoformat()
    return alert


def _post(am: Alertmanager, *alerts: dict[str, Any]) -> None:
    response = am.post_alerts(list(alerts))
    assert response.status_code == 200, response.text


def _by_pod(drover: Drover, title: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for incident in drover.incidents(title):
        found.setdefault(incident["pod"], []).append(incident)
    return found


def test_alertmanager_notifications_open_deduplicate_and_resolve_incidents(drover, am):
    _post(am, _alert(TITLE, "api-1"))
    first = wait_for(lambda: _by_pod(drover, TITLE).get("api-1"), timeout=15,
                     what="Alertmanager's notification to open an incident")
    assert len(first) == 1
    incident = first[0]
    assert (incident["severity"], incident["namespace"], incident["cluster"]) == (
        "critical", "payments", CLUSTER)
    assert incident["state"] == "open" and incident["integration"] == "alertmanager"

    # The same alert again, then a second alert of the group: Alertmanager re-sends api-1
    # in the group's next notification and Drover counts it on the open incident.
    _post(am, _alert(TITLE, "api-1"))
    _post(am, _alert(TITLE, "api-2"))
    pods = wait_for(lambda: (p := _by_pod(drover, TITLE)) and "api-2" in p and p, timeout=15,
                    what="the group's second notification")
    assert len(pods["api-1"]) == 1 and len(pods["api-2"]) == 1
    assert pods["api-1"][0]["id"] == incident["id"]
    assert pods["api-1"][0]["alert_count"] >= 2

    _post(am, _alert(TITLE, "api-1", resolved=True))
    resolved = wait_for(
        lambda: [i for i in drover.incidents(TITLE, state="resolved") if i["pod"] == "api-1"],
        timeout=15, what="the resolved notification to resolve the incident")
    assert [i["id"] for i in resolved] == [incident["id"]]
    assert _by_pod(drover, TITLE)["api-2"][0]["state"] == "open"
    assert len(drover.incidents(TITLE)) == 2


def test_a_receiver_with_a_wrong_bearer_credential_is_refused(drover, am):
    _post(am, _alert(WRONG_KEY_TITLE, "web-1", drover_test="wrong-key"))

    def refused() -> list[str]:
        return [line for line in am.logs().splitlines()
                if "drover-wrong-key" in line and "401" in line]

    lines = wait_for(refused, timeout=15, what="Alertmanager to log Drover's 401")
    assert "unexpected status code 401" in lines[0]
    assert drover.incidents(WRONG_KEY_TITLE) == []
