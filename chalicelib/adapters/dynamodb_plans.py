"""Remediation plan executions on the ``incidents`` table, and the versioned-record base
the mirror records share.

An execution is ``WS#<ws>#PLANEXEC#<id>`` / ``PLANEXEC`` (its body as JSON, its state and
version as attributes for conditional updates); GSI1 lists a plan's executions newest
first (``WS#<ws>#PLAN#<plan id>``). Records expire by the table's TTL after 90 days.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from pydantic import BaseModel

from chalicelib.adapters.aws import error_code, translate_errors
from chalicelib.adapters.dynamodb_incident_items import key
from chalicelib.adapters.dynamodb_operations import TableAdapter
from chalicelib.domain.clock import days_from_now_epoch, now_iso
from chalicelib.domain.errors import Conflict
from chalicelib.services.remediation_plans import PlanExecution, PlanExecutionStore


class Versioned(Protocol):
    """What a versioned record has (the pydantic models of plan executions and mirrors)."""

    id: str
    workspace_id: str
    state: str
    version: int
    created_at: str

    def model_dump_json(self) -> str:
        """The record as JSON."""

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Self:
        """A changed copy."""


R = TypeVar("R", bound=Versioned)
INDEX_ATTRS = ("gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
EXECUTION_DAYS = 90


class VersionedRecords(TableAdapter, Generic[R]):
    """Pydantic records (with ``id``, ``workspace_id``, ``state``, ``version``) kept as a
    JSON body, updated only at the version they were read; subclasses name the partition
    and the index attributes a record has in each state."""

    model: ClassVar[type[BaseModel]]
    kind: ClassVar[str]  # the sort key, and the record's name in messages

    def _pk(self, workspace_id: str, record_id: str) -> str:
        return f"WS#{workspace_id}#{self.kind}#{record_id}"

    def _indexes(self, record: R) -> dict[str, str]:
        """Index attributes the record has now (absent ones are removed on update)."""
        return {}

    def _retention_epoch(self, record: R) -> int:
        """When the table's TTL may remove the record."""
        return days_from_now_epoch(EXECUTION_DAYS)

    @translate_errors("DynamoDB")
    def _put(self, record: R) -> None:
        item = {**key(self._pk(record.workspace_id, record.id), self.kind),
                "body": {"S": record.model_dump_json()},
                "state": {"S": record.state},
                "version": {"N": str(record.version)},
                "expires_at": {"N": str(self._retention_epoch(record))},
                **{k: {"S": v} for k, v in self._indexes(record).items()}}
        try:
            self._ddb.put_item(TableName=self.table, Item=item,
                               ConditionExpression="attribute_not_exists(pk)")
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise Conflict(f"{self.kind.lower()} {record.id} already exists",
                               code=f"{self.kind.lower()}_exists") from None
            raise

    @translate_errors("DynamoDB")
    def _get(self, workspace_id: str, record_id: str) -> R | None:
        item = self._ddb.get_item(TableName=self.table, ConsistentRead=True, Key=key(
            self._pk(workspace_id, record_id), self.kind)).get("Item")
        return self.model.model_validate_json(item["body"]["S"]) if item else None

    @translate_errors("DynamoDB")
    def _update(self, record: R, expect_state: str | None, changes: dict[str, Any]) -> R:
        new = record.model_copy(update={**changes, "updated_at": now_iso(),
                                        "version": record.version + 1})
        indexes = self._indexes(new)
        values = {":b": {"S": new.model_dump_json()}, ":s": {"S": new.state},
                  ":v": {"N": str(record.version)},
                  ":nv": {"N": str(new.version)},
                  **{f":{k}": {"S": v} for k, v in indexes.items()}}
        expression = "SET body = :b, #state = :s, version = :nv" + "".join(
            f", {k} = :{k}" for k in indexes)
        removed = [k for k in INDEX_ATTRS if k not in indexes]
        if removed:
            expression += " REMOVE " + ", ".join(removed)
        condition = "version = :v"
        if expect_state is not None:
            condition += " AND #state = :expect"
            values[":expect"] = {"S": expect_state}
        try:
            self._ddb.update_item(
                TableName=self.table, Key=key(self._pk(record.workspace_id, record.id),
                                              self.kind),
                UpdateExpression=expression, ConditionExpression=condition,
                ExpressionAttributeNames={"#state": "state"}, ExpressionAttributeValues=values)
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise Conflict(f"{self.kind.lower()} {record.id} changed while this request "
                               f"ran (expected state {expect_state or record.state}); "
                               "read it again", code=f"{self.kind.lower()}_changed") from None
            raise
        return new

    @translate_errors("DynamoDB")
    def _query_index(self, index: str, partition: str, *, limit: int,
               upper: str | None = None, newest_first: bool = True) -> list[R]:
        condition = f"{index}pk = :pk"
        values = {":pk": {"S": partition}}
        if upper is not None:
            condition += f" AND {index}sk <= :upper"
            values[":upper"] = {"S": upper}
        items = self._ddb.query(TableName=self.table, IndexName=index,
                                KeyConditionExpression=condition,
                                ExpressionAttributeValues=values,
                                ScanIndexForward=not newest_first, Limit=limit).get("Items", [])
        return [self.model.model_validate_json(i["body"]["S"]) for i in items]


class DynamoPlanExecutionStore(VersionedRecords[PlanExecution], PlanExecutionStore):
    """PlanExecutionStore on one DynamoDB table."""

    model = PlanExecution
    kind = "PLANEXEC"

    def _indexes(self, record: PlanExecution) -> dict[str, str]:
        return {"gsi1pk": f"WS#{record.workspace_id}#PLAN#{record.plan_id}",
                "gsi1sk": f"{record.created_at}#{record.id}"}

    def put(self, execution: PlanExecution) -> None:
        """Store a new execution (Conflict if the id exists)."""
        self._put(execution)

    def get(self, workspace_id: str, execution_id: str) -> PlanExecution | None:
        """One execution."""
        return self._get(workspace_id, execution_id)

    def update(self, execution: PlanExecution, *, expect_state: str | None = None,
               **changes: Any) -> PlanExecution:
        """Change fields if nobody changed the execution since it was read."""
        return self._update(execution, expect_state, changes)

    def for_plan(self, workspace_id: str, plan_id: str, limit: int = 20) -> list[PlanExecution]:
        """A plan's executions, newest first."""
        return self._query_index("gsi1", f"WS#{workspace_id}#PLAN#{plan_id}", limit=limit)
