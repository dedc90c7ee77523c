"""Events for the world outside: a video published, failed, rejected in review, or waiting for a reviewer.

The task or callback where it happens sends the event (``notify``) right after the item says so: to
every WEBHOOK_URLS, signed (webhooks.py, webhook_signature.py), and to SNS_TOPIC_ARN through the Amazon
provider's SnsHook. Sending never fails or holds up the run past WEBHOOK_DEADLINE_S: what came of it is
logged and kept on the item, under ``notifications`` by the event's id. The id is the same for the same
video, status and run, so a retried task sends (and records) the same event again, and receivers dedupe
by it. A run that finds its video published already ends in register and sends nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

from video_contract.records import Record
from video_pipeline.config import Settings

log = logging.getLogger(__name__)

EVENT_STATUSES = ("published", "failed", "rejected", "review_requested")
EVENT_HEADER = "Video-Pipeline-Event"  # the status, for routing without parsing the body
EVENT_ID_HEADER = "Video-Pipeline-Event-Id"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event(Record):
    """A notification's body (docs/notifications.md)."""

    KIND = "notification event"
    id: str  # from the video, status and run: the same event sent again has the same id
    status: str  # one of EVENT_STATUSES
    video_id: str
    source: str  # s3://bucket/key of the upload
    run_id: str
    stage: str | None  # the task it happened in
    reason: str | None  # failed, rejected: why
    page_url: str | None  # published: the video's page
    timestamp: str  # when it was sent (ISO 8601, UTC)

    @classmethod
    def of(cls, status: str, *, video_id: str, source: str, run_id: str, stage: str | None = None,
           reason: str | None = None, page_url: str | None = None) -> Event:
        if status not in EVENT_STATUSES:
            raise ValueError(f"unknown event status {status!r}; expected one of {', '.join(EVENT_STATUSES)}")
        return cls(id=event_id(video_id, status, run_id), status=status, video_id=video_id, source=source,
                   run_id=run_id, stage=stage, reason=reason, page_url=page_url,
                   timestamp=datetime.now(UTC).isoformat(timespec="seconds"))

    def body(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()


def event_id(video_id: str, status: str, run_id: str) -> str:
    return hashlib.sha256(f"{video_id}\n{status}\n{run_id}".encode()).hexdigest()[:32]


def notify(settings: Settings, event: Event) -> None:
    """Send the event on every configured channel and record the deliveries on the item; never raises."""
    if not settings.webhook_urls and not settings.sns_topic_arn:
        return
    record: dict[str, Any] = {"status": event.status, "run_id": event.run_id, "at": event.timestamp,
                              "webhooks": _webhooks(settings, event), "sns": _sns(settings, event)}
    try:
        from video_pipeline.status_callbacks import catalog

        catalog(settings).record_notification(event.video_id, event.id, record)
    except Exception:  # the run goes on whatever came of its notifications
        log.exception("video %s: the %s event's deliveries could not be recorded", event.video_id, event.status)


def webhook_secret(settings: Settings) -> str | None:
    """The HMAC secret from the Airflow Variable that WEBHOOK_SECRET_VARIABLE names, masked in every log."""
    from airflow.sdk import Variable
    from airflow.sdk.log import mask_secret

    secret: str | None = Variable.get(settings.webhook_secret_variable, default=None)
    if secret:
        mask_secret(secret)
    return secret or None


def _webhooks(settings: Settings, event: Event) -> list[dict[str, Any]] | None:
    if not settings.webhook_urls:
        return None
    from video_pipeline.webhooks import Delivery, deliver_all, origin

    try:
        secret = webhook_secret(settings)
        if not secret:
            raise LookupError(f"the Airflow Variable {settings.webhook_secret_variable} (WEBHOOK_SECRET_VARIABLE) "
                              "holds no secret: nothing is sent unsigned")
        deliveries = deliver_all(settings.webhook_urls, body=event.body(),
                                 headers={EVENT_HEADER: event.status, EVENT_ID_HEADER: event.id}, secret=secret,
                                 timeout_s=settings.webhook_timeout_s, attempts=settings.webhook_attempts,
                                 deadline_s=settings.webhook_deadline_s)
    except Exception as error:  # a webhook's trouble never fails the run
        log.exception("video %s: the %s event went to no webhook", event.video_id, event.status)
        deliveries = [Delivery(origin=origin(url), status_code=None, attempts=0, delivered=False, error=str(error),
                               at=event.timestamp) for url in settings.webhook_urls]
    return [delivery.to_json() for delivery in deliveries]


def _sns(settings: Settings, event: Event) -> dict[str, Any] | None:
    """Published to the topic with the status and video id as message attributes (for subscription filters)."""
    if not settings.sns_topic_arn:
        return None
    from airflow.providers.amazon.aws.hooks.sns import SnsHook

    try:
        answer = SnsHook(aws_conn_id=settings.aws_conn_id).publish_to_target(
            target_arn=settings.sns_topic_arn, message=event.body().decode(),
            subject=f"video {event.video_id} {event.status}",
            message_attributes={"status": event.status, "video_id": event.video_id, "event_id": event.id})
    except Exception as error:  # botocore's own retries are done; the run goes on
        log.exception("video %s: the %s event was not published to SNS", event.video_id, event.status)
        return {"delivered": False, "message_id": None, "error": type(error).__name__}
    log.info("video %s: the %s event published to SNS (%s)", event.video_id, event.status, answer["MessageId"])
    return {"delivered": True, "message_id": answer["MessageId"], "error": None}
