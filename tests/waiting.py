"""Waiting for something asynchronous (a workflow, a consumer) without sleeping blindly."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(check: Callable[[], Any], what: str, seconds: float = 30,
               interval: float = 0.05) -> Any:
    """Call ``check`` until it returns something truthy (returned), or fail saying ``what``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"gave up waiting for {what}")
