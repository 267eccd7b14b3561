"""Deployment package size: `python -m bench.package_size [--top N]`.

Runs `chalice package --stage prod` (as infra/package.py does) into a temporary directory and
prints one JSON object: deployment.zip's size zipped and unzipped, its largest top-level
packages, and the 50 MB unzipped per-Lambda budget. Every Lambda shares that one package today,
so it is every Lambda's size. Next to it, an ESTIMATE of per-group packages: the part of the zip
that `import app` with DROVER_GROUPS=<group> loads in a fresh process (plus Drover's own code).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import GROUPS
from bench._stack import ROOT
from bench.cold_start import probe_env, run_child

BUDGET_MB = 50.0
MB = 2**20
OWN_CODE = ("app", "chalicelib")
ESTIMATE_NOTE = ("estimate, not a built package: the unzipped size in deployment.zip of the "
                 "top-level packages (and their dist-info) that `import app` with only this "
                 "group loads in a fresh process, plus app.py and chalicelib. Dependencies the "
                 "group imports lazily at request time (e.g. openai, kubernetes, cryptography) "
                 "are NOT counted; see not_loaded_at_import.")
LOADED = """
import json, sys
import app
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def build_zip(directory: Path, stage: str = "prod") -> Path:
    """`chalice package` the stage into ``directory``; the path of deployment.zip.

    infra/package.py always writes into build/ and adds a merge template, which does not
    change the zip, so this calls chalice the same way without it."""
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    chalice = Path(sys.executable).parent / "chalice"
    subprocess.run([str(chalice), "package", "--stage", stage, str(directory)], check=True,
                   cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    return directory / "deployment.zip"


def entry_sizes(path: Path) -> dict[str, int]:
    """Unzipped bytes per top-level entry of a zip (a package dir, a module file, dist-info)."""
    sizes: Counter[str] = Counter()
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            sizes[info.filename.split("/")[0]] += info.file_size
    return dict(sizes)


def normalize(name: str) -> str:
    """A distribution name in PEP 503 normal form."""
    return re.sub(r"[-_.]+", "-", name).lower()


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


def group_bytes(loaded: set[str], sizes: dict[str, int],
                dists_of: dict[str, list[str]]) -> tuple[int, list[str]]:
    """Bytes of the zip entries a group loads (with their dists' metadata), and their names."""
    wanted = set(loaded) | set(OWN_CODE)
    dists = {normalize(d) for module in wanted for d in dists_of.get(module, [])}
    picked = [entry for entry in sizes
              if (not is_metadata(entry) and module_of(entry) in wanted)
              or (is_metadata(entry) and normalize(entry.partition("-")[0]) in dists)]
    return sum(sizes[e] for e in picked), sorted(module_of(e) for e in picked
                                                  if not is_metadata(e))


def summarize(zipped: int, sizes: dict[str, int], loaded: dict[str, set[str]],
              dists_of: dict[str, list[str]], top: int = 10) -> dict[str, Any]:
    """The benchmark's JSON object from the zip's entry sizes and each group's loaded modules."""
    unzipped_mb = round(sum(sizes.values()) / MB, 2)
    groups, used = {}, set()
    for name, modules in loaded.items():
        size, picked = group_bytes(modules, sizes, dists_of)
        used.update(picked)
        groups[name] = {"unzipped_mb": round(size / MB, 2), "packages": picked,
                        "within_budget": size / MB <= BUDGET_MB}
    unused = Counter({module_of(e): s for e, s in sizes.items()
                      if not is_metadata(e) and module_of(e) not in used})
    holds = unzipped_mb <= BUDGET_MB
    return {
        "benchmark": "package_size", "stage": "prod",
        "shared_package": {"what": "one deployment.zip shared by every Lambda (today)",
                           "zip_mb": round(zipped / MB, 2), "unzipped_mb": unzipped_mb,
                           "largest_packages": largest(sizes, top)},
        "per_lambda_unzipped_mb": unzipped_mb,
        "per_group_estimate": {"note": ESTIMATE_NOTE, "groups": groups},
        "not_loaded_at_import": [{"name": n, "mb": round(s / MB, 2)}
                                 for n, s in unused.most_common() if s >= MB // 10],
        "budgets": {"every_lambda_unzipped": {"limit": f"<= {BUDGET_MB} MB unzipped",
                                              "measured": unzipped_mb, "holds": holds}},
        "within_budget": holds,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def loaded_modules(group: str) -> set[str]:
    """Top-level modules in sys.modules after `import app` with only ``group``, fresh process."""
    return set(run_child(LOADED, probe_env(group)))


def main(argv: list[str] | None = None) -> int:
    """Package, measure and print one JSON object (budgets are read from it, not the status)."""
    parser = argparse.ArgumentParser(prog="python -m bench.package_size", description=__doc__)
    parser.add_argument("--top", type=int, default=10, help="largest packages to list")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="drover-package-") as tmp:
        path = build_zip(Path(tmp))
        zipped, sizes = path.stat().st_size, entry_sizes(path)
    loaded = {group: loaded_modules(group) for group in GROUPS}
    report = summarize(zipped, sizes, loaded, importlib.metadata.packages_distributions(),
                       args.top)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
