"""Alert storm end to end: `python -m bench.storm [--alerts N] [--fingerprints F] ...`.

Prints one JSON object: the storm sent over HTTP to the embedded stack as single-alert
Alertmanager v4 requests and as Alertmanager-style groups, the incidents each run opened,
the same storm posted to a real prometheus-alertmanager (API v2) when it is installed, and
the DynamoDB/SQS calls one new and one duplicate alert cost (measured in-process on moto).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._stack import (
    INSTALL_HINT,
    Drover,
    MotoServer,
    Sender,
    alertmanager,
    alertmanager_binary,
    alertmanager_version,
    cpu_seconds,
    drover_stack,
    moto_server,
    rss_mib,
    settle,
)
from bench._stack import progress as _progress
from bench.ingest import (
    InProcessSender,
    calls_per_alert,
    chunks,
    firing_alerts,
    in_process_app,
    webhook_v4,
)

KEY = "drv_bench-storm-admin"
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b")


def progress(message: str) -> None:
    """One line on stderr, so that stdout stays one JSON object."""
    _progress("storm", message)


# --- Drover over HTTP -----------------------------------------------------------------------
def drover_mode(drover: Drover, args: argparse.Namespace, title: str, group_size: int,
                moto: MotoServer | None = None) -> dict[str, Any]:
    """One storm of distinct ``title`` against Drover, ``group_size`` alerts per request."""
    alerts = firing_alerts(title, args.alerts, args.fingerprints)
    bodies = [webhook_v4(group, title) for group in chunks(alerts, group_size)]
    sender = Sender(f"{drover.url}/webhook?source=alertmanager",
                    {"Authorization": f"Bearer {drover.key}"}, args.workers, args.max_retries)
    progress(f"drover: {args.alerts} alerts in {len(bodies)} requests ({title})")
    pids = {"stack": drover.process.pid} | ({"moto": moto.process.pid} if moto else {})
    waited = settle(lambda: cpu_seconds(drover.process.pid))
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    seconds, tally = sender.run(bodies)
    result = tally.figures(args.alerts, seconds)
    result.update(group_size=group_size, settled_seconds_before=waited)
    # CPU per alert does not depend on what else the machine runs; the rate does.
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result["cpu_ms_per_alert"] = {
        name: round((spent - start) * 1000 / args.alerts, 2)
        for name, start, spent in ((n, before[n], after[n]) for n in pids)
        if start is not None and spent is not None}
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
        single = drover_mode(drover, args, f"StormSingle-{run_id}", 1, moto)
        if moto:
            single["moto_rss_mib_after"] = rss_mib(moto.process.pid)
        grouped = drover_mode(drover, args, f"StormGrouped-{run_id}", args.group_size, moto)
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
            alerts = firing_alerts(f"Storm{mode.title()}AM-{run_id}", args.alerts,
                                   args.fingerprints)
            for alert in alerts:
                alert.pop("status"), alert.pop("fingerprint"), alert.pop("endsAt")
            sender = Sender(am.url + "/api/v2/alerts", {}, args.workers, args.max_retries)
            progress(f"alertmanager: {args.alerts} alerts, {size} per request")
            seconds, tally = sender.run(chunks(alerts, size))
            result[mode] = tally.figures(args.alerts, seconds) | {"group_size": size}
        result["rss_mib_after"] = rss_mib(am.process.pid)
    return result


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
        with in_process_app() as client:
            report.update(calls_per_alert(InProcessSender(client), args.group_size))
    report["incidents_ok"] = all(report["drover"][m]["incidents_ok"]
                                 for m in ("single", "grouped"))
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))
    return 0 if report["incidents_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
