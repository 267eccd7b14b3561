"""Turn a kubectl command string into one allowlisted action, or refuse it.

Drover never runs a shell and never passes a command on: it recognises a handful of
kubectl forms and maps each to a structured action, whose arguments are then validated
like any other request. Anything else (pipes, ``;``, ``&&``, substitutions, ``exec``,
namespaces, Secrets, unknown verbs or flags) is refused with the reason.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from chalicelib.domain.errors import BadRequest

SHELL = re.compile(r"[;|&`$<>(){}\\\n\r]")
FORBIDDEN_WORDS = ("exec", "secret", "secrets", "namespace", "namespaces", "ns", "cp",
                   "port-forward", "proxy", "attach", "apply", "edit", "replace", "patch")
WORKLOADS = {"deployment": "deployment", "deployments": "deployment", "deploy": "deployment",
             "statefulset": "statefulset", "statefulsets": "statefulset", "sts": "statefulset",
             "daemonset": "daemonset", "daemonsets": "daemonset", "ds": "daemonset"}
DRAIN_FLAGS = {"--ignore-daemonsets", "--delete-emptydir-data", "--delete-local-data"}
Parsed = tuple[str, dict[str, Any]]


def refuse(reason: str) -> BadRequest:
    """The error for a command Drover will not run."""
    return BadRequest(f"command refused: {reason}", code="command_refused")


def parse(command: str) -> Parsed:
    """``(action, arguments)`` for a recognised command; BadRequest otherwise."""
    if not command or not command.strip():
        raise refuse("empty command")
    if SHELL.search(command):
        raise refuse("shell syntax (pipes, ;, &&, $, redirections, substitutions) is not "
                     "accepted; send one kubectl command")
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise refuse(f"cannot read the command ({exc})") from None
    if not words or words[0] != "kubectl":
        raise refuse("only kubectl commands are understood")
    words = words[1:]
    bad = [w for w in words if w.lower() in FORBIDDEN_WORDS]
    if bad:
        raise refuse(f"'{bad[0]}' is never run by Drover")
    namespace, rest, flags = _split(words)
    for shape, handler in _HANDLERS:
        if rest[:len(shape)] == list(shape):
            return handler(rest[len(shape):], namespace, flags)
    raise refuse(f"'kubectl {' '.join(words[:3])}' is not one of the allowlisted actions")


def _split(words: list[str]) -> tuple[str | None, list[str], dict[str, str]]:
    """Namespace, positional words, other ``--flag[=value]`` flags."""
    namespace, rest, flags = None, [], {}
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("-n", "--namespace"):
            if i + 1 >= len(words):
                raise refuse(f"{word} needs a value")
            namespace, i = words[i + 1], i + 2
            continue
        if word.startswith("--namespace="):
            namespace = word.split("=", 1)[1]
        elif word.startswith("-"):
            name, _, value = word.partition("=")
            if name in ("-c", "--container") and not value and i + 1 < len(words):
                value, i = words[i + 1], i + 1
            flags[name] = value
        else:
            rest.append(word)
        i += 1
    return namespace, rest, flags


def _one(rest: list[str], what: str) -> str:
    if len(rest) != 1:
        raise refuse(f"expected exactly one {what}")
    return rest[0]


def _no_flags(flags: dict[str, str], allowed: set[str] | None = None) -> None:
    extra = sorted(set(flags) - (allowed or set()))
    if extra:
        raise refuse(f"flag {extra[0]} is not accepted for this command")


def _workload(rest: list[str]) -> tuple[str, str]:
    """``deployment/x`` or ``deployment x``."""
    if len(rest) == 1 and "/" in rest[0]:
        kind, _, name = rest[0].partition("/")
    elif len(rest) == 2:  # noqa: PLR2004 - kind and name
        kind, name = rest
    else:
        raise refuse("expected a workload as kind/name")
    if kind.lower() not in WORKLOADS:
        raise refuse(f"'{kind}' is not a deployment, statefulset or daemonset")
    return WORKLOADS[kind.lower()], name


def _delete_pod(rest: list[str], ns: str | None, flags: dict[str, str]) -> Parsed:
    _no_flags(flags)
    return "restart_pod", {"namespace": ns or "default", "pod_name": _one(rest, "pod")}


def _delete_job(rest: list[str], ns: str | None, flags: dict[str, str]) -> Parsed:
    _no_flags(flags)
    return "delete_failed_job", {"namespace": ns or "default", "name": _one(rest, "job")}


def _restart(rest: list[str], ns: str | None, flags: dict[str, str]) -> Parsed:
    _no_flags(flags)
    kind, name = _workload(rest)
    return "rollout_restart", {"namespace": ns or "default", "kind": kind, "name": name}


def _undo(rest: list[str], ns: str | None, flags: dict[str, str]) -> Parsed:
    _no_flags(flags)
    kind, name = _workload(rest)
    if kind != "deployment":
        raise refuse("only deployments are rolled back")
    return "rollback_deployment", {"namespace": ns or "default", "name": name}


def _scale(rest: list[str], ns: str | None, flags: dict[str, str]) -> Parsed:
    _no_flags(flags, {"--replicas"})
    kind, name = _workload(rest)
    if kind != "deployment":
        raise refuse("only deployments are scaled")
    try:
        replicas = int(flags["--replicas"])
    except (KeyError, ValueError):
        raise refuse("--replicas=<number> is required") from None
    return "scale_deployment", {"namespace": ns or "default", "name": name,
                                "replicas": replicas}


def _resources(rest: list[str], ns: str | None, flags: dict[str, str]) -> Parsed:
    _no_flags(flags, {"-c", "--container", "--limits", "--requests"})
    kind, name = _workload(rest)
    container = flags.get("-c") or flags.get("--container")
    if not container:
        raise refuse("-c <container> is required")
    args: dict[str, Any] = {"namespace": ns or "default", "kind": kind, "name": name,
                            "container": container}
    for flag, suffix in (("--limits", "limit"), ("--requests", "request")):
        for pair in filter(None, (flags.get(flag) or "").split(",")):
            resource, _, value = pair.partition("=")
            if resource not in ("memory", "cpu") or not value:
                raise refuse(f"{flag} takes memory=<q> and cpu=<q>")
            args[f"{resource}_{suffix}"] = value
    return "set_resources", args


def _node(action: str, allowed: set[str] | None = None) -> Callable[..., Parsed]:
    def handle(rest: list[str], ns: str | None, flags: dict[str, str]) -> Parsed:
        _no_flags(flags, allowed)
        return action, {"node_name": _one(rest, "node")}

    return handle


_HANDLERS: tuple[tuple[tuple[str, ...], Callable[..., Parsed]], ...] = (
    (("delete", "pod"), _delete_pod), (("delete", "pods"), _delete_pod),
    (("delete", "job"), _delete_job), (("delete", "jobs"), _delete_job),
    (("rollout", "restart"), _restart), (("rollout", "undo"), _undo),
    (("scale",), _scale), (("set", "resources"), _resources),
    (("cordon",), _node("cordon_node")), (("uncordon",), _node("uncordon_node")),
    (("drain",), _node("drain_node", DRAIN_FLAGS)),
)
