"""Rewrite chalice's sam.json so each endpoint group is its own Lambda with its own zip.

Chalice serves every route from one ``APIHandler`` function. Here that function becomes one
``<Group>ApiHandler`` per group (DROVER_GROUPS=<group>, CodeUri ./<group>.zip, an API
Gateway invoke permission each), every ``x-amazon-apigateway-integration`` uri of the
RestAPI's swagger points at the function of the group that registers the route, and the
event functions (SQS, SNS, schedules, Step Functions tasks) get their group's zip and
DROVER_GROUPS, found from the module of their handler.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

API = "APIHandler"
API_URI = "${APIHandler.Arn}"


def function_name(group: str) -> str:
    """The CloudFormation name of a group's API function, e.g. ``IngestApiHandler``."""
    return "".join(part.capitalize() for part in group.replace("-", "_").split("_")) \
        + "ApiHandler"


def route_owners(routes: Mapping[str, Iterable[tuple[str, str]]]) -> dict[tuple[str, str], str]:
    """(path, METHOD) -> the group registering it; a route claimed twice is an error."""
    owners: dict[tuple[str, str], str] = {}
    for group, pairs in routes.items():
        for path, method in pairs:
            key = (path, method.upper())
            if key in owners:
                raise ValueError(f"{method} {path} is registered by both '{owners[key]}' "
                                 f"and '{group}'")
            owners[key] = group
    return owners


def split(sam: dict[str, Any], routes: Mapping[str, Iterable[tuple[str, str]]],
          modules: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    """A copy of ``sam`` with one API function per group that has routes (see module doc)."""
    sam = copy.deepcopy(sam)
    owners = route_owners(routes)
    resources = sam["Resources"]
    api, permission = resources.pop(API), resources.pop(f"{API}InvokePermission")
    outputs = sam.get("Outputs", {})
    outputs.pop(f"{API}Name", None)
    outputs.pop(f"{API}Arn", None)
    _assign_event_functions(resources, modules)
    for group in sorted(set(owners.values())):
        name = function_name(group)
        resources[name] = _for_group(api, group)
        grant = copy.deepcopy(permission)
        grant["Properties"]["FunctionName"] = {"Ref": name}
        resources[f"{name}InvokePermission"] = grant
        outputs[f"{name}Name"] = {"Value": {"Ref": name}}
        outputs[f"{name}Arn"] = {"Value": {"Fn::GetAtt": [name, "Arn"]}}
    _point_integrations(resources["RestAPI"]["Properties"]["DefinitionBody"], owners)
    left = list(_references(sam, API))
    if left:
        raise ValueError(f"the template still refers to {API}: {', '.join(left)}")
    return sam


def _for_group(function: dict[str, Any], group: str) -> dict[str, Any]:
    """A copy of a function resource with the group's zip and DROVER_GROUPS."""
    function = copy.deepcopy(function)
    props = function["Properties"]
    props["CodeUri"] = f"./{group}.zip"
    props.setdefault("Environment", {}).setdefault("Variables", {})["DROVER_GROUPS"] = group
    return function


def _point_integrations(swagger: dict[str, Any], owners: dict[tuple[str, str], str]) -> None:
    """Point each route's Lambda proxy integration at its group's function."""
    for path, methods in swagger["paths"].items():
        for method, operation in methods.items():
            integration = operation.get("x-amazon-apigateway-integration", {})
            uri = integration.get("uri", {})
            if API_URI not in json.dumps(uri):
                continue  # e.g. a CORS preflight's mock integration
            group = owners.get((path, method.upper()))
            if group is None:
                raise ValueError(f"no endpoint group registers {method.upper()} {path}")
            target = "${%s.Arn}" % function_name(group)  # noqa: UP031 (a literal ${...})
            integration["uri"] = json.loads(json.dumps(uri).replace(API_URI, target))


def _assign_event_functions(resources: dict[str, Any],
                            modules: Mapping[str, Iterable[str]]) -> None:
    """Give each non-API function the zip and DROVER_GROUPS of its handler's group."""
    group_of = {module: group for group, names in modules.items() for module in names}
    for name, resource in list(resources.items()):
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        module = resource["Properties"]["Handler"].rpartition(".")[0]
        if module not in group_of:
            raise ValueError(f"{name}'s handler module {module} is in no endpoint group")
        resources[name] = _for_group(resource, group_of[module])


def _references(node: Any, name: str, where: str = "") -> Iterable[str]:
    """Where a template still names resource ``name`` (Ref, GetAtt, Sub, DependsOn)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _references(value, name, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _references(value, name, f"{where}/{index}")
    elif isinstance(node, str) and (node == name or f"${{{name}." in node
                                    or f"${{{name}}}" in node):
        yield where
