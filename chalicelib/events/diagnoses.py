"""The ``diagnoses`` queue consumer: idempotent, reporting partial batch failures."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib.bootstrap import get_container
from chalicelib.config import diagnoses_queue_name

bp = Blueprint(__name__)


@bp.on_sqs_message(queue=diagnoses_queue_name(), batch_size=10, name="diagnoses_consumer")
def consume_diagnoses(event: SQSEvent) -> dict[str, Any]:
    """Accept each diagnosis request; failed records are reported back for redelivery."""
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    return process_partial_response(
        event=event.to_dict(), record_handler=_accept,
        processor=BatchProcessor(event_type=EventType.SQS), context=event.context,
    )


def _accept(record: Any) -> None:
    get_container().diagnosis_requests.accept(record.body)
