"""The ``diagnoses`` queue consumer: idempotent, reporting partial batch failures."""

from __future__ import annotations

import json
from typing import Any

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib.bootstrap import get_container
from chalicelib.config import diagnoses_queue_name

bp = Blueprint(__name__)


@bp.on_sqs_message(queue=diagnoses_queue_name(), batch_size=5, name="diagnoses_consumer")
def consume_diagnoses(event: SQSEvent) -> dict[str, Any]:
    """Diagnose each requested incident; failed records are reported back for redelivery."""
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    get_container().diagnosis_idempotency.register_lambda_context(event.context)
    return process_partial_response(
        event=event.to_dict(), record_handler=_accept,
        processor=BatchProcessor(event_type=EventType.SQS), context=event.context,
    )


def _accept(record: Any) -> None:
    try:
        request = json.loads(record.body)
    except ValueError as exc:
        raise ValueError(f"diagnosis request is not JSON: {exc}") from None
    if not isinstance(request, dict):
        raise ValueError("diagnosis request must be a JSON object")
    get_container().diagnosis_consumer(request=request)
