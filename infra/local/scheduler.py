"""Fires @app.schedule handlers on their rate, as EventBridge schedules would."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from infra.local.lambda_runtime import LocalLambdaContext, scheduled_event

logger = logging.getLogger("drover.local.schedule")
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float:
    """Seconds between runs of an EventBridge ``rate(...)`` expression.

    ``cron(...)`` schedules are refused: the embedded stack fires rates only.
    """
    match = _RATE.match(expression.strip())
    if not match:
        raise ValueError(f"the embedded stack runs rate(...) schedules only, not '{expression}'")
    count, unit = int(match.group(1)), match.group(2).rstrip("s")
    return float(count * _UNIT_SECONDS[unit])


class RateScheduler(threading.Thread):
    """A thread that invokes one handler every period until stopped."""

    def __init__(self, name: str, expression: str, handler: Callable[..., Any], *,
                 scale: float = 1.0, region: str = "us-east-1") -> None:
        super().__init__(name=f"schedule-{name}", daemon=True)
        self.rule_name = name
        self.period = rate_seconds(expression) * scale
        self.handler = handler
        self.region = region
        self.runs = 0
        self._stop_event = threading.Event()

    def stop(self) -> None:
        """Stop before the next run."""
        self._stop_event.set()

    def run(self) -> None:
        """Wait one period, fire, repeat; a failing run is logged and the schedule goes on."""
        while not self._stop_event.wait(self.period):
            try:
                self.handler(scheduled_event(self.rule_name, self.region),
                             LocalLambdaContext(self.rule_name))
            except Exception:
                logger.exception("scheduled handler %s failed", self.rule_name)
            self.runs += 1
