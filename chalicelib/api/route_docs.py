"""What each route declares about itself, collected by ``endpoint`` for the OpenAPI document."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


class AnyJson(BaseModel):
    """Marks a body that is any JSON value the route interprets itself (alert payloads)."""


@dataclass(frozen=True)
class RouteDoc:
    """One route: its path, methods, access and the pydantic models of its input and output."""

    path: str
    methods: tuple[str, ...]
    module: str
    summary: str
    description: str
    scope: str | None = None
    public: bool = False
    body: type[BaseModel] | None = None
    body_required: bool = True
    status: int = 200
    media: tuple[str, ...] = ("application/json",)


# (path, method) -> the route's declaration; filled as api modules are imported.
REGISTRY: dict[tuple[str, str], RouteDoc] = {}


def record(handler: Any, path: str, methods: tuple[str, ...], **declared: Any) -> RouteDoc:
    """Remember a route's declaration (the handler's docstring is its summary)."""
    text = inspect.getdoc(handler) or handler.__name__.replace("_", " ")
    summary, _, rest = text.partition("\n\n")
    doc = RouteDoc(path=path, methods=methods, module=handler.__module__,
                   summary=" ".join(summary.split()), description=rest.strip(), **declared)
    for method in methods:
        REGISTRY[(path, method)] = doc
    return doc
