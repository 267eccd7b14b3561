"""The fault tests reuse the functional fixtures (the app on moto, keys, the demo cluster)."""

from __future__ import annotations

from tests.functional.conftest import api, demo_cluster, make_key

__all__ = ["api", "demo_cluster", "make_key"]
