"""Triggers on a running Airflow (``airflow standalone``: scheduler, triggerer, DAG processor, API)
against moto server over HTTP: polling, S3 events through SQS, and backfills.

The tests run in file order: the first one lets its runs execute, the later ones
pause ``video_pipeline`` so that the runs they start stay queued and can be counted.
"""

from __future__ import annotations

import json
import os
import time

import boto3
import local_env
import pytest
from helpers import wait_until
from standalone import standalone

from video_pipeline.bootstrap import bootstrap
from video_pipeline.config import Settings
from video_pipeline.discovery import run_id
from video_pipeline.identity import video_id

POLLED = "triggers-polled"  # the deployment's bucket: video_discovery polls it
EVENTED = "triggers-evented"  # notifies the queue of uploads under incoming/
TABLE = "triggers-videos"
QUEUE = "triggers-uploads"
PIPELINE, DISCOVERY, EVENTS, BACKFILL = "video_pipeline", "video_discovery", "video_events", "video_backfill"
DONE = ("success", "failed")


@pytest.fixture(scope="module")
def airflow(moto_endpoint, tmp_path_factory, model_env):
    """``airflow standalone`` on SQLite with LocalExecutor, as ``make up`` starts it, on free ports."""
    home = tmp_path_factory.mktemp("airflow-triggers")
    port = local_env.free_port()
    env = {
        **os.environ, **local_env.airflow_env(home, moto_endpoint, port), **model_env,
        "VIDEO_PIPELINE_BUCKET": POLLED,
        "VIDEO_PIPELINE_TABLE": TABLE,
        # Runs may read both buckets, and the backfills' archive besides the uploads (run_params.py).
        "VIDEO_PIPELINE_SOURCE_BUCKETS": f"{POLLED},{EVENTED}",
        "VIDEO_PIPELINE_SOURCE_PREFIXES": "incoming/,archive/",
        "VIDEO_PIPELINE_EVENTS_QUEUE_URL": f"{moto_endpoint}/{local_env.MOTO_ACCOUNT}/{QUEUE}",
        "VIDEO_PIPELINE_DISCOVERY_SCHEDULE": "* * * * *",  # with events on it would poll hourly: test both
        "AIRFLOW__CORE__MAX_MAP_LENGTH": "10",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # each test unpauses what it needs
    }
    clients = {name: boto3.client(name, endpoint_url=moto_endpoint) for name in ("s3", "dynamodb", "sqs")}
    bootstrap(**clients, settings=Settings.from_env(bucket=POLLED, table=TABLE, events_queue=""))
    bootstrap(**clients, settings=Settings.from_env(bucket=EVENTED, table=TABLE, events_queue=QUEUE))
    with standalone(home, env, port) as api:
        for dag_id in (PIPELINE, DISCOVERY, EVENTS):  # video_backfill waits for its tests
            api.set_paused(dag_id, False)
        yield api


@pytest.fixture(scope="module")
def table(moto_endpoint):
    return boto3.resource("dynamodb", endpoint_url=moto_endpoint).Table(TABLE)


def item(table, vid: str) -> dict:
    return table.get_item(Key={"video_id": vid}, ConsistentRead=True).get("Item") or {}


def pipeline_runs(api) -> dict[str, dict]:
    return {run["dag_run_id"]: run for run in api.runs(PIPELINE)}


def finished_after(api, dag_id: str, moment: float) -> bool:
    """A run of the DAG that started after ``moment`` (epoch seconds) has ended."""
    from datetime import datetime

    for run in api.runs(dag_id):
        started = run.get("start_date")
        if run["state"] in DONE and started and datetime.fromisoformat(started).timestamp() > moment:
            return True
    return False


@pytest.fixture(scope="module")
def short_clip(make_media):
    return make_media("triggers.mp4", "-f", "lavfi", "-i", "testsrc2=s=480x270:r=25:d=4",
                      "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
                      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")


def test_polling_starts_one_run_per_new_video(airflow, s3, table, short_clip):
    good, bad = "incoming/Good Clip.MP4", "incoming/broken.mp4"
    s3.upload_file(str(short_clip), POLLED, good)
    s3.put_object(Bucket=POLLED, Key=bad, Body=b"not a video at all\n" * 40)
    s3.put_object(Bucket=POLLED, Key="incoming/notes.txt", Body=b"no extension of a video")
    s3.upload_file(str(short_clip), POLLED, "elsewhere/outside.mp4")
    good_id = video_id(POLLED, good, s3.head_object(Bucket=POLLED, Key=good)["ETag"])
    bad_id = video_id(POLLED, bad, s3.head_object(Bucket=POLLED, Key=bad)["ETag"])
    expected = {run_id("video", good_id), run_id("video", bad_id)}

    runs = wait_until(lambda: (r := pipeline_runs(airflow)) and expected <= set(r) and r, 180,
                      "video_discovery started runs for both videos")
    assert set(runs) == expected, set(runs)
    assert runs[run_id("video", good_id)]["conf"] == {"video_key": good, "bucket": POLLED, "force": False}
    assert item(table, good_id)["discovered_by"] == "poll"

    # The same object uploaded again: same ETag, same video; a later discovery pass starts nothing.
    uploaded_again = time.time()
    s3.upload_file(str(short_clip), POLLED, good)
    wait_until(lambda: finished_after(airflow, DISCOVERY, uploaded_again), 150, "a discovery pass after it")

    def ended() -> dict | None:
        runs = pipeline_runs(airflow)
        return runs if all(r["state"] in DONE for r in runs.values()) else None

    finished = wait_until(ended, 600, "both runs ended")
    assert set(finished) == expected
    assert item(table, good_id)["status"] == "published", (airflow.home / "standalone.log").read_text()[-3000:]
    failed = item(table, bad_id)
    assert (failed["status"], failed["stage"], failed["failure_permanent"]) == ("failed", "probe", True)
    assert "not a video" in failed["failure_reason"]


def event_body(bucket: str, key: str, etag: str) -> str:
    """An S3 event notification as S3 delivers it (the key URL-encoded)."""
    from urllib.parse import quote_plus

    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key, safe="/"), "eTag": etag}},
    }]})


def test_s3_event_starts_one_run_even_when_delivered_twice(airflow, s3, table, moto_endpoint):
    airflow.set_paused(PIPELINE, True)  # runs stay queued from here on: counted, not executed
    key = "incoming/from events (1).mov"
    s3.put_object(Bucket=EVENTED, Key=key, Body=b"an evented upload")
    etag = s3.head_object(Bucket=EVENTED, Key=key)["ETag"]
    vid = video_id(EVENTED, key, etag)
    s3.put_object(Bucket=EVENTED, Key="outside/ignored.mp4", Body=b"not under the prefix")

    wait_until(lambda: airflow.run(PIPELINE, run_id("video", vid)), 60, "the S3 event started a run")
    assert item(table, vid)["discovered_by"] == "event"

    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    queue = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    redelivered = time.time()
    for _ in range(2):  # at-least-once delivery: the same event again, twice
        sqs.send_message(QueueUrl=queue, MessageBody=event_body(EVENTED, key, etag.strip('"')))
    wait_until(lambda: finished_after(airflow, EVENTS, redelivered), 90, "video_events read the redelivery")

    evented = [r for r in pipeline_runs(airflow).values() if r["conf"].get("bucket") == EVENTED]
    assert [r["dag_run_id"] for r in evented] == [run_id("video", vid)]


ARCHIVE = [f"archive/2025/clip-{i:02d}.mp4" for i in range(25)]


@pytest.fixture(scope="module")
def archive(airflow, s3) -> dict[str, str]:
    """25 objects under a prefix no trigger watches, plus a neighbour prefix and a non-video.

    Unpausing video_backfill starts its scheduled sweep of the incoming prefix at once; it finds
    nothing missing there (the polling test's videos ended published or failed for good).
    """
    before = set(pipeline_runs(airflow))
    airflow.set_paused(BACKFILL, False)
    wait_until(lambda: (runs := airflow.runs(BACKFILL)) and all(r["state"] in DONE for r in runs), 180,
               "the scheduled sweep ended")
    assert set(pipeline_runs(airflow)) == before
    for key in ARCHIVE:
        s3.put_object(Bucket=POLLED, Key=key, Body=f"video {key}".encode())
    s3.put_object(Bucket=POLLED, Key="archive/2024/old.mp4", Body=b"outside the prefix")
    s3.put_object(Bucket=POLLED, Key="archive/2025/readme.txt", Body=b"not a video")
    return {key: video_id(POLLED, key, s3.head_object(Bucket=POLLED, Key=key)["ETag"]) for key in ARCHIVE}


def backfill(api, **params) -> list[dict]:
    """Trigger a backfill and wait until it and every page it chained have ended; returns its pages."""
    before = {r["dag_run_id"] for r in api.runs(BACKFILL)}
    api.trigger(BACKFILL, {"bucket": POLLED, **params})

    def settled() -> list[dict] | None:
        new = [r for r in api.runs(BACKFILL) if r["dag_run_id"] not in before]
        return new if new and all(r["state"] in DONE for r in new) else None

    pages = wait_until(settled, 300, f"backfill {params} ended", 3)
    time.sleep(8)  # a last page is triggered by the page before it, just before that one ends
    return settled() or pages


def test_backfill_starts_every_missing_video_in_pages_under_the_map_limit(airflow, archive):
    pages = backfill(airflow, prefix="archive/2025/", max_active=100)
    assert [p["state"] for p in pages] == ["success"] * 3  # 10 + 10 + 5 with max_map_length 10
    runs = pipeline_runs(airflow)
    assert {run_id("video", vid) for vid in archive.values()} <= set(runs)
    archived = [r for r in runs.values() if r["conf"]["video_key"].startswith("archive/")]
    assert sorted(r["conf"]["video_key"] for r in archived) == ARCHIVE  # nothing from archive/2024, no .txt

    # Again: the videos are claimed and their runs exist (queued), so nothing new starts.
    again = backfill(airflow, prefix="archive/2025/", max_active=100)
    assert all(p["state"] == "success" for p in again) and pipeline_runs(airflow).keys() == runs.keys()


def test_backfill_reprocess_starts_new_forced_runs(airflow, archive, table):
    before = set(pipeline_runs(airflow))
    backfill(airflow, prefix="archive/2025/clip-0", max_active=100, reprocess=True)
    new = {k: v for k, v in pipeline_runs(airflow).items() if k not in before}
    assert sorted(r["conf"]["video_key"] for r in new.values()) == ARCHIVE[:10]
    assert all(k.startswith("reprocess__") and r["conf"]["force"] is True for k, r in new.items())
    assert item(table, archive[ARCHIVE[0]])["discovered_by"] == "backfill"


def test_backfill_keeps_under_max_active(airflow, archive):
    active = sum(r["state"] in ("queued", "running") for r in pipeline_runs(airflow).values())
    before = set(pipeline_runs(airflow))
    airflow.trigger(BACKFILL, {"bucket": POLLED, "prefix": "archive/2025/clip-1", "reprocess": True,
                               "max_active": active + 3})
    wait_until(lambda: len(set(pipeline_runs(airflow)) - before) >= 3, 180, "the first three runs")
    time.sleep(30)  # the next page waits for room: nothing more starts while those stay queued
    assert len(set(pipeline_runs(airflow)) - before) == 3
