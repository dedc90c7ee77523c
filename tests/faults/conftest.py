"""The fault suite's fixtures (``make test-faults``): moto server and ``airflow standalone`` as real
processes that the tests kill, and an ffmpeg that stalls or hangs a transcode once when a test asks."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import boto3
import local_env
import pytest
from fault_stack import BUCKET, FFMPEG_WRAPPER, PIPELINE, QUEUE, TABLE, Faults, MotoServer
from standalone import Standalone

from video_pipeline.bootstrap import bootstrap
from video_pipeline.config import Settings
from video_worker.settings import worker_settings


@pytest.fixture(scope="session")
def fault_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="session")
def moto(fault_home):
    server = MotoServer(fault_home, local_env.free_port())
    server.start()
    env = {"AWS_ENDPOINT_URL": server.endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    clients = {name: boto3.client(name, endpoint_url=server.endpoint) for name in ("s3", "dynamodb", "sqs")}
    bootstrap(**clients, settings=Settings.from_env(bucket=BUCKET, table=TABLE, events_queue=QUEUE))
    yield server
    if server.proc.poll() is None:
        server.kill()
    for key, value in saved.items():
        os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


@pytest.fixture(scope="session")
def faults(fault_home) -> Faults:
    folder = fault_home / "inject"
    folder.mkdir()
    return Faults(folder)


@pytest.fixture(scope="session")
def airflow(moto, faults, fault_home, model_env):
    """``airflow standalone`` on SQLite with LocalExecutor, as ``make up`` starts it, tuned to fail fast."""
    tools = fault_home / "bin"
    tools.mkdir()
    wrapper = tools / "ffmpeg"
    wrapper.write_text(FFMPEG_WRAPPER.format(dir=faults.folder, ffmpeg=worker_settings().ffmpeg_command))
    wrapper.chmod(0o755)
    home, port = fault_home / "airflow", local_env.free_port()
    home.mkdir()
    env = {
        **os.environ, **local_env.airflow_env(home, moto.endpoint, port), **model_env,
        "VIDEO_WORKER_FFMPEG": str(wrapper),  # the stages' ffmpeg: the wrapper, around the worker's own
        "VIDEO_PIPELINE_BUCKET": BUCKET, "VIDEO_PIPELINE_TABLE": TABLE,
        "VIDEO_PIPELINE_SOURCE_PREFIXES": "incoming/,manual/",  # runs the tests start, apart from S3 events
        "VIDEO_PIPELINE_EVENTS_QUEUE_URL": f"{moto.endpoint}/{local_env.MOTO_ACCOUNT}/{QUEUE}",
        # Retries wait 15-30 s: long enough for a killed moto to be back, state and all, before a retry reads.
        "VIDEO_PIPELINE_RETRIES": "4", "VIDEO_PIPELINE_RETRY_DELAY_S": "15",
        "VIDEO_PIPELINE_STAGE_TIMEOUTS": "transcode=60",  # the hung transcode is killed after a minute
        "VIDEO_PIPELINE_RUN_DEADLINE_MINUTES": "0.5",  # and its run flagged stuck after half a minute
        "VIDEO_PIPELINE_DISCOVERY_SCHEDULE": "@daily",  # runs come from the tests and from S3 events
        # A task whose process died with Airflow is noticed 30 s after its last heartbeat, not 5 min.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "AIRFLOW__CORE__MAX_MAP_LENGTH": "64",
    }
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    stack = Standalone(home, env, port)
    api = stack.start()
    for dag_id in (PIPELINE, "video_events"):
        api.set_paused(dag_id, False)
    stack.api = api
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def s3(moto):
    return boto3.client("s3", endpoint_url=moto.endpoint)


@pytest.fixture(scope="session")
def table(moto):
    return boto3.resource("dynamodb", endpoint_url=moto.endpoint).Table(TABLE)


@pytest.fixture(scope="session")
def fault_clip(make_media) -> Path:
    """12 s, 320x180, with sound: long enough that a fault lands in the middle of its transcode."""
    return make_media("faults.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=12",
                      "-f", "lavfi", "-i", "sine=frequency=330:duration=12",
                      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")


@pytest.fixture(scope="session")
def report(fault_home):
    """Each scenario's figures; written to test-artifacts/faults.json and .md for RELIABILITY.md."""
    rows: list[dict] = []
    yield rows
    out = Path(__file__).resolve().parents[2] / "test-artifacts"
    out.mkdir(exist_ok=True)
    (out / "faults.json").write_text(json.dumps(rows, indent=2))
    lines = ["| scenario | faults injected | runs | published | videos lost | duplicate runs | notes |",
             "|---|--:|--:|--:|--:|--:|---|"]
    lines += [f"| {r['scenario']} | {r['faults']} | {r['runs']} | {r['published']} | {r['lost']} | {r['duplicates']} "
              f"| {r['notes']} |" for r in rows]
    (out / "faults.md").write_text("\n".join(lines) + "\n")


