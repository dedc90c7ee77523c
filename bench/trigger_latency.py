"""Upload-to-run latency of the two trigger paths, on the local stack (moto server, airflow standalone).

Two buckets on one Airflow: ``video_discovery`` polls the first (every minute, as without S3 events),
the second notifies the SQS queue that ``video_events`` watches. Each sample uploads a small
object at a random moment, so polling is sampled over its whole cycle, and takes the time
until the ``video_pipeline`` run exists (created by the trigger) and until it starts (the
scheduler sets it running). Appends its section to BENCHMARKS.md.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import boto3
import local_env
from airflow_api import AirflowAPI
from moto_endpoint import moto_endpoint
from report import write_section
from standalone import standalone

from video_pipeline.bootstrap import bootstrap
from video_pipeline.config import Settings
from video_pipeline.discovery import PIPELINE_DAG_ID, run_id
from video_pipeline.identity import video_id

ROOT = Path(__file__).resolve().parents[1]

POLLED, EVENTED, QUEUE, TABLE = "bench-polled", "bench-evented", "bench-uploads", "bench-videos"
SAMPLES = int(os.environ.get("BENCH_TRIGGER_SAMPLES", "5"))
TARGETS = {"poll": 70.0, "event": 10.0}


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def sample(api: AirflowAPI, s3, bucket: str, n: int) -> tuple[float, float]:
    """Seconds from the upload's end to the run's creation and to its start."""
    key = f"incoming/latency-{n:02d}.mp4"
    s3.put_object(Bucket=bucket, Key=key, Body=f"not a video {n}".encode())  # probe fails it at once
    uploaded = time.time()
    rid = run_id("video", video_id(bucket, key, s3.head_object(Bucket=bucket, Key=key)["ETag"]))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        run = api.run(PIPELINE_DAG_ID, rid)
        if run and run.get("start_date"):
            return _epoch(run["queued_at"]) - uploaded, _epoch(run["start_date"]) - uploaded
        time.sleep(0.5)
    raise SystemExit(f"no run {rid} within 300 s of uploading s3://{bucket}/{key}")


def measure_both(endpoint: str) -> dict[str, list[tuple[float, float]]]:
    """SAMPLES uploads on each path, against one standalone Airflow."""
    clients = {name: boto3.client(name) for name in ("s3", "dynamodb", "sqs")}
    bootstrap(**clients, settings=Settings.from_env(bucket=POLLED, table=TABLE, events_queue=""))
    bootstrap(**clients, settings=Settings.from_env(bucket=EVENTED, table=TABLE, events_queue=QUEUE))
    home = Path(tempfile.mkdtemp(prefix="bench-triggers-"))
    env = {**os.environ, **local_env.airflow_env(home, endpoint, local_env.free_port()),
           "VIDEO_PIPELINE_BUCKET": POLLED, "VIDEO_PIPELINE_TABLE": TABLE,
           "VIDEO_PIPELINE_EVENTS_QUEUE_URL": f"{endpoint}/{local_env.MOTO_ACCOUNT}/{QUEUE}",
           "VIDEO_PIPELINE_DISCOVERY_SCHEDULE": "* * * * *"}  # polling as without events, to time it
    results: dict[str, list[tuple[float, float]]] = {"poll": [], "event": []}
    with standalone(home, env, int(env["AIRFLOW__API__PORT"])) as api:
        for dag_id in (PIPELINE_DAG_ID, "video_discovery", "video_events"):
            api.set_paused(dag_id, False)
        time.sleep(30)  # let the first discovery run and the queue watcher start
        rng = random.Random(7)
        for n in range(SAMPLES):
            for path, bucket in (("poll", POLLED), ("event", EVENTED)):
                time.sleep(rng.uniform(0, 60))  # anywhere in the polling cycle
                results[path].append(sample(api, clients["s3"], bucket, n))
                print(f"{path:<6} created {results[path][-1][0]:5.1f} s, started {results[path][-1][1]:5.1f} s")
    return results


def main() -> None:
    with moto_endpoint("bench") as endpoint:
        results = measure_both(endpoint)
    write_report(results)


def write_report(results: dict[str, list[tuple[float, float]]]) -> None:
    rows = []
    for path, label in (("poll", "polling (`video_discovery`, every minute)"),
                        ("event", "S3 events through SQS (`video_events`)")):
        created = [c for c, _ in results[path]]
        started = [s for _, s in results[path]]
        verdict = "pass" if max(started) < TARGETS[path] else "**miss**"
        rows.append(f"| {label} | {statistics.median(created):.1f} | {max(created):.1f} | "
                    f"{statistics.median(started):.1f} | {max(started):.1f} | < {TARGETS[path]:.0f} s: {verdict} |")
    section = f"""
## Trigger latency: upload to run start

`bench/trigger_latency.py` on the local stack (moto server, `airflow standalone` with SQLite and
LocalExecutor, the S3 sensor deferred to the triggerer), {SAMPLES} uploads per path at random moments,
measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on the machine above. "Created": the
trigger DAG has started the `video_pipeline` run; "started": the scheduler set it running.

| path | created, median s | created, worst s | started, median s | started, worst s | target (worst) |
|---|--:|--:|--:|--:|---|
{chr(10).join(rows)}

Polling: a `video_discovery` run lists and checks DynamoDB every 10 s for up to 45 s of each
minute and triggers as soon as something is new, so an upload waits for the next look, or for
the next minute's run when it lands in the gap between runs. Events: a long-polled SQS receive
in the triggerer, an asset event, one `video_events` run that starts the run.
"""
    print(write_section(ROOT / "BENCHMARKS.md", "triggers", section))


if __name__ == "__main__":
    main()
