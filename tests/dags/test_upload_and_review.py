"""The upload page and caption review, on a running stack: ``airflow standalone`` against moto server,
as ``make up`` starts it, with S3 events starting runs.

- The upload page (the api-server plugin at /upload): signed out, its API answers 401; signed in, in
  Chromium, a file chosen on the page goes straight to S3, its run starts from the S3 event, and the
  page follows it to the published video's link. Files that are too large or no video are refused.
- Caption review (param ``review``), through Airflow's REST API as a reviewer's client would: the run
  waits in Required Actions with the transcript; approve, edit and reject each end as they should, and
  so does a review nobody answers in time (publish or fail, as the run says).
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import cv2
import local_env
import pytest
from helpers import start_webhook_receiver, wait_until
from skimage import data
from standalone import standalone

from video_pipeline.bootstrap import bootstrap
from video_pipeline.config import Settings
from video_pipeline.identity import video_id

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
BUCKET, TABLE, QUEUE = "ui-stack", "ui-stack-videos", "ui-stack-uploads"
PIPELINE, EVENTS = "video_pipeline", "video_events"
MAX_MB = 20
SPEECH = "A black cat sits under a green tree. The cat looks at the camera."
EDITED = "A black cat sleeps under an old oak tree."
WEBHOOK_SECRET = "ui-stack-webhook-secret"


@pytest.fixture(scope="module")
def webhooks(tmp_path_factory):
    """The receiver the stack's runs send their events to (notifications.py), as ``make up`` starts it."""
    receiver = start_webhook_receiver(tmp_path_factory.mktemp("webhooks"), WEBHOOK_SECRET)
    yield receiver
    receiver.stop()


def events(webhooks, vid: str) -> list[str]:
    """The statuses of the video's events that the receiver took (each signature verified), in order, each
    event once: as a receiver that dedupes by the event's id sees them."""
    taken = {d["event"]["id"]: d["event"]["status"] for d in webhooks.deliveries() if d["answer"] == 204
             and d["event"]["video_id"] == vid}
    return list(taken.values())


@pytest.fixture(scope="module")
def stack(moto_endpoint, tmp_path_factory, model_env, webhooks):
    home = tmp_path_factory.mktemp("airflow-ui-stack")
    port = local_env.free_port()
    env = {**os.environ, **local_env.airflow_env(home, moto_endpoint, port), **model_env,
           "VIDEO_PIPELINE_WEBHOOK_URLS": webhooks.url, "AIRFLOW_VAR_VIDEO_PIPELINE_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "VIDEO_PIPELINE_BUCKET": BUCKET, "VIDEO_PIPELINE_TABLE": TABLE,
           "VIDEO_PIPELINE_SOURCE_PREFIXES": "incoming/,review/",  # the review runs' videos, apart from uploads
           "VIDEO_PIPELINE_EVENTS_QUEUE_URL": f"{moto_endpoint}/{local_env.MOTO_ACCOUNT}/{QUEUE}",
           "VIDEO_PIPELINE_UPLOAD_MAX_BYTES": str(MAX_MB * 1024 * 1024),
           "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # polling stays off: uploads go by S3 event
           # video_events watches the queue once a parse after its unpausing has registered its watcher.
           "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10"}
    settings = Settings.from_env(bucket=BUCKET, table=TABLE, events_queue=QUEUE)
    bootstrap(**{name: boto3.client(name, endpoint_url=moto_endpoint) for name in ("s3", "dynamodb", "sqs")},
              settings=settings)
    with standalone(home, env, port) as api:
        for dag_id in (PIPELINE, EVENTS):
            api.set_paused(dag_id, False)
        yield api


@pytest.fixture(scope="module")
def clip(make_media, speak, media_dir) -> Path:
    """4 s, 320x240: scikit-image's cat, with English speech."""
    photo = media_dir / "chelsea.png"
    if not photo.exists():
        cv2.imwrite(str(photo), cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR))
    return make_media("ui-stack.mp4", "-loop", "1", "-framerate", "15", "-i", photo,
                      "-i", speak("ui-stack.wav", SPEECH, "en-us", 150),
                      "-vf", "scale=320:240:force_original_aspect_ratio=decrease,pad=320:240:(ow-iw)/2:(oh-ih)/2,"
                             "setsar=1,format=yuv420p", "-t", "4", "-c:v", "libx264", "-preset", "ultrafast",
                      "-c:a", "aac")


def item(moto_endpoint, vid: str) -> dict:
    table = boto3.resource("dynamodb", endpoint_url=moto_endpoint).Table(TABLE)
    return table.get_item(Key={"video_id": vid}, ConsistentRead=True).get("Item") or {}


def anonymous(stack, method: str, path: str, body: dict | None = None) -> tuple[int, dict[str, str]]:
    """Status and headers of a request with no Airflow login; redirects are not followed."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(f"{stack.base}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


# The upload page --------------------------------------------------------------------------------------


def test_signed_out_the_upload_api_answers_401_and_the_page_sends_you_to_sign_in(stack):
    assert anonymous(stack, "POST", "/upload/api/uploads", {"name": "a.mp4", "size": 10})[0] == 401
    assert anonymous(stack, "GET", "/upload/api/uploads/incoming/a.mp4")[0] == 401
    status, headers = anonymous(stack, "GET", "/upload/")
    assert status == 303 and headers["location"] == "/auth/login?next=%2Fupload%2F"


@pytest.fixture(scope="module")
def page(stack, browser):
    """The upload page, signed in to Airflow as its admin."""
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    page.goto(f"{stack.base}/upload/")  # to Airflow's login, which sends us back
    page.locator("input[name=username]").fill(local_env.ADMIN)
    page.locator("input[type=password]").fill(local_env.admin_password(stack.home))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/upload/**")
    page.locator("[data-file]").wait_for(state="attached")
    yield page
    page.close()


def test_a_file_chosen_on_the_page_is_uploaded_processed_and_published(page, stack, clip, s3, moto_endpoint):
    page.locator("[data-file]").set_input_files(str(clip))
    row = page.locator(".upload-row").last
    row.locator("[data-published]").wait_for(timeout=600_000)  # through S3, the event, the whole run
    key = row.get_attribute("data-key")
    assert re.fullmatch(r"incoming/[0-9a-f]{32}/ui-stack\.mp4", key)  # a folder of its own
    assert row.locator("strong").inner_text() == "ui-stack.mp4"
    assert row.locator("[data-published]").inner_text() == "ui-stack.mp4"  # the title, from the file's name
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == clip.read_bytes()  # the browser's bytes
    vid = video_id(BUCKET, key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"])
    assert item(moto_endpoint, vid)["status"] == "published"
    # The page links the video once its item says published; the scheduler ends the run a moment later.
    wait_until(lambda: (stack.run(PIPELINE, f"video__{vid}") or {}).get("state") in ("success", "failed"), 60,
               "the run's end")
    assert stack.run(PIPELINE, f"video__{vid}")["state"] == "success"
    assert stack.runs(EVENTS)  # started by the S3 event (polling is paused here), not by the page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "upload.png")

    link = row.locator("[data-published]")
    assert link.get_attribute("href") == item(moto_endpoint, vid)["page_url"]
    link.click()
    page.locator("h1").wait_for()
    assert page.locator("h1").inner_text() == "ui-stack.mp4"  # the name it was uploaded with, not its key
    page.go_back()


def test_the_same_name_again_gets_its_own_key(page, clip, s3):
    """Asked, as the page asks, for a form for a name already uploaded: another key, never a replacement."""
    [first] = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="incoming/")["Contents"]
               if o["Key"].endswith("/ui-stack.mp4")]  # the first upload
    assert s3.head_object(Bucket=BUCKET, Key=first)["Metadata"] == {"original-name": "ui-stack.mp4"}
    form = page.evaluate("""async (size) => (await fetch("/upload/api/uploads", {method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({name: "ui-stack.mp4", size, type: "video/mp4"})})).json()""", clip.stat().st_size)
    assert re.fullmatch(r"incoming/[0-9a-f]{32}/ui-stack\.mp4", form["key"]) and form["key"] != first
    assert form["fields"]["key"] == form["key"] and form["fields"]["Content-Type"] == "video/mp4"
    assert form["fields"]["x-amz-meta-original-name"] == "ui-stack.mp4"
    assert form["max_bytes"] == MAX_MB * 1024 * 1024 and "policy" in form["fields"]


def test_an_upload_that_is_no_video_inside_fails_and_the_page_says_why(page, tmp_path):
    """Named like a video, so S3 takes it; probe finds out, and the page shows the item's reason."""
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video\n" * 100)
    page.locator("[data-file]").set_input_files(str(broken))
    row = page.locator(".upload-row").last
    row.locator("p[role=status]").filter(has_text="Failed").wait_for(timeout=300_000)
    assert row.get_attribute("data-state") == "failed"
    message = row.locator("p[role=status]").inner_text()
    assert message.startswith("Failed in probe: ") and "not a video" in message, message


def test_files_too_large_or_not_video_are_refused_with_the_reason(page, tmp_path, s3):
    big = tmp_path / "holiday.mp4"
    with big.open("wb") as out:
        out.truncate((MAX_MB + 1) * 1024 * 1024)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    page.locator("[data-file]").set_input_files([str(big), str(notes)])
    refused = page.locator(".upload-row[data-state=refused]")
    wait_until(lambda: refused.count() == 2, 30, "both files refused")
    messages = sorted(refused.locator("p").all_inner_texts())
    assert messages[0] == f"holiday.mp4 is 21.0 MB; uploads are limited to {MAX_MB}.0 MB"
    assert messages[1].startswith("notes.txt is not a video file this pipeline takes (.3gp, .avi, ")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="incoming/").get("Contents", [])]
    assert not any(k.endswith(("holiday.mp4", "notes.txt")) for k in keys)  # nothing reached S3


# Caption review ---------------------------------------------------------------------------------------

LIGHT = {"detect": False, "previews": False, "package": False}  # what the review does not touch


TIMEOUT = {"review_timeout_minutes": 0.25}  # Airflow's scheduler looks for answers past due every 15 s
ANSWERED = ("approve", "edit", "reject")


@pytest.fixture(scope="module")
def reviews(stack, clip, s3) -> dict[str, dict]:
    """Runs with review on: three waiting in Required Actions, to approve, edit and reject; two that nobody
    answers, one set to publish when its time is up and one to fail."""
    runs = {}
    plans = {**{name: {} for name in ANSWERED}, "unanswered-publish": {**TIMEOUT, "review_on_timeout": "publish"},
             "unanswered-fail": {**TIMEOUT, "review_on_timeout": "fail"}}
    for name, params in plans.items():
        key = f"review/{name}.mp4"  # outside incoming/: only these runs, none from S3 events
        s3.upload_file(str(clip), BUCKET, key)
        vid = video_id(BUCKET, key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"])
        run_id = stack.trigger(PIPELINE, {"video_key": key, "review": True, **LIGHT, **params},
                               run_id=f"review__{name}")
        runs[name] = {"key": key, "video_id": vid, "run_id": run_id}
    for run in (runs[name] for name in ANSWERED):
        path = f"/dags/{PIPELINE}/dagRuns/{run['run_id']}/taskInstances/review_captions"
        wait_until(lambda path=path: stack.call("GET", path)["state"] == "awaiting_input", 600,
                   f"{path} waiting for a reviewer")
    # A person answers seconds later at the soonest. Airflow 3.3 mistakes an answer that lands within the
    # second it takes the scheduler to see the task pause for a crash, and runs the task again (asking anew).
    time.sleep(5)
    return runs


def answer(stack, run: dict, chosen: str, captions: str | None = None) -> dict:
    path = f"/dags/{PIPELINE}/dagRuns/{run['run_id']}/taskInstances/review_captions/-1/hitlDetails"
    body = {"chosen_options": [chosen], "params_input": {"captions": captions} if captions is not None else {}}
    return stack.call("PATCH", path, body)


def finished(stack, run: dict) -> dict:
    path = f"/dags/{PIPELINE}/dagRuns/{run['run_id']}"
    wait_until(lambda: stack.call("GET", path)["state"] in ("success", "failed"), 600, f"{path} finished")
    return stack.call("GET", path)


def test_the_run_waits_in_required_actions_with_the_transcript(stack, reviews, moto_endpoint):
    run = reviews["approve"]
    detail = stack.call("GET", f"/dags/{PIPELINE}/dagRuns/{run['run_id']}/taskInstances/review_captions/-1/"
                               "hitlDetails")
    assert detail["subject"] == "Review the captions" and detail["options"] == ["Approve", "Reject"]
    assert "black cat" in detail["body"].lower() and "`0:0" in detail["body"]  # timed lines
    field = detail["params"]["captions"]
    assert "black cat" in field["value"].lower() and len(field["value"].splitlines()) >= 1
    listed = stack.call("GET", f"/dags/~/dagRuns/~/hitlDetails?dag_id={PIPELINE}")  # Required Actions
    assert {d["task_instance"]["dag_run_id"] for d in listed["hitl_details"]} >= {
        reviews[name]["run_id"] for name in ANSWERED}
    waiting = item(moto_endpoint, run["video_id"])
    assert (waiting["status"], waiting["stage"]) == ("processing", "review_captions")


def test_approved_captions_are_published_and_the_review_recorded(stack, reviews, moto_endpoint, webhooks):
    run = reviews["approve"]
    assert answer(stack, run, "Approve")["chosen_options"] == ["Approve"]
    assert finished(stack, run)["state"] == "success"
    published = item(moto_endpoint, run["video_id"])
    assert published["status"] == "published"
    assert published["caption_review"]["decision"] == "approved" and published["caption_review"]["by"] == "admin"
    assert events(webhooks, run["video_id"]) == ["review_requested", "published"]


def test_edited_captions_are_the_ones_published(stack, reviews, moto_endpoint, s3):
    run = reviews["edit"]
    detail = stack.call("GET", f"/dags/{PIPELINE}/dagRuns/{run['run_id']}/taskInstances/review_captions/-1/"
                               "hitlDetails")
    lines = detail["params"]["captions"]["value"].splitlines()
    answer(stack, run, "Approve", "\n".join([EDITED, *lines[1:]]))
    assert finished(stack, run)["state"] == "success"
    published = item(moto_endpoint, run["video_id"])
    assert published["status"] == "published"
    review = published["caption_review"]
    assert review["decision"] == "edited" and [int(n) for n in review["edited_cues"]] == [0]
    folder = f"site/videos/{run['video_id']}/"
    vtt = s3.get_object(Bucket=BUCKET, Key=folder + "subtitles.vtt")["Body"].read().decode()
    assert "sleeps under an old oak tree" in vtt.replace("\n", " ") and "green tree" not in vtt
    page = s3.get_object(Bucket=BUCKET, Key=folder + "index.html")["Body"].read().decode()
    assert EDITED in page  # the page's transcript shows the reviewed text
    soft = s3.get_object(Bucket=BUCKET, Key=folder + "soft.mp4")["Body"].read()
    assert b"old oak tree" in soft.replace(b"\n", b" ")  # and the soft subtitles of the downloadable video


def test_a_rejected_video_ends_the_run_as_rejected_not_failed(stack, reviews, moto_endpoint, s3, webhooks):
    run = reviews["reject"]
    answer(stack, run, "Reject")
    assert finished(stack, run)["state"] == "success"  # not failed: the reviewer decided
    states = {ti["task_id"]: ti["state"] for ti in stack.call(
        "GET", f"/dags/{PIPELINE}/dagRuns/{run['run_id']}/taskInstances")["task_instances"]}
    assert states["review_captions"] == "success"
    assert {states[t] for t in ("captions", "burn", "publish")} == {"skipped"}
    rejected = item(moto_endpoint, run["video_id"])
    assert rejected["status"] == "rejected" and rejected["failure_reason"] == "captions rejected by admin"
    assert rejected["caption_review"]["decision"] == "rejected"
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"site/videos/{run['video_id']}/")
    assert events(webhooks, run["video_id"]) == ["review_requested", "rejected"]


def test_unanswered_captions_are_published_as_transcribed_when_the_run_says_so(stack, reviews, moto_endpoint, s3):
    run = reviews["unanswered-publish"]
    assert finished(stack, run)["state"] == "success"
    published = item(moto_endpoint, run["video_id"])
    assert published["status"] == "published"
    assert published["caption_review"] == {"decision": "approved", "by": None, "timed_out": True, "edited_cues": [],
                                           "at": published["caption_review"]["at"]}
    vtt = s3.get_object(Bucket=BUCKET, Key=f"site/videos/{run['video_id']}/subtitles.vtt")["Body"].read().decode()
    assert "green tree" in vtt.replace("\n", " ")  # the transcript as it was


def test_unanswered_captions_fail_the_run_at_once_when_the_run_says_so(stack, reviews, moto_endpoint, s3,
                                                                       webhooks):
    run = reviews["unanswered-fail"]
    assert finished(stack, run)["state"] == "failed"
    review = stack.call("GET", f"/dags/{PIPELINE}/dagRuns/{run['run_id']}/taskInstances/review_captions")
    assert (review["state"], review["try_number"]) == ("failed", 1)  # not retried: that would only ask again
    failed = item(moto_endpoint, run["video_id"])
    assert (failed["status"], failed["stage"]) == ("failed", "review_captions")
    assert failed["failure_reason"] == "nobody reviewed the captions within 0.25 minutes"
    assert events(webhooks, run["video_id"]) == ["review_requested", "failed"]
    # Not permanent: the daily sweep retries it with the run's own params, so it asks for a review again.
    assert not failed["failure_permanent"] and failed["run_options"]["review"] is True
    assert failed["run_options"]["review_on_timeout"] == "fail"
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"site/videos/{run['video_id']}/")
