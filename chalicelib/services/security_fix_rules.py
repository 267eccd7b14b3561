"""Builtin fixes for scanner findings (seed 002 ``POST /api/security/findings/{id}/fix``):
what answers when no LLM is configured, or when the LLM fails.

A small table keyed by the finding's check (its ``check_name`` or Kure's ``title``) says what
to change in the container or pod spec. With the finding's manifest the fix is applied to a
cleaned copy of it; without one, the answer is a snippet holding only the corrected fields.
Secrets are never read: a Secret's data is dropped before anything else happens.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.security import SecurityFinding
from chalicelib.services.mirror_preview import clean, containers, parse_manifest, pod_spec, to_yaml

Obj = dict[str, Any]
Edit = tuple[str, Any, Any]  # (field, before, after)
PIN_PLACEHOLDER = "PIN-A-VERSION"
API_VERSIONS = {"Pod": "v1", "Deployment": "apps/v1", "StatefulSet": "apps/v1",
                "DaemonSet": "apps/v1", "ReplicaSet": "apps/v1", "Job": "batch/v1"}
SAFE_CAPABILITIES = ("NET_BIND_SERVICE",)
_CONTAINER_IN_TEXT = re.compile(r"[Cc]ontainer '([^']+)'")
_NAME_AFTER_COLON = re.compile(r":\s*([a-z0-9][a-z0-9.-]{0,62})\s*$")
_HOST_NAMESPACES = {"network": "hostNetwork", "pid": "hostPID", "ipc": "hostIPC"}


def _context(container: Obj) -> Obj:
    return container.setdefault("securityContext", {})


def _set(target: Obj, field: str, value: Any) -> list[Edit]:
    before = target.get(field)
    if before == value:
        return []
    target[field] = value
    return [(field, before, value)]


def _no_escalation(c: Obj, _: str) -> list[Edit]:
    return _set(_context(c), "allowPrivilegeEscalation", False)


def _unprivileged(c: Obj, _: str) -> list[Edit]:
    return _set(_context(c), "privileged", False)


def _non_root(c: Obj, _: str) -> list[Edit]:
    edits = _set(_context(c), "runAsNonRoot", True)
    if _context(c).get("runAsUser") == 0:
        edits += _set(_context(c), "runAsUser", 10001)
    return edits


def _read_only_root(c: Obj, _: str) -> list[Edit]:
    return _set(_context(c), "readOnlyRootFilesystem", True)


def _drop_all(c: Obj, _: str) -> list[Edit]:
    caps = _context(c).setdefault("capabilities", {})
    return [] if "ALL" in (caps.get("drop") or []) else _set(caps, "drop", ["ALL"])


def _safe_capabilities(c: Obj, _: str) -> list[Edit]:
    caps = _context(c).setdefault("capabilities", {})
    kept = [cap for cap in caps.get("add") or [] if cap in SAFE_CAPABILITIES]
    return _set(caps, "add", kept) if kept != (caps.get("add") or []) else []


def _limits(c: Obj, _: str) -> list[Edit]:
    resources = c.setdefault("resources", {})
    edits = []
    for key, default in (("requests", {"cpu": "100m", "memory": "128Mi"}),
                         ("limits", {"cpu": "500m", "memory": "256Mi"})):
        current = dict(resources.get(key) or {})
        wanted = {**default, **current}
        if wanted != current:
            edits += _set(resources, key, wanted)
    return edits


def _pin_tag(c: Obj, _: str) -> list[Edit]:
    image = str(c.get("image") or "")
    if "@sha256:" in image:
        return []
    last = image.rsplit("/", 1)[-1]
    repo = image.rsplit(":", 1)[0] if ":" in last else image
    return _set(c, "image", f"{repo}:{PIN_PLACEHOLDER}")


def _no_host_ports(c: Obj, _: str) -> list[Edit]:
    edits = []
    for port in c.get("ports") or []:
        if isinstance(port, dict) and port.get("hostPort"):
            edits.append((f"ports[{port.get('containerPort')}].hostPort", port.pop("hostPort"),
                          None))
    return edits


def _no_host_path(spec: Obj, text: str) -> list[Edit]:
    path = re.search(r"host ?path volume mounted:\s*(\S+)", text, re.IGNORECASE)
    edits = []
    for volume in spec.get("volumes") or []:
        host = (volume or {}).get("hostPath") or {}
        if host and (path is None or host.get("path") == path.group(1)):
            volume.pop("hostPath")
            volume["emptyDir"] = {}
            edits.append((f"volumes[{volume.get('name')}]", {"hostPath": host},
                          {"emptyDir": {}}))
    return edits


def _no_host_namespaces(spec: Obj, text: str) -> list[Edit]:
    named = [field for word, field in _HOST_NAMESPACES.items()
             if re.search(rf"host[ _-]?{word}", text, re.IGNORECASE)]
    edits = []
    for field in named or [f for f in _HOST_NAMESPACES.values() if spec.get(f)]:
        edits += _set(spec, field, False)
    return edits


def _seccomp(spec: Obj, _: str) -> list[Edit]:
    return _set(spec.setdefault("securityContext", {}), "seccompProfile",
                {"type": "RuntimeDefault"})


def _no_token(spec: Obj, _: str) -> list[Edit]:
    return _set(spec, "automountServiceAccountToken", False)


@dataclass(frozen=True)
class FixRule:
    """One check: how to recognise it, and what to change (in a container or the pod)."""

    id: str
    pattern: re.Pattern[str]
    explanation: str
    container: Callable[[Obj, str], list[Edit]] | None = None
    pod: Callable[[Obj, str], list[Edit]] | None = None


def _rule(rule_id: str, pattern: str, explanation: str, **fixes: Any) -> FixRule:
    return FixRule(rule_id, re.compile(pattern), explanation, **fixes)


# First match wins: the specific checks come before the ones whose words they contain.
RULES: tuple[FixRule, ...] = (
    _rule("secret-env", r"secret.*(environment|env)", "A Secret exposed as an environment "
          "variable can leak through logs and child processes: mount it as a file instead. "
          "Drover does not read Secrets, so this is left for you to change."),
    _rule("privilege-escalation", r"privilege ?escalation", "setuid binaries can gain more "
          "privileges than the container started with.", container=_no_escalation),
    _rule("privileged", r"privileged", "A privileged container has every host device and "
          "capability: a container escape is root on the node.", container=_unprivileged),
    _rule("dangerous-capabilities", r"dangerous capabilit|capabilities added|sys ?admin",
          "Added capabilities such as SYS_ADMIN or NET_ADMIN allow container escape; only "
          "NET_BIND_SERVICE is kept.", container=_safe_capabilities),
    _rule("capabilities-not-dropped", r"capabilit", "Containers inherit default capabilities "
          "they rarely need; drop them all and add back only what is required.",
          container=_drop_all),
    _rule("writable-root-fs", r"writable root|read ?only root", "A writable root filesystem "
          "lets an attacker replace binaries; mount emptyDir volumes where the application "
          "writes.", container=_read_only_root),
    _rule("run-as-root", r"as root|root user|run ?as ?non ?root|run ?as ?user|uid 0",
          "A process running as root makes any escape worse; the image must support a "
          "non-root user.", container=_non_root),
    _rule("host-path", r"host ?path", "A hostPath volume gives direct access to the node's "
          "filesystem; it is replaced by emptyDir (data no longer survives the pod: use a "
          "PersistentVolumeClaim if it must).", pod=_no_host_path),
    _rule("host-port", r"host ?port", "A hostPort bypasses Services and exposes the port on "
          "the node; expose it with a Service.", container=_no_host_ports),
    _rule("host-namespaces", r"host ?(network|pid|ipc)", "Sharing the host's network, PID or "
          "IPC namespace bypasses isolation and network policies.", pod=_no_host_namespaces),
    _rule("missing-limits", r"limit|request|resource", "Without requests and limits one "
          "container can starve its node; the values set are placeholders to size from real "
          "usage.", container=_limits),
    _rule("untrusted-registry", r"registr|untrusted", "The image comes from a registry that "
          "is not trusted: mirror it into a trusted registry, or add the registry to the "
          "trusted list if it is one. The image is kept unchanged."),
    _rule("latest-tag", r"latest|mutable|image tag|no tag|untagged", "A mutable tag means "
          "the running code can change without a deploy; pin a version (or a digest).",
          container=_pin_tag),
    _rule("seccomp", r"seccomp", "Without a seccomp profile every syscall is allowed; "
          "RuntimeDefault blocks the dangerous ones.", pod=_seccomp),
    _rule("service-account-token", r"automount|service ?account token", "A pod that does "
          "not call the Kubernetes API should not carry a token for it.", pod=_no_token),
    _rule("probes", r"liveness|readiness|probe", "Probes depend on the application's "
          "endpoints; add one that checks what the application really serves."),
)


def check_text(finding: SecurityFinding) -> str:
    """The finding's check and title, lower case, words separated by spaces."""
    return f"{finding.check_name} {finding.title}".lower().replace("_", " ").replace("-", " ")


def match_rule(finding: SecurityFinding) -> FixRule | None:
    """The rule for a finding's check, if the table has one."""
    text = check_text(finding)
    return next((r for r in RULES if r.pattern.search(text)), None)


def target_container(finding: SecurityFinding) -> str | None:
    """The container a finding is about, from its details, message or title."""
    named = finding.details.get("container")
    if isinstance(named, str) and named:
        return named
    for text in (finding.message, finding.description):
        found = _CONTAINER_IN_TEXT.search(text or "")
        if found:
            return found.group(1)
    found = _NAME_AFTER_COLON.search(finding.title)
    return found.group(1) if found and "/" not in finding.title else None


def skeleton(finding: SecurityFinding, container: str | None) -> Obj:
    """A minimal manifest of the finding's resource, to hold a snippet's corrected fields."""
    pod = {"containers": [{"name": container or "<container>"}]}
    kind = finding.resource_type if finding.resource_type in API_VERSIONS else "Pod"
    return {"apiVersion": API_VERSIONS[kind], "kind": kind,
            "metadata": {"name": finding.resource_name, "namespace": finding.namespace},
            "spec": pod if kind == "Pod" else {"template": {"spec": pod}}}


def apply_rule(rule: FixRule, obj: Obj, container: str | None, text: str) -> list[str]:
    """Apply a rule to ``obj`` in place; one line per change."""
    spec = pod_spec(obj)
    if spec is None:
        return []
    lines = []
    if rule.pod:
        lines += [_line("pod", e) for e in rule.pod(spec, text)]
    if rule.container:
        chosen = [c for c in containers(spec) if container in (None, c.get("name"))]
        for c in chosen or containers(spec):
            lines += [_line(f"container {c.get('name')}", e) for e in rule.container(c, text)]
    return lines


def _line(where: str, edit: Edit) -> str:
    field, before, after = edit
    return f"{where}: `{field}` {before if before is not None else '(unset)'} -> {after}"


def builtin_fix(finding: SecurityFinding) -> dict[str, Any]:
    """The table's fix: a corrected manifest (or snippet), the changes and why."""
    rule = match_rule(finding)
    container = target_container(finding)
    text = f"{finding.check_name} {finding.title}"  # as written: paths keep their case
    original = parse_manifest(finding.manifest) if finding.manifest else None
    source = clean(original) if original else skeleton(finding, container)
    fixed = clean(source)
    changes = apply_rule(rule, fixed, container, text) if rule else []
    original_text = to_yaml(source) if original else ""
    fixed_text = to_yaml(fixed) if original or changes else ""
    why = rule.explanation if rule else "No builtin fix is known for this check."
    lines = ["## Why", why, "", "## Changes Made"]
    lines += [f"{i}. {c}" for i, c in enumerate(changes, 1)] or ["None."]
    if finding.remediation:
        lines += ["", "## Scanner's Advice", finding.remediation]
    if not original and changes:
        lines += ["", "The finding carries no manifest: this is a snippet with only the "
                      "corrected fields, to merge into yours."]
    return {"original_manifest": original_text, "fixed_manifest": fixed_text,
            "explanation": "\n".join(lines), "changes": changes,
            "check": rule.id if rule else None, "is_snippet": not original}


def line_diff(original: str, fixed: str) -> list[dict[str, str]]:
    """Kure's diff: every line marked unchanged, removed or added."""
    a, b = original.splitlines(), fixed.splitlines()
    out: list[dict[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
        if tag == "equal":
            out += [{"content": line, "type": "unchanged"} for line in a[i1:i2]]
            continue
        out += [{"content": line, "type": "removed"} for line in a[i1:i2]]
        out += [{"content": line, "type": "added"} for line in b[j1:j2]]
    return out
