"""Request-body validation with pydantic, turning its errors into one clear 422."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib.domain.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], payload: Any, what: str, **extra: Any) -> M:
    """Validate ``payload`` as ``model``; a 422 naming ``what`` and the first ten problems."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()[:10]
        ]
        raise ValidationFailed(f"payload is not a valid {what}: {'; '.join(problems)}",
                               code="invalid_payload", **extra) from None
