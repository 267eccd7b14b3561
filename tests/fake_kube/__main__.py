"""``python -m tests.fake_kube``: serve case files (the demo cluster by default) until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from pathlib import Path

from tests.fake_kube.server import DEMO_CASE, FakeKubeServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_kube",
                                     description="A fake Kubernetes API server for tests.")
    parser.add_argument("--case", action="append", default=[], metavar="FILE",
                        help="case file to serve (repeatable; default: the demo cluster)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any)")
    parser.add_argument("--token", default="fake-token",
                        help="bearer token clients must send (empty: no authentication)")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a fresh CA")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the server in the foreground."""
    args = parse_args(argv)
    server = FakeKubeServer.from_case_files(*(args.case or [DEMO_CASE]), token=args.token or None,
                                            tls=args.tls, port=args.port)
    url = server.start()
    print(f"fake Kubernetes API server listening on {url}", flush=True)
    if server.ca_pem:
        ca_file = Path(tempfile.mkdtemp(prefix="fake-kube-")) / "ca.crt"
        ca_file.write_text(server.ca_pem)
        print(f"CA certificate: {ca_file}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
