"""What users wrote about resources (seed 003 ``PATCH /v1/api/resources/{id}``), in the
``incidents`` table: one item per annotated resource under ``RESOURCEFIELDS#<workspace>``,
sort key the resource id, so a workspace's annotations come back in one Query.

Everything else about a resource comes from the cluster; these items only hold the user
fields, and a PATCH changes the fields it names in one UpdateItem (no read-modify-write).
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.aws import translate_errors
from chalicelib.adapters.dynamo_codec import from_item, to_item, to_value
from chalicelib.adapters.dynamodb_incident_items import strip_keys
from chalicelib.adapters.dynamodb_operations import TableAdapter
from chalicelib.domain.clock import now_iso
from chalicelib.services.resources import ResourceFieldStore


def _pk(workspace_id: str) -> str:
    return f"RESOURCEFIELDS#{workspace_id}"


class DynamoResourceFieldStore(TableAdapter, ResourceFieldStore):
    """User fields of resources on DynamoDB."""

    @translate_errors("DynamoDB")
    def all(self, workspace_id: str) -> dict[str, dict[str, Any]]:
        """Every annotated resource of the workspace, by resource id."""
        found: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": to_value(_pk(workspace_id))}}
        while True:
            page = self._ddb.query(**kwargs)
            for item in page.get("Items", []):
                found[item["sk"]["S"]] = strip_keys(from_item(item))
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @translate_errors("DynamoDB")
    def update(self, workspace_id: str, resource_id: str, changes: dict[str, Any],
               actor: str) -> dict[str, Any]:
        """Set the fields given a value, remove those given None; the stored fields."""
        names = {f"#f{i}": name for i, name in enumerate(changes)}
        values = {f":v{i}": value for i, value in enumerate(changes.values())}
        sets = [f"{n} = :v{n[2:]}" for n, name in names.items() if changes[name] is not None]
        removes = [n for n, name in names.items() if changes[name] is None]
        names.update({"#at": "updated_at", "#by": "updated_by"})
        expression = "SET " + ", ".join([*sets, "#at = :at", "#by = :by"])
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        bound = {k: v for k, v in values.items() if v is not None}
        result = self._ddb.update_item(
            TableName=self.table, ReturnValues="ALL_NEW", UpdateExpression=expression,
            Key={"pk": to_value(_pk(workspace_id)), "sk": to_value(resource_id)},
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={**to_item(bound), ":at": to_value(now_iso()),
                                       ":by": to_value(actor)})
        return strip_keys(from_item(result["Attributes"]))
