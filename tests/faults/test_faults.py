"""Faults on the local stack (moto server, ``airflow standalone``, the real worker), each survived with
nothing lost: S3 gone mid-stage, a worker killed, a hung stage, Airflow killed, a burst of uploads,
repeated events, and two runs of one video at once.

The tests run in file order on one stack; each uses its own videos. Figures go to
test-artifacts/faults.md, which RELIABILITY.md quotes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fault_stack import BUCKET, LIGHT, PIPELINE, QUEUE, quoted
from helpers import wait_until

from video_contract.manifests import TIMINGS
from video_pipeline.identity import video_id

FINAL = ("success", "failed")


def upload(s3, clip: Path, key: str) -> str:
    s3.upload_file(str(clip), BUCKET, key)
    return video_id(BUCKET, key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"])


def trigger(api, key: str, run_id: str | None = None, **conf) -> str:
    return api.trigger(PIPELINE, {"video_key": key, "bucket": BUCKET, **LIGHT, **conf}, run_id)


def task(api, run: str, task_id: str) -> dict:
    return api.call("GET", f"/dags/{PIPELINE}/dagRuns/{quoted(run)}/taskInstances/{task_id}")


def tries(api, run: str, task_id: str) -> list[dict]:
    """Every try of the task, oldest first, the current one included."""
    found = api.call("GET", f"/dags/{PIPELINE}/dagRuns/{quoted(run)}/taskInstances/{task_id}/tries")
    return sorted(found["task_instances"], key=lambda t: t["try_number"])


def task_log(api, run: str, task_id: str, try_number: int) -> str:
    found = api.call("GET", f"/dags/{PIPELINE}/dagRuns/{quoted(run)}/taskInstances/{task_id}/logs/{try_number}"
                            "?full_content=true")
    content = found.get("content")
    return json.dumps(content) if not isinstance(content, str) else content


def xcom(api, run: str, task_id: str) -> dict:
    found = api.call("GET", f"/dags/{PIPELINE}/dagRuns/{quoted(run)}/taskInstances/{task_id}/xcomEntries/"
                            "return_value?deserialize=true&stringify=false")
    return found["value"]


def finished(api, run: str, timeout_s: float = 600) -> str:
    def state() -> str | None:
        found = api.run(PIPELINE, run)
        return found["state"] if found and found["state"] in FINAL else None

    return wait_until(state, timeout_s, f"run {run} ended", 2)


def item(table, vid: str) -> dict:
    return table.get_item(Key={"video_id": vid}, ConsistentRead=True).get("Item") or {}


def site_keys(s3, vid: str) -> set[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"site/videos/{vid}/")
    return {o["Key"] for o in listed.get("Contents", [])}


def work_keys(s3, vid: str, stage: str) -> set[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"work/{vid}/{stage}/")
    return {o["Key"] for o in listed.get("Contents", [])}


def decodes_whole(s3, key: str, tmp_path: Path) -> float:
    """The seconds of video that ffmpeg decodes from the object, with no error."""
    local = tmp_path / key.replace("/", "_")
    s3.download_file(BUCKET, key, str(local))
    proc = subprocess.run(["ffmpeg", "-v", "error", "-i", str(local), "-f", "null", "-"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(local)],
                           capture_output=True, text=True, check=True)
    return float(probe.stdout)


def published_ok(s3, table, vid: str, tmp_path: Path) -> dict:
    found = item(table, vid)
    assert found.get("status") == "published", found
    assert "stuck_since" not in found, found
    keys = site_keys(s3, vid)
    assert f"site/videos/{vid}/index.html" in keys and f"site/videos/{vid}/stream/master.m3u8" in keys, keys
    assert abs(decodes_whole(s3, f"site/videos/{vid}/video.mp4", tmp_path) - 12) < 0.5
    return found


def test_s3_endpoint_killed_mid_transcode_the_task_retries_and_the_run_publishes(
        airflow, moto, faults, s3, table, fault_clip, report, tmp_path):
    api = airflow.api
    vid = upload(s3, fault_clip, "manual/outage.mp4")
    faults.arm("stall-once")
    run = trigger(api, "manual/outage.mp4")
    faults.triggered("stall-once")  # transcode has its source and is in the middle of its work
    moto.kill()
    killed = time.monotonic()
    wait_until(lambda: task(api, run, "transcode")["state"] in ("up_for_retry", "failed"), 180,
               "transcode's try failed while S3 was down")
    outage_s = time.monotonic() - killed
    replay_s = moto.restart()

    assert finished(api, run) == "success", airflow.log.read_text(errors="replace")[-3000:]
    attempts = tries(api, run, "transcode")
    assert len(attempts) >= 2 and attempts[0]["state"] == "failed" and attempts[-1]["state"] == "success"
    assert "Could not connect to the endpoint URL" in task_log(api, run, "transcode", attempts[0]["try_number"])
    published_ok(s3, table, vid, tmp_path)
    report.append({"scenario": "moto server SIGKILLed mid-transcode, started again", "faults": 1, "runs": 1,
                   "published": 1, "lost": 0, "duplicates": 0,
                   "notes": f"S3 down {outage_s:.0f} s; transcode tries {len(attempts)}; state replayed in "
                            f"{replay_s:.1f} s"})


def _same_outputs(one: dict, other: dict) -> bool:
    """Equal manifests, timings aside. x264 under a bitrate cap (VBV) with frame threads is not bit-exact
    from one encode to the next, so each rendition's byte count and bit rate may differ by a hair (0.5%)."""
    inexact = ("size_bytes", "bit_rate")

    def exact(manifest: dict) -> dict:
        return {**{k: v for k, v in manifest.items() if k not in TIMINGS},
                "renditions": [{k: v for k, v in r.items() if k not in inexact} for r in manifest["renditions"]]}

    close = all(abs(a[k] - b[k]) <= 0.005 * b[k]
                for a, b in zip(one["renditions"], other["renditions"]) for k in inexact)
    return exact(one) == exact(other) and close


def test_a_killed_worker_is_retried_to_the_same_outputs_and_publishes_nothing_partial(
        airflow, faults, s3, table, fault_clip, report, tmp_path):
    api = airflow.api
    key = "manual/killed.mp4"
    vid = upload(s3, fault_clip, key)
    faults.arm("stall-once")
    run = trigger(api, key)
    worker = faults.triggered("stall-once")
    os.killpg(worker, signal.SIGKILL)  # the worker and its ffmpeg (SubprocessHook gives it a session)
    assert work_keys(s3, vid, "transcode") == set() and site_keys(s3, vid) == set()  # nothing half-written

    assert finished(api, run) == "success", airflow.log.read_text(errors="replace")[-3000:]
    attempts = tries(api, run, "transcode")
    assert len(attempts) == 2 and attempts[0]["state"] == "failed"
    assert "killed by signal 9" in task_log(api, run, "transcode", attempts[0]["try_number"])
    retried = xcom(api, run, "transcode")
    published_ok(s3, table, vid, tmp_path)

    clean = trigger(api, key, force=True)  # the same video again, with no fault: the reference
    assert finished(api, clean) == "success"
    reference = xcom(api, clean, "transcode")
    assert _same_outputs(retried, reference)
    assert work_keys(s3, vid, "transcode") == {uri.split(f"{BUCKET}/", 1)[1] for uri in retried["artifacts"].values()}
    report.append({"scenario": "a stage's worker SIGKILLed mid-transcode", "faults": 1, "runs": 2, "published": 1,
                   "lost": 0, "duplicates": 0,
                   "notes": "retry's manifest equals a clean run's, timings (and x264's byte-level jitter) aside; "
                            "nothing uploaded before the retry"})


def test_a_hung_stage_is_killed_by_its_timeout_retried_and_its_run_flagged_stuck(
        airflow, faults, s3, table, fault_clip, report, tmp_path):
    api = airflow.api
    vid = upload(s3, fault_clip, "manual/hang.mp4")
    faults.arm("hang-once")
    queued = time.monotonic()
    run = trigger(api, "manual/hang.mp4")
    worker = faults.triggered("hang-once")
    flagged = wait_until(lambda: item(table, vid).get("stuck_since"), 120, "the run flagged stuck", 1)
    stuck_after = time.monotonic() - queued
    assert item(table, vid)["status"] == "processing" and item(table, vid)["stage"] == "transcode"

    assert finished(api, run) == "success", airflow.log.read_text(errors="replace")[-3000:]
    attempts = tries(api, run, "transcode")
    assert len(attempts) == 2 and attempts[0]["state"] == "failed"
    assert 55 <= attempts[0]["duration"] < 120, attempts[0]  # VIDEO_PIPELINE_STAGE_TIMEOUTS=transcode=60
    assert "AirflowTaskTimeout" in task_log(api, run, "transcode", attempts[0]["try_number"])
    try:
        os.kill(worker, 0)
        raise AssertionError(f"the hung worker {worker} outlived its task")
    except ProcessLookupError:
        pass
    published_ok(s3, table, vid, tmp_path)  # and no longer stuck
    report.append({"scenario": "a transcode that hangs", "faults": 1, "runs": 1, "published": 1, "lost": 0,
                   "duplicates": 0, "notes": f"killed after {attempts[0]['duration']:.0f} s (timeout 60 s), "
                                             f"retried; item flagged stuck_since {flagged} ({stuck_after:.0f} s "
                                             "after queueing, deadline 30 s)"})


def test_airflow_killed_and_started_again_mid_run_completes_the_run(
        airflow, faults, s3, table, fault_clip, report, tmp_path):
    api = airflow.api
    vid = upload(s3, fault_clip, "manual/crash.mp4")
    faults.arm("stall-once")
    run = trigger(api, "manual/crash.mp4")
    worker = faults.triggered("stall-once")
    airflow.kill()  # scheduler, executor, triggerer, API server and the task's supervisor, all at once
    os.killpg(worker, signal.SIGKILL)  # and the stage it ran, as when the host goes down
    down = time.monotonic()
    airflow.start()
    restart_s = time.monotonic() - down

    assert finished(api, run, 900) == "success", airflow.log.read_text(errors="replace")[-3000:]
    attempts = tries(api, run, "transcode")
    assert len(attempts) >= 2 and attempts[-1]["state"] == "success"
    published_ok(s3, table, vid, tmp_path)
    report.append({"scenario": "airflow standalone SIGKILLed mid-run, started again", "faults": 1, "runs": 1,
                   "published": 1, "lost": 0, "duplicates": 0,
                   "notes": f"healthy again in {restart_s:.0f} s; the orphaned transcode try failed on its missing "
                            f"heartbeat and was retried ({len(attempts)} tries)"})


def _event(key: str, etag: str, size: int) -> str:
    """An S3 ObjectCreated notification, as S3 sends it to SQS."""
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
               "object": {"key": key, "size": size, "eTag": etag}}}]})


def _runs_by_key(api) -> dict[str | None, list[str]]:
    """Run ids by the upload's key; None collects runs whose conf names no key."""
    runs: dict[str | None, list[str]] = {}
    for found in api.runs(PIPELINE):
        runs.setdefault((found.get("conf") or {}).get("video_key"), []).append(found["dag_run_id"])
    return runs


def test_twenty_uploads_at_once_publish_twenty_videos_each_run_once(airflow, s3, table, make_media, report):
    api = airflow.api
    clip = make_media("burst.mp4", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=10:d=2",
                      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    keys = [f"incoming/burst {i:02d}.mp4" for i in range(20)]
    began = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        vids = dict(zip(keys, pool.map(lambda k: upload(s3, clip, k), keys)))
    uploaded_s = time.monotonic() - began
    assert uploaded_s < 10

    def all_ended():
        states = {k: item(table, v).get("status") for k, v in vids.items()}
        return states if all(s in ("published", "failed") for s in states.values()) else None

    states = wait_until(all_ended, 1800, "all 20 videos published or failed", 10)
    elapsed = time.monotonic() - began
    runs = _runs_by_key(api)
    counts = {k: len(runs.get(k, [])) for k in keys}
    published = sum(s == "published" for s in states.values())
    index = s3.get_object(Bucket=BUCKET, Key="site/index.html")["Body"].read().decode()
    listed = sum(f"videos/{v}/" in index for v in vids.values())
    report.append({"scenario": "20 uploads within a few seconds, through S3 events", "faults": 0,
                   "runs": sum(counts.values()), "published": published, "lost": 20 - published,
                   "duplicates": sum(max(0, c - 1) for c in counts.values()),
                   "notes": f"uploaded in {uploaded_s:.1f} s; all published {elapsed:.0f} s after the first; the index "
                            f"lists {listed}"})
    assert states == {k: "published" for k in keys}
    assert counts == {k: 1 for k in keys}
    assert listed == 20


def test_an_event_delivered_three_times_and_a_re_upload_give_one_run(airflow, moto, s3, table, fault_clip, report):
    import boto3

    api = airflow.api
    key = "incoming/echo.mp4"
    vid = upload(s3, fault_clip, key)
    head = s3.head_object(Bucket=BUCKET, Key=key)
    sqs = boto3.client("sqs", endpoint_url=moto.endpoint)
    queue = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    for _ in range(2):  # S3 delivers at least once: the same event twice more
        sqs.send_message(QueueUrl=queue, MessageBody=_event(key, head["ETag"].strip('"'), head["ContentLength"]))
    wait_until(lambda: item(table, vid).get("status") == "published", 600, "the video published", 5)
    s3.upload_file(str(fault_clip), BUCKET, key)  # the same bytes again: the same ETag, the same video

    def drained() -> bool:
        attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        busy = [r for r in api.runs("video_events") if r["state"] not in FINAL]
        return not busy and all(v == "0" for v in attributes.values())

    wait_until(drained, 300, "every event consumed and video_events idle", 5)
    time.sleep(20)  # a last chance for a duplicate to appear
    runs = _runs_by_key(api).get(key, [])
    report.append({"scenario": "one upload's event delivered 3 times, then the same bytes uploaded again",
                   "faults": 3, "runs": len(runs), "published": 1, "lost": 0, "duplicates": len(runs) - 1,
                   "notes": "4 events for one object"})
    assert runs == [f"video__{vid}"]


def test_two_forced_runs_of_one_video_at_once_publish_one_result_and_a_whole_item(
        airflow, s3, table, fault_clip, report, tmp_path):
    api = airflow.api
    key = "manual/twice.mp4"
    vid = upload(s3, fault_clip, key)
    first = trigger(api, key, run_id=f"twice-a__{vid}", force=True)
    second = trigger(api, key, run_id=f"twice-b__{vid}", force=True)
    assert finished(api, first) == "success" and finished(api, second) == "success"
    outcomes = {run: task(api, run, "publish")["state"] for run in (first, second)}
    winners = [run for run, state in outcomes.items() if state == "success"]
    assert sorted(outcomes.values()) == ["skipped", "success"], outcomes
    found = published_ok(s3, table, vid, tmp_path)
    assert found["dag_run_id"] == winners[0]
    result = xcom(api, winners[0], "publish")
    assert found["page_key"] == result["page_key"] and found["source_key"] == key
    report.append({"scenario": "two forced runs of one video at once", "faults": 0, "runs": 2, "published": 1,
                   "lost": 0, "duplicates": 0,
                   "notes": f"publish: {outcomes[first]} and {outcomes[second]}; the item is the newer run's"})
