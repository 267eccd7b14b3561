"""The builtin engine, category by category, over evidence as the collector writes it; it sees
through symptoms, stays unsure when the evidence is thin, and suggests only allowlisted,
well-formed actions."""

from __future__ import annotations

import pytest

from chalicelib.domain.action_catalog import ACTIONS
from chalicelib.domain.diagnosis import CATEGORIES, Subject
from chalicelib.services.builtin_engine import BuiltinEngine, builtin_entries
from chalicelib.services.evidence import Evidence

POD = {"pod": "web-5d9c7-x2k4m", "namespace": "shop", "container": "web", "workload": "web",
       "workload_kind": "deployment", "node": "node-a", "memory_limit": "256Mi",
       "suggested_memory": "512Mi"}
CRASH = [("reason", "CrashLoopBackOff"),
         ("state", "containerStatuses[web].state.waiting: reason=CrashLoopBackOff"),
         ("event", "Warning BackOff (x40): Back-off restarting failed container web")]

# category -> evidence lines (channel, text)
TABLE: dict[str, list[tuple[str, str]]] = {
    "CrashLoopBackOff-app-error": [*CRASH, (
        "state", "containerStatuses[web].lastState.terminated: reason=Error exitCode=2"),
        ("log", "panic: runtime error: invalid memory address or nil pointer dereference")],
    "CrashLoopBackOff-missing-config": [*CRASH, (
        "log", "FATAL: required environment variable DATABASE_URL is not set")],
    "OOMKilled": [*CRASH, ("reason", "OOMKilled"),
                  ("state", "containerStatuses[web].lastState.terminated: "
                            "reason=OOMKilled exitCode=137")],
    "ImagePullBackOff-bad-tag": [("reason", "ImagePullBackOff"), (
        "event", 'Warning Failed: Failed to pull image "shop/web:v9.9": rpc error: '
                 'manifest for shop/web:v9.9 not found: manifest unknown')],
    "ImagePullBackOff-auth": [("reason", "ErrImagePull"), (
        "event", 'Warning Failed: Failed to pull image "registry.corp/web:1": failed to '
                 'authorize: 401 Unauthorized')],
    "ImagePullBackOff-registry-unreachable": [("reason", "ErrImagePull"), (
        "event", 'Warning Failed: Failed to pull image "registry.corp/web:1": dial tcp '
                 '10.0.0.5:443: i/o timeout')],
    "Pending-insufficient-resources": [("reason", "Unschedulable"), (
        "event", "Warning FailedScheduling: 0/3 nodes are available: 3 Insufficient cpu.")],
    "Pending-unbound-pvc": [("reason", "Unschedulable"), (
        "event", "Warning FailedScheduling: 0/3 nodes are available: pod has unbound "
                 "immediate PersistentVolumeClaims.")],
    "Pending-node-selector-taint": [("reason", "Unschedulable"), (
        "event", "Warning FailedScheduling: 0/3 nodes are available: 3 node(s) had "
                 "untolerated taint {dedicated: gpu}.")],
    "FailedMount-configmap-secret-missing": [(
        "event", 'Warning FailedMount: MountVolume.SetUp failed for volume "cfg" : '
                 'configmap "web-config" not found')],
    "CreateContainerConfigError": [("reason", "CreateContainerConfigError"), (
        "message", 'couldn\'t find key password in Secret shop/db')],
    "Readiness-probe-failing": [("event", "Warning Unhealthy (x30): Readiness probe failed: "
                                          "HTTP probe failed with statuscode: 503")],
    "Liveness-probe-failing": [*CRASH, (
        "event", "Warning Unhealthy: Liveness probe failed: Get \"http://10.1.2.3:8080/healthz\":"
                 " context deadline exceeded"),
        ("event", "Normal Killing: Container web failed liveness probe, will be restarted")],
    "Init-container-failing": [("reason", "Init:CrashLoopBackOff"), (
        "state", "initContainerStatuses[wait-db].lastState.terminated: reason=Error exitCode=1")],
    "Job-backoff-limit": [("reason", "BackoffLimitExceeded"), (
        "message", "Job has reached the specified backoff limit"),
        ("log", "psql: error: could not connect to server: Connection refused")],
    "Evicted": [("reason", "Evicted"), (
        "message", "The node was low on resource: ephemeral-storage.")],
    "Node-NotReady": [("reason", "NotReady"), (
        "state", "node node-a Ready=Unknown reason=NodeStatusUnknown Kubelet stopped posting "
                 "node status.")],
    "Node-DiskPressure": [("reason", "DiskPressure"), (
        "state", "node node-a DiskPressure=True reason=KubeletHasDiskPressure")],
    "Node-MemoryPressure": [("reason", "MemoryPressure"), (
        "state", "node node-a MemoryPressure=True reason=KubeletHasInsufficientMemory")],
    "Service-no-endpoints": [("reason", "SelectorMatchesNothing"), (
        "message", "Service web selects app=web,tier=api but no pod carries those labels.")],
    "DNS-failure": [("log", "dial tcp: lookup orders.shop.svc.cluster.local on 10.96.0.10:53:"
                            " read udp 10.1.2.3:40000->10.96.0.10:53: i/o timeout")],
    "etcd-quorum": [("log", "etcdserver: request timed out, possibly due to connection lost"),
                    ("log", "raft: 8e9e05c52164694d lost leader")],
    "cert-expired": [("log", "x509: certificate has expired or is not yet valid: current time "
                             "2026-11-24T10:00:00Z is after 2026-11-01T00:00:00Z")],
    "other": [("reason", "ApplicationErrors"), (
        "log", "ERROR upstream payments-api returned 500 Internal Server Error")],
}


def evidence(lines: list[tuple[str, str]], kind: str = "Pod") -> Evidence:
    ev = Evidence(subject=Subject(kind=kind, name="web-5d9c7-x2k4m", namespace="shop"))
    ev.context = dict(POD)
    for channel, text in lines:
        ev.add(channel, text, "test")
    return ev


def test_the_table_covers_the_whole_taxonomy() -> None:
    assert set(TABLE) == set(CATEGORIES)


@pytest.mark.parametrize("category", sorted(TABLE))
def test_each_category_is_recognised(category: str) -> None:
    diagnosis = BuiltinEngine().diagnose(evidence(TABLE[category]))
    assert diagnosis.category == category, diagnosis.knowledge_ids
    assert diagnosis.root_cause and diagnosis.fix_summary and diagnosis.evidence
    assert "<" not in diagnosis.summary
    for action in diagnosis.suggested_actions:
        assert action.name in ACTIONS and action.dry_run


@pytest.mark.parametrize(("lines", "expected"), [
    ([*CRASH, ("log", "Error: x509: certificate has expired or is not yet valid")],
     "cert-expired"),
    ([("reason", "ReadinessProbeFailed"), ("log", "tls: failed to verify certificate: x509: "
                                                  "certificate has expired")], "cert-expired"),
    ([*CRASH, ("log", "KeyError: 'REDIS_URL'")], "CrashLoopBackOff-missing-config"),
    ([*CRASH, ("reason", "OOMKilled"), ("log", "java.lang.OutOfMemoryError: Java heap space")],
     "OOMKilled"),
    ([("reason", "BackoffLimitExceeded"), ("log", "curl: (6) Could not resolve host: x.invalid")],
     "Job-backoff-limit"),
    ([("reason", "Unschedulable"), ("event", "Warning FailedScheduling: 0/3 nodes are available: "
                                              "3 node(s) had untolerated taint "
                                              "{node.kubernetes.io/disk-pressure: }.")],
     "Node-DiskPressure"),
    ([("reason", "Unschedulable"), ("event", "Warning FailedScheduling: 0/4 nodes are available: "
                                              "1 node(s) had untolerated taint "
                                              "{node-role.kubernetes.io/control-plane: }, "
                                              "3 Insufficient memory.")],
     "Pending-insufficient-resources"),
    ([("reason", "InitContainerFailing"), ("reason", "NoEndpoints"),
      ("message", "Service api selects 1 pod (api-1) but none is ready, so it has no endpoints")],
     "Init-container-failing"),
    ([("reason", "CrashLoopBackOff"), ("reason", "NoEndpoints"),
      ("log", "[FATAL] plugin/loop: Loop (127.0.0.1:55953 -> :53) detected for zone \".\"")],
     "DNS-failure"),
    ([("reason", "ErrImagePull"), ("event", "failed to resolve reference: failed to authorize: "
                                            "failed to fetch anonymous token: 401 Unauthorized")],
     "ImagePullBackOff-auth"),
], ids=["crashloop-hides-cert", "readiness-hides-cert", "crashloop-hides-env", "oom-in-crash",
        "job-hides-dns", "taint-is-disk-pressure", "control-plane-taint-is-never-the-cause",
        "service-without-ready-pods-is-a-symptom", "coredns-loop-is-dns",
        "anonymous-token-is-auth"])
def test_the_cause_wins_over_the_symptom(lines: list[tuple[str, str]], expected: str) -> None:
    assert BuiltinEngine().diagnose(evidence(lines)).category == expected


def test_oom_fills_the_memory_from_the_pod_and_suggests_an_allowlisted_action() -> None:
    diagnosis = BuiltinEngine().diagnose(evidence(TABLE["OOMKilled"]))
    assert "256Mi" in diagnosis.root_cause
    action = diagnosis.suggested_actions[0]
    assert action.name == "set_resources" and action.approval_required
    assert action.arguments == {"namespace": "shop", "kind": "deployment", "name": "web",
                                "container": "web", "memory_limit": "512Mi"}
    assert any("--limits=memory=512Mi" in c.command for c in diagnosis.fix_commands)


def test_an_action_whose_arguments_the_evidence_cannot_fill_is_not_suggested() -> None:
    ev = evidence(TABLE["OOMKilled"])
    ev.context = {"namespace": "shop"}
    assert BuiltinEngine().diagnose(ev).suggested_actions == []


def test_nothing_matching_is_other_with_low_confidence() -> None:
    diagnosis = BuiltinEngine().diagnose(evidence([("state", "pod web phase=Running")]))
    assert diagnosis.category == "other" and diagnosis.confidence <= 0.3


def test_alert_text_alone_is_a_hint_capped_at_low_confidence() -> None:
    ev = Evidence(subject=Subject())
    ev.add("alert", "Pod shop/web was OOMKilled (exit code 137)", "alert")
    diagnosis = BuiltinEngine().diagnose(ev)
    assert diagnosis.category == "OOMKilled"
    assert diagnosis.confidence <= 0.45
    assert any("alert text only" in w for w in diagnosis.warnings)


def test_a_question_without_evidence_is_ranked_against_the_knowledge_base() -> None:
    diagnosis = BuiltinEngine().diagnose(Evidence(subject=Subject()),
                                         "why is my pvc stuck pending, storageclass missing?")
    assert diagnosis.category == "Pending-unbound-pvc"
    assert diagnosis.confidence <= 0.45


def test_ambiguous_evidence_gets_lower_confidence_than_clear_evidence() -> None:
    clear = BuiltinEngine().diagnose(evidence(TABLE["OOMKilled"]))
    both = BuiltinEngine().diagnose(evidence([("reason", "ErrImagePull"), (
        "event", "pull access denied, repository does not exist or may require authorization")]))
    assert both.confidence < clear.confidence - 0.2


def test_every_shipped_entry_has_a_doc_link_and_an_anchor() -> None:
    for entry in builtin_entries():
        assert entry.doc_url and entry.doc_url.startswith("https://")
        assert any(s.anchor for s in entry.signatures), entry.id
        for template in entry.actions:
            assert template.name in ACTIONS, entry.id


def test_counter_evidence_lowers_an_entry_and_an_anchor_must_be_positive() -> None:
    from pydantic import ValidationError

    from chalicelib.domain.diagnosis import Fact
    from chalicelib.domain.knowledge import KnowledgeEntry, Signature, match_entry

    entry = KnowledgeEntry(id="svc", title="t", category="Service-no-endpoints",
                           explanation="e", fix="f", signatures=[
                               Signature(channel="reason", pattern="NoEndpoints", weight=3,
                                         anchor=True),
                               Signature(channel="message", pattern="none is ready", weight=-2)])
    plain = match_entry(entry, [Fact(channel="reason", text="NoEndpoints")])
    countered = match_entry(entry, [Fact(channel="reason", text="NoEndpoints"),
                                    Fact(channel="message", text="but none is ready")])
    assert plain is not None and countered is not None
    assert (plain.score, countered.score) == (3, 1)
    assert [f.channel for f in countered.facts] == ["reason"]
    with pytest.raises(ValidationError):
        Signature(pattern="x", weight=-1, anchor=True)
