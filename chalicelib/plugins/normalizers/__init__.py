"""Alert-source normalizers: an explicit registry keyed by the X-Source name."""

from __future__ import annotations

from chalicelib.domain.errors import BadRequest
from chalicelib.plugins.normalizers import alertmanager, generic
from chalicelib.plugins.normalizers.base import NormalizeContext, Normalizer

REGISTRY: dict[str, Normalizer] = {
    normalizer.NAME: normalizer
    for normalizer in (generic.NORMALIZER, alertmanager.NORMALIZER)
}

__all__ = ["REGISTRY", "NormalizeContext", "Normalizer", "get_normalizer"]


def get_normalizer(source: str) -> Normalizer:
    """Return the normalizer for an X-Source value, or raise BadRequest naming the valid ones."""
    normalizer = REGISTRY.get(source.strip().lower())
    if normalizer is None:
        raise BadRequest(
            f"unknown alert source '{source}'; supported sources: {', '.join(sorted(REGISTRY))}",
            code="unknown_source",
        )
    return normalizer
