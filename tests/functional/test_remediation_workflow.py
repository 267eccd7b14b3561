"""The remediation state machine of infra/ run by moto's executor, its Lambda tasks dispatched
in-process to app.py's functions, each doing what a fake RemediationSteps says."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.domain.errors import BadRequest, Conflict, NotFound
from chalicelib.domain.remediation_ports import RemediationSteps, StepFailed, TransientStepError
from tests.waiting import wait_until


class FakeSteps(RemediationSteps):
    """Records every step it runs; ``failures`` makes a step raise (once per queued error)."""

    def __init__(self, verified: bool = True) -> None:
        self.verified = verified
        self.ran: list[str] = []
        self.states: dict[str, dict[str, Any]] = {}
        self.failures: dict[str, list[Exception]] = {}
        self.waiting = threading.Event()

    def _step(self, name: str, state: dict[str, Any], **adds: Any) -> dict[str, Any]:
        self.ran.append(name)
        self.states[name] = state
        queued = self.failures.get(name)
        if queued:
            raise queued.pop(0)
        return {f"{name}_done": True, **adds}

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        return self._step("validate", state)

    def dry_run(self, state: dict[str, Any]) -> dict[str, Any]:
        return self._step("dry_run", state, diff="- replicas: 1\n+ replicas: 2")

    def await_approval(self, state: dict[str, Any]) -> None:
        self._step("await_approval", state)
        self.waiting.set()

    def execute(self, state: dict[str, Any]) -> dict[str, Any]:
        return self._step("execute", state, undo={"replicas": 1})

    def verify(self, state: dict[str, Any]) -> dict[str, Any]:
        return self._step("verify", state, verified=self.verified)

    def rollback(self, state: dict[str, Any]) -> dict[str, Any]:
        return self._step("rollback", state)

    def record(self, state: dict[str, Any]) -> dict[str, Any]:
        return self._step("record", state)

    @property
    def task_token(self) -> str:
        """The token the workflow handed to await_approval."""
        return str(self.states["await_approval"]["task_token"])


@pytest.fixture
def steps(aws: None) -> Iterator[FakeSteps]:
    """The fake steps, in the container the Lambda tasks use."""
    from chalicelib.bootstrap import get_container

    fake = FakeSteps()
    get_container().__dict__["remediation_steps"] = fake
    yield fake


@pytest.fixture
def workflow(steps: FakeSteps) -> Any:
    """The WorkflowStarter of the container (Step Functions on moto)."""
    from chalicelib.bootstrap import get_container

    return get_container().workflow_starter




def finished(workflow: Any, arn: str) -> dict[str, Any]:
    """The execution's status once it has stopped running."""
    return wait_until(lambda: (s := workflow.status(arn))["status"] != "RUNNING" and s,
                      "the execution to finish")


def start(workflow: Any, action_id: str = "act_1", **state: Any) -> str:
    return workflow.start(action_id, {"workspace_id": "default", "approval_required": False,
                                      **state})


def test_an_action_without_approval_runs_every_step_in_order_and_succeeds(workflow, steps):
    done = finished(workflow, start(workflow))

    assert done["status"] == "SUCCEEDED"
    assert steps.ran == ["validate", "dry_run", "execute", "verify", "record"]
    assert done["output"]["outcome"] == "succeeded"
    assert done["output"]["diff"] == "- replicas: 1\n+ replicas: 2"
    assert steps.states["record"]["action_id"] == "act_1"
    assert steps.states["record"]["undo"] == {"replicas": 1}


def test_an_action_needing_approval_waits_with_its_token_until_approved(workflow, steps):
    arn = start(workflow, approval_required=True, approval_timeout_seconds=600)
    wait_until(steps.waiting.is_set, "the approval wait")

    assert workflow.status(arn)["status"] == "RUNNING"
    assert steps.ran == ["validate", "dry_run", "await_approval"]
    assert steps.states["await_approval"]["diff"].startswith("- replicas")

    workflow.approve(steps.task_token, {"approved_by": "alice"})
    done = finished(workflow, arn)

    assert done["status"] == "SUCCEEDED"
    assert steps.ran[3:] == ["execute", "verify", "record"]
    assert steps.states["execute"]["approval"] == {"approved_by": "alice"}
    assert done["output"]["outcome"] == "succeeded"


def test_without_approval_flag_or_timeout_the_action_waits_an_hour_for_approval(workflow,
                                                                                steps):
    arn = workflow.start("act_1", {"workspace_id": "default"})
    wait_until(steps.waiting.is_set, "the approval wait")

    assert workflow.status(arn)["status"] == "RUNNING"
    assert "execute" not in steps.ran
    assert steps.states["await_approval"]["approval_timeout_seconds"] == 3600


@pytest.mark.parametrize("timeout", [0, -5, 1.5, "60", True, None])
def test_an_approval_timeout_that_is_not_whole_seconds_starts_nothing(workflow, steps, timeout):
    with pytest.raises(BadRequest):
        start(workflow, approval_required=True, approval_timeout_seconds=timeout)
    assert steps.ran == []


def test_a_rejected_action_never_executes_and_records_the_rejection(workflow, steps):
    arn = start(workflow, approval_required=True, approval_timeout_seconds=600)
    wait_until(steps.waiting.is_set, "the approval wait")

    workflow.reject(steps.task_token, "Rejected", "bob: not during the freeze")
    done = finished(workflow, arn)

    assert "execute" not in steps.ran
    assert steps.ran[-1] == "record"
    assert steps.states["record"]["outcome"] == "rejected"
    # moto drops SendTaskFailure's cause (AWS keeps it): only the error is checked.
    assert steps.states["record"]["error"]["Error"] == "Rejected"
    assert done["output"]["outcome"] == "rejected"


def test_an_approval_that_never_comes_times_out_without_executing(workflow, steps):
    arn = start(workflow, approval_required=True, approval_timeout_seconds=1)
    done = finished(workflow, arn)

    assert "execute" not in steps.ran
    assert steps.states["record"]["outcome"] == "timed_out"
    assert steps.states["record"]["error"]["Error"] == "States.Timeout"
    assert done["output"]["outcome"] == "timed_out"
    with pytest.raises(Conflict):
        workflow.approve(steps.task_token, {"approved_by": "late"})


def test_an_approval_cannot_be_answered_twice(workflow, steps):
    arn = start(workflow, approval_required=True, approval_timeout_seconds=600)
    wait_until(steps.waiting.is_set, "the approval wait")
    workflow.approve(steps.task_token, {"approved_by": "alice"})
    finished(workflow, arn)

    with pytest.raises(Conflict) as raised:
        workflow.approve(steps.task_token, {"approved_by": "mallory"})
    assert raised.value.code == "approval_not_waiting"
    assert steps.ran.count("execute") == 1


def test_a_failed_verification_rolls_back_and_records_rolled_back(workflow, steps):
    steps.verified = False
    done = finished(workflow, start(workflow))

    assert steps.ran == ["validate", "dry_run", "execute", "verify", "rollback", "record"]
    assert steps.states["rollback"]["undo"] == {"replicas": 1}
    assert done["output"]["outcome"] == "rolled_back"


def test_a_verification_that_crashes_rolls_back_too(workflow, steps):
    steps.failures["verify"] = [StepFailed("pod never became Ready")]
    done = finished(workflow, start(workflow))

    assert steps.ran[-2:] == ["rollback", "record"]
    assert done["output"]["outcome"] == "rolled_back"
    assert done["output"]["error"]["Error"] == "StepFailed"


def test_a_transient_error_is_retried_and_the_action_then_succeeds(workflow, steps):
    steps.failures["execute"] = [TransientStepError("API server briefly unavailable")]
    done = finished(workflow, start(workflow))

    assert steps.ran.count("execute") == 2
    assert done["status"] == "SUCCEEDED"
    assert done["output"]["outcome"] == "succeeded"


def test_a_failed_step_is_not_retried_and_the_run_fails_with_its_error(workflow, steps):
    steps.failures["dry_run"] = [StepFailed("the API server rejected the dry run")]
    done = finished(workflow, start(workflow))

    assert steps.ran == ["validate", "dry_run", "record"]
    recorded = steps.states["record"]
    assert recorded["outcome"] == "failed"
    assert recorded["error"]["Error"] == "StepFailed"
    assert "the API server rejected the dry run" in recorded["error"]["Cause"]
    assert done["status"] == "FAILED"
    assert done["error"] == "StepFailed"
    assert done["cause"] == "the API server rejected the dry run"  # no stack trace


def test_any_other_exception_reaches_the_workflow_by_its_class_name(workflow, steps):
    steps.failures["validate"] = [KeyError("namespace")]
    done = finished(workflow, start(workflow))

    assert steps.ran == ["validate", "record"]
    assert done["status"] == "FAILED"
    assert done["error"] == "KeyError"


def test_starting_an_action_twice_starts_one_execution(workflow, steps):
    first = start(workflow, approval_required=True, approval_timeout_seconds=600)
    again_while_running = start(workflow, approval_required=True, approval_timeout_seconds=600)
    wait_until(steps.waiting.is_set, "the approval wait")
    workflow.approve(steps.task_token, {"approved_by": "alice"})
    finished(workflow, first)
    replay_after_the_end = start(workflow, approval_required=False)

    assert first == again_while_running == replay_after_the_end
    assert steps.ran.count("validate") == 1
    assert steps.ran.count("execute") == 1


def test_an_action_id_that_is_not_a_safe_name_gets_a_distinct_safe_one():
    from chalicelib.adapters.stepfunctions_workflow import execution_name

    assert execution_name("act_01HZX-ok") == "act_01HZX-ok"
    odd, other = execution_name("act:1/ü"), execution_name("act:1/u")
    assert odd != other
    assert all(len(name) <= 80 and name.replace("-", "").replace("_", "").isalnum()
               for name in (odd, other, execution_name("a" * 200)))


def test_the_status_of_an_unknown_run_is_not_found(workflow):
    with pytest.raises(NotFound):
        workflow.status(workflow.execution_arn("never-started"))


def test_the_packaged_template_runs_chalices_functions_and_lets_the_api_drive_the_machine():
    import json

    from infra import stack
    from infra.package import WIRING, deep_merge

    resources = deep_merge(stack.load_template(), json.loads(WIRING.read_text()))["Resources"]
    machine = resources["RemediationStateMachine"]["Properties"]
    tasks = ["Validate", "DryRun", "AwaitApproval", "Execute", "Verify", "Rollback", "Record"]
    function_arns = [{"Fn::GetAtt": [f"Remediation{t}", "Arn"]} for t in tasks]

    assert machine["DefinitionSubstitutions"] == {
        f"Remediation{t}Arn": arn for t, arn in zip(tasks, function_arns, strict=True)}
    definition = json.dumps(machine["Definition"])
    assert all(f"${{Remediation{t}Arn}}" in definition for t in tasks)
    invoke = resources["RemediationStateMachineInvokeTasks"]["Properties"]
    assert invoke["Roles"] == [{"Ref": "RemediationStateMachineRole"}]
    assert invoke["PolicyDocument"]["Statement"][0]["Resource"] == function_arns
    granted = {action for statement in resources["ApiHandlerDataAccess"]["Properties"][
        "PolicyDocument"]["Statement"] for action in statement["Action"]}
    assert {"states:StartExecution", "states:DescribeExecution", "states:SendTaskSuccess",
            "states:SendTaskFailure"} <= granted
