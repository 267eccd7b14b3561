"""One zip per endpoint group, cut from the deployment.zip `chalice package` builds.

A group's zip holds Drover's own code (app.py, chalicelib, chalice's runtime) and the
distributions of NEEDS[group] with their dependencies, read from the wheels' own metadata
in deployment.zip (RECORD says which files are whose, METADATA which dists each requires),
and the bytecode of the modules its cold start imports (add_bytecode).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import py_compile
import re
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement

# Endpoint group -> the distributions its code imports, at import time or lazily on a request
# path. The one place that says what a group ships; infra/package.py checks it by importing
# each group (and these distributions) from its zip alone.
NEEDS: dict[str, tuple[str, ...]] = {
    "ingest": ("pydantic",
               "cryptography"),  # adapters/sns_signature: POST /webhook/sns signature checks
    "incidents": ("pydantic",),
    "admin": ("pydantic",),
    "diagnosis": ("pydantic",
                  "kubernetes", "pyyaml",  # adapters/kubernetes_api: evidence from clusters
                  "openai",  # adapters/llm_openai: the OpenAI-compatible provider
                  "aws-lambda-powertools"),  # events/diagnoses: batch + idempotency
    "clusters": ("pydantic",
                 "kubernetes", "pyyaml"),  # adapters/kubernetes_api, services/rbac_graph
    "remediation": ("pydantic",
                    "kubernetes", "pyyaml",  # actions through adapters/kubernetes_api
                    "openai"),  # mirror previews diagnose, which may refine with the LLM
}
# Credential sealing uses KMS in AWS (DROVER_KMS_KEY_ID), so only SNS needs cryptography there.

# Files a Lambda never reads: byte code caches, type stubs, third-party test suites and
# install records (pip reads RECORD to uninstall; importlib.metadata needs only METADATA).
CACHES = re.compile(r"(^|/)__pycache__/|\.pyc$")
THIRD_PARTY_NOISE = re.compile(r"(^|/)tests?/|\.pyi$|\.dist-info/RECORD$")
OWN_CODE = ("app.py", "chalicelib/", "chalice/")


def normalize(name: str) -> str:
    """A distribution name in PEP 503 normal form."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Wheelhouse:
    """What deployment.zip holds: each file's distribution and each distribution's needs."""

    owner: dict[str, str]  # zip entry -> normalized dist name ("" for Drover's own code)
    requires: dict[str, tuple[str, ...]]  # dist -> the dists it requires (markers applied)

    @classmethod
    def read(cls, archive: zipfile.ZipFile) -> Wheelhouse:
        """Index an open deployment.zip; an entry no RECORD names must be Drover's own."""
        owner: dict[str, str] = {}
        requires: dict[str, tuple[str, ...]] = {}
        for name in archive.namelist():
            if name.endswith(".dist-info/RECORD"):
                meta = name.rpartition("/")[0]
                dist = normalize(_metadata_field(archive.read(f"{meta}/METADATA"), "Name")[0])
                requires[dist] = _requirements(archive.read(f"{meta}/METADATA"))
                for row in csv.reader(io.StringIO(archive.read(name).decode())):
                    if row:
                        owner[str(PurePosixPath(row[0]))] = dist
        for name in archive.namelist():
            if name not in owner and not name.endswith("/"):
                if not name.startswith(OWN_CODE):
                    raise ValueError(f"{name} in deployment.zip belongs to no distribution")
                owner[name] = ""
        return cls(owner, requires)

    def closure(self, roots: Iterable[str]) -> set[str]:
        """The roots and everything they require that the zip holds (the Lambda runtime
        provides boto3 and botocore, which chalice leaves out)."""
        wanted, todo = set(), [normalize(r) for r in roots]
        while todo:
            dist = todo.pop()
            if dist in wanted:
                continue
            if dist not in self.requires:
                raise ValueError(f"'{dist}' is not in deployment.zip (is it in requirements.txt?)")
            wanted.add(dist)
            todo.extend(d for d in self.requires[dist] if d in self.requires)
        return wanted

    def top_level(self, dist: str) -> list[str]:
        """The importable top-level names a distribution installs."""
        names = set()
        for entry, owner in self.owner.items():
            first, _, rest = entry.partition("/")
            if owner == dist and not first.endswith((".dist-info", ".data")):
                stem = first if rest else first.split(".")[0]
                names.add(stem)
        return sorted(names)


def _metadata_field(metadata: bytes, field: str) -> list[str]:
    prefix = f"{field}:"
    return [line[len(prefix):].strip() for line in metadata.decode().splitlines()
            if line.startswith(prefix)]


def _requirements(metadata: bytes) -> tuple[str, ...]:
    """Required distributions whose markers hold here (Python 3.11 on Linux, as on Lambda)."""
    needed = []
    for spec in _metadata_field(metadata, "Requires-Dist"):
        req = Requirement(spec)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            needed.append(normalize(req.name))
    return tuple(needed)


@dataclass(frozen=True)
class GroupZip:
    """One group's zip: where it is, its sizes and the distributions in it."""

    group: str
    path: Path
    zip_bytes: int
    unzipped_bytes: int
    dists: tuple[str, ...]


def write_group_zip(archive: zipfile.ZipFile, house: Wheelhouse, group: str,
                    out_dir: Path) -> GroupZip:
    """Write out_dir/<group>.zip: own code plus the closure of NEEDS[group], stripped."""
    dists = house.closure(NEEDS[group])
    path = out_dir / f"{group}.zip"
    unzipped = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in archive.infolist():
            if not _ships(info.filename, house.owner.get(info.filename), dists):
                continue
            copy = zipfile.ZipInfo(info.filename, info.date_time)
            copy.external_attr, copy.compress_type = info.external_attr, zipfile.ZIP_DEFLATED
            out.writestr(copy, archive.read(info))
            unzipped += info.file_size
    return GroupZip(group, path, path.stat().st_size, unzipped, tuple(sorted(dists)))


def _ships(name: str, owner: str | None, dists: set[str]) -> bool:
    """Whether a deployment.zip entry goes into a zip holding ``dists`` (and own code)."""
    if owner is None or CACHES.search(name):
        return False
    return owner == "" or (owner in dists and not THIRD_PARTY_NOISE.search(name))


def add_bytecode(path: Path, sources: Iterable[str], runtime: str) -> int:
    """Add compiled ``__pycache__`` entries for ``sources`` (zip paths of .py files) to the
    zip; the number added. Lambda's code directory is read-only, so without them every cold
    start compiles each module it imports; unchecked-hash .pyc files are used as they are,
    whatever the extracted files' times. Only when this interpreter is ``runtime``'s Python
    (e.g. python3.11), whose bytecode the Lambda runtime reads."""
    if runtime != f"python{sys.version_info.major}.{sys.version_info.minor}":
        return 0
    added = 0
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive, \
            tempfile.TemporaryDirectory(prefix="drover-pyc-") as tmp:
        for name in sources:
            source, cache = Path(tmp) / name, importlib.util.cache_from_source(name)
            source.parent.mkdir(parents=True, exist_ok=True)
            source.write_bytes(archive.read(name))
            py_compile.compile(str(source), cfile=str(Path(tmp) / cache), dfile=name,
                               doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
            archive.write(Path(tmp) / cache, cache)
            added += 1
    return added


def zip_sizes(path: Path) -> tuple[int, int]:
    """A zip's size on disk and the sum of its files' sizes."""
    with zipfile.ZipFile(path) as archive:
        return path.stat().st_size, sum(info.file_size for info in archive.infolist())
