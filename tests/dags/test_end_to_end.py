"""``airflow dags test video_pipeline`` against moto server over HTTP, with the real worker stages."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import local_env
import pytest
from processes import answers

from video_pipeline.bootstrap import bootstrap
from video_pipeline.config import Settings
from video_pipeline.identity import video_id
from video_pipeline.keys import key_id
from video_pipeline.tokens import mint

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "video-pipeline-e2e"
GOOD_KEY = "incoming/Cat <script>alert(1)</script> & friends.mp4"
BAD_KEY = "incoming/broken.mp4"
AWS_SECRET = f"e2e-fake-aws-secret-{secrets.token_hex(12)}"  # moto takes any; distinct enough to search for


@pytest.fixture(scope="session")
def license_secret() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture(scope="session")
def license_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("license") / "license.log"


@pytest.fixture(scope="session")
def license_url(moto_endpoint, license_secret, license_log):
    """The ClearKey license endpoint as ``make up`` runs it, serving the e2e bucket's keys, on a free port."""
    import time

    port = local_env.free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins"), "VIDEO_PIPELINE_BUCKET": BUCKET,
           "VIDEO_PIPELINE_LICENSE_SECRET": license_secret}
    with license_log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "video_pipeline.license", "serve", "--port", str(port)],
                                  env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/clearkey"
    deadline = time.monotonic() + 30
    while answers(url) != 405:  # up: it answers, and only POST
        assert server.poll() is None and time.monotonic() < deadline, license_log.read_text()
        time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=30)


@dataclasses.dataclass(frozen=True)
class AirflowCLI:
    """The airflow command, run in one Airflow home's environment."""

    home: Path
    env: dict[str, str]

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["airflow", *args], env=self.env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def airflow(moto_endpoint, tmp_path_factory, license_url) -> AirflowCLI:
    """An Airflow home on SQLite pointed at the moto endpoint; returns a runner of airflow commands."""
    import boto3

    home = tmp_path_factory.mktemp("airflow-e2e")
    env = {**os.environ, **local_env.airflow_env(home, moto_endpoint), "VIDEO_PIPELINE_BUCKET": BUCKET,
           "VIDEO_PIPELINE_LICENSE_URL": license_url, "AWS_SECRET_ACCESS_KEY": AWS_SECRET}
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    settings = Settings.from_env(bucket=BUCKET)
    bootstrap(s3=boto3.client("s3", endpoint_url=moto_endpoint),
              dynamodb=boto3.client("dynamodb", endpoint_url=moto_endpoint), settings=settings)
    return AirflowCLI(home, env)


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
    assert [a["label"] for a in item["animals"]] == ["cat"]  # one track for the cat's 5 s
    assert float(item["animal_seconds"]) >= 4 and item["animal_on_screen"]
    assert item["renditions"] and item["subtitles"] and item["subtitle_languages"] == ["en"] and item["dag_run_id"]
    assert item["stream"]["hls_url"].endswith(f"site/videos/{vid}/stream/master.m3u8")
    assert item["stream"]["encrypted"] is False
    assert "run_options" not in item  # the defaults: a retry would take the defaults of its time

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
    # Two shots (the pattern, the cat) but one chapter: 8 s holds no two of 5 s. Titled with its first words.
    [chapter] = item["chapters"]
    assert chapter["spoken"] and float(chapter["start_s"]) == 0 and float(chapter["end_s"]) == pytest.approx(8, abs=0.2)
    assert [t["src"] for t in tracks if t["kind"] == "chapters"] == ["chapters.vtt"]
    assert item["chapters_key"] == prefix + "chapters.vtt"


def test_the_poster_shows_the_cat_not_the_test_pattern_the_clip_starts_with(published, s3, moto_endpoint, cat_clip):
    """previews ran after detect and took its findings: the poster is a cat frame (the clip's last 5 s)."""
    import cv2
    import numpy as np

    vid, _ = published
    image = cv2.imdecode(np.frombuffer(s3.get_object(Bucket=BUCKET, Key=_item(moto_endpoint, vid)["poster_key"])
                                       ["Body"].read(), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None, "the poster decodes"
    poster = image.astype(int)
    capture = cv2.VideoCapture(str(cat_clip))
    frames = {}
    for t in (1.0, 5.0):
        capture.set(cv2.CAP_PROP_POS_MSEC, t * 1000)
        ok, frame = capture.read()
        assert ok
        frames[t] = cv2.cvtColor(cv2.resize(frame, poster.shape[::-1]), cv2.COLOR_BGR2GRAY).astype(int)
    assert np.abs(poster - frames[5.0]).mean() < 10 < np.abs(poster - frames[1.0]).mean()


def test_second_run_for_the_same_object_is_a_no_op(published, airflow, moto_endpoint):
    vid, _ = published
    before = _item(moto_endpoint, vid)
    result = _trigger(airflow, GOOD_KEY)
    assert result.returncode == 0, result.stdout[-3000:]
    tasks = {t for t in ("probe", "transcode", "publish") if f"[DAG TEST] starting task_id={t} " in result.stdout}
    assert "[DAG TEST] end task task_id=register" in result.stdout and tasks == set()  # nothing ran
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


# The pages in a real browser: Debian's Chromium, headless, driven by Playwright. ----------------

PROTECTED_KEY = "incoming/protected cat.mp4"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def protected(airflow, s3, cat_clip):
    """The same clip under another key, published encrypted."""
    s3.upload_file(str(cat_clip), BUCKET, PROTECTED_KEY)
    vid = video_id(BUCKET, PROTECTED_KEY, s3.head_object(Bucket=BUCKET, Key=PROTECTED_KEY)["ETag"])
    result = _trigger(airflow, PROTECTED_KEY, encrypt=True)
    return vid, result


def _open(browser, url: str, *, width: int = 1280, height: int = 900):
    """A fresh page at ``url``; returns it and the list its console errors go to."""
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("dialog", lambda dialog: errors.append(f"a script ran: {dialog.message}"))  # <script> in a name
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    return page, errors


def _wait(page, expression: str, errors: list[str], timeout_s: float = 30) -> None:
    """Wait until ``expression`` holds in the page; on failure say what the page said."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(f"() => {expression}", timeout=timeout_s * 1000)
    except PlaywrightTimeout:
        state = page.evaluate("""() => ({
            status: document.querySelector('[data-player-status]')?.textContent,
            time: document.querySelector('video').currentTime,
            tracks: [...document.querySelector('video').textTracks].map(t => [t.label, t.mode, t.cues?.length]),
        })""")
        raise AssertionError(f"not within {timeout_s} s: {expression}; {state}; console {errors}") from None


ADAPTIVE = "document.querySelector('video').dataset.adaptive === 'true'"


def _play(page) -> None:
    # Not awaited: without its key an encrypted video never starts, and play() never settles.
    page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; v.play().catch(() => {}); }")


def _current_time(page) -> float:
    return page.evaluate("() => document.querySelector('video').currentTime")


def test_page_plays_the_adaptive_stream_with_subtitles_and_seeks(published, browser, moto_endpoint):
    vid, _ = published
    page, errors = _open(browser, _item(moto_endpoint, vid)["page_url"])
    _wait(page, ADAPTIVE, errors)
    variants = page.evaluate("() => window.videoPlayer.getVariantTracks().map(t => t.height)")
    assert sorted(set(variants)) == [360]  # the ladder of a 640x360 source: one rendition
    _play(page)
    _wait(page, "document.querySelector('video').currentTime > 1.5", errors)

    tracks = page.evaluate("() => window.videoPlayer.getTextTracks().map(t => t.language)")
    assert tracks == ["en"]
    # The stream's pictures carry no burned-in text: its subtitles are on by default, and selectable.
    assert page.evaluate("() => document.querySelector('[data-subtitles]').selectedOptions[0].text") == "English"
    page.select_option("[data-subtitles]", label="Off")
    _wait(page, "![...document.querySelector('video').textTracks].some(t => t.mode === 'showing')", errors)
    page.select_option("[data-subtitles]", label="English")
    _wait(page, "[...document.querySelector('video').textTracks].some(t => t.mode === 'showing' && t.cues?.length)",
          errors)
    page.evaluate("""() => {  // back to the first line, as the clip (8 s) may have played past it
        const video = document.querySelector('video');
        const track = [...video.textTracks].find(t => t.mode === 'showing');
        video.currentTime = track.cues[0].startTime + 0.2;
        video.play().catch(() => {});
    }""")
    _wait(page, "[...document.querySelector('video').textTracks]"
                ".some(t => t.mode === 'showing' && t.activeCues && t.activeCues.length > 0)", errors)

    _wait(page, "document.querySelector('.transcript [aria-current]') !== null", errors)  # the line being said
    line = page.locator(".transcript button.line").last
    target = float(line.get_attribute("data-seek"))
    line.click()
    page.wait_for_function(f"() => document.querySelector('video').currentTime >= {target}", timeout=15000)
    chip = page.locator(".chips .chip").first
    chip_time = float(chip.get_attribute("data-seek"))
    chip.click()
    page.wait_for_function(
        f"() => Math.abs(document.querySelector('video').currentTime - {chip_time}) < 1.5", timeout=15000)
    page.locator(".scrub").hover(position={"x": 200, "y": 5})  # the storyboard frame under the pointer
    assert page.locator("[data-scrub-preview]").is_visible()
    assert "storyboard" in page.evaluate("() => document.querySelector('.thumb-frame').style.backgroundImage")
    assert "Cat <script>alert(1)</script> & friends.mp4" in page.locator("h1").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "page-desktop.png", full_page=True)
    phone, phone_errors = _open(browser, _item(moto_endpoint, vid)["page_url"], width=390, height=844)
    _wait(phone, ADAPTIVE, phone_errors)
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    phone.screenshot(path=ARTIFACTS / "page-phone.png", full_page=True)
    assert errors == [] and phone_errors == []


def test_without_scripts_the_page_plays_the_mp4(published, browser, moto_endpoint):
    import time

    vid, _ = published
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(_item(moto_endpoint, vid)["page_url"])
    video = page.locator("video")  # Playwright still reads the element; the page's scripts never ran
    assert video.evaluate("v => v.currentSrc").endswith("/video.mp4") and "adaptive" not in video.evaluate(
        "v => Object.keys(v.dataset)")
    deadline = time.monotonic() + 30
    while video.evaluate("v => v.readyState") < 2 and time.monotonic() < deadline:  # HAVE_CURRENT_DATA
        time.sleep(0.5)
    assert video.evaluate("v => [v.readyState, v.duration]")[0] >= 2
    context.close()


def test_encrypted_stream_plays_with_a_token_and_not_without(protected, browser, moto_endpoint, s3,
                                                              license_secret, license_log):
    import time

    vid, result = protected
    item = _item(moto_endpoint, vid)
    assert item["status"] == "published" and item["stream"]["encrypted"], result.stdout[-3000:]
    assert item["run_options"] == {"encrypt": True}  # what a retry of this run would be started with
    folder = f"site/videos/{vid}/"
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=folder)["Contents"]}
    assert folder + "video.mp4" not in listed and not any(k.endswith(".mp4") and "/stream/" not in k
                                                          for k in listed)  # nothing in the clear
    page_files = {"index.html", "player.js", "style.css", "favicon.svg", "search.json"}
    assert {k.removeprefix(folder) for k in listed if not k.startswith(folder + "stream/")} == page_files
    assert not [k for k in listed if k.endswith(".vtt")]  # no poster, previews, transcript or subtitles

    token = mint(license_secret, key_id(vid), 600, time.time())
    page, errors = _open(browser, f"{item['page_url']}#token={quote(token)}")
    _wait(page, ADAPTIVE, errors)
    _play(page)
    _wait(page, "document.querySelector('video').currentTime > 1.5", errors)
    _wait(page, "document.querySelector('video').getVideoPlaybackQuality().totalVideoFrames > 10", errors)
    assert errors == []
    assert '"POST /clearkey HTTP/1.1" 200' in license_log.read_text()

    expired = mint(license_secret, key_id(vid), 60, time.time() - 3600)
    for url in (item["page_url"], f"{item['page_url']}#token={quote(expired)}"):
        served = license_log.read_text()
        refused, refused_errors = _open(browser, url)
        refused.wait_for_function("() => document.querySelector('[data-player-status]').textContent !== ''",
                                  timeout=30000)
        _play(refused)
        refused.wait_for_timeout(5000)  # as long as the licensed page needed to show its frames
        state = refused.evaluate("() => [document.querySelector('video').currentTime, "
                                 "document.querySelector('video').getVideoPlaybackQuality().totalVideoFrames, "
                                 "document.querySelector('[data-player-status]').textContent]")
        assert state[1] == 0 and "Shaka Error 6007" in state[2], (url, state, refused_errors)  # 6007: no license
        assert '"POST /clearkey HTTP/1.1" 403' in license_log.read_text()[len(served):]  # the endpoint refused


def test_encrypted_run_leaves_no_secret_in_logs_database_or_objects(protected, airflow, s3, license_secret,
                                                                    license_log):
    vid, result = protected
    key = json.loads(s3.get_object(Bucket=BUCKET, Key=f"keys/{key_id(vid)}.json")["Body"].read())["key"]
    raw = bytes.fromhex(key)
    content_key = {"key hex": key.encode(), "KEY HEX": key.upper().encode(), "key bytes": raw,
                   "key base64url": base64.urlsafe_b64encode(raw).rstrip(b"="),
                   "key base64": base64.b64encode(raw).rstrip(b"=")}
    needles = {**content_key, "AWS secret": AWS_SECRET.encode(), "license secret": license_secret.encode()}
    found: dict[str, list[str]] = {}

    def check(where: str, data: bytes, wanted: dict[str, bytes]) -> None:
        if leaked := [name for name, needle in wanted.items() if needle in data]:
            found[where] = leaked

    output = result.stdout + result.stderr  # `dags test` prints the task logs here
    assert "[DAG TEST] end task task_id=package" in output  # the task that had the key's URI
    check("dags test output", output.encode(), needles)
    for path in (p for p in (airflow.home / "logs").rglob("*") if p.is_file()):  # and any log files
        check(str(path.relative_to(airflow.home)), path.read_bytes(), needles)
    with sqlite3.connect(airflow.home / "airflow.db") as db:
        xcoms = db.execute("SELECT task_id, key, value FROM xcom").fetchall()
    assert f"keys/{key_id(vid)}.json" in repr(xcoms)  # the key's URI went through XCom; the key must not
    check("xcom", repr(xcoms).encode(), needles)
    for path in airflow.home.glob("airflow.db*"):  # the database and any -wal/-journal beside it
        check(path.name, path.read_bytes(), needles)
    for prefix in (f"work/{vid}/", f"site/videos/{vid}/"):
        objects = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
                   for o in page.get("Contents", [])]
        assert objects, prefix
        for name in objects:
            check(name, s3.get_object(Bucket=BUCKET, Key=name)["Body"].read(), needles)
    check("license server log", license_log.read_bytes(), content_key)
    assert found == {}, found
