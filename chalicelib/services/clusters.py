"""Use cases of the cluster registry: register, test, refresh, update, share, rotate, remove.

Every contact with a cluster is written to its connection log with its outcome; the
credentials are sealed before they are stored and opened only to connect.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.domain.clock import iso, new_id, now_iso, utcnow
from chalicelib.domain.cluster_ports import (
    ClusterClient,
    ClusterConnector,
    ClusterDataStore,
    ClusterRegistry,
    CredentialCipher,
)
from chalicelib.domain.clusters import (
    PROVIDERS,
    Cluster,
    ClusterInput,
    ClusterTarget,
    Credentials,
    check_server_url,
    detect_provider,
)
from chalicelib.domain.errors import (
    BadRequest,
    DroverError,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from chalicelib.domain.validation import parse_body
from chalicelib.services.cluster_snapshots import SnapshotResult, SnapshotService

logger = logging.getLogger("drover.clusters")
STATUS_BY_CODE = {"cluster_unreachable": "unreachable", "cluster_unauthorized": "unauthorized"}
WORKSPACE_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ClusterUpdate(BaseModel):
    """Seed 003 ``PUT /v1/api/clusters/{name}``: what may change besides credentials."""

    model_config = ConfigDict(extra="ignore")

    server: str | None = Field(default=None, max_length=2048)
    description: str | None = Field(default=None, max_length=1024)
    provider: str | None = None

    @field_validator("server")
    @classmethod
    def _server(cls, value: str | None) -> str | None:
        return check_server_url(value) if value else None

    @field_validator("provider")
    @classmethod
    def _provider(cls, value: str | None) -> str | None:
        if value is not None and value not in PROVIDERS:
            raise ValueError(f"must be one of {', '.join(PROVIDERS)}")
        return value


class ShareRequest(BaseModel):
    """Seed 003 ``POST .../share``: the workspace that may see the cluster."""

    model_config = ConfigDict(extra="ignore")

    workspace_id: str = Field(pattern=WORKSPACE_RE)


def _context(cluster: Cluster) -> dict[str, str]:
    return {"workspace": cluster.workspace_id, "cluster_id": cluster.cluster_id}


@dataclass
class ClusterService:
    """The registry's use cases; other services get connected clients from it."""

    registry: ClusterRegistry
    cipher: CredentialCipher
    connector: ClusterConnector
    data: ClusterDataStore
    snapshots: SnapshotService

    def register(self, workspace_id: str, actor: str, body: Any) -> Cluster:
        """Store a cluster, then try it: a cluster that cannot be reached is still
        registered, with a status saying why, so its credentials can be fixed."""
        wanted = parse_body(ClusterInput, body, "cluster")
        creds = parse_body(Credentials, wanted.credentials(), "cluster")
        if not wanted.server and creds.auth_type != "kubeconfig":
            raise ValidationFailed("'server' is required with a bearer token",
                                   code="invalid_payload")
        now = now_iso()
        existing = self.registry.list(workspace_id)
        cluster = Cluster(
            cluster_id=new_id("c-"), workspace_id=workspace_id, name=wanted.name,
            server=wanted.server or "", provider=wanted.provider or "generic",
            auth_type=creds.auth_type, created_at=now, updated_at=now, created_by=actor,
            description=wanted.description, insecure_skip_verify=creds.insecure_skip_verify,
            has_ca_data=bool(creds.ca_data),
            is_default=wanted.is_default or not any(c.shared_from is None for c in existing))
        self._client(cluster, creds)  # refuses unusable credentials before anything is kept
        self.registry.add(cluster, self._seal(cluster, creds))
        if cluster.is_default:
            self._clear_other_defaults(cluster, existing)
        # A failed test is on the cluster's status and in its connection log.
        with contextlib.suppress(DroverError):
            self.test(workspace_id, cluster.name, provider_hint=wanted.provider, snapshot=True)
        return self.get(workspace_id, cluster.name)

    def _seal(self, cluster: Cluster, creds: Credentials) -> str:
        return self.cipher.seal(json.dumps(creds.sealed()).encode(), _context(cluster))

    def _clear_other_defaults(self, keep: Cluster, clusters: list[Cluster]) -> None:
        for other in clusters:
            if other.is_default and other.cluster_id != keep.cluster_id and not other.shared_from:
                other.is_default = False
                other.updated_at = now_iso()
                self.registry.save(other)

    def list(self, workspace_id: str) -> list[Cluster]:
        """The workspace's clusters."""
        return self.registry.list(workspace_id)

    def get(self, workspace_id: str, name_or_id: str) -> Cluster:
        """One cluster, or a 404."""
        found = self.registry.get(workspace_id, name_or_id[:253])
        if found is None:
            raise NotFound(f"cluster '{name_or_id[:253]}' not found", code="cluster_not_found")
        return found

    def default(self, workspace_id: str) -> Cluster:
        """The default cluster (the only one, when only one is registered)."""
        clusters = self.list(workspace_id)
        chosen = next((c for c in clusters if c.is_default and not c.shared_from), None)
        if chosen is None and len(clusters) == 1:
            chosen = clusters[0]
        if chosen is None:
            raise NotFound("no default cluster: register one, or mark one with "
                           "PUT /v1/api/clusters/{name}/default", code="no_default_cluster")
        return chosen

    def resolve(self, workspace_id: str, name_or_id: str | None) -> Cluster:
        """A named cluster, or the default one when no name is given."""
        return self.get(workspace_id, name_or_id) if name_or_id else self.default(workspace_id)

    def _own(self, workspace_id: str, name_or_id: str) -> Cluster:
        cluster = self.get(workspace_id, name_or_id)
        if cluster.shared_from:
            raise Forbidden(f"cluster '{cluster.name}' is shared with this workspace by "
                            f"'{cluster.shared_from}'; only its owner can change it",
                            code="cluster_read_only")
        return cluster

    def _client(self, cluster: Cluster, creds: Credentials | dict[str, Any]) -> ClusterClient:
        sealed = creds.sealed() if isinstance(creds, Credentials) else creds
        return self.connector.connect(ClusterTarget(server=cluster.server, credentials=sealed))

    def client(self, cluster: Cluster) -> ClusterClient:
        """A connected client for a registered cluster."""
        sealed = self.registry.sealed_credentials(cluster)
        opened = json.loads(self.cipher.open(sealed, _context(cluster)))
        return self._client(cluster, opened)

    def test(self, workspace_id: str, name_or_id: str, *, provider_hint: str | None = None,
             snapshot: bool = False) -> dict[str, Any]:
        """Connect, read version and node count, record the outcome; optionally snapshot."""
        cluster = self.get(workspace_id, name_or_id)
        try:
            client = self.client(cluster)
            check = client.check()
        except DroverError as exc:
            self._record(cluster, "test", exc)
            raise
        cluster.version, cluster.node_count = check.version, check.node_count
        if cluster.provider == "generic" or provider_hint:
            cluster.provider = detect_provider(check.version, provider_hint)
        self._record(cluster, "test", None, f"version {check.version}, "
                                            f"{check.node_count} node(s)")
        if snapshot:
            self._snapshot(cluster, client)
        return {"status": "healthy", "version": check.version, "nodes": check.node_count,
                "provider": cluster.provider}

    def refresh(self, workspace_id: str, name_or_id: str) -> SnapshotResult:
        """Re-read metadata and take a new snapshot with its findings and health."""
        self.test(workspace_id, name_or_id)
        cluster = self.get(workspace_id, name_or_id)
        result = self._snapshot(cluster, self.client(cluster), strict=True)
        assert result is not None
        return result

    def _snapshot(self, cluster: Cluster, client: ClusterClient,
                  strict: bool = False) -> SnapshotResult | None:
        try:
            result = self.snapshots.take(cluster, client)
        except DroverError as exc:
            self.data.log(cluster.cluster_id, _entry("snapshot", "error", exc.message))
            if strict:
                raise
            return None
        counts = {k: len(v) for k, v in result.snapshot.objects.items() if v}
        self.data.log(cluster.cluster_id, _entry(
            "snapshot", "success", f"{sum(counts.values())} objects, "
            f"{len(result.findings)} finding(s), health {result.health.score}"))
        return result

    def _record(self, cluster: Cluster, action: str, error: DroverError | None,
                message: str = "") -> None:
        cluster.status = STATUS_BY_CODE.get(error.code, "error") if error else "connected"
        cluster.last_error = error.message if error else None
        cluster.last_checked_at = cluster.updated_at = now_iso()
        self.data.log(cluster.cluster_id, _entry(
            action, "error" if error else "success", error.message if error else message,
            error.code if error else None))
        if not cluster.shared_from:
            self.registry.save(cluster)

    def refresh_due(self, *, older_than_seconds: int, budget_seconds: float,
                    limit: int = 1000) -> dict[str, int]:
        """The scheduled refresh: snapshot clusters whose last check is older than the
        interval, stalest first, until the time budget is spent (the rest go next run)."""
        started = time.monotonic()
        cutoff = iso(utcnow() - timedelta(seconds=older_than_seconds))
        due = [c for c in self.registry.all_clusters(limit)
               if (c.last_checked_at or "") < cutoff]
        due.sort(key=lambda c: c.last_checked_at or "")
        counts = {"due": len(due), "refreshed": 0, "failed": 0, "deferred": 0}
        for cluster in due:
            if time.monotonic() - started > budget_seconds:
                counts["deferred"] += 1
                continue
            try:
                self.refresh(cluster.workspace_id, cluster.cluster_id)
                counts["refreshed"] += 1
            except DroverError as exc:  # recorded on the cluster and in its log
                logger.warning("scheduled refresh of %s failed: %s", cluster.cluster_id,
                               exc.code)
                counts["failed"] += 1
        return counts

    def update(self, workspace_id: str, name_or_id: str, body: Any) -> Cluster:
        """Change the server, description or provider."""
        change = parse_body(ClusterUpdate, body, "cluster update")
        cluster = self._own(workspace_id, name_or_id)
        for name, value in change.model_dump(exclude_none=True).items():
            setattr(cluster, name, value)
        cluster.updated_at = now_iso()
        return self.registry.save(cluster)

    def set_default(self, workspace_id: str, name_or_id: str) -> Cluster:
        """Make this the workspace's default cluster (and no other)."""
        cluster = self._own(workspace_id, name_or_id)
        self._clear_other_defaults(cluster, self.list(workspace_id))
        if not cluster.is_default:
            cluster.is_default, cluster.updated_at = True, now_iso()
            self.registry.save(cluster)
        return cluster

    def rotate_credentials(self, workspace_id: str, name_or_id: str, body: Any) -> dict[str, Any]:
        """Replace the credentials, then test them."""
        cluster = self._own(workspace_id, name_or_id)
        if not isinstance(body, dict):
            raise BadRequest("request body must be a JSON object", code="invalid_body")
        creds = parse_body(Credentials, {k: v for k, v in body.items() if k in
                                         Credentials.model_fields}, "credentials")
        self._client(cluster, creds)
        self.registry.replace_credentials(cluster, self._seal(cluster, creds))
        cluster.auth_type, cluster.has_ca_data = creds.auth_type, bool(creds.ca_data)
        cluster.insecure_skip_verify = creds.insecure_skip_verify
        self.registry.save(cluster)
        self.data.log(cluster.cluster_id, _entry("credentials", "success", "credentials rotated"))
        try:
            result = self.test(workspace_id, cluster.name)
        except DroverError as exc:
            result = {"status": STATUS_BY_CODE.get(exc.code, "error"), "error": exc.message}
        return {"name": cluster.name, "credentials_updated": True, "test": result}

    def share(self, workspace_id: str, name_or_id: str, body: Any) -> Cluster:
        """Let another workspace read this cluster."""
        target = parse_body(ShareRequest, body, "share request").workspace_id
        cluster = self._own(workspace_id, name_or_id)
        if target == workspace_id:
            raise BadRequest("a cluster is already visible to its own workspace",
                             code="bad_share")
        self.registry.share(cluster, target)
        self.data.log(cluster.cluster_id, _entry("share", "success", f"shared with {target}"))
        return cluster

    def delete(self, workspace_id: str, name_or_id: str) -> Cluster:
        """Remove a cluster and what was kept about it."""
        cluster = self._own(workspace_id, name_or_id)
        self.registry.delete(cluster)
        self.data.forget(cluster.cluster_id)
        return cluster

    def logs(self, workspace_id: str, name_or_id: str, limit: int) -> list[dict[str, Any]]:
        """The connection log, newest first."""
        return self.data.logs(self.get(workspace_id, name_or_id).cluster_id, limit=limit)


def _entry(action: str, outcome: str, message: str, code: str | None = None) -> dict[str, Any]:
    return {"at": now_iso(), "action": action, "outcome": outcome, "message": message,
            "code": code}
