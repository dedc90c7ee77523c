"""What running every stage in the worker image costs: the docker runner against the local runner.

``airflow dags test`` of ``video_pipeline`` on the 60 s clip against moto server, once with the
stages as ``video-worker`` subprocesses and once as DockerOperator tasks in the worker image, the
two taking turns, each figure the median of 3 runs (forced reruns of the same upload). Appends its
section to BENCHMARKS.md. Needs a Docker engine and the image: ``make bench-production``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import boto3
import local_env
from clip import ensure_clip
from moto.server import ThreadedMotoServer
from report import ffmpeg_version, write_section

from video_pipeline.bootstrap import bootstrap
from video_pipeline.config import Settings

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "bench-docker-runner"
STAGES = ("probe", "transcode", "transcribe", "detect", "previews", "burn", "package")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
IMAGE = os.environ.get("VIDEO_PIPELINE_WORKER_IMAGE", "video-pipeline/worker:latest")


def dag_run(home: Path, env: dict[str, str], key: str) -> tuple[float, dict[str, float]]:
    """One forced run: its wall time and each task's duration."""
    started = time.monotonic()
    proc = subprocess.run(["airflow", "dags", "test", "video_pipeline", "-c",
                           json.dumps({"video_key": key, "bucket": BUCKET, "force": True})],
                          env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    with sqlite3.connect(home / "airflow.db") as db:
        (run_id,), = db.execute("SELECT run_id FROM dag_run ORDER BY id DESC LIMIT 1").fetchall()
        rows = db.execute("SELECT task_id, state, (julianday(end_date) - julianday(start_date)) * 86400 "
                          "FROM task_instance WHERE run_id = ?", (run_id,)).fetchall()
    if proc.returncode != 0 or any(state != "success" for _, state, _ in rows):
        raise SystemExit(f"the run failed ({env['VIDEO_PIPELINE_RUNNER']}):\n{proc.stdout[-3000:]}")
    return wall, {task: seconds for task, _, seconds in rows}


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    image = json.loads(subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, text=True,
                                      check=True).stdout)[0]
    clip = ensure_clip(ROOT / "bench" / "out", 60)
    port = local_env.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                   "AWS_DEFAULT_REGION": local_env.REGION}
    os.environ.update(credentials)
    results: dict[str, list[tuple[float, dict[str, float]]]] = {"local": [], "docker": []}
    try:
        settings = Settings.from_env(bucket=BUCKET, events_queue="")
        bootstrap(s3=boto3.client("s3"), dynamodb=boto3.client("dynamodb"), settings=settings)
        key = f"incoming/{clip.path.name}"
        boto3.client("s3").upload_file(str(clip.path), BUCKET, key)
        with tempfile.TemporaryDirectory(prefix="bench-runners-") as tmp:
            homes = {}
            for runner in results:
                home = Path(tmp) / runner
                home.mkdir()
                env = {**os.environ, **local_env.airflow_env(home, endpoint), "VIDEO_PIPELINE_BUCKET": BUCKET,
                       "VIDEO_PIPELINE_EVENTS_QUEUE_URL": "", "VIDEO_PIPELINE_RUNNER": runner,
                       "VIDEO_PIPELINE_WORKER_IMAGE": IMAGE, "VIDEO_PIPELINE_DOCKER_GPUS": "none"}
                subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)
                homes[runner] = (home, env)
            for _ in range(ROUNDS):
                for runner, (home, env) in homes.items():
                    results[runner].append(dag_run(home, env, key))
                    print(f"bench: {runner} run {results[runner][-1][0]:.1f} s", flush=True)
    finally:
        server.stop()
    write_report(clip.describe(), image, results)


def _median(runs: list[tuple[float, dict[str, float]]], task: str | None = None) -> float:
    return statistics.median(wall if task is None else tasks[task] for wall, tasks in runs)


def _spread(runs: list[tuple[float, dict[str, float]]], task: str | None = None) -> float:
    values = [wall if task is None else tasks[task] for wall, tasks in runs]
    return max(values) - min(values)


def write_report(clip: str, image: dict, results: dict) -> None:
    local, docker = results["local"], results["docker"]
    rows = "\n".join(
        f"| {task} | {_median(local, task):.2f} | {_median(docker, task):.2f} | "
        f"{_median(docker, task) - _median(local, task):+.2f} | "
        f"{_spread(local, task):.2f} / {_spread(docker, task):.2f} |"
        for task in STAGES)
    wall_local, wall_docker = _median(local), _median(docker)
    widest = max(abs(_median(docker, task) - _median(local, task)) for task in STAGES)
    whole_run = (f"| **whole run (wall)** | **{wall_local:.1f}** | **{wall_docker:.1f}** "
                 f"| **{wall_docker - wall_local:+.1f}** ({100 * (wall_docker / wall_local - 1):+.1f}%) "
                 f"| {_spread(local):.1f} / {_spread(docker):.1f} |")
    base = image["Config"]["Labels"].get("org.video-pipeline.base", "?")
    section = f"""
## The docker runner: every stage in the worker image

`airflow dags test` of `video_pipeline` (SQLite, tasks one after another) on the 60 s clip against
moto server, with `VIDEO_PIPELINE_RUNNER=local` (stages as `video-worker` subprocesses) and `docker`
(each stage a DockerOperator task: a container of `{IMAGE}`, {image['Size'] / 1e9:.2f} GB, built from
`{base}`, host network, weights mounted read-only). The runners took turns; each figure is the median
of {len(docker)} runs. Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on the machine above
(`make bench-production`). Clip: {clip}

| stage task | local runner, s | docker runner, s | difference, s | spread between runs, s (local / docker) |
|---|--:|--:|--:|--:|
{rows}
{whole_run}

The media work inside is the same code on the same ffmpeg build, the imageio-ffmpeg wheel's that
images/worker/requirements.txt pins ({ffmpeg_version()} on this machine; ffprobe is Debian's on both sides).
Per stage the runners differ by at most {widest:.1f} s, either way, against a spread of one stage between
runs of the same runner of up to {max(_spread(r, t) for r in (local, docker) for t in STAGES):.1f} s: what a
container adds (its start and removal, the worker's imports in a fresh filesystem) does not show above
the noise of this shared 2-core machine.

**GPU: not checked.** This machine has no GPU and this task had no GPU machine, so transcribe and
detect ran on the CPU in their containers (`VIDEO_PIPELINE_DOCKER_GPUS=none`); the CUDA paths of
faster-whisper, YOLO and NVENC have no figures here yet.
"""
    print(write_section(ROOT / "BENCHMARKS.md", "docker-runner", section))


if __name__ == "__main__":
    main()
