"""Settings read from the environment, once, on first use (never at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Deployment settings; names of tables and queues come from .chalice/config.json."""

    stage: str
    incidents_table: str
    audit_table: str
    diagnoses_queue: str
    scans_queue: str
    alerts_topic: str
    region: str
    endpoint_url: str | None
    default_workspace: str = "default"
    pagerduty_secrets: tuple[str, ...] = ()
    grafana_secrets: tuple[str, ...] = ()
    grafana_signature_header: str | None = None
    grafana_timestamp_header: str | None = None
    sns_topic_allowlist: tuple[str, ...] = ()
    kms_key_id: str | None = None
    local_key: str | None = None
    local_key_file: str | None = None
    # The default LLM of every workspace until one is configured through the API.
    llm_provider: str = "builtin"
    llm_model: str | None = None
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_region: str | None = None
    # The remediation state machine: a name (resolved to an ARN with the caller's account and
    # the region) or an ARN.
    remediation_state_machine: str = "drover-local-remediation"

    @classmethod
    def from_env(cls) -> Settings:
        """Build settings from environment variables, with the local stage's names as defaults."""
        env = os.environ
        return cls(
            stage=env.get("DROVER_STAGE", "local"),
            incidents_table=env.get("DROVER_INCIDENTS_TABLE", "drover-local-incidents"),
            audit_table=env.get("DROVER_AUDIT_TABLE", "drover-local-audit"),
            diagnoses_queue=diagnoses_queue_name(),
            scans_queue=env.get("DROVER_SCANS_QUEUE", "drover-local-scans"),
            alerts_topic=alerts_topic_name(),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            default_workspace=env.get("DROVER_DEFAULT_WORKSPACE", "default"),
            pagerduty_secrets=_csv(env.get("DROVER_PAGERDUTY_WEBHOOK_SECRETS")),
            grafana_secrets=_csv(env.get("DROVER_GRAFANA_WEBHOOK_SECRETS")),
            grafana_signature_header=env.get("DROVER_GRAFANA_SIGNATURE_HEADER") or None,
            grafana_timestamp_header=env.get("DROVER_GRAFANA_TIMESTAMP_HEADER") or None,
            sns_topic_allowlist=_csv(env.get("DROVER_SNS_TOPIC_ALLOWLIST")),
            kms_key_id=env.get("DROVER_KMS_KEY_ID") or None,
            local_key=env.get("DROVER_LOCAL_KEY") or None,
            local_key_file=env.get("DROVER_LOCAL_KEY_FILE") or None,
            llm_provider=env.get("DROVER_LLM_PROVIDER") or "builtin",
            llm_model=env.get("DROVER_LLM_MODEL") or None,
            llm_base_url=env.get("DROVER_LLM_BASE_URL") or None,
            llm_api_key=env.get("DROVER_LLM_API_KEY") or None,
            llm_region=env.get("DROVER_LLM_REGION") or None,
            remediation_state_machine=env.get("DROVER_REMEDIATION_STATE_MACHINE")
            or "drover-local-remediation",
        )


def _csv(value: str | None) -> tuple[str, ...]:
    """A comma-separated setting as a tuple (secrets may be two during a rotation)."""
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def alerts_topic_name() -> str:
    """Name of the alerts SNS topic; needed at import time by the SNS subscriber decorator."""
    return os.environ.get("DROVER_ALERTS_TOPIC", "drover-local-alerts")


def diagnoses_queue_name() -> str:
    """Name of the diagnoses queue; needed at import time by the SQS event source decorator."""
    return os.environ.get("DROVER_DIAGNOSES_QUEUE", "drover-local-diagnoses")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings."""
    return Settings.from_env()
