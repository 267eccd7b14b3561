"""`make package`: per-group Lambdas from `chalice package`, merged with infra/, cfn-lint clean.

The merge template is infra/resources.json (the resources) deep-merged with
infra/lambda-wiring.json (what ties Chalice's functions to them: least-privilege policies,
partial batch responses). Parameter defaults come from the stage in .chalice/config.json.
Chalice's one deployment.zip and one API function are then split per endpoint group:
build/<group>.zip (infra/lambda_zips.py), one API function per group
(infra/lambda_template.py), each group imported from its zip alone first
(infra/lambda_probe.py), then the bytecode of what that import loaded added to the zip.
build/lambdas.json lists the zips, their sizes, what they hold and the functions using them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from infra import lambda_probe, lambda_template, stack
from infra.lambda_zips import NEEDS, Wheelhouse, add_bytecode, write_group_zip, zip_sizes

BUILD = stack.ROOT / "build"
WIRING = stack.ROOT / "infra" / "lambda-wiring.json"
BIN = Path(sys.executable).parent


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Merge dicts recursively; values of ``extra`` win, an intrinsic function (``Ref``,
    ``Fn::*``) as a whole."""
    merged = dict(base)
    for key, value in extra.items():
        current = merged.get(key)
        if (isinstance(value, dict) and isinstance(current, dict)
                and not _intrinsic(value) and not _intrinsic(current)):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def _intrinsic(value: dict[str, Any]) -> bool:
    """Whether a dict is a CloudFormation intrinsic function, e.g. ``{"Fn::GetAtt": [...]}``."""
    return len(value) == 1 and (next(iter(value)) == "Ref" or next(iter(value)).startswith("Fn::"))


def chalice_package(stage: str, out: Path) -> None:
    """`chalice package` the stage into ``out`` with infra/'s merge template."""
    merge_path = out / "merge-template.json"
    merge = deep_merge(stack.load_template(), json.loads(WIRING.read_text()))
    merge_path.write_text(json.dumps(merge, indent=2))
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    subprocess.run([str(BIN / "chalice"), "package", "--stage", stage, "--merge-template",
                    str(merge_path), str(out)], check=True, cwd=stack.ROOT, env=env,
                   stdout=subprocess.DEVNULL)


def split_groups(out: Path, runtime: str) -> dict[str, dict[str, Any]]:
    """Cut out/deployment.zip into one zip per group, import each group from its own, and
    add the bytecode of what ``import app`` loads (its cold start's modules)."""
    groups = lambda_probe.app_groups(stack.ROOT / "app.py")
    if set(groups) != set(NEEDS):
        raise ValueError(f"app.py's groups {sorted(groups)} differ from "
                         f"infra/lambda_zips.NEEDS {sorted(NEEDS)}")
    for stale in out.glob("*.zip"):
        if stale.name != "deployment.zip":
            stale.unlink()
    report: dict[str, dict[str, Any]] = {}
    imports = lambda_probe.source_imports(stack.ROOT)
    with (zipfile.ZipFile(out / "deployment.zip") as archive,
          tempfile.TemporaryDirectory(prefix="drover-runtime-") as tmp):
        house = Wheelhouse.read(archive)
        _check_every_import_is_shipped(house, imports)
        runtime_path = lambda_probe.runtime_dir(Path(tmp))
        for group in groups:
            made = write_group_zip(archive, house, group, out)
            tops = {name for dist in NEEDS[group] for name in house.top_level(dist)}
            lazy = sorted(tops | {m for m in imports if m.partition(".")[0] in tops})
            probe = lambda_probe.probe_group(made.path, group, lazy, runtime_path)
            compiled = add_bytecode(made.path, probe["files_at_import"], runtime)
            zipped, unzipped = zip_sizes(made.path)
            report[group] = {"zip": made.path.name, "zip_bytes": zipped,
                             "unzipped_bytes": unzipped, "dists": list(made.dists),
                             "compiled_modules": compiled, **probe}
    return report


def _check_every_import_is_shipped(house: Wheelhouse, imports: set[str]) -> None:
    """Fail when the code imports a third-party package no group's NEEDS brings."""
    shipped = set(lambda_probe.LAMBDA_RUNTIME) | {"app", "chalicelib", "chalice"}
    for roots in NEEDS.values():
        shipped |= {name for dist in house.closure(roots) for name in house.top_level(dist)}
    missing = sorted({m.partition(".")[0] for m in imports} - shipped - sys.stdlib_module_names)
    if missing:
        raise ValueError(f"the code imports {', '.join(missing)}, which no group ships: "
                         "add the distribution to infra/lambda_zips.NEEDS")


def build(stage: str, out: Path) -> dict[str, Any]:
    """Package the stage into ``out``: sam.json, <group>.zip each, lambdas.json."""
    out.mkdir(parents=True, exist_ok=True)
    chalice_package(stage, out)
    sam = json.loads((out / "sam.json").read_text())
    groups = split_groups(out, sam["Resources"]["APIHandler"]["Properties"]["Runtime"])
    sam = lambda_template.split(sam, {g: [tuple(r) for r in p["routes"]]
                                      for g, p in groups.items()},
                                {g: p["modules"] for g, p in groups.items()})
    for name, value in stack.parameters(stack.stage_environment(stage)).items():
        sam["Parameters"][name]["Default"] = value
    (out / "sam.json").write_text(json.dumps(sam, indent=2))
    (out / "deployment.zip").unlink()  # every function now names its group's zip
    functions = {name: r["Properties"]["CodeUri"].removeprefix("./")
                 for name, r in sam["Resources"].items()
                 if r["Type"] == "AWS::Serverless::Function"}
    manifest = {"stage": stage, "groups": groups, "functions": functions}
    (out / "lambdas.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def main(stage: str = "prod") -> int:
    """Package the stage into build/ and lint the result."""
    manifest = build(stage, BUILD)
    sam_path = BUILD / "sam.json"
    lint = subprocess.run([str(BIN / "cfn-lint"), str(sam_path)], cwd=stack.ROOT, check=False)
    if lint.returncode != 0:
        print(f"cfn-lint found problems in {sam_path}", file=sys.stderr)
        return lint.returncode
    for info in manifest["groups"].values():
        print(f"  {info['zip']:<18} {info['unzipped_bytes'] / 2**20:6.1f} MB unzipped, "
              f"{info['zip_bytes'] / 2**20:5.1f} MB zipped, {len(info['routes'])} routes")
    print(f"packaged stage '{stage}' into {BUILD}: {len(manifest['functions'])} functions, "
          f"one zip per endpoint group (sam.json passes cfn-lint)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
