"""Request-body validation with pydantic, turning its errors into one clear 422."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib.domain.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], payload: Any, what: str, **extra: Any) -> M:
    """Validate ``payload`` as ``model``; a 422 naming ``what`` and the first ten problems.

    A JSON payload (a request body) is validated strictly, as the OpenAPI document promises:
    ``"5"`` is not a number and ``1`` is not ``true``; strings still become datetimes and
    enums. Payloads holding Python objects (services passing secrets, datetimes) are not JSON
    and are validated as Python.
    """
    try:
        try:
            text = json.dumps(payload)
        except (TypeError, ValueError):
            return model.model_validate(payload)
        return model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()[:10]
        ]
        raise ValidationFailed(f"payload is not a valid {what}: {'; '.join(problems)}",
                               code="invalid_payload", **extra) from None
