"""Registered clusters: what a user registers, what Drover stores, what the API shows.

Credentials are a separate, write-only model: they are encrypted before they are stored
and never appear in a response, a log line or an exception message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from chalicelib.domain.errors import DroverError

Provider = Literal["k3s", "rke2", "eks", "gke", "aks", "generic"]
PROVIDERS: tuple[str, ...] = ("k3s", "rke2", "eks", "gke", "aks", "generic")
AuthType = Literal["bearer_token", "kubeconfig"]
# pending: registered, never reached; the others say how the last contact went.
ClusterStatus = Literal["pending", "connected", "unreachable", "unauthorized", "error"]
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
MAX_SECRET_CHARS = 64 * 1024


class ClusterUnreachable(DroverError):
    """The cluster's API server did not answer (down, timed out, DNS, refused)."""

    status = 503
    code = "cluster_unreachable"


class ClusterRejected(DroverError):
    """The API server answered but refused Drover (credentials, RBAC, TLS verification)."""

    status = 502
    code = "cluster_rejected"


class ClusterFeatureMissing(DroverError):
    """The cluster lacks what the endpoint needs (no metrics-server, not k3s/RKE2 for etcd)."""

    status = 409
    code = "cluster_feature_missing"


class Credentials(BaseModel):
    """How Drover authenticates to an API server; write-only, encrypted at rest."""

    model_config = ConfigDict(extra="forbid")

    auth_type: AuthType = "bearer_token"
    token: SecretStr | None = Field(default=None, max_length=MAX_SECRET_CHARS)
    kubeconfig: SecretStr | None = Field(default=None, max_length=MAX_SECRET_CHARS)
    ca_data: str | None = Field(default=None, max_length=MAX_SECRET_CHARS)
    insecure_skip_verify: bool = False

    @model_validator(mode="after")
    def _has_secret_for_auth_type(self) -> Credentials:
        if self.auth_type == "bearer_token" and not _secret(self.token):
            raise ValueError("auth_type bearer_token needs a non-empty 'token'")
        if self.auth_type == "kubeconfig" and not _secret(self.kubeconfig):
            raise ValueError("auth_type kubeconfig needs a non-empty 'kubeconfig'")
        return self

    def sealed(self) -> dict[str, Any]:
        """The plaintext form that is encrypted for storage (never logged)."""
        return {"auth_type": self.auth_type, "token": _secret(self.token),
                "kubeconfig": _secret(self.kubeconfig), "ca_data": self.ca_data,
                "insecure_skip_verify": self.insecure_skip_verify}


def _secret(value: SecretStr | None) -> str | None:
    raw = value.get_secret_value().strip() if value is not None else ""
    return raw or None


class ClusterInput(BaseModel):
    """A registration request (seed 003 ``POST /v1/api/clusters``)."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=63)
    server: str | None = Field(default=None, max_length=2048)
    provider: Provider | None = None
    description: str | None = Field(default=None, max_length=1024)
    is_default: bool = False
    auth_type: AuthType = "bearer_token"
    token: SecretStr | None = None
    kubeconfig: SecretStr | None = None
    ca_data: str | None = None
    insecure_skip_verify: bool = False

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError("must be a DNS-1123 label: lowercase letters, digits and '-', "
                             "starting and ending with a letter or digit, at most 63 characters")
        return value

    @field_validator("server")
    @classmethod
    def _server_url(cls, value: str | None) -> str | None:
        return check_server_url(value) if value else None

    def credentials(self) -> dict[str, Any]:
        """The write-only part, to be validated as :class:`Credentials`."""
        return {"auth_type": self.auth_type, "token": self.token,
                "kubeconfig": self.kubeconfig, "ca_data": self.ca_data,
                "insecure_skip_verify": self.insecure_skip_verify}


def check_server_url(value: str) -> str:
    """An API server URL: http(s), a host, no credentials or query in it."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an http(s) URL such as https://10.0.0.1:6443")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must not carry credentials, a query or a fragment; "
                         "send credentials as 'token' or 'kubeconfig'")
    try:
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value.strip().rstrip("/")


@dataclass
class Cluster:
    """A registered cluster, as stored (credentials are held apart, encrypted)."""

    cluster_id: str
    workspace_id: str  # the owner's workspace
    name: str
    server: str
    provider: str
    auth_type: str
    created_at: str
    updated_at: str
    created_by: str
    description: str | None = None
    is_default: bool = False
    insecure_skip_verify: bool = False
    has_ca_data: bool = False
    status: str = "pending"
    version: str | None = None
    node_count: int | None = None
    last_checked_at: str | None = None
    last_error: str | None = None
    shared_with: list[str] = field(default_factory=list)
    version_no: int = 1
    # Set when a workspace sees another workspace's cluster through a share.
    shared_from: str | None = None

    def public(self) -> dict[str, Any]:
        """The view every API shows: never a credential."""
        return {
            "cluster_id": self.cluster_id, "id": self.cluster_id, "name": self.name,
            "server": self.server, "provider": self.provider, "auth_type": self.auth_type,
            "description": self.description, "is_default": self.is_default,
            "insecure_skip_verify": self.insecure_skip_verify,
            "has_ca_data": self.has_ca_data, "status": self.status, "version": self.version,
            "node_count": self.node_count, "last_checked_at": self.last_checked_at,
            "last_error": self.last_error, "created_at": self.created_at,
            "updated_at": self.updated_at, "created_by": self.created_by,
            "shared_with": list(self.shared_with), "shared_from": self.shared_from,
        }


@dataclass(frozen=True)
class ClusterTarget:
    """Everything a connector needs to reach one API server (holds decrypted secrets)."""

    server: str
    credentials: dict[str, Any] = field(repr=False)

    def __repr__(self) -> str:  # never let a traceback or log print the secrets
        return f"ClusterTarget(server={self.server!r})"


def detect_provider(git_version: str | None, hint: str | None = None) -> str:
    """The distribution from the server's gitVersion (``v1.31.4+k3s1``, ``-eks-``, ``-gke.``)."""
    if hint:
        return hint
    text = (git_version or "").lower()
    for marker, provider in (("+k3s", "k3s"), ("+rke2", "rke2"), ("-eks-", "eks"),
                             ("-gke.", "gke"), ("aks", "aks")):
        if marker in text:
            return provider
    return "generic"


@dataclass(frozen=True)
class ConnectionCheck:
    """What a connection test found: the server's version and how many nodes it has."""

    version: str
    node_count: int
    platform: str | None = None
