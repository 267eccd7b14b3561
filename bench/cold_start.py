"""Cold start per endpoint group: `python -m bench.cold_start [--runs N] [--groups a,b]`.

For each group of app.py's GROUPS, in a fresh Python process with DROVER_GROUPS=<group>: the
time to `import app`, then to serve the group's first request the way Lambda calls it
(``app.app(event, context)`` with an API Gateway proxy event), every AWS call going over HTTP
to a moto server in another process, provisioned from infra/resources.json before any timed
process starts. Next to it, a baseline measured in the same run, also in fresh processes:
`import boto3` and create one DynamoDB client. An untimed warm-up run first compiles the
bytecode into a private cache (PYTHONPYCACHEPREFIX), as the packaged zips ship it, so the
figures do not depend on PYTHONDONTWRITEBYTECODE. Medians of N runs, wall clock (the budget)
and CPU time (steadier on a shared machine); prints one JSON object.
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
import tempfile
import uuid
from datetime import UTC, datetime
from typing import Any

from bench._stack import ROOT, moto_server
from infra import stack
from infra.lambda_probe import app_groups

GROUPS = app_groups(ROOT / "app.py")  # read, not imported: the harness loads no group itself

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
           "group registered, then its first request through the Lambda entry point "
           "(first_request_ms includes the timed `import boto3`, creating the clients it "
           "needs from cold botocore caches, and its AWS calls over HTTP to a moto server on "
           "loopback), with bytecode compiled beforehand (the packaged zips ship it for what "
           "`import app` loads). Interpreter start-up is excluded; this is not a Lambda init "
           "(no sandbox, no zip extraction, moto instead of AWS).")
CAVEAT = ("each ingest run posts a new alert (a new incident), so every run takes the "
          "new-alert path; the moto server answers from another process on loopback")

# Runs in the fresh process. Nothing but the stdlib is loaded before `import app` is timed;
# the request is the event API Gateway would send, built by the harness.
PROBE = """
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import app
t1, c1 = time.perf_counter(), time.process_time()
import boto3
t2, c2 = time.perf_counter(), time.process_time()
event, heavy = json.loads(sys.argv[1]), json.loads(sys.argv[2])
class Context:
    aws_request_id = function_name = "drover-cold-start"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:drover-cold-start"
    def get_remaining_time_in_millis(self):
        return 60_000
t3, c3 = time.perf_counter(), time.process_time()
response = app.app(event, Context())
t4, c4 = time.perf_counter(), time.process_time()
print(json.dumps({"import_ms": (t1 - t0) * 1000, "boto3_ms": (t2 - t1) * 1000,
                  "request_ms": (t4 - t3) * 1000,
                  "cpu_ms": (c1 - c0 + c2 - c1 + c4 - c3) * 1000,
                  "status": response["statusCode"],
                  "heavy_modules": sorted(m for m in heavy if m in sys.modules)}))
"""

BASELINE = """
import json, time
t0, c0 = time.perf_counter(), time.process_time()
import boto3
boto3.client("dynamodb", region_name="us-east-1")
print(json.dumps({"total_ms": (time.perf_counter() - t0) * 1000,
                  "cpu_ms": (time.process_time() - c0) * 1000}))
"""

# Runs once, untimed, against the moto server: the resources and the admin key.
PROVISION = """
import sys, boto3
from chalicelib import bootstrap
from infra import stack
stack.deploy(boto3.session.Session(), "drover-bench", stack.stage_environment("local"))
bootstrap.get_container().keys.ensure_bootstrap(sys.argv[1])
print("{}")
"""


def probe_env(group: str | None, aws_endpoint: str | None = None,
              pycache: str | None = None) -> dict[str, str]:
    """The child's environment: test AWS credentials, the local stage, one group, and with
    ``pycache`` bytecode cached there (whatever PYTHONDONTWRITEBYTECODE says here)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "DROVER_", "PYTHONDONTWRITEBYTECODE"))}
    if pycache:
        env["PYTHONPYCACHEPREFIX"] = pycache
    env.update(stack.stage_environment("local"), AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
               DROVER_LOCAL_KEY=base64.b64encode(b"k" * 32).decode())
    if aws_endpoint:
        env["AWS_ENDPOINT_URL"] = aws_endpoint
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


def proxy_event(group: str) -> dict[str, Any]:
    """The API Gateway proxy event of the group's route, as a Lambda receives it; each ingest
    alert is new (its own title), so each run records a new incident."""
    method, path, body, extra = ROUTES[group]
    if group == "ingest":
        body = {**body, "title": f"{body['title']} ({uuid.uuid4().hex[:8]})"}
    headers = {"content-type": "application/json", "x-api-key": ADMIN_KEY,
               **{k.lower(): v for k, v in extra.items()}}
    return {"resource": path, "path": path, "httpMethod": method, "headers": headers,
            "multiValueQueryStringParameters": None, "pathParameters": None,
            "stageVariables": {}, "isBase64Encoded": False,
            "body": json.dumps(body) if body is not None else None,
            "requestContext": {"httpMethod": method, "resourcePath": path, "stage": "api",
                               "path": f"/api{path}", "requestId": uuid.uuid4().hex,
                               "identity": {"sourceIp": "127.0.0.1"}}}


def measure_group(group: str, aws_endpoint: str, pycache: str) -> dict[str, Any]:
    """One cold start of one group."""
    return run_child(PROBE, probe_env(group, aws_endpoint, pycache),
                     json.dumps(proxy_event(group)), json.dumps(HEAVY))


def measure_baseline(pycache: str) -> dict[str, float]:
    """One baseline: import boto3 and create one DynamoDB client (wall and CPU ms)."""
    return run_child(BASELINE, probe_env(None, pycache=pycache))


def _median(samples: list[dict[str, Any]], *keys: str) -> float | None:
    if not all(key in s for s in samples for key in keys):
        return None
    return statistics.median(sum(s[key] for key in keys) for s in samples)


def _ratio(value: float | None, baseline: float | None) -> float | None:
    return round(value / baseline, 2) if value is not None and baseline else None


def summarize_group(name: str, samples: list[dict[str, Any]], baseline_ms: float,
                    baseline_cpu_ms: float | None = None) -> dict[str, Any]:
    """Medians of one group's runs, and their ratios to the baseline medians."""
    total = _median(samples, "import_ms", "boto3_ms", "request_ms")
    cpu = _median(samples, "cpu_ms")
    method, path = ROUTES[name][:2]
    statuses = sorted({s["status"] for s in samples})
    return {"route": f"{method} {path}", "statuses": statuses,
            "served": all(200 <= code < 300 for code in statuses),
            "import_ms": round(_median(samples, "import_ms") or 0, 1),
            "first_request_ms": round(_median(samples, "boto3_ms", "request_ms") or 0, 1),
            "total_ms": round(total or 0, 1), "ratio_to_baseline": _ratio(total, baseline_ms),
            "cpu_ms": round(cpu, 1) if cpu is not None else None,
            "cpu_ratio_to_baseline": _ratio(cpu, baseline_cpu_ms),
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


def summarize(samples: dict[str, list[dict[str, Any]]], baseline: list[float], runs: int,
              baseline_cpu: list[float] | None = None) -> dict[str, Any]:
    """The benchmark's JSON object from raw per-run measurements."""
    baseline_ms = statistics.median(baseline)
    cpu_ms = statistics.median(baseline_cpu) if baseline_cpu else None
    groups = {name: summarize_group(name, runs_, baseline_ms, cpu_ms)
              for name, runs_ in samples.items()}
    budgets = check_budgets(groups)
    return {"benchmark": "cold_start", "meaning": MEANING, "caveat": CAVEAT, "runs": runs,
            "statistic": "median",
            "baseline": {"what": "import boto3 + boto3.client('dynamodb') in a fresh process",
                         "total_ms": round(baseline_ms, 1),
                         "cpu_ms": round(cpu_ms, 1) if cpu_ms is not None else None},
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
    baseline: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="drover-pycache-") as pycache, \
            moto_server() as moto:
        run_child(PROVISION, probe_env(None, moto.url), ADMIN_KEY)
        measure_baseline(pycache)  # untimed warm-up: compiles and caches the bytecode
        for name in names:
            measure_group(name, moto.url, pycache)
        for _ in range(args.runs):
            baseline.append(measure_baseline(pycache))
            for name in names:
                samples[name].append(measure_group(name, moto.url, pycache))
    report = summarize(samples, [b["total_ms"] for b in baseline], args.runs,
                       [b["cpu_ms"] for b in baseline])
    print(json.dumps(report))
    return 0 if report["all_served"] else 1  # budgets are read from the JSON, not the status


if __name__ == "__main__":
    sys.exit(main())
