"""Deployment package size per Lambda: `python -m bench.package_size [--from-build] [--top N]`.

Packages the prod stage as `make package` does (infra/package.py: one zip per endpoint group,
each Lambda naming its group's zip) into a temporary directory, or with --from-build reads
build/ as `make package` left it, and prints one JSON object: every Lambda's zip, its size
zipped and unzipped measured from the zip file itself, each zip's largest top-level packages,
and the 50 MB unzipped per-Lambda budget.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._stack import ROOT

BUDGET_MB = 50.0
MB = 2**20


def entry_sizes(path: Path) -> dict[str, int]:
    """Unzipped bytes per top-level entry of a zip (a package dir, a module file, dist-info)."""
    sizes: Counter[str] = Counter()
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            sizes[info.filename.split("/")[0]] += info.file_size
    return dict(sizes)


def module_of(entry: str) -> str:
    """The module name of a top-level zip entry ('six.py' -> 'six'; dist-info kept as is)."""
    return entry if is_metadata(entry) else entry.partition(".")[0]


def is_metadata(entry: str) -> bool:
    """Whether a top-level entry is a distribution's metadata directory."""
    return entry.endswith((".dist-info", ".data"))


def largest(sizes: dict[str, int], top: int) -> list[dict[str, Any]]:
    """The ``top`` largest top-level packages (metadata folded away), in MB unzipped."""
    modules: Counter[str] = Counter()
    for entry, size in sizes.items():
        if not is_metadata(entry):
            modules[module_of(entry)] += size
    return [{"name": name, "mb": round(size / MB, 2)} for name, size in modules.most_common(top)]


def summarize(zips: dict[str, tuple[int, dict[str, int]]], functions: dict[str, str],
              top: int = 5) -> dict[str, Any]:
    """The benchmark's JSON object from each zip's (size, entry sizes) and each Lambda's zip."""
    packages = {}
    for name, (zipped, sizes) in sorted(zips.items()):
        unzipped = round(sum(sizes.values()) / MB, 2)
        packages[name] = {"zip_mb": round(zipped / MB, 2), "unzipped_mb": unzipped,
                          "within_budget": unzipped < BUDGET_MB,
                          "lambdas": sorted(f for f, z in functions.items() if z == name),
                          "largest_packages": largest(sizes, top)}
    lambdas = {fn: {"zip": z, "zip_mb": packages[z]["zip_mb"],
                    "unzipped_mb": packages[z]["unzipped_mb"]}
               for fn, z in sorted(functions.items())}
    biggest = max(lambdas.items(), key=lambda item: item[1]["unzipped_mb"])
    holds = all(p["within_budget"] for p in packages.values())
    return {
        "benchmark": "package_size", "stage": "prod",
        "what": "each Lambda's deployment zip as `make package` builds it (one per endpoint "
                "group), sizes read from the zip files",
        "lambdas": lambdas, "packages": packages,
        "largest_lambda": {"name": biggest[0], **biggest[1]},
        "budgets": {"every_lambda_unzipped": {"limit": f"< {BUDGET_MB} MB unzipped",
                                              "measured": biggest[1]["unzipped_mb"],
                                              "holds": holds}},
        "within_budget": holds,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def measure(directory: Path, top: int) -> dict[str, Any]:
    """Summarize the zips and functions of a packaged directory (its lambdas.json)."""
    manifest = json.loads((directory / "lambdas.json").read_text())
    functions: dict[str, str] = manifest["functions"]
    zips = {name: ((directory / name).stat().st_size, entry_sizes(directory / name))
            for name in set(functions.values())}
    return summarize(zips, functions, top)


def main(argv: list[str] | None = None) -> int:
    """Package (or read build/), measure and print one JSON object (budgets are read from it,
    not from the exit status)."""
    parser = argparse.ArgumentParser(prog="python -m bench.package_size", description=__doc__)
    parser.add_argument("--from-build", action="store_true",
                        help="measure build/ as `make package` left it instead of packaging")
    parser.add_argument("--top", type=int, default=5, help="largest packages listed per zip")
    args = parser.parse_args(argv)
    if args.from_build:
        report = measure(ROOT / "build", args.top)
    else:
        from infra.package import build

        with tempfile.TemporaryDirectory(prefix="drover-package-") as tmp:
            build("prod", Path(tmp))
            report = measure(Path(tmp), args.top)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
