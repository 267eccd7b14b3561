"""The embedded stack runs the remediation state machine on its moto server, and the Lambda
tasks run app.py's functions in the stack's own process.

The stack is started in this process (not as `python -m infra.local`) so the test can put
fake RemediationSteps where the tasks look for them.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.domain.remediation_ports import RemediationSteps
from tests.integration.test_embedded_stack import free_port, wait_for

pytestmark = pytest.mark.integration


class ThreadRecordingSteps(RemediationSteps):
    """Records which step ran on which thread of this process."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, int]] = []
        self.waiting = threading.Event()

    def _step(self, name: str) -> dict[str, Any]:
        self.ran.append((name, threading.get_ident()))
        return {}

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        return self._step("validate")

    def dry_run(self, state: dict[str, Any]) -> dict[str, Any]:
        return self._step("dry_run")

    def await_approval(self, state: dict[str, Any]) -> None:
        self._step("await_approval")
        self.token = state["task_token"]
        self.waiting.set()

    def execute(self, state: dict[str, Any]) -> dict[str, Any]:
        return self._step("execute")

    def verify(self, state: dict[str, Any]) -> dict[str, Any]:
        return {**self._step("verify"), "verified": True}

    def rollback(self, state: dict[str, Any]) -> dict[str, Any]:
        return self._step("rollback")

    def record(self, state: dict[str, Any]) -> dict[str, Any]:
        return self._step("record")


@pytest.fixture(scope="module")
def embedded() -> Iterator[Any]:
    """The embedded stack in this process, the environment restored afterwards."""
    from chalicelib import bootstrap
    from infra.local.embedded import EmbeddedStack

    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith(("AWS_", "DROVER_", "MOTO_"))]:
        del os.environ[name]
    os.environ["DROVER_LOCAL_KEY"] = base64.b64encode(b"k" * 32).decode()
    os.environ["DROVER_BOOTSTRAP_API_KEY"] = "drv_integration-remediation"
    bootstrap.reset()
    running = EmbeddedStack(port=free_port())
    try:
        running.start()
        yield running
    finally:
        running.stop()
        os.environ.clear()
        os.environ.update(saved)
        bootstrap.reset()


def test_a_started_execution_runs_its_tasks_in_the_stacks_process(embedded):
    from chalicelib.bootstrap import get_container

    steps = ThreadRecordingSteps()
    get_container().__dict__["remediation_steps"] = steps
    workflow = get_container().workflow_starter

    arn = workflow.start("act-embedded-1", {"workspace_id": "default",
                                            "approval_required": True,
                                            "approval_timeout_seconds": 60})
    wait_for(steps.waiting.is_set, what="the approval wait")
    assert workflow.status(arn)["status"] == "RUNNING"
    workflow.approve(steps.token, {"approved_by": "integration"})
    done = wait_for(lambda: (s := workflow.status(arn))["status"] != "RUNNING" and s,
                    what="the execution to finish")

    assert done["status"] == "SUCCEEDED"
    assert done["output"]["outcome"] == "succeeded"
    assert [name for name, _ in steps.ran] == [
        "validate", "dry_run", "await_approval", "execute", "verify", "record"]
    # Each task ran on a thread of the moto server serving Lambda's Invoke, not on ours.
    assert threading.get_ident() not in {thread for _, thread in steps.ran}


def test_a_failing_step_reaches_the_state_machine_by_its_class_name_over_http(embedded):
    from chalicelib.bootstrap import get_container
    from chalicelib.domain.remediation_ports import StepFailed

    class RefusingSteps(ThreadRecordingSteps):
        def validate(self, state: dict[str, Any]) -> dict[str, Any]:
            raise StepFailed("namespace kube-system is protected")

    steps = RefusingSteps()
    get_container().__dict__["remediation_steps"] = steps
    workflow = get_container().workflow_starter

    arn = workflow.start("act-embedded-2", {"workspace_id": "default",
                                            "approval_required": False})
    done = wait_for(lambda: (s := workflow.status(arn))["status"] != "RUNNING" and s,
                    what="the execution to finish")

    assert done["status"] == "FAILED"
    assert done["error"] == "StepFailed"
    assert done["cause"] == "namespace kube-system is protected"
    assert [name for name, _ in steps.ran] == ["record"]
