"""Use cases: authenticate API keys and manage them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.auth import (
    ADMIN,
    ALL_WORKSPACES,
    Principal,
    generate_key,
    hash_key,
    same_hash,
    validate_scopes,
)
from chalicelib.domain.clock import new_id, now_iso
from chalicelib.domain.errors import BadRequest, Forbidden, NotFound, Unauthorized
from chalicelib.domain.ports import ApiKeyRepository, StoredKey

BOOTSTRAP_KEY_ID = "tok-bootstrap"
MAX_NAME_LENGTH = 128


def key_view(key: StoredKey) -> dict[str, Any]:
    """A key as the API shows it: never the raw value, never the hash."""
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "scopes": list(key.scopes),
            "workspace_id": key.workspace_id, "created_at": key.created_at,
            "created_by": key.created_by}


@dataclass
class KeyService:
    """API keys: stored as SHA-256 hashes, scoped, bound to a workspace or to all."""

    keys: ApiKeyRepository

    def authenticate(self, raw: str | None) -> Principal:
        """Return the caller of a raw key, or raise Unauthorized."""
        if not raw:
            raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>' "
                               "or 'X-API-Key: <key>'", code="missing_api_key")
        digest = hash_key(raw)
        key = self.keys.find_by_hash(digest)
        if key is None or not same_hash(key.key_hash, digest):
            raise Unauthorized("the API key is not valid or has been revoked",
                               code="invalid_api_key")
        return Principal(key_id=key.id, name=key.name, scopes=frozenset(key.scopes),
                         workspace_id=key.workspace_id)

    def create(self, caller: Principal, workspace_id: str, name: str,
               scopes: list[str]) -> dict[str, Any]:
        """Create a key in the workspace; the raw key is returned this once only."""
        name = name.strip()
        if not name or len(name) > MAX_NAME_LENGTH:
            raise BadRequest("'name' must be 1-128 characters", code="bad_name")
        scopes = validate_scopes(scopes)
        if not caller.can_grant(scopes):
            raise Forbidden("a key can only create keys with scopes it holds itself",
                            code="scope_escalation")
        raw = generate_key()
        key = StoredKey(id=new_id("tok-"), key_hash=hash_key(raw), name=name,
                        scopes=tuple(scopes), workspace_id=workspace_id, created_at=now_iso(),
                        created_by=caller.actor, prefix=raw[:8])
        self.keys.add(key)
        return {"token": raw, "record": key_view(key), **key_view(key),
                "message": "Save this token now: it will not be shown again."}

    def list(self, workspace_id: str) -> dict[str, Any]:
        """List the workspace's keys (no secrets)."""
        keys = [key_view(k) for k in self.keys.list(workspace_id)]
        return {"tokens": keys, "count": len(keys)}

    def revoke(self, caller: Principal, workspace_id: str, key_id: str) -> dict[str, Any]:
        """Revoke a key of the workspace; another workspace's key is a 404."""
        key = self.keys.get(key_id)
        if key is None or (key.workspace_id != workspace_id
                           and caller.workspace_id != ALL_WORKSPACES):
            raise NotFound(f"token '{key_id}' not found", code="token_not_found")
        if not caller.can_grant(list(key.scopes)):
            raise Forbidden("a key can only revoke keys whose scopes it holds itself",
                            code="scope_escalation")
        if key.id == caller.key_id:
            raise BadRequest("a key cannot revoke itself; use another admin key",
                             code="self_revoke")
        self.keys.delete(key)
        return {"ok": True, "id": key.id, "revoked": True}

    def ensure_bootstrap(self, raw: str) -> StoredKey:
        """Store the bootstrap admin key (all scopes, all workspaces)."""
        key = StoredKey(id=BOOTSTRAP_KEY_ID, key_hash=hash_key(raw), name="bootstrap-admin",
                        scopes=(ADMIN,), workspace_id=ALL_WORKSPACES, created_at=now_iso(),
                        created_by="system", prefix=raw[:8])
        self.keys.put_bootstrap(key)
        return key
