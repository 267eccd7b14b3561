"""What the fake HTTP servers share: serving in a daemon thread, stopping, ``with`` blocks."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class BackgroundServer:
    """Runs ``self._http`` in a daemon thread; subclasses build the server in ``start``."""

    thread_name = "fake-http"
    _http: Any
    _thread: threading.Thread | None
    _stopping: threading.Event

    def _serve(self, http: ThreadingHTTPServer) -> None:
        self._stopping.clear()
        self._http = http
        self._thread = threading.Thread(target=http.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()

    def start(self) -> str:
        """Start serving; the base URL."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving; delayed requests are released at once."""
        self._stopping.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
