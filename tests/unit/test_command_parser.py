"""kubectl command strings become one allowlisted action, or are refused with the reason."""

from __future__ import annotations

import pytest

from chalicelib.domain.command_parser import parse
from chalicelib.domain.errors import BadRequest


@pytest.mark.parametrize(("command", "expected"), [
    ("kubectl rollout restart deployment/web -n shop",
     ("rollout_restart", {"namespace": "shop", "kind": "deployment", "name": "web"})),
    ("kubectl -n shop rollout restart sts db",
     ("rollout_restart", {"namespace": "shop", "kind": "statefulset", "name": "db"})),
    ("kubectl delete pod web-5d9c7-x2k4m --namespace=shop",
     ("restart_pod", {"namespace": "shop", "pod_name": "web-5d9c7-x2k4m"})),
    ("kubectl scale deployment/web --replicas=3 -n shop",
     ("scale_deployment", {"namespace": "shop", "name": "web", "replicas": 3})),
    ("kubectl rollout undo deployment/web -n shop",
     ("rollback_deployment", {"namespace": "shop", "name": "web"})),
    ("kubectl set resources deployment web -c app --limits=memory=512Mi,cpu=1 -n shop",
     ("set_resources", {"namespace": "shop", "kind": "deployment", "name": "web",
                        "container": "app", "memory_limit": "512Mi", "cpu_limit": "1"})),
    ("kubectl cordon node-1", ("cordon_node", {"node_name": "node-1"})),
    ("kubectl uncordon node-1", ("uncordon_node", {"node_name": "node-1"})),
    ("kubectl drain node-1 --ignore-daemonsets --delete-emptydir-data",
     ("drain_node", {"node_name": "node-1"})),
    ("kubectl delete job nightly -n batch",
     ("delete_failed_job", {"namespace": "batch", "name": "nightly"})),
])
def test_recognised_commands_become_structured_actions(command: str, expected: tuple) -> None:
    assert parse(command) == expected


@pytest.mark.parametrize("command", [
    "kubectl delete pod web -n shop; rm -rf /",
    "kubectl get pods | sh",
    "kubectl delete pod web && kubectl delete ns prod",
    "kubectl delete pod $(whoami)",
    "kubectl delete pod `id`",
    "kubectl exec -it web -- sh",
    "kubectl delete namespace prod",
    "kubectl delete ns prod",
    "kubectl get secret db -o yaml",
    "kubectl apply -f evil.yaml",
    "kubectl delete pod web --grace-period=0 --force",
    "kubectl drain node-1 --force",
    "rm -rf /",
    "kubectl delete deployment web",
    "kubectl scale deployment web",
    "kubectl delete pod web\nkubectl delete ns prod",
    "",
    "kubectl 'unterminated",
])
def test_anything_else_is_refused_with_a_reason(command: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse(command)
    assert refused.value.code == "command_refused"
    assert refused.value.message.startswith("command refused: ")
