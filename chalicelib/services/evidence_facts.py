"""Turn findings and pods into evidence facts, each in the channel signatures match on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.domain.kube import Finding, Obj, SnapshotIndex, event_line, meta

if TYPE_CHECKING:
    from chalicelib.services.evidence import Evidence


def _channel(line: str) -> str:
    """Where an analyzer's evidence line belongs: its prefix says what it quotes."""
    if line.startswith("logs["):
        return "log"
    if line.startswith(("Warning ", "Normal ")):
        return "event"
    if line.startswith("spec.") or ".spec." in line[:60] or line.startswith("NetworkPolicy "):
        return "spec"
    return "state"


def finding_facts(evidence: Evidence, finding: Finding) -> None:
    """A finding's reason, message and evidence lines."""
    source = f"{finding.kind}/{finding.name}"
    evidence.add("reason", finding.reason, source)
    evidence.add("message", finding.message, source)
    for line in finding.evidence:
        channel = _channel(line)
        text = line.split("]: ", 1)[1] if channel == "log" and "]: " in line else line
        evidence.add(channel, text, source)


def pod_facts(evidence: Evidence, index: SnapshotIndex, pod: Obj) -> None:
    """A pod's phase, container states, last terminations, spec facts and events."""
    m = meta(pod)
    name, namespace = m.get("name") or "", m.get("namespace")
    source = f"Pod/{name}"
    status = pod.get("status") or {}
    if status.get("reason"):
        evidence.add("reason", status["reason"], source)
        evidence.add("message", status.get("message") or "", source)
    evidence.add("state", f"pod {name} phase={status.get('phase')}", source)
    for field in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(field) or []:
            _container_facts(evidence, field, cs, source)
    spec = pod.get("spec") or {}
    for c in spec.get("containers") or []:
        _spec_facts(evidence, c, source)
    if spec.get("nodeSelector"):
        selector = ",".join(f"{k}={v}" for k, v in spec["nodeSelector"].items())
        evidence.add("spec", f"nodeSelector {selector}", source)
    for event in index.events_for("Pod", namespace, name)[-10:]:
        evidence.add("event", event_line(event), source)


def _container_facts(evidence: Evidence, field: str, cs: Obj, source: str) -> None:
    name = cs.get("name")
    state = cs.get("state") or {}
    waiting = state.get("waiting") or {}
    if waiting.get("reason"):
        reason = waiting["reason"]
        evidence.add("reason", f"Init:{reason}" if field.startswith("init") else reason, source)
        evidence.add("message", waiting.get("message") or "", source)
        evidence.add("state", f"{field}[{name}].state.waiting: reason={reason}", source)
    for label, term in (("state", state.get("terminated")),
                        ("lastState", (cs.get("lastState") or {}).get("terminated"))):
        if term:
            evidence.add("state", f"{field}[{name}].{label}.terminated: "
                                  f"reason={term.get('reason')} exitCode={term.get('exitCode')}",
                         source)
            if term.get("reason") in ("OOMKilled", "Evicted"):
                evidence.add("reason", term["reason"], source)
            evidence.add("message", term.get("message") or "", source)


def _spec_facts(evidence: Evidence, container: Obj, source: str) -> None:
    name = container.get("name")
    limits = (container.get("resources") or {}).get("limits") or {}
    for resource, value in limits.items():
        evidence.add("spec", f"spec.containers[{name}].resources.limits.{resource}: {value}",
                     source)
    for probe in ("readinessProbe", "livenessProbe"):
        if container.get(probe):
            evidence.add("spec", f"spec.containers[{name}].{probe}: "
                                 f"{_probe_text(container[probe])}", source)
    evidence.add("spec", f"spec.containers[{name}].image: {container.get('image')}", source)


def _probe_text(probe: Obj) -> str:
    if "exec" in probe:
        return "exec " + " ".join(map(str, (probe["exec"] or {}).get("command") or []))
    if "httpGet" in probe:
        get = probe["httpGet"] or {}
        return f"httpGet {get.get('path', '/')} port={get.get('port')}"
    if "tcpSocket" in probe:
        return f"tcpSocket port={(probe['tcpSocket'] or {}).get('port')}"
    return "probe"


def node_facts(evidence: Evidence, node: Obj) -> None:
    """A node's bad conditions (Ready not True, pressures True) and whether it is cordoned."""
    name = meta(node).get("name") or ""
    for cond in (node.get("status") or {}).get("conditions") or []:
        kind, status = cond.get("type"), cond.get("status")
        bad = (kind == "Ready" and status != "True") or (kind != "Ready" and status == "True")
        if bad:
            evidence.add("state", f"node {name} {kind}={status} reason={cond.get('reason', '')}"
                                  f" {cond.get('message', '')}", f"Node/{name}")
            evidence.add("reason", kind if kind != "Ready" else "NotReady", f"Node/{name}")
    if (node.get("spec") or {}).get("unschedulable"):
        evidence.add("state", f"node {name} is cordoned (unschedulable)", f"Node/{name}")
