"""A cold start imports what its first request needs: one alert normalizer, not all of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from chalicelib.plugins.normalizers import MODULES, REGISTRY, get_normalizer
from tests.conftest import ROOT

PROBE = """
import json, sys
import app
from chalicelib.plugins.normalizers import get_normalizer
before = sorted(m for m in sys.modules if m.startswith("chalicelib.plugins.normalizers."))
get_normalizer("webhook")
after = sorted(m for m in sys.modules if m.startswith("chalicelib.plugins.normalizers."))
print(json.dumps({"before": before, "after": after}))
"""


def test_the_ingest_group_imports_a_normalizer_only_when_a_payload_needs_it():
    env = {**os.environ, "DROVER_GROUPS": "ingest"}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    got = json.loads(out)
    assert got["before"] == ["chalicelib.plugins.normalizers.base"]
    assert got["after"] == ["chalicelib.plugins.normalizers.base",
                            "chalicelib.plugins.normalizers.generic"]


def test_the_registry_names_every_source_and_serves_each_from_its_module():
    assert sorted(REGISTRY) == sorted(MODULES)
    assert "k8s-event" in REGISTRY
    assert "nonsense" not in REGISTRY
    for name in MODULES:
        assert get_normalizer(name).NAME == name
