"""Runs an @app.on_sqs_message handler the way Lambda's SQS event source mapping does.

Receive a batch, invoke the handler, delete what succeeded. Records named in
``batchItemFailures`` (or the whole batch if the handler raised or answered malformed
failures) stay on the queue; SQS's redrive policy moves them to the DLQ after
maxReceiveCount receives.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from infra.local.lambda_runtime import LocalLambdaContext, sqs_event

logger = logging.getLogger("drover.local.sqs")
Handler = Callable[[dict[str, Any], Any], Any]


def failed_ids(result: Any, received: set[str]) -> set[str]:
    """Message ids to retry, from a handler's partial batch response.

    A response Lambda would not accept (not a dict, entries without a known itemIdentifier)
    fails the whole batch, as Lambda does.
    """
    if result is None:
        return set()
    if not isinstance(result, dict):
        return set(received)
    failures = result.get("batchItemFailures") or []
    if not isinstance(failures, list):
        return set(received)
    ids = set()
    for failure in failures:
        ident = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if ident not in received:
            return set(received)
        ids.add(ident)
    return ids


class SqsPoller(threading.Thread):
    """A thread that feeds one queue to one handler until stopped."""

    def __init__(self, sqs: Any, queue_name: str, handler: Handler, *, function_name: str,
                 batch_size: int = 10, retry_delay_seconds: int = 1,
                 region: str = "us-east-1") -> None:
        super().__init__(name=f"sqs-{queue_name}", daemon=True)
        self.sqs = sqs
        self.queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        self.queue_arn = sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.handler = handler
        self.function_name = function_name
        self.batch_size = min(max(batch_size, 1), 10)
        self.retry_delay_seconds = retry_delay_seconds
        self.region = region
        self._stop_event = threading.Event()

    def stop(self) -> None:
        """Ask the thread to finish after the current poll."""
        self._stop_event.set()

    def run(self) -> None:
        """Poll until stopped; errors are logged, never fatal."""
        while not self._stop_event.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception:
                logger.exception("polling %s failed", self.queue_url)
                self._stop_event.wait(1)

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Receive and handle one batch; return how many messages were received."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_seconds, AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        received = {m["MessageId"] for m in messages}
        try:
            result = self.handler(sqs_event(messages, self.queue_arn, self.region),
                                  LocalLambdaContext(self.function_name))
            retry = failed_ids(result, received)
        except Exception:
            logger.exception("%s failed its whole batch", self.function_name)
            retry = received
        done = [m for m in messages if m["MessageId"] not in retry]
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        for message in messages:
            if message["MessageId"] in retry:
                # Lambda waits out the visibility timeout; locally we retry sooner.
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=self.retry_delay_seconds)
        return len(messages)
