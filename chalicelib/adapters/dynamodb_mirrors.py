"""Mirror records on the ``incidents`` table.

A record is ``WS#<ws>#MIRROR#<id>`` / ``MIRROR`` (body as JSON, state and version as
attributes for conditional updates). While a mirror is active it is in two sparse indexes:
GSI1 ``MIRRORS#ACTIVE`` sorted by expiry (the schedule's query across workspaces) and GSI2
``WS#<ws>#MIRRORS#ACTIVE`` sorted by creation (a workspace's active list); ending a mirror
removes both. Records are kept 30 days after the mirror's expiry, then the table's TTL
removes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.adapters.dynamodb_plans import VersionedRecords
from chalicelib.services.mirrors import MirrorRecord, MirrorStore

ACTIVE = "MIRRORS#ACTIVE"
RETENTION_SECONDS = 30 * 86400


class DynamoMirrorStore(VersionedRecords[MirrorRecord], MirrorStore):
    """MirrorStore on one DynamoDB table."""

    model = MirrorRecord
    kind = "MIRROR"

    def _indexes(self, record: MirrorRecord) -> dict[str, str]:
        if record.state != "active":
            return {}
        return {"gsi1pk": ACTIVE, "gsi1sk": f"{record.expires_at}#{record.workspace_id}#"
                                            f"{record.id}",
                "gsi2pk": f"WS#{record.workspace_id}#{ACTIVE}",
                "gsi2sk": f"{record.created_at}#{record.id}"}

    def _retention_epoch(self, record: MirrorRecord) -> int:
        return int(datetime.fromisoformat(record.expires_at).timestamp()) + RETENTION_SECONDS

    def put(self, record: MirrorRecord) -> None:
        """Store a new record."""
        self._put(record)

    def get(self, workspace_id: str, mirror_id: str) -> MirrorRecord | None:
        """One record."""
        return self._get(workspace_id, mirror_id)

    def update(self, record: MirrorRecord, *, expect_state: str | None = None,
               **changes: Any) -> MirrorRecord:
        """Change fields at the record's version; an ended mirror leaves the indexes."""
        return self._update(record, expect_state, changes)

    def active(self, workspace_id: str, limit: int = 100) -> list[MirrorRecord]:
        """A workspace's active mirrors, newest first."""
        return self._query_index("gsi2", f"WS#{workspace_id}#{ACTIVE}", limit=limit)

    def due(self, before: str, limit: int) -> list[MirrorRecord]:
        """Active mirrors of every workspace expired by ``before``, oldest expiry first."""
        return self._query_index("gsi1", ACTIVE, limit=limit, upper=f"{before}~",
                                 newest_first=False)
