"""The remediation state machine's Lambda tasks (infra/remediation.asl.json): thin, like api/.

Each task hands the state to one step of the ``RemediationSteps`` port and returns the state
for the next task. A step's TransientStepError or StepFailed propagates: the Lambda runtime
reports it as an unhandled error whose type is the exception's class name, which is what the
state machine's Retry and Catch match on.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.bootstrap import get_container

bp = Blueprint(__name__)


def _merged(state: dict[str, Any], returned: dict[str, Any] | None) -> dict[str, Any]:
    """The step's state laid over the one it received, so nothing the workflow carries is
    lost when a step returns only what it added."""
    return {**state, **(returned or {})}


@bp.lambda_function(name="remediation_validate")
def validate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Check the action against the allowlist and the policy again."""
    return _merged(event, get_container().remediation_steps.validate(event))


@bp.lambda_function(name="remediation_dry_run")
def dry_run(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Server-side dry run; the state gains the diff."""
    return _merged(event, get_container().remediation_steps.dry_run(event))


@bp.lambda_function(name="remediation_await_approval")
def await_approval(event: dict[str, Any], context: Any) -> None:
    """Keep the task token with the action; the workflow then waits for an approval.

    The state machine sends ``{"state": <state>, "task_token": <token>}`` (ASL cannot add a
    key to the state itself); the step receives the state with ``task_token`` in it.
    """
    state = {**event["state"], "task_token": event["task_token"]}
    get_container().remediation_steps.await_approval(state)


@bp.lambda_function(name="remediation_execute")
def execute(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run the action through the Kubernetes API."""
    return _merged(event, get_container().remediation_steps.execute(event))


@bp.lambda_function(name="remediation_verify")
def verify(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Check the action worked; the state gains ``verified``."""
    return _merged(event, get_container().remediation_steps.verify(event))


@bp.lambda_function(name="remediation_rollback")
def rollback(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Undo what execute did."""
    return _merged(event, get_container().remediation_steps.rollback(event))


@bp.lambda_function(name="remediation_record")
def record(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Record the outcome on the action, the incident's timeline and the audit log."""
    return _merged(event, get_container().remediation_steps.record(event))
