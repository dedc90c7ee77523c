"""The DynamoDB item of each video: where it is (queued, processing, published, failed) and what it is.

Every write is an upsert of named attributes, so reruns and retries converge
on the same item.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

STATUSES = ("queued", "processing", "published", "failed")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
    """The videos table, through a boto3 DynamoDB ``Table`` resource (e.g. from DynamoDBHook)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, video_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"video_id": video_id}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def upsert(self, video_id: str, **fields: Any) -> None:
        """Set these attributes (None removes one), creating the item if needed."""
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
        self.table.update_item(
            Key={"video_id": video_id},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def set_status(self, video_id: str, status: str, *, stage: str | None = None,
                   reason: str | None = None, **fields: Any) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
        self.upsert(video_id, status=status, stage=stage, failure_reason=reason, **fields)

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
