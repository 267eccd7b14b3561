"""Pod and node logs, with the errors the API server and kubelet give for them.

Logs are keyed as in the eval cases: ``pod/container`` (current), ``pod/container/previous``
(the last terminated instance) and ``node/<name>/<unit>`` (node log query)."""

from __future__ import annotations

from typing import Any

from tests.fake_kube.status import ApiError, Reply

Obj = dict[str, Any]
Query = dict[str, str]


def pod_log(pod: Obj, logs: dict[str, str], query: Query) -> Reply:
    """What ``GET .../pods/{name}/log`` answers for a stored pod."""
    name = pod["metadata"]["name"]
    container = _container(pod, name, logs, query.get("container") or "")
    previous = _flag(query.get("previous"))
    text = logs.get(f"{name}/{container}/previous" if previous else f"{name}/{container}")
    if text is None and previous:
        raise ApiError(400, f'previous terminated container "{container}" in pod "{name}" '
                            "not found")
    if text is None:
        _refuse_unstarted(pod, name, container)
    return _text(text or "", query)


def node_log(node: Obj, logs: dict[str, str], query: Query) -> Reply:
    """What the node log query ``GET /api/v1/nodes/{name}/proxy/logs/?query=unit`` answers."""
    unit = query.get("query")
    if not unit:
        raise ApiError(400, "node log query needs a 'query' parameter naming a unit")
    return _text(logs.get(f"node/{node['metadata']['name']}/{unit}", ""), query)


def _flag(value: str | None) -> bool:
    # The official Python client sends booleans as "True"; Go's ParseBool accepts that.
    return (value or "").lower() in ("1", "t", "true")


def _container(pod: Obj, name: str, logs: dict[str, str], wanted: str) -> str:
    spec = pod.get("spec") or {}
    main = [c.get("name", "") for c in spec.get("containers") or []]
    others = [c.get("name", "") for key in ("initContainers", "ephemeralContainers")
              for c in spec.get(key) or []]
    if not main:
        # Hand-written cases sometimes omit the spec; their log keys name the containers.
        main = sorted({k.split("/")[1] for k in logs if k.startswith(f"{name}/")})
    if not wanted:
        if len(main) == 1:
            return main[0]
        raise ApiError(400, f"a container name must be specified for pod {name}, "
                            f"choose one of: [{' '.join(main)}]")
    if wanted not in main + others:
        raise ApiError(400, f"container {wanted} is not valid for pod {name}")
    return wanted


def _refuse_unstarted(pod: Obj, name: str, container: str) -> None:
    """Raise the kubelet's error when a container never ran, so it has no log at all."""
    status = pod.get("status") or {}
    statuses = [cs for key in ("containerStatuses", "initContainerStatuses")
                for cs in status.get(key) or [] if cs.get("name") == container]
    if not statuses:
        return
    state = statuses[0].get("state") or {}
    last = statuses[0].get("lastState") or {}
    waiting = state.get("waiting")
    if waiting is None or "terminated" in last:
        return
    reason = waiting.get("reason") or "ContainerCreating"
    why = {"ErrImagePull": "image can't be pulled",
           "ImagePullBackOff": "trying and failing to pull image"}.get(reason, reason)
    raise ApiError(400, f'container "{container}" in pod "{name}" is waiting to start: {why}')


def _text(text: str, query: Query) -> Reply:
    try:
        tail = int(query["tailLines"]) if query.get("tailLines") else None
        limit = int(query["limitBytes"]) if query.get("limitBytes") else None
    except ValueError as error:
        raise ApiError(400, f"invalid log options: {error}") from error
    if tail is not None:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-tail:]) if tail > 0 else ""
    body = text.encode()
    if limit is not None and limit > 0:
        body = body[:limit]
    return Reply(200, body, "text/plain")
