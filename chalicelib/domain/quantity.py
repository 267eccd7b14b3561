"""Kubernetes resource quantities (``250m``, ``1Gi``, ``2``, ``1e3``) as numbers."""

from __future__ import annotations

import re

_SUFFIX = {
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "P": 1e15, "E": 1e18, "Ki": 2.0 ** 10, "Mi": 2.0 ** 20, "Gi": 2.0 ** 30, "Ti": 2.0 ** 40,
    "Pi": 2.0 ** 50, "Ei": 2.0 ** 60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$")
GIB = 2.0 ** 30


def parse_quantity(value: object) -> float | None:
    """A quantity as a plain number (cores for CPU, bytes for memory); None if unparseable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return None
    try:
        return float(match.group(1)) * _SUFFIX[match.group(2)]
    except ValueError:
        return None


def cores(value: object) -> float:
    """CPU as cores (0 when absent or unparseable)."""
    return parse_quantity(value) or 0.0


def gib(value: object) -> float:
    """Memory or storage as GiB (0 when absent or unparseable)."""
    return (parse_quantity(value) or 0.0) / GIB
