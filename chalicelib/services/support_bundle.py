"""Support bundles (seed 000 ``POST /api/support-bundle``, plus ``GET .../{bundle_id}`` to fetch
one): what an engineer needs to troubleshoot a cluster without access to it, built
synchronously and kept for 7 days.

A bundle holds the cluster's public registration, versions, nodes with their conditions, the
latest snapshot's object counts and findings with evidence, the last 200 warning events, the
last 100 log lines of the containers of the pods the findings name (at most 20 pods), and the
connection log. Log and event text is untrusted: bearer tokens, AWS keys, passwords, URL
credentials and private keys are redacted before anything is stored.
"""

from __future__ import annotations

import gzip
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from chalicelib.domain.clock import iso, new_id, now_iso, utcnow
from chalicelib.domain.cluster_ports import ClusterClient
from chalicelib.domain.clusters import Cluster
from chalicelib.domain.errors import DroverError, NotFound
from chalicelib.domain.health import node_is_ready
from chalicelib.domain.kube import SNAPSHOT_KINDS, Finding, Obj, Snapshot, event_time, meta
from chalicelib.services.cluster_snapshots import SnapshotService
from chalicelib.services.clusters import ClusterService

FORMAT = "drover-support-bundle/1"
KEEP = timedelta(days=7)
MAX_EVENTS, MAX_LOG_PODS, LOG_LINES = 200, 20, 100
MAX_FINDINGS, MAX_LOG_CHARS, LOG_BUDGET_CHARS = 500, 32 * 1024, 3 * 1024 * 1024
READERS = 4
BUNDLE_ID = re.compile(r"^bundle-[0-9a-f]{16}$")
R = "[REDACTED]"
# (name, pattern, replacement): applied in order to every log line, event and evidence text.
REDACTIONS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("private_key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE "
                               r"KEY-----", re.DOTALL), f"{R} private key"),
    ("bearer_token", re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]{8,}=*"), rf"\1{R}"),
    ("aws_access_key_id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA"
                                     r"|APKA)[A-Z0-9]{16}\b"), f"{R}-AWS-ACCESS-KEY"),
    ("aws_secret_access_key", re.compile(r"(?i)(secret_?access_?key[\"']?\s*[:=]\s*[\"']?)"
                                         r"[A-Za-z0-9/+=]{40}"), rf"\1{R}"),
    ("password", re.compile(r"(?i)\b(pass(?:word|wd)?|pwd)([\"']?\s*[:=]\s*)"
                            r"(\"[^\"]*\"|'[^']*'|[^\s&,;\"']+)"), rf"\1\2{R}"),
    ("url_credentials", re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/:@]+:)[^\s/@]+@"),
     rf"\1{R}@"),
)


def redact_count(text: str) -> tuple[str, int]:
    """Text with secrets replaced, and how many replacements were made."""
    total = 0
    for _, pattern, replacement in REDACTIONS:
        text, n = pattern.subn(replacement, text)
        total += n
    return text, total


def redact(text: str) -> str:
    """Text with bearer tokens, AWS keys, passwords, URL credentials and keys replaced."""
    return redact_count(text)[0]


class BundleStore(Protocol):
    """Where bundles are kept (gzipped JSON, expiring)."""

    def put_bundle(self, bundle_id: str, head: dict[str, Any], blob: bytes,
                   expires: int) -> None:
        """Store a bundle."""

    def get_bundle(self, bundle_id: str) -> tuple[dict[str, Any], bytes] | None:
        """The head and blob of a bundle, or None."""


class _Redactor:
    """Redacts and counts, so the bundle can say how much it hid."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, text: str | None) -> str:
        clean, n = redact_count(text or "")
        self.count += n
        return clean


def node_row(node: Obj) -> dict[str, Any]:
    """A node with its conditions and versions."""
    status, labels = node.get("status") or {}, meta(node).get("labels") or {}
    info = status.get("nodeInfo") or {}
    return {"name": meta(node).get("name"), "ready": node_is_ready(node),
            "roles": sorted(k.split("/", 1)[1] for k in labels
                            if k.startswith("node-role.kubernetes.io/")),
            "unschedulable": bool((node.get("spec") or {}).get("unschedulable")),
            "taints": (node.get("spec") or {}).get("taints") or [],
            "conditions": [{k: c.get(k) for k in ("type", "status", "reason", "message",
                                                  "lastTransitionTime")}
                           for c in status.get("conditions") or []],
            "kubelet_version": info.get("kubeletVersion"),
            "container_runtime": info.get("containerRuntimeVersion"),
            "kernel": info.get("kernelVersion"), "os_image": info.get("osImage"),
            "capacity": status.get("capacity"), "allocatable": status.get("allocatable")}


def event_rows(events: list[Obj], clean: _Redactor) -> list[dict[str, Any]]:
    """The newest warning events, oldest first."""
    warnings = sorted((e for e in events if e.get("type") == "Warning"), key=event_time)
    rows = []
    for event in warnings[-MAX_EVENTS:]:
        involved = event.get("involvedObject") or event.get("regarding") or {}
        rows.append({"namespace": meta(event).get("namespace"), "kind": involved.get("kind"),
                     "name": involved.get("name"), "reason": event.get("reason"),
                     "message": clean(event.get("message") or event.get("note")),
                     "count": event.get("count") or (event.get("series") or {}).get("count"),
                     "last_seen": event_time(event) or None})
    return rows


def failing_pods(findings: list[Finding]) -> list[tuple[str, str]]:
    """(namespace, name) of the pods the findings name, most severe first, at most 20."""
    order = {"critical": 0, "warning": 1, "info": 2}
    pods: list[tuple[str, str]] = []
    for f in sorted(findings, key=lambda f: order.get(f.severity, 3)):
        key = (f.namespace or "", f.name)
        if f.kind == "Pod" and f.namespace and key not in pods:
            pods.append(key)
    return pods[:MAX_LOG_PODS]


def _log_tasks(pod: Obj) -> list[tuple[str, bool]]:
    """(container, previous) pairs: every container, and its last run when it restarted."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    restarts = {s.get("name"): int(s.get("restartCount") or 0)
                for key in ("containerStatuses", "initContainerStatuses")
                for s in status.get(key) or []}
    tasks = []
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            name = str(container.get("name"))
            tasks.append((name, False))
            if restarts.get(name):
                tasks.append((name, True))
    return tasks


@dataclass
class SupportBundleService:
    """Builds, keeps and serves support bundles."""

    clusters: ClusterService
    snapshots: SnapshotService
    store: BundleStore

    def create(self, workspace_id: str, cluster_ref: str | None, actor: str) -> dict[str, Any]:
        """Build a bundle now, store it gzipped, and describe it (seed 000's shape)."""
        cluster = self.clusters.resolve(workspace_id, cluster_ref)
        bundle_id, created = new_id("bundle-"), utcnow()
        document = self._collect(cluster, workspace_id)
        document = {"bundle_id": bundle_id, "format": FORMAT, "generated_at": iso(created),
                    "generated_by": actor, "workspace_id": workspace_id, **document}
        raw = json.dumps(document, separators=(",", ":"), default=str).encode()
        blob = gzip.compress(raw, compresslevel=6)
        expires = created + KEEP
        head = {"bundle_id": bundle_id, "workspace_id": workspace_id,
                "cluster_id": cluster.cluster_id, "cluster": cluster.name,
                "created_at": iso(created), "created_by": actor,
                "expires_at_iso": iso(expires), "size_bytes": len(blob),
                "uncompressed_bytes": len(raw)}
        self.store.put_bundle(bundle_id, head, blob, int(expires.timestamp()))
        return {"bundle_id": bundle_id, "status": "ready",
                "estimated_size_mb": round(len(blob) / 1_000_000, 3), "size_bytes": len(blob),
                "uncompressed_bytes": len(raw), "created_at": iso(created),
                "expires_at": iso(expires), "cluster": cluster.name,
                "cluster_id": cluster.cluster_id,
                "download_url": f"/api/support-bundle/{bundle_id}",
                "contents": {k: len(document[k]) for k in (
                    "nodes", "findings", "warning_events", "pod_logs", "connection_log")},
                "redactions": document["redaction"]["replacements"],
                "collection_errors": document["collection_errors"]}

    def get(self, workspace_id: str, bundle_id: str) -> dict[str, Any]:
        """The bundle document (404 when unknown, expired or another workspace's)."""
        found = self.store.get_bundle(bundle_id) if BUNDLE_ID.match(bundle_id) else None
        if found is None or found[0].get("workspace_id") != workspace_id \
                or str(found[0].get("expires_at_iso") or "") < now_iso():
            raise NotFound(f"support bundle '{bundle_id[:64]}' not found (bundles are kept "
                           "7 days)", code="bundle_not_found")
        return dict(json.loads(gzip.decompress(found[1])))

    def _collect(self, cluster: Cluster, workspace_id: str) -> dict[str, Any]:
        clean, errors = _Redactor(), []
        snapshot = self.snapshots.latest(cluster)
        found = self.snapshots.findings(cluster)
        findings = found[1] if found else []
        client: ClusterClient | None = None
        try:
            client = self.clusters.client(cluster)
            nodes, nodes_source = client.list(SNAPSHOT_KINDS["nodes"]), "live"
        except DroverError as exc:
            errors.append({"part": "nodes", "error": exc.message})
            client, nodes_source = None, "snapshot"
            nodes = snapshot.items("nodes") if snapshot else []
        events, events_source = self._events(client, snapshot, errors)
        rows = [node_row(n) for n in nodes]
        logs = _pod_logs(client, failing_pods(findings), snapshot, clean, errors) if client \
            else []
        return {
            "cluster": cluster.public(),
            "versions": {"api_server": cluster.version, "checked_at": cluster.last_checked_at,
                         "provider": cluster.provider,
                         "kubelets": sorted({r["kubelet_version"] for r in rows
                                             if r["kubelet_version"]})},
            "nodes": rows, "nodes_source": nodes_source,
            "snapshot": None if snapshot is None else {
                "taken_at": snapshot.taken_at, "missing": snapshot.missing,
                "objects": {k: len(v) for k, v in sorted(snapshot.objects.items())}},
            "findings": [_finding(f, clean) for f in findings[:MAX_FINDINGS]],
            "findings_truncated": len(findings) > MAX_FINDINGS,
            "warning_events": event_rows(events, clean), "events_source": events_source,
            "pod_logs": logs,
            "connection_log": self.clusters.logs(workspace_id, cluster.cluster_id, 100),
            "collection_errors": errors,
            "redaction": {"rules": [name for name, _, _ in REDACTIONS],
                          "replacements": clean.count}}

    @staticmethod
    def _events(client: ClusterClient | None, snapshot: Snapshot | None,
                errors: list[dict[str, Any]]) -> tuple[list[Obj], str]:
        if client is not None:
            try:
                return client.list(SNAPSHOT_KINDS["events"], field_selector="type=Warning"), \
                    "live"
            except DroverError as exc:
                errors.append({"part": "events", "error": exc.message})
        return (snapshot.items("events") if snapshot else []), "snapshot"


def _finding(finding: Finding, clean: _Redactor) -> dict[str, Any]:
    data = finding.to_dict()
    data["message"] = clean(finding.message)
    data["evidence"] = [clean(line) for line in finding.evidence]
    return data


def _pod_logs(client: ClusterClient, pods: list[tuple[str, str]], snapshot: Snapshot | None,
              clean: _Redactor, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last lines of each container of the given pods, read in parallel."""
    stored = {(meta(p).get("namespace"), meta(p).get("name")): p
              for p in (snapshot.items("pods") if snapshot else [])}
    tasks: list[tuple[str, str, str, bool]] = []
    for namespace, name in pods:
        pod = stored.get((namespace, name))
        if pod is None:
            try:
                pod = client.get(SNAPSHOT_KINDS["pods"], namespace, name)
            except DroverError as exc:
                errors.append({"part": f"pod {namespace}/{name}", "error": exc.message})
                continue
        tasks += [(namespace, name, c, prev) for c, prev in _log_tasks(pod)]

    def read(task: tuple[str, str, str, bool]) -> dict[str, Any]:
        namespace, name, container, previous = task
        row: dict[str, Any] = {"namespace": namespace, "pod": name, "container": container,
                               "previous": previous, "tail_lines": LOG_LINES}
        try:
            text = client.pod_log(namespace, name, container=container, tail_lines=LOG_LINES,
                                  previous=previous)
            row.update(text=text[-MAX_LOG_CHARS:], error=None)
        except DroverError as exc:
            row.update(text=None, error=exc.message)
        return row

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        rows = list(pool.map(read, tasks))
    budget = LOG_BUDGET_CHARS
    for row in rows:  # redaction counts are kept in one thread, in a stable order
        if row["text"] is not None:
            row["text"] = clean(row["text"]) if budget > 0 else None
            row["truncated"] = budget <= 0
            budget -= len(row["text"] or "")
    return rows
