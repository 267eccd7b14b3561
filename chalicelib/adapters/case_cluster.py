"""A :class:`ClusterClient` over a failure case file (objects and logs as the eval corpus
holds them), so a recorded case goes through exactly the code a live cluster does.

Logs are keyed ``pod/container`` (current run) and ``pod/container/previous``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalicelib.domain.cluster_ports import ClusterClient
from chalicelib.domain.clusters import ConnectionCheck
from chalicelib.domain.errors import NotFound
from chalicelib.domain.kube import FORBIDDEN_KINDS, Obj, ResourceKind, meta, resource_kind


class CaseClusterClient(ClusterClient):
    """Read-only answers from a case's objects; Secrets are never served."""

    def __init__(self, objects: dict[str, list[Obj]], logs: dict[str, str] | None = None,
                 version: str = "v1.30.0") -> None:
        self.objects: dict[str, list[Obj]] = {}
        for name, items in objects.items():
            rk = resource_kind(name)
            if rk is not None and rk.plural not in FORBIDDEN_KINDS:
                self.objects.setdefault(rk.plural, []).extend(items)
        self.logs = dict(logs or {})
        self.version = version

    @classmethod
    def from_file(cls, path: Path) -> tuple[dict[str, Any], CaseClusterClient]:
        """The case document and a client serving it."""
        case = json.loads(path.read_text(encoding="utf-8"))
        return case, cls(case.get("objects") or {}, case.get("logs") or {})

    def check(self) -> ConnectionCheck:
        """The case's version and node count."""
        return ConnectionCheck(version=self.version, node_count=len(self.objects.get("nodes", [])))

    def list(self, kind: ResourceKind, namespace: str | None = None, *,
             label_selector: str | None = None, field_selector: str | None = None,
             max_items: int | None = None) -> list[dict[str, Any]]:
        """Objects of a kind (selectors are not needed by the diagnosis path). A kind the case
        did not record is unknown, not empty: NotFound, so the snapshot lists it as missing."""
        if kind.plural not in self.objects:
            raise NotFound(f"{kind.plural} are not recorded in this case")
        items = [o for o in self.objects.get(kind.plural, [])
                 if namespace is None or (meta(o).get("namespace") or "default") == namespace]
        return items[:max_items] if max_items else items

    def get(self, kind: ResourceKind, namespace: str | None, name: str) -> dict[str, Any]:
        """One object, or NotFound."""
        for obj in self.list(kind, namespace):
            if meta(obj).get("name") == name:
                return obj
        raise NotFound(f"{kind.kind} {name} not found")

    def pod_log(self, namespace: str, pod: str, *, container: str | None = None,
                tail_lines: int = 100, previous: bool = False) -> str:
        """The case's log of a container (its previous run under ``/previous``)."""
        if container is None:
            keys = sorted(k for k in self.logs if k.startswith(f"{pod}/")
                          and not k.endswith("/previous"))
            container = keys[0].split("/", 1)[1] if keys else ""
        text = self.logs.get(f"{pod}/{container}/previous" if previous else f"{pod}/{container}")
        if text is None:
            if previous:
                raise NotFound(f"previous terminated container {container} in pod {pod} "
                               "not found")
            return ""
        return "\n".join(text.splitlines()[-tail_lines:])

    def metrics(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]] | None:
        """Cases carry no metrics-server data."""
        return None
