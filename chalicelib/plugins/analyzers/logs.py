"""Application errors in the logs of pods Kubernetes reports as healthy (k8sgpt's log
analyzer): Running and Ready containers whose recent log lines are errors, such as an
upstream host that does not resolve or a database that refuses connections. Pods that are
not healthy are left to the pod analyzer, which has a better reason for them."""

from __future__ import annotations

from chalicelib.domain.kube import Finding, SnapshotIndex
from chalicelib.domain.log_lines import telling_line
from chalicelib.plugins.analyzers._common import clip, new_finding, plural, pod_ready

NAME = "logs"
EVIDENCE_LINES = 8


def analyze(index: SnapshotIndex) -> list[Finding]:
    """One finding per healthy container with error lines in its sampled log."""
    found: list[Finding] = []
    for key, lines in sorted(index.snapshot.logs.items()):
        namespace, pod_name, container = [*key.split("/", 2), "", ""][:3]
        pod = index.get("pods", namespace, pod_name)
        if pod is None or not lines or not pod_ready(pod):
            continue
        found.append(new_finding(
            NAME, pod, "Pod", "warning", "ApplicationErrors",
            message=(f"Container {container} is Running and Ready but logged "
                     f"{plural(len(lines), 'error line')} recently, the latest being: "
                     f"{clip(telling_line(lines), 200).rstrip('.')}."),
            evidence=[f"logs[{container}]: {line}" for line in lines[-EVIDENCE_LINES:]],
            parent=index.top_owner(pod)))
    return found
