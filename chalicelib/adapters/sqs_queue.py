"""Diagnosis requests on the SQS ``diagnoses`` queue."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.aws import client, translate_errors
from chalicelib.domain.errors import DependencyUnavailable
from chalicelib.domain.ports import DiagnosisQueue

_BATCH = 10  # SQS SendMessageBatch limit


class SqsDiagnosisQueue(DiagnosisQueue):
    """DiagnosisQueue on an SQS queue found by name."""

    def __init__(self, queue_name: str) -> None:
        self.queue_name = queue_name
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The queue URL, looked up once."""
        if self._url is None:
            self._url = client("sqs").get_queue_url(QueueName=self.queue_name)["QueueUrl"]
        return self._url

    @translate_errors("SQS")
    def request(self, requests: list[dict[str, Any]]) -> None:
        """Send requests in batches of 10; raise if SQS refused any of them."""
        for start in range(0, len(requests), _BATCH):
            chunk = requests[start:start + _BATCH]
            result = client("sqs").send_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(i), "MessageBody": json.dumps(r, separators=(",", ":"))}
                for i, r in enumerate(chunk)
            ])
            if result.get("Failed"):
                first = result["Failed"][0]
                raise DependencyUnavailable(
                    f"SQS refused {len(result['Failed'])} diagnosis request(s) "
                    f"({first.get('Code')}); retry the request", dependency="SQS")
