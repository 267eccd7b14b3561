"""Start `python -m infra.local` and a real prometheus-alertmanager as subprocesses on loopback,
and send them load over HTTP."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
ALERTMANAGER_BIN = "prometheus-alertmanager"
INSTALL_HINT = "run .ci/install-system-deps to install Debian's prometheus-alertmanager"
RETRYABLE = frozenset({429, 502, 503, 504})


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float = 30, what: str = "condition",
             interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; raise AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process in MiB (Linux /proc), or None."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return round(int(found.group(1)) / 1024, 1) if found else None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process used so far (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(cpu: Callable[[], float | None], busy: float = 0.05, window: float = 1.0,
           timeout: float = 120.0) -> float:
    """Wait until a process uses less than ``busy`` of a core over ``window`` seconds (its
    background work, e.g. diagnoses of new incidents, is done); return the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = cpu()
        time.sleep(window)
        after = cpu()
        if before is None or after is None or after - before < busy * window:
            break
    return round(time.monotonic() - started, 1)


@dataclass
class Drover:
    """A running embedded Drover stack."""

    process: subprocess.Popen[str]
    url: str
    key: str
    aws_endpoint: str
    output: list[str] = field(default_factory=list)

    def http(self, method: str, path: str, *, key: str | None = None,
             **kwargs: Any) -> requests.Response:
        """One request with the admin bearer key (or ``key``)."""
        headers = {"Authorization": f"Bearer {key or self.key}", **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", 30)
        return requests.request(method, self.url + path, headers=headers, **kwargs)

    def incidents(self, title: str | None = None, state: str | None = None) -> list[dict]:
        """Every incident of the default workspace (all pages), optionally of one title."""
        found: list[dict] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if state:
                params["state"] = state
            if cursor:
                params["cursor"] = cursor
            response = self.http("GET", "/incidents", params=params)
            response.raise_for_status()
            body = response.json()
            found.extend(i for i in body["incidents"] if title is None or i["title"] == title)
            cursor = body.get("next_cursor")
            if not cursor:
                return found


def _stop(process: subprocess.Popen[Any], grace: float = 10) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def _drain(stream: Any, sink: list[str]) -> None:
    for line in stream:
        sink.append(line)


@contextmanager
def drover_stack(key: str = "drv_bench-admin", log_level: str = "WARNING",
                 aws_endpoint: str | None = None) -> Iterator[Drover]:
    """Run `python -m infra.local` on a free port until the block ends.

    With ``aws_endpoint`` it uses that AWS (e.g. a separate moto server) instead of its own.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DROVER_"))}
    env.update(DROVER_PORT=str(free_port()), DROVER_BOOTSTRAP_API_KEY=key,
               DROVER_LOG_LEVEL=log_level, PYTHONUNBUFFERED="1")
    if aws_endpoint:
        env.update(AWS_ENDPOINT_URL=aws_endpoint, AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    process = subprocess.Popen([sys.executable, "-m", "infra.local"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield _started(process, key)
    finally:
        _stop(process, grace=20)


def _started(process: subprocess.Popen[str], key: str) -> Drover:
    printed: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        printed.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    text = "".join(printed)
    url = re.search(r"running at (http://\S+)", text)
    endpoint = re.search(r"AWS endpoint: (http://\S+)", text)
    if not (url and endpoint):
        raise RuntimeError(f"the embedded stack did not start:\n{text}")
    drover = Drover(process, url.group(1), key, endpoint.group(1), printed)
    threading.Thread(target=_drain, args=(process.stdout, printed), daemon=True).start()
    return drover


@dataclass
class MotoServer:
    """A standalone moto server process."""

    process: subprocess.Popen[bytes]
    url: str


# werkzeug logs every request at INFO unless told otherwise: a tenth of the server's CPU.
_MOTO_MAIN = """
import logging
import threading
from infra.local.moto_server import EmbeddedMotoServer
logging.getLogger("werkzeug").setLevel(logging.WARNING)
EmbeddedMotoServer(ip_address="127.0.0.1", port={port}, verbose=False).start()
threading.Event().wait()
"""


@contextmanager
def moto_server() -> Iterator[MotoServer]:
    """Run the embedded stack's moto server (infra.local.moto_server) as its own process on a
    free port, to tell its memory and CPU from Drover's."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", _MOTO_MAIN.format(port=port)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    running = MotoServer(process, f"http://127.0.0.1:{port}")
    try:
        wait_for(lambda: _answers(running.url + "/moto-api/"), timeout=30, what="moto server")
        yield running
    finally:
        _stop(process)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code < 500
    except requests.ConnectionError:
        return False


@dataclass
class Alertmanager:
    """A running prometheus-alertmanager."""

    process: subprocess.Popen[str]
    url: str
    log: Path

    def post_alerts(self, alerts: list[dict], session: Any = None) -> requests.Response:
        """POST /api/v2/alerts."""
        return (session or requests).post(self.url + "/api/v2/alerts", json=alerts, timeout=30)

    def logs(self) -> str:
        """Everything it logged so far."""
        return self.log.read_text(errors="replace")


def alertmanager_binary() -> str | None:
    """Path of the installed prometheus-alertmanager, or None."""
    return shutil.which(ALERTMANAGER_BIN) or (
        "/usr/bin/prometheus-alertmanager"
        if os.access("/usr/bin/prometheus-alertmanager", os.X_OK) else None)


def alertmanager_version() -> str | None:
    """The first line of `prometheus-alertmanager --version`, or None."""
    binary = alertmanager_binary()
    if binary is None:
        return None
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return ((done.stdout or done.stderr).splitlines() or [""])[0].strip()


@contextmanager
def alertmanager(config: dict[str, Any], workdir: Path) -> Iterator[Alertmanager]:
    """Run prometheus-alertmanager on loopback, without clustering, with ``config``."""
    binary = alertmanager_binary()
    if binary is None:
        raise FileNotFoundError(f"{ALERTMANAGER_BIN} is not installed; {INSTALL_HINT}")
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "alertmanager.yml"
    config_file.write_text(json.dumps(config, indent=2))  # JSON is valid YAML
    port = free_port()
    log = workdir / "alertmanager.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [binary, f"--config.file={config_file}", f"--storage.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
             "--log.level=debug"],
            stdout=out, stderr=subprocess.STDOUT, text=True)
    running = Alertmanager(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_for(lambda: _ready(running), timeout=20, what="alertmanager to be ready")
        yield running
    finally:
        _stop(process)


def _ready(running: Alertmanager) -> bool:
    if running.process.poll() is not None:
        raise RuntimeError(f"alertmanager exited:\n{running.logs()}")
    try:
        return requests.get(running.url + "/-/ready", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


# --- sending load ---------------------------------------------------------------------------
def progress(bench: str, message: str) -> None:
    """One line on stderr, so that stdout stays one JSON object."""
    print(f"[{bench} {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


@dataclass
class Tally:
    """What one run's requests did."""

    requests: int = 0
    http_errors: int = 0
    retries: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, retries: int, body: Any = None, error: str | None = None) -> None:
        """Count one delivered (or abandoned) request."""
        with self.lock:
            self.requests += 1
            self.retries += retries
            self.statuses[status] += 1
            if status != 200:
                self.http_errors += 1
                if error and len(self.errors) < 5:
                    self.errors.append(error[:300])
            if isinstance(body, dict):
                self.actions.update(o.get("action", "?") for o in body.get("incidents", []))

    def figures(self, alerts: int, seconds: float) -> dict[str, Any]:
        """Rate, statuses and outcomes of a run that sent ``alerts`` in ``seconds``."""
        return {
            "seconds": round(seconds, 2),
            "alerts_per_second": round(alerts / seconds, 1) if seconds else None,
            "requests": self.requests, "http_errors": self.http_errors,
            "retries": self.retries,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            **({"actions": dict(self.actions)} if self.actions else {}),
            **({"error_samples": self.errors} if self.errors else {}),
        }


@dataclass
class Sender:
    """POSTs JSON bodies to one URL from a small thread pool, retrying 503s a bounded time."""

    url: str
    headers: dict[str, str]
    workers: int
    max_retries: int = 5
    local: threading.local = field(default_factory=threading.local)

    def _session(self) -> requests.Session:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
            session.headers.update(self.headers)
        return session

    def _post(self, body: Any, tally: Tally) -> None:
        status, error, attempt = 0, None, 0
        for attempt in range(self.max_retries + 1):
            try:
                response = self._session().post(self.url, json=body, timeout=60)
            except requests.RequestException as exc:
                status, error = 0, f"{type(exc).__name__}: {exc}"
            else:
                status, error = response.status_code, response.text
                if status == 200:
                    tally.add(200, attempt, response.json() if response.content else None)
                    return
                if status not in RETRYABLE:
                    break
            if attempt < self.max_retries:
                time.sleep(min(0.05 * 2 ** attempt, 2.0))
        tally.add(status, attempt, error=f"{status}: {error}")

    def run(self, bodies: list[Any]) -> tuple[float, Tally]:
        """Send every body; return the wall time and the tally."""
        tally = Tally()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(lambda body: self._post(body, tally), bodies))
        return time.perf_counter() - started, tally
