"""Alert storm end to end: `python -m bench.storm [--alerts N] [--fingerprints F] ...`.

Prints one JSON object: the storm sent over HTTP to the embedded stack as single-alert
Alertmanager v4 requests and as Alertmanager-style groups, the incidents each run opened,
the same storm posted to a real prometheus-alertmanager (API v2) when it is installed, and
the DynamoDB/SQS calls one new and one duplicate alert cost (measured in-process on moto).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from bench._stack import (
    INSTALL_HINT,
    Drover,
    alertmanager,
    alertmanager_binary,
    alertmanager_version,
    drover_stack,
    moto_server,
    rss_mib,
)

KEY = "drv_bench-storm-admin"
STARTS_AT = "2026-01-01T00:00:00Z"
RETRYABLE = frozenset({429, 502, 503, 504})
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems",
                    "BatchWriteItem"})
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b")
READS = frozenset({"GetItem", "Query", "BatchGetItem", "TransactGetItems", "Scan"})


# --- the storm ------------------------------------------------------------------------------
def storm_alerts(title: str, count: int, fingerprints: int) -> list[dict[str, Any]]:
    """``count`` firing alerts spread evenly over ``fingerprints`` label sets."""
    alerts = []
    for i in range(count):
        labels = {"alertname": title, "severity": "warning", "namespace": "storm",
                  "pod": f"storm-{i % fingerprints:05d}", "job": "bench"}
        digest = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()
        alerts.append({"status": "firing", "labels": labels,
                       "annotations": {"summary": f"storm alert {i}"},
                       "startsAt": STARTS_AT, "endsAt": "0001-01-01T00:00:00Z",
                       "generatorURL": "http://prometheus.bench/graph",
                       "fingerprint": digest[:16]})
    return alerts


def webhook_v4(alerts: list[dict[str, Any]], title: str) -> dict[str, Any]:
    """Alertmanager's webhook v4 body for one group of alerts."""
    return {
        "version": "4", "groupKey": f'{{}}:{{alertname="{title}"}}', "truncatedAlerts": 0,
        "status": "firing", "receiver": "drover", "groupLabels": {"alertname": title},
        "commonLabels": {"alertname": title, "namespace": "storm"}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.bench", "alerts": alerts,
    }


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    """Consecutive slices of ``size`` items."""
    return [items[i:i + size] for i in range(0, len(items), size)]


# --- sending --------------------------------------------------------------------------------
@dataclass
class Tally:
    """What one run's requests did."""

    requests: int = 0
    http_errors: int = 0
    retries: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, retries: int, body: Any = None, error: str | None = None) -> None:
        """Count one delivered (or abandoned) request."""
        with self.lock:
            self.requests += 1
            self.retries += retries
            self.statuses[status] += 1
            if status != 200:
                self.http_errors += 1
                if error and len(self.errors) < 5:
                    self.errors.append(error[:300])
            if isinstance(body, dict):
                self.actions.update(o.get("action", "?") for o in body.get("incidents", []))


@dataclass
class Sender:
    """POSTs JSON bodies to one URL from a small thread pool, retrying 503s a bounded time."""

    url: str
    headers: dict[str, str]
    workers: int
    max_retries: int
    local: threading.local = field(default_factory=threading.local)

    def _session(self) -> requests.Session:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
            session.headers.update(self.headers)
        return session

    def _post(self, body: Any, tally: Tally) -> None:
        status, error = 0, None
        for attempt in range(self.max_retries + 1):
            try:
                response = self._session().post(self.url, json=body, timeout=60)
            except requests.RequestException as exc:
                status, error = 0, f"{type(exc).__name__}: {exc}"
            else:
                status, error = response.status_code, response.text
                if status == 200:
                    parsed = response.json() if response.content else None
                    tally.add(200, attempt, parsed)
                    return
                if status not in RETRYABLE:
                    break
            if attempt < self.max_retries:
                time.sleep(min(0.05 * 2 ** attempt, 2.0))
        tally.add(status, min(attempt, self.max_retries), error=f"{status}: {error}")

    def run(self, bodies: list[Any]) -> tuple[float, Tally]:
        """Send every body; return the wall time and the tally."""
        tally = Tally()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(lambda body: self._post(body, tally), bodies))
        return time.perf_counter() - started, tally


def progress(message: str) -> None:
    """One line on stderr, so that stdout stays one JSON object."""
    print(f"[storm {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def figures(alerts: int, seconds: float, tally: Tally) -> dict[str, Any]:
    """The figures of one run."""
    return {
        "seconds": round(seconds, 2),
        "alerts_per_second": round(alerts / seconds, 1) if seconds else None,
        "requests": tally.requests, "http_errors": tally.http_errors, "retries": tally.retries,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        **({"actions": dict(tally.actions)} if tally.actions else {}),
        **({"error_samples": tally.errors} if tally.errors else {}),
    }


# --- Drover over HTTP -----------------------------------------------------------------------
def drover_mode(drover: Drover, args: argparse.Namespace, title: str,
                group_size: int) -> dict[str, Any]:
    """One storm of distinct ``title`` against Drover, ``group_size`` alerts per request."""
    alerts = storm_alerts(title, args.alerts, args.fingerprints)
    bodies = [webhook_v4(group, title) for group in chunks(alerts, group_size)]
    sender = Sender(f"{drover.url}/webhook?source=alertmanager",
                    {"Authorization": f"Bearer {drover.key}"}, args.workers, args.max_retries)
    progress(f"drover: {args.alerts} alerts in {len(bodies)} requests ({title})")
    seconds, tally = sender.run(bodies)
    result = figures(args.alerts, seconds, tally)
    result["group_size"] = group_size
    progress(f"drover: done in {seconds:.1f} s, {tally.http_errors} errors")
    incidents = drover.incidents(title)
    result["incidents_created"] = len(incidents)
    result["incidents_ok"] = len(incidents) == args.fingerprints
    counts = [int(i.get("alert_count", 0)) for i in incidents] or [0]
    result["alert_count"] = {"total": sum(counts), "min": min(counts), "max": max(counts)}
    result["stack_rss_mib_after"] = rss_mib(drover.process.pid)
    return result


def drover_runs(args: argparse.Namespace, run_id: str) -> dict[str, Any]:
    """Both storms against the embedded stack; its log goes to a file named in the result."""
    with ExitStack() as stack:
        moto = stack.enter_context(moto_server()) if args.separate_moto else None
        drover = stack.enter_context(drover_stack(KEY, aws_endpoint=moto and moto.url))
        started_rss = rss_mib(drover.process.pid)
        single = drover_mode(drover, args, f"StormSingle-{run_id}", 1)
        if moto:
            single["moto_rss_mib_after"] = rss_mib(moto.process.pid)
        grouped = drover_mode(drover, args, f"StormGrouped-{run_id}", args.group_size)
        if moto:
            grouped["moto_rss_mib_after"] = rss_mib(moto.process.pid)
        alive = drover.process.poll() is None
        output = list(drover.output)
    log = Path(tempfile.gettempdir()) / f"drover-storm-{run_id}.log"
    log.write_text("".join(output))
    noise = [line.rstrip() for line in output[4:] if '" 200 -' not in line]
    return {"aws": "separate moto server process" if args.separate_moto
            else "moto inside the stack's process",
            "single": single, "grouped": grouped, "stack_rss_mib_at_start": started_rss,
            "stack_alive_after": alive, "stack_log": str(log),
            "stack_log_errors": sum(" ERROR " in line for line in noise),
            "stack_log_tracebacks": sum(line.startswith("Traceback") for line in noise),
            "stack_log_exceptions": dict(Counter(
                line for line in noise if EXCEPTION_LINE.match(line)).most_common(5))}


# --- a real Alertmanager --------------------------------------------------------------------
def alertmanager_runs(args: argparse.Namespace, run_id: str) -> dict[str, Any]:
    """The same storms posted to prometheus-alertmanager's API v2 (a receiver that drops)."""
    if alertmanager_binary() is None:
        return {"skipped": f"prometheus-alertmanager is not installed; {INSTALL_HINT}"}
    config = {"route": {"receiver": "blackhole", "group_by": ["alertname"],
                        "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"},
              "receivers": [{"name": "blackhole"}]}
    result: dict[str, Any] = {"version": alertmanager_version(),
                              "receiver": "none (measures Alertmanager's ingest alone)"}
    with tempfile.TemporaryDirectory(prefix="bench-am-") as tmp, \
            alertmanager(config, Path(tmp)) as am:
        for mode, size in (("single", 1), ("grouped", args.group_size)):
            alerts = storm_alerts(f"Storm{mode.title()}AM-{run_id}", args.alerts,
                                  args.fingerprints)
            for alert in alerts:
                alert.pop("status"), alert.pop("fingerprint"), alert.pop("endsAt")
            sender = Sender(am.url + "/api/v2/alerts", {}, args.workers, args.max_retries)
            progress(f"alertmanager: {args.alerts} alerts, {size} per request")
            seconds, tally = sender.run(chunks(alerts, size))
            result[mode] = figures(args.alerts, seconds, tally) | {"group_size": size}
        result["rss_mib_after"] = rss_mib(am.process.pid)
    return result


# --- DynamoDB/SQS calls per alert, in-process on moto ---------------------------------------
@contextmanager
def in_process_app() -> Iterator[Any]:
    """moto in-process with infra/'s resources, and a chalice test client on app.py."""
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib import bootstrap
    from infra import stack

    saved = dict(os.environ)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1")
    env = stack.stage_environment("local")
    os.environ.update(env)
    bootstrap.reset()
    try:
        with mock_aws():
            import boto3

            stack.deploy(boto3.session.Session(), "drover-bench", env)
            import app as app_module

            bootstrap.get_container().keys.ensure_bootstrap(KEY)
            with Client(app_module.app) as client:
                yield client
    finally:
        bootstrap.reset()
        os.environ.clear()
        os.environ.update(saved)


@dataclass
class CallCounter:
    """Counts botocore calls by service and operation, table, and the Drover code calling."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    tables: Counter[str] = field(default_factory=Counter)
    sites: Counter[str] = field(default_factory=Counter)

    def __call__(self, event_name: str, params: dict[str, Any] | None = None,
                 **_: Any) -> None:
        """botocore's before-parameter-build.<service>.<operation> hook."""
        _, service, operation = event_name.split(".", 2)
        self.calls[(service, operation)] += 1
        params = params or {}
        tables = {params.get("TableName")} | {
            part.get("TableName") for item in params.get("TransactItems", [])
            for part in item.values()} | set(params.get("RequestItems", {}))
        for table in sorted(t for t in tables if t):
            self.tables[f"{operation} {table}"] += 1
        self.sites[f"{service}.{operation} <- {_caller()}"] += 1

    def summary(self) -> dict[str, Any]:
        """Writes, reads and SQS calls, and every operation."""
        ddb = {op: n for (svc, op), n in self.calls.items() if svc == "dynamodb"}
        return {
            "dynamodb_writes": sum(n for op, n in ddb.items() if op in WRITES),
            "dynamodb_reads": sum(n for op, n in ddb.items() if op in READS),
            "sqs": sum(n for (svc, _), n in self.calls.items() if svc == "sqs"),
            "by_operation": {f"{svc}.{op}": n for (svc, op), n in sorted(self.calls.items())},
            "by_table": dict(sorted(self.tables.items())),
            "by_caller": dict(sorted(self.sites.items())),
        }


def _caller() -> str:
    """The innermost chalicelib function (outside the client wrapper) on the stack."""
    for frame in reversed(traceback.extract_stack()):
        path = frame.filename.replace(os.sep, "/")
        if "/chalicelib/" in path and not path.endswith("/adapters/aws.py"):
            return f"{path.split('/chalicelib/', 1)[1]}:{frame.name}"
    return "?"


def measure(post: Callable[[], Any], clients: list[Any]) -> dict[str, Any]:
    """The AWS calls one ``post()`` makes."""
    counter = CallCounter()
    for aws_client in clients:
        aws_client.meta.events.register("before-parameter-build.*.*", counter)
    try:
        status, body = post()
    finally:
        for aws_client in clients:
            aws_client.meta.events.unregister("before-parameter-build.*.*", counter)
    actions = Counter(o.get("action") for o in body.get("incidents", [])) if body else {}
    return counter.summary() | {"http_status": status, "actions": dict(actions)}


def calls_per_alert(group_size: int) -> dict[str, Any]:
    """DynamoDB/SQS calls of one new alert and one duplicate, after a warm-up alert, and
    the same per alert of a group of ``group_size`` new alerts and of its re-delivery."""
    from chalicelib.adapters.aws import client as aws_client

    with in_process_app() as client:
        def post(title: str, count: int) -> tuple[int, Any]:
            body = webhook_v4(storm_alerts(title, count, count), title)
            response = client.http.post(
                "/webhook", body=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", "X-Source": "alertmanager",
                         "Authorization": f"Bearer {KEY}"})
            return response.status_code, json.loads(response.body or b"null")

        post("CallCountWarmup", 1)  # first use: key lookup caches, client creation
        clients = [aws_client("dynamodb"), aws_client("sqs")]
        new = measure(lambda: post("CallCount", 1), clients)
        duplicate = measure(lambda: post("CallCount", 1), clients)
        group_new = measure(lambda: post("CallCountGroup", group_size), clients)
        group_dup = measure(lambda: post("CallCountGroup", group_size), clients)
    return {
        "calls_per_new_alert": new, "calls_per_duplicate_alert": duplicate,
        "budget_ok": new["dynamodb_writes"] <= 2 and duplicate["dynamodb_writes"] <= 1,
        "budget": "dynamodb_writes: new <= 2, duplicate <= 1 (reported, not asserted)",
        "calls_per_alert_in_a_group": {
            "group_size": group_size, "new": per_alert(group_new, group_size),
            "duplicate": per_alert(group_dup, group_size)},
    }


def per_alert(measured: dict[str, Any], count: int) -> dict[str, Any]:
    """A group's call counts divided by its number of alerts."""
    keys = ("dynamodb_writes", "dynamodb_reads", "sqs")
    return {k: round(measured[k] / count, 3) for k in keys} | {
        "by_operation_per_group": measured["by_operation"],
        "http_status": measured["http_status"]}


# --- main -----------------------------------------------------------------------------------
def ratios(drover: dict[str, Any], am: dict[str, Any]) -> dict[str, Any]:
    """Drover's alerts/s over Alertmanager's, per mode."""
    if "skipped" in am:
        return {"skipped": am["skipped"]}
    out = {}
    for mode in ("single", "grouped"):
        ours, theirs = drover[mode]["alerts_per_second"], am[mode]["alerts_per_second"]
        out[f"{mode}_drover_over_alertmanager"] = round(ours / theirs, 4) if theirs else None
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.storm", description=__doc__)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--fingerprints", type=int, default=100)
    parser.add_argument("--group-size", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--max-retries", type=int, default=5,
                        help="retries of a 503/429/connection error per request")
    parser.add_argument("--no-alertmanager", action="store_true",
                        help="skip the real Alertmanager comparison")
    parser.add_argument("--separate-moto", action="store_true",
                        help="run moto as its own process, to tell its memory from Drover's")
    parser.add_argument("--no-calls", action="store_true",
                        help="skip the in-process DynamoDB/SQS call count")
    args = parser.parse_args(argv)
    if min(args.alerts, args.fingerprints, args.group_size, args.workers) < 1:
        parser.error("counts must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the storm and print one JSON object; exit 1 if a run opened the wrong count."""
    args = parse_args(argv)
    run_id = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    report: dict[str, Any] = {
        "benchmark": "storm", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "machine": platform.machine()},
        "alerts": args.alerts, "fingerprints": args.fingerprints,
        "group_size": args.group_size, "workers": args.workers, "run_id": run_id,
    }
    report["drover"] = drover_runs(args, run_id)
    if not args.no_alertmanager:
        report["alertmanager"] = alertmanager_runs(args, run_id)
        report["ratios"] = ratios(report["drover"], report["alertmanager"])
    if not args.no_calls:
        progress("calls per alert, in-process on moto")
        report.update(calls_per_alert(args.group_size))
    report["incidents_ok"] = all(report["drover"][m]["incidents_ok"]
                                 for m in ("single", "grouped"))
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))
    return 0 if report["incidents_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
