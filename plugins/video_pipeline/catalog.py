"""The DynamoDB item of each video: where it is (queued, processing, published, failed) and what it is.

Every write is an upsert of named attributes, so reruns and retries converge
on the same item.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

STATUSES = ("queued", "processing", "published", "failed", "rejected")  # rejected: in caption review


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _dynamo(value: Any) -> Any:
    """DynamoDB wants Decimal, not float."""
    return json.loads(json.dumps(value), parse_float=Decimal)


def _plain(value: Any) -> Any:
    """Back from DynamoDB: Decimal to int or float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class VideoCatalog:
    """The videos table, through a boto3 DynamoDB ``Table`` resource (aws.py)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, video_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"video_id": video_id}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def get_many(self, video_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The items that exist among these ids, by id (BatchGetItem, 100 keys a call)."""
        client, name = self.table.meta.client, self.table.name
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(video_ids))
        for start in range(0, len(unique), 100):
            request = {name: {"Keys": [{"video_id": v} for v in unique[start:start + 100]], "ConsistentRead": True}}
            while request:
                response = client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(name, []):
                    found[item["video_id"]] = _plain(item)
                request = response.get("UnprocessedKeys") or {}
        return found

    def claim(self, video_id: str, **fields: Any) -> bool:
        """Create the item ``queued`` unless it exists; False when another trigger got there first."""
        now = _now()
        item = {k: v for k, v in fields.items() if v is not None}
        item.update(video_id=video_id, status="queued", created_at=now, updated_at=now)
        try:
            self.table.put_item(Item=_dynamo(item), ConditionExpression="attribute_not_exists(video_id)")
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def upsert(self, video_id: str, *, unless_status: str | None = None, owner_run: str | None = None,
               **fields: Any) -> None:
        """Set these attributes (None removes one), creating the item if needed.

        Conditional writes (else ConditionalCheckFailedException): with ``unless_status``, only where
        the item's status is not that one; with ``owner_run``, only while that run owns the item (it is
        the item's ``dag_run_id``: the last run that registered the video; none yet, any run), so that a run
        overtaken by a newer run of the same video cannot overwrite the newer run's item.
        """
        fields["updated_at"] = _now()
        sets = {k: v for k, v in fields.items() if v is not None}
        removes = [k for k, v in fields.items() if v is None]
        names = {f"#{i}": k for i, k in enumerate([*sets, *removes])}
        keys = {k: f"#{i}" for i, k in enumerate([*sets, *removes])}
        expression = "SET " + ", ".join(f"{keys[k]} = :{i}" for i, k in enumerate(sets))
        expression += ", created_at = if_not_exists(created_at, :created)"
        if removes:
            expression += " REMOVE " + ", ".join(keys[k] for k in removes)
        values = {f":{i}": _dynamo(v) for i, v in enumerate(sets.values())}
        values[":created"] = fields["updated_at"]
        conditions = []
        if unless_status:
            names["#current"], values[":unless"] = "status", unless_status
            conditions.append("(attribute_not_exists(#current) OR #current <> :unless)")
        if owner_run:
            names["#owner"], values[":owner"] = "dag_run_id", owner_run
            conditions.append("(attribute_not_exists(#owner) OR #owner = :owner)")
        self.table.update_item(
            Key={"video_id": video_id},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            **({"ConditionExpression": " AND ".join(conditions)} if conditions else {}),
        )

    def set_status(self, video_id: str, status: str, *, stage: str | None = None,
                   reason: str | None = None, owner_run: str | None = None, **fields: Any) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
        if status != "failed":
            fields.setdefault("failure_permanent", None)  # a new attempt clears the old verdict
        if status in ("published", "failed", "rejected"):
            fields.setdefault("stuck_since", None)  # the run has ended: it is stuck no more
        self.upsert(video_id, status=status, stage=stage, failure_reason=reason, owner_run=owner_run, **fields)

    def set_processing(self, video_id: str, stage: str, owner_run: str | None = None) -> bool:
        """Say which stage runs, unless the run has failed already (a stage that starts after another
        failed must not hide the failure) or a newer run owns the item; False when so."""
        try:
            self.upsert(video_id, unless_status="failed", owner_run=owner_run, status="processing", stage=stage)
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def flag_stuck(self, video_id: str, *, run_id: str, since: str) -> bool:
        """Mark the run's item stuck (``stuck_since``) while it is still queued or processing under
        that run; False when the run has ended or another run owns the item."""
        try:
            self.table.update_item(
                Key={"video_id": video_id},
                UpdateExpression="SET stuck_since = if_not_exists(stuck_since, :since), updated_at = :now",
                ConditionExpression="dag_run_id = :run AND #s IN (:queued, :processing)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":since": since, ":now": _now(), ":run": run_id,
                                           ":queued": "queued", ":processing": "processing"},
            )
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def record_notification(self, video_id: str, event_id: str, record: dict[str, Any]) -> None:
        """Keep an event's deliveries in the item's ``notifications`` map, by the event's id: an event sent
        again replaces its own record, and the others stay. (A map's key can only be set once the map exists.)"""
        names = {"#n": "notifications", "#e": event_id}
        self.table.update_item(Key={"video_id": video_id}, UpdateExpression="SET #n = if_not_exists(#n, :empty)",
                               ExpressionAttributeNames={"#n": "notifications"},
                               ExpressionAttributeValues={":empty": {}})
        self.table.update_item(Key={"video_id": video_id}, UpdateExpression="SET #n.#e = :record",
                               ExpressionAttributeNames=names, ExpressionAttributeValues={":record": _dynamo(record)})

    def published(self) -> list[dict[str, Any]]:
        """Every published video, newest first."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "FilterExpression": "#s = :published",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":published": "published"},
        }
        while True:
            page = self.table.scan(**kwargs)
            items += [_plain(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(items, key=lambda i: i.get("published_at", ""), reverse=True)
