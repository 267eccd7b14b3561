"""The remediation workflow on Step Functions (infra/remediation.asl.json)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from chalicelib.adapters.aws import client, error_code, translate_errors
from chalicelib.domain.errors import BadRequest, Conflict, DependencyUnavailable, NotFound
from chalicelib.domain.remediation_ports import WorkflowStarter

MAX_NAME = 80
# How long an approval may take when the start payload does not say (the state machine reads
# approval_timeout_seconds; without it a run needing approval would fail unrecorded).
DEFAULT_APPROVAL_TIMEOUT_SECONDS = 3600
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# SendTaskFailure's limits on error and cause.
MAX_ERROR, MAX_CAUSE = 256, 32768
# Answers to SendTaskSuccess/Failure for a token nobody waits on any more.
_NOT_WAITING = {"TaskDoesNotExist", "TaskTimedOut", "InvalidToken"}


def execution_name(action_id: str) -> str:
    """The execution name of an action: the id itself when it is a safe name (at most 80 of
    ``[A-Za-z0-9_-]``, which CloudWatch Logs also accepts), else a readable prefix and a
    hash of the id, so two ids never share an execution."""
    if not action_id:
        raise BadRequest("an action id is required to start its workflow")
    if len(action_id) <= MAX_NAME and not _UNSAFE.search(action_id):
        return action_id
    digest = hashlib.sha256(action_id.encode()).hexdigest()[:16]
    return f"{_UNSAFE.sub('-', action_id)[:MAX_NAME - 17]}-{digest}"


class StepFunctionsWorkflow(WorkflowStarter):
    """WorkflowStarter on the remediation state machine, named or given by ARN."""

    def __init__(self, state_machine: str, region: str) -> None:
        self.state_machine = state_machine
        self.region = region
        self._arn: str | None = state_machine if state_machine.startswith("arn:") else None

    @property
    @translate_errors("AWS STS")
    def state_machine_arn(self) -> str:
        """The state machine's ARN (a name is resolved once with the caller's account)."""
        if self._arn is None:
            identity = client("sts").get_caller_identity()
            partition = identity["Arn"].split(":")[1]
            self._arn = (f"arn:{partition}:states:{self.region}:{identity['Account']}:"
                         f"stateMachine:{self.state_machine}")
        return self._arn

    def execution_arn(self, action_id: str) -> str:
        """The ARN the action's execution has (or will have)."""
        prefix, _, name = self.state_machine_arn.rpartition(":stateMachine:")
        return f"{prefix}:execution:{name}:{execution_name(action_id)}"

    def start(self, action_id: str, payload: dict[str, Any]) -> str:
        """Start the action's execution; a replay returns the existing execution's ARN."""
        from botocore.exceptions import ClientError

        state = {"approval_timeout_seconds": DEFAULT_APPROVAL_TIMEOUT_SECONDS, **payload,
                 "action_id": action_id}
        timeout = state["approval_timeout_seconds"]
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            raise BadRequest("approval_timeout_seconds must be a whole number of seconds (>= 1)")
        try:
            return str(_call("start_execution", stateMachineArn=self.state_machine_arn,
                             name=execution_name(action_id),
                             input=json.dumps(state, separators=(",", ":")))["executionArn"])
        except ClientError as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                return self.execution_arn(action_id)
            raise _translated(exc) from exc

    def approve(self, task_token: str, output: dict[str, Any]) -> None:
        """Let the waiting execution go on with ``output`` as its approval."""
        from botocore.exceptions import ClientError

        try:
            _call("send_task_success", taskToken=task_token,
                  output=json.dumps(output, separators=(",", ":")))
        except ClientError as exc:
            raise _translated(exc) from exc

    def reject(self, task_token: str, error: str, cause: str) -> None:
        """End the wait with an error (``Rejected`` leads to the rejected outcome)."""
        from botocore.exceptions import ClientError

        try:
            _call("send_task_failure", taskToken=task_token, error=error[:MAX_ERROR],
                  cause=cause[:MAX_CAUSE])
        except ClientError as exc:
            raise _translated(exc) from exc

    def status(self, execution_arn: str) -> dict[str, Any]:
        """Status, output (or error and cause) and times of an execution."""
        from botocore.exceptions import ClientError

        try:
            found = _call("describe_execution", executionArn=execution_arn)
        except ClientError as exc:
            raise _translated(exc) from exc
        status: dict[str, Any] = {
            "execution_arn": found["executionArn"], "name": found["name"],
            "status": found["status"], "started_at": _iso(found.get("startDate")),
            "stopped_at": _iso(found.get("stopDate")),
        }
        if found.get("output") is not None:
            status["output"] = json.loads(found["output"])
        if found.get("error"):
            status["error"] = found["error"]
        if found.get("cause"):
            status["cause"] = readable_cause(found["cause"])
        return status


def readable_cause(cause: str) -> str:
    """The message of a failure's cause: a Lambda task's error payload (errorType,
    errorMessage, stackTrace) becomes its errorMessage, so no stack trace is shown."""
    try:
        payload = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(payload, dict) and isinstance(payload.get("errorMessage"), str):
        return payload["errorMessage"]
    return cause


def _call(operation: str, **kwargs: Any) -> dict[str, Any]:
    """One Step Functions call; a ClientError is left to the caller, anything else that
    keeps AWS from answering is DependencyUnavailable."""
    from botocore.exceptions import BotoCoreError

    try:
        return dict(getattr(client("stepfunctions"), operation)(**kwargs))
    except BotoCoreError as exc:
        raise DependencyUnavailable(
            f"AWS Step Functions is unreachable ({type(exc).__name__}); retry the request",
            dependency="AWS Step Functions") from exc


def _translated(exc: BaseException) -> Exception:
    """The domain error for a Step Functions ClientError."""
    code = error_code(exc)
    if code in _NOT_WAITING:
        return Conflict("this workflow is not waiting for that approval any more (already "
                        "answered, timed out or unknown)", code="approval_not_waiting")
    if code in ("ExecutionDoesNotExist", "InvalidArn"):
        return NotFound("no such remediation workflow run")
    if code in ("InvalidOutput", "InvalidExecutionInput", "InvalidName"):
        return BadRequest(f"Step Functions refused the request ({code})")
    if code == "StateMachineDoesNotExist":
        return DependencyUnavailable("the remediation state machine does not exist (is the "
                                     "stack deployed?)", dependency="AWS Step Functions")
    return DependencyUnavailable(f"AWS Step Functions is unavailable ({code or 'error'}); "
                                 "retry the request", dependency="AWS Step Functions")


def _iso(value: Any) -> str | None:
    """A boto datetime as ISO-8601 UTC with Z (milliseconds)."""
    if value is None:
        return None
    from datetime import UTC

    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"  # type: ignore[no-any-return]
