"""Secrets out of text before it is stored, shown, or sent to an LLM.

Covers AWS access key ids and secret keys, bearer tokens, JWTs, credentials in URLs,
``password=``/``token:``-style pairs, PEM blocks (keys and certificates), and the values of
environment variables a pod takes from a Secret (their names are passed in: Drover never
reads Secrets, but an application may print what it was given).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?(?:-----END \1-----|\Z)", re.DOTALL)
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1[REDACTED]"),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "[REDACTED-AWS-KEY]"),
    (re.compile(r"(?i)(aws_secret_access_key|aws_session_token|secretaccesskey)(['\"]?\s*[=:]\s*['\"]?)"
                r"[A-Za-z0-9/+=]{16,}"), r"\1\2[REDACTED]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), "[REDACTED-JWT]"),
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), r"\1[REDACTED]@"),
)


_SENSITIVE_NAMES = (r"[a-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
                r"private[_-]?key|credentials?)")
# key, separator, then a quoted value (up to its closing quote) or a bare word.
_PAIR = r"(?i)\b({keys})(['\"]?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|(?!\[REDACTED)[^\s'\",;&]+)"


def _hide(match: re.Match[str]) -> str:
    value = match.group(3)
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group(1)}{match.group(2)}{quote}[REDACTED]{quote}"


def redact(text: str, secret_names: Iterable[str] = ()) -> str:
    """``text`` with every secret-looking value replaced by ``[REDACTED...]``."""
    if not text:
        return text
    text = _PEM.sub(lambda m: f"[REDACTED-PEM {m.group(1)}]", text)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    keys = "|".join([_SENSITIVE_NAMES, *(re.escape(n) for n in secret_names if n)])
    return re.sub(_PAIR.format(keys=keys), _hide, text)


def secret_env_names(pod_spec: dict) -> set[str]:  # type: ignore[type-arg]
    """Names of the environment variables a pod's containers take from Secrets."""
    names: set[str] = set()
    for key in ("containers", "initContainers"):
        for container in pod_spec.get(key) or []:
            for env in container.get("env") or []:
                if ((env.get("valueFrom") or {}).get("secretKeyRef")) and env.get("name"):
                    names.add(env["name"])
    return names
