"""The append-only, hash-chained audit log in the DynamoDB ``audit`` table.

Each process (a Lambda container, the local server) writes its own chain
(pk ``CHAIN#<chain id>``, sk = zero-padded sequence), so appends never contend and need no
read: every entry carries the hash of the previous one and its own, and is written only if
its sequence number is new. GSI1 (``WS#<workspace>``, time) lists a workspace's entries.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import asdict
from typing import Any

from chalicelib.adapters.aws import client, translate_errors
from chalicelib.adapters.dynamo_codec import to_item
from chalicelib.domain.clock import new_id, now_iso
from chalicelib.domain.ports import AuditLog, AuditRecord

GENESIS = "0" * 64


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of an entry (its prev_hash included, its hash not)."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class DynamoAuditLog(AuditLog):
    """AuditLog writing one hash chain per process."""

    def __init__(self, table: str) -> None:
        self.table = table
        self._lock = threading.Lock()
        self._chain_id = new_id("chain-")
        self._seq = 0
        self._prev = GENESIS

    @translate_errors("DynamoDB")
    def append(self, record: AuditRecord) -> str:
        """Write the next entry of this process's chain and return its id."""
        with self._lock:
            entry = {
                "id": new_id("aud-"), "chain_id": self._chain_id, "seq": self._seq + 1,
                "timestamp": now_iso(), "prev_hash": self._prev, **asdict(record),
            }
            entry["hash"] = entry_hash(entry)
            item = to_item({
                **entry, "pk": f"CHAIN#{self._chain_id}", "sk": f"{entry['seq']:012d}",
                "gsi1pk": f"WS#{record.workspace_id}",
                "gsi1sk": f"{entry['timestamp']}#{entry['id']}",
            })
            try:
                client("dynamodb").put_item(TableName=self.table, Item=item,
                                            ConditionExpression="attribute_not_exists(pk)")
            except Exception:
                # The write may or may not have landed: end this chain here and start a new
                # one, so every chain stays verifiable and later appends do not collide.
                self._chain_id, self._seq, self._prev = new_id("chain-"), 0, GENESIS
                raise
            self._seq, self._prev = entry["seq"], entry["hash"]
            return str(entry["id"])
