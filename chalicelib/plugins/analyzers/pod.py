"""Pods: crash loops, OOM kills, image pulls, config errors, scheduling, evictions, probes,
init containers and volume mounts, one finding per cause with the status lines and events
that show it."""

from __future__ import annotations

import re
from collections.abc import Iterable

from chalicelib.domain.kube import Finding, Obj, SnapshotIndex, event_line, meta
from chalicelib.plugins.analyzers._common import (
    clip,
    condition,
    condition_line,
    control_plane_component,
    format_labels,
    listed,
    new_finding,
    pod_ready,
)
from chalicelib.plugins.analyzers._containers import (
    IMAGE_PULL,
    Container,
    Problem,
    classify,
    describe_exit,
    events_of_container,
    last_termination,
)

NAME = "pod"
PROBE_PREFIX = re.compile(r"^(Readiness|Liveness|Startup) probe (?:failed|errored):?\s*(.*)$",
                          re.DOTALL)
INSUFFICIENT = re.compile(r"Insufficient ([\w./-]*\w)")
# Reasons a container-level problem takes when the container is an init container.
INIT_KEEPS = IMAGE_PULL | {"OOMKilled"}


def analyze(index: SnapshotIndex) -> list[Finding]:
    """Every pod's problems, one finding per (pod, cause)."""
    failed_jobs = _failed_jobs(index)
    found: list[Finding] = []
    for pod in index.items("pods"):
        if control_plane_component(pod) is None:  # the control_plane analyzer owns those
            found.extend(pod_findings(index, pod, failed_jobs))
    return found


def _failed_jobs(index: SnapshotIndex) -> set[tuple[str, str]]:
    failed = set()
    for job in index.items("jobs"):
        cond = condition(job, "Failed")
        if cond and cond.get("status") == "True":
            failed.add((meta(job).get("namespace") or "", meta(job).get("name") or ""))
    return failed


def pod_findings(index: SnapshotIndex, pod: Obj,
                 failed_jobs: set[tuple[str, str]]) -> list[Finding]:
    """The findings of one pod."""
    status = pod.get("status") or {}
    phase = status.get("phase")
    if phase == "Succeeded":
        return []
    ns, name = meta(pod).get("namespace") or "", meta(pod).get("name") or ""
    events = index.events_for("Pod", ns, name)
    if not events and _quiet(status):
        return []
    owner = index.owner(pod) or {}
    # A failed Job's pods are the Job's story (job analyzer); OOM and pull errors stay here.
    job_pod = owner.get("kind") == "Job" and (phase == "Failed"
                                              or (ns, owner.get("name")) in failed_jobs)
    if status.get("reason") == "Evicted":
        problems = [_evicted(pod, events)]
    else:
        problems = _problems(index, pod, events, generic=not job_pod)
        if not problems and phase == "Failed" and not job_pod:
            problems = [_pod_failed(pod)]
    parent = index.top_owner(pod) if problems else None
    return [new_finding(NAME, pod, "Pod", p.severity, p.reason, message=p.message,
                        evidence=p.evidence, parent=parent) for p in problems]


def _quiet(status: Obj) -> bool:
    """A Running pod whose containers all run and were never OOMKilled: without events
    nothing else could be wrong with it (the common case, checked first for speed)."""
    if status.get("phase") != "Running":
        return False
    for cs in status.get("containerStatuses") or []:
        last = (cs.get("lastState") or {}).get("terminated") or {}
        if "running" not in (cs.get("state") or {}) or last.get("reason") == "OOMKilled":
            return False
    for cs in status.get("initContainerStatuses") or []:
        state = cs.get("state") or {}
        done = str((state.get("terminated") or {}).get("exitCode", 1)) == "0"
        if not done and "running" not in state:
            return False
    return True


def _problems(index: SnapshotIndex, pod: Obj, events: list[Obj], *,
              generic: bool) -> list[Problem]:
    found: dict[str, Problem] = {}
    problems: list[Problem | None] = [_unschedulable(index, pod, events)]
    by_container: dict[str, Problem] = {}
    for c in _containers(pod, events):
        problem = classify(c, generic=generic)
        if problem and c.section == "initContainerStatuses":
            problem = _as_init(c, problem, pod)
        if problem:
            by_container[c.name] = problem
    problems.extend(_probe_problems(pod, events, by_container))
    problems.extend(by_container.values())
    problems.append(_failed_mount(pod, events))
    for problem in problems:
        if problem is None:
            continue
        if problem.reason in found:
            found[problem.reason].merge(problem)
        else:
            found[problem.reason] = problem
    return list(found.values())


def _containers(pod: Obj, events: list[Obj]) -> Iterable[Container]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    specs = {c.get("name"): c for c in [*(spec.get("initContainers") or []),
                                       *(spec.get("containers") or [])]}
    only = len(specs) <= 1
    for section in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(section) or []:
            c_spec = specs.get(cs.get("name")) or {}
            mine = events_of_container(events, cs.get("name") or "?",
                                       c_spec.get("image") or cs.get("image"), only)
            yield Container(section, cs, c_spec, mine, meta(pod).get("name") or "")


def _as_init(c: Container, problem: Problem, pod: Obj) -> Problem:
    if problem.reason in INIT_KEEPS:
        return problem
    main = [cs.get("name") for cs in (pod.get("status") or {}).get("containerStatuses") or []]
    blocked = f"; the main containers ({', '.join(main)}) cannot start until it succeeds" \
        if main else ""
    message = problem.message.rstrip(".") + blocked + "."
    return Problem("InitContainerFailing", "critical", message, problem.evidence, c.name)


def _evicted(pod: Obj, events: list[Obj]) -> Problem:
    status = pod.get("status") or {}
    why = clip(status.get("message"), 300) or "no message"
    node = (pod.get("spec") or {}).get("nodeName")
    where = f" from node {node}" if node else ""
    evidence = [f"status.phase: {status.get('phase')}", "status.reason: Evicted",
                f"status.message: {why}",
                *(event_line(e) for e in events if e.get("reason") == "Evicted")]
    message = f"Pod {meta(pod).get('name')} was evicted{where}: {why}"
    return Problem("Evicted", "warning", message.rstrip(".") + ".", evidence)


def _pod_failed(pod: Obj) -> Problem:
    status = pod.get("status") or {}
    exits = []
    evidence = ["status.phase: Failed"]
    for cs in status.get("containerStatuses") or []:
        term = last_termination(cs)
        if term:
            exits.append(f"container {cs.get('name')} {describe_exit(term[1])}")
            evidence.append(Container("containerStatuses", cs, {}, []).line(term[0]))
    why = "; ".join(exits) or clip(status.get("message") or status.get("reason") or
                                   "no container status recorded")
    return Problem("PodFailed", "warning", f"Pod {meta(pod).get('name')} failed: {why}.",
                   evidence)


def _unschedulable(index: SnapshotIndex, pod: Obj, events: list[Obj]) -> Problem | None:
    status, spec = pod.get("status") or {}, pod.get("spec") or {}
    if status.get("phase") != "Pending":
        return None
    cond = condition(pod, "PodScheduled")
    if cond is not None and cond.get("status") == "True":
        return None
    failed = [e for e in events if e.get("reason") == "FailedScheduling"]
    if not failed and (cond is None or cond.get("reason") != "Unschedulable"):
        return None
    text = (failed[-1].get("message") if failed else None) or (cond or {}).get("message") or ""
    message = f'Pod {meta(pod).get("name")} cannot be scheduled: the scheduler reports ' \
              f'"{clip(text)}"'
    details = _scheduling_details(index, spec, text)
    if details:
        message += f" ({'; '.join(details)})"
    evidence = [condition_line(cond) if cond else "", *(event_line(e) for e in failed[-2:])]
    return Problem("Unschedulable", "critical", message + ".", evidence)


def _scheduling_details(index: SnapshotIndex, spec: Obj, text: str) -> list[str]:
    details = []
    for resource in dict.fromkeys(INSUFFICIENT.findall(text)):
        asks = [f"{c.get('name')} requests {resource}={_request(c, resource)}"
                for c in spec.get("containers") or [] if _request(c, resource)]
        details.extend(asks)
    selector = spec.get("nodeSelector")
    if selector and ("selector" in text or "affinity" in text):
        detail = f"nodeSelector {format_labels(selector)}"
        if listed(index, "nodes"):
            nodes = index.items("nodes")
            matching = sum(all((meta(n).get("labels") or {}).get(k) == v
                               for k, v in selector.items()) for n in nodes)
            detail += f" matches {matching} of {len(nodes)} nodes"
        details.append(detail)
    if "PersistentVolumeClaim" in text or "persistentvolumeclaim" in text:
        claims = [(v.get("persistentVolumeClaim") or {}).get("claimName")
                  for v in spec.get("volumes") or [] if v.get("persistentVolumeClaim")]
        if claims:
            details.append(f"it mounts PersistentVolumeClaim {', '.join(claims)}")
    return details


def _request(container: Obj, resource: str) -> str | None:
    resources = container.get("resources") or {}
    return (resources.get("requests") or {}).get(resource) or \
        (resources.get("limits") or {}).get(resource)


def _probe_problems(pod: Obj, events: list[Obj],
                    by_container: dict[str, Problem]) -> list[Problem]:
    containers = {c.get("name"): c for c in (pod.get("spec") or {}).get("containers") or []}
    grouped: dict[tuple[str, str], list[Obj]] = {}
    for event in events:
        match = PROBE_PREFIX.match((event.get("message") or "").strip())
        if event.get("reason") != "Unhealthy" or not match:
            continue
        container = _event_container(event, containers)
        grouped.setdefault((match.group(1), container), []).append(event)
    found = []
    for (kind, container), probe_events in grouped.items():
        problem = _probe(pod, kind, container, containers.get(container) or {}, probe_events)
        crash = by_container.get(container)
        if kind != "Liveness" and crash:
            continue  # a container that crashes or cannot start is not ready: same cause
        if problem and kind == "Liveness" and crash and crash.reason in (
                "CrashLoopBackOff", "ContainerFailed"):
            # The liveness probe is why it restarts: one cause, not two.
            del by_container[container]
            problem.message = problem.message.rstrip(".") + f"; as a result: {crash.message}"
            problem.evidence.extend(crash.evidence)
        if problem:
            found.append(problem)
    return found


def _event_container(event: Obj, containers: dict[str, Obj]) -> str:
    path = (event.get("involvedObject") or {}).get("fieldPath") or ""
    match = re.search(r"\{([^}]+)\}", path)
    if match:
        return match.group(1)
    return next(iter(containers)) if len(containers) == 1 else "?"


def _probe(pod: Obj, kind: str, container: str, spec: Obj,
           events: list[Obj]) -> Problem | None:
    ready = pod_ready(pod)
    if kind == "Readiness" and ready:
        return None  # failures are over: the pod is Ready now
    last = events[-1]
    output = PROBE_PREFIX.match((last.get("message") or "").strip())
    said = clip(output.group(2) if output else "", 240)
    total = sum(int(e.get("count") or 1) for e in events)
    probe = _describe_probe(spec.get(f"{kind.lower()}Probe"))
    message = f"{kind} probe of container {container} in pod {meta(pod).get('name')} " \
              f"failed {total} time(s)"
    message += f" ({probe})" if probe else ""
    message += f' with output "{said}"' if said else " with no output"
    if kind == "Readiness":
        message += "; the pod is not Ready, so Services send it no traffic"
    elif kind == "Liveness":
        message += "; the kubelet kills and restarts the container each time it fails"
    evidence = [condition_line(condition(pod, "Ready") or {"type": "Ready",
                                                           "status": str(ready)}),
                *(event_line(e) for e in events[-3:])]
    if probe:
        evidence.append(f"spec.containers[{container}].{kind.lower()}Probe: {probe}")
    severity = "critical" if not ready else "warning"
    return Problem(f"{kind}ProbeFailed", severity, message + ".", evidence, container)


def _describe_probe(probe: Obj | None) -> str:
    if not probe:
        return ""
    if probe.get("exec"):
        what = f"exec [{' '.join(str(a) for a in probe['exec'].get('command') or [])}]"
    elif probe.get("httpGet"):
        http = probe["httpGet"]
        what = f"httpGet {http.get('path', '/')} on port {http.get('port')}"
    elif probe.get("tcpSocket"):
        what = f"tcpSocket port {probe['tcpSocket'].get('port')}"
    elif probe.get("grpc"):
        what = f"grpc port {probe['grpc'].get('port')}"
    else:
        return ""
    timing = [f"{k}={probe[k]}" for k in ("initialDelaySeconds", "periodSeconds",
                                          "timeoutSeconds", "failureThreshold") if k in probe]
    return f"{what} {' '.join(timing)}".strip()


def _failed_mount(pod: Obj, events: list[Obj]) -> Problem | None:
    mounts = [e for e in events if e.get("reason") in ("FailedMount", "FailedAttachVolume")]
    if not mounts or _all_running(pod):
        return None  # mount errors that were followed by running containers are history
    text = clip(mounts[-1].get("message"), 300)
    message = f"Volumes of pod {meta(pod).get('name')} cannot be mounted, so its containers " \
              f"cannot start: {text}."
    return Problem("FailedMount", "critical", message, [event_line(e) for e in mounts[-3:]])


def _all_running(pod: Obj) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and all((cs.get("state") or {}).get("running") for cs in statuses)

