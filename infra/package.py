"""`make package`: the Chalice SAM template merged with infra/'s resources, checked by cfn-lint.

The merge template is infra/resources.json (the resources) deep-merged with
infra/lambda-wiring.json (what ties Chalice's functions to them: least-privilege policies,
partial batch responses). Parameter defaults come from the stage in .chalice/config.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from infra import stack

BUILD = stack.ROOT / "build"
WIRING = stack.ROOT / "infra" / "lambda-wiring.json"


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


def main(stage: str = "prod") -> int:
    """Package the stage into build/ and lint the result."""
    BUILD.mkdir(exist_ok=True)
    merge_path = BUILD / "merge-template.json"
    merge = deep_merge(stack.load_template(), json.loads(WIRING.read_text()))
    merge_path.write_text(json.dumps(merge, indent=2))
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    bindir = Path(sys.executable).parent
    subprocess.run([str(bindir / "chalice"), "package", "--stage", stage,
                    "--merge-template", str(merge_path), str(BUILD)],
                   check=True, cwd=stack.ROOT, env=env)
    sam_path = BUILD / "sam.json"
    sam = json.loads(sam_path.read_text())
    for name, value in stack.parameters(stack.stage_environment(stage)).items():
        sam["Parameters"][name]["Default"] = value
    sam_path.write_text(json.dumps(sam, indent=2))
    lint = subprocess.run([str(bindir / "cfn-lint"), str(sam_path)], cwd=stack.ROOT, check=False)
    if lint.returncode != 0:
        print(f"cfn-lint found problems in {sam_path}", file=sys.stderr)
        return lint.returncode
    print(f"packaged stage '{stage}' into {BUILD} (sam.json passes cfn-lint)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
