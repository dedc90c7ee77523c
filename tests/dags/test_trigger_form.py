"""A first run from the Airflow UI: the trigger form of ``video_pipeline``, in Chromium, on a running stack.

``airflow standalone`` against moto server, as ``make up`` starts it. The user signs in, opens the
DAG's Trigger form, fills in only ``video_key`` and presses Trigger; the run publishes. The form
refuses a bad ladder.
"""

from __future__ import annotations

import os
import time

import boto3
import local_env
import pytest
from local_env import free_port
from standalone import standalone

from video_pipeline.bootstrap import bootstrap
from video_pipeline.config import Settings
from video_pipeline.identity import video_id

BUCKET, TABLE = "ui-form", "ui-form-videos"
KEY = "incoming/from the form.mp4"
PIPELINE = "video_pipeline"


@pytest.fixture(scope="module")
def airflow(moto_endpoint, tmp_path_factory, model_env):
    home = tmp_path_factory.mktemp("airflow-form")
    port = free_port()
    env = {**os.environ, **local_env.airflow_env(home, moto_endpoint, port), **model_env,
           "VIDEO_PIPELINE_BUCKET": BUCKET, "VIDEO_PIPELINE_TABLE": TABLE, "VIDEO_PIPELINE_EVENTS_QUEUE_URL": "",
           "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"}  # only the form starts runs here
    settings = Settings.from_env(bucket=BUCKET, table=TABLE, events_queue="")
    bootstrap(s3=boto3.client("s3"), dynamodb=boto3.client("dynamodb"), settings=settings)
    with standalone(home, env, port) as api:
        api.set_paused(PIPELINE, False)
        yield api


@pytest.fixture(scope="module")
def uploaded(s3, make_media) -> str:
    clip = make_media("form.mp4", "-f", "lavfi", "-i", "testsrc2=s=480x270:r=25:d=4",
                      "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
                      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")
    s3.upload_file(str(clip), BUCKET, KEY)
    return video_id(BUCKET, KEY, s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"])


@pytest.fixture(scope="module")
def form(airflow, browser):
    """The DAG's page after signing in, with the Trigger form open."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{airflow.base}/dags/{PIPELINE}")
    page.locator("input[name=username]").fill(local_env.ADMIN)
    page.locator("input[type=password]").fill(local_env.admin_password(airflow.home))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.locator("[role=dialog][data-state=open]")
    dialog.locator("#element_video_key").wait_for()
    yield page, dialog
    page.close()


def test_the_form_needs_only_the_video_key(form):
    page, dialog = form
    trigger = dialog.get_by_role("button", name="Trigger")
    assert not trigger.is_enabled()  # the one required field is empty
    required = dialog.locator("label[data-required]").all_inner_texts()
    assert [label.replace("*", "").strip() for label in required] == ["video_key"]  # no other field marked
    dialog.locator("#element_video_key").fill(KEY)
    assert trigger.is_enabled()


def test_the_form_refuses_a_bad_ladder(form, airflow, uploaded):
    page, dialog = form
    dialog.locator("#element_video_key").fill(KEY)
    dialog.locator("#element_ladder").fill("720,abc")
    dialog.get_by_role("button", name="Trigger").click()
    refused = page.get_by_text("Failed to Trigger Dag")
    refused.wait_for()
    assert dialog.is_visible()  # still open, to be corrected
    assert airflow.runs(PIPELINE) == []
    page.mouse.move(0, 0)  # the notice stays while the pointer is over it
    refused.wait_for(state="hidden", timeout=30000)


def test_a_run_triggered_from_the_form_publishes(form, airflow, uploaded, moto_endpoint):
    page, dialog = form
    dialog.locator("#element_video_key").fill(KEY)
    dialog.locator("#element_ladder").fill("")  # back to the worker's ladder
    dialog.get_by_role("button", name="Trigger").click()
    dialog.wait_for(state="hidden")
    deadline = time.monotonic() + 600
    while not (runs := airflow.runs(PIPELINE)) or runs[0]["state"] not in ("success", "failed"):
        assert time.monotonic() < deadline, "the run did not finish in 10 minutes"
        time.sleep(3)
    (run,) = runs
    assert run["conf"]["video_key"] == KEY
    item = boto3.resource("dynamodb").Table(TABLE).get_item(Key={"video_id": uploaded})["Item"]
    assert run["state"] == "success" and item["status"] == "published", item
    # The run's page in the UI says so, and the video's page is up.
    page.goto(f"{airflow.base}/dags/{PIPELINE}/runs/{run['dag_run_id']}")
    page.get_by_text("success").first.wait_for()
    page.goto(item["page_url"])
    assert page.locator("h1").inner_text() == "from the form.mp4"
