"""The write side of the Kubernetes REST API over the fake's store: create (POST), patch
(PATCH: merge, strategic merge, JSON patch), replace (PUT), delete (DELETE with
DeleteOptions), the ``pods/eviction`` and ``{deployments,replicasets,statefulsets}/scale``
subresources. ``dryRun=All`` validates and answers with the would-be object, storing
nothing. Every stored change bumps resourceVersion (and metadata.generation when the spec
changed), then the simulated controllers settle (controllers.py)."""

from __future__ import annotations

import copy
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.kube import ResourceKind
from tests.fake_kube import disruption
from tests.fake_kube.api import KubeApi, Target
from tests.fake_kube.controllers import Controllers
from tests.fake_kube.patching import PATCH_TYPES, PatchError, apply_patch
from tests.fake_kube.pods import new_uid, now, qos_class, random_suffix
from tests.fake_kube.status import ApiError, Reply, json_reply, no_such_path
from tests.fake_kube.store import with_server_fields
from tests.fake_kube.validation import SCALABLE, check_update, invalid, show, validate

Obj = dict[str, Any]
Query = dict[str, str]
VERBS = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}
PROPAGATION = ("Foreground", "Background", "Orphan")
# Kinds whose spec changes bump metadata.generation (and whose controllers observe it).
GENERATIONAL = ("deployments", "replicasets", "statefulsets", "daemonsets", "jobs",
                "cronjobs", "poddisruptionbudgets", "ingresses", "networkpolicies")
JOB_LABELS = ("batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name",
              "controller-uid", "job-name")


class KubeWrites:
    """Answers the write requests a real API server serves, one at a time."""

    def __init__(self, api: KubeApi, controllers: Controllers) -> None:
        self.api, self.store, self.controllers = api, api.store, controllers
        self.lock = threading.RLock()

    @staticmethod
    def serves(method: str, path: str) -> bool:
        """Whether a request is this module's: any write, and reads of ``/scale``."""
        return method != "GET" or path.rstrip("/").endswith("/scale")

    def handle(self, method: str, path: str, query: Query, body: bytes,
               content_type: str) -> Reply:
        """The response to one write request."""
        try:
            target = self.api.locate(path)
            if target.store is not self.store:
                raise _not_allowed()  # metrics.k8s.io is read-only
            with self.lock:
                media = content_type.partition(";")[0].strip()
                reply = self._dispatch(method, target, query, body, media)
                if self.controllers.auto_settle:
                    self.controllers.settle()
            return reply
        except ApiError as error:
            return error.reply()

    def _dispatch(self, method: str, target: Target, query: Query, body: bytes,
                  content_type: str) -> Reply:
        dry_run = _dry_run(query)
        if target.subresource == ["eviction"] and target.rk.plural == "pods":
            if method != "POST":
                raise _not_allowed()
            self.api.authorize(target, "create")
            return self._evict(target, _json(body), dry_run)
        if target.subresource == ["scale"] and target.rk.plural in SCALABLE:
            return self._scale(method, target, body, content_type, dry_run)
        if target.subresource:
            raise no_such_path()
        verb = VERBS.get(method)
        if verb is None or (verb == "create") != (target.name is None):
            raise _not_allowed()
        self.api.authorize(target, verb)
        if verb == "create":
            return json_reply(self._create(target, _json(body), dry_run), 201)
        old = self.api.get_object(target)
        if verb == "patch":
            return json_reply(self._update(target.rk, old, _patched(content_type, old, body),
                                           dry_run))
        if verb == "update":
            return json_reply(self._update(target.rk, old, _replacement(target, body), dry_run))
        return json_reply(self._delete(target, old, query, body, dry_run))

    # Verbs

    def _create(self, target: Target, obj: Any, dry_run: bool) -> Obj:
        rk = target.rk
        if not isinstance(obj, dict):
            raise ApiError(400, "the object to create must be a JSON object")
        _check_kind(rk, obj)
        meta = obj.setdefault("metadata", {})
        if rk.namespaced:
            if meta.get("namespace") not in (None, "", target.namespace):
                raise ApiError(400, "the namespace of the provided object does not match "
                                    "the namespace sent on the request")
            meta["namespace"] = target.namespace
            if self.store.get("namespaces", "", target.namespace or "") is None:
                raise ApiError(404, f'namespaces "{target.namespace}" not found',
                               details={"name": target.namespace, "kind": "namespaces"})
        if meta.get("resourceVersion"):
            raise ApiError(500, "resourceVersion should not be set on objects to be created")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + random_suffix()
        meta.update({"uid": new_uid(), "creationTimestamp": now()})
        _defaults(rk, obj)
        validate(rk, obj)
        if self.store.get(rk.plural, meta.get("namespace", ""), meta["name"]) is not None:
            raise ApiError(409, f'{_qualified(rk)} "{meta["name"]}" already exists',
                           reason="AlreadyExists", details={
                               "name": meta["name"], "group": rk.group, "kind": rk.plural})
        if dry_run:
            return with_server_fields(rk, obj)
        stored = self.store.put(rk, obj, keep_version=False)
        self.controllers.changed(rk.plural, stored)
        return stored

    def _update(self, rk: ResourceKind, old: Obj, new: Obj, dry_run: bool) -> Obj:
        meta, before = new.setdefault("metadata", {}), old["metadata"]
        if meta.get("resourceVersion") not in (None, "", before.get("resourceVersion")):
            raise _conflict(rk, before["name"])
        for key in ("name", "namespace", "uid", "creationTimestamp", "resourceVersion",
                    "generation"):
            if key in before:
                meta[key] = before[key]
        new["kind"], new["apiVersion"] = old.get("kind"), old.get("apiVersion")
        if "status" in old:  # the status is its controller's: a spec write keeps it
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)
        if new == old:
            return old  # a no-op write changes nothing, not even the resourceVersion
        check_update(rk, old, new)
        validate(rk, new)
        if rk.plural in GENERATIONAL and _spec(old) != _spec(new):
            meta["generation"] = int(before.get("generation") or 1) + 1
        if dry_run:
            return new
        stored = self.store.put(rk, new, keep_version=False)
        self.controllers.changed(rk.plural, stored)
        return stored

    def _delete(self, target: Target, old: Obj, query: Query, body: bytes,
                dry_run: bool) -> Obj:
        rk = target.rk
        options = _json(body) if body.strip() else {}
        if not isinstance(options, dict):
            raise ApiError(400, "DeleteOptions must be a JSON object")
        dry_run = dry_run or options.get("dryRun") == ["All"]
        default = "Orphan" if rk.plural == "jobs" else "Background"  # batch/v1's default
        policy = options.get("propagationPolicy") or query.get("propagationPolicy") or default
        if policy not in PROPAGATION:
            raise ApiError(422, f'propagationPolicy: Unsupported value: {show(policy)}: '
                                'supported values: "Foreground", "Background", "Orphan"')
        for key, value in (options.get("preconditions") or {}).items():
            if value is not None and old["metadata"].get(key) != value:
                raise _conflict(rk, old["metadata"]["name"], f"Precondition failed: {key} "
                                f"in precondition: {value}, {key} in object meta: "
                                f"{old['metadata'].get(key)}")
        if rk.plural == "pods":  # the pod as it starts terminating
            grace = options.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
            grace = int(grace if grace is not None else
                        (old.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
            answer = copy.deepcopy(old)
            answer["metadata"]["deletionTimestamp"] = (datetime.now(UTC) + timedelta(
                seconds=grace)).strftime("%Y-%m-%dT%H:%M:%SZ")
            answer["metadata"]["deletionGracePeriodSeconds"] = grace
        else:
            answer = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                      "status": "Success", "details": {**target.details(),
                                                       "uid": old["metadata"].get("uid")}}
        if not dry_run:
            self._remove(rk.plural, old, policy)
        return answer

    def _remove(self, plural: str, obj: Obj, propagation: str) -> None:
        m = obj["metadata"]
        if self.store.delete(plural, m.get("namespace", ""), m["name"]) is not None:
            self.controllers.deleted(plural, obj, propagation)

    def _evict(self, target: Target, eviction: Any, dry_run: bool) -> Reply:
        if not isinstance(eviction, dict) or eviction.get("kind") not in (None, "Eviction"):
            raise ApiError(400, "the body of an eviction must be an Eviction object")
        if (eviction.get("metadata") or {}).get("name") not in (None, target.name):
            raise ApiError(400, "name in URL does not match name in Eviction object")
        options = eviction.get("deleteOptions") or {}
        dry_run = dry_run or options.get("dryRun") == ["All"]
        pod = self.api.get_object(target)
        namespace = target.namespace or ""
        disruption.check_eviction(pod, self.store.list("poddisruptionbudgets", namespace),
                                  self.store.list("pods", namespace), self.store)
        if not dry_run:
            self._remove("pods", pod, "Background")
        return json_reply({"kind": "Status", "apiVersion": "v1", "metadata": {},
                           "status": "Success", "code": 201}, 201)

    def _scale(self, method: str, target: Target, body: bytes, content_type: str,
               dry_run: bool) -> Reply:
        verb = {"GET": "get", "PUT": "update", "PATCH": "patch"}.get(method)
        if verb is None:
            raise _not_allowed()
        self.api.authorize(target, verb)
        obj = self.api.get_object(target)
        scale = scale_of(obj)
        if verb == "get":
            return json_reply(scale)
        wanted = _patched(content_type, scale, body) if verb == "patch" else _json(body)
        if not isinstance(wanted, dict):
            raise ApiError(400, "the body of a scale update must be a Scale object")
        version = (wanted.get("metadata") or {}).get("resourceVersion")
        if version not in (None, "", obj["metadata"].get("resourceVersion")):
            raise _conflict(target.rk, obj["metadata"]["name"])
        replicas = (wanted.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise invalid(ResourceKind("scales", "Scale", "autoscaling", "v1"),
                          obj["metadata"]["name"], [("spec.replicas", (
                              f"Invalid value: {show(replicas)}: must be greater than or "
                              "equal to 0"))])
        changed = copy.deepcopy(obj)
        changed.setdefault("spec", {})["replicas"] = replicas
        return json_reply(scale_of(self._update(target.rk, obj, changed, dry_run)))


def scale_of(obj: Obj) -> Obj:
    """The autoscaling/v1 Scale of a deployment, replica set or stateful set."""
    m, spec = obj["metadata"], obj.get("spec") or {}
    selector = spec.get("selector") or {}
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    terms += [f"{e['key']} {e['operator'].lower()} ({','.join(e.get('values') or [])})"
              for e in selector.get("matchExpressions") or []]
    return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {
        k: m[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        if k in m}, "spec": {"replicas": spec.get("replicas", 1)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                   "selector": ",".join(terms)}}


def _defaults(rk: ResourceKind, obj: Obj) -> None:
    """What the API server fills in on create: a fresh status, generation, and the
    controller-managed selector and labels of a Job."""
    obj.pop("status", None)
    if rk.plural in GENERATIONAL:
        obj["metadata"]["generation"] = 1
    if rk.plural == "pods":
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}
    if rk.plural == "deployments":
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {
            "maxSurge": "25%", "maxUnavailable": "25%"}})
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
    if rk.plural == "jobs":
        obj.setdefault("spec", {})
        _job_defaults(rk, obj)


def _job_defaults(rk: ResourceKind, job: Obj) -> None:
    meta, spec = job["metadata"], job["spec"]
    if spec.get("selector") and not spec.get("manualSelector"):
        raise invalid(rk, meta.get("name", ""), [("spec.selector", (
            f"Invalid value: {show(spec['selector'])}: `selector` will be auto-generated"))])
    ids = dict(zip(JOB_LABELS, (meta["uid"], meta.get("name", ""), meta["uid"],
                                meta.get("name", "")), strict=True))
    if not spec.get("manualSelector"):
        spec["selector"] = {"matchLabels": {JOB_LABELS[0]: meta["uid"]}}
        template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
        template_meta["labels"] = {**(template_meta.get("labels") or {}), **ids}
    for key, value in (("parallelism", 1), ("completions", 1), ("backoffLimit", 6),
                       ("completionMode", "NonIndexed"), ("suspend", False)):
        spec.setdefault(key, value)


def _patched(content_type: str, current: Obj, body: bytes) -> Obj:
    if content_type not in PATCH_TYPES:
        raise ApiError(415, "the body of the request was in an unknown format - accepted "
                            f"media types include: {', '.join(PATCH_TYPES)}")
    try:
        result = apply_patch(content_type, current, _json(body))
    except PatchError as error:
        raise ApiError(422, str(error)) from error
    if not isinstance(result, dict):
        raise ApiError(422, "the patch did not produce an object")
    return result


def _replacement(target: Target, body: bytes) -> Obj:
    obj = _json(body)
    if not isinstance(obj, dict):
        raise ApiError(400, "the object to update must be a JSON object")
    _check_kind(target.rk, obj)
    name = (obj.get("metadata") or {}).get("name")
    if name != target.name:
        raise ApiError(400, f"the name of the object ({name}) does not match the name on "
                            f"the URL ({target.name})")
    return obj


def _check_kind(rk: ResourceKind, obj: Obj) -> None:
    if obj.get("apiVersion") not in (None, rk.api_version):
        raise ApiError(400, f"the API version in the data ({obj['apiVersion']}) does not "
                            f"match the expected API version ({rk.api_version})")
    if obj.get("kind") not in (None, rk.kind):
        raise ApiError(400, f"the kind in the data ({obj['kind']}) does not match the "
                            f"expected kind ({rk.kind})")


def _dry_run(query: Query) -> bool:
    value = query.get("dryRun")
    if value in (None, ""):
        return False
    if value != "All":
        raise ApiError(422, f'dryRun: Unsupported value: {show(value)}: supported values: '
                            '"All"')
    return True


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as error:
        raise ApiError(400, f"couldn't get version/kind; json parse error: {error}") from error


def _spec(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _qualified(rk: ResourceKind) -> str:
    return f"{rk.plural}.{rk.group}" if rk.group else rk.plural


def _conflict(rk: ResourceKind, name: str, why: str = "") -> ApiError:
    why = why or ("the object has been modified; please apply your changes to the latest "
                  "version and try again")
    return ApiError(409, f'Operation cannot be fulfilled on {_qualified(rk)} "{name}": {why}',
                    details={"name": name, "group": rk.group, "kind": rk.plural})


def _not_allowed() -> ApiError:
    return ApiError(405, "the server does not allow this method on the requested resource",
                    details={})
