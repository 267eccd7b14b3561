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


class EmbeddedMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer serving through AtomicDynamoDB."""

    def _server_entry(self) -> None:
        from moto.moto_server.threaded_moto_server import MotoRequestHandler

        app = AtomicDynamoDB(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True,
                                   request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()
