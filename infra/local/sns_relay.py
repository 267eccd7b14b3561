"""SNS -> Lambda locally: the topic delivers to a relay queue whose messages become SNS events.

In AWS, SNS invokes the subscriber function asynchronously and retries a failing invocation
twice. Locally an SQS queue subscribed to the topic stands in for that push, and a message
that failed three times is dropped the way Lambda drops it (the handler has already kept it
in the dead-letter store).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("drover.local.sns")
MAX_ATTEMPTS = 3


def subscribe_relay(session: Any, topic_name: str) -> str:
    """Create the relay queue for a topic, subscribe it, and return its name."""
    sns, sqs = session.client("sns"), session.client("sqs")
    queue_name = f"{topic_name}-local-relay"
    queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    topic_arn = sns.create_topic(Name=topic_name)["TopicArn"]  # idempotent: returns the ARN
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return queue_name


def sns_event(envelope: dict[str, Any], subscription: str) -> dict[str, Any]:
    """The event Lambda hands an SNS subscriber, built from the delivered envelope."""
    return {"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": subscription,
        "Sns": {
            "Type": envelope.get("Type", "Notification"), "MessageId": envelope["MessageId"],
            "TopicArn": envelope.get("TopicArn"), "Subject": envelope.get("Subject"),
            "Message": envelope.get("Message", ""), "Timestamp": envelope.get("Timestamp"),
            "SignatureVersion": envelope.get("SignatureVersion"),
            "Signature": envelope.get("Signature"),
            "SigningCertUrl": envelope.get("SigningCertURL"),
            "UnsubscribeUrl": envelope.get("UnsubscribeURL"),
            "MessageAttributes": envelope.get("MessageAttributes") or {},
        },
    }]}


def relay_handler(handler: Callable[..., Any]) -> Callable[[dict[str, Any], Any], Any]:
    """Wrap an SNS handler so the SQS poller can feed it relay-queue batches."""

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            attempts = int(record["attributes"].get("ApproximateReceiveCount", "1"))
            try:
                envelope = json.loads(record["body"])
                handler(sns_event(envelope, record["eventSourceARN"]), context)
            except Exception:
                logger.exception("SNS subscriber failed (attempt %d of %d)", attempts,
                                 MAX_ATTEMPTS)
                if attempts < MAX_ATTEMPTS:
                    failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    return handle
