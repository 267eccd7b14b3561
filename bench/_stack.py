"""Start `python -m infra.local` and a real prometheus-alertmanager as subprocesses on loopback."""

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
ALERTMANAGER_BIN = "prometheus-alertmanager"
INSTALL_HINT = "run .ci/install-system-deps to install Debian's prometheus-alertmanager"


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


_MOTO_MAIN = """
import threading
from infra.local.moto_server import EmbeddedMotoServer
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
