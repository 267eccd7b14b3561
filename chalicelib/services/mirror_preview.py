"""Mirror preview (seed 002 ``POST /api/mirror/preview/{id}``): the failing pod's workload,
read from its cluster, with the diagnosis' fix applied to a copy named ``<name>-mirror``.

Only mechanical fixes are applied (a memory limit, a missing variable with a placeholder);
anything that needs a human's judgement (an image tag, a probe) is kept and flagged. Nothing
is deployed here: deploying a mirror is the remediation group's job.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.cluster_ports import ClusterClient
from chalicelib.domain.diagnosis import Diagnosis
from chalicelib.domain.errors import DependencyUnavailable, DroverError, NotFound
from chalicelib.domain.kube import SNAPSHOT_KINDS
from chalicelib.domain.models import Incident
from chalicelib.domain.quantity import parse_quantity
from chalicelib.services.clusters import ClusterService
from chalicelib.services.diagnosis import DiagnosisService
from chalicelib.services.pod_failures import PodFailureService

Obj = dict[str, Any]
Change = dict[str, Any]
MIRROR_LABEL = "drover.io/mirror"
MIRROR_OF_LABEL = "drover.io/mirror-of"
KURE_MIRROR_LABEL = "kure.io/mirror"  # Kure's scanner skips pods labelled so
PLACEHOLDER = "REPLACE_ME"
OWNER_PLURALS = {"ReplicaSet": "replicasets", "Deployment": "deployments",
                 "StatefulSet": "statefulsets", "DaemonSet": "daemonsets", "Job": "jobs"}
SCALABLE = ("Deployment", "StatefulSet", "ReplicaSet")
_METADATA_DROPPED = ("creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                     "generateName", "generation", "resourceVersion", "selfLink", "uid",
                     "managedFields", "ownerReferences", "finalizers")
# last-applied-configuration repeats the whole object (env values included).
_ANNOTATIONS_DROPPED = ("kubectl.kubernetes.io/last-applied-configuration",
                        "deployment.kubernetes.io/revision")
_GENERATED_LABELS = ("pod-template-hash", "controller-uid", "job-name",
                     "batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name")
_INJECTED_VOLUMES = ("kube-api-access-", "default-token-")
_DEFAULT_TOLERATIONS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
_SET_ENV = re.compile(r"set env \S+(?: -c (?P<container>\S+))? (?P<var>[A-Za-z_][A-Za-z0-9_]*)=")
_ENV_SUGGESTION = re.compile(r"environment variable (?P<var>[A-Za-z_][A-Za-z0-9_]*)"
                             r"(?: on container (?P<container>\S+))?")
_MEMORY_FLAG = re.compile(r"--limits=(?:[^ ]*,)?memory=(?P<memory>[0-9.]+[A-Za-z]*)")


# --- manifests -------------------------------------------------------------------------------
def to_yaml(obj: Any) -> str:
    """An object as YAML, in its own key order."""
    import yaml

    return str(yaml.safe_dump(obj, sort_keys=False, default_flow_style=False,
                              allow_unicode=True))


def parse_manifest(text: str) -> Obj | None:
    """A manifest (YAML or JSON text) as an object; None when it is not one."""
    import yaml

    try:
        obj = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        return None
    return obj if isinstance(obj, dict) else None


def pod_spec(obj: Obj) -> Obj | None:
    """The pod spec inside a Pod, a workload's template or a CronJob's job template."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return None
    if obj.get("kind") == "Pod" or "containers" in spec:
        return spec
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template") or {}
    inner = template.get("spec")
    return inner if isinstance(inner, dict) else None


def spec_path(obj: Obj) -> str:
    """Where :func:`pod_spec` is, as a path for humans."""
    kind = obj.get("kind")
    if kind == "Pod":
        return "spec"
    return "spec.jobTemplate.spec.template.spec" if kind == "CronJob" else "spec.template.spec"


def containers(spec: Obj) -> list[Obj]:
    """The containers and init containers of a pod spec."""
    return [c for key in ("initContainers", "containers") for c in spec.get(key) or []
            if isinstance(c, dict)]


def clean(obj: Obj) -> Obj:
    """A copy without what the cluster assigned: status, ids, managed fields, the scheduler's
    node, the token volume it injected, the labels its controllers generated."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    _clean_metadata(out.setdefault("metadata", {}))
    if out.get("kind") == "Secret":  # Drover never reads Secrets: not even a copy's values
        out.pop("data", None)
        out.pop("stringData", None)
    template = (out.get("spec") or {}).get("template")
    if isinstance(template, dict):
        _clean_metadata(template.setdefault("metadata", {}))
    if out.get("kind") == "Job" and isinstance(out.get("spec"), dict):
        out["spec"].pop("selector", None)  # generated from the Job's uid
    spec = pod_spec(out)
    if spec is not None:
        _clean_pod_spec(spec)
    return out


def _put(obj: Obj, key: str, value: Any) -> None:
    """Set ``key`` to ``value`` where it is, or remove it when the value is empty."""
    if value:
        obj[key] = value
    else:
        obj.pop(key, None)


def _clean_metadata(metadata: Obj) -> None:
    for name in _METADATA_DROPPED:
        metadata.pop(name, None)
    for key, dropped in (("annotations", _ANNOTATIONS_DROPPED), ("labels", _GENERATED_LABELS)):
        _put(metadata, key, {k: v for k, v in (metadata.get(key) or {}).items()
                             if k not in dropped})


def _clean_pod_spec(spec: Obj) -> None:
    spec.pop("nodeName", None)
    _put(spec, "tolerations", [t for t in spec.get("tolerations") or [] if not isinstance(
        t, dict) or t.get("key") not in _DEFAULT_TOLERATIONS])
    _put(spec, "volumes", [v for v in spec.get("volumes") or [] if not _injected(v)])
    for container in containers(spec):
        _put(container, "volumeMounts",
             [m for m in container.get("volumeMounts") or [] if not _injected(m)])


def _injected(item: Any) -> bool:
    return isinstance(item, dict) and str(item.get("name", "")).startswith(_INJECTED_VOLUMES)


def mirror_copy(obj: Obj, diagnosis_id: str) -> Obj:
    """The cleaned object renamed ``<name>-mirror``, labelled as a Drover mirror, selecting
    only its own pods (so no Service of the original sends it traffic), one replica."""
    out = clean(obj)
    metadata = out["metadata"]
    name = str(metadata.get("name") or "workload")
    labels = {MIRROR_LABEL: "true", KURE_MIRROR_LABEL: "true",
              MIRROR_OF_LABEL: name[:63].rstrip("-.")}
    metadata["name"] = f"{name[:253 - len('-mirror')]}-mirror"
    metadata["labels"] = dict(labels)
    metadata["annotations"] = {**(metadata.get("annotations") or {}),
                               "drover.io/mirror-source": f"{out.get('kind')}/{name}",
                               "drover.io/diagnosis-id": diagnosis_id}
    spec = out.get("spec") or {}
    template = spec.get("template")
    if isinstance(template, dict):
        template.setdefault("metadata", {})["labels"] = dict(labels)
        if out.get("kind") != "Job":
            spec["selector"] = {"matchLabels": dict(labels)}
    if out.get("kind") in SCALABLE:
        spec["replicas"] = 1
    return out


# --- fixes -----------------------------------------------------------------------------------
def _target(spec: Obj, name: str | None) -> Obj | None:
    """The named container; the first main container when no name is known."""
    if name:
        return next((c for c in containers(spec) if c.get("name") == name), None)
    return next((c for c in spec.get("containers") or [] if isinstance(c, dict)), None)


def _action_args(diagnosis: Diagnosis, name: str) -> dict[str, Any]:
    return next((a.arguments for a in diagnosis.suggested_actions if a.name == name), {})


def _raise_memory(obj: Obj, spec: Obj, diagnosis: Diagnosis) -> list[Change]:
    args = _action_args(diagnosis, "set_resources")
    name = args.get("container") or diagnosis.k8s_context.get("container")
    container = _target(spec, name)
    if container is None:
        return [flag("containers", f"container {name} is not in the manifest; "
                                   f"{diagnosis.fix_summary}")]
    limits = container.setdefault("resources", {}).setdefault("limits", {})
    current = limits.get("memory")
    wanted = args.get("memory_limit") or _memory_from_commands(diagnosis) or _double(current)
    path = f"{spec_path(obj)}.containers[{container.get('name')}].resources.limits.memory"
    if not wanted:
        return [flag(path, "no memory limit to raise from; set one above the working set")]
    limits["memory"] = wanted
    return [{"path": path, "action": "set", "from": current, "to": wanted,
             "reason": f"raise the memory limit of {container.get('name')} so it is not "
                       "OOM-killed; size it from real usage"}]


def _memory_from_commands(diagnosis: Diagnosis) -> str | None:
    for command in diagnosis.fix_commands:
        found = _MEMORY_FLAG.search(command.command)
        if found and not found.group("memory").startswith("<"):
            return found.group("memory")
    return None


def _double(quantity: Any) -> str | None:
    value = parse_quantity(quantity)
    if not value:
        return None
    return f"{max(128, int(value / 2 ** 20 * 2))}Mi"


def _add_env(obj: Obj, spec: Obj, diagnosis: Diagnosis) -> list[Change]:
    var, name = _missing_variable(diagnosis)
    if not var:
        return [flag(spec_path(obj), f"the missing setting is not named; {diagnosis.fix_summary}")]
    container = _target(spec, name or diagnosis.k8s_context.get("container"))
    if container is None:
        return [flag(spec_path(obj), f"no container to set {var} on")]
    path = f"{spec_path(obj)}.containers[{container.get('name')}].env[{var}]"
    env = container.setdefault("env", [])
    if any(isinstance(e, dict) and e.get("name") == var for e in env):
        return [flag(path, f"{var} is already set; check its value and where it comes from")]
    env.append({"name": var, "value": PLACEHOLDER})
    return [{"path": path, "action": "add", "from": None, "to": PLACEHOLDER,
             "reason": f"{var} is missing; replace the placeholder with the real value "
                       "(from a ConfigMap or Secret reference if it is sensitive)"}]


def _missing_variable(diagnosis: Diagnosis) -> tuple[str | None, str | None]:
    for command in diagnosis.fix_commands:
        found = _SET_ENV.search(command.command)
        if found:
            return found.group("var"), found.group("container")
    suggestion = str(_action_args(diagnosis, "suggest_config_fix").get("suggestion") or "")
    found = _ENV_SUGGESTION.search(suggestion)
    return (found.group("var"), found.group("container")) if found else (None, None)


def _flag_image(obj: Obj, spec: Obj, diagnosis: Diagnosis) -> list[Change]:
    container = _target(spec, diagnosis.k8s_context.get("container"))
    name = container.get("name") if container else "?"
    image = container.get("image") if container else None
    what = {"ImagePullBackOff-auth": "add imagePullSecrets the registry accepts",
            "ImagePullBackOff-registry-unreachable": "use a registry the nodes can reach"}.get(
        diagnosis.category, "set a tag that exists in the registry")
    return [flag(f"{spec_path(obj)}.containers[{name}].image",
                 f"image {image} kept unchanged: {what}", image)]


def _flag_probe(obj: Obj, spec: Obj, diagnosis: Diagnosis) -> list[Change]:
    field = "readinessProbe" if diagnosis.category.startswith("Readiness") else "livenessProbe"
    container = _target(spec, diagnosis.k8s_context.get("container"))
    name = container.get("name") if container else "?"
    probe = container.get(field) if container else None
    return [flag(f"{spec_path(obj)}.containers[{name}].{field}",
                 f"probe kept unchanged: check its path, port and timing against the "
                 f"application ({diagnosis.fix_summary})", probe)]


def flag(path: str, reason: str, value: Any = None) -> Change:
    """A finding left for a human: nothing is changed at ``path``."""
    return {"path": path, "action": "flag", "from": value, "to": value, "reason": reason}


Fixer = Callable[[Obj, Obj, Diagnosis], list[Change]]
FIXERS: dict[str, Fixer] = {
    "OOMKilled": _raise_memory,
    "CrashLoopBackOff-missing-config": _add_env,
    "ImagePullBackOff-bad-tag": _flag_image,
    "ImagePullBackOff-auth": _flag_image,
    "ImagePullBackOff-registry-unreachable": _flag_image,
    "Readiness-probe-failing": _flag_probe,
    "Liveness-probe-failing": _flag_probe,
}


def apply_fix(obj: Obj, diagnosis: Diagnosis) -> list[Change]:
    """Apply the diagnosis' fix to ``obj`` (a copy) in place; what changed or was flagged."""
    spec = pod_spec(obj)
    fixer = FIXERS.get(diagnosis.category)
    if spec is None or fixer is None:
        return [flag(spec_path(obj), f"no mechanical fix for {diagnosis.category}: "
                                     f"{diagnosis.fix_summary}")]
    return fixer(obj, spec, diagnosis)


def explanation(diagnosis: Diagnosis, changes: list[Change], mirror_name: str) -> str:
    """Kure's markdown explanation: what changed, what to review, and why."""
    made = [c for c in changes if c["action"] != "flag"]
    review = [c for c in changes if c["action"] == "flag"]
    lines = ["## Changes Made"]
    lines += [f"{i}. `{c['path']}`: {c['from'] or '(unset)'} -> {c['to']} ({c['reason']})"
              for i, c in enumerate(made, 1)] or ["None: nothing could be changed mechanically."]
    if review:
        lines += ["", "## Review Before Deploying"]
        lines += [f"- `{c['path']}`: {c['reason']}" for c in review]
    lines += ["", "## Why", diagnosis.root_cause, "",
              f"This is a preview: nothing was deployed. `{mirror_name}` is labelled "
              f"{MIRROR_LABEL}=true and selects only its own pods."]
    return "\n".join(lines)


def build_preview(source: Obj, diagnosis: Diagnosis) -> dict[str, Any]:
    """The preview of one source object: original and fixed manifests, changes, why."""
    fixed = mirror_copy(source, diagnosis.diagnosis_id)
    changes = apply_fix(fixed, diagnosis)
    name = fixed["metadata"]["name"]
    return {"original": to_yaml(clean(source)), "fixed_manifest": to_yaml(fixed),
            "explanation": explanation(diagnosis, changes, name), "changes": changes,
            "is_fallback": diagnosis.provider == "builtin", "mirror_name": name,
            "diagnosis_id": diagnosis.diagnosis_id, "category": diagnosis.category,
            "confidence": diagnosis.confidence}


# --- reading the source ----------------------------------------------------------------------
def owner_workload(client: ClusterClient, pod: Obj) -> Obj:
    """The workload that owns the pod (Deployment over ReplicaSet), else the pod itself;
    an owner that cannot be found ends the climb."""
    current = pod
    namespace = (pod.get("metadata") or {}).get("namespace")
    for _ in range(2):  # Pod -> ReplicaSet -> Deployment is the longest chain followed
        refs = (current.get("metadata") or {}).get("ownerReferences") or []
        ref = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
        plural = OWNER_PLURALS.get(str((ref or {}).get("kind")))
        if ref is None or plural is None:
            break
        try:
            current = client.get(SNAPSHOT_KINDS[plural], namespace, str(ref.get("name")))
        except NotFound:
            break
        if current.get("kind") != "ReplicaSet":
            break
    return current


@dataclass
class MirrorPreviewService:
    """Builds mirror previews of pod failures."""

    pod_failures: PodFailureService
    diagnoses: DiagnosisService
    clusters: ClusterService

    def preview(self, workspace_id: str, pod_id: str) -> dict[str, Any]:
        """The preview for a pod failure (404 unknown, 503 when its cluster cannot be read)."""
        incident = self.pod_failures.get(workspace_id, pod_id)
        diagnosis = self.diagnoses.incident_diagnosis(workspace_id, pod_id, None)
        source, origin = self._source(workspace_id, incident)
        meta = source.get("metadata") or {}
        return {"pod_failure_id": incident.id, **build_preview(source, diagnosis),
                "source": {"kind": source.get("kind"), "name": meta.get("name"),
                           "namespace": meta.get("namespace") or incident.namespace,
                           **origin}}

    def _source(self, workspace_id: str, incident: Incident) -> tuple[Obj, dict[str, Any]]:
        try:
            cluster = self.clusters.resolve(workspace_id, incident.cluster)
        except NotFound as exc:
            return self._reported(incident, DependencyUnavailable(
                f"no cluster to read pod {incident.pod} from ({exc.message}), and its report "
                "carries no manifest: register the cluster, then ask again",
                code="cluster_not_registered", dependency="cluster"))
        try:
            client = self.clusters.client(cluster)
            pod = client.get(SNAPSHOT_KINDS["pods"], incident.namespace, str(incident.pod))
            source = owner_workload(client, pod)
        except NotFound:
            return self._reported(incident, NotFound(
                f"Pod '{incident.pod}' not found in namespace '{incident.namespace}' of "
                f"cluster '{cluster.name}'. It may have been deleted, and its report carries "
                "no manifest. Cannot generate preview.", code="pod_not_found"))
        except DroverError as exc:
            raise DependencyUnavailable(
                f"cluster '{cluster.name}' could not be read ({exc.message}); the preview "
                "needs the pod's live manifest: retry when the cluster answers",
                code=exc.code, dependency="cluster") from None
        return source, {"read_from": "cluster", "cluster": cluster.name}

    @staticmethod
    def _reported(incident: Incident, why: DroverError) -> tuple[Obj, dict[str, Any]]:
        """The manifest the agent reported, when the cluster cannot give the live one;
        ``why`` is raised when there is none."""
        reported = parse_manifest(str(incident.details.get("manifest") or ""))
        if reported is None or pod_spec(reported) is None:
            raise why
        return reported, {"read_from": "agent_report", "cluster": None,
                          "note": "the live manifest could not be read (" + why.code + "); "
                                  "this is the manifest the agent reported"}
