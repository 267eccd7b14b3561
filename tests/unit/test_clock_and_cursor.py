"""Times become UTC with a Z; cursors round-trip and refuse tampering."""

from __future__ import annotations

import pytest

from chalicelib.adapters.dynamo_codec import decode_cursor, encode_cursor
from chalicelib.domain.clock import parse_time
from chalicelib.domain.errors import BadRequest


@pytest.mark.parametrize(("given", "expected"), [
    ("2020-02-26T07:05:04.989876849Z", "2020-02-26T07:05:04.989Z"),
    ("2018-03-07T06:33:21.873077559-05:00", "2018-03-07T11:33:21.873Z"),
    ("0001-01-01T00:00:00Z", None),
    (1618958187458, "2021-04-20T22:36:27.458Z"),
    (1618958187, "2021-04-20T22:36:27.000Z"),
    ("not a time", None), ("", None), (None, None), (True, None),
])
def test_times_normalize_to_utc_z(given: object, expected: str | None):
    assert parse_time(given) == expected


def test_a_cursor_round_trips_to_the_same_start_key():
    key = {"gsi1pk": {"S": "WS#a#INCIDENTS"}, "gsi1sk": {"S": "2025#inc-1"},
           "pk": {"S": "WS#a#INC#inc-1"}, "sk": {"S": "INCIDENT"}}
    cursor = encode_cursor(key)
    assert decode_cursor(cursor, partition=("gsi1pk", "WS#a#INCIDENTS"),
                         index_sort="gsi1sk") == key


def test_a_truncated_or_forged_cursor_is_refused():
    forged = encode_cursor({"gsi1pk": {"S": "WS#a#INCIDENTS"}})
    with pytest.raises(BadRequest):
        decode_cursor(forged, partition=("gsi1pk", "WS#a#INCIDENTS"), index_sort="gsi1sk")
    timeline = encode_cursor({"pk": {"S": "WS#a#INC#inc-1"}})
    with pytest.raises(BadRequest):
        decode_cursor(timeline, partition=("pk", "WS#a#INC#inc-1"))


def test_a_cursor_from_another_workspace_is_refused():
    cursor = encode_cursor({"gsi1pk": {"S": "WS#a#INCIDENTS"}, "gsi1sk": {"S": "x"},
                            "pk": {"S": "p"}, "sk": {"S": "s"}})
    with pytest.raises(BadRequest):
        decode_cursor(cursor, partition=("gsi1pk", "WS#b#INCIDENTS"), index_sort="gsi1sk")


@pytest.mark.parametrize("cursor", ["!!!", "bm90IGpzb24", "WzEsMl0"])
def test_a_garbled_cursor_is_a_bad_request(cursor: str):
    with pytest.raises(BadRequest):
        decode_cursor(cursor, partition=("gsi1pk", "WS#a#INCIDENTS"))
