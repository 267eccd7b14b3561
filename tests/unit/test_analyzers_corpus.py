"""The analyzers over the shared Kubernetes failure corpus: each case's failing object is
found with the right reason, every finding carries its evidence, and healthy objects stay
quiet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.kube import Finding, Snapshot, SnapshotIndex, meta
from chalicelib.plugins.analyzers import ANALYZERS, analyze

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "k8s"
CASES = sorted(CORPUS.glob("*.json")) if CORPUS.is_dir() else []
pytestmark = pytest.mark.skipif(not CASES, reason=f"k8s corpus not found at {CORPUS}")

IMAGE_PULL = "ErrImagePull|ImagePullBackOff"
# Per case: (kind, name, reason) of every finding; "a|b" accepts either reason. Where the
# objects look healthy, the error lines of the sampled logs are the finding.
EXPECTED: dict[str, set[tuple[str, str, str]]] = {
    "hg-app-errors-bad-upstream-host-in-configmap": {
        ("Pod", "meme-deployment-74db7bc95c-m68w2", "ApplicationErrors")},
    "hg-crashloop-expired-ssl-cert": {
        ("Pod", "db-certs-authenticator-757f89d977-795x7", "CrashLoopBackOff")},
    "hg-crashloop-missing-env-var": {
        ("Pod", "payment-processing-worker-747ccfb9db-pd6wz", "CrashLoopBackOff")},
    "hg-dns-failure-deny-egress-networkpolicy": {
        ("NetworkPolicy", "default-deny-egress", "EgressBlocksDNS"),
        ("Pod", "client", "ApplicationErrors")},
    "hg-imagepull-nonexistent-repo": {
        ("Pod", "customer-relations-webapp-5d98ffcfd-tz4nc", IMAGE_PULL)},
    "hg-init-container-command-typo": {("Pod", "logging-agent", "InitContainerFailing")},
    "hg-job-backofflimit-db-unreachable": {
        ("Job", "java-api-checker", "BackoffLimitExceeded")},
    "hg-job-backofflimit-shell-syntax-error": {
        ("Job", "product-data-scraper", "BackoffLimitExceeded")},
    "hg-job-failed-unresolvable-host-misleading-sa-event": {
        ("Job", "get-data", "BackoffLimitExceeded")},
    "hg-latency-external-db-down": {
        ("Pod", "customer-orders-for-medium-7744d956fb-pv79v", "ApplicationErrors")},
    "hg-oomkilled-analytics-exporter": {
        ("Pod", "analytics-exporter-fast-76897854c-cw5wh", "OOMKilled")},
    "hg-oomkilled-tail-dev-zero": {("Pod", "giant-narwhal-6958c5bdd8-69gtn", "OOMKilled")},
    "hg-pending-insufficient-gpu": {
        ("Pod", "user-profile-resources-659d4dd659-cq4kq", "Unschedulable")},
    "hg-pending-nodeselector-no-match": {("Pod", "user-profile-import", "Unschedulable")},
    "hg-pending-pvc-storageclass-not-found": {
        ("Pod", "redis-747ffc844f-f9ghd", "Unschedulable"),
        ("PersistentVolumeClaim", "redis-standard-pvc", "StorageClassNotFound")},
    "hg-readiness-probe-always-fails": {
        ("Pod", "search-engine-service", "ReadinessProbeFailed")},
    "hg-service-selector-version-mismatch": {
        ("Service", "backend-service", "SelectorMatchesNothing|NoEndpoints"),
        ("Pod", "frontend-<hash>", "ApplicationErrors")},
}
# Concrete values the messages must carry (grounded in the case's objects).
MUST_SAY: dict[str, tuple[str, ...]] = {
    "hg-oomkilled-analytics-exporter": ("100Mi", "137", "CrashLoopBackOff"),
    "hg-imagepull-nonexistent-repo": ("yourcompany/crw:latest",
                                      "repository does not exist or may require authorization"),
    "hg-pending-insufficient-gpu": ("Insufficient nvidia.com/gpu", "nvidia.com/gpu=5"),
    "hg-pending-pvc-storageclass-not-found": ("standard-v2",
                                              "unbound immediate PersistentVolumeClaims"),
    "hg-init-container-command-typo": ("downloader", "128", "wge"),
    "hg-service-selector-version-mismatch": ("version=v2", "version=v1"),
    "hg-crashloop-missing-env-var": ("exitCode=0", "Completed"),
    "hg-app-errors-bad-upstream-host-in-configmap": ("memcom",),
    "hg-latency-external-db-down": ("Can't connect to MySQL server",),
    "hg-job-backofflimit-shell-syntax-error": ("backoffLimit of 4", "exitCode=2"),
}


def load(path: Path) -> tuple[dict[str, Any], Snapshot]:
    """A case and its snapshot."""
    case = json.loads(path.read_text(encoding="utf-8"))
    return case, Snapshot.from_case(case.get("id", path.stem), "2025-01-01T00:00:00Z",
                                    case.get("objects") or {}, case.get("logs") or {})


def matches(finding: Finding, expected: tuple[str, str, str]) -> bool:
    """Whether a finding is the expected (kind, name, one of the reasons)."""
    kind, name, reasons = expected
    return (finding.kind, finding.name) == (kind, name) and finding.reason in reasons.split("|")


@pytest.mark.parametrize("case_id", sorted(EXPECTED))
def test_case_findings_are_exactly_the_failing_objects(case_id: str) -> None:
    path = CORPUS / f"{case_id}.json"
    if not path.exists():
        pytest.skip(f"{path.name} not in the corpus")
    _, snapshot = load(path)
    findings = analyze(snapshot)
    expected = EXPECTED[case_id]
    for want in expected:
        assert any(matches(f, want) for f in findings), (want, [f.key for f in findings])
    extra = [f.key for f in findings if not any(matches(f, want) for want in expected)]
    assert not extra, extra
    text = " ".join(f.message for f in findings)
    for fragment in MUST_SAY.get(case_id, ()):
        assert fragment in text, (fragment, text)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_every_finding_is_explained(path: Path) -> None:
    _, snapshot = load(path)
    index = SnapshotIndex(snapshot)
    for finding in analyze(snapshot):
        assert finding.analyzer in ANALYZERS
        assert finding.severity in ("critical", "warning", "info")
        assert finding.message.strip() and finding.message.endswith(".")
        assert finding.evidence and all(line.strip() for line in finding.evidence)
        if finding.kind == "Pod":
            pod = index.get("pods", finding.namespace, finding.name)
            assert pod is not None
            if meta(pod).get("ownerReferences"):
                assert finding.parent == index.top_owner(pod)
                assert finding.parent and finding.parent["kind"] in (
                    "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet")


def healthy_pod(index: SnapshotIndex, pod: dict[str, Any]) -> bool:
    """Running and Ready, every container ready and never restarted, no Warning event."""
    status = pod.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    statuses = status.get("containerStatuses") or []
    events = index.events_for("Pod", meta(pod).get("namespace"), meta(pod).get("name", ""))
    return (status.get("phase") == "Running" and conditions.get("Ready", "True") == "True"
            and bool(statuses) and all(cs.get("ready") and not cs.get("restartCount")
                                       and not cs.get("lastState") for cs in statuses)
            and not any(e.get("type") == "Warning" for e in events))


def healthy_deployment(deploy: dict[str, Any]) -> bool:
    """Every desired replica available."""
    want = (deploy.get("spec") or {}).get("replicas", 1)
    return (deploy.get("status") or {}).get("availableReplicas", 0) >= want


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_healthy_objects_have_no_findings(path: Path) -> None:
    _, snapshot = load(path)
    index = SnapshotIndex(snapshot)
    healthy = {("Pod", meta(p).get("name")) for p in index.items("pods") if healthy_pod(index, p)}
    healthy |= {("Deployment", meta(d).get("name")) for d in index.items("deployments")
                if healthy_deployment(d)}
    healthy |= {("Node", meta(n).get("name")) for n in index.items("nodes")
                if all(c.get("status") == ("True" if c.get("type") == "Ready" else "False")
                       for c in (n.get("status") or {}).get("conditions") or [])}
    # The logs analyzer exists for pods Kubernetes sees as healthy; it is checked above.
    noisy = [f.key for f in analyze(snapshot)
             if (f.kind, f.name) in healthy and f.analyzer != "logs"]
    assert not noisy, noisy


def test_the_healthy_looking_cases_are_found_only_through_their_logs() -> None:
    for case_id in ("hg-app-errors-bad-upstream-host-in-configmap",
                    "hg-latency-external-db-down"):
        path = CORPUS / f"{case_id}.json"
        if path.exists():
            _, snapshot = load(path)
            assert {f.reason for f in analyze(snapshot)} == {"ApplicationErrors"}
            snapshot.logs = {}
            assert analyze(snapshot) == []


def test_pods_of_a_failed_job_are_left_to_the_job_analyzer() -> None:
    path = CORPUS / "hg-job-backofflimit-shell-syntax-error.json"
    if not path.exists():
        pytest.skip("case not in the corpus")
    findings = analyze(load(path)[1])
    assert [f.kind for f in findings] == ["Job"]
