"""Pure pieces of the clusters layer: credential sealing, quantities, health, providers."""

from __future__ import annotations

import base64

import pytest

from chalicelib.adapters.credential_cipher import LocalCipher, cipher_from_settings
from chalicelib.domain import health
from chalicelib.domain.clusters import ClusterTarget, detect_provider
from chalicelib.domain.errors import DependencyUnavailable
from chalicelib.domain.kube import Finding, Snapshot, compact, resource_kind
from chalicelib.domain.quantity import cores, gib, parse_quantity

CONTEXT = {"workspace": "default", "cluster_id": "c-1"}


def test_sealed_credentials_open_only_with_the_same_key_and_cluster() -> None:
    cipher = LocalCipher(b"a" * 32)
    sealed = cipher.seal(b'{"token": "s3cret"}', CONTEXT)
    assert sealed.startswith("local:v1:") and "s3cret" not in sealed
    assert cipher.open(sealed, CONTEXT) == b'{"token": "s3cret"}'
    with pytest.raises(DependencyUnavailable):
        cipher.open(sealed, {**CONTEXT, "cluster_id": "c-2"})
    with pytest.raises(DependencyUnavailable):
        LocalCipher(b"b" * 32).open(sealed, CONTEXT)


def test_sealing_twice_gives_different_ciphertexts() -> None:
    cipher = LocalCipher(b"a" * 32)
    assert cipher.seal(b"x", CONTEXT) != cipher.seal(b"x", CONTEXT)


def test_without_any_key_the_cipher_says_what_to_set(tmp_path: object) -> None:
    with pytest.raises(DependencyUnavailable, match="DROVER_KMS_KEY_ID"):
        cipher_from_settings(None, None, None)
    with pytest.raises(DependencyUnavailable, match="32 bytes"):
        cipher_from_settings(None, base64.b64encode(b"short").decode(), None)


def test_kms_cipher_round_trips_with_the_cluster_as_context(aws: None) -> None:
    import boto3

    key = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    cipher = cipher_from_settings(key, None, None)
    sealed = cipher.seal(b"token", CONTEXT)
    assert sealed.startswith("kms:v1:")
    assert cipher.open(sealed, CONTEXT) == b"token"
    with pytest.raises(DependencyUnavailable):
        cipher.open(sealed, {**CONTEXT, "cluster_id": "other"})


def test_a_target_never_prints_its_secrets() -> None:
    target = ClusterTarget("https://k:6443", {"token": "s3cret"})
    assert "s3cret" not in repr(target) and "s3cret" not in str(target)


@pytest.mark.parametrize(("text", "value"), [
    ("250m", 0.25), ("2", 2.0), ("1Gi", 2.0 ** 30), ("512Mi", 2.0 ** 29), ("1e3", 1000.0),
    ("100k", 1e5), ("3G", 3e9), ("", None), ("abc", None), (None, None), (4, 4.0),
])
def test_quantities_parse_like_kubernetes(text: object, value: float | None) -> None:
    assert parse_quantity(text) == value


def test_cores_and_gib_default_to_zero() -> None:
    assert cores("500m") == 0.5 and cores(None) == 0.0
    assert gib("2Gi") == 2.0 and gib("junk") == 0.0


@pytest.mark.parametrize(("version", "hint", "provider"), [
    ("v1.31.4+k3s1", None, "k3s"), ("v1.30.2+rke2r1", None, "rke2"),
    ("v1.29.3-eks-adc7111", None, "eks"), ("v1.30.1-gke.1329003", None, "gke"),
    ("v1.31.0", None, "generic"), ("v1.31.0", "aks", "aks"),
])
def test_the_provider_is_read_from_the_version(version: str, hint: str | None,
                                              provider: str) -> None:
    assert detect_provider(version, hint) == provider


def _node(ready: bool) -> dict[str, object]:
    return {"metadata": {"name": "n"}, "status": {"conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


def _pod(phase: str, ready: bool) -> dict[str, object]:
    return {"metadata": {"name": "p", "namespace": "a"}, "status": {
        "phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}]}}


def _finding(severity: str) -> Finding:
    return Finding("pod", "Pod", "p", "a", severity, "R", "m")  # type: ignore[arg-type]


@pytest.mark.parametrize(("nodes", "pods", "severities", "score", "status"), [
    ([True, True], [("Running", True)], [], 100, "healthy"),
    ([True, False], [("Running", True)], [], 85, "healthy"),
    ([True], [("Running", True), ("Pending", False)], ["critical"], 80, "healthy"),
    ([True], [("Running", False)], ["critical"] * 10, 30, "critical"),
    ([True], [("Succeeded", False), ("Running", True)], ["warning"], 98, "healthy"),
    ([False], [("Failed", False)], ["critical"] * 3 + ["warning"], 23, "critical"),
    ([], [], [], 100, "healthy"),
])
def test_health_score_follows_the_documented_formula(
        nodes: list[bool], pods: list[tuple[str, bool]], severities: list[str],
        score: int, status: str) -> None:
    snapshot = Snapshot("c", "t", {"nodes": [_node(r) for r in nodes],
                                   "pods": [_pod(p, r) for p, r in pods]})
    scored = health.score(snapshot, [_finding(s) for s in severities])
    assert (scored.score, scored.status) == (score, status)


@pytest.mark.parametrize(("current", "earlier", "trend"), [
    (80, [], "unknown"), (80, [70, 74], "improving"), (70, [80], "declining"),
    (80, [78, 82, 79], "stable"),
])
def test_trend_compares_with_the_mean_of_earlier_points(current: int, earlier: list[int],
                                                       trend: str) -> None:
    assert health.trend(current, earlier) == trend


def test_compact_drops_managed_fields_and_configmap_values() -> None:
    cm = {"metadata": {"name": "c", "managedFields": [{}], "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "data": {"PASSWORD_HINT": "value"}}
    out = compact("configmaps", cm)
    assert out == {"metadata": {"name": "c"}, "data_keys": ["PASSWORD_HINT"]}


def test_resource_kinds_accept_plurals_aliases_and_kinds() -> None:
    assert resource_kind("pvcs").plural == "persistentvolumeclaims"  # type: ignore[union-attr]
    assert resource_kind("Deployment").group == "apps"  # type: ignore[union-attr]
    assert resource_kind("widgets") is None
