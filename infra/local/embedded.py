"""The embedded stack: AWS (moto server unless told otherwise), resources from infra/,
the Chalice REST routes, the SQS consumers and the schedules, in one process."""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from infra import stack
from infra.local import sfn_tasks
from infra.local.scheduler import RateScheduler
from infra.local.sns_relay import relay_handler, subscribe_relay
from infra.local.sqs_poller import SqsPoller

logger = logging.getLogger("drover.local")
STACK_NAME = "drover-local"


@dataclass
class EmbeddedStack:
    """Starts and stops everything `make run` needs."""

    host: str = "127.0.0.1"
    port: int = 8000
    stage: str = "local"
    api_key: str | None = None
    moto: Any = None
    server: Any = None
    demo: Any = None
    threads: list[Any] = field(default_factory=list)

    def start(self) -> None:
        """Bring up AWS, the resources, the admin key, the HTTP server and the consumers."""
        self._configure_aws()
        for name, value in stack.stage_environment(self.stage).items():
            os.environ.setdefault(name, value)
        _ensure_local_key()
        import boto3

        session = boto3.session.Session()
        stack.deploy(session, STACK_NAME, stack.stage_environment(self.stage) | {
            k: os.environ[k] for k in stack.PARAMETER_ENV.values() if k in os.environ})
        app = importlib.import_module("app").app
        self.api_key = self._bootstrap_key()
        self._serve(app)
        self._start_event_sources(app, session)
        if os.environ.get("DROVER_DEMO_CLUSTER") == "1":
            self._start_demo_cluster()

    def _start_demo_cluster(self) -> None:
        # The fake API server of the tests, loaded with a made-up cluster: a demo, labelled
        # as one wherever it shows (name, description, the startup banner).
        import secrets

        from chalicelib.bootstrap import get_container
        from tests.fake_kube import start_demo

        self.demo = start_demo(token=secrets.token_urlsafe(24))
        get_container().clusters.register(
            get_container().settings.default_workspace, "drover:demo", {
                "name": "demo", "server": self.demo.url, "token": self.demo.token,
                "description": "DEMO: a fake Kubernetes API server with made-up workloads "
                               "(tests/fake_kube/cases/demo.json), not a real cluster"})

    def _configure_aws(self) -> None:
        target = os.environ.get("AWS_ENDPOINT_URL", "").strip()
        if target.lower() == "aws":
            os.environ.pop("AWS_ENDPOINT_URL")  # real AWS: the default credential chain
            return
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        if target.lower() == "localstack":
            from localstack_client.config import get_service_endpoint

            os.environ["AWS_ENDPOINT_URL"] = get_service_endpoint("dynamodb")
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
            return
        if target:
            return  # any other AWS-compatible endpoint, used as given
        from infra.local.moto_server import EmbeddedMotoServer

        self.moto = EmbeddedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
        # State machines run for real; moto's executor calls Lambda on MOTO_PORT, and the
        # tasks run app.py's functions in this process.
        os.environ["MOTO_PORT"] = str(port)
        sfn_tasks.enable_executor()
        sfn_tasks.install(prefix=f"{STACK_NAME}-")
        # Never sign requests to the embedded AWS with a developer's real credentials.
        os.environ["AWS_ACCESS_KEY_ID"] = "testing"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"  # noqa: S105 - moto's dummy secret
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)

    def _bootstrap_key(self) -> str:
        from chalicelib.bootstrap import get_container
        from chalicelib.domain.auth import generate_key

        raw = os.environ.get("DROVER_BOOTSTRAP_API_KEY") or generate_key()
        get_container().keys.ensure_bootstrap(raw)
        return raw

    def _serve(self, app: Any) -> None:
        from chalice.config import Config
        from chalice.local import create_local_server

        config = Config.create(
            chalice_stage=self.stage, app_name="drover", chalice_app=app,
            project_dir=str(stack.ROOT),
            config_from_disk=json.loads(stack.CHALICE_CONFIG.read_text()),
        )
        self.server = create_local_server(app, config, self.host, self.port)
        factory = self.server.server.RequestHandlerClass  # a partial of the handler class
        self.server.server.RequestHandlerClass = functools.partial(
            _any_method(factory.func), *factory.args, **factory.keywords)
        thread = threading.Thread(target=self.server.server.serve_forever, name="http",
                                  daemon=True)
        thread.start()

    def _start_event_sources(self, app: Any, session: Any) -> None:
        from chalice.app import ScheduledEventConfig, SNSEventConfig, SQSEventConfig

        scale = float(os.environ.get("DROVER_SCHEDULE_SCALE", "1"))
        for source in app.event_sources:
            handler = _resolve(source.handler_string)
            if isinstance(source, SQSEventConfig) and source.queue:
                worker: Any = SqsPoller(session.client("sqs"), source.queue, handler,
                                        function_name=source.name, batch_size=source.batch_size,
                                        region=session.region_name or "us-east-1")
            elif isinstance(source, SNSEventConfig):
                worker = SqsPoller(session.client("sqs"), subscribe_relay(session, source.topic),
                                   relay_handler(handler), function_name=source.name,
                                   region=session.region_name or "us-east-1")
            elif isinstance(source, ScheduledEventConfig):
                expression = source.schedule_expression
                if not isinstance(expression, str):
                    expression = expression.to_string()
                worker = RateScheduler(source.name, expression, handler, scale=scale)
            else:
                logger.warning("event source %s (%s) is not run locally", source.name,
                               type(source).__name__)
                continue
            worker.start()
            self.threads.append(worker)

    @property
    def url(self) -> str:
        """Where the REST API answers."""
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop consumers, the HTTP server and the embedded AWS."""
        for worker in self.threads:
            worker.stop()
        for worker in self.threads:
            worker.join(timeout=5)
        if self.server is not None:
            self.server.server.shutdown()
            self.server.server.server_close()
        if self.demo is not None:
            self.demo.stop()
        if self.moto is not None:
            self._stop_executions()
            self.moto.stop()

    def _stop_executions(self) -> None:
        import boto3

        try:
            sfn_tasks.stop_running_executions(boto3.client("stepfunctions"))
        except Exception:
            logger.exception("could not stop the running state machine executions")


def _any_method(handler: type) -> type:
    """``handler`` answering every HTTP method through its Chalice gateway (http.server
    answers a method without a do_ handler, e.g. TRACE, with an HTML 501; Chalice answers the
    API's JSON 405), with Nagle's algorithm off: the handler writes headers and body
    separately, so each response would otherwise wait ~40 ms for the client's delayed ACK."""

    class AnyMethodHandler(handler):  # type: ignore[misc, valid-type]
        disable_nagle_algorithm = True

        def __getattr__(self, name: str) -> Any:
            if name.startswith("do_"):
                return self._generic_handle
            raise AttributeError(name)

    return AnyMethodHandler


def _ensure_local_key() -> None:
    """The key that encrypts cluster credentials on this machine (AWS uses KMS instead):
    DROVER_LOCAL_KEY, or a file created once under .drover/ readable by its owner only."""
    if os.environ.get("DROVER_LOCAL_KEY") or os.environ.get("DROVER_KMS_KEY_ID"):
        return
    path = stack.ROOT / ".drover" / "local.key"
    os.environ.setdefault("DROVER_LOCAL_KEY_FILE", str(path))
    if not path.exists():
        import base64
        import secrets

        path.parent.mkdir(mode=0o700, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(base64.b64encode(secrets.token_bytes(32)).decode())


def _resolve(handler_string: str) -> Any:
    module, _, attr = handler_string.rpartition(".")
    return getattr(importlib.import_module(module), attr)
