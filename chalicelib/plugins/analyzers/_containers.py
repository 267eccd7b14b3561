"""What is wrong with one container, from its status, its spec and the pod's events: the
container-level half of the pod analyzer, also used for control-plane pods."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from chalicelib.domain.kube import Obj, Severity, event_line
from chalicelib.plugins.analyzers._common import clip, dedupe, state_detail, state_line

IMAGE_PULL = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                        "ErrImageNeverPull", "RegistryUnavailable"})
CONFIG_ERRORS = frozenset({"CreateContainerConfigError", "CreateContainerError",
                           "RunContainerError"})
# Waiting reasons of a container that is merely on its way up.
BENIGN_WAITING = frozenset({"ContainerCreating", "PodInitializing"})
OOM_EXIT = 137


@dataclass
class Problem:
    """One cause found on a pod, before it becomes a Finding."""

    reason: str
    severity: Severity
    message: str
    evidence: list[str] = field(default_factory=list)
    container: str | None = None

    def merge(self, other: Problem) -> None:
        """Fold another container's problem with the same reason into this one."""
        self.message = f"{self.message} {other.message}"
        self.evidence = dedupe([*self.evidence, *other.evidence])
        if other.severity == "critical":
            self.severity = "critical"


@dataclass(frozen=True)
class Container:
    """A container's status with what is needed to describe it."""

    section: str  # containerStatuses or initContainerStatuses
    status: Obj
    spec: Obj
    events: list[Obj]  # the pod's events that concern this container
    pod: str = ""

    @property
    def name(self) -> str:
        """The container name."""
        return self.status.get("name") or "?"

    @property
    def label(self) -> str:
        """``Container app of pod web-1`` or ``Init container setup of pod web-1``."""
        word = "Init container" if self.section == "initContainerStatuses" else "Container"
        return f"{word} {self.name} of pod {self.pod}" if self.pod else f"{word} {self.name}"

    def line(self, which: str) -> str:
        """The evidence line of ``state`` or ``lastState``."""
        return state_line(self.section, self.name, which, self.status.get(which))

    def restarts(self) -> int:
        """How many times the kubelet restarted it."""
        return int(self.status.get("restartCount") or 0)


def events_of_container(events: list[Obj], name: str, image: str | None, only: bool) -> list[Obj]:
    """The events that concern one container: its fieldPath, its name or image in the
    message, or any event when it is the pod's only container."""
    pattern = re.compile(rf'container "?{re.escape(name)}"?(?:\s|$|,|:)')
    quoted_image = f'"{image}"' if image else None
    found = []
    for event in events:
        path = (event.get("involvedObject") or {}).get("fieldPath") or ""
        text = event.get("message") or ""
        if path:
            if "{" + name + "}" in path:
                found.append(event)
        elif pattern.search(text) or (quoted_image and quoted_image in text) or only:
            found.append(event)
    return found


def last_termination(status: Obj) -> tuple[str, Obj] | None:
    """``("state", terminated)`` if terminated now, else ``("lastState", terminated)``."""
    for which in ("state", "lastState"):
        term = (status.get(which) or {}).get("terminated")
        if term:
            return which, term
    return None


def describe_exit(term: Obj) -> str:
    """``terminated with reason=Error exitCode=1: <message>`` in words."""
    text = f"terminated with {state_detail(term, with_message=False)}"
    if str(term.get("exitCode")) == "0":
        text += " (the process ended on its own)"
    if term.get("message"):
        text += f': "{clip(term["message"], 240)}"'
    return text


def _is_oom(term: Obj | None) -> bool:
    return bool(term) and term.get("reason") == "OOMKilled"


def _backoff_lines(c: Container) -> list[str]:
    return [event_line(e) for e in c.events if e.get("reason") == "BackOff"][-1:]


def image_pull(c: Container, reason: str, waiting: Obj) -> Problem:
    """The image of a container cannot be pulled."""
    image = c.spec.get("image") or c.status.get("image") or "?"
    failed = [e for e in c.events if e.get("reason") in ("Failed", "ErrImagePull",
                                                         "InspectFailed")]
    detail = next((e.get("message") for e in reversed(failed)
                   if "Error: " not in (e.get("message") or "")[:7]), None)
    detail = detail or waiting.get("message")
    message = f'{c.label} cannot pull image "{image}" ({reason})'
    message += f": {clip(detail)}." if detail else "."
    pull_events = [e for e in c.events if e.get("reason") in ("Failed", "BackOff", "ErrImagePull",
                                                              "InspectFailed")]
    return Problem(reason, "critical", message,
                   [c.line("state"), *(event_line(e) for e in pull_events[-4:])], c.name)


def config_error(c: Container, reason: str, waiting: Obj) -> Problem:
    """The kubelet cannot create the container from its spec (missing key, bad mount...)."""
    failed = [e for e in c.events if e.get("reason") == "Failed"]
    detail = waiting.get("message") or (failed[-1].get("message") if failed else None)
    message = f"{c.label} cannot be created ({reason})"
    message += f": {clip(detail, 300)}." if detail else "."
    return Problem(reason, "critical", message,
                   [c.line("state"), *(event_line(e) for e in failed[-2:])], c.name)


def oom_killed(c: Container, which: str, term: Obj) -> Problem:
    """The kernel killed the container for exceeding its memory limit."""
    limit = ((c.spec.get("resources") or {}).get("limits") or {}).get("memory")
    waiting = (c.status.get("state") or {}).get("waiting") or {}
    message = f"{c.label} was OOMKilled (exit code {term.get('exitCode', OOM_EXIT)})"
    message += f" against its memory limit of {limit}" if limit else \
        " with no memory limit set (the node ran out of memory)"
    crash_looping = waiting.get("reason") == "CrashLoopBackOff"
    if crash_looping:
        message += f" and is in CrashLoopBackOff after {plural_restarts(c.restarts())}"
    elif which == "lastState":
        message += f"; it has restarted {plural_restarts(c.restarts())} since"
    evidence = [c.line("state"), c.line("lastState"), f"{c.section}[{c.name}].restartCount: "
                f"{c.restarts()}"]
    if limit:
        evidence.append(f"spec.containers[{c.name}].resources.limits.memory: {limit}")
    severity: Severity = "critical" if crash_looping or which == "state" else "warning"
    return Problem("OOMKilled", severity, message + ".", [*evidence, *_backoff_lines(c)], c.name)


def plural_restarts(count: int) -> str:
    """``1 restart`` / ``6 restarts``."""
    return f"{count} restart" if count == 1 else f"{count} restarts"


def crash_loop(c: Container) -> Problem:
    """The container keeps exiting and the kubelet backs off restarting it."""
    found = last_termination(c.status)
    message = f"{c.label} is in CrashLoopBackOff after {plural_restarts(c.restarts())}"
    if found:
        message += f"; its last run {describe_exit(found[1])}"
    evidence = [c.line("state"), c.line("lastState"),
                f"{c.section}[{c.name}].restartCount: {c.restarts()}", *_backoff_lines(c)]
    return Problem("CrashLoopBackOff", "critical", message + ".", evidence, c.name)


def exited(c: Container, term: Obj) -> Problem:
    """The container terminated with a non-zero exit code and is not running."""
    restarts = c.restarts()
    reason = "CrashLoopBackOff" if restarts else "ContainerFailed"
    message = f"{c.label} {describe_exit(term)}"
    if restarts:
        message += f" and has restarted {plural_restarts(restarts)}"
    evidence = [c.line("state"), c.line("lastState"),
                f"{c.section}[{c.name}].restartCount: {restarts}", *_backoff_lines(c)]
    return Problem(reason, "critical", message + ".", evidence, c.name)


def classify(c: Container, *, generic: bool = True) -> Problem | None:
    """The one cause a container shows, most specific first (an OOM kill explains a crash
    loop, so a crash-looping OOMKilled container is reported as OOMKilled). ``generic``
    False leaves out crash loops and exits (pods of a failed Job)."""
    state = c.status.get("state") or {}
    waiting = state.get("waiting") or {}
    reason = waiting.get("reason") or ""
    if reason in IMAGE_PULL:
        return image_pull(c, reason, waiting)
    if reason in CONFIG_ERRORS:
        return config_error(c, reason, waiting)
    term = state.get("terminated")
    last = (c.status.get("lastState") or {}).get("terminated")
    if _is_oom(term) or (_is_oom(last) and not term):
        which, oom = ("state", term) if _is_oom(term) else ("lastState", last)
        return oom_killed(c, which, oom or {})
    return _generic(c, reason, term) if generic else None


def _generic(c: Container, reason: str, term: Obj | None) -> Problem | None:
    if reason == "CrashLoopBackOff":
        return crash_loop(c)
    if term and str(term.get("exitCode", 0)) != "0":
        return exited(c, term)
    return None
