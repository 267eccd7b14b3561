"""Error lines in container logs, with secrets taken out before anything keeps them."""

from __future__ import annotations

import re

from chalicelib.domain.redaction import redact as redact_text

ERROR_LINE = re.compile(
    r"(?i)\b(error|exception|fatal|panic|traceback|refused|denied|unavailable|"
    r"can'?t connect|cannot connect|could not connect|name or service not known|no such host|"
    r"failed to resolve|timed? ?out|connection reset|x509|certificate has expired)\b")
# Lines that mention an error word but report success or are framework noise.
BENIGN = re.compile(r"(?i)(\" 200 |\b0 errors?\b|error_log|errors?=0\b|level=info|"
                    r"background on this error|the above exception was)")
# What names a cause (a host, a refusal, a timeout) rather than a stack frame.
CAUSE = re.compile(r"(?i)(connect|resolve|refused|not known|no such host|timed? ?out|x509|"
                   r"denied|unavailable|expired|missing|not found|invalid)")
MAX_LINE = 300


def redact(line: str) -> str:
    """A log line with tokens, keys, JWTs, passwords and URL credentials replaced."""
    return redact_text(line)


def error_lines(text: str, limit: int = 20) -> list[str]:
    """The last ``limit`` distinct error lines of a log, redacted and cut to 300 characters."""
    found: dict[str, None] = {}
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if line and ERROR_LINE.search(line) and not BENIGN.search(line):
            cut = redact(line)[:MAX_LINE]
            found.pop(cut, None)
            found[cut] = None
    return list(found)[-limit:]


def telling_line(lines: list[str]) -> str:
    """The most recent line that names a cause, else the most recent line."""
    return next((line for line in reversed(lines) if CAUSE.search(line)), lines[-1])
