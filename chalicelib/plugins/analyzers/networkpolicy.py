"""NetworkPolicies: policies that select no pod, and Egress policies that leave the pods
they select without DNS (no rule allows port 53 and no other policy of theirs does)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from chalicelib.domain.kube import Finding, Obj, SnapshotIndex, meta
from chalicelib.plugins.analyzers._common import (
    PodLabels,
    format_labels,
    listed,
    names,
    new_finding,
    plural,
    pod_labels,
)

NAME = "networkpolicy"
DNS_PORT = 53
DNS_PORT_NAMES = frozenset({"53", "dns", "dns-tcp"})


def analyze(index: SnapshotIndex) -> list[Finding]:
    """Policies selecting nothing and Egress policies that block DNS."""
    if not listed(index, "pods"):
        return []
    labels = pod_labels(index)
    by_ns: dict[str, list[Obj]] = defaultdict(list)
    for policy in index.items("networkpolicies"):
        by_ns[meta(policy).get("namespace") or ""].append(policy)
    found: list[Finding] = []
    for ns, policies in by_ns.items():
        found.extend(_namespace(ns, policies, labels))
    return found


def _namespace(ns: str, policies: list[Obj], labels: PodLabels) -> list[Finding]:
    selected = {id(p): [pod for pod in labels.select(ns, (p.get("spec") or {}).get("podSelector"))
                        if not (pod.get("spec") or {}).get("hostNetwork")] for p in policies}
    # Egress rules add up across policies: a pod resolves names if any of its policies
    # allows DNS.
    dns_ok = {id(pod) for p in policies if has_egress(p) and allows_dns(p, ns)
              for pod in selected[id(p)]}
    found = []
    for policy in policies:
        pods = selected[id(policy)]
        if not pods and labels.by_ns.get(ns):
            found.append(_selects_nothing(policy, ns))
        if has_egress(policy) and not allows_dns(policy, ns):
            blocked = [pod for pod in pods if id(pod) not in dns_ok]
            if blocked:
                found.append(_blocks_dns(policy, blocked))
    return found


def describe_selector(selector: Obj | None) -> str:
    """``{}`` for all pods, else ``app=web, tier In [a, b]``."""
    selector = selector or {}
    parts = [format_labels(selector.get("matchLabels"))] if selector.get("matchLabels") else []
    parts.extend(f"{e.get('key')} {e.get('operator')} {e.get('values') or []}"
                 for e in selector.get("matchExpressions") or [])
    return ", ".join(parts) or "{} (all pods)"


def has_egress(policy: Obj) -> bool:
    """Whether the policy restricts egress (policyTypes, or egress rules without them)."""
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    return "Egress" in types if types else "egress" in spec


def allows_dns(policy: Obj, ns: str) -> bool:
    """Whether some egress rule lets UDP/TCP 53 out to where kube-dns can be."""
    return any(_rule_allows_dns(rule, ns) for rule in (policy.get("spec") or {}).get("egress")
               or [])


def _rule_allows_dns(rule: Obj, ns: str) -> bool:
    ports = rule.get("ports") or []
    if ports and not any(_port_is_dns(p) for p in ports):
        return False
    peers = rule.get("to") or []
    if not peers:
        return True
    # Namespace labels and the DNS Service IP are not in the snapshot: any namespace
    # selector or IP block may reach kube-dns, so only pod-only peers are judged.
    if any(p.get("namespaceSelector") is not None or p.get("ipBlock") for p in peers):
        return True
    return ns == "kube-system" or any(_explicit_dns(p) for p in ports)


def _port_is_dns(port: Obj) -> bool:
    if port.get("protocol") not in (None, "UDP", "TCP"):
        return False
    number: Any = port.get("port")
    if number is None or str(number) in DNS_PORT_NAMES:
        return True
    end = port.get("endPort")
    return isinstance(number, int) and isinstance(end, int) and number <= DNS_PORT <= end


def _explicit_dns(port: Obj) -> bool:
    return port.get("port") is not None and _port_is_dns(port)


def _selects_nothing(policy: Obj, ns: str) -> Finding:
    selector = describe_selector((policy.get("spec") or {}).get("podSelector"))
    message = f"NetworkPolicy {meta(policy).get('name')} selects pods with {selector} but no " \
              f"running or pending pod in namespace {ns} carries those labels, so it " \
              f"applies to nothing."
    return new_finding(NAME, policy, "NetworkPolicy", "warning", "SelectsNoPods", message=message,
                       evidence=[f"spec.podSelector: {selector}"])


def _rule_line(i: int, rule: Obj) -> str:
    ports = [f"{p.get('protocol', 'TCP')}/{p.get('port', '*')}" for p in rule.get("ports") or []]
    peers = [_peer(p) for p in rule.get("to") or []]
    return f"spec.egress[{i}]: to={peers or 'anywhere'} ports={ports or 'all'}"


def _peer(peer: Obj) -> str:
    if peer.get("ipBlock"):
        return f"ipBlock {peer['ipBlock'].get('cidr')}"
    parts = [f"{key}={describe_selector(peer[key])}" for key in
             ("namespaceSelector", "podSelector") if key in peer]
    return " ".join(parts)


def _blocks_dns(policy: Obj, pods: list[Obj]) -> Finding:
    spec = policy.get("spec") or {}
    rules = spec.get("egress") or []
    name = meta(policy).get("name")
    what = "allows no egress at all" if not rules else \
        f"has {plural(len(rules), 'egress rule')} and none allows UDP/TCP port 53 to kube-dns"
    message = f"NetworkPolicy {name} restricts egress of {plural(len(pods), 'pod')} " \
              f"({names(pods)}) and {what}, and no other policy of theirs allows DNS, so " \
              f"these pods cannot resolve names."
    evidence = [f"NetworkPolicy {name}: podSelector="
                f"{describe_selector(spec.get('podSelector'))} policyTypes="
                f"{spec.get('policyTypes') or ['Egress']} egress rules={len(rules)}",
                *(_rule_line(i, r) for i, r in enumerate(rules)),
                f"selected pods: {names(pods, 10)}"]
    return new_finding(NAME, policy, "NetworkPolicy", "critical", "EgressBlocksDNS",
                       message=message, evidence=evidence)
