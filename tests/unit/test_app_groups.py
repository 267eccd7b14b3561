"""app.py registers the endpoint groups asked for, and only their dependencies load."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import json, sys
import app
print(json.dumps({"routes": sorted(app.app.routes),
                  "events": [e.name for e in app.app.event_sources],
                  "heavy": sorted(m for m in ("kubernetes", "openai") if m in sys.modules)}))
"""


def registered(groups: str) -> dict:
    env = {**os.environ, "DROVER_GROUPS": groups}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def test_one_group_registers_only_its_routes():
    got = registered("ingest")
    assert {"/webhook", "/webhook/pagerduty", "/webhook/sns"} <= set(got["routes"])
    assert not {"/incidents", "/health", "/api/security/tokens"} & set(got["routes"])
    assert got["events"] == ["alerts_subscriber"]
    assert got["heavy"] == []


def test_all_groups_are_registered_by_default():
    got = registered("")
    assert {"/webhook", "/incidents", "/health", "/api/security/tokens"} <= set(got["routes"])
    assert sorted(got["events"]) == ["alerts_subscriber", "cluster_refresh", "diagnoses_consumer",
                                     "mirror_expiry"]
    assert got["heavy"] == []


def test_an_unknown_group_is_refused_by_name():
    env = {**os.environ, "DROVER_GROUPS": "ingest,nonsense"}
    result = subprocess.run([sys.executable, "-c", "import app"], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "nonsense" in result.stderr
