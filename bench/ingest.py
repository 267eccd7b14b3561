"""Ingest throughput and cost: `python -m bench.ingest [--alerts N] [--group-size G] ...`.

Prints one JSON object: alerts per second through the HTTP handler, new alerts and duplicates
apart, one alert per request and in Alertmanager-style groups, (a) in-process on moto
(chalice.test.Client over moto's mock_aws) and (b) over HTTP on the embedded stack; and the
DynamoDB/SQS calls one new and one duplicate alert cost, by operation, counted with botocore
event hooks on the clients Drover's container uses, against the write budget (at most 2
DynamoDB writes per new alert and 1 per duplicate).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench._stack import Sender, Tally, cpu_seconds, drover_stack, progress, settle

KEY = "drv_bench-ingest-admin"
STARTS_AT = "2026-01-01T00:00:00Z"
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems",
                    "BatchWriteItem"})
READS = frozenset({"GetItem", "Query", "BatchGetItem", "TransactGetItems", "Scan"})
LIMITS = {"writes_per_new_alert": 2, "writes_per_duplicate_alert": 1}


# --- payloads -------------------------------------------------------------------------------
def firing_alerts(title: str, count: int, fingerprints: int) -> list[dict[str, Any]]:
    """``count`` firing Alertmanager alerts spread evenly over ``fingerprints`` label sets."""
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


def bodies(title: str, alerts: int, group_size: int) -> list[dict[str, Any]]:
    """``alerts`` alerts of distinct fingerprints, ``group_size`` per webhook body."""
    return [webhook_v4(group, title)
            for group in chunks(firing_alerts(title, alerts, alerts), group_size)]


# --- in-process: chalice.test.Client on moto ------------------------------------------------
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
class InProcessSender:
    """Posts webhook bodies through chalice.test.Client, one after the other."""

    client: Any

    def post(self, body: Any) -> tuple[int, Any]:
        """One POST /webhook; the status and the decoded body."""
        response = self.client.http.post(
            "/webhook", body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-Source": "alertmanager",
                     "Authorization": f"Bearer {KEY}"})
        return response.status_code, json.loads(response.body or b"null")

    def run(self, sent: list[Any]) -> tuple[float, Tally]:
        """Send every body; return the wall time and the tally."""
        tally = Tally()
        started = time.perf_counter()
        for body in sent:
            status, reply = self.post(body)
            tally.add(status, 0, reply, None if status == 200 else json.dumps(reply))
        return time.perf_counter() - started, tally


# --- rates ----------------------------------------------------------------------------------
MODES = ("single", "grouped")


def mode_rates(sender: Any, args: argparse.Namespace, title: str, size: int, *,
               cpu: Callable[[], float | None], background: bool) -> dict[str, Any]:
    """``args.alerts`` new alerts, then the same again as duplicates, ``size`` per request.

    ``cpu`` reads the CPU seconds the serving process used: CPU per alert does not depend on
    what else the machine runs, the rate does. A server with ``background`` work (diagnoses
    of the new incidents) is left to finish it before each measurement.
    """
    sent = bodies(f"{title}-{uuid.uuid4().hex[:8]}", args.alerts, size)
    out: dict[str, Any] = {"group_size": size}
    for kind, expected in (("new", "created"), ("duplicate", "deduplicated")):
        waited = settle(cpu, timeout=args.settle_timeout) if background else 0.0
        before = cpu()
        seconds, tally = sender.run(sent)
        after = cpu()
        result = tally.figures(args.alerts, seconds) | {"settled_seconds_before": waited}
        if before is not None and after is not None:
            result["cpu_ms_per_alert"] = round((after - before) * 1000 / args.alerts, 2)
        result["outcomes_ok"] = tally.actions == Counter({expected: args.alerts})
        out[kind] = result
        progress("ingest", f"{title} {kind}: {result['alerts_per_second']} alerts/s")
    return out


def sizes(args: argparse.Namespace) -> dict[str, int]:
    """Alerts per request of each mode."""
    return dict(zip(MODES, (1, args.group_size), strict=True))


def embedded_rates(args: argparse.Namespace) -> dict[str, Any]:
    """The rates over HTTP on `python -m infra.local`, from ``workers`` client threads; a
    fresh stack per mode, so that one mode's incidents do not slow the next one's reads."""
    out: dict[str, Any] = {
        "transport": f"HTTP to the embedded stack, {args.workers} client threads",
        "cpu": "the stack's process: Drover, its moto, and the diagnoses of new incidents"}
    for mode, size in sizes(args).items():
        with drover_stack(KEY) as drover:
            sender = Sender(f"{drover.url}/webhook?source=alertmanager",
                            {"Authorization": f"Bearer {drover.key}"}, args.workers)
            sender.run(bodies("IngestWarmup", 1, 1))
            out[mode] = mode_rates(sender, args, f"Stack{mode.title()}", size,
                                   cpu=lambda pid=drover.process.pid: cpu_seconds(pid),
                                   background=True)
    return out


# --- DynamoDB/SQS calls per alert -----------------------------------------------------------
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


def measure(post: Callable[[], tuple[int, Any]], clients: list[Any]) -> dict[str, Any]:
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


def per_alert(measured: dict[str, Any], count: int) -> dict[str, Any]:
    """A group's call counts divided by its number of alerts."""
    keys = ("dynamodb_writes", "dynamodb_reads", "sqs")
    return {k: round(measured[k] / count, 3) for k in keys} | {
        "by_operation_per_group": measured["by_operation"],
        "http_status": measured["http_status"], "actions": measured["actions"]}


def calls_per_alert(sender: InProcessSender, group_size: int) -> dict[str, Any]:
    """DynamoDB/SQS calls of one new alert and one duplicate (after a warm-up alert that
    creates the clients and reads the settings), and per alert of a group and its re-delivery."""
    from chalicelib.adapters.aws import client as aws_client

    sender.post(bodies("CallCountWarmup", 1, 1)[0])
    clients = [aws_client("dynamodb"), aws_client("sqs")]
    one = bodies(f"CallCount-{uuid.uuid4().hex[:8]}", 1, 1)[0]
    group = bodies(f"CallCountGroup-{uuid.uuid4().hex[:8]}", group_size, group_size)[0]
    new = measure(lambda: sender.post(one), clients)
    duplicate = measure(lambda: sender.post(one), clients)
    group_new = measure(lambda: sender.post(group), clients)
    group_dup = measure(lambda: sender.post(group), clients)
    return {
        "calls_per_new_alert": new, "calls_per_duplicate_alert": duplicate,
        "calls_per_alert_in_a_group": {
            "group_size": group_size, "new": per_alert(group_new, group_size),
            "duplicate": per_alert(group_dup, group_size)},
        "budget": budget(new["dynamodb_writes"], duplicate["dynamodb_writes"]),
    }


def budget(new_writes: float, duplicate_writes: float) -> dict[str, Any]:
    """The write budget against the measured writes of one new and one duplicate alert."""
    measured = {"writes_per_new_alert": new_writes,
                "writes_per_duplicate_alert": duplicate_writes}
    return {name: {"limit": limit, "measured": measured[name],
                   "holds": measured[name] <= limit} for name, limit in LIMITS.items()}


def in_process(args: argparse.Namespace) -> dict[str, Any]:
    """Rates and call counts in-process on moto."""
    moto = "stock"
    if not args.stock_moto:
        # Stock moto deep-copies every table a transaction names, once per item, so the cost
        # of a new alert would grow with the table; the embedded stack does the same.
        from infra.local.moto_server import install_item_level_rollback

        install_item_level_rollback()
        moto = "item-level transaction rollback, as on the embedded stack"
    with in_process_app() as client:
        sender = InProcessSender(client)
        calls = calls_per_alert(sender, args.group_size)
        measured = {"transport": "chalice.test.Client on moto's mock_aws, one thread",
                    "moto": moto, "cpu": "this process (client, Drover and moto)"}
        for mode, size in sizes(args).items():
            measured[mode] = mode_rates(sender, args, f"InProcess{mode.title()}", size,
                                        cpu=time.process_time, background=False)
    return {"in_process": measured, **calls}


# --- main -----------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    # Each new alert opens an incident that the stack then diagnoses in the background (about
    # 0.3 s of CPU each on moto); the duplicates are measured once that is done.
    parser.add_argument("--alerts", type=int, default=200,
                        help="alerts per measurement (each sent new, then again)")
    parser.add_argument("--group-size", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4,
                        help="client threads posting to the embedded stack")
    parser.add_argument("--no-stack", action="store_true",
                        help="skip the embedded stack (in-process figures only)")
    parser.add_argument("--settle-timeout", type=float, default=300.0,
                        help="seconds to wait for the stack to finish its diagnoses")
    parser.add_argument("--stock-moto", action="store_true",
                        help="in-process, keep moto's whole-table copy per transaction item")
    args = parser.parse_args(argv)
    if min(args.alerts, args.group_size, args.workers) < 1:
        parser.error("counts must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Measure and print one JSON object; exit 1 if an alert was not recorded as expected
    (the budget is read from the JSON, not from the exit status)."""
    args = parse_args(argv)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "benchmark": "ingest", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "machine": platform.machine()},
        "alerts": args.alerts, "group_size": args.group_size,
    }
    report.update(in_process(args))
    if not args.no_stack:
        report["embedded_stack"] = embedded_rates(args)
    report["within_budget"] = all(b["holds"] for b in report["budget"].values())
    runs = [run for where in ("in_process", "embedded_stack") if where in report
            for mode in MODES for run in
            (report[where][mode]["new"], report[where][mode]["duplicate"])]
    report["all_recorded"] = all(r["outcomes_ok"] and not r["http_errors"] for r in runs)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))
    return 0 if report["all_recorded"] else 1


if __name__ == "__main__":
    sys.exit(main())
