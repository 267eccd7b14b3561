"""Domain errors, each carrying the HTTP status and machine code the API answers with."""

from __future__ import annotations

from typing import Any


class DroverError(Exception):
    """Base error: a human message, a machine code and an HTTP status."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra

    def to_body(self) -> dict[str, Any]:
        """Render the error shape of the API guide: error, detail, code (plus context)."""
        return {"error": self.message, "detail": self.message, "code": self.code, **self.extra}


class BadRequest(DroverError):
    """The request is malformed (invalid JSON, unknown source, bad parameter)."""

    status = 400
    code = "bad_request"


class Unauthorized(DroverError):
    """No valid API key was presented."""

    status = 401
    code = "unauthorized"


class Forbidden(DroverError):
    """The API key lacks the scope or workspace the request needs."""

    status = 403
    code = "forbidden"


class NotFound(DroverError):
    """The object does not exist in the caller's workspace."""

    status = 404
    code = "not_found"


class Conflict(DroverError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"


class PayloadTooLarge(DroverError):
    """The request body exceeds the accepted size."""

    status = 413
    code = "payload_too_large"


class ValidationFailed(DroverError):
    """The JSON is well formed but does not match the expected schema."""

    status = 422
    code = "validation_failed"


class DependencyUnavailable(DroverError):
    """A dependency (database, queue, cluster, LLM) failed; the caller should retry."""

    status = 503
    code = "dependency_unavailable"
