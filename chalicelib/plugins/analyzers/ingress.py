"""Ingresses: backends that name a Service (or a Service port) the namespace lacks, and TLS
entries without a secretName. Secrets are never read, so a named secret is not checked."""

from __future__ import annotations

from collections.abc import Iterator

from chalicelib.domain.kube import Finding, Obj, SnapshotIndex, meta
from chalicelib.plugins.analyzers._common import listed, new_finding

NAME = "ingress"


def analyze(index: SnapshotIndex) -> list[Finding]:
    """Missing backend Services and ports, and TLS entries without a secret name."""
    check_services = listed(index, "services")
    found: list[Finding] = []
    for ingress in index.items("ingresses"):
        if check_services:
            found.extend(_backends(index, ingress))
        tls = _tls(ingress)
        if tls:
            found.append(tls)
    return found


def _backend_refs(ingress: Obj) -> Iterator[tuple[str, str, Obj]]:
    """(where, service name, port) of every Service backend (v1 and v1beta1 shapes)."""
    spec = ingress.get("spec") or {}
    default = spec.get("defaultBackend") or spec.get("backend")
    if default:
        yield "defaultBackend", *_service_of(default)
    for i, rule in enumerate(spec.get("rules") or []):
        for path in (rule.get("http") or {}).get("paths") or []:
            where = f"rules[{i}] host={rule.get('host', '*')} path={path.get('path', '/')}"
            yield where, *_service_of(path.get("backend") or {})


def _service_of(backend: Obj) -> tuple[str, Obj]:
    service = backend.get("service")
    if service:
        return service.get("name") or "", service.get("port") or {}
    port = backend.get("servicePort")
    key = "number" if isinstance(port, int) else "name"
    return backend.get("serviceName") or "", {key: port} if port is not None else {}


def _backends(index: SnapshotIndex, ingress: Obj) -> list[Finding]:
    ns, name = meta(ingress).get("namespace") or "", meta(ingress).get("name")
    missing: dict[str, list[str]] = {}
    bad_ports: dict[str, list[str]] = {}
    for where, service, port in _backend_refs(ingress):
        if not service:
            continue  # a resource backend, not a Service
        svc = index.get("services", ns, service)
        if svc is None:
            missing.setdefault(service, []).append(where)
        elif port and not _has_port(svc, port):
            bad_ports.setdefault(f"{service}:{port.get('number') or port.get('name')}",
                                 []).append(where)
    found = []
    if missing:
        message = f"Ingress {name} routes to Service(s) {', '.join(missing)} that do not " \
                  f"exist in namespace {ns}, so those routes answer with errors."
        evidence = [f"{w} -> service {s} (not found)" for s, ws in missing.items() for w in ws]
        found.append(new_finding(NAME, ingress, "Ingress", "critical",
                                 "BackendServiceNotFound", message=message, evidence=evidence))
    if bad_ports:
        message = f"Ingress {name} routes to Service port(s) {', '.join(bad_ports)} that the " \
                  f"Service does not expose."
        evidence = [f"{w} -> {s} (port not in spec.ports)" for s, ws in bad_ports.items()
                    for w in ws]
        found.append(new_finding(NAME, ingress, "Ingress", "warning", "BackendPortNotFound",
                                 message=message, evidence=evidence))
    return found


def _has_port(svc: Obj, port: Obj) -> bool:
    ports = (svc.get("spec") or {}).get("ports") or []
    if port.get("number") is not None:
        return any(p.get("port") == port["number"] for p in ports)
    if port.get("name"):
        return any(p.get("name") == port["name"] for p in ports)
    return True


def _tls(ingress: Obj) -> Finding | None:
    entries = (ingress.get("spec") or {}).get("tls") or []
    bare = [(i, t) for i, t in enumerate(entries) if not t.get("secretName")]
    if not bare:
        return None
    hosts = sorted({h for _, t in bare for h in t.get("hosts") or []})
    message = f"Ingress {meta(ingress).get('name')} has a TLS entry without secretName" + \
              (f" for {', '.join(hosts)}" if hosts else "") + \
              ", so no certificate of its own is configured for those hosts."
    evidence = [f"spec.tls[{i}]: hosts={t.get('hosts') or []} secretName=<unset>"
                for i, t in bare]
    return new_finding(NAME, ingress, "Ingress", "warning", "TLSSecretNameMissing", message=message,
                       evidence=evidence)
