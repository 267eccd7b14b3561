"""API keys in the ``incidents`` table, stored only by SHA-256 hash.

A key item (pk ``APIKEY#<hash>``) is found in one GetItem when a request arrives; an id item
(pk ``APIKEYID#<id>``) finds it for revocation; GSI1 (``TOKENS#<workspace>``) lists them.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.aws import client, translate_errors
from chalicelib.adapters.dynamo_codec import from_item, to_item
from chalicelib.domain.errors import Conflict
from chalicelib.domain.ports import ApiKeyRepository, StoredKey

_FIELDS = ("id", "key_hash", "name", "scopes", "workspace_id", "created_at", "created_by",
           "prefix")


def _key_key(key_hash: str) -> dict[str, Any]:
    return {"pk": {"S": f"APIKEY#{key_hash}"}, "sk": {"S": "APIKEY"}}


def _id_key(key_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"APIKEYID#{key_id}"}, "sk": {"S": "APIKEYID"}}


def _to_key(item: dict[str, Any]) -> StoredKey:
    data = from_item(item)
    data["scopes"] = tuple(data.get("scopes", ()))
    return StoredKey(**{f: data[f] for f in _FIELDS})


class DynamoApiKeyRepository(ApiKeyRepository):
    """ApiKeyRepository on the incidents table."""

    def __init__(self, table: str) -> None:
        self.table = table

    @property
    def _ddb(self) -> Any:
        return client("dynamodb")

    def _items(self, key: StoredKey) -> tuple[dict[str, Any], dict[str, Any]]:
        data = {f: getattr(key, f) for f in _FIELDS}
        data["scopes"] = list(key.scopes)
        key_item = {**_key_key(key.key_hash), **to_item(data),
                    **to_item({"gsi1pk": f"TOKENS#{key.workspace_id}",
                               "gsi1sk": f"{key.created_at}#{key.id}"})}
        id_item = {**_id_key(key.id), "key_hash": {"S": key.key_hash}}
        return key_item, id_item

    @translate_errors("DynamoDB")
    def find_by_hash(self, key_hash: str) -> StoredKey | None:
        """One GetItem on the hash."""
        item = self._ddb.get_item(TableName=self.table, Key=_key_key(key_hash)).get("Item")
        return _to_key(item) if item else None

    @translate_errors("DynamoDB")
    def add(self, key: StoredKey) -> None:
        """Store a new key and its id pointer together."""
        from botocore.exceptions import ClientError

        key_item, id_item = self._items(key)
        try:
            self._ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "Item": key_item,
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {"TableName": self.table, "Item": id_item,
                         "ConditionExpression": "attribute_not_exists(pk)"}},
            ])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                raise Conflict("an API key with this id or value already exists") from exc
            raise

    @translate_errors("DynamoDB")
    def put_bootstrap(self, key: StoredKey) -> None:
        """Store the bootstrap admin key, replacing an earlier one with the same id."""
        previous = self.get(key.id)
        writes: list[dict[str, Any]] = []
        if previous and previous.key_hash != key.key_hash:
            writes.append({"Delete": {"TableName": self.table,
                                      "Key": _key_key(previous.key_hash)}})
        key_item, id_item = self._items(key)
        writes += [{"Put": {"TableName": self.table, "Item": key_item}},
                   {"Put": {"TableName": self.table, "Item": id_item}}]
        self._ddb.transact_write_items(TransactItems=writes)

    @translate_errors("DynamoDB")
    def list(self, workspace_id: str) -> list[StoredKey]:
        """Query GSI1 for the workspace's keys, oldest first."""
        keys: list[StoredKey] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table, "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"TOKENS#{workspace_id}"}},
        }
        while True:
            result = self._ddb.query(**kwargs)
            keys += [_to_key(i) for i in result.get("Items", [])]
            if "LastEvaluatedKey" not in result:
                return keys
            kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]

    @translate_errors("DynamoDB")
    def get(self, key_id: str) -> StoredKey | None:
        """Follow the id pointer to the key."""
        pointer = self._ddb.get_item(TableName=self.table, Key=_id_key(key_id),
                                     ConsistentRead=True).get("Item")
        if not pointer:
            return None
        item = self._ddb.get_item(TableName=self.table, Key=_key_key(pointer["key_hash"]["S"]),
                                  ConsistentRead=True).get("Item")
        return _to_key(item) if item else None

    @translate_errors("DynamoDB")
    def delete(self, key: StoredKey) -> None:
        """Remove the key and its pointer in one transaction."""
        self._ddb.transact_write_items(TransactItems=[
            {"Delete": {"TableName": self.table, "Key": _key_key(key.key_hash)}},
            {"Delete": {"TableName": self.table, "Key": _id_key(key.id)}},
        ])
