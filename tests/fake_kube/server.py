"""A fake Kubernetes API server speaking the real REST protocol over HTTP(S), so tests can
drive the official ``kubernetes`` client (and Drover's adapters on top of it).

Reads are api.py, writes writes.py; after each write the simulated controllers
(controllers.py) settle synchronously, before the response is sent, unless a test sets
``auto_settle = False`` and calls :meth:`FakeKubeServer.settle` itself. New pods start
Running and Ready unless ``fail_new_pods`` (True, or a predicate on the new pod) makes them
crash-loop."""

from __future__ import annotations

import json
import socketserver
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fake_http import BackgroundServer
from tests.fake_kube.api import KubeApi
from tests.fake_kube.controllers import Controllers
from tests.fake_kube.status import ApiError, Reply, json_reply
from tests.fake_kube.store import ObjectStore, kind_for, load_metrics, load_objects, merge_cases
from tests.fake_kube.tls import issue_certificate
from tests.fake_kube.writes import KubeWrites

Obj = dict[str, Any]
DEMO_CASE = Path(__file__).resolve().parent / "cases" / "demo.json"
HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
_FAULT_MESSAGES = {
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: injected fault",
    503: "the server is currently unable to handle the request",
    504: "Timeout: request did not complete within the allotted timeout",
}


@dataclass
class _Fault:
    remaining: int
    status: int
    path_prefix: str
    method: str | None = None
    dry_run: bool | None = None

    def matches(self, method: str, path: str, query: str) -> bool:
        """Whether a request is one this fault answers."""
        dry = "dryRun=All" in query
        return self.remaining > 0 and path.startswith(self.path_prefix) \
            and self.method in (None, method) and self.dry_run in (None, dry)


class FakeKubeServer(BackgroundServer):
    thread_name = "fake-kube"

    """A Kubernetes API server on 127.0.0.1 serving a fixed set of objects and logs."""

    def __init__(self, objects: dict[str, list[Obj]] | None = None,
                 logs: dict[str, str] | None = None, *, token: str | None = "fake-token",
                 version: str = "v1.31.4+k3s1", tls: bool = False,
                 metrics: dict[str, list[Obj]] | None = None, port: int = 0) -> None:
        self.token, self.version, self.tls, self.port = token, version, tls, port
        self.logs: dict[str, str] = dict(logs or {})
        self.store = ObjectStore()
        load_objects(self.store, objects or {})
        self.metrics_store: ObjectStore | None = None
        if metrics is not None:
            self.metrics_store = ObjectStore()
            load_metrics(self.metrics_store, metrics)
        # Drover's service account may not read Secrets, so a real cluster refuses them.
        self.forbidden: set[str] = {"secrets"}
        self.api = KubeApi(self.store, self.metrics_store, self.logs, version, self.forbidden)
        self.controllers = Controllers(self.store)
        self.controllers.remember_baseline()
        self.writes = KubeWrites(self.api, self.controllers)
        self.requests: list[tuple[str, str]] = []
        self.delay_seconds: float = 0.0
        self.ca_pem: str | None = None
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_cases(cls, *cases: Obj, **options: Any) -> FakeKubeServer:
        """A server holding the merged ``objects``, ``logs`` and ``metrics`` of cases."""
        objects, logs, metrics = merge_cases(cases)
        options.setdefault("metrics", metrics or None)
        return cls(objects, logs, **options)

    @classmethod
    def from_case_files(cls, *paths: str | Path, **options: Any) -> FakeKubeServer:
        """A server holding what case files (eval-corpus format) describe."""
        return cls.from_cases(*(json.loads(Path(p).read_text()) for p in paths), **options)

    # Lifecycle

    @property
    def url(self) -> str:
        """The base URL, once started."""
        if self._http is None:
            raise RuntimeError("the fake API server is not started")
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._http.server_address[1]}"

    def start(self) -> str:
        """Start serving in a daemon thread; the base URL."""
        if self._http is not None:
            return self.url
        context = None
        if self.tls:
            certificate = issue_certificate()
            self.ca_pem = certificate.ca_pem
            context = certificate.server_context()
        self._serve(_HttpServer(("127.0.0.1", self.port), _Handler, self, context))
        return self.url

    # Controllers

    @property
    def fail_new_pods(self) -> bool | Callable[[Obj], bool]:
        """Whether pods started from now on crash-loop (Job pods: fail): a bool, or a
        predicate on the new pod (e.g. only pods of one deployment's new template)."""
        return self.controllers.fail_new_pods

    @fail_new_pods.setter
    def fail_new_pods(self, value: bool | Callable[[Obj], bool]) -> None:
        self.controllers.fail_new_pods = value

    @property
    def auto_settle(self) -> bool:
        """Whether controllers run after each write before it is answered (the default);
        when False they run only when a test calls :meth:`settle`."""
        return self.controllers.auto_settle

    @auto_settle.setter
    def auto_settle(self, value: bool) -> None:
        self.controllers.auto_settle = value

    def settle(self) -> int:
        """Run the controllers on everything writes touched; how many reconciles ran."""
        with self.writes.lock:
            return self.controllers.settle()

    # Faults and permissions

    def fail_next(self, n: int = 1, status: int = 500, path_prefix: str = "", *,
                  method: str | None = None, dry_run: bool | None = None) -> None:
        """Answer the next ``n`` requests whose path starts with ``path_prefix`` with
        ``status`` and a Status body, as an overloaded or broken API server would; only
        ``method`` requests, and only dry runs (True) or real ones (False), when given."""
        with self._lock:
            self._faults.append(_Fault(n, status, path_prefix, method, dry_run))

    def clear_faults(self) -> None:
        """Drop the faults not served yet: the API server is healthy again."""
        with self._lock:
            self._faults.clear()

    def forbid(self, plural: str) -> None:
        """Refuse lists and gets of a resource with 403, as RBAC would (``pods/log`` too)."""
        self.forbidden.add(_plural(plural))

    def allow(self, plural: str) -> None:
        """Undo :meth:`forbid` (also for Secrets, forbidden by default)."""
        self.forbidden.discard(_plural(plural))

    def paths(self, method: str = "GET") -> list[str]:
        """The paths (with query) requested with ``method``, in order."""
        with self._lock:
            return [path for m, path in self.requests if m == method]

    # Requests

    def respond(self, method: str, target: str, authorization: str | None,
                body: bytes = b"", content_type: str = "application/json") -> Reply:
        """The response to one request (the HTTP handler's only call into the server)."""
        with self._lock:
            self.requests.append((method, target))
        if self.delay_seconds:
            self._stopping.wait(self.delay_seconds)
        parts = urlsplit(target)
        if parts.path in HEALTH_PATHS:
            return Reply(200, b"ok", "text/plain")
        if self.token is not None and authorization != f"Bearer {self.token}":
            return ApiError(401, "Unauthorized").reply()
        fault = self._take_fault(method, parts.path, parts.query)
        if fault is not None:
            return fault
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if self.writes.serves(method, parts.path):
            return self.writes.handle(method, parts.path, query, body, content_type)
        return self.api.get(parts.path, query)

    def _take_fault(self, method: str, path: str, query: str) -> Reply | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path, query):
                    fault.remaining -= 1
                    break
            else:
                return None
            self._faults = [f for f in self._faults if f.remaining > 0]
        message = _FAULT_MESSAGES.get(fault.status, HTTPStatus(fault.status).phrase)
        reply = ApiError(fault.status, message, details={}).reply()
        if fault.status == HTTPStatus.TOO_MANY_REQUESTS:
            reply.headers["Retry-After"] = "1"
        return reply


def _plural(name: str) -> str:
    head, _, sub = name.partition("/")
    rk = kind_for(head)
    plural = rk.plural if rk else head
    return f"{plural}/{sub}" if sub else plural


class _HttpServer(ThreadingHTTPServer):
    """The HTTP(S) listener; TLS handshakes run in each request's own thread."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 fake: FakeKubeServer, context: ssl.SSLContext | None) -> None:
        self.fake, self.context = fake, context
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.context is None:
            super().finish_request(request, client_address)
            return
        try:
            secure = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that gave up or does not trust the CA
        try:
            super().finish_request(secure, client_address)
        finally:
            secure.close()


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP requests into :meth:`FakeKubeServer.respond` calls."""

    protocol_version = "HTTP/1.1"
    server_version = "fake-kube"
    server: _HttpServer

    def do_GET(self) -> None:
        """Serve a read."""
        self._serve("GET")

    def do_POST(self) -> None:
        """Serve a create (or an eviction)."""
        self._serve("POST")

    def do_PUT(self) -> None:
        """Serve a replace."""
        self._serve("PUT")

    def do_PATCH(self) -> None:
        """Serve a patch."""
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        """Serve a delete."""
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            reply = self.server.fake.respond(
                method, self.path, self.headers.get("Authorization"), body,
                self.headers.get("Content-Type") or "application/json")
        except Exception as error:  # a bug here must reach the test as a 500, not a hang
            reply = json_reply({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Failure", "message": repr(error),
                                "reason": "InternalError", "code": 500}, 500)
        try:
            self.send_response(reply.code)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (TimeoutError, BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True  # the client timed out and went away

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read :attr:`FakeKubeServer.requests` instead."""


def start_demo(port: int = 0, token: str | None = None) -> FakeKubeServer:
    """A started server holding the demo cluster of ``cases/demo.json``."""
    server = FakeKubeServer.from_case_files(DEMO_CASE, token=token, port=port)
    server.start()
    return server
