"""The read side of the Kubernetes REST API over an :class:`ObjectStore`: discovery, list,
get and logs, answering errors with ``Status`` objects as the real API server does.
Resource paths resolve to a :class:`Target` here for the write verbs too (writes.py)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from chalicelib.domain.kube import ALL_KINDS, ResourceKind
from tests.fake_kube.logs import node_log, pod_log
from tests.fake_kube.selectors import (
    SelectorError,
    fields_match,
    labels_match,
    parse_field_selector,
    parse_label_selector,
)
from tests.fake_kube.status import ApiError, Reply, json_reply, no_such_path
from tests.fake_kube.store import METRICS_KINDS, WRITE_KINDS, ObjectStore

Obj = dict[str, Any]
Query = dict[str, str]
USER = "system:serviceaccount:drover:drover"
VERBS = ["create", "delete", "get", "list", "patch", "update"]
SUBRESOURCES = {"": [("pods/log", "Pod", ["get"]), ("pods/eviction", "Eviction", ["create"])],
                "apps": [(f"{p}/scale", "Scale", ["get", "patch", "update"])
                         for p in ("deployments", "replicasets", "statefulsets")]}


@dataclass
class Target:
    """What a resource path names: a resource, maybe a namespace, name and subresource."""

    rk: ResourceKind
    store: ObjectStore
    namespace: str | None
    name: str | None
    subresource: list[str]

    @property
    def qualified(self) -> str:
        """``pods`` for the core group, ``deployments.apps`` for the others."""
        return f"{self.rk.plural}.{self.rk.group}" if self.rk.group else self.rk.plural

    def details(self) -> Obj:
        """The ``details`` of a Status about this target."""
        out: Obj = {"name": self.name} if self.name else {}
        if self.rk.group:
            out["group"] = self.rk.group
        out["kind"] = self.rk.plural
        return out


class KubeApi:
    """Answers GET requests for the paths a real API server serves."""

    def __init__(self, store: ObjectStore, metrics: ObjectStore | None,
                 logs: dict[str, str], version: str, forbidden: set[str]) -> None:
        self.store, self.metrics, self.logs = store, metrics, logs
        self.version, self.forbidden = version, forbidden
        self.groups: dict[tuple[str, str], dict[str, tuple[ResourceKind, ObjectStore]]] = {}
        for rk in [*ALL_KINDS.values(), *WRITE_KINDS.values()]:
            self.groups.setdefault((rk.group, rk.version), {})[rk.plural] = (rk, store)
        if metrics is not None:
            for rk in METRICS_KINDS.values():
                self.groups.setdefault((rk.group, rk.version), {})[rk.plural] = (rk, metrics)

    def get(self, path: str, query: Query) -> Reply:
        """The response to ``GET path?query``."""
        parts = [unquote(p) for p in path.split("/") if p]
        try:
            if parts == ["version"]:
                return json_reply(self.version_info())
            if parts == ["api"]:
                return json_reply({"kind": "APIVersions", "versions": ["v1"],
                                   "serverAddressByClientCIDRs": []})
            if parts == ["apis"]:
                return json_reply(self.group_list())
            return self._get_resource(parts, query)
        except ApiError as error:
            return error.reply()

    def version_info(self) -> Obj:
        """What ``GET /version`` answers."""
        match = re.match(r"v?(\d+)\.(\d+)", self.version)
        major, minor = match.groups() if match else ("1", "0")
        return {"major": major, "minor": minor, "gitVersion": self.version,
                "gitCommit": "0" * 40, "gitTreeState": "clean",
                "buildDate": "2026-01-15T10:00:00Z", "goVersion": "go1.22.9",
                "compiler": "gc", "platform": "linux/amd64"}

    def group_list(self) -> Obj:
        """What ``GET /apis`` answers: every named group this server serves."""
        groups = []
        for group, version in sorted(k for k in self.groups if k[0]):
            gv = {"groupVersion": f"{group}/{version}", "version": version}
            groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def resource_list(self, group: str, version: str) -> Obj:
        """What ``GET /api/v1`` or ``/apis/{group}/{version}`` answers."""
        resources = []
        for plural, (rk, store) in sorted(self.groups[(group, version)].items()):
            resources.append({"name": plural, "singularName": rk.kind.lower(),
                              "namespaced": rk.namespaced, "kind": rk.kind,
                              "verbs": VERBS if store is self.store else ["get", "list"]})
        for name, kind, verbs in SUBRESOURCES.get(group, []) if version == "v1" else []:
            resources.append({"name": name, "singularName": "", "namespaced": True,
                              "kind": kind, "verbs": verbs})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version,
                "resources": resources}

    def _get_resource(self, parts: list[str], query: Query) -> Reply:
        group, version, rest = self._group_version(parts)
        if not rest:
            return json_reply(self.resource_list(group, version))
        target = self._target(group, version, rest)
        self.authorize(target)
        if target.subresource:
            return self._subresource(target, query)
        if query.get("watch", "").lower() in ("true", "1"):
            raise ApiError(405, "watch is not served by the fake API server")
        if target.name is None:
            return json_reply(self.list_objects(target, query))
        return json_reply(self.get_object(target))

    def locate(self, path: str) -> Target:
        """The resource a path names (404 when no API group serves it)."""
        group, version, rest = self._group_version([unquote(p) for p in path.split("/") if p])
        if not rest:
            raise no_such_path()
        return self._target(group, version, rest)

    def _group_version(self, parts: list[str]) -> tuple[str, str, list[str]]:
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise no_such_path()
        if (group, version) not in self.groups:
            raise no_such_path()
        return group, version, rest

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        found = self.groups[(group, version)].get(rest[0])
        if found is None:
            raise no_such_path()
        rk, store = found
        name = rest[1] if len(rest) > 1 else None
        # Namespaced objects are only addressable inside their namespace, and
        # cluster-scoped ones only outside any namespace, as on a real server.
        if (namespace is not None and not rk.namespaced) or (
                namespace is None and name is not None and rk.namespaced):
            raise no_such_path()
        return Target(rk, store, namespace, name, rest[2:])

    def authorize(self, target: Target, verb: str | None = None) -> None:
        """Refuse with 403 what :meth:`FakeKubeServer.forbid` forbids, as RBAC would."""
        resource = target.rk.plural + (f"/{target.subresource[0]}" if target.subresource else "")
        names = {resource, f"{resource}.{target.rk.group}"}
        if target.store is not self.store:
            names.discard(resource)  # forbid("pods") must not hide metrics.k8s.io pods
        if not names & self.forbidden:
            return
        verb = verb or ("list" if target.name is None else "get")
        scope = (f'in the namespace "{target.namespace}"' if target.namespace
                 else "at the cluster scope")
        subject = f'{target.qualified} "{target.name}"' if target.name else target.qualified
        message = (f'{subject} is forbidden: User "{USER}" cannot {verb} resource "{resource}" '
                   f'in API group "{target.rk.group}" {scope}')
        raise ApiError(403, message, details=target.details())

    def list_objects(self, target: Target, query: Query) -> Obj:
        """A ``<Kind>List`` filtered by selectors and cut to one page."""
        try:
            labels = parse_label_selector(query.get("labelSelector", ""))
            fields = parse_field_selector(query.get("fieldSelector", ""), target.rk.plural)
        except SelectorError as error:
            raise ApiError(400, str(error)) from error
        items = [o for o in target.store.list(target.rk.plural, target.namespace)
                 if labels_match(labels, o) and fields_match(fields, o, target.rk.plural)]
        for item in items:
            # Items of a list carry no kind/apiVersion on the wire; only the list does.
            item.pop("kind", None)
            item.pop("apiVersion", None)
        page, metadata = _paginate(items, query, target.store.resource_version)
        if labels or fields:
            metadata.pop("remainingItemCount", None)  # the real server omits it then
        return {"kind": f"{target.rk.kind}List", "apiVersion": target.rk.api_version,
                "metadata": metadata, "items": page}

    def get_object(self, target: Target) -> Obj:
        """One object, or a 404 naming it."""
        assert target.name is not None
        obj = target.store.get(target.rk.plural, target.namespace or "", target.name)
        if obj is None:
            raise ApiError(404, f'{target.qualified} "{target.name}" not found',
                           details=target.details())
        return obj

    def _subresource(self, target: Target, query: Query) -> Reply:
        if target.store is self.store and target.rk.plural == "pods" and \
                target.subresource == ["log"]:
            return pod_log(self.get_object(target), self.logs, query)
        if target.store is self.store and target.rk.plural == "nodes" and \
                target.subresource[:2] == ["proxy", "logs"]:
            return node_log(self.get_object(target), self.logs, query)
        raise no_such_path()


def _paginate(items: list[Obj], query: Query, version: str) -> tuple[list[Obj], Obj]:
    """One page of ``items`` per ``limit``/``continue``, with the list's metadata."""
    start = _decode_continue(query["continue"]) if query.get("continue") else 0
    try:
        limit = int(query.get("limit") or 0)
    except ValueError as error:
        raise ApiError(400, f"invalid limit: {query.get('limit')!r}") from error
    metadata: Obj = {"resourceVersion": version}
    if limit <= 0 and start == 0:
        return items, metadata
    end = len(items) if limit <= 0 else start + limit
    if end < len(items):
        token = json.dumps({"v": 1, "rv": version, "start": end}).encode()
        metadata["continue"] = base64.urlsafe_b64encode(token).decode()
        metadata["remainingItemCount"] = len(items) - end
    return items[start:end], metadata


def _decode_continue(token: str) -> int:
    try:
        start = json.loads(base64.urlsafe_b64decode(token.encode()))["start"]
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise ApiError(400, f"continue key is not valid: {error}") from error
    if not isinstance(start, int) or start < 0:
        raise ApiError(400, "continue key is not valid: bad position")
    return start
