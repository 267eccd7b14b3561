"""What the Lambda service would hand a handler: a context object and event documents."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ACCOUNT = "123456789012"


@dataclass
class LocalLambdaContext:
    """The attributes of a Lambda context object that handlers and powertools read."""

    function_name: str
    timeout_seconds: int = 60
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{self.function_name}")
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (emulated) timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS event as Lambda's event source mapping builds it from ReceiveMessage results."""
    return {"Records": [{
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": {
            name: {"stringValue": v.get("StringValue"), "binaryValue": v.get("BinaryValue"),
                   "stringListValues": [], "binaryListValues": [],
                   "dataType": v.get("DataType")}
            for name, v in m.get("MessageAttributes", {}).items()
        },
        "md5OfBody": m.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    } for m in messages]}


def scheduled_event(rule_name: str, region: str) -> dict[str, Any]:
    """The EventBridge event a schedule rule delivers."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
        "source": "aws.events", "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT}:rule/{rule_name}"], "detail": {},
    }
