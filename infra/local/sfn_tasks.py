"""Step Functions on moto, for real: the ASL executor runs the state machines of infra/, and
their Lambda tasks run the Chalice app's ``@lambda_function`` handlers in this process.

Three pieces, each installed once per process:

- moto's user config ``{"stepfunctions": {"execute_state_machine": True}}`` turns on its
  executor (moto.stepfunctions.parser), which calls Lambda ``Invoke`` through a boto3 client
  like Step Functions does in AWS (in the embedded stack that client reaches the moto server
  on ``MOTO_PORT``, which must therefore be set to its port).
- moto's CloudFormation creates state machines in the non-executing backend and knows neither
  ``Definition`` (an object) nor ``DefinitionSubstitutions``; ``AWS::StepFunctions::
  StateMachine`` is created here where moto's Step Functions API will look for it, with the
  substitutions applied as CloudFormation applies them.
- moto's Lambda would run a function in Docker. ``LambdaBackend.invoke`` (the backend method
  behind the Invoke API, in decorator and server mode alike; the seam moto's own Docker-less
  ``LambdaSimpleBackend`` overrides) is wrapped: a function whose name is
  ``<prefix><chalice function name>`` for a registered prefix runs in-process, as the Lambda
  runtime would run it (a raised exception becomes FunctionError ``Unhandled`` with
  ``errorType`` the exception's class name); any other name goes to moto unchanged. The
  functions need not be created in moto: the dispatch answers before moto looks them up.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from infra.local.lambda_runtime import LocalLambdaContext

logger = logging.getLogger("drover.local.sfn")
MOTO_CONFIG: dict[str, Any] = {"stepfunctions": {"execute_state_machine": True}}
AppLoader = Callable[[], Any]

_lock = threading.Lock()
_routes: dict[str, AppLoader] = {}  # function name prefix -> the Chalice app's loader


def default_app() -> Any:
    """The Chalice app of app.py (imported on first invocation)."""
    return importlib.import_module("app").app


def enable_executor() -> None:
    """Turn on moto's ASL executor in this process (the moto server's config included)."""
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"] = {"execute_state_machine": True}


def install(prefix: str, app: AppLoader = default_app) -> None:
    """Dispatch invocations of ``<prefix><name>`` to the app's lambda function ``name``, and
    make moto's CloudFormation create state machines the executor runs."""
    from moto.awslambda.models import LambdaBackend

    with _lock:
        _routes[prefix] = app
        if getattr(LambdaBackend, "_drover_dispatch", False):
            return
        _patch_cloudformation()
        _patch_lambda_invoke()
        LambdaBackend._drover_dispatch = True  # type: ignore[attr-defined]


def substitute(definition: Any, substitutions: dict[str, Any] | None) -> str:
    """A state machine definition as a string with ``${key}`` replaced, as CloudFormation's
    DefinitionSubstitutions do."""
    text = definition if isinstance(definition, str) else json.dumps(definition)
    for key, value in (substitutions or {}).items():
        text = text.replace("${" + key + "}", str(value))
    return text


def _patch_cloudformation() -> None:
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.responses import get_backend

    def create_from_cloudformation_json(cls: Any, resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str,
                                        **kwargs: Any) -> Any:
        from moto.stepfunctions.utils import cfn_to_api_tags

        props = cloudformation_json["Properties"]
        definition = substitute(props.get("Definition") or props.get("DefinitionString", ""),
                                props.get("DefinitionSubstitutions"))
        return get_backend(account_id, region_name).create_state_machine(
            props.get("StateMachineName", resource_name), definition, props.get("RoleArn", ""),
            tags=cfn_to_api_tags(props.get("Tags", [])),
            sm_type=props.get("StateMachineType", "STANDARD"))

    StateMachine.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign]
        create_from_cloudformation_json)


def _patch_lambda_invoke() -> None:
    from moto.awslambda.models import LambdaBackend

    original = LambdaBackend.invoke

    def invoke(self: Any, function_name: str, qualifier: str | None, body: Any,  # noqa: PLR0917 - moto's signature
               headers: Any, response_headers: Any) -> str | bytes | None:
        handler = _handler_for(_bare_name(function_name))
        if handler is None:
            return original(self, function_name, qualifier, body, headers, response_headers)
        name, call = handler
        return run_like_lambda(name, call, body, response_headers)

    LambdaBackend.invoke = invoke  # type: ignore[method-assign]


def _bare_name(function_name: str) -> str:
    """A function name from a name, a partial or a full ARN (qualifier dropped)."""
    if ":function:" in function_name:
        function_name = function_name.split(":function:", 1)[1]
    return function_name.split(":", 1)[0]


def _handler_for(function_name: str) -> tuple[str, Callable[..., Any]] | None:
    for prefix, app in list(_routes.items()):
        if not function_name.startswith(prefix):
            continue
        wanted = function_name[len(prefix):]
        for function in app().pure_lambda_functions:
            if function.name == wanted:
                return function_name, _resolve(function.handler_string)
    return None


def _resolve(handler_string: str) -> Callable[..., Any]:
    module, _, attr = handler_string.rpartition(".")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def run_like_lambda(function_name: str, handler: Callable[..., Any], body: Any,
                    response_headers: dict[str, Any]) -> bytes:
    """Run a handler as the Lambda Python runtime runs a RequestResponse invocation: the
    result as JSON, or an unhandled error as FunctionError plus errorType/errorMessage."""
    context = LocalLambdaContext(function_name)
    try:
        result = handler(json.loads(body) if body else {}, context)
    except Exception as exc:
        logger.info("%s raised %s: %s", function_name, type(exc).__name__, exc)
        return _unhandled(response_headers, type(exc).__name__, str(exc), context,
                          traceback.format_tb(exc.__traceback__)[1:])  # from the handler on
    try:
        return json.dumps(result).encode()
    except (TypeError, ValueError) as exc:
        return _unhandled(response_headers, "Runtime.MarshalError",
                          f"Unable to marshal response: {exc}", context, [])


def _unhandled(response_headers: dict[str, Any], error_type: str, message: str,
               context: LocalLambdaContext, stack: list[str]) -> bytes:
    response_headers["x-amz-function-error"] = "Unhandled"
    return json.dumps({"errorMessage": message, "errorType": error_type,
                       "requestId": context.aws_request_id, "stackTrace": stack}).encode()


def stop_running_executions(stepfunctions: Any) -> int:
    """Stop every RUNNING execution (before the AWS they run on goes away); how many."""
    stopped = 0
    for page in stepfunctions.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            running = stepfunctions.list_executions(
                stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")
            for execution in running["executions"]:
                stepfunctions.stop_execution(executionArn=execution["executionArn"])
                stopped += 1
    return stopped
