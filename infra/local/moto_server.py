"""moto's threaded server, with DynamoDB requests made atomic as they are in AWS.

moto applies an UpdateItem or a TransactWriteItems as a read-modify-write in Python; two
threads serving concurrent requests can interleave and lose an increment or let two
conditional writes both pass. DynamoDB never does that, and Drover's dedup relies on it,
so the embedded stack serves DynamoDB requests one at a time (SQS long polls and the other
services stay concurrent).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


class AtomicDynamoDB:
    """WSGI middleware that serializes DynamoDB requests."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any],
                 ) -> Iterable[bytes]:
        """Serve one request; DynamoDB ones under the lock, body included."""
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with self.lock:
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


def install_item_level_rollback() -> None:
    """Make moto's TransactWriteItems back up the items it touches, not whole tables.

    moto deep-copies every table a transaction names, once per item, to roll back a
    cancelled transaction: the cost grows with the table, and a long-running stack slows
    down and swells. With DynamoDB requests serialized (AtomicDynamoDB), keeping a copy of
    each touched item is enough to undo a cancelled transaction exactly.
    """
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if getattr(DynamoDBBackend, "_drover_item_rollback", False):
        return
    original = DynamoDBBackend.transact_write_items
    # Inside transact_write_items only: its whole-table backups become references.
    Table.__deepcopy__ = lambda self, memo: self  # type: ignore[attr-defined]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backups = [_backup(self, entry) for entry in transact_items]
        try:
            original(self, transact_items)
        except Exception:
            for backup in reversed([b for b in backups if b is not None]):
                _restore(self, *backup)
            raise

    DynamoDBBackend.transact_write_items = transact_write_items
    DynamoDBBackend._drover_item_rollback = True


def _backup(backend: Any, entry: dict[str, Any]) -> tuple[str, dict[str, Any], Any] | None:
    try:
        op_type, op = next(iter(entry.items()))
        table = backend.get_table(op["TableName"])
        if op_type == "Put":
            names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr
                                             else [])
            key = {name: op["Item"][name] for name in names}
        else:
            key = op["Key"]
        current = backend.get_item(op["TableName"], key)
    except Exception:
        return None  # an invalid entry fails the transaction before anything is written
    return op["TableName"], key, current.to_json()["Attributes"] if current else None


def _restore(backend: Any, table_name: str, key: dict[str, Any], attrs: Any) -> None:
    if attrs is None:
        backend.delete_item(table_name, key)
    else:
        backend.put_item(table_name, attrs)


class EmbeddedMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer serving through AtomicDynamoDB, with item-level rollback."""

    def _server_entry(self) -> None:
        install_item_level_rollback()
        from moto.moto_server.threaded_moto_server import MotoRequestHandler

        app = AtomicDynamoDB(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True,
                                   request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()
