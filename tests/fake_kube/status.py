"""Responses and the ``Status`` objects the Kubernetes API server answers errors with."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           405: "MethodNotAllowed", 409: "Conflict", 410: "Expired", 422: "Invalid",
           429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
           504: "Timeout"}
NO_SUCH_PATH = "the server could not find the requested resource"


@dataclass
class Reply:
    """An HTTP response: status code, body bytes, content type and extra headers."""

    code: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(obj: Any, code: int = 200) -> Reply:
    """A JSON response."""
    return Reply(code, json.dumps(obj).encode())


def status_object(code: int, message: str, reason: str | None = None,
                  details: Obj | None = None) -> Obj:
    """A ``Status`` object as the API server sends with every error."""
    body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": message, "reason": reason or REASONS.get(code, "Unknown")}
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


class ApiError(Exception):
    """An error the API answers with a ``Status`` body."""

    def __init__(self, code: int, message: str, reason: str | None = None,
                 details: Obj | None = None) -> None:
        super().__init__(message)
        self.status = status_object(code, message, reason, details)

    def reply(self) -> Reply:
        """The response carrying this error."""
        return json_reply(self.status, self.status["code"])


def no_such_path() -> ApiError:
    """The 404 for a path no API group serves (e.g. metrics without metrics-server)."""
    return ApiError(404, NO_SUCH_PATH, details={})
