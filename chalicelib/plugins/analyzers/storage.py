"""Storage: PersistentVolumeClaims that stay Pending (a missing StorageClass above all) or are
Lost, and PersistentVolumes that Failed or were Released."""

from __future__ import annotations

import re
from collections import defaultdict

from chalicelib.domain.kube import Finding, Obj, SnapshotIndex, event_line, meta
from chalicelib.plugins.analyzers._common import clip, listed, names, new_finding

NAME = "storage"
CLASS_NOT_FOUND = re.compile(r'storageclass\.storage\.k8s\.io "([^"]+)" not found')
WAIT_FOR_CONSUMER = "WaitForFirstConsumer"


def analyze(index: SnapshotIndex) -> list[Finding]:
    """Claim and volume findings."""
    users = _claim_users(index)
    found: list[Finding] = []
    for pvc in index.items("persistentvolumeclaims"):
        key = (meta(pvc).get("namespace") or "", meta(pvc).get("name") or "")
        finding = _claim(index, pvc, users.get(key, []))
        if finding:
            found.append(finding)
    for pv in index.items("persistentvolumes"):
        finding = _volume(pv)
        if finding:
            found.append(finding)
    return found


def _claim_users(index: SnapshotIndex) -> dict[tuple[str, str], list[Obj]]:
    users: dict[tuple[str, str], list[Obj]] = defaultdict(list)
    for pod in index.items("pods"):
        ns = meta(pod).get("namespace") or ""
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                users[(ns, claim)].append(pod)
    return users


def _claim(index: SnapshotIndex, pvc: Obj, pods: list[Obj]) -> Finding | None:
    phase = (pvc.get("status") or {}).get("phase")
    ns, name = meta(pvc).get("namespace"), meta(pvc).get("name") or ""
    parent = index.top_owner(pvc) or (index.top_owner(pods[0]) if pods else None)
    used = f"; pods waiting on it: {names(pods)}" if pods else ""
    if phase == "Lost":
        volume = (pvc.get("spec") or {}).get("volumeName")
        message = f"PersistentVolumeClaim {name} is Lost: its PersistentVolume {volume} no " \
                  f"longer exists, so the data it held is unavailable{used}."
        return new_finding(NAME, pvc, "PersistentVolumeClaim", "critical", "PVCLost",
                           message=message, parent=parent,
                           evidence=["status.phase: Lost", f"spec.volumeName: {volume}"])
    if phase != "Pending":
        return None
    events = index.events_for("PersistentVolumeClaim", ns, name)
    class_name = (pvc.get("spec") or {}).get("storageClassName")
    if _waits_for_consumer(index, class_name, events):
        # Binding waits on purpose until a pod using the claim is scheduled: if that pod is
        # Pending, its own scheduling problem is the finding, not the claim.
        return None
    missing = _missing_class(index, class_name, events)
    warnings = [e for e in events if e.get("type") == "Warning"]
    evidence = ["status.phase: Pending", f"spec.storageClassName: {class_name}",
                *(event_line(e) for e in warnings[-2:])]
    severity = "critical" if pods else "warning"
    if missing:
        known = [meta(c).get("name") for c in index.items("storageclasses")]
        have = f" (existing classes: {', '.join(known)})" if known else ""
        message = f"PersistentVolumeClaim {name} is Pending because its StorageClass " \
                  f'"{missing}" does not exist{have}, so no volume can be provisioned{used}.'
        return new_finding(NAME, pvc, "PersistentVolumeClaim", severity,
                           "StorageClassNotFound", message=message, evidence=evidence,
                           parent=parent)
    why = f": {clip(warnings[-1].get('message'), 300)}" if warnings else \
        " with no provisioning event recorded"
    message = f"PersistentVolumeClaim {name} is Pending (not bound to a volume){why}{used}."
    return new_finding(NAME, pvc, "PersistentVolumeClaim", severity, "PVCPending", message=message,
                       evidence=evidence, parent=parent)


def _waits_for_consumer(index: SnapshotIndex, class_name: str | None,
                        events: list[Obj]) -> bool:
    if any(e.get("reason") == WAIT_FOR_CONSUMER for e in events[-1:]):
        return True
    sc = index.get("storageclasses", None, class_name) if class_name else None
    return bool(sc) and sc.get("volumeBindingMode") == WAIT_FOR_CONSUMER


def _missing_class(index: SnapshotIndex, class_name: str | None,
                   events: list[Obj]) -> str | None:
    for event in reversed(events):
        match = CLASS_NOT_FOUND.search(event.get("message") or "")
        if match:
            return match.group(1)
    if class_name and listed(index, "storageclasses") and \
            index.get("storageclasses", None, class_name) is None:
        return class_name
    return None


def _volume(pv: Obj) -> Finding | None:
    status, spec = pv.get("status") or {}, pv.get("spec") or {}
    phase = status.get("phase")
    name = meta(pv).get("name")
    claim = spec.get("claimRef") or {}
    claim_name = f"{claim.get('namespace')}/{claim.get('name')}" if claim else "none"
    evidence = [f"status.phase: {phase}", f"spec.claimRef: {claim_name}",
                f"spec.persistentVolumeReclaimPolicy: {spec.get('persistentVolumeReclaimPolicy')}"]
    if phase == "Failed":
        why = clip(status.get("message") or status.get("reason") or "no message", 300)
        message = f"PersistentVolume {name} Failed its automatic reclamation: {why}."
        if status.get("message"):
            evidence.append(f"status.message: {why}")
        return new_finding(NAME, pv, "PersistentVolume", "warning", "PVFailed", message=message,
                           evidence=evidence)
    if phase == "Released":
        message = f"PersistentVolume {name} is Released: its claim {claim_name} was deleted " \
                  f"and, with reclaim policy {spec.get('persistentVolumeReclaimPolicy')}, " \
                  f"it holds data but no new claim can bind it."
        return new_finding(NAME, pv, "PersistentVolume", "info", "PVReleased", message=message,
                           evidence=evidence)
    return None
