"""boto3 clients, created once per process on first use, and AWS error translation."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from chalicelib.config import get_settings
from chalicelib.domain.errors import DependencyUnavailable

F = TypeVar("F", bound=Callable[..., Any])
_lock = threading.Lock()
_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    """Return a shared boto3 client with short timeouts and bounded retries."""
    existing = _clients.get(service)
    if existing is not None:
        return existing
    with _lock:
        if service not in _clients:
            import boto3
            from botocore.config import Config

            settings = get_settings()
            _clients[service] = boto3.client(
                service,
                region_name=settings.region,
                endpoint_url=settings.endpoint_url,
                config=Config(
                    connect_timeout=2,
                    read_timeout=5,
                    retries={"max_attempts": 4, "mode": "standard"},
                ),
            )
        return _clients[service]


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints between runs)."""
    with _lock:
        _clients.clear()


def error_code(exc: BaseException) -> str:
    """Return the AWS error code of a botocore ClientError, or ''."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def translate_errors(dependency: str) -> Callable[[F], F]:
    """Turn AWS failures into DependencyUnavailable (a 503 that tells the caller to retry)."""

    def decorator(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                return fn(*args, **kwargs)
            except ClientError as exc:
                raise DependencyUnavailable(
                    f"{dependency} is unavailable ({error_code(exc) or 'error'}); "
                    "nothing was lost, retry the request",
                    dependency=dependency,
                ) from exc
            except BotoCoreError as exc:
                raise DependencyUnavailable(
                    f"{dependency} is unreachable ({type(exc).__name__}); retry the request",
                    dependency=dependency,
                ) from exc

        return wrapper  # type: ignore[return-value]

    return decorator
