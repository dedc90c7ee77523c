"""``airflow dags test video_pipeline`` against moto server over HTTP, with the real worker stages."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

import stack
from video_pipeline.bootstrap import bootstrap
from video_pipeline.config import Settings
from video_pipeline.identity import video_id

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "video-pipeline-e2e"
GOOD_KEY = "incoming/Cat <script>alert(1)</script> & friends.mp4"
BAD_KEY = "incoming/broken.mp4"


@pytest.fixture(scope="session")
def cat_clip(make_media, speak, media_dir) -> Path:
    """8 s, 640x360: a test pattern, then scikit-image's cat, with English speech."""
    import cv2
    from skimage import data

    cat = media_dir / "chelsea.png"
    cv2.imwrite(str(cat), cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR))
    speech = speak("e2e.wav", "A black cat sits under a green tree. The cat looks at the camera.", "en-us", 140)
    return make_media(
        "e2e-cat.mp4",
        "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=3",
        "-loop", "1", "-framerate", "25", "-t", "5", "-i", cat,
        "-i", speech,
        "-filter_complex", "[1:v]scale=640:360:force_original_aspect_ratio=increase,crop=640:360,setsar=1[c];"
                           "[0:v][c]concat=n=2:v=1:a=0[v];[2:a]apad,atrim=0:8[a]",
        "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-t", "8",
    )


@pytest.fixture(scope="session")
def airflow(moto_endpoint, tmp_path_factory):
    """An Airflow home on SQLite pointed at the moto endpoint; returns a runner of airflow commands."""
    import boto3

    home = tmp_path_factory.mktemp("airflow-e2e")
    env = {**os.environ, **stack.airflow_env(home, moto_endpoint), "VIDEO_PIPELINE_BUCKET": BUCKET}
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    settings = Settings(**{**Settings.from_env().__dict__, "bucket": BUCKET})
    bootstrap(s3=boto3.client("s3", endpoint_url=moto_endpoint),
              dynamodb=boto3.client("dynamodb", endpoint_url=moto_endpoint), settings=settings)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["airflow", *args], env=env, capture_output=True, text=True, timeout=900)

    run.home = home
    return run


def _trigger(airflow, key: str, **params) -> subprocess.CompletedProcess:
    conf = json.dumps({"video_key": key, "bucket": BUCKET, **params})
    return airflow("dags", "test", "video_pipeline", "-c", conf)


def _item(moto_endpoint, vid: str) -> dict:
    import boto3

    table = boto3.resource("dynamodb", endpoint_url=moto_endpoint).Table("videos")
    return table.get_item(Key={"video_id": vid}, ConsistentRead=True)["Item"]


def _anonymous_get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, b"", ""


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="session")
def published(airflow, s3, moto_endpoint, cat_clip):
    s3.upload_file(str(cat_clip), BUCKET, GOOD_KEY)
    etag = s3.head_object(Bucket=BUCKET, Key=GOOD_KEY)["ETag"]
    result = _trigger(airflow, GOOD_KEY)
    vid = video_id(BUCKET, GOOD_KEY, etag)
    return vid, result


def test_run_publishes_page_video_subtitles_and_item(published, s3, moto_endpoint):
    vid, result = published
    item = _item(moto_endpoint, vid)
    assert item["status"] == "published", (item, result.stdout[-4000:], result.stderr[-4000:])
    assert item["source_key"] == GOOD_KEY and item["source_bucket"] == BUCKET
    assert item["language"] == "en" and float(item["duration_s"]) == pytest.approx(8, abs=0.2)
    assert (int(item["width"]), int(item["height"])) == (640, 360)
    assert any(a["label"] == "cat" for a in item["animals"])
    assert item["renditions"] and item["subtitles"] and item["dag_run_id"]
    assert item["stream"]["hls_url"].endswith(f"site/videos/{vid}/stream/master.m3u8")
    assert item["stream"]["encrypted"] is False

    prefix = f"site/videos/{vid}/"
    expected = {"index.html": "text/html", "video.mp4": "video/mp4", "subtitles.vtt": "text/vtt",
                "stream/master.m3u8": "application/vnd.apple.mpegurl", "stream/manifest.mpd": "application/dash+xml"}
    for name, content_type in expected.items():
        head = s3.head_object(Bucket=BUCKET, Key=prefix + name)
        assert head["ContentType"].startswith(content_type), name
    assert s3.head_object(Bucket=BUCKET, Key=f"work/{vid}/probe/manifest.json")["ContentType"] == "application/json"

    page_url = item["page_url"]
    assert page_url == f"{moto_endpoint}/{BUCKET}/{prefix}index.html"
    status, body, content_type = _anonymous_get(page_url)
    assert status == 200 and content_type.startswith("text/html")
    status, video, _ = _anonymous_get(f"{moto_endpoint}/{BUCKET}/{prefix}video.mp4")
    assert status == 200 and video[4:8] == b"ftyp"
    assert _anonymous_get(f"{moto_endpoint}/{BUCKET}/{GOOD_KEY}".replace(" ", "%20"))[0] == 403

    page = _Page()
    page.feed(body.decode())
    assert not [attrs for tag, attrs in page.tags if tag == "script" and not attrs.get("src")]
    assert "Cat <script>alert(1)</script> & friends.mp4" in "".join(page.text)
    tracks = [attrs for tag, attrs in page.tags if tag == "track"]
    assert tracks and tracks[0]["srclang"] == "en"


def test_second_run_for_the_same_object_is_a_no_op(published, airflow, moto_endpoint):
    vid, _ = published
    before = _item(moto_endpoint, vid)
    result = _trigger(airflow, GOOD_KEY)
    after = _item(moto_endpoint, vid)
    assert after["status"] == "published"
    assert after["dag_run_id"] == before["dag_run_id"] and after["published_at"] == before["published_at"], (
        result.stdout[-3000:])


def test_corrupt_upload_fails_with_reason_is_quarantined_and_publishes_nothing(airflow, s3, moto_endpoint):
    s3.put_object(Bucket=BUCKET, Key=BAD_KEY, Body=b"this is not a video\n" * 50)
    vid = video_id(BUCKET, BAD_KEY, s3.head_object(Bucket=BUCKET, Key=BAD_KEY)["ETag"])
    result = _trigger(airflow, BAD_KEY)
    item = _item(moto_endpoint, vid)
    assert item["status"] == "failed", (item, result.stdout[-4000:])
    assert item["stage"] == "probe"
    assert "not a video" in item["failure_reason"]
    quarantined = s3.get_object(Bucket=BUCKET, Key=item["quarantine_key"])["Body"].read()
    assert quarantined == b"this is not a video\n" * 50
    assert s3.head_object(Bucket=BUCKET, Key=BAD_KEY)  # the original is kept too
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"site/videos/{vid}/")
    # Failed at once: one try of probe, no retries, and nothing after it ran.
    with sqlite3.connect(airflow.home / "airflow.db") as db:
        rows = dict(db.execute(
            "SELECT task_id, state || ':' || try_number FROM task_instance WHERE run_id = "
            "(SELECT run_id FROM task_instance WHERE task_id = 'probe' ORDER BY start_date DESC LIMIT 1)"
        ).fetchall())
    assert rows["probe"] == "failed:1"
    assert rows["transcode"] == rows["publish"] == "upstream_failed:0"
