"""API keys, scopes and workspaces: the rules of who may do what."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from chalicelib.domain.errors import BadRequest, Forbidden

ADMIN = "admin"
SCOPES: tuple[str, ...] = (
    ADMIN,
    "incidents:read",
    "incidents:write",
    "ingest",
    "actions:execute",
    "clusters:read",
    "clusters:write",
    "settings:read",
    "settings:write",
)
ALL_WORKSPACES = "*"
TOKEN_PREFIX = "drv_"  # noqa: S105 - a marker, not a secret
_WORKSPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def hash_key(raw: str) -> str:
    """Return the SHA-256 hex digest under which a raw key is stored."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Compare two key hashes in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())


def generate_key() -> str:
    """Return a new raw API key (shown once, never stored)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def validate_scopes(scopes: list[str]) -> list[str]:
    """Return the scopes deduplicated in canonical order, or raise BadRequest naming bad ones."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise BadRequest(
            f"unknown scope(s): {', '.join(unknown)}; valid scopes are {', '.join(SCOPES)}",
            code="unknown_scope",
        )
    if not scopes:
        raise BadRequest("a token needs at least one scope", code="missing_scope")
    return [s for s in SCOPES if s in scopes]


def validate_workspace(workspace_id: str) -> str:
    """Return the workspace id if well formed, else raise BadRequest."""
    if not _WORKSPACE_RE.match(workspace_id):
        raise BadRequest(
            "workspace id must be 1-64 letters, digits, '.', '_' or '-', starting alphanumeric",
            code="bad_workspace",
        )
    return workspace_id


@dataclass(frozen=True)
class Principal:
    """The caller behind an API key."""

    key_id: str
    name: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    workspace_id: str = ALL_WORKSPACES

    @property
    def actor(self) -> str:
        """How the caller is named in audit and timeline entries."""
        return f"apikey:{self.key_id}:{self.name}"

    def has(self, scope: str) -> bool:
        """True if the key holds the scope (admin holds every scope)."""
        return ADMIN in self.scopes or scope in self.scopes

    def require(self, scope: str) -> None:
        """Raise Forbidden unless the key holds the scope."""
        if not self.has(scope):
            raise Forbidden(f"this API key lacks the '{scope}' scope", code="missing_scope",
                            required_scope=scope)

    def resolve_workspace(self, requested: str | None, default: str) -> str:
        """Return the workspace a request acts in, refusing one the key may not use."""
        if requested:
            workspace = validate_workspace(requested)
        elif self.workspace_id != ALL_WORKSPACES:
            workspace = self.workspace_id
        else:
            workspace = default
        if self.workspace_id not in (ALL_WORKSPACES, workspace):
            raise Forbidden(
                f"this API key belongs to workspace '{self.workspace_id}', not '{workspace}'",
                code="wrong_workspace",
            )
        return workspace

    def can_grant(self, scopes: list[str]) -> bool:
        """A key may only create keys with scopes it holds itself."""
        return all(self.has(s) for s in scopes)
