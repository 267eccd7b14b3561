"""Amazon CloudWatch alarm state-change message (the JSON an alarm publishes to SNS)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.models import Alert
from chalicelib.plugins.normalizers.base import (
    MAX_DESCRIPTION,
    NormalizeContext,
    Normalized,
    Normalizer,
    bounded,
    clip,
    key_fingerprint,
    mapping,
    parse_model,
    stable_fingerprint,
    text,
    to_time,
)

REGION_CODE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
CONTAINER_INSIGHTS = "ContainerInsights"
ARN_REGION = 3  # arn:partition:service:region:account:...
# Container Insights dimensions that name Kubernetes objects. Only for that metric
# namespace: elsewhere "Namespace" is never a Kubernetes namespace.
K8S_DIMENSIONS: dict[str, str] = {"ClusterName": "cluster", "Namespace": "namespace",
                                  "PodName": "pod"}


class Trigger(BaseModel):
    """The alarm's metric: a single metric, or metric math in ``Metrics``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    metric_name: str | None = Field(default=None, alias="MetricName")
    namespace: str | None = Field(default=None, alias="Namespace")
    dimensions: list[dict[str, Any]] = Field(default_factory=list, alias="Dimensions",
                                             max_length=100)
    metrics: list[dict[str, Any]] = Field(default_factory=list, alias="Metrics",
                                          max_length=100)


class AlarmMessage(BaseModel):
    """CloudWatch's alarm notification body."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    alarm_name: str = Field(min_length=1, max_length=1024, alias="AlarmName")
    alarm_description: str | None = Field(default=None, alias="AlarmDescription")
    account: str | int | None = Field(default=None, alias="AWSAccountId")
    new_state: str = Field(max_length=64, alias="NewStateValue")
    old_state: str | None = Field(default=None, alias="OldStateValue")
    reason: str | None = Field(default=None, alias="NewStateReason")
    changed_at: str | None = Field(default=None, alias="StateChangeTime")
    region: str | None = Field(default=None, alias="Region")
    alarm_arn: str | None = Field(default=None, alias="AlarmArn", max_length=2048)
    trigger: Trigger = Field(default_factory=Trigger, alias="Trigger")


class CloudWatchNormalizer(Normalizer):
    """CloudWatch alarms; INSUFFICIENT_DATA is neither firing nor resolved."""

    NAME = "cloudwatch"
    # Alarms carry no severity: NewStateValue is a state.
    SEVERITY_MAP: ClassVar[Mapping[str, str]] = {}
    STATUS_MAP: ClassVar[Mapping[str, str]] = {"alarm": "firing", "ok": "resolved"}
    # The ARN names one alarm; old messages without it: name + account + region.
    FINGERPRINT_FIELDS = ("AlarmArn", "AlarmName", "AWSAccountId", "Region")

    def read(self, payload: Any, context: NormalizeContext) -> Normalized:
        """One alert for ALARM/OK; other states are ignored with a reason."""
        body = parse_model(AlarmMessage, payload, self.NAME)
        state = body.new_state.strip().upper()
        if state.lower() not in self.STATUS_MAP:
            what = ("has insufficient data (neither firing nor resolved)"
                    if state == "INSUFFICIENT_DATA" else f"is in unknown state {clip(state, 64)}")
            return Normalized("ignore", reason=f"CloudWatch alarm '{clip(body.alarm_name, 200)}'"
                                               f" {what}")
        return Normalized("alerts", (self._alert(body, state, context),))

    def _alert(self, body: AlarmMessage, state: str, context: NormalizeContext) -> Alert:
        namespace, metric, dimensions = _metric(body.trigger)
        labels = {k: v for k, v in {
            "alarm_name": body.alarm_name, "aws_account_id": text(body.account),
            "region": body.region, "metric_namespace": namespace, "metric_name": metric,
            "new_state": state, "old_state": body.old_state,
            **{f"dimension.{k}": v for k, v in dimensions.items()}}.items() if v}
        bounded(labels, {}, self.NAME)
        subject = ({K8S_DIMENSIONS[k]: v for k, v in dimensions.items() if k in K8S_DIMENSIONS}
                   if namespace == CONTAINER_INSIGHTS else {})
        when = to_time(body.changed_at)
        status = self.status(state)
        fingerprint = (key_fingerprint(body.alarm_arn) if body.alarm_arn else stable_fingerprint(
            {"alarm": body.alarm_name, "account": text(body.account), "region": body.region}))
        return Alert(
            integration=self.NAME,
            source=self.NAME,
            title=clip(body.alarm_name),
            description=clip("\n".join(p for p in (body.alarm_description, body.reason) if p),
                             MAX_DESCRIPTION),
            status=status,
            fingerprint=fingerprint,
            namespace=subject.get("namespace"),
            pod=subject.get("pod"),
            cluster=subject.get("cluster") or context.cluster,
            labels=labels,
            starts_at=when,
            ends_at=when if status == "resolved" else None,
            generator_url=_console_url(body.alarm_arn, body.alarm_name),
            external_id=body.alarm_arn,
        )


def _metric(trigger: Trigger) -> tuple[str | None, str | None, dict[str, str]]:
    """The metric namespace, name and dimensions, from the trigger or its metric-math parts."""
    namespace, metric = trigger.namespace, trigger.metric_name
    dimensions = _dimensions(trigger.dimensions)
    for query in trigger.metrics:
        stat_metric = mapping(mapping(mapping(query).get("MetricStat")).get("Metric"))
        if not stat_metric:
            continue
        namespace = namespace or text(stat_metric.get("Namespace"))
        metric = metric or text(stat_metric.get("MetricName"))
        raw = stat_metric.get("Dimensions")
        for name, value in _dimensions(raw if isinstance(raw, list) else []).items():
            dimensions.setdefault(name, value)
    return namespace, metric, dimensions


def _dimensions(raw: list[Any]) -> dict[str, str]:
    """CloudWatch's [{"name": ..., "value": ...}] (either case) as a mapping."""
    found: dict[str, str] = {}
    for item in raw[:100]:
        entry = mapping(item)
        name = text(entry.get("name", entry.get("Name")))
        value = text(entry.get("value", entry.get("Value")))
        if name and value:
            found[name[:256]] = value[:1024]
    return found


def _console_url(arn: str | None, name: str) -> str | None:
    """The alarm's console page when the ARN names a real region."""
    parts = (arn or "").split(":")
    if len(parts) <= ARN_REGION or not REGION_CODE.match(parts[ARN_REGION]):
        return None
    region = parts[ARN_REGION]
    return (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#alarmsV2:alarm/{quote(name, safe='')}")


NORMALIZER = CloudWatchNormalizer()
