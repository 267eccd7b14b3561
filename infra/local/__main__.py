"""`make run`: start Drover on the embedded stack and keep it up until Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from infra.local.embedded import EmbeddedStack


def main() -> int:
    """Start the stack, print how to reach it, stop cleanly on SIGINT or SIGTERM."""
    logging.basicConfig(level=os.environ.get("DROVER_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    port = int(os.environ.get("DROVER_PORT", "8000"))
    embedded = EmbeddedStack(host=os.environ.get("DROVER_HOST", "127.0.0.1"), port=port)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    try:
        embedded.start()
    except OSError as exc:
        embedded.stop()
        print(f"drover: cannot start: {exc} (is port {port} taken? set DROVER_PORT)",
              file=sys.stderr)
        return 1
    print(f"Drover is running at {embedded.url}", flush=True)
    print(f"Admin API key: {embedded.api_key}", flush=True)
    print(f"AWS endpoint: {os.environ.get('AWS_ENDPOINT_URL', 'real AWS')}", flush=True)
    if embedded.demo is not None:
        print(f"DEMO cluster 'demo': a fake API server at {embedded.demo.url} with made-up "
              "workloads, not a real cluster", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    stopping.wait()
    print("Stopping...", flush=True)
    embedded.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
