"""What needs a run and under which id: discovery.py against the videos table on moto server."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from video_pipeline import discovery
from video_pipeline.bootstrap import ensure_table
from video_pipeline.catalog import VideoCatalog
from video_pipeline.discovery import S3Object
from video_pipeline.run_params import Sources


@pytest.fixture
def catalog(moto_endpoint, request) -> VideoCatalog:
    name = f"discovery-{request.node.name}"[:255]
    ensure_table(boto3.client("dynamodb", endpoint_url=moto_endpoint), name)
    return VideoCatalog(boto3.resource("dynamodb", endpoint_url=moto_endpoint).Table(name))


def objects(*keys: str) -> list[S3Object]:
    return [S3Object("media", key, f"etag-{key}") for key in keys]


@pytest.mark.parametrize("key, video", [
    ("incoming/a.mp4", True), ("incoming/A.MP4", True), ("incoming/x.Mov", True), ("incoming/b.webm", True),
    ("incoming/notes.txt", False), ("incoming/README", False), ("incoming/folder/", False),
    ("incoming/video.mp4.part", False),
])
def test_video_keys_by_extension_case_insensitive(key, video):
    assert discovery.is_video_key(key, frozenset({"mp4", "mov", "webm"})) is video


def test_star_accepts_any_object_but_not_folder_markers():
    assert discovery.is_video_key("incoming/README", frozenset({"*"}))
    assert not discovery.is_video_key("incoming/sub/", frozenset({"*"}))


def test_listing_selects_videos_in_the_time_window():
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    entries = [
        {"Key": "in/old.mp4", "ETag": '"1"', "LastModified": now - timedelta(days=2)},
        {"Key": "in/new.MP4", "ETag": '"2"', "LastModified": now - timedelta(minutes=5)},
        {"Key": "in/future.mp4", "ETag": '"3"', "LastModified": now + timedelta(minutes=5)},
        {"Key": "in/new.txt", "ETag": '"4"', "LastModified": now - timedelta(minutes=5)},
    ]
    sources = Sources(("b",), ("in/",))
    selected = discovery.select_listed(entries, "b", frozenset({"mp4"}), sources=sources,
                                       since=now - timedelta(hours=1), until=now)
    assert selected == [S3Object("b", "in/new.MP4", "2")]


def test_no_run_for_an_object_a_run_may_not_take(caplog):
    """Listed or named in an event, an object outside the sources (run_params.py) gets no run: register would
    refuse it, and its item, claimed queued, would wait for a run that never comes."""
    sources = Sources(("b",), ("in/", "archive/"))
    keys = ["in/a.mp4", "in/../keys/b.mp4", "in/c\rd.mp4", "archive/e.mp4", "in/" + "é" * 600 + ".mp4"]
    entries = [{"Key": key, "ETag": f'"{n}"', "LastModified": datetime(2026, 1, 1, tzinfo=UTC)}
               for n, key in enumerate(keys)]
    selected = discovery.select_listed(entries, "b", frozenset({"mp4"}), sources=sources)
    assert [o.key for o in selected] == ["in/a.mp4", "archive/e.mp4"]
    assert "video_key 'in/../keys/b.mp4' has a '..' segment" in caplog.text
    assert "video_key 'in/c\\rd.mp4' has a control character" in caplog.text
    assert discovery.select_listed(entries[:1], "other", frozenset({"mp4"}), sources=sources) == []
    assert "bucket 'other' is not one runs may read from: b (SOURCE_BUCKETS)" in caplog.text
    assert discovery.within_sources(sources, "b", "in/a.mp4") and not discovery.within_sources(sources, "b", "keys/x")


def test_messages_give_created_keys_decoded_direct_and_through_sns():
    record = {"eventSource": "aws:s3", "eventName": "ObjectCreated:CompleteMultipartUpload",
              "s3": {"bucket": {"name": "b"}, "object": {"key": "incoming/My+Clip%282%29.mp4"}}}
    removed = {**record, "eventName": "ObjectRemoved:Delete"}
    direct = json.dumps({"Records": [record, removed]})
    through_sns = json.dumps({"Type": "Notification", "Message": json.dumps({"Records": [record]})})
    bodies = [direct, through_sns, json.dumps({"Event": "s3:TestEvent"}), "not json"]
    assert discovery.keys_from_messages(bodies) == [("b", "incoming/My Clip(2).mp4")]


def test_new_uploads_are_recent_videos_a_run_may_take_that_no_trigger_has_claimed(catalog):
    """What video_discovery's sensor waits for (its check_fn), from the listing's entries alone."""
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    recent, old = now - timedelta(minutes=5), now - timedelta(hours=3)
    entries = [{"Key": key, "ETag": f'"{key}"', "LastModified": when} for key, when in (
        ("in/new.MOV", recent), ("in/claimed.mp4", recent), ("in/old.mp4", old), ("in/notes.txt", recent),
        ("in/../keys/k.mp4", recent))]
    catalog.claim(S3Object("media", "in/claimed.mp4", "in/claimed.mp4").video_id)

    def new(listed: list[dict]) -> list[str]:
        return [run.obj.key for run in discovery.new_uploads(listed, catalog, bucket="media", extensions=("mp4", "mov"),
                                                             sources=Sources(("media",), ("in/",)),
                                                             since=now - timedelta(hours=1))]

    assert new(entries) == ["in/new.MOV"]
    assert new(entries[1:]) == []  # claimed, too old, not a video, not one a run may take: nothing new
    catalog.claim(S3Object("media", "in/new.MOV", "in/new.MOV").video_id)
    assert new(entries) == []


@pytest.fixture
def video_discovery(moto_endpoint, s3, catalog, monkeypatch):
    """The video_discovery DAG as Airflow parses it, on its own bucket and the catalog's table."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dag_definition import ROOT

    bucket = "discovery-gate"
    s3.create_bucket(Bucket=bucket)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", "aws://")
    monkeypatch.setenv("VIDEO_PIPELINE_BUCKET", bucket)
    monkeypatch.setenv("VIDEO_PIPELINE_TABLE", catalog.table.name)
    bag = DagBag(dag_folder=str(ROOT / "dags" / "video_discovery.py"))
    assert bag.import_errors == {}
    return bag.dags["video_discovery"]


def test_the_discovery_sensor_passes_only_for_a_new_video(video_discovery, s3, catalog):
    """Before: wait_for_uploads passed on every run once anything lay under incoming/, and gated nothing.
    Now it passes only when a new video arrived, and a run without one starts nothing."""
    sensor, find = video_discovery.get_task("wait_for_uploads"), video_discovery.get_task("find_new_videos")
    bucket = sensor.bucket_name
    s3.put_object(Bucket=bucket, Key="incoming/notes.txt", Body=b"not a video")
    s3.put_object(Bucket=bucket, Key="elsewhere/clip.mp4", Body=b"not under the incoming prefix")
    s3.put_object(Bucket=bucket, Key="incoming/seen.mp4", Body=b"a video some trigger claimed")
    etag = s3.head_object(Bucket=bucket, Key="incoming/seen.mp4")["ETag"].strip('"')
    catalog.claim(S3Object(bucket, "incoming/seen.mp4", etag).video_id)
    context = {"data_interval_end": datetime.now(UTC)}
    assert sensor.poke(context) is False

    s3.put_object(Bucket=bucket, Key="incoming/new.mp4", Body=b"a new upload")
    new = S3Object(bucket, "incoming/new.mp4",
                   s3.head_object(Bucket=bucket, Key="incoming/new.mp4")["ETag"].strip('"'))
    context = {"data_interval_end": datetime.now(UTC)}
    assert sensor.poke(context) is True
    runs = find.python_callable(data_interval_end=context["data_interval_end"])
    assert runs == [{"trigger_run_id": f"video__{new.video_id}",
                     "conf": {"video_key": "incoming/new.mp4", "bucket": bucket, "force": False}}]
    assert catalog.get(new.video_id)["status"] == "queued"
    assert sensor.poke(context) is False  # claimed: the next run waits for the next upload
    s3.put_object(Bucket=bucket, Key="incoming/late.mp4", Body=b"a new upload, seen hours later")
    hours_later = {"data_interval_end": datetime.now(UTC) + timedelta(hours=2)}
    assert sensor.poke(hours_later) is False  # past the lookback: video_backfill's sweep takes it
    assert sensor.poke({"data_interval_end": datetime.now(UTC)}) is True


def test_new_mode_takes_only_videos_no_trigger_has_claimed(catalog):
    fresh, published, failed, claimed = objects("f.mp4", "p.mp4", "x.mp4", "c.mp4")
    catalog.set_status(published.video_id, "published")
    catalog.set_status(failed.video_id, "failed", reason="network", failure_permanent=False)
    catalog.claim(claimed.video_id)

    planned = discovery.plan([fresh, published, failed, claimed, fresh], catalog, mode="new")
    assert planned == [discovery.PlannedRun(fresh, "video", f"video__{fresh.video_id}")]


def test_missing_mode_adds_stalled_claims_and_transient_failures_only(catalog):
    stalled, started, transient, permanent, published = objects("s.mp4", "r.mp4", "t.mp4", "p.mp4", "d.mp4")
    catalog.claim(stalled.video_id)
    catalog.claim(started.video_id)
    catalog.set_status(started.video_id, "queued", dag_run_id="manual__1")  # register ran: it is in hand
    catalog.set_status(transient.video_id, "failed", reason="throttled", failure_permanent=False)
    catalog.set_status(permanent.video_id, "failed", reason="not a video", failure_permanent=True)
    catalog.set_status(published.video_id, "published")
    planned = discovery.plan([stalled, started, transient, permanent, published], catalog, mode="missing", tag="abc")
    assert planned == [discovery.PlannedRun(stalled, "video", f"video__{stalled.video_id}"),
                       discovery.PlannedRun(transient, "retry", f"retry__{transient.video_id}__abc")]


def test_a_retry_repeats_the_failed_runs_options(catalog):
    """A run that asked for a review (or another model) and failed for a transient reason is retried with
    the same params: never published unreviewed by a sweep that took the defaults."""
    reviewed, plain = objects("r.mp4", "p.mp4")
    catalog.set_status(reviewed.video_id, "queued", dag_run_id="manual__1",
                       run_options={"review": True, "review_timeout_minutes": 0.5, "whisper_model": "base"})
    catalog.set_status(reviewed.video_id, "failed", stage="transcode", reason="throttled")
    catalog.set_status(plain.video_id, "failed", stage="transcode", reason="throttled")
    planned = discovery.plan([reviewed, plain], catalog, mode="missing", tag="t2")
    runs = discovery.claim_runs(planned, catalog, discovered_by="backfill")
    assert [r["conf"] for r in runs] == [
        {"review": True, "review_timeout_minutes": 0.5, "whisper_model": "base", "video_key": "r.mp4",
         "bucket": "media", "force": False},
        {"video_key": "p.mp4", "bucket": "media", "force": False}]
    assert discovery.plan([reviewed], catalog, mode="reprocess", tag="t3")[0].options == {}  # a fresh start


def test_reprocess_mode_takes_everything_and_claims_forced_runs(catalog):
    published, = objects("p.mp4")
    catalog.set_status(published.video_id, "published", dag_run_id="video__x")
    planned = discovery.plan([published], catalog, mode="reprocess", tag="t1")
    runs = discovery.claim_runs(planned, catalog, discovered_by="backfill")
    assert runs == [{"trigger_run_id": f"reprocess__{published.video_id}__t1",
                     "conf": {"video_key": "p.mp4", "bucket": "media", "force": True}}]
    item = catalog.get(published.video_id)
    assert item["status"] == "queued" and "dag_run_id" not in item and item["discovered_by"] == "backfill"


def test_claim_never_overwrites_an_item_that_moved_on(catalog):
    video, = objects("v.mp4")
    catalog.set_status(video.video_id, "processing", stage="transcode")
    runs = discovery.claim_runs([discovery.PlannedRun(video, "video", f"video__{video.video_id}")], catalog,
                                discovered_by="poll")
    assert runs[0]["trigger_run_id"] == f"video__{video.video_id}"  # skipped by Airflow: the run exists
    assert catalog.get(video.video_id)["status"] == "processing"


def test_pages_stop_at_the_size_and_say_when_more_follow(catalog):
    videos = objects(*[f"k{i:02d}.mp4" for i in range(7)])
    catalog.set_status(videos[1].video_id, "published")
    page, more = discovery.plan_page(videos, catalog, mode="missing", tag=None, size=3, chunk=2)
    assert [p.obj.key for p in page] == ["k00.mp4", "k02.mp4", "k03.mp4"] and more
    page, more = discovery.plan_page(videos[4:], catalog, mode="missing", tag=None, size=3, chunk=2)
    assert [p.obj.key for p in page] == ["k04.mp4", "k05.mp4", "k06.mp4"] and not more


def test_bounds_are_utc_unless_they_say_otherwise():
    assert discovery.parse_bound("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    bound = discovery.parse_bound("2026-11-01T10:00:00+02:00")
    assert bound is not None and bound.utcoffset() == timedelta(hours=2)
    assert discovery.parse_bound("") is None and discovery.parse_bound(None) is None


def test_a_stage_that_starts_after_a_failure_leaves_the_item_failed(catalog):
    video, = objects("late.mp4")
    assert catalog.set_processing(video.video_id, "probe")  # a new item, or one that has not failed
    catalog.set_status(video.video_id, "failed", stage="transcode", reason="invalid ladder")
    assert catalog.set_processing(video.video_id, "detect") is False
    item = catalog.get(video.video_id)
    assert (item["status"], item["stage"], item["failure_reason"]) == ("failed", "transcode", "invalid ladder")
    catalog.set_status(video.video_id, "queued")  # the next run starts over
    assert catalog.set_processing(video.video_id, "probe") and catalog.get(video.video_id)["stage"] == "probe"


def test_acknowledged_messages_leave_the_queue_and_the_others_come_back(moto_endpoint):
    import boto3

    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    queue = sqs.create_queue(QueueName="ack-test", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    for i in range(13):
        sqs.send_message(QueueUrl=queue, MessageBody=f"event {i}")
    received: list[dict[str, Any]] = []  # SQS messages, as discovery.acknowledge takes them
    while len(received) < 13:
        received += sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    handled = [m for m in received if m["Body"] != "event 12"]
    discovery.acknowledge(sqs, queue, handled)  # two calls: 10, then 2
    time.sleep(1.5)  # past the visibility timeout: what was not acknowledged is delivered again
    again = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert [m["Body"] for m in again] == ["event 12"]
