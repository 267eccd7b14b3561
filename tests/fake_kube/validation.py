"""What the fake API server refuses to store, with the real server's 422 messages: invalid
names, replicas, containers, resources, selectors, and changes to immutable fields."""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.domain.kube import ResourceKind, label_selector_matches
from chalicelib.domain.quantity import parse_quantity
from tests.fake_kube.status import ApiError

Obj = dict[str, Any]
Cause = tuple[str, str]  # field, "Invalid value: ...: why" / "Required value" ...
SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN_HELP = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                  "characters, '-' or '.', and must start and end with an alphanumeric "
                  "character (e.g. 'example.com', regex used for validation is "
                  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
SCALABLE = ("deployments", "replicasets", "statefulsets")
SELECTED = (*SCALABLE, "daemonsets")
POD_MUTABLE = ("`spec.containers[*].image`,`spec.initContainers[*].image`,"
               "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
               "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if "
               "it was previously negative)")
STATEFULSET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
                       "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def show(value: Any) -> str:
    """A value as the API server quotes it in messages."""
    return json.dumps(value) if isinstance(value, str) else json.dumps(value, sort_keys=True)


def invalid(rk: ResourceKind, name: str, causes: list[Cause]) -> ApiError:
    """The 422 the API server answers for an invalid object."""
    qualified = f"{rk.kind}.{rk.group}" if rk.group else rk.kind
    listed = [f"{field}: {why}" for field, why in causes]
    text = listed[0] if len(listed) == 1 else f"[{', '.join(listed)}]"
    return ApiError(422, f'{qualified} "{name}" is invalid: {text}', reason="Invalid", details={
        "name": name, "group": rk.group, "kind": rk.kind,
        "causes": [{"reason": "FieldValueInvalid", "message": why, "field": field}
                   for field, why in causes]})


def validate(rk: ResourceKind, obj: Obj) -> None:
    """Raise 422 when the object may not be stored."""
    causes = _name_causes(obj)
    spec = obj.get("spec") or {}
    if rk.plural in SCALABLE:
        replicas = spec.get("replicas", 1)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            causes.append(("spec.replicas", f"Invalid value: {show(replicas)}: must be greater "
                                            "than or equal to 0"))
    if rk.plural in SELECTED:
        causes += _selector_causes(spec)
    if rk.plural == "pods":
        causes += pod_spec_causes(spec, "spec")
    elif "template" in spec and rk.plural != "poddisruptionbudgets":
        causes += pod_spec_causes((spec.get("template") or {}).get("spec") or {},
                                  "spec.template.spec")
    if rk.plural == "jobs":
        policy = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
        if policy not in ("Never", "OnFailure"):
            causes.append(("spec.template.spec.restartPolicy",
                           f'Unsupported value: {show(policy)}: supported values: '
                           f'"OnFailure", "Never"'))
    if rk.plural == "poddisruptionbudgets" and spec.get("minAvailable") is not None and \
            spec.get("maxUnavailable") is not None:
        causes.append(("spec", f"Invalid value: {show(spec)}: minAvailable and "
                               "maxUnavailable cannot be both set"))
    if causes:
        raise invalid(rk, (obj.get("metadata") or {}).get("name", ""), causes)


def _name_causes(obj: Obj) -> list[Cause]:
    name = (obj.get("metadata") or {}).get("name") or ""
    if not name:
        return [("metadata.name", "Required value: name or generateName is required")]
    if len(name) > 253 or not SUBDOMAIN.match(name):
        return [("metadata.name", f"Invalid value: {show(name)}: {SUBDOMAIN_HELP}")]
    return []


def _selector_causes(spec: Obj) -> list[Cause]:
    selector = spec.get("selector")
    if not selector:
        return [("spec.selector", "Required value")]
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not label_selector_matches(selector, labels, empty_matches_all=False):
        return [("spec.template.metadata.labels",
                 f"Invalid value: {show(labels)}: `selector` does not match template `labels`")]
    return []


def pod_spec_causes(spec: Obj, at: str) -> list[Cause]:
    """What is wrong with a pod spec's containers (names, images, resources)."""
    containers = spec.get("containers") or []
    if not containers:
        return [(f"{at}.containers", "Required value")]
    causes: list[Cause] = []
    for i, container in enumerate(containers):
        field = f"{at}.containers[{i}]"
        name = container.get("name") or ""
        if not name:
            causes.append((f"{field}.name", "Required value"))
        elif not LABEL.match(name) or len(name) > 63:
            causes.append((f"{field}.name", f"Invalid value: {show(name)}: a lowercase RFC "
                                            "1123 label must consist of lower case "
                                            "alphanumeric characters or '-'"))
        if not container.get("image"):
            causes.append((f"{field}.image", "Required value"))
        causes += _resource_causes(container.get("resources") or {}, f"{field}.resources")
    return causes


def _resource_causes(resources: Obj, at: str) -> list[Cause]:
    causes: list[Cause] = []
    values: dict[str, dict[str, float]] = {}
    for section in ("requests", "limits"):
        for resource, raw in (resources.get(section) or {}).items():
            amount = parse_quantity(raw)
            if amount is None or amount < 0:
                causes.append((f"{at}.{section}[{resource}]",
                               f"Invalid value: {show(raw)}: quantities must match the regular "
                               "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"))
            else:
                values.setdefault(section, {})[resource] = amount
    for resource, request in (values.get("requests") or {}).items():
        limit = (values.get("limits") or {}).get(resource)
        if limit is not None and request > limit:
            raw = (resources.get("requests") or {})[resource]
            causes.append((f"{at}.requests", f"Invalid value: {show(raw)}: must be less than "
                                             f"or equal to {resource} limit of "
                                             f"{resources['limits'][resource]}"))
    return causes


def check_update(rk: ResourceKind, old: Obj, new: Obj) -> None:
    """Raise 422 when an update changes what may not change."""
    name = old["metadata"]["name"]
    before, after = old.get("spec") or {}, new.get("spec") or {}
    causes: list[Cause] = []
    if rk.plural in (*SELECTED, "jobs") and before.get("selector") != after.get("selector"):
        causes.append(("spec.selector", f"Invalid value: {show(after.get('selector'))}: "
                                        "field is immutable"))
    if rk.plural == "jobs" and before.get("template") != after.get("template"):
        causes.append(("spec.template", f"Invalid value: {show(after.get('template'))}: "
                                        "field is immutable"))
    if rk.plural == "statefulsets" and _without(before, STATEFULSET_MUTABLE) != \
            _without(after, STATEFULSET_MUTABLE):
        causes.append(("spec", "Forbidden: updates to statefulset spec for fields other than "
                               "'replicas', 'ordinals', 'template', 'updateStrategy', "
                               "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' "
                               "are forbidden"))
    if rk.plural == "pods" and _pod_fixed(before) != _pod_fixed(after):
        causes.append(("spec", f"Forbidden: pod updates may not change fields other than "
                               f"{POD_MUTABLE}"))
    if causes:
        raise invalid(rk, name, causes)


def _without(spec: Obj, keys: tuple[str, ...]) -> Obj:
    return {k: v for k, v in spec.items() if k not in keys}


def _pod_fixed(spec: Obj) -> Obj:
    """A pod spec without what an update may change."""
    fixed = _without(spec, ("activeDeadlineSeconds", "tolerations",
                            "terminationGracePeriodSeconds"))
    for key in ("containers", "initContainers"):
        fixed[key] = [{k: v for k, v in c.items() if k != "image"}
                      for c in spec.get(key) or []]
    return fixed
