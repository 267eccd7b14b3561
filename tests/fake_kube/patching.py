"""The three patch formats the Kubernetes API server accepts: JSON merge patch (RFC 7386),
strategic merge patch (the fields remediation touches) and JSON patch (RFC 6902)."""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE, STRATEGIC)
# patchMergeKey of the lists the API types declare with patchStrategy "merge"; lists not
# named here are replaced whole, as for any list without a merge strategy.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name",
              "env": "name", "volumes": "name", "volumeMounts": "mountPath",
              "volumeDevices": "devicePath", "imagePullSecrets": "name", "conditions": "type",
              "ownerReferences": "uid", "hostAliases": "ip",
              "topologySpreadConstraints": "topologyKey", "resourceClaims": "name"}
# Container ports merge on containerPort, Service ports on port.
PORT_KEYS = ("containerPort", "port")


class PatchError(ValueError):
    """A patch that cannot be applied (the API server answers 422 or 400)."""


def apply_patch(content_type: str, document: Obj, patch: Any) -> Obj:
    """``document`` with ``patch`` applied, by the patch's media type."""
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise PatchError("json patch must be a list of operations")
        return json_patch(document, patch)
    if not isinstance(patch, dict):
        raise PatchError("patch must be a JSON object")
    if content_type == MERGE:
        return merge_patch(document, patch)
    return strategic_merge_patch(document, patch)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A strategic merge patch: like a merge patch, but lists the API declares mergeable
    merge item by item on their key, and ``$patch`` directives are honoured."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # $setElementOrder, $retainKeys: ordering and pruning hints
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and _merge_key(key, value):
            result[key] = _merge_list(result.get(key) or [], value, _merge_key(key, value))
        else:
            merged = strategic_merge_patch(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    return result


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        present = {k for item in items if isinstance(item, dict) for k in PORT_KEYS if k in item}
        return next((k for k in PORT_KEYS if k in present), None)
    return MERGE_KEYS.get(field)


def _merge_list(current: list[Any], patch: list[Any], key: str) -> list[Any]:
    result = [copy.deepcopy(item) for item in current]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {key}")
        index = next((i for i, old in enumerate(result)
                      if isinstance(old, dict) and old.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append({k: v for k, v in item.items() if not k.startswith("$")})
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


def json_patch(document: Obj, operations: list[Any]) -> Obj:
    """RFC 6902 operations applied in order (add, remove, replace, move, copy, test)."""
    result: Any = copy.deepcopy(document)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise PatchError(f"invalid json patch operation: {operation!r}")
        result = _apply_operation(result, operation)
    return result


def _apply_operation(doc: Any, op: Obj) -> Any:
    name, path = op["op"], _pointer(op["path"])
    if name == "test":
        if _get(doc, path) != op.get("value"):
            raise PatchError(f"testing value {op['path']} failed")
        return doc
    if name in ("move", "copy"):
        if "from" not in op:
            raise PatchError(f"{name} operation does not have a from field")
        value = copy.deepcopy(_get(doc, _pointer(op["from"])))
        if name == "move":
            doc = _remove(doc, _pointer(op["from"]))
        return _add(doc, path, value)
    if name in ("add", "replace") and "value" not in op:
        raise PatchError(f"{name} operation does not have a value field")
    if name == "add":
        return _add(doc, path, copy.deepcopy(op["value"]))
    if name == "remove":
        return _remove(doc, path)
    if name == "replace":
        _get(doc, path)  # must exist
        return _add(_remove(doc, path), path, copy.deepcopy(op["value"]))
    raise PatchError(f"unexpected kind of json patch operation: {name!r}")


def _pointer(text: Any) -> list[str]:
    if not isinstance(text, str) or (text and not text.startswith("/")):
        raise PatchError(f"invalid json pointer: {text!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in text.split("/")[1:]]


def _step(parent: Any, token: str, path: list[str]) -> Any:
    if isinstance(parent, dict) and token in parent:
        return parent[token]
    if isinstance(parent, list) and token.isdigit() and int(token) < len(parent):
        return parent[int(token)]
    raise PatchError(f"doc is missing path: \"/{'/'.join(path)}\": missing value")


def _get(doc: Any, path: list[str]) -> Any:
    current = doc
    for token in path:
        current = _step(current, token, path)
    return current


def _add(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent = _get(doc, path[:-1])
    token = path[-1]
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        if token == "-":
            parent.append(value)
        elif token.isdigit() and int(token) <= len(parent):
            parent.insert(int(token), value)
        else:
            raise PatchError(f"add operation does not apply: index {token} out of range")
    else:
        raise PatchError(f"doc is missing path: \"/{'/'.join(path)}\"")
    return doc


def _remove(doc: Any, path: list[str]) -> Any:
    if not path:
        raise PatchError("cannot remove the whole document")
    parent = _get(doc, path[:-1])
    _step(parent, path[-1], path)  # must exist
    if isinstance(parent, dict):
        del parent[path[-1]]
    else:
        del parent[int(path[-1])]
    return doc
