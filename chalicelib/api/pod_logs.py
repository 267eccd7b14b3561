"""Endpoint group ``clusters``: seed 002's ``GET /api/pods/{namespace}/{pod_name}/logs``.

API Gateway requires sibling path variables to share one name, and the incidents group's
``/api/pods/{pod_id}/status`` already names the third segment ``pod_id``. So the route is
registered as ``/api/pods/{pod_id}/{name}/logs`` with ``pod_id`` carrying the namespace; the
URL clients call is unchanged.

The answer is JSON: ``pod_name``, ``namespace``, ``container`` (the one read, chosen as
``kubectl logs`` does when none is named), ``previous``, ``tail_lines``, ``logs`` (text),
``cluster`` and ``containers`` (what else can be asked for).
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.cluster_ref import cluster_for
from chalicelib.api.diagrams import dns_label, dns_subdomain
from chalicelib.api.http import Call, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.errors import BadRequest

bp = Blueprint(__name__)
DEFAULT_TAIL, MAX_TAIL = 100, 5000
_FLAGS = {"true": True, "1": True, "false": False, "0": False}


def _flag(call: Call, name: str) -> bool:
    raw = call.query(name)
    if raw is None:
        return False
    if raw.lower() not in _FLAGS:
        raise BadRequest(f"'{name}' must be true or false", code="bad_parameter")
    return _FLAGS[raw.lower()]


@endpoint(bp, "/api/pods/{pod_id}/{name}/logs", scope="clusters:read")
def pod_logs(call: Call, pod_id: str, name: str) -> dict[str, Any]:
    """The last ``tail_lines`` (1-5000, default 100) of a container's log, of its previous
    run with ``previous=true``."""
    namespace = dns_label(pod_id, "namespace")
    dns_subdomain(name, "pod")
    container = call.query("container")
    if container:
        dns_label(container, "container")
    tail_lines = call.int_query("tail_lines", DEFAULT_TAIL, 1, MAX_TAIL)
    previous = _flag(call, "previous")
    return get_container().diagrams.pod_log(cluster_for(call), namespace, name,
                                            container=container, tail_lines=tail_lines,
                                            previous=previous)
