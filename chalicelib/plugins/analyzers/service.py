"""Services: selectors that match no pod (with the labels the nearest pods carry instead),
and Services whose pods exist but none is ready, so they have no endpoints."""

from __future__ import annotations

from chalicelib.domain.kube import Finding, Obj, SnapshotIndex, meta
from chalicelib.plugins.analyzers._common import (
    PodLabels,
    condition,
    condition_line,
    format_labels,
    listed,
    names,
    new_finding,
    plural,
    pod_labels,
    pod_ready,
)

NAME = "service"


def analyze(index: SnapshotIndex) -> list[Finding]:
    """Services with selectors that select nothing or nothing ready."""
    if not listed(index, "pods"):
        return []  # without pods nothing can be said about what a selector matches
    labels = pod_labels(index)
    found: list[Finding] = []
    for svc in index.items("services"):
        spec = svc.get("spec") or {}
        selector = spec.get("selector")
        if spec.get("type") == "ExternalName" or not selector:
            continue  # endpoints of these are managed by hand (or are a DNS name)
        ns = meta(svc).get("namespace") or ""
        pods = labels.match_labels(ns, selector)
        finding = _matches_nothing(index, svc, selector, labels) if not pods else \
            _no_endpoints(index, svc, selector, pods)
        if finding:
            found.append(finding)
    return found


def _matches_nothing(index: SnapshotIndex, svc: Obj, selector: dict[str, str],
                     labels: PodLabels) -> Finding:
    ns, name = meta(svc).get("namespace") or "", meta(svc).get("name")
    shared, nearest = labels.nearest(ns, selector)
    wanted = format_labels(selector)
    message = f"Service {name} selects {wanted} but no running or pending pod in " \
              f"namespace {ns} carries those labels, so it has no endpoints"
    evidence = [f"spec.selector: {wanted}", *_endpoint_lines(index, ns, name)]
    if nearest:
        pod_labels_ = meta(nearest[0]).get("labels") or {}
        differs = {k: pod_labels_.get(k, "<unset>") for k, v in selector.items()
                   if pod_labels_.get(k) != v}
        message += f"; the nearest pods ({names(nearest, 3)}) match {shared} of " \
                   f"{len(selector)} labels and carry {format_labels(differs)} instead of " \
                   f"{format_labels({k: selector[k] for k in differs})}"
        evidence.extend(f"pod {meta(p).get('name')} labels: "
                        f"{format_labels(meta(p).get('labels'))}" for p in nearest[:3])
    else:
        message += "; no pod there carries any of these labels"
    return new_finding(NAME, svc, "Service", "critical", "SelectorMatchesNothing",
                       message=message + ".", evidence=evidence, parent=index.top_owner(svc))


def _endpoint_lines(index: SnapshotIndex, ns: str, name: str | None) -> list[str]:
    endpoints = index.get("endpoints", ns, name or "")
    if endpoints is None:
        return []
    ready, not_ready = _addresses(endpoints)
    return [f"Endpoints {name}: {ready} ready address(es), {not_ready} not ready"]


def _addresses(endpoints: Obj) -> tuple[int, int]:
    subsets = endpoints.get("subsets") or []
    ready = sum(len(s.get("addresses") or []) for s in subsets)
    return ready, sum(len(s.get("notReadyAddresses") or []) for s in subsets)


def _no_endpoints(index: SnapshotIndex, svc: Obj, selector: dict[str, str],
                  pods: list[Obj]) -> Finding | None:
    ns, name = meta(svc).get("namespace") or "", meta(svc).get("name") or ""
    endpoints = index.get("endpoints", ns, name)
    if endpoints is not None and _addresses(endpoints)[0] > 0:
        return None
    ready_pods = [p for p in pods if pod_ready(p)]
    if endpoints is None and ready_pods:
        return None
    message = f"Service {name} selects {plural(len(pods), 'pod')} ({names(pods, 3)}) but " \
              f"{'none is' if not ready_pods else 'the Endpoints list none as'} ready, so it " \
              f"has no endpoints and requests to it fail"
    evidence = [f"spec.selector: {format_labels(selector)}",
                *_endpoint_lines(index, ns, name)]
    for pod in pods[:3]:
        cond = condition(pod, "Ready")
        if cond:
            evidence.append(f"pod {meta(pod).get('name')} {condition_line(cond)}")
    return new_finding(NAME, svc, "Service", "critical", "NoEndpoints", message=message + ".",
                       evidence=evidence, parent=index.top_owner(svc))
