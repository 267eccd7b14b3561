"""The Kubernetes API through the official ``kubernetes`` client (imported lazily).

Read-only verbs only. Lists are paginated; responses are read raw (``_preload_content=False``)
and parsed as JSON, which is many times faster than building the client's model objects
for thousands of pods. Every failure becomes a DroverError with a reason a user can act on:
ClusterUnreachable (503) when the server does not answer, ClusterRejected (502) when it
refuses Drover, NotFound for a missing object. Secrets are never read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from http import HTTPStatus
from typing import Any

from chalicelib.domain.cluster_ports import ClusterClient, ClusterConnector
from chalicelib.domain.clusters import (
    ClusterRejected,
    ClusterTarget,
    ClusterUnreachable,
    ConnectionCheck,
)
from chalicelib.domain.errors import BadRequest, Forbidden, NotFound, ValidationFailed
from chalicelib.domain.kube import FORBIDDEN_KINDS, SNAPSHOT_KINDS, ResourceKind

logger = logging.getLogger("drover.kubernetes")
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 15.0
PAGE_SIZE = 500
RETRIES = 2
MAX_LOG_BYTES = 256 * 1024


def _retry() -> Any:
    from urllib3.util.retry import Retry

    # Reads are idempotent: retry connection errors and 5xx/429 a little, with backoff.
    return Retry(total=RETRIES, connect=RETRIES, read=RETRIES, backoff_factor=0.2,
                 status_forcelist=(429, 500, 502, 503, 504), allowed_methods=("GET",),
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


class KubernetesClusterClient(ClusterClient):
    """Read-only calls to one API server."""

    def __init__(self, api_client: Any) -> None:
        self.api = api_client

    def _get(self, path: str, query: list[tuple[str, Any]] | None = None,
             *, text: bool = False) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            response = self.api.call_api(
                path, "GET", query_params=query or [], auth_settings=["BearerToken"],
                header_params={"Accept": "text/plain" if text else "application/json"},
                _preload_content=False, _request_timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                _return_http_data_only=True)
        except ApiException as exc:
            raise _api_error(exc, path) from None
        except Exception as exc:  # urllib3 connection, timeout and TLS errors
            raise _transport_error(exc, self.api.configuration.host) from None
        body = response.data
        if text:
            return body[:MAX_LOG_BYTES].decode("utf-8", errors="replace")
        try:
            return json.loads(body)
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


def _refuse_secrets(kind: ResourceKind) -> None:
    if kind.plural in FORBIDDEN_KINDS:
        raise Forbidden("Secret manifests are not readable by design.", code="secret_forbidden")


def _collection_path(kind: ResourceKind, namespace: str | None) -> str:
    base = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
    if kind.namespaced and namespace:
        return f"{base}/namespaces/{namespace}/{kind.plural}"
    return f"{base}/{kind.plural}"


def _status_message(exc: Any) -> str:
    try:
        body = json.loads(exc.body)
        return str(body.get("message") or exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason or "no reason given")


def _api_error(exc: Any, path: str) -> Exception:
    status, message = int(exc.status or 0), _status_message(exc)
    if status == HTTPStatus.UNAUTHORIZED:
        return ClusterRejected("the API server refused the credentials (401 Unauthorized); "
                               "rotate them with PUT .../credentials", code="cluster_unauthorized")
    if status == HTTPStatus.FORBIDDEN:
        return ClusterRejected(f"the cluster's RBAC forbids this read: {message}",
                               code="cluster_forbidden")
    if status == HTTPStatus.NOT_FOUND:
        return NotFound(message or f"{path} not found on the cluster", code="not_found")
    if status in (HTTPStatus.BAD_REQUEST, HTTPStatus.UNPROCESSABLE_ENTITY):
        return BadRequest(f"the API server refused the request: {message}",
                          code="cluster_bad_request")
    if status == 0:
        return ClusterUnreachable(f"the API server did not answer: {message}")
    return ClusterUnreachable(f"the API server answered {status}: {message}",
                              upstream_status=status)


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
