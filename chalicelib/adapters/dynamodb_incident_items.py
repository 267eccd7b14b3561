"""Keys and item shapes of the ``incidents`` table, shared by its reads and its writes.

One item collection per incident (pk ``WS#<ws>#INC#<id>``): the incident (sk ``INCIDENT``),
its timeline (sk ``EVT#<time>#<order>#<id>``) and its correlated children (sk
``CHILD#<id>``). A fingerprint's claim ``WS#<ws>#FP#<dedup key>`` points at its latest
incident and says whether it is open; conditional writes on it make one alert map to one
incident. A correlation item ``WS#<ws>#CORR#<subject>`` names the parent incident of a
service or workload for a time window. GSI1 lists a workspace's incidents newest first;
GSI2 the same per state.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamo_codec import from_item, to_item
from chalicelib.domain.clock import new_id
from chalicelib.domain.lifecycle import Claim
from chalicelib.domain.models import Alert, Incident, TimelineEvent

INCIDENT_SK = "INCIDENT"
OPEN_SK = "OPEN"
PARENT_SK = "PARENT"
STATE_NAMES = {"#state": "state"}  # "state" is a DynamoDB reserved word
KEY_ATTRS = ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "expires_at")
# Events written in one transaction share a timestamp; this keeps their causal order.
EVENT_ORDER = {"alert_received": 1, "incident_created": 2, "incident_reopened": 2,
               "incident_acknowledged": 3, "incident_resolved": 4}


def incident_pk(workspace_id: str, incident_id: str) -> str:
    """Partition key of an incident's item collection."""
    return f"WS#{workspace_id}#INC#{incident_id}"


def fingerprint_pk(workspace_id: str, dedup_key: str) -> str:
    """Partition key of the claim on a fingerprint."""
    return f"WS#{workspace_id}#FP#{dedup_key}"


def correlation_pk(workspace_id: str, subject: str) -> str:
    """Partition key of a service's or workload's correlation parent."""
    return f"WS#{workspace_id}#CORR#{subject}"


def list_pk(workspace_id: str, state: str | None = None) -> str:
    """GSI partition listing a workspace's incidents, optionally of one state."""
    return f"WS#{workspace_id}#INCIDENTS" + (f"#{state}" if state else "")


def key(pk: str, sk: str) -> dict[str, Any]:
    """A DynamoDB primary key."""
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def incident_key(workspace_id: str, incident_id: str) -> dict[str, Any]:
    """The primary key of an incident item."""
    return key(incident_pk(workspace_id, incident_id), INCIDENT_SK)


def claim_key(workspace_id: str, dedup_key: str) -> dict[str, Any]:
    """The primary key of a fingerprint's claim."""
    return key(fingerprint_pk(workspace_id, dedup_key), OPEN_SK)


def strip_keys(data: dict[str, Any]) -> dict[str, Any]:
    """Drop the table's key attributes from a decoded item."""
    return {k: v for k, v in data.items() if k not in KEY_ATTRS}


def to_incident(item: dict[str, Any]) -> Incident:
    """Decode an incident item."""
    return Incident.model_validate(strip_keys(from_item(item)))


def to_claim(item: dict[str, Any] | None) -> Claim | None:
    """Decode a claim item; claims written before states existed are open."""
    if not item:
        return None
    data = from_item(item)
    return Claim(incident_id=data["incident_id"], state=data.get("state", "open"),
                 resolved_at=data.get("resolved_at"), ended_at=data.get("ended_at"))


def incident_item(incident: Incident) -> dict[str, Any]:
    """Encode an incident with its list and per-state index keys."""
    sort = f"{incident.created_at}#{incident.id}"
    data = incident.model_dump()
    data.update(
        pk=incident_pk(incident.workspace_id, incident.id), sk=INCIDENT_SK,
        gsi1pk=list_pk(incident.workspace_id), gsi1sk=sort,
        gsi2pk=list_pk(incident.workspace_id, incident.state), gsi2sk=sort,
    )
    return to_item(data)


def event(event_type: str, actor: str, payload: dict[str, Any], at: str) -> TimelineEvent:
    """A new timeline event."""
    return TimelineEvent(id=new_id("evt-"), event_type=event_type, actor=actor,
                         payload=payload, created_at=at)


def event_item(pk: str, timeline_event: TimelineEvent) -> dict[str, Any]:
    """Encode a timeline event into its incident's collection."""
    order = EVENT_ORDER.get(timeline_event.event_type, 5)
    return to_item({"pk": pk,
                    "sk": f"EVT#{timeline_event.created_at}#{order}#{timeline_event.id}",
                    **timeline_event.model_dump()})


def put(table: str, item: dict[str, Any], condition: str | None = None,
        values: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Put of a transaction."""
    spec: dict[str, Any] = {"TableName": table, "Item": item}
    if condition:
        spec["ConditionExpression"] = condition
    if values:
        spec["ExpressionAttributeValues"] = values
    return {"Put": spec}


def put_event(table: str, pk: str, timeline_event: TimelineEvent) -> dict[str, Any]:
    """A Put of a timeline event, for a transaction."""
    return put(table, event_item(pk, timeline_event))


def alert_payload(alert: Alert) -> dict[str, Any]:
    """What the timeline keeps of a received alert."""
    return {"source": alert.source, "integration": alert.integration,
            "severity": alert.severity, "status": alert.status,
            "fingerprint": alert.fingerprint, "title": alert.title,
            "cluster": alert.cluster, "acknowledged": alert.acknowledged or None}
