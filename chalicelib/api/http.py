"""What every route shares: authentication, scopes, workspaces, JSON bodies, errors, audit."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.api.route_docs import record
from chalicelib.bootstrap import get_container
from chalicelib.config import MAX_BODY_BYTES
from chalicelib.domain.auth import Principal
from chalicelib.domain.errors import BadRequest, DroverError, PayloadTooLarge
from chalicelib.domain.ports import AuditRecord

logger = logging.getLogger("drover.api")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_HEADERS = ("x-api-key", "x-api-token", "x-service-token")
# curl -d without -H sends form-urlencoded; the body is still parsed (and refused) as JSON.
JSON_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded"]


@dataclass
class Reply:
    """A response body with a status other than 200."""

    status: int
    body: Any


@dataclass
class Call:
    """One request as a handler sees it: the caller, their workspace, the inputs."""

    request: Request
    principal: Principal | None
    workspace_id: str

    def header(self, name: str) -> str | None:
        """A header value (case-insensitive) or None."""
        value = (self.request.headers or {}).get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def query(self, name: str) -> str | None:
        """A query-string value or None."""
        value = (self.request.query_params or {}).get(name)
        return value if value else None

    def int_query(self, name: str, default: int, low: int, high: int) -> int:
        """An integer query parameter within [low, high], else a 400 saying so."""
        raw = self.query(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"'{name}' must be an integer", code="bad_parameter") from None
        if not low <= value <= high:
            raise BadRequest(f"'{name}' must be between {low} and {high}",
                             code="bad_parameter")
        return value

    def float_query(self, name: str, default: float, low: float, high: float) -> float:
        """A finite number query parameter within [low, high], else a 400 saying so."""
        raw = self.query(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise BadRequest(f"'{name}' must be a number", code="bad_parameter") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise BadRequest(f"'{name}' must be between {low:g} and {high:g}",
                             code="bad_parameter")
        return value

    def json(self) -> Any:
        """The JSON body; 413 over 1 MiB, 400 if empty or not JSON."""
        raw = self.request.raw_body or b""
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"request body is {len(raw)} bytes; the limit is "
                                  f"{MAX_BODY_BYTES} bytes (1 MiB)")
        if not raw.strip():
            raise BadRequest("request body is empty; send a JSON document", code="empty_body")
        try:
            return json.loads(raw, parse_constant=_refuse_constant)
        except RecursionError:
            raise BadRequest("request body is nested too deeply", code="invalid_json") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequest(f"request body is not valid JSON: {exc}",
                             code="invalid_json") from None

    def optional_object(self) -> dict[str, Any]:
        """The JSON object sent, or an empty one when the body is empty (optional bodies)."""
        return self.json_object() if (self.request.raw_body or b"").strip() else {}

    def json_object(self) -> dict[str, Any]:
        """The JSON body, which must be an object."""
        body = self.json()
        if not isinstance(body, dict):
            raise BadRequest("request body must be a JSON object", code="invalid_body")
        return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def presented_key(headers: Mapping[str, str],
                  query: Mapping[str, str] | None = None) -> str | None:
    """The API key from Authorization (Bearer, or Basic with the key as password), X-API-Key,
    X-API-Token, X-Service-Token, or ``?api_key=`` for senders that cannot set headers."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        return _basic_password(value.strip())
    for name in KEY_HEADERS:
        if headers.get(name):
            return headers[name].strip()
    return (query or {}).get("api_key") or None


def _basic_password(value: str) -> str | None:
    # Alertmanager's basic_auth and SNS's https://user:key@host URLs: the key is the password
    # (or the user name when the password is empty).
    try:
        user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (password or user).strip() or None


def endpoint(bp: Blueprint, path: str, *, methods: tuple[str, ...] = ("GET",),
             scope: str | None = None, public: bool = False,
             workspace_param: str | None = None,
             audit_success: bool = True, **declared: Any) -> Callable[..., Any]:
    """Register a route that authenticates, checks the scope, and answers errors as JSON.

    Mutating requests are appended to the audit log with their outcome. Machine traffic
    (alert deliveries) sets ``audit_success=False``: what it changed is on the incidents'
    timelines, so only its refusals and failures are audited, and an alert costs no
    extra write. ``declared`` (the ``body`` model, ``body_required``, ``status``, ``media``)
    goes into the OpenAPI document (see route_docs.RouteDoc).
    """

    def decorator(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def view(**params: Any) -> Response:
            request = bp.current_request
            call = Call(request, None, get_container().settings.default_workspace)
            try:
                if not public:
                    _authorize(call, scope, workspace_param)
                response = _render(handler(call, **params))
            except DroverError as exc:
                response = _json(exc.status, exc.to_body())
            except Exception:
                logger.exception("unhandled error in %s %s", request.method, path)
                response = _json(500, {"error": "internal error; it has been logged",
                                       "detail": "internal error; it has been logged",
                                       "code": "internal_error"})
            if request.method in MUTATING and (
                    audit_success or response.status_code >= HTTPStatus.BAD_REQUEST):
                _audit(call, path, response.status_code)
            return response

        bp.route(path, methods=list(methods), content_types=JSON_TYPES)(view)
        record(handler, path, methods, scope=scope, public=public, **declared)
        return view

    return decorator


def _authorize(call: Call, scope: str | None, workspace_param: str | None) -> None:
    container = get_container()
    call.principal = container.keys.authenticate(
        presented_key(call.request.headers or {}, call.request.query_params))
    if scope:
        call.principal.require(scope)
    requested = call.header("x-workspace-id")
    if workspace_param and call.query(workspace_param):
        requested = call.query(workspace_param)
    call.workspace_id = call.principal.resolve_workspace(requested,
                                                         container.settings.default_workspace)


def _render(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, Reply):
        return _json(result.status, result.body)
    return _json(200, result)


def _json(status: int, body: Any) -> Response:
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})


def _outcome(status: int) -> str:
    if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
        return "denied"
    return "success" if status < HTTPStatus.BAD_REQUEST else "error"


def _audit(call: Call, path: str, status: int) -> None:
    context = call.request.context or {}
    identity = context.get("identity") or {}
    record = AuditRecord(
        workspace_id=call.workspace_id,
        actor=call.principal.actor if call.principal else "anonymous",
        action=f"{call.request.method} {path}",
        target=str(context.get("path") or path),
        outcome=_outcome(status),
        status_code=status,
        request_id=str(context.get("requestId") or uuid.uuid4()),
        source_ip=str(identity.get("sourceIp") or ""),
        detail={},
    )
    try:
        get_container().audit_log.append(record)
    except Exception:
        logger.exception("audit append failed for %s %s", record.action, record.target)


def error_shape_middleware(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Give Chalice's own errors (405 method, 415 media type) the API's error shape."""
    response = get_response(event)
    body = response.body
    if response.status_code >= HTTPStatus.BAD_REQUEST and isinstance(body, dict) \
            and set(body) == {"Code", "Message"}:
        code = re.sub(r"(?<!^)(?=[A-Z])", "_", str(body["Code"])).lower().removesuffix("_error")
        response.body = {"error": body["Message"], "detail": body["Message"], "code": code}
        response.headers = {**(response.headers or {}), "Content-Type": "application/json"}
    return response
