"""Builtin diagnosis latency per incident: evidence collection plus the engine, over every
case of a corpus (snapshot already taken and analyzed, as when the stored one is fresh).

    python -m bench.diagnosis [DIR] [ROUNDS]     # default ../shared/eval/k8s, 20 rounds

Prints one JSON object: p50/p95/max milliseconds, cases, rounds. Budget (issue 8): p95 < 100 ms.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from bench.eval_diagnosis import DEFAULT_DIR
from chalicelib.adapters.case_cluster import CaseClusterClient
from chalicelib.plugins.analyzers import analyze
from chalicelib.services.builtin_engine import BuiltinEngine
from chalicelib.services.cluster_snapshots import read_snapshot
from chalicelib.services.evidence import SubjectHint, collect

BUDGET_MS = 100.0


def main() -> int:
    """Measure and print."""
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    engine = BuiltinEngine()
    prepared = []
    for path in sorted(directory.glob("*.json")):
        _, client = CaseClusterClient.from_file(path)
        snapshot = read_snapshot(path.stem, client)
        prepared.append((client, snapshot, analyze(snapshot)))
    samples = []
    for _ in range(rounds):
        for client, snapshot, findings in prepared:
            started = time.perf_counter()
            engine.diagnose(collect(snapshot, findings, SubjectHint(), client=client))
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[max(0, int(len(samples) * 0.95) - 1)] if samples else None
    print(json.dumps({"benchmark": "diagnosis", "cases": len(prepared), "rounds": rounds,
                      "p50_ms": round(statistics.median(samples), 2) if samples else None,
                      "p95_ms": round(p95, 2) if p95 is not None else None,
                      "max_ms": round(samples[-1], 2) if samples else None,
                      "budget_p95_ms": BUDGET_MS,
                      "within_budget": p95 is not None and p95 < BUDGET_MS}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
