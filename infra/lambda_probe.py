"""Import each endpoint group from its own zip alone, as a Lambda would, and report what it has.

The probe runs a fresh interpreter without site-packages (``-I -S``) whose path is the
extracted zip, then a directory holding only what the Lambda Python runtime provides
(boto3 and its dependencies). ``import app`` with DROVER_GROUPS=<group> must succeed, then
importing every endpoint module of every group (the zip holds all of chalicelib) and every
module the code imports from the distributions NEEDS gives the group (the lazy imports), so
a group that needs a package its zip lacks fails packaging, not a request in production.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

# Packages the AWS Lambda Python runtime puts on sys.path after the function's own code.
LAMBDA_RUNTIME = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")

PROBE = """
import importlib, json, sys
task_root, runtime, group, lazy = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
sys.path[:0] = [task_root, runtime]
task_root, runtime = task_root.rstrip("/") + "/", runtime.rstrip("/") + "/"
import app
loaded, files = {}, []
for name, module in list(sys.modules.items()):
    origin = getattr(module, "__file__", None) or ""
    if origin.startswith(task_root) and origin.endswith(".py"):
        files.append(origin[len(task_root):])
    where = "zip" if origin.startswith(task_root) else "runtime" if origin.startswith(runtime) \
        else None
    if where and "." not in name and name not in ("app", "chalicelib", "chalice"):
        loaded[name] = where
# Every zip holds all of chalicelib; any group's module must import from it (/openapi.json
# imports them all), and so must what the group's code imports lazily.
for name in [m for modules in app.GROUPS.values() for m in modules] + lazy:
    importlib.import_module(name)
print(json.dumps({"routes": sorted([path, method] for path, entries in app.app.routes.items()
                                   for method in entries),
                  "modules": list(app.GROUPS[group]), "loaded_at_import": loaded,
                  "files_at_import": sorted(files)}))
"""


def runtime_dir(into: Path) -> Path:
    """A directory of links to this interpreter's copies of the Lambda runtime's packages."""
    into.mkdir(parents=True, exist_ok=True)
    for name in LAMBDA_RUNTIME:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{name} is not installed here; run `make install`")
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        link = into / source.name
        if not link.exists():
            link.symlink_to(source)
    return into


def probe_group(zip_path: Path, group: str, lazy: list[str], runtime: Path) -> dict[str, Any]:
    """Extract one group's zip and import the group and ``lazy`` modules from it alone."""
    with tempfile.TemporaryDirectory(prefix=f"drover-{group}-") as tmp:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(tmp)
        env = {"DROVER_GROUPS": group, "PATH": os.environ.get("PATH", ""),
               "AWS_DEFAULT_REGION": "us-east-1"}
        done = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", PROBE, tmp, str(runtime),
                               group, json.dumps(lazy)],
                              cwd=tmp, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"group '{group}' does not import from {zip_path.name} alone:\n"
                           f"{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def app_groups(app_py: Path) -> dict[str, tuple[str, ...]]:
    """app.py's GROUPS (endpoint group -> modules), read without importing the app."""
    tree = ast.parse(app_py.read_text())
    for node in tree.body:
        if (isinstance(node, ast.AnnAssign | ast.Assign)
                and "GROUPS" in [t.id for t in _targets(node) if isinstance(t, ast.Name)]):
            return {group: tuple(mods) for group, mods in ast.literal_eval(node.value).items()}
    raise ValueError(f"{app_py} defines no GROUPS literal")


def _targets(node: ast.AnnAssign | ast.Assign) -> list[ast.expr]:
    return [node.target] if isinstance(node, ast.AnnAssign) else list(node.targets)


def source_imports(root: Path) -> set[str]:
    """Every absolute module name app.py and chalicelib import, at module level or lazily
    inside functions (what a group's zip must be able to import on some request)."""
    names: set[str] = set()
    for path in [root / "app.py", *sorted((root / "chalicelib").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    return names
