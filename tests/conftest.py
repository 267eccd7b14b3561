"""Shared fixtures: the eval corpus, canned events, and an in-process AWS built from infra/."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"
EVENTS = Path(__file__).resolve().parent / "events"
TEST_STACK = "drover-test"


def load_event(name: str) -> Any:
    """A canned payload from tests/events."""
    return json.loads((EVENTS / name).read_text())


def load_alert(name: str) -> Any:
    """A real payload from the shared eval corpus (skips if the corpus is not beside us)."""
    path = EVAL / "alerts" / name
    if not path.exists():
        pytest.skip(f"eval corpus not found at {path}")
    return json.loads(path.read_text())


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's AWS in-process, with the resources of infra/resources.json created through
    moto's CloudFormation, and Drover's caches reset around the test. State machines run for
    real (moto's executor), their Lambda tasks in-process on app.py's functions."""
    from moto import mock_aws

    from chalicelib import bootstrap
    from infra import stack
    from infra.local import sfn_tasks

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # The credential cipher's local key (the embedded stack keeps its own in .drover/).
    monkeypatch.setenv("DROVER_LOCAL_KEY", base64.b64encode(b"k" * 32).decode())
    monkeypatch.delenv("DROVER_KMS_KEY_ID", raising=False)
    env = stack.stage_environment("local")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    bootstrap.reset()
    with mock_aws(config=sfn_tasks.MOTO_CONFIG):  # type: ignore[arg-type]
        import boto3

        sfn_tasks.install(prefix=f"{TEST_STACK}-")
        stack.deploy(boto3.session.Session(), TEST_STACK, env)
        # Made now: a test may undo the environment (monkeypatch.undo) before teardown.
        stepfunctions = boto3.client("stepfunctions", region_name="us-east-1")
        yield
        sfn_tasks.stop_running_executions(stepfunctions)
    bootstrap.reset()
