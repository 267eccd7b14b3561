"""Diagnose every Kubernetes failure case of a directory with the builtin engine, offline.

    python -m bench.eval_diagnosis [DIR]     # default: ../shared/eval/k8s

Each case's objects and logs are served through the ClusterClient port (CaseClusterClient),
snapshotted, analyzed and diagnosed by the same code a registered cluster goes through.
Prints one JSON line per case, then a summary line. A prediction is correct when it is the
expected category or one of its ``also_acceptable`` ones. Exit status 1 only when a case
could not be diagnosed at all (an exception), never for a wrong answer: accuracy is a
figure, not a test.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chalicelib.adapters.case_cluster import CaseClusterClient
from chalicelib.domain.diagnosis import Diagnosis
from chalicelib.plugins.analyzers import analyze
from chalicelib.services.builtin_engine import BuiltinEngine
from chalicelib.services.cluster_snapshots import read_snapshot
from chalicelib.services.evidence import SubjectHint, collect

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT.parent / "shared" / "eval" / "k8s"


def diagnose_case(path: Path, engine: BuiltinEngine) -> tuple[dict[str, Any], Diagnosis]:
    """The case document and the engine's diagnosis of it."""
    case, client = CaseClusterClient.from_file(path)
    snapshot = read_snapshot(str(case.get("id") or path.stem), client)
    findings = analyze(snapshot)
    evidence = collect(snapshot, findings, SubjectHint(), client=client,
                       cluster_id=snapshot.cluster_id)
    return case, engine.diagnose(evidence)


def evaluate(path: Path, engine: BuiltinEngine) -> dict[str, Any]:
    """One report line."""
    started = time.perf_counter()
    case, diagnosis = diagnose_case(path, engine)
    seconds = time.perf_counter() - started
    expected = case.get("expected") or {}
    accepted = [expected.get("category"), *(expected.get("also_acceptable") or [])]
    return {"id": case.get("id") or path.stem, "expected": expected.get("category"),
            "predicted": diagnosis.category, "correct": diagnosis.category in accepted,
            "confidence": diagnosis.confidence, "seconds": round(seconds, 4),
            "subject": diagnosis.subject.label, "knowledge": diagnosis.knowledge_ids}


def summarize(lines: list[dict[str, Any]], failures: int) -> dict[str, Any]:
    """Accuracy and calibration over the report lines."""
    right = [x["confidence"] for x in lines if x["correct"]]
    wrong = [x["confidence"] for x in lines if not x["correct"]]
    times = sorted(x["seconds"] for x in lines)
    p95 = times[max(0, math.ceil(0.95 * len(times)) - 1)] if times else None
    return {"summary": True, "cases": len(lines), "errors": failures,
            "accuracy": round(len(right) / len(lines), 3) if lines else None,
            "mean_confidence_correct": round(sum(right) / len(right), 3) if right else None,
            "mean_confidence_wrong": round(sum(wrong) / len(wrong), 3) if wrong else None,
            "p95_seconds": p95}


def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate every ``*.json`` case of the directory (INDEX files and the like skipped)."""
    args = list(sys.argv[1:] if argv is None else argv)
    directory = Path(args[0]) if args else DEFAULT_DIR
    if not directory.is_dir():
        print(json.dumps({"error": f"{directory} is not a directory"}))
        return 2
    engine = BuiltinEngine()
    lines: list[dict[str, Any]] = []
    failures = 0
    for path in sorted(directory.glob("*.json")):
        try:
            line = evaluate(path, engine)
        except Exception as exc:  # reported, counted, never hidden
            failures += 1
            print(json.dumps({"id": path.stem, "error": f"{type(exc).__name__}: {exc}"}))
            continue
        lines.append(line)
        print(json.dumps(line))
    print(json.dumps(summarize(lines, failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
