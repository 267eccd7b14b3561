"""Create (or replace) the bootstrap admin key of a deployed stage.

    AWS_PROFILE=... .venv/bin/python -m infra.admin_key prod

Prints the raw key once; only its SHA-256 hash is written to the stage's incidents table.
DROVER_BOOTSTRAP_API_KEY supplies the key instead of generating one.
"""

from __future__ import annotations

import os
import sys

from infra import stack


def main(stage: str = "prod") -> int:
    """Write the admin key's hash to the stage's table and print the key."""
    for name, value in stack.stage_environment(stage).items():
        os.environ[name] = value
    from chalicelib.bootstrap import get_container
    from chalicelib.domain.auth import generate_key

    raw = os.environ.get("DROVER_BOOTSTRAP_API_KEY") or generate_key()
    get_container().keys.ensure_bootstrap(raw)
    print(f"Admin API key for stage '{stage}' (shown once): {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
