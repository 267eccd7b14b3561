"""A fake OpenAI-compatible server speaking the real wire format over HTTP, so tests drive
the official ``openai`` client (and Drover's adapter on top of it) end to end."""

from __future__ import annotations

import json
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fake_http import BackgroundServer

Body = dict[str, Any]
Responder = Callable[[Body], "Body | str"]

DEFAULT_ANSWER: Body = {
    "category": "OOMKilled",
    "summary": "Container api in shop/api-7f9 was killed for exceeding its memory limit.",
    "root_cause": "The container uses more memory than its 256Mi limit and the kernel's "
                  "OOM killer ends it (exit code 137).",
    "confidence": 0.86,
    "evidence": ["lastState.terminated.reason=OOMKilled", "exitCode=137",
                 "limits.memory=256Mi"],
    "fix_summary": "Raise the memory limit, or find what grows the heap.",
    "fix_commands": [{"command": "kubectl -n shop set resources deployment/api "
                                 "--limits=memory=512Mi",
                      "description": "Double the memory limit of the api container."}],
    "suggested_actions": [],
    "warnings": [],
}
DEFAULT_MODELS = ("fake-gpt-mini", "fake-gpt")


@dataclass
class Reply:
    """A status, a JSON body and extra headers."""

    status: int
    body: Body
    headers: dict[str, str] = field(default_factory=dict)


def error_reply(status: int, message: str, kind: str = "invalid_request_error",
                code: str | None = None) -> Reply:
    """An error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""
    return Reply(status, {"error": {"message": message, "type": kind, "param": None,
                                    "code": code}})


class FakeOpenAIServer(BackgroundServer):
    thread_name = "fake-openai"

    """An OpenAI-compatible ``/v1`` on 127.0.0.1 with knobs for answers and faults."""

    def __init__(self, answer: Body | str | None = None, *,
                 responder: Responder | None = None, require_key: str | None = None,
                 models_list: list[str] | None = None) -> None:
        self.answer: Body | str = DEFAULT_ANSWER if answer is None else answer
        self.responder = responder
        self.require_key = require_key
        self.models_list: list[str] = list(models_list or DEFAULT_MODELS)
        self.delay_seconds: float = 0.0
        self.reject_json_schema = False
        self.requests: list[Body] = []
        self.responses: list[Body] = []
        self._faults: list[int] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle

    @property
    def url(self) -> str:
        """The base URL (ending in ``/v1``), once started."""
        if self._http is None:
            raise RuntimeError("the fake OpenAI server is not started")
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def start(self) -> str:
        """Start serving in a daemon thread; the base URL."""
        if self._http is None:
            self._serve(_HttpServer(("127.0.0.1", 0), _Handler, self))
        return self.url

    # Knobs

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """Answer the next ``n`` requests with ``status`` and an OpenAI error body."""
        with self._lock:
            self._faults.extend([status] * n)

    # Requests

    def respond(self, method: str, path: str, authorization: str | None,
                body: Body | None) -> Reply:
        """The response to one request (the HTTP handler's only call into the server)."""
        if method == "POST" and body is not None:
            with self._lock:
                self.requests.append(body)
        if self.delay_seconds:
            self._stopping.wait(self.delay_seconds)
        if self.require_key is not None and authorization != f"Bearer {self.require_key}":
            presented = (authorization or "").removeprefix("Bearer ")
            # Echo the key back, as careless proxies do, so leaks in callers show up.
            return error_reply(401, f"Incorrect API key provided: {presented}",
                               code="invalid_api_key")
        fault = self._take_fault()
        if fault is not None:
            return fault
        if (method, path) == ("GET", "/v1/models"):
            return Reply(200, {"object": "list", "data": [
                {"id": name, "object": "model", "created": 1700000000, "owned_by": "fake"}
                for name in self.models_list]})
        if (method, path) == ("POST", "/v1/chat/completions"):
            return self._chat(body)
        return error_reply(404, f"Unknown request URL: {method} {path}", code="unknown_url")

    def _take_fault(self) -> Reply | None:
        with self._lock:
            if not self._faults:
                return None
            status = self._faults.pop(0)
        reply = error_reply(status, f"injected fault: {HTTPStatus(status).phrase}",
                            kind="server_error" if status >= 500 else "invalid_request_error")
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            reply.headers["Retry-After"] = "1"
        return reply

    def _chat(self, body: Body | None) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return error_reply(400, "'messages' is a required property", code="invalid_body")
        response_format = body.get("response_format") or {}
        if self.reject_json_schema and response_format.get("type") == "json_schema":
            return error_reply(400, "response_format.type 'json_schema' is not supported; "
                                    "use 'json_object'", code="unsupported_response_format")
        answer = self.responder(body) if self.responder else self.answer
        content = answer if isinstance(answer, str) else json.dumps(answer)
        prompt_tokens = sum(_tokens(str(m.get("content", ""))) for m in body["messages"])
        completion_tokens = _tokens(content)
        with self._lock:
            number = len(self.responses) + 1
        reply = {
            "id": f"chatcmpl-fake{number:06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or "fake-gpt",
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "logprobs": None, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content,
                                     "refusal": None}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }
        with self._lock:
            self.responses.append(reply)
        return Reply(200, reply)


def _tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: about four characters a token."""
    return max(1, (len(text) + 3) // 4)


class _HttpServer(ThreadingHTTPServer):
    """The HTTP listener, pointing back at its fake."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 fake: FakeOpenAIServer) -> None:
        self.fake = fake
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP requests into :meth:`FakeOpenAIServer.respond` calls."""

    protocol_version = "HTTP/1.1"
    server_version = "fake-openai"
    server: _HttpServer

    def do_GET(self) -> None:
        """Serve a read (the model list)."""
        self._serve("GET")

    def do_POST(self) -> None:
        """Serve a completion."""
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            reply = error_reply(400, "We could not parse the JSON body of your request.")
        else:
            try:
                reply = self.server.fake.respond(method, self.path.split("?")[0],
                                                 self.headers.get("Authorization"), body)
            except Exception as error:  # a bug here must reach the test as a 500, not a hang
                reply = error_reply(500, repr(error), kind="server_error")
        data = json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client timed out and went away

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
