"""Plain dicts to DynamoDB attribute values and back, and opaque page cursors."""

from __future__ import annotations

import base64
import binascii
import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from chalicelib.domain.errors import BadRequest

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _prepare(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _prepare(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_prepare(v) for v in value]
    return value


def _restore(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _restore(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_restore(v) for v in value]
    return value


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    """Serialize a dict (None values dropped) to a DynamoDB item."""
    return {k: _serializer.serialize(v) for k, v in _prepare(data).items()}


def to_value(value: Any) -> dict[str, Any]:
    """Serialize one value to a DynamoDB attribute value."""
    return _serializer.serialize(_prepare(value))


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """Deserialize a DynamoDB item to a plain dict (numbers as int or float)."""
    return {k: _restore(_deserializer.deserialize(v)) for k, v in item.items()}


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    """Turn DynamoDB's LastEvaluatedKey into an opaque cursor."""
    if not last_key:
        return None
    plain = {k: v["S"] for k, v in last_key.items()}
    raw = json.dumps(plain, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, partition: tuple[str, str],
                  index_sort: str | None = None) -> dict[str, Any] | None:
    """Turn a cursor back into ExclusiveStartKey, refusing one minted for another list.

    The key must have exactly the table key, plus the index keys when paging an index.
    """
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        plain = json.loads(raw)
    except (binascii.Error, ValueError):
        raise BadRequest("cursor is not valid; pass back next_cursor unchanged",
                         code="bad_cursor") from None
    attr, value = partition
    expected = {"pk", "sk", attr} | ({index_sort} if index_sort else set())
    if (not isinstance(plain, dict) or plain.get(attr) != value or set(plain) != expected
            or not all(isinstance(v, str) and v for v in plain.values())):
        raise BadRequest("cursor does not belong to this list; pass back next_cursor unchanged",
                         code="bad_cursor")
    return {k: {"S": v} for k, v in plain.items()}
