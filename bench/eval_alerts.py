"""Normalize every payload of an alert corpus offline and print one JSON line per file.

    python -m bench.eval_alerts [DIR]     # default: ../shared/eval/alerts

The source is chosen by shape (detect_source), never by file name, so the command works on
corpora whose names mean nothing. No server, no AWS. Exit status 1 only if a normalizer
raised something other than its documented ValidationFailed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chalicelib.domain.errors import DroverError
from chalicelib.plugins.normalizers import REGISTRY, NormalizeContext, detect_source

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT.parent / "shared" / "eval" / "alerts"
ALERT_FIELDS = ("title", "severity", "status", "namespace", "pod", "workload", "fingerprint",
                "starts_at", "acknowledged")


def evaluate(path: Path) -> tuple[dict[str, Any], bool]:
    """The report line of one file, and whether an unexpected exception happened."""
    line: dict[str, Any] = {"file": path.name, "source": None, "kind": "error",
                            "reason": None, "alerts": []}
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        line["reason"] = f"unreadable JSON: {exc}"
        return line, False
    line["source"] = detect_source(payload)
    try:
        result = REGISTRY[line["source"]].read(payload, NormalizeContext())
    except DroverError as exc:
        line["reason"] = exc.message
        return line, False
    except Exception as exc:  # reported as a failure (exit 1), never hidden
        line["reason"] = f"unexpected {type(exc).__name__}: {exc}"
        return line, True
    line.update(kind=result.kind, reason=result.reason, delivery_id=result.delivery_id,
                alerts=[{f: getattr(a, f) for f in ALERT_FIELDS} for a in result.alerts])
    return line, False


def main(argv: Sequence[str] | None = None) -> int:
    """Print one line per *.json file of the directory; 1 if any normalizer crashed."""
    args = list(sys.argv[1:] if argv is None else argv)
    directory = Path(args[0]) if args else DEFAULT_DIR
    if not directory.is_dir():
        print(json.dumps({"kind": "error", "reason": f"not a directory: {directory}"}))
        return 2
    crashed = False
    for path in sorted(directory.glob("*.json")):
        line, unexpected = evaluate(path)
        crashed = crashed or unexpected
        print(json.dumps(line))
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
