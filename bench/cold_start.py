"""Cold start per endpoint group: `python -m bench.cold_start [--runs N] [--groups a,b]`.

For each group of app.py's GROUPS, in a fresh Python process with DROVER_GROUPS=<group>: the
time to `import app`, then to serve the group's first request through chalice's test client
on moto in-process (resources from infra/resources.json, as tests/conftest.py's `aws` fixture
builds them). Next to it, a baseline measured in the same run, also in fresh processes:
`import boto3` and create one DynamoDB client. Medians of N runs; prints one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from app import GROUPS
from bench._stack import ROOT
from infra import stack

HEAVY = ("openai", "kubernetes")
LIGHT_GROUPS = ("ingest", "incidents", "admin")
BUDGET_RATIO = 2.0
ADMIN_KEY = "drv_bench-cold-start-admin"
ALERT = {"title": "High CPU on payments-api", "severity": "critical", "source": "prometheus",
         "namespace": "production", "pod": "payments-api-7d8f9c6b5-x2k4m"}
# One cheap route per group: (method, path, body, extra headers).
ROUTES: dict[str, tuple[str, str, Any, dict[str, str]]] = {
    "ingest": ("POST", "/webhook", ALERT, {"X-Source": "webhook"}),
    "incidents": ("GET", "/incidents", None, {}),
    "diagnosis": ("GET", "/api/llm/status", None, {}),
    "clusters": ("GET", "/api/clusters", None, {}),
    "remediation": ("GET", "/runbooks", None, {}),
    "admin": ("GET", "/health", None, {}),
}
MEANING = ("cold start = a fresh Python process on this machine: `import app` with only the "
           "group registered, then its first request (first_request_ms includes the timed "
           "`import boto3` that request would do). Interpreter start-up is excluded; this is "
           "not a Lambda init (no sandbox, no zip extraction, moto in-process instead of AWS).")
CAVEAT = ("moto is set up between the two timed steps, so the botocore modules it preloads "
          "(beyond `import boto3`) are not counted in first_request_ms")

# Runs in the fresh process. Nothing but the stdlib is loaded before `import app` is timed;
# the harness (moto, stack.deploy, bootstrap key) is set up untimed before the request.
PROBE = """
import json, sys, time
t0 = time.perf_counter()
import app
t1 = time.perf_counter()
import boto3
t2 = time.perf_counter()
from chalice.test import Client
from moto import mock_aws
from chalicelib import bootstrap
from infra import stack
from infra.local import sfn_tasks
route = json.loads(sys.argv[1])
with mock_aws(config=sfn_tasks.MOTO_CONFIG):
    sfn_tasks.install(prefix="drover-bench-")
    stack.deploy(boto3.session.Session(), "drover-bench", stack.stage_environment("local"))
    bootstrap.get_container().keys.ensure_bootstrap(route["key"])
    bootstrap.reset()
    headers = {"Content-Type": "application/json", "X-API-Key": route["key"], **route["headers"]}
    body = json.dumps(route["body"]).encode() if route["body"] is not None else b""
    with Client(app.app) as client:
        t3 = time.perf_counter()
        response = client.http.request(route["method"], route["path"], headers=headers, body=body)
        t4 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1000, "boto3_ms": (t2 - t1) * 1000,
                  "request_ms": (t4 - t3) * 1000, "status": response.status_code,
                  "heavy_modules": sorted(m for m in route["heavy"] if m in sys.modules)}))
"""

BASELINE = """
import json, time
t0 = time.perf_counter()
import boto3
boto3.client("dynamodb", region_name="us-east-1")
print(json.dumps({"total_ms": (time.perf_counter() - t0) * 1000}))
"""


def probe_env(group: str | None) -> dict[str, str]:
    """The child's environment: test AWS credentials, the local stage, one group."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DROVER_"))}
    env.update(stack.stage_environment("local"), AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
               DROVER_LOCAL_KEY=base64.b64encode(b"k" * 32).decode())
    if group:
        env["DROVER_GROUPS"] = group
    return env


def run_child(code: str, env: dict[str, str], *args: str) -> Any:
    """Run ``code`` in a fresh interpreter; return the JSON of its last stdout line."""
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"probe failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_group(group: str) -> dict[str, Any]:
    """One cold start of one group."""
    method, path, body, headers = ROUTES[group]
    route = {"method": method, "path": path, "body": body, "headers": headers, "key": ADMIN_KEY,
             "heavy": HEAVY}
    return run_child(PROBE, probe_env(group), json.dumps(route))


def measure_baseline() -> float:
    """One baseline: import boto3 and create one DynamoDB client, in milliseconds."""
    return float(run_child(BASELINE, probe_env(None))["total_ms"])


def summarize_group(name: str, samples: list[dict[str, Any]],
                    baseline_ms: float) -> dict[str, Any]:
    """Medians of one group's runs, and its ratio to the baseline median."""
    imports = statistics.median(s["import_ms"] for s in samples)
    firsts = statistics.median(s["boto3_ms"] + s["request_ms"] for s in samples)
    total = statistics.median(s["import_ms"] + s["boto3_ms"] + s["request_ms"] for s in samples)
    method, path = ROUTES[name][:2]
    statuses = sorted({s["status"] for s in samples})
    return {"route": f"{method} {path}", "statuses": statuses,
            "served": all(200 <= code < 300 for code in statuses),
            "import_ms": round(imports, 1), "first_request_ms": round(firsts, 1),
            "total_ms": round(total, 1),
            "ratio_to_baseline": round(total / baseline_ms, 2) if baseline_ms else None,
            "heavy_modules": sorted({m for s in samples for m in s["heavy_modules"]})}


def check_budgets(groups: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Issue 8's cold-start budgets, each with its measured value and whether it holds."""
    budgets: dict[str, dict[str, Any]] = {}
    if "ingest" in groups:
        ratio = groups["ingest"]["ratio_to_baseline"]
        budgets["ingest_cold_start_vs_baseline"] = {
            "limit": f"<= {BUDGET_RATIO}x baseline", "measured": ratio,
            "holds": ratio is not None and ratio <= BUDGET_RATIO}
    for name in LIGHT_GROUPS:
        if name in groups:
            loaded = groups[name]["heavy_modules"]
            budgets[f"{name}_loads_no_heavy_modules"] = {
                "limit": f"none of {', '.join(HEAVY)}", "measured": loaded, "holds": not loaded}
    return budgets


def summarize(samples: dict[str, list[dict[str, Any]]], baseline: list[float],
              runs: int) -> dict[str, Any]:
    """The benchmark's JSON object from raw per-run measurements."""
    baseline_ms = statistics.median(baseline)
    groups = {name: summarize_group(name, runs_, baseline_ms)
              for name, runs_ in samples.items()}
    budgets = check_budgets(groups)
    return {"benchmark": "cold_start", "meaning": MEANING, "caveat": CAVEAT, "runs": runs,
            "statistic": "median",
            "baseline": {"what": "import boto3 + boto3.client('dynamodb') in a fresh process",
                         "total_ms": round(baseline_ms, 1)},
            "groups": groups, "budgets": budgets,
            "within_budget": all(b["holds"] for b in budgets.values()),
            "all_served": all(g["served"] for g in groups.values()),
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "platform": platform.platform()},
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--groups", default=",".join(GROUPS),
                        help="comma-separated endpoint groups (default: all)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Measure every group and the baseline, interleaved run by run; print one JSON object.
    Exit status 1 only if a route was not served (the figures would mean nothing)."""
    args = parse_args(argv)
    names = [g for g in args.groups.split(",") if g]
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    baseline: list[float] = []
    for _ in range(args.runs):
        baseline.append(measure_baseline())
        for name in names:
            samples[name].append(measure_group(name))
    report = summarize(samples, baseline, args.runs)
    print(json.dumps(report))
    return 0 if report["all_served"] else 1  # budgets are read from the JSON, not the status


if __name__ == "__main__":
    sys.exit(main())
