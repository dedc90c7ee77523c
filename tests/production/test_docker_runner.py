"""``video_pipeline`` with ``VIDEO_PIPELINE_RUNNER=docker``: every stage a DockerOperator task in the worker image.

``airflow dags test`` against moto server, as the end-to-end test runs the local runner, and the
two runners' results compared field by field. Then the exit-code contract through DockerOperator,
secrets (the stage containers' keys come from a mounted file: `docker inspect` shows none), cleanup,
and stopping a task.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import boto3
import local_env
import local_models
import pytest
from helpers import docker_cli, wait_until
from local_env import free_port

from video_contract.manifests import TIMINGS
from video_contract.stages import Stage
from video_pipeline.bootstrap import bootstrap
from video_pipeline.config import Settings
from video_pipeline.containers import CREDENTIALS_TARGET, STAGE_LABEL
from video_pipeline.identity import video_id

BUCKET = "docker-runner"
STAGES = tuple(stage.value for stage in Stage if stage is not Stage.CAPTIONS)  # captions runs with a review only
VARYING = (*TIMINGS, "ms_per_frame")  # how long things took: the only fields allowed to differ
AWS_SECRET = f"secret-{secrets.token_hex(8)}"  # distinctive, so a leak is found by search


class Airflow:
    """One Airflow home on SQLite, for one runner; ``dags test`` runs the DAG in the foreground."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env
        subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)

    def dags_test(self, key: str, **params) -> subprocess.CompletedProcess:
        conf = json.dumps({"video_key": key, "bucket": BUCKET, **params})
        return subprocess.run(["airflow", "dags", "test", "video_pipeline", "-c", conf], env=self.env,
                              capture_output=True, text=True, timeout=900)

    def query(self, sql: str, *args) -> list[tuple]:
        with sqlite3.connect(self.home / "airflow.db") as db:
            return db.execute(sql, args).fetchall()

    def last_run(self) -> str:
        return self.query("SELECT run_id FROM dag_run WHERE dag_id = 'video_pipeline' ORDER BY id DESC LIMIT 1")[0][0]

    def tasks(self, run_id: str) -> dict[str, tuple[str, int, str]]:
        """task id -> (state, try number, operator)"""
        rows = self.query("SELECT task_id, state, try_number, operator FROM task_instance WHERE run_id = ?", run_id)
        return {task: (state, tries, operator) for task, state, tries, operator in rows}

    def manifests(self, run_id: str) -> dict[str, dict]:
        """Each stage's XCom: the manifest its worker printed."""
        rows = self.query("SELECT task_id, value FROM xcom WHERE run_id = ? AND key = 'return_value'", run_id)
        values = {task: json.loads(value) for task, value in rows}
        return {task: json.loads(v) if isinstance(v, str) else v for task, v in values.items() if task in STAGES}


def _airflow(tmp_path_factory, moto_endpoint, model_env, name: str, **settings: str) -> Airflow:
    home = tmp_path_factory.mktemp(f"airflow-{name}")
    credentials = home / "aws-credentials"  # the keys the stage containers get, mounted read-only
    credentials.write_text(f"[default]\naws_access_key_id = {os.environ['AWS_ACCESS_KEY_ID']}\n"
                           f"aws_secret_access_key = {AWS_SECRET}\n")
    credentials.chmod(0o644)  # the image's user reads it
    env = {**os.environ, **local_env.airflow_env(home, moto_endpoint), **model_env,
           "AWS_SECRET_ACCESS_KEY": AWS_SECRET, "VIDEO_PIPELINE_DOCKER_AWS_CREDENTIALS_FILE": str(credentials),
           "VIDEO_PIPELINE_BUCKET": BUCKET, "VIDEO_PIPELINE_EVENTS_QUEUE_URL": "",
           "VIDEO_PIPELINE_DOCKER_MOUNTS": local_models.docker_mounts(model_env),
           "VIDEO_PIPELINE_RETRIES": "1", "VIDEO_PIPELINE_RETRY_DELAY_S": "1", **settings}
    return Airflow(home, env)


@pytest.fixture(scope="module")
def site(moto_endpoint):
    settings = Settings.from_env(bucket=BUCKET, events_queue="")
    bootstrap(s3=boto3.client("s3"), dynamodb=boto3.client("dynamodb"), settings=settings)


@pytest.fixture(scope="module")
def local_airflow(tmp_path_factory, moto_endpoint, model_env, site) -> Airflow:
    return _airflow(tmp_path_factory, moto_endpoint, model_env, "local", VIDEO_PIPELINE_RUNNER="local")


@pytest.fixture(scope="module")
def docker_airflow(tmp_path_factory, moto_endpoint, model_env, site, worker_image) -> Airflow:
    return _airflow(tmp_path_factory, moto_endpoint, model_env, "docker", VIDEO_PIPELINE_RUNNER="docker",
                    VIDEO_PIPELINE_WORKER_IMAGE=worker_image, VIDEO_PIPELINE_DOCKER_NETWORK_MODE="host",
                    VIDEO_PIPELINE_DOCKER_GPUS="none", VIDEO_PIPELINE_DOCKER_MEMORY="4g")


def _item(vid: str) -> dict:
    table = boto3.resource("dynamodb").Table("videos")
    return table.get_item(Key={"video_id": vid}, ConsistentRead=True).get("Item") or {}


def _published(s3, vid: str) -> dict[str, Any]:
    """Each published object's size; for detections.json, its content less its timings (its
    ``ms_per_frame`` has more or fewer digits from run to run, and so the file's size)."""
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"site/videos/{vid}/").get("Contents", [])
    return {o["Key"]: _untimed(s3, o["Key"]) if o["Key"].endswith("/detections.json") else o["Size"]
            for o in listed}


def _untimed(s3, key: str) -> dict[str, Any]:
    return _without(json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()), VARYING)


def _without(record: dict, fields) -> dict:
    return {k: v for k, v in record.items() if k not in fields}


@pytest.fixture(scope="module")
def both_runs(local_airflow, docker_airflow, s3, cat_clip):
    """The same upload through the local runner, then (forced) through the docker runner."""
    key = "incoming/Cat & <b>friends</b>.mp4"
    s3.upload_file(str(cat_clip), BUCKET, key)
    vid = video_id(BUCKET, key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"])
    runs = {}
    for name, airflow, params in (("local", local_airflow, {}), ("docker", docker_airflow, {"force": True})):
        result = airflow.dags_test(key, **params)
        run_id = airflow.last_run()
        page = s3.get_object(Bucket=BUCKET, Key=f"site/videos/{vid}/index.html")["Body"].read().decode()
        runs[name] = {"result": result, "run_id": run_id, "tasks": airflow.tasks(run_id),
                      "manifests": airflow.manifests(run_id), "item": _item(vid), "site": _published(s3, vid),
                      "page": page}
    return vid, runs


def test_every_stage_runs_in_a_container_and_the_run_publishes(both_runs):
    vid, runs = both_runs
    docker = runs["docker"]
    assert docker["result"].returncode == 0, docker["result"].stdout[-4000:]
    assert docker["item"]["status"] == "published" and docker["item"]["dag_run_id"] == docker["run_id"]
    for stage in STAGES:
        assert docker["tasks"][stage][::2] == ("success", "VideoStageDockerOperator"), stage
        assert runs["local"]["tasks"][stage][::2] == ("success", "VideoStageOperator"), stage
    # The worker's log lines, from inside each container, are in the task log.
    assert docker["result"].stdout.count("Starting docker container from image") == len(STAGES)
    assert "INFO video_worker.storage: uploading" in docker["result"].stdout


def test_both_runners_give_the_same_manifests_page_item_and_files(both_runs):
    _, runs = both_runs
    local, docker = runs["local"], runs["docker"]
    assert local["result"].returncode == 0, local["result"].stdout[-4000:]
    assert set(local["manifests"]) == set(docker["manifests"]) == set(STAGES)
    for stage in STAGES:
        ours, theirs = _without(local["manifests"][stage], VARYING), _without(docker["manifests"][stage], VARYING)
        for field in sorted(set(ours) | set(theirs)):
            assert ours.get(field) == theirs.get(field), (stage, field)
    assert docker["site"] == local["site"]  # the same objects, of the same sizes
    assert docker["page"] == local["page"]
    run_fields = ("dag_run_id", "published_at", "updated_at", "created_at")
    assert _without(docker["item"], run_fields) == _without(local["item"], run_fields)


def test_a_permanent_input_error_in_a_container_fails_at_once_and_quarantines(docker_airflow, s3):
    key = "incoming/not-a-video.mp4"
    body = b"this is a spreadsheet, not a video\n" * 30
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    vid = video_id(BUCKET, key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"])
    result = docker_airflow.dags_test(key)
    tasks = docker_airflow.tasks(docker_airflow.last_run())
    assert tasks["probe"][:2] == ("failed", 1), result.stdout[-3000:]  # one try: no retries
    assert tasks["publish"][0] == "upstream_failed"
    item = _item(vid)
    assert item["status"] == "failed" and item["stage"] == "probe" and item["failure_permanent"] is True
    assert item["failure_reason"] == "The file is plain text, not a video."
    assert s3.get_object(Bucket=BUCKET, Key=item["quarantine_key"])["Body"].read() == body
    assert "permanent input error in probe" in result.stdout  # the container's own log line


def test_invalid_options_fail_without_retry(docker_airflow, s3, cat_clip):
    key = "incoming/options.mp4"
    s3.upload_file(str(cat_clip), BUCKET, key)
    vid = video_id(BUCKET, key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"])
    # 62 passes the param's even-number pattern, and the worker, the authority, refuses it (exit 3).
    result = docker_airflow.dags_test(key, ladder="1080,62", transcribe=False, detect=False, previews=False)
    tasks = docker_airflow.tasks(docker_airflow.last_run())
    assert tasks["transcode"][:2] == ("failed", 1), result.stdout[-3000:]
    item = _item(vid)
    assert item["status"] == "failed" and item["stage"] == "transcode" and "invalid ladder" in item["failure_reason"]
    assert item["failure_permanent"] is False and "quarantine_key" not in item  # fix the options and run again


def test_the_result_is_the_containers_last_stdout_line_whatever_its_stderr_says_after(worker_image):
    """Docker interleaves a container's stdout and stderr in the task log in no fixed order."""
    from operators.docker_stage import VideoStageDockerOperator
    from video_pipeline.registration import Registration
    from video_pipeline.stages import PermanentInputError

    result = json.dumps({"error": "The file is empty (0 bytes).", "permanent": True, "kind": "input", "stage": "probe"})
    script = f"echo '{result}'; sleep 1; echo 'a log line after the result' >&2; exit 2"
    video = Registration(video_id="v", bucket="b", key="k", etag="0" * 32, name=None, source="s3://b/k",
                         work="s3://b/w", done=False)
    stage = VideoStageDockerOperator(task_id="probe", stage="probe", registration=video.to_json(),
                                     image=worker_image, entrypoint=["sh", "-c", script],
                                     labels={STAGE_LABEL: "contract"})
    stage.render_template_fields({"params": {}, "task": stage})
    with pytest.raises(PermanentInputError) as raised:
        stage.execute({})
    assert raised.value.reason == "The file is empty (0 bytes)."
    assert _containers("contract", every=True) == []


def test_a_transient_failure_is_retried(docker_airflow, s3, cat_clip):
    key = "incoming/transient.mp4"
    s3.upload_file(str(cat_clip), BUCKET, key)
    vid = video_id(BUCKET, key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"])
    # Airflow reaches S3 through its connection; the containers get an endpoint where nothing listens.
    unreachable = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "AWS_MAX_ATTEMPTS": "1"}
    broken = Airflow(docker_airflow.home, {**docker_airflow.env, **unreachable})
    result = broken.dags_test(key, transcribe=False, detect=False, previews=False)
    tasks = broken.tasks(broken.last_run())
    assert tasks["probe"][:2] == ("failed", 2), result.stdout[-3000:]  # tried, then retried once (RETRIES=1)
    item = _item(vid)
    assert item["status"] == "failed" and item["failure_permanent"] is False and "quarantine_key" not in item
    assert "exit 1, transient" in item["failure_reason"] and "Could not connect" in item["failure_reason"]


def test_no_secret_reaches_the_task_logs_or_the_containers_and_no_container_is_left(docker_airflow, s3, cat_clip,
                                                                                    tmp_path):
    """Anyone with the Docker socket sees a container's environment (`docker inspect`): the stage
    containers, inspected while they run, have the keys' file mounted read-only and no key."""
    key = "incoming/protected.mp4"
    s3.upload_file(str(cat_clip), BUCKET, key)
    vid = video_id(BUCKET, key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"])
    conf = json.dumps({"video_key": key, "bucket": BUCKET, "encrypt": True, "transcribe": False, "detect": False,
                       "previews": False, "burn": False})
    output = tmp_path / "dags-test.log"
    with output.open("w") as out:
        proc = subprocess.Popen(["airflow", "dags", "test", "video_pipeline", "-c", conf], env=docker_airflow.env,
                                stdout=out, stderr=subprocess.STDOUT)
        inspected = _inspect_stage_containers_until(proc)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, output.read_text(errors="replace"), "")
    assert result.returncode == 0 and _item(vid)["stream"]["encrypted"], result.stdout[-3000:]
    assert {"probe", "transcode", "package"} <= set(inspected), sorted(inspected)
    for stage, info in inspected.items():
        assert AWS_SECRET not in json.dumps(info), stage
        env = dict(item.split("=", 1) for item in info["Config"]["Env"])
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(env), stage
        assert env["AWS_SHARED_CREDENTIALS_FILE"] == CREDENTIALS_TARGET, stage
        (mount,) = [m for m in info["Mounts"] if m["Destination"] == CREDENTIALS_TARGET]
        assert (mount["Source"], mount["RW"]) == (docker_airflow.env["VIDEO_PIPELINE_DOCKER_AWS_CREDENTIALS_FILE"],
                                                  False), stage
    (kid,) = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="keys/")["Contents"]]
    content_key = json.loads(s3.get_object(Bucket=BUCKET, Key=kid)["Body"].read())["key"]
    logs = result.stdout + result.stderr + "".join(
        p.read_text(errors="replace") for p in (docker_airflow.home / "logs").rglob("*") if p.is_file())
    assert "Starting docker container" in logs
    assert content_key not in logs and AWS_SECRET not in logs
    rendered = docker_airflow.query("SELECT rendered_fields FROM rendered_task_instance_fields")
    assert rendered and not any(AWS_SECRET in fields or content_key in fields for (fields,) in rendered)
    assert docker_cli("ps", "-aq", "--filter", f"label={STAGE_LABEL}").stdout.strip() == ""


def test_stopping_the_task_stops_its_container(docker_airflow, s3, make_media):
    """SIGTERM to the task (what a worker's supervisor sends when the task is stopped) ends its container."""
    long_clip = make_media("long.mp4", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=240",
                           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    key = "incoming/long.mp4"
    s3.upload_file(str(long_clip), BUCKET, key)
    conf = json.dumps({"video_key": key, "bucket": BUCKET, "transcribe": False, "detect": False, "previews": False})
    env = {**docker_airflow.env, "VIDEO_PIPELINE_RETRIES": "0"}  # stopped is final: no retry starts it again
    proc = subprocess.Popen(["airflow", "dags", "test", "video_pipeline", "-c", conf], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: _containers("transcode"), 300, "the transcode container runs", 1)
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: not _containers("transcode", every=True), 60, "the container is stopped and removed", 1)
        proc.wait(300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert docker_airflow.tasks(docker_airflow.last_run())["transcode"][:2] == ("failed", 1)


def _inspect_stage_containers_until(proc: subprocess.Popen, timeout_s: float = 900) -> dict[str, dict]:
    """`docker inspect` of every stage container seen while ``proc`` runs, by stage (the last of each)."""
    inspected: dict[str, dict] = {}
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        ids = docker_cli("ps", "-q", "--filter", f"label={STAGE_LABEL}").stdout.split()
        found = docker_cli("inspect", *ids, check=False).stdout if ids else "[]"
        for info in json.loads(found or "[]"):  # (one may be gone between ps and inspect)
            inspected[info["Config"]["Labels"][STAGE_LABEL]] = info
        time.sleep(0.2)
    proc.wait(timeout=max(1, deadline - time.monotonic()))
    return inspected


def _containers(stage: str, every: bool = False) -> list[str]:
    """The stage's containers: those running, or (every) those that exist at all."""
    listed = docker_cli("ps", *(["-a"] if every else []), "-q", "--filter", f"label={STAGE_LABEL}={stage}")
    return listed.stdout.split()
