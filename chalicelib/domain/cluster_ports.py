"""Ports of the clusters layer: the registry, the cipher, the Kubernetes API, the stored views."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from chalicelib.domain.clusters import Cluster, ClusterTarget, ConnectionCheck
from chalicelib.domain.kube import Finding, ResourceKind, Snapshot


class ClusterRegistry(ABC):
    """Registered clusters of a workspace, with their sealed credentials."""

    @abstractmethod
    def add(self, cluster: Cluster, sealed_credentials: str) -> None:
        """Store a new cluster (Conflict if the name is taken in the workspace)."""

    @abstractmethod
    def list(self, workspace_id: str) -> list[Cluster]:
        """The workspace's own clusters and those shared with it, by name."""

    @abstractmethod
    def all_clusters(self, limit: int) -> list[Cluster]:
        """Every workspace's own clusters (for the scheduled refresh), up to ``limit``."""

    @abstractmethod
    def get(self, workspace_id: str, name_or_id: str) -> Cluster | None:
        """One cluster the workspace owns or was shared, by name or cluster id."""

    @abstractmethod
    def save(self, cluster: Cluster) -> Cluster:
        """Write changed fields back, if nobody changed the cluster since it was read
        (Conflict otherwise); returns the stored cluster."""

    @abstractmethod
    def sealed_credentials(self, cluster: Cluster) -> str:
        """The encrypted credentials of a cluster."""

    @abstractmethod
    def replace_credentials(self, cluster: Cluster, sealed_credentials: str) -> None:
        """Rotate the encrypted credentials."""

    @abstractmethod
    def delete(self, cluster: Cluster) -> None:
        """Remove a cluster and its shares."""

    @abstractmethod
    def share(self, cluster: Cluster, workspace_id: str) -> None:
        """Let another workspace see (read) the cluster."""


class CredentialCipher(ABC):
    """Envelope encryption of credentials, bound to the cluster they belong to."""

    @abstractmethod
    def seal(self, plaintext: bytes, context: dict[str, str]) -> str:
        """Encrypt; the context must be given again to open."""

    @abstractmethod
    def open(self, sealed: str, context: dict[str, str]) -> bytes:
        """Decrypt what :meth:`seal` produced with the same context."""


class ClusterClient(ABC):
    """Read-only access to one cluster's API server."""

    @abstractmethod
    def check(self) -> ConnectionCheck:
        """The server's version and node count (raises ClusterUnreachable/ClusterRejected)."""

    @abstractmethod
    def list(self, kind: ResourceKind, namespace: str | None = None, *,
             label_selector: str | None = None, field_selector: str | None = None,
             max_items: int | None = None) -> list[dict[str, Any]]:
        """Objects of one kind, all pages (up to ``max_items``)."""

    @abstractmethod
    def get(self, kind: ResourceKind, namespace: str | None, name: str) -> dict[str, Any]:
        """One object (NotFound if absent)."""

    @abstractmethod
    def pod_log(self, namespace: str, pod: str, *, container: str | None = None,
                tail_lines: int = 100, previous: bool = False) -> str:
        """The last lines of a container's log (of its previous run when asked)."""

    @abstractmethod
    def metrics(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]] | None:
        """metrics.k8s.io usage of ``nodes`` or ``pods``; None when metrics-server is absent."""


class ClusterConnector(ABC):
    """Opens clients to API servers."""

    @abstractmethod
    def connect(self, target: ClusterTarget) -> ClusterClient:
        """A client for one API server (raises ValidationFailed for unusable credentials)."""


class ClusterDataStore(ABC):
    """What Drover keeps about a cluster: its latest snapshot and findings, health history
    and connection log. Keyed by cluster id (ids are unique across workspaces)."""

    @abstractmethod
    def put_snapshot(self, snapshot: Snapshot, findings: list[Finding]) -> None:
        """Replace the latest snapshot and its findings."""

    @abstractmethod
    def snapshot(self, cluster_id: str) -> Snapshot | None:
        """The latest snapshot, or None if none was taken."""

    @abstractmethod
    def findings(self, cluster_id: str) -> tuple[str, list[Finding]] | None:
        """The latest findings and when their snapshot was taken, or None."""

    @abstractmethod
    def add_health(self, cluster_id: str, point: dict[str, Any]) -> None:
        """Append a health score point (it has ``at`` and ``score``)."""

    @abstractmethod
    def health_history(self, cluster_id: str, *, since: str,
                       limit: int = 500) -> list[dict[str, Any]]:
        """Health points since a time, oldest first."""

    @abstractmethod
    def log(self, cluster_id: str, entry: dict[str, Any]) -> None:
        """Append a connection log entry (it has ``at``, ``action``, ``outcome``, ``message``)."""

    @abstractmethod
    def logs(self, cluster_id: str, *, limit: int) -> list[dict[str, Any]]:
        """Connection log entries, newest first."""

    @abstractmethod
    def forget(self, cluster_id: str) -> None:
        """Remove everything kept about a cluster."""
