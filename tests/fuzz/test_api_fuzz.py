"""Schemathesis against the embedded stack's own /openapi.json: every operation, authenticated,
no 5xx, responses that match the document, bad input answered with a 4xx.

Not checked: that every schema-valid request is accepted. The document states field types,
bounds and enums, but not rules such as "give incident_id or pattern", a cluster that must
exist, or a command that must be a kubectl command; those requests get a 400/422 that says why.

``make test`` runs a few examples per operation; ``make fuzz`` sets DROVER_FUZZ_EXAMPLES high.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bench._stack import Drover, drover_stack
from chalicelib.api.openapi import current_document

pytestmark = pytest.mark.integration
KEY = "drv_fuzz-admin"
EXAMPLES = int(os.environ.get("DROVER_FUZZ_EXAMPLES", "3"))


@pytest.fixture(scope="module")
def stack() -> Iterator[Drover]:
    """The embedded stack (moto server, HTTP API, consumers) with an admin key."""
    with drover_stack(KEY) as drover:
        yield drover


def test_the_stack_serves_the_document_fuzzed_here(stack: Drover) -> None:
    """The document below is the one the running stack serves."""
    served = stack.http("GET", "/openapi.json")
    assert served.status_code == 200
    assert served.json() == DOCUMENT


# Built in-process from the same code the stack runs, so tests are collected without a server.
DOCUMENT = current_document()
CONFIG = schemathesis.Config.from_dict({"checks": {
    # 503 is the documented answer when a dependency is down: fuzzing configures providers
    # (e.g. an OpenAI base_url) that do not answer here. Any other 5xx is a failure.
    "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]},
    # A body over 1 MiB is refused with 413 before it is read.
    "negative_data_rejection": {"expected-statuses": [
        "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]},
}})
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: schemathesis.Case, stack: Drover) -> None:
    """No 5xx, a documented status and body, and a 4xx for what the schema rules out."""
    case.call_and_validate(base_url=stack.url, headers={"Authorization": f"Bearer {KEY}"},
                           excluded_checks=[positive_data_acceptance], timeout=30)
