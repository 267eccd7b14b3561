"""The Kubernetes API through the official ``kubernetes`` client (imported lazily).

Reads (paginated lists, gets, logs) and the writes remediation needs (patch, delete, create,
evict), each write optionally a server-side dry run (``dryRun=All``). Responses are read raw
(``_preload_content=False``) and parsed as JSON, which is many times faster than building the
client's model objects for thousands of pods. Every failure becomes a DroverError with a
reason a user can act on: ClusterUnreachable (503) when the server does not answer,
ClusterRejected (502) when it refuses Drover, NotFound for a missing object, and for writes
Conflict, ValidationFailed (the API server's message) and EvictionBlocked (a disruption
budget). Secrets are never read nor written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from http import HTTPStatus
from typing import Any

from chalicelib.domain.cluster_ports import ClusterClient, ClusterConnector
from chalicelib.domain.clusters import (
    ClusterRejected,
    ClusterTarget,
    ClusterUnreachable,
    ConnectionCheck,
)
from chalicelib.domain.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from chalicelib.domain.kube import FORBIDDEN_KINDS, SNAPSHOT_KINDS, ResourceKind
from chalicelib.domain.remediation_ports import ClusterWriter, EvictionBlocked, PatchType

logger = logging.getLogger("drover.kubernetes")
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 15.0
PAGE_SIZE = 500
RETRIES = 2
BACKOFF_SECONDS = 0.2
RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_LOG_BYTES = 256 * 1024
PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}
PODS = SNAPSHOT_KINDS["pods"]


def _retry() -> Any:
    from urllib3.util.retry import Retry

    # Reads are idempotent: retry connection errors and 5xx/429 a little, with backoff.
    # Writes are not: urllib3 retries a connection that failed before the request was sent
    # (connect errors, whatever the method) but never a write's 5xx or read error, since
    # the server may have applied it. Dry-run writes are retried by _write instead.
    return Retry(total=RETRIES, connect=RETRIES, read=RETRIES, backoff_factor=BACKOFF_SECONDS,
                 status_forcelist=RETRY_STATUSES, allowed_methods=("GET",),
                 raise_on_status=False, respect_retry_after_header=False)


def _ca_file(ca_data: str) -> str:
    """A file holding the CA bundle (the client wants a path); reused across calls."""
    text = ca_data.strip()
    if "-----BEGIN" not in text:
        import base64
        import binascii

        try:
            text = base64.b64decode(text, validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            raise ValidationFailed("ca_data must be a PEM certificate or base64 of one",
                                   code="invalid_credentials") from None
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    path = os.path.join(tempfile.gettempdir(), f"drover-ca-{digest}.pem")
    if not os.path.exists(path):
        with open(path, "w", encoding="ascii") as handle:
            handle.write(text)
    return path


class KubernetesConnector(ClusterConnector):
    """Builds official-client configurations from bearer tokens or kubeconfigs."""

    def connect(self, target: ClusterTarget) -> KubernetesClusterClient:
        """A client for one API server."""
        from kubernetes import client

        creds = target.credentials
        configuration = client.Configuration()
        if creds.get("auth_type") == "kubeconfig":
            _load_kubeconfig(configuration, creds.get("kubeconfig") or "")
            if target.server:
                configuration.host = target.server
        else:
            configuration.host = target.server
            configuration.api_key = {"authorization": f"Bearer {creds.get('token')}"}
        if creds.get("ca_data"):
            configuration.ssl_ca_cert = _ca_file(creds["ca_data"])
        if creds.get("insecure_skip_verify"):
            configuration.verify_ssl = False
        configuration.retries = _retry()
        return KubernetesClusterClient(client.ApiClient(configuration))


def _load_kubeconfig(configuration: Any, text: str) -> None:
    import yaml
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigLoader

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ValidationFailed("kubeconfig is not valid YAML", code="invalid_credentials") \
            from None
    if not isinstance(document, dict):
        raise ValidationFailed("kubeconfig must be a YAML mapping", code="invalid_credentials")
    for user in document.get("users") or []:
        spec = (user or {}).get("user") or {}
        if "exec" in spec or "auth-provider" in spec:
            raise ValidationFailed(
                "kubeconfig users that run a program (exec, auth-provider) cannot be used "
                "by a server; create a service account token and send it as 'token'",
                code="invalid_credentials")
    try:
        KubeConfigLoader(config_dict=document).load_and_set(configuration)
    except (ConfigException, KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed(f"kubeconfig cannot be used: {type(exc).__name__}",
                               code="invalid_credentials") from None


class KubernetesClusterClient(ClusterClient, ClusterWriter):
    """Calls to one API server: the reads of every endpoint and remediation's writes."""

    def __init__(self, api_client: Any) -> None:
        self.api = api_client

    def _get(self, path: str, query: list[tuple[str, Any]] | None = None,
             *, text: bool = False) -> Any:
        return self._send("GET", path, query, text=text)

    def _send(self, method: str, path: str, query: list[tuple[str, Any]] | None = None, *,
              body: Any = None, content_type: str = "application/json", text: bool = False,
              action: str = "read") -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            response = self.api.call_api(
                path, method, query_params=query or [], body=body,
                auth_settings=["BearerToken"],
                header_params={"Accept": "text/plain" if text else "application/json",
                               "Content-Type": content_type},
                _preload_content=False, _request_timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                _return_http_data_only=True)
        except ApiException as exc:
            raise _api_error(exc, path, action) from None
        except Exception as exc:  # urllib3 connection, timeout and TLS errors
            raise _transport_error(exc, self.api.configuration.host) from None
        data = response.data
        if text:
            return data[:MAX_LOG_BYTES].decode("utf-8", errors="replace")
        try:
            return json.loads(data)
        except ValueError:
            raise ClusterRejected(f"the API server answered {path} with something that is "
                                  "not JSON; is the URL an API server?",
                                  code="cluster_bad_response") from None

    def check(self) -> ConnectionCheck:
        """The server's version and node count."""
        version = self._get("/version")
        nodes = self.list(SNAPSHOT_KINDS["nodes"])
        return ConnectionCheck(version=str(version.get("gitVersion") or "unknown"),
                               node_count=len(nodes), platform=version.get("platform"))

    def list(self, kind: ResourceKind, namespace: str | None = None, *,
             label_selector: str | None = None, field_selector: str | None = None,
             max_items: int | None = None) -> list[dict[str, Any]]:
        """Objects of one kind across all pages."""
        _refuse_secrets(kind)
        path = _collection_path(kind, namespace)
        query: list[tuple[str, Any]] = [("limit", min(PAGE_SIZE, max_items or PAGE_SIZE))]
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self._get(path, query + ([("continue", token)] if token else []))
            for item in page.get("items") or []:
                item.setdefault("kind", kind.kind)
                item.setdefault("apiVersion", kind.api_version)
                found.append(item)
            token = (page.get("metadata") or {}).get("continue")
            if not token or (max_items is not None and len(found) >= max_items):
                return found[:max_items] if max_items is not None else found

    def get(self, kind: ResourceKind, namespace: str | None, name: str) -> dict[str, Any]:
        """One object."""
        _refuse_secrets(kind)
        obj = self._get(f"{_collection_path(kind, namespace)}/{name}")
        obj.setdefault("kind", kind.kind)
        obj.setdefault("apiVersion", kind.api_version)
        return obj

    def pod_log(self, namespace: str, pod: str, *, container: str | None = None,
                tail_lines: int = 100, previous: bool = False) -> str:
        """The last lines of a container's log."""
        query: list[tuple[str, Any]] = [("tailLines", tail_lines),
                                        ("limitBytes", MAX_LOG_BYTES)]
        if container:
            query.append(("container", container))
        if previous:
            query.append(("previous", "true"))
        return str(self._get(f"/api/v1/namespaces/{namespace}/pods/{pod}/log", query,
                             text=True))

    def metrics(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]] | None:
        """metrics.k8s.io usage, or None when metrics-server is not installed."""
        kind = ResourceKind(plural, "NodeMetrics" if plural == "nodes" else "PodMetrics",
                            "metrics.k8s.io", "v1beta1", plural == "pods")
        try:
            return self.list(kind, namespace)
        except NotFound:
            return None

    # Writes (ClusterWriter)

    def patch(self, kind: ResourceKind, namespace: str | None, name: str, body: Any, *,
              patch_type: PatchType = "strategic", dry_run: bool) -> dict[str, Any]:
        """Patch an object (merge, strategic merge or JSON patch); the object as patched."""
        content_type = PATCH_CONTENT_TYPES.get(patch_type)
        if content_type is None:
            raise BadRequest(f"unknown patch type {patch_type!r}; use one of "
                             f"{', '.join(PATCH_CONTENT_TYPES)}", code="bad_patch")
        # The client silently turns a JSON patch that is not a list into a strategic one.
        if isinstance(body, list) != (patch_type == "json"):
            raise BadRequest("a JSON patch is a list of operations; merge and strategic "
                             "patches are objects", code="bad_patch")
        return self._write("PATCH", kind, namespace, name, body, dry_run=dry_run,
                           content_type=content_type)

    def delete(self, kind: ResourceKind, namespace: str | None, name: str, *, dry_run: bool,
               grace_period_seconds: int | None = None,
               propagation: str | None = "Background") -> dict[str, Any]:
        """Delete an object; the API server's answer (the object or a Status)."""
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if propagation:
            options["propagationPolicy"] = propagation
        if dry_run:  # a DELETE body's options are what the server reads
            options["dryRun"] = ["All"]
        return self._write("DELETE", kind, namespace, name, options, dry_run=dry_run)

    def create(self, kind: ResourceKind, namespace: str | None, body: dict[str, Any], *,
               dry_run: bool) -> dict[str, Any]:
        """Create an object (POST to its collection); the object as created."""
        payload = {"apiVersion": kind.api_version, "kind": kind.kind, **body}
        return self._write("POST", kind, namespace, None, payload, dry_run=dry_run)

    def evict(self, namespace: str, pod: str, *, dry_run: bool) -> dict[str, Any]:
        """Evict a pod through the policy/v1 Eviction API (EvictionBlocked when a
        PodDisruptionBudget forbids it now); the API server's Status."""
        eviction: dict[str, Any] = {"apiVersion": "policy/v1", "kind": "Eviction",
                                    "metadata": {"name": pod, "namespace": namespace}}
        if dry_run:
            eviction["deleteOptions"] = {"dryRun": ["All"]}
        return self._write("POST", PODS, namespace, pod, eviction, dry_run=dry_run,
                           subresource="eviction")

    def _write(self, method: str, kind: ResourceKind, namespace: str | None, name: str | None,
               body: Any, *, dry_run: bool, content_type: str = "application/json",
               subresource: str | None = None) -> dict[str, Any]:
        _refuse_secrets(kind, "writable")
        path = _collection_path(kind, namespace) + (f"/{name}" if name else "") \
            + (f"/{subresource}" if subresource else "")
        query = [("dryRun", "All")] if dry_run else []
        action = "eviction" if subresource == "eviction" else "write"
        # Only a dry run changes nothing, so only a dry run is retried after an answer.
        attempts = 1 + (RETRIES if dry_run else 0)
        for attempt in range(attempts):
            try:
                return dict(self._send(method, path, query, body=body,
                                       content_type=content_type, action=action))
            except ClusterUnreachable as exc:
                if attempt + 1 >= attempts or exc.extra.get("upstream_status") \
                        not in RETRY_STATUSES:
                    raise
                time.sleep(BACKOFF_SECONDS * 2 ** attempt)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _refuse_secrets(kind: ResourceKind, verb: str = "readable") -> None:
    if kind.plural in FORBIDDEN_KINDS:
        raise Forbidden(f"Secret manifests are not {verb} by design.", code="secret_forbidden")


def _collection_path(kind: ResourceKind, namespace: str | None) -> str:
    base = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
    if kind.namespaced and namespace:
        return f"{base}/namespaces/{namespace}/{kind.plural}"
    return f"{base}/{kind.plural}"


def _status(exc: Any) -> dict[str, Any]:
    try:
        body = json.loads(exc.body)
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _status_message(exc: Any) -> str:
    return str(_status(exc).get("message") or exc.reason or "no reason given")


def _api_error(exc: Any, path: str, action: str = "read") -> Exception:
    status, message = int(exc.status or 0), _status_message(exc)
    if action != "read" and (refused := _write_error(exc, status, message, action)):
        return refused
    if status == HTTPStatus.UNAUTHORIZED:
        return ClusterRejected("the API server refused the credentials (401 Unauthorized); "
                               "rotate them with PUT .../credentials", code="cluster_unauthorized")
    if status == HTTPStatus.FORBIDDEN:
        return ClusterRejected(f"the cluster's RBAC forbids this {action}: {message}",
                               code="cluster_forbidden")
    if status == HTTPStatus.NOT_FOUND:
        return NotFound(message or f"{path} not found on the cluster", code="not_found")
    if status in (HTTPStatus.BAD_REQUEST, HTTPStatus.UNPROCESSABLE_ENTITY):
        return BadRequest(f"the API server refused the request: {message}",
                          code="cluster_bad_request")
    answered = f"answered {status}" if status else "did not answer"
    return ClusterUnreachable(f"the API server {answered}: {message}",
                              **({"upstream_status": status} if status else {}))


def _write_error(exc: Any, status: int, message: str, action: str) -> Exception | None:
    """What a refused write means: a conflict, an invalid object, a disruption budget."""
    if status == HTTPStatus.CONFLICT:
        exists = _status(exc).get("reason") == "AlreadyExists"
        return Conflict(f"the API server refused the change: {message}",
                        code="already_exists" if exists else "cluster_conflict")
    if status == HTTPStatus.UNPROCESSABLE_ENTITY:
        return ValidationFailed(f"the API server rejected the change: {message}",
                                code="cluster_invalid")
    if action == "eviction" and status == HTTPStatus.TOO_MANY_REQUESTS:
        causes = (_status(exc).get("details") or {}).get("causes") or []
        why = "; ".join(str(c.get("message")) for c in causes if c.get("message"))
        return EvictionBlocked(f"{message} ({why})" if why else message)
    return None


def _transport_error(exc: Exception, host: str) -> Exception:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in type(exc).__name__ \
            or "certificate" in text.lower():
        return ClusterRejected(
            f"TLS verification of {host} failed; send the cluster's CA as 'ca_data' "
            "(or set insecure_skip_verify for a test cluster)", code="cluster_tls_failed")
    kind = "timed out" if "timeout" in text.lower() or "timed out" in text.lower() \
        else "refused or failed the connection"
    logger.warning("cluster %s %s: %s", host, kind, type(exc).__name__)
    return ClusterUnreachable(f"the API server at {host} {kind}; check that it is running "
                              "and reachable from Drover")
