"""Notifications to a real receiver (scripts/webhook_receiver.py on 127.0.0.1) and to moto's SNS: the
signature verifies, a 500 is retried, a 4xx is not, a dead receiver costs the deadline and no more, every
delivery is kept on the item; and, through ``airflow dags test``, a failed run sends its event while a run
of a video published already sends none."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import local_env
import pytest
from helpers import WebhookReceiver, start_webhook_receiver

from video_pipeline.bootstrap import bootstrap, ensure_table, ensure_topic
from video_pipeline.config import Settings
from video_pipeline.identity import video_id
from video_pipeline.notifications import Event, event_id, notify

ROOT = Path(__file__).resolve().parents[2]
TABLE = "notify-videos"
BUCKET = "notify-media"
SECRET = f"whsec-{secrets.token_hex(16)}"
SECRET_VARIABLE = "AIRFLOW_VAR_VIDEO_PIPELINE_WEBHOOK_SECRET"  # the default WEBHOOK_SECRET_VARIABLE's


@pytest.fixture
def start_receiver(tmp_path) -> Iterator:
    started: list[WebhookReceiver] = []

    def start(secret: str = SECRET, fail_first: int = 0) -> WebhookReceiver:
        started.append(start_webhook_receiver(tmp_path, secret, fail_first))
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def videos(moto_endpoint, monkeypatch):
    """The videos table on moto with one failed video's item, and the secret where Airflow finds it."""
    ensure_table(boto3.client("dynamodb", endpoint_url=moto_endpoint), TABLE)
    table = boto3.resource("dynamodb", endpoint_url=moto_endpoint).Table(TABLE)
    vid = secrets.token_hex(8)
    table.put_item(Item={"video_id": vid, "status": "failed", "stage": "probe"})
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    return table, vid


def _event(vid: str, status: str = "failed") -> Event:
    return Event.of(status, video_id=vid, source="s3://media/incoming/a.mp4", run_id="manual__1", stage="probe",
                    reason="not a video: no streams")


def _recorded(table, vid: str, event: Event) -> dict:
    return table.get_item(Key={"video_id": vid}, ConsistentRead=True)["Item"]["notifications"][event.id]


def test_a_delivery_is_signed_verified_by_the_receiver_and_recorded_on_the_item(videos, start_receiver):
    table, vid = videos
    receiver = start_receiver()
    event = _event(vid)
    notify(Settings.from_env(table=TABLE, webhook_urls=receiver.url + "?token=path-secret"), event)

    [got] = receiver.deliveries()
    assert got["answer"] == 204 and got["event"] == event.to_json()  # the receiver's verify() took it
    record = _recorded(table, vid, event)
    [webhook] = record["webhooks"]
    assert (webhook["delivered"], webhook["status_code"], webhook["attempts"]) == (True, 204, 1)
    assert webhook["origin"] == receiver.url.removesuffix("/events")  # never the path or its token
    assert record["status"] == "failed" and record["run_id"] == "manual__1" and record["sns"] is None


def test_a_500_is_retried_and_the_second_attempt_delivers(videos, start_receiver):
    table, vid = videos
    receiver = start_receiver(fail_first=1)
    event = _event(vid)
    notify(Settings.from_env(table=TABLE, webhook_urls=receiver.url), event)

    assert [(d["answer"], d["event"]["id"]) for d in receiver.deliveries()] == [(500, event.id), (204, event.id)]
    [webhook] = _recorded(table, vid, event)["webhooks"]
    assert (webhook["delivered"], webhook["status_code"], webhook["attempts"], webhook["error"]) == (True, 204, 2, None)


def test_a_bad_signature_is_refused_and_a_4xx_is_not_retried(videos, start_receiver):
    table, vid = videos
    receiver = start_receiver(secret="the receiver's other secret")
    event = _event(vid)
    notify(Settings.from_env(table=TABLE, webhook_urls=receiver.url), event)

    [got] = receiver.deliveries()
    assert got["answer"] == 400 and got["error"] == "signature does not match"
    [webhook] = _recorded(table, vid, event)["webhooks"]
    assert (webhook["delivered"], webhook["status_code"], webhook["attempts"], webhook["error"]) == (
        False, 400, 1, "HTTP 400")


def test_a_dead_receiver_costs_at_most_the_deadline_and_the_others_still_get_the_event(videos, start_receiver):
    table, vid = videos
    receiver = start_receiver()
    dead = f"http://127.0.0.1:{local_env.free_port()}/events"  # nothing listens there
    event = _event(vid, "published")
    started = time.monotonic()
    notify(Settings.from_env(table=TABLE, webhook_urls=f"{dead},{receiver.url}", webhook_deadline_s=3), event)
    took = time.monotonic() - started

    assert took < 3 + 2, took  # the deadline, and a moment to record it
    assert [d["event"]["id"] for d in receiver.deliveries()] == [event.id]
    failed, delivered = _recorded(table, vid, event)["webhooks"]
    assert failed["delivered"] is False and failed["status_code"] is None and failed["error"] == "ConnectError"
    assert failed["attempts"] >= 2  # retried: no connection is worth another try
    assert delivered["delivered"] is True


def test_without_the_secret_nothing_is_sent_unsigned(videos, start_receiver, monkeypatch):
    table, vid = videos
    monkeypatch.delenv(SECRET_VARIABLE)
    receiver = start_receiver()
    event = _event(vid)
    notify(Settings.from_env(table=TABLE, webhook_urls=receiver.url), event)

    assert receiver.deliveries() == []
    [webhook] = _recorded(table, vid, event)["webhooks"]
    assert webhook["delivered"] is False and "video_pipeline_webhook_secret" in webhook["error"]


def test_an_event_sent_again_replaces_its_record_and_keeps_the_others(videos, start_receiver):
    table, vid = videos
    receiver = start_receiver()
    settings = Settings.from_env(table=TABLE, webhook_urls=receiver.url)
    failed, published = _event(vid), _event(vid, "published")
    for event in (failed, published, failed):  # a retried task sends its event again
        notify(settings, event)

    assert [d["event"]["id"] for d in receiver.deliveries()] == [failed.id, published.id, failed.id]
    notifications = table.get_item(Key={"video_id": vid}, ConsistentRead=True)["Item"]["notifications"]
    assert set(notifications) == {failed.id, published.id}


def test_sns_gets_the_event_with_its_status_as_a_message_attribute(videos, moto_endpoint):
    table, vid = videos
    sns, sqs = (boto3.client(service, endpoint_url=moto_endpoint) for service in ("sns", "sqs"))
    topic = f"arn:aws:sns:us-east-1:123456789012:video-events-{vid}"
    assert ensure_topic(sns, topic).endswith(f"({topic})")
    queue = sqs.create_queue(QueueName=f"events-{vid}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    event = _event(vid)
    notify(Settings.from_env(table=TABLE, sns_topic_arn=topic), event)

    [message] = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(message["Body"])  # SNS's, around our body
    assert json.loads(envelope["Message"]) == event.to_json()
    assert envelope["MessageAttributes"]["status"]["Value"] == "failed"
    assert envelope["Subject"] == f"video {vid} failed"
    record = _recorded(table, vid, event)
    assert record["sns"] == {"delivered": True, "message_id": envelope["MessageId"], "error": None}
    assert record["webhooks"] is None


# Through a run: ``airflow dags test`` as make demo runs it. ----------------------------------------------

@pytest.fixture(scope="module")
def run_receiver(tmp_path_factory, moto_endpoint) -> Iterator[tuple[WebhookReceiver, dict[str, str]]]:
    """A receiver, and an Airflow home whose runs post to it: the demo's wiring."""
    tmp = tmp_path_factory.mktemp("notify-run")
    receiver = start_webhook_receiver(tmp, SECRET)
    home = tmp / "airflow"
    env = {**os.environ, **local_env.airflow_env(home, moto_endpoint), "VIDEO_PIPELINE_BUCKET": BUCKET,
           "VIDEO_PIPELINE_TABLE": TABLE, "VIDEO_PIPELINE_WEBHOOK_URLS": receiver.url, SECRET_VARIABLE: SECRET}
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    bootstrap(s3=boto3.client("s3", endpoint_url=moto_endpoint),
              dynamodb=boto3.client("dynamodb", endpoint_url=moto_endpoint),
              settings=Settings.from_env(bucket=BUCKET, table=TABLE))
    yield receiver, env
    receiver.stop()


def _run(env: dict[str, str], key: str) -> subprocess.CompletedProcess[str]:
    conf = json.dumps({"video_key": key, "bucket": BUCKET})
    return subprocess.run(["airflow", "dags", "test", "video_pipeline", "-c", conf], env=env, capture_output=True,
                          text=True, timeout=900)


def _upload(s3, key: str, body: bytes) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return video_id(BUCKET, key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"])


def test_a_run_that_fails_sends_its_failed_event(run_receiver, s3, moto_endpoint):
    receiver, env = run_receiver
    vid = _upload(s3, "incoming/not a video.mp4", b"this is not a video\n" * 50)
    result = _run(env, "incoming/not a video.mp4")

    events = [d for d in receiver.deliveries() if d["event"]["video_id"] == vid]
    assert [(d["answer"], d["event"]["status"], d["event"]["stage"]) for d in events] == [(204, "failed", "probe")], (
        result.stdout[-4000:])
    event = events[0]["event"]
    assert "not a video" in event["reason"] and event["page_url"] is None
    assert event["id"] == event_id(vid, "failed", event["run_id"])
    item = boto3.resource("dynamodb", endpoint_url=moto_endpoint).Table(TABLE).get_item(Key={"video_id": vid})["Item"]
    assert item["status"] == "failed" and item["notifications"][event["id"]]["webhooks"][0]["delivered"] is True
    assert SECRET not in result.stdout + result.stderr  # the task log masks the secret it read


def test_a_run_of_a_video_published_already_sends_nothing(run_receiver, s3, moto_endpoint):
    """register's no-op: the item says published with this ETag, so the run ends there, and says nothing."""
    receiver, env = run_receiver
    vid = _upload(s3, "incoming/published already.mp4", b"the bytes of a video published before\n")
    table = boto3.resource("dynamodb", endpoint_url=moto_endpoint).Table(TABLE)
    table.put_item(Item={"video_id": vid, "status": "published", "source_bucket": BUCKET,
                         "source_key": "incoming/published already.mp4", "dag_run_id": "an earlier run"})
    before = receiver.deliveries()
    result = _run(env, "incoming/published already.mp4")

    assert result.returncode == 0, result.stdout[-4000:]
    assert "[DAG TEST] end task task_id=register" in result.stdout
    assert "[DAG TEST] starting task_id=probe " not in result.stdout  # the run ended in register
    assert receiver.deliveries() == before
    item = table.get_item(Key={"video_id": vid})["Item"]
    assert item["status"] == "published" and "notifications" not in item
