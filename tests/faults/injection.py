"""AWS faults through botocore's event hooks: the next calls of one operation are answered
with an AWS error instead of reaching (moto's) AWS.

``on_the_wire`` answers at ``before-send``, inside botocore's retry loop, exactly as an
overloaded service would: the request does not land and botocore's retries see the error.
``before_the_call`` raises the ClientError at ``before-call``, past any retry, as if every
retry had failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

THROTTLING_REASONS = [{"Code": "None"}, {
    "Code": "ThrottlingError",
    "Message": "Throughput exceeds the current capacity for one or more global secondary "
               "indexes. DynamoDB is automatically scaling your index so please try again "
               "shortly."}]


@dataclass
class AwsFault:
    """``times`` answers of ``code`` (HTTP ``status``) to one operation, then the real thing;
    the first ``after`` calls go through untouched."""

    operation: str
    code: str
    times: int = 1
    status: int = 400
    extra: dict[str, Any] = field(default_factory=dict)
    after: int = 0
    served: int = 0

    @property
    def message(self) -> str:
        """The error message the fault carries."""
        return f"injected fault: {self.code}"

    def due(self) -> bool:
        """Whether this call is answered with the fault (and count it)."""
        if self.after > 0:
            self.after -= 1
            return False
        if self.served >= self.times:
            return False
        self.served += 1
        return True

    def wire_body(self, service: str) -> bytes:
        """The JSON error body of the service's protocol."""
        prefix = {"dynamodb": "com.amazonaws.dynamodb.v20120810", "sqs": "com.amazonaws.sqs"}
        return json.dumps({"__type": f"{prefix[service]}#{self.code}",
                           "message": self.message, **self.extra}).encode()

    def client_error(self) -> Exception:
        """The ClientError botocore would raise for the fault."""
        from botocore.exceptions import ClientError

        return ClientError({"Error": {"Code": self.code, "Message": self.message},
                            "ResponseMetadata": {"HTTPStatusCode": self.status},
                            **self.extra}, self.operation)


class _Body:
    """The raw stream of a canned response, as AWSResponse reads it."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def _service(client: Any) -> str:
    return str(client.meta.service_model.service_id.hyphenize())


@contextmanager
def on_the_wire(client: Any, fault: AwsFault) -> Iterator[AwsFault]:
    """Answer the operation's next ``fault.times`` HTTP requests with the fault."""
    from botocore.awsrequest import AWSResponse

    service = _service(client)

    def answer(request: Any, **_: Any) -> AWSResponse | None:
        if not fault.due():
            return None
        # botocore runs every before-send handler and takes the first answer, so moto's
        # stub would still carry the request out; sent nowhere, it does not land, as a
        # throttled request does not.
        url, request.url = request.url, "http://fault-injected.invalid/"
        return AWSResponse(url, fault.status,
                           {"Content-Type": "application/x-amz-json-1.0"},
                           _Body(fault.wire_body(service)))

    event = f"before-send.{service}.{fault.operation}"
    client.meta.events.register_first(event, answer)
    try:
        yield fault
    finally:
        client.meta.events.unregister(event, answer)


@contextmanager
def before_the_call(client: Any, fault: AwsFault) -> Iterator[AwsFault]:
    """Fail the operation's next ``fault.times`` calls with the fault, retries included."""
    service = _service(client)

    def fail(**_: Any) -> None:
        if fault.due():
            raise fault.client_error()

    event = f"before-call.{service}.{fault.operation}"
    client.meta.events.register_first(event, fail)
    try:
        yield fault
    finally:
        client.meta.events.unregister(event, fail)


def no_backoff(monkeypatch: Any) -> None:
    """Let botocore retry at once: its backoff is its own business, tests should not sleep."""
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda _self, _context: 0.0)
