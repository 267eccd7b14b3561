"""Upgrade risk (seed 000 ``POST /api/clusters/{id}/upgrade-risk``): Kubernetes upgrade policy
applied to a cluster's registered version and its latest stored snapshot.

The policy lives in a shipped table (``chalicelib/data/kubernetes_removed_apis.json``): one
minor release per control-plane upgrade, no downgrades, the kubelet skew limits, and the API
versions each release stopped serving. The rule functions here are pure; the service only
gathers the inputs. Drover has no release notes of k3s, RKE2 or add-ons (Longhorn,
cert-manager ...): for anything but the Kubernetes version it says so and judges health only.

Risk levels, from the first rule that applies:

- critical: the path is unsupported (a minor release skipped, or kubelets left outside skew)
- high: the cluster uses an API version the target removes, or a node is NotReady
- medium: critical findings, removed APIs whose use Drover cannot rule out, no snapshot to
  judge health by, or a component Drover has no release knowledge of
- low: everything else
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.clusters import Cluster, ClusterFeatureMissing
from chalicelib.domain.errors import BadRequest, Conflict
from chalicelib.domain.health import node_is_ready
from chalicelib.domain.kube import Finding, Snapshot, meta
from chalicelib.domain.validation import parse_body
from chalicelib.services.cluster_snapshots import SnapshotService
from chalicelib.services.clusters import ClusterService

POLICY_FILE = Path(__file__).resolve().parent.parent / "data" / "kubernetes_removed_apis.json"
# Components whose version is the cluster's own; the value is the provider they need.
VERSIONED = {"kubernetes": None, "k3s": "k3s", "rke2": "rke2"}
_VERSION = re.compile(r"^v?(\d{1,3})\.(\d{1,3})(?:\.(\d{1,4}))?([-+][0-9A-Za-z.+_-]*)?$")
_DISTRO = (("k3s", re.compile(r"\+k3s(\d+)")), ("rke2", re.compile(r"\+rke2r(\d+)")),
           ("eks", re.compile(r"-eks-")), ("gke", re.compile(r"-gke\.")))
LEVELS = ("low", "medium", "high", "critical")


class UpgradeRequest(BaseModel):
    """The body: which component, to which version."""

    model_config = ConfigDict(extra="ignore")

    component: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    target_version: str = Field(min_length=1, max_length=64)


@dataclass(frozen=True)
class KubeVersion:
    """A Kubernetes version as distributions print it: ``v1.31.4+k3s1``, ``1.31``."""

    major: int
    minor: int
    patch: int | None
    distro: str | None
    revision: int | None
    raw: str

    @property
    def minor_label(self) -> str:
        """``1.31``."""
        return f"{self.major}.{self.minor}"

    def key(self) -> tuple[int, int, int, int]:
        """What orders two versions (a missing patch or revision counts as 0)."""
        return self.major, self.minor, self.patch or 0, self.revision or 0


def parse_version(text: str | None) -> KubeVersion | None:
    """A version from ``v1.31.4+k3s1``, ``1.31``, ``v1.31.4-eks-1234abc``; None if not one."""
    raw = (text or "").strip()
    match = _VERSION.match(raw)
    if not match:
        return None
    suffix = match.group(4) or ""
    distro, revision = None, None
    for name, pattern in _DISTRO:
        found = pattern.search(suffix)
        if found:
            distro = name
            revision = int(found.group(1)) if found.groups() else None
            break
    patch = int(match.group(3)) if match.group(3) is not None else None
    return KubeVersion(int(match.group(1)), int(match.group(2)), patch, distro, revision, raw)


@lru_cache(maxsize=1)
def policy() -> dict[str, Any]:
    """The shipped policy table."""
    return dict(json.loads(POLICY_FILE.read_text(encoding="utf-8")))


def _minor_of(label: str) -> int:
    return int(label.split(".")[1])


def check_direction(current: KubeVersion, target: KubeVersion) -> None:
    """Refuse a downgrade, a major change or a no-op with a 400 saying why."""
    if target.major != current.major:
        raise BadRequest(f"target {target.raw} changes the major version of {current.raw}; "
                         "Kubernetes has no supported path across major versions",
                         code="unsupported_upgrade")
    if target.key() < current.key():
        raise BadRequest(f"target {target.raw} is older than the running {current.raw}: "
                         "downgrades are not supported; restore an etcd snapshot taken before "
                         "the upgrade instead", code="downgrade_refused")
    if target.key() == current.key():
        raise BadRequest(f"the cluster already runs {current.raw}", code="no_upgrade")


def skipped_minors(current: KubeVersion, target: KubeVersion) -> list[str]:
    """Minor releases the jump skips (each one is an unsupported step)."""
    return [f"{current.major}.{m}" for m in range(current.minor + 1, target.minor)]


def upgrade_path(current: KubeVersion, target: KubeVersion) -> list[str]:
    """The supported sequence of minor releases from current to target."""
    return [f"{current.major}.{m}" for m in range(current.minor + 1, target.minor + 1)] \
        or [target.minor_label]


def kubelet_lag_allowed(kubelet_minor: int) -> int:
    """How many minors a kubelet of this minor may trail the API server."""
    rule = policy()["rules"]["kubelet_skew"]
    older = rule["max_minor_lag_for_kubelets_before"]
    return int(older["lag"]) if kubelet_minor < int(older["minor"]) else int(rule["max_minor_lag"])


def kubelet_skew_problems(target: KubeVersion,
                          kubelets: dict[str, KubeVersion]) -> list[dict[str, Any]]:
    """Kubelets the target API server would leave outside the supported skew, by version."""
    grouped: dict[str, list[str]] = {}
    versions: dict[str, KubeVersion] = {}
    for node, version in sorted(kubelets.items()):
        grouped.setdefault(version.minor_label, []).append(node)
        versions[version.minor_label] = version
    problems = []
    for label, nodes in sorted(grouped.items(), key=lambda kv: _minor_of(kv[0])):
        kubelet = versions[label]
        lag, allowed = target.minor - kubelet.minor, kubelet_lag_allowed(kubelet.minor)
        if lag < 0:
            detail = (f"kubelets at {label} would be newer than an API server at "
                      f"{target.minor_label}; a kubelet may never be newer than the API server")
        elif lag > allowed:
            detail = (f"kubelets at {label} would trail an API server at {target.minor_label} "
                      f"by {lag} minor releases; at most {allowed} is supported: upgrade them "
                      "before the control plane")
        else:
            continue
        problems.append({"type": "kubelet_skew", "title": f"kubelet {label} outside skew",
                         "detail": detail, "nodes": nodes})
    return problems


def removed_between(current: KubeVersion, target: KubeVersion) -> list[dict[str, Any]]:
    """API versions that stop being served between current (excluded) and target."""
    return [dict(r) for r in policy()["removed_apis"]
            if current.minor < _minor_of(r["removed_in"]) <= target.minor]


def apis_in_use(snapshot: Snapshot | None,
                removed: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """Objects of the snapshot written with a removed ``apiVersion``, by (apiVersion, kind)."""
    wanted = {(r["api_version"], r["kind"]) for r in removed}
    found: dict[tuple[str, str], list[str]] = {}
    for items in (snapshot.objects.values() if snapshot else []):
        for obj in items:
            pair = (str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))
            if pair in wanted:
                m = meta(obj)
                where = f"{m.get('namespace')}/" if m.get("namespace") else ""
                found.setdefault(pair, []).append(f"{pair[1]} {where}{m.get('name')}")
    return found


@dataclass
class Signals:
    """What the risk level is decided from."""

    unsupported_path: int = 0
    apis_in_use: int = 0
    not_ready_nodes: int = 0
    critical_findings: int = 0
    removals_unproven: int = 0
    health_unknown: bool = False
    release_knowledge: bool = True
    unreachable: bool = False


def risk_level(s: Signals) -> str:
    """The level of the module docstring's rules."""
    if s.unsupported_path:
        return "critical"
    if s.apis_in_use or s.not_ready_nodes or s.unreachable:
        return "high"
    if (s.critical_findings or s.removals_unproven or s.health_unknown
            or not s.release_knowledge):
        return "medium"
    return "low"


def health_issues(cluster: Cluster, snapshot: Snapshot | None,
                  found: tuple[str, list[Finding]] | None) -> list[dict[str, Any]]:
    """Known issues from stored state: NotReady nodes, critical findings, a failed contact."""
    issues: list[dict[str, Any]] = []
    if cluster.status in ("unreachable", "unauthorized", "error"):
        issues.append({"type": "cluster_unreachable", "severity": "critical",
                       "title": f"last contact with the API server failed ({cluster.status})",
                       "detail": cluster.last_error or "no detail recorded"})
    findings = found[1] if found else []
    not_ready = [str(meta(n).get("name")) for n in (snapshot.items("nodes") if snapshot else [])
                 if not node_is_ready(n)]
    for name in not_ready:
        evidence = [line for f in findings if f.kind == "Node" and f.name == name
                    for line in f.evidence][:5]
        issues.append({"type": "node_not_ready", "severity": "critical",
                       "title": f"node {name} is NotReady",
                       "detail": "upgrading drains and restarts nodes; fix or remove "
                                 "NotReady nodes first", "evidence": evidence})
    for finding in findings:
        # A NotReady node's own finding is already the node_not_ready issue above.
        if finding.severity == "critical" and not (finding.kind == "Node"
                                                   and finding.name in not_ready):
            where = f"{finding.namespace}/{finding.name}" if finding.namespace else finding.name
            issues.append({"type": "finding", "severity": "critical",
                           "title": f"{finding.kind} {where}: {finding.reason}",
                           "detail": finding.message, "evidence": finding.evidence[:5]})
    return issues


def recommendation(level: str, s: Signals, path: list[str], component: str) -> str:
    """What to do, most pressing first."""
    parts: list[str] = []
    if not s.release_knowledge:
        parts.append(f"Drover has no release knowledge of {component}: read its release notes "
                     "and upgrade guide for breaking changes; only cluster health was assessed")
    if s.unsupported_path:
        parts.append("Do not upgrade in one jump: go one minor release at a time "
                     f"({' -> '.join(path)}) and bring lagging kubelets within skew first")
    if s.apis_in_use:
        parts.append("Migrate the objects that use removed API versions to their replacements "
                     "before upgrading")
    if s.unreachable or s.not_ready_nodes or s.critical_findings:
        parts.append("Resolve the known issues first so the upgrade starts from a healthy cluster")
    if s.removals_unproven:
        parts.append("The target stops serving API versions listed under removed_apis: check "
                     "charts, manifests and clients for them (the API server's "
                     "apiserver_requested_deprecated_apis metric names the ones still called)")
    if s.health_unknown:
        parts.append("No snapshot was taken yet, so health was not judged: refresh the cluster")
    if level == "low":
        parts.append("Low risk: take an etcd snapshot (or provider backup), then upgrade")
    else:
        parts.append("Take an etcd snapshot (or provider backup) before starting")
    return ". ".join(parts) + "."


@dataclass
class UpgradeRiskService:
    """Assesses a requested upgrade of one registered cluster."""

    clusters: ClusterService
    snapshots: SnapshotService

    def assess(self, workspace_id: str, cluster_ref: str, body: Any) -> dict[str, Any]:
        """Seed 000's risk fields, with the issues, breaking changes and policy behind them."""
        wanted = parse_body(UpgradeRequest, body, "upgrade-risk request")
        cluster = self.clusters.get(workspace_id, cluster_ref)
        component = wanted.component.lower()
        snapshot = self.snapshots.latest(cluster)
        found = self.snapshots.findings(cluster)
        issues = health_issues(cluster, snapshot, found)
        signals = _health_signals(issues, snapshot)
        base = {"cluster": cluster.name, "cluster_id": cluster.cluster_id,
                "component": component, "target_version": wanted.target_version,
                "snapshot_taken_at": snapshot.taken_at if snapshot else None}
        if component not in VERSIONED:
            return self._unknown_component(base, signals, issues)
        current, target = self._versions(cluster, component, wanted.target_version)
        check_direction(current, target)
        breaking, removed = _breaking(current, target, snapshot)
        signals.unsupported_path = sum(1 for b in breaking if b["type"] != "removed_api")
        signals.apis_in_use = sum(1 for b in breaking if b["type"] == "removed_api")
        signals.removals_unproven = sum(1 for r in removed if not r["detected"])
        path = upgrade_path(current, target)
        level = risk_level(signals)
        return {"risk_level": level, "known_issues": len(issues),
                "breaking_changes": len(breaking),
                "recommendation": recommendation(level, signals, path, component),
                **base, "current_version": current.raw, "upgrade_path": path,
                "upgrade_type": "patch" if target.minor == current.minor else "minor",
                "issues": issues, "breaking": breaking, "removed_apis": removed,
                "release_knowledge": True, "notes": _notes(component, snapshot)}

    def _versions(self, cluster: Cluster, component: str,
                  target_text: str) -> tuple[KubeVersion, KubeVersion]:
        needs = VERSIONED[component]
        provider = cluster.provider
        if needs and provider != needs:
            raise ClusterFeatureMissing(f"cluster '{cluster.name}' runs {provider}, not "
                                        f"{needs}; assess component 'kubernetes' instead")
        current = parse_version(cluster.version)
        if current is None:
            raise Conflict(f"Drover has not read the version of cluster '{cluster.name}' yet; "
                           f"test it with POST /v1/api/clusters/{cluster.name}/test",
                           code="cluster_version_unknown")
        target = parse_version(target_text)
        if target is None:
            raise BadRequest(f"target_version '{target_text}' is not a Kubernetes version such "
                             "as v1.32.1, 1.32 or v1.32.1+k3s1", code="bad_version")
        if target.distro in ("k3s", "rke2") and target.distro != provider:
            raise BadRequest(f"target_version '{target_text}' is a {target.distro} release but "
                             f"cluster '{cluster.name}' runs {provider}", code="bad_version")
        return current, target

    @staticmethod
    def _unknown_component(base: dict[str, Any], signals: Signals,
                           issues: list[dict[str, Any]]) -> dict[str, Any]:
        signals.release_knowledge = False
        level = risk_level(signals)
        return {"risk_level": level, "known_issues": len(issues), "breaking_changes": 0,
                "recommendation": recommendation(level, signals, [], base["component"]),
                **base, "current_version": None, "issues": issues, "breaking": [],
                "removed_apis": [], "release_knowledge": False,
                "breaking_changes_assessed": False,
                "notes": [f"Drover has no release data for '{base['component']}': it cannot "
                          "tell which version runs nor what the target changes; "
                          "breaking_changes is 0 because nothing was assessed, not because "
                          "nothing breaks"]}


def _health_signals(issues: list[dict[str, Any]], snapshot: Snapshot | None) -> Signals:
    return Signals(
        not_ready_nodes=sum(1 for i in issues if i["type"] == "node_not_ready"),
        critical_findings=sum(1 for i in issues if i["type"] == "finding"),
        unreachable=any(i["type"] == "cluster_unreachable" for i in issues),
        health_unknown=snapshot is None)


def _kubelets(snapshot: Snapshot | None) -> dict[str, KubeVersion]:
    found: dict[str, KubeVersion] = {}
    for node in snapshot.items("nodes") if snapshot else []:
        info = (node.get("status") or {}).get("nodeInfo") or {}
        version = parse_version(info.get("kubeletVersion"))
        if version is not None:
            found[str(meta(node).get("name"))] = version
    return found


def _breaking(current: KubeVersion, target: KubeVersion,
              snapshot: Snapshot | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    breaking: list[dict[str, Any]] = [
        {"type": "skipped_minor", "title": f"skips {label}",
         "detail": f"control planes upgrade one minor release at a time; {label} must be "
                   "installed on the way"} for label in skipped_minors(current, target)]
    breaking += kubelet_skew_problems(target, _kubelets(snapshot))
    removed = removed_between(current, target)
    used = apis_in_use(snapshot, removed)
    for row in removed:
        objects = used.get((row["api_version"], row["kind"]), [])
        row["detected"] = bool(objects)
        row["objects"] = objects[:20]
        if objects:
            breaking.append({
                "type": "removed_api",
                "title": f"{row['kind']} {row['api_version']} removed in {row['removed_in']}",
                "detail": f"{len(objects)} object(s) in the snapshot use it; migrate to "
                          f"{row['replacement'] or 'a replacement (none in Kubernetes)'}",
                "objects": objects[:20]})
    return breaking, removed


def _notes(component: str, snapshot: Snapshot | None) -> list[str]:
    notes = ["The API server returns stored objects in its preferred version, so a snapshot "
             "rarely shows removed API versions even when charts or clients still send them; "
             "removed_apis lists every API version the target stops serving"]
    if component in ("k3s", "rke2"):
        notes.append(f"Only Kubernetes policy was applied; read the {component} release notes "
                     "of the target for distribution-specific changes")
    if snapshot is None:
        notes.append("No snapshot is stored: kubelet skew and health were not checked")
    return notes
