"""Gather the evidence for a diagnosis: the subject, its findings and what links to them,
its status, events, node, spec facts, and the last log lines of the failing container and
of its previous run, all as redacted :class:`Fact` lines.

Reads a stored snapshot and, when a client is given, the live logs through the same
:class:`ClusterClient` port the cluster path uses (the eval serves case files through it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.cluster_ports import ClusterClient
from chalicelib.domain.diagnosis import Fact, Subject
from chalicelib.domain.errors import NotFound
from chalicelib.domain.kube import Finding, Obj, Snapshot, SnapshotIndex, event_line, meta
from chalicelib.domain.quantity import parse_quantity
from chalicelib.domain.redaction import redact, secret_env_names
from chalicelib.services.evidence_facts import finding_facts, node_facts, pod_facts

MAX_FACTS = 160
# Kubelet pull and mount errors put the telling part at the end of long messages.
MAX_LINE = 1000
MIN_RESTARTS = 3
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
LOG_TAIL = 50
INFRA_KINDS = ("Service", "NetworkPolicy", "PersistentVolumeClaim", "Ingress")
WORKLOAD_PLURALS = {"deployment": "deployments", "statefulset": "statefulsets",
                    "daemonset": "daemonsets", "job": "jobs", "cronjob": "cronjobs"}


@dataclass(frozen=True)
class SubjectHint:
    """What an incident or a request says the problem is about (all optional, untrusted)."""

    pod: str | None = None
    namespace: str | None = None
    workload: str | None = None
    workload_kind: str | None = None
    node: str | None = None
    service: str | None = None
    # Any other object by kind and name (a PersistentVolumeClaim, an Ingress ...).
    kind: str | None = None
    name: str | None = None


@dataclass
class Evidence:
    """Everything a provider may look at, already redacted."""

    subject: Subject
    facts: list[Fact] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=dict)
    k8s_context: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Env vars the subject's pods take from Secrets: their values are redacted wherever seen.
    secret_names: set[str] = field(default_factory=set)

    def add(self, channel: str, text: str, source: str = "") -> None:
        """Add a fact once (redacted, on one line, cut to MAX_LINE characters)."""
        line = redact(" ".join(str(text).split()), self.secret_names)[:MAX_LINE]
        if not line or len(self.facts) >= MAX_FACTS:
            return
        fact = Fact(channel=channel, text=line, source=source)  # type: ignore[arg-type]
        if fact not in self.facts:
            self.facts.append(fact)


def collect(snapshot: Snapshot | None, findings: list[Finding], hint: SubjectHint, *,
            client: ClusterClient | None = None, cluster_id: str | None = None,
            cluster_name: str | None = None, log_limit: int = LOG_TAIL) -> Evidence:
    """The evidence about what ``hint`` names (or, without a hint, the most severe finding)."""
    subject = Subject(cluster_id=cluster_id, cluster_name=cluster_name)
    if snapshot is None:
        return Evidence(subject=subject)
    index = SnapshotIndex(snapshot)
    obj, subject = _resolve(index, findings, hint, subject)
    evidence = Evidence(subject=subject)
    pods = _subject_pods(index, obj, subject)
    for pod in pods:
        evidence.secret_names |= secret_env_names(pod.get("spec") or {})
    own = _own_findings(findings, subject, pods)
    related = _linked_findings(index, findings, own, pods, snapshot)
    evidence.findings = own + [f for f in related if f not in own]
    for finding in evidence.findings:
        finding_facts(evidence, finding)
    for pod in pods[:3]:
        pod_facts(evidence, index, pod)
    _node_of(evidence, index, obj, pods)
    _own_events(evidence, index, obj)
    _snapshot_logs(evidence, snapshot, pods)
    if client is not None and pods:
        _live_logs(evidence, client, pods[0], log_limit)
    _context(evidence, index, obj, pods)
    return evidence


# --- the subject ----------------------------------------------------------------------------
def _resolve(index: SnapshotIndex, findings: list[Finding], hint: SubjectHint,
             base: Subject) -> tuple[Obj | None, Subject]:
    found = _from_hint(index, hint)
    if found is not None:
        plural, obj = found
        return obj, _subject(base, _kind_of(plural), obj)
    ns = hint.namespace
    scoped = sorted((f for f in findings if not ns or f.namespace in (ns, None)),
                    key=_subject_rank)
    if scoped:
        top = scoped[0]
        plural = _plural_of(top.kind)
        obj = index.get(plural, top.namespace, top.name) if plural else None
        subject = base.model_copy(update={"kind": _subject_kind(top.kind), "name": top.name,
                                          "namespace": top.namespace})
        return obj, subject
    restarted = _most_restarted(index, ns)
    if restarted is not None:
        return restarted, _subject(base, "Pod", restarted)
    if ns:
        return None, base.model_copy(update={"kind": "Namespace", "name": ns, "namespace": ns})
    return None, base.model_copy(update={"kind": "Cluster"})


def _subject_rank(finding: Finding) -> tuple[int, int]:
    """Most severe first; error lines in a healthy pod's log are the weakest signal."""
    return SEVERITY_RANK.get(finding.severity, 3), int(finding.reason == "ApplicationErrors")


def _most_restarted(index: SnapshotIndex, namespace: str | None) -> Obj | None:
    """Without findings, the pod that restarts most (it looks fine between crashes)."""
    pods = [p for p in index.items("pods")
            if not namespace or meta(p).get("namespace") == namespace]
    best = max(pods, key=lambda p: _trouble(p)[1], default=None)
    return best if best is not None and _trouble(best)[1] >= MIN_RESTARTS else None


def _from_hint(index: SnapshotIndex, hint: SubjectHint) -> tuple[str, Obj] | None:
    """The object the hint names, most specific first: pod, workload, node, service."""
    wanted: list[tuple[str, str | None, str]] = []
    if hint.pod:
        wanted.append(("pods", hint.namespace, hint.pod))
    if hint.workload:
        wanted += [(p, hint.namespace, hint.workload)
                   for p in _workload_plurals(hint.workload_kind)]
    if hint.node:
        wanted.append(("nodes", None, hint.node))
    if hint.service:
        wanted.append(("services", hint.namespace, hint.service))
    plural = _plural_of(hint.kind or "")
    if plural and hint.name:
        wanted.append((plural, None if plural == "nodes" else hint.namespace, hint.name))
    for plural, ns, name in wanted:
        obj = index.get(plural, ns, name) if ns or plural == "nodes" \
            else _by_name(index, plural, name)
        if obj is not None:
            return plural, obj
    return None


def _subject(base: Subject, kind: str, obj: Obj) -> Subject:
    m = meta(obj)
    return base.model_copy(update={"kind": _subject_kind(kind), "name": m.get("name"),
                                   "namespace": m.get("namespace")})


def _subject_kind(kind: str) -> str:
    allowed = Subject.model_fields["kind"].annotation.__args__  # type: ignore[union-attr]
    return kind if kind in allowed else "Cluster"


def _by_name(index: SnapshotIndex, plural: str, name: str) -> Obj | None:
    return next((o for o in index.items(plural) if meta(o).get("name") == name), None)


def _workload_plurals(kind: str | None) -> list[str]:
    wanted = WORKLOAD_PLURALS.get((kind or "").lower())
    return [wanted] if wanted else list(WORKLOAD_PLURALS.values())


def _kind_of(plural: str) -> str:
    return {v: k for k, v in _PLURALS.items()}[plural]


_PLURALS = {"Pod": "pods", "Node": "nodes", "Service": "services", "Job": "jobs",
            "Deployment": "deployments", "StatefulSet": "statefulsets",
            "DaemonSet": "daemonsets", "CronJob": "cronjobs",
            "PersistentVolumeClaim": "persistentvolumeclaims",
            "NetworkPolicy": "networkpolicies", "Ingress": "ingresses"}


def _plural_of(kind: str) -> str | None:
    return _PLURALS.get(kind)


def _subject_pods(index: SnapshotIndex, obj: Obj | None, subject: Subject) -> list[Obj]:
    """The pods the subject is about, the most troubled first."""
    if obj is None:
        return []
    if subject.kind == "Pod":
        return [obj]
    if subject.kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"):
        pods = [p for p in index.pods_in(subject.namespace or "")
                if subject.name in ((index.top_owner(p) or {}).get("name"),
                                    (index.owner(p) or {}).get("name"))]
        return sorted(pods, key=_trouble, reverse=True)
    return []


def _statuses(status: Obj) -> list[Obj]:
    return [*(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or [])]


def _trouble(pod: Obj) -> tuple[int, int]:
    statuses = _statuses(pod.get("status") or {})
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    not_ready = sum(1 for s in statuses if not s.get("ready"))
    return not_ready, restarts


def _own_findings(findings: list[Finding], subject: Subject, pods: list[Obj]) -> list[Finding]:
    pod_names = {meta(p).get("name") for p in pods}
    own = []
    for f in findings:
        same = f.kind == subject.kind and f.name == subject.name \
            and (f.namespace or None) == (subject.namespace or None)
        mine = f.kind == "Pod" and f.name in pod_names and f.namespace == subject.namespace
        child = (f.parent or {}).get("name") == subject.name and f.namespace == subject.namespace
        if same or mine or child:
            own.append(f)
    return own


def _linked_findings(index: SnapshotIndex, findings: list[Finding], own: list[Finding],
                     pods: list[Obj], snapshot: Snapshot) -> list[Finding]:
    """Infrastructure findings that touch the subject: they select its pods, its pods mount
    them, or its evidence names them. Other failing pods stay out: they are other problems."""
    if not own and not pods:
        return []
    namespace = own[0].namespace if own else meta(pods[0]).get("namespace")
    text = " ".join(line for f in own for line in [f.message, *f.evidence])
    text += " ".join(line for key, lines in snapshot.logs.items()
                     for line in lines if key.split("/")[1:2] in
                     [[meta(p).get("name")] for p in pods])
    pod_names = {meta(p).get("name") for p in pods}
    nodes = {(p.get("spec") or {}).get("nodeName") for p in pods}
    linked = []
    for f in findings:
        if f in own:
            continue
        infra = f.kind in INFRA_KINDS and f.namespace == namespace
        if (f.kind == "Node" and f.name in nodes) or f.analyzer == "control_plane" or (
                infra and _mentions(text, f, pod_names)):
            linked.append(f)
    return linked


def _mentions(text: str, finding: Finding, pod_names: set[str]) -> bool:
    """The subject's evidence names the object, or the object's evidence names a pod."""
    if re.search(rf"\b{re.escape(finding.name)}\b", text):
        return True
    own = " ".join([*finding.evidence, finding.message])
    return any(re.search(rf"\b{re.escape(n)}\b", own) for n in pod_names if n)


def _own_events(evidence: Evidence, index: SnapshotIndex, obj: Obj | None) -> None:
    """Events of a subject that is not a pod (pods' events come with the pod facts)."""
    s = evidence.subject
    if obj is None or s.kind in ("Pod", "Node"):
        return
    for event in index.events_for(s.kind, s.namespace, s.name or "")[-8:]:
        evidence.add("event", event_line(event), f"{s.kind}/{s.name}")
    # A controller that cannot create pods says why on its ReplicaSet's or Job's events.
    child_plural, child_kind = ("jobs", "Job") if s.kind == "CronJob" else \
        ("replicasets", "ReplicaSet")
    for child in index.items(child_plural):
        owner = index.owner(child) or {}
        if meta(child).get("namespace") == s.namespace and owner.get("name") == s.name:
            name = meta(child).get("name") or ""
            for event in index.events_for(child_kind, s.namespace, name)[-4:]:
                if event.get("type") == "Warning":
                    evidence.add("event", event_line(event), f"{child_kind}/{name}")


def _node_of(evidence: Evidence, index: SnapshotIndex, obj: Obj | None,
             pods: list[Obj]) -> None:
    """The conditions of the subject node, or of the node the subject pod runs on."""
    if evidence.subject.kind == "Node" and obj is not None:
        node_facts(evidence, obj)
    elif pods:
        node = (pods[0].get("spec") or {}).get("nodeName")
        node_obj = index.get("nodes", None, node) if node else None
        if node_obj is not None:
            node_facts(evidence, node_obj)


# --- facts ----------------------------------------------------------------------------------
def _snapshot_logs(evidence: Evidence, snapshot: Snapshot, pods: list[Obj]) -> None:
    for pod in pods[:3]:
        prefix = f"{meta(pod).get('namespace')}/{meta(pod).get('name')}/"
        for key, lines in snapshot.logs.items():
            if key.startswith(prefix):
                for line in lines[-10:]:
                    evidence.add("log", line, f"log {key}")


def _live_logs(evidence: Evidence, client: ClusterClient, pod: Obj, limit: int) -> None:
    """The last lines of the failing container, and of its previous run if it restarted."""
    m = meta(pod)
    status = pod.get("status") or {}
    statuses = _statuses(status)
    failing = [s for s in statuses if not s.get("ready")] or statuses
    for cs in failing[:2]:
        container = cs.get("name")
        runs = [False] + ([True] if int(cs.get("restartCount") or 0) > 0 else [])
        for previous in runs:
            try:
                text = client.pod_log(m.get("namespace") or "default", m.get("name") or "",
                                      container=container, tail_lines=limit, previous=previous)
            except NotFound:
                continue  # no previous run kept, or the container never started
            except Exception as exc:  # a log we cannot read is a gap, not a failure
                evidence.warnings.append(f"could not read the {'previous ' if previous else ''}"
                                         f"log of {m.get('name')}/{container}: {exc}"[:300])
                continue
            lines = [redact(" ".join(x.split()), evidence.secret_names)[:400]
                     for x in text.splitlines() if x.strip()]
            where = f"log {m.get('name')}/{container}{' (previous run)' if previous else ''}"
            for line in lines[-limit:]:
                evidence.add("log", line, where)
            evidence.log_lines.extend(lines[-limit:])


def _context(evidence: Evidence, index: SnapshotIndex, obj: Obj | None,
             pods: list[Obj]) -> None:
    """Values the knowledge base's templates and the actions' arguments are filled from."""
    s = evidence.subject
    ctx: dict[str, str] = {"namespace": s.namespace or "", "subject": s.label}
    kind_key = {"Pod": "pod", "Node": "node", "Service": "service", "Job": "job"}.get(s.kind)
    if kind_key and s.name:
        ctx[kind_key] = s.name
    if s.kind in ("Deployment", "StatefulSet", "DaemonSet", "CronJob"):
        ctx.update(workload=s.name or "", workload_kind=s.kind.lower())
    if pods:
        pod = pods[0]
        ctx.setdefault("pod", meta(pod).get("name") or "")
        ctx.setdefault("node", (pod.get("spec") or {}).get("nodeName") or "")
        top = index.top_owner(pod)
        if top and "workload" not in ctx:
            ctx.update(workload=top.get("name") or "", workload_kind=str(top.get("kind")).lower())
            if top.get("kind") == "Job":
                ctx.setdefault("job", top.get("name") or "")
        _container_context(ctx, evidence, pod)
    evidence.context = {k: v for k, v in ctx.items() if v}


def _container_context(ctx: dict[str, str], evidence: Evidence, pod: Obj) -> None:
    status = pod.get("status") or {}
    statuses = _statuses(status)
    bad = next((c for c in statuses if not c.get("ready") and (
        c.get("restartCount") or (c.get("state") or {}).get("waiting"))), None) \
        or next((c for c in statuses if not c.get("ready")), None) \
        or (statuses[0] if statuses else None)
    if bad is None:
        return
    ctx["container"] = bad.get("name") or ""
    ctx["image"] = bad.get("image") or ""
    state = bad.get("state") or {}
    last = (bad.get("lastState") or {}).get("terminated") or state.get("terminated") or {}
    waiting = state.get("waiting") or {}
    evidence.k8s_context = {
        "pod_status": waiting.get("reason") or status.get("reason") or status.get("phase"),
        "restart_count": int(bad.get("restartCount") or 0),
        "last_termination_reason": last.get("reason"),
        "last_exit_code": last.get("exitCode"),
        "container": bad.get("name"),
        "node": (pod.get("spec") or {}).get("nodeName"),
    }
    if last.get("exitCode") is not None:
        ctx["exit_code"] = str(last.get("exitCode"))
    spec = next((c for c in (pod.get("spec") or {}).get("containers") or []
                 if c.get("name") == bad.get("name")), {})
    limit = ((spec.get("resources") or {}).get("limits") or {}).get("memory")
    if limit:
        ctx["memory_limit"] = str(limit)
        ctx["suggested_memory"] = _double(str(limit))


def _double(quantity: str) -> str:
    """Twice a memory quantity, in Mi (at least 128Mi): a first step, not a sizing."""
    value = parse_quantity(quantity)
    if not value:
        return "<memory>"
    mib = value / (1024 * 1024)
    return f"{max(128, int(mib * 2))}Mi"
