"""One run, one file: every stage reads the version of the upload that ``register`` pinned (its ETag).

The attack: replace the uploaded object while its run is under way, so that probe checks one file
and transcode encodes another, which would be published under the first one's id, past the limits
probe applied. Each stage that reads the upload downloads it with S3's ``If-Match``: a replaced or
deleted object fails the stage (exit 2, kind ``changed``) without retries and without quarantining
the new object, which gets a run of its own (its ETag gives it its own video id).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import boto3
import pytest
from airflow.sdk.exceptions import AirflowFailException

from video_pipeline import stages, status_callbacks
from video_pipeline.bootstrap import ensure_table
from video_pipeline.registration import Registration

TABLE = "pinning"
LIMIT_S = 5  # probe's --max-duration in the attack: A is under it, B over it
UPLOAD_STAGES = ("probe", "transcode", "transcribe", "detect", "previews")  # they read the upload itself
ARTIFACT_STAGES = ("captions", "burn", "package")  # they read work/ artifacts of this run


@pytest.fixture(scope="module")
def file_a(make_media) -> Path:
    """2 s, 320x240: the video that was uploaded and probed."""
    return make_media("pinning-a.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=10:d=2",
                      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")


@pytest.fixture(scope="module")
def file_b(make_media) -> Path:
    """8 s, 640x360, with sound: a different video, longer than probe allowed A to be."""
    return make_media("pinning-b.mp4", "-f", "lavfi", "-i", "mandelbrot=s=640x360:r=10",
                      "-f", "lavfi", "-i", "sine=f=330:sample_rate=48000", "-t", "8",
                      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac")


@pytest.fixture
def videos(moto_endpoint, monkeypatch, bucket):
    """The videos table and bucket that the Airflow side's callbacks use."""
    ensure_table(boto3.client("dynamodb", endpoint_url=moto_endpoint), TABLE)
    monkeypatch.setenv("VIDEO_PIPELINE_BUCKET", bucket)
    monkeypatch.setenv("VIDEO_PIPELINE_TABLE", TABLE)
    return status_callbacks.catalog(status_callbacks.Settings.from_env())


def _etag(s3, bucket: str, key: str) -> str:
    return s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')


def _keys(s3, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def _registration(video_id: str, bucket: str, key: str, etag: str) -> Registration:
    return Registration(video_id=video_id, bucket=bucket, key=key, etag=etag, name=None,
                        source=f"s3://{bucket}/{key}", work=f"s3://{bucket}/work/{video_id}", done=False)


def _failure_context(video: Registration, stage: str, error: Exception) -> dict:
    """What Airflow hands ``on_task_failure``: the task instance (register's XCom) and the error."""
    xcoms = {status_callbacks.REGISTER_TASK_ID: video.to_json()}
    ti = SimpleNamespace(task_id=stage, xcom_pull=lambda task_ids=None, **_: xcoms[task_ids])
    return {"ti": ti, "exception": error, "run_id": f"manual__{video.video_id}"}


def test_an_upload_replaced_mid_run_fails_the_stage_and_is_not_processed(run_worker, s3, bucket, file_a, file_b):
    key = "incoming/pinning/swap.mp4"
    source, work = f"s3://{bucket}/{key}", f"s3://{bucket}/work/pinning-swap"
    s3.upload_file(str(file_a), bucket, key)
    etag_a = _etag(s3, bucket, key)

    probe = run_worker("probe", "--source", source, "--dest", f"{work}/probe/", "--source-etag", etag_a,
                       "--max-duration", LIMIT_S)
    assert probe.returncode == 0, probe.stderr
    assert probe.manifest["duration_s"] < LIMIT_S and probe.manifest["width"] == 320

    s3.upload_file(str(file_b), bucket, key)  # the attacker replaces the object after probe passed it
    assert _etag(s3, bucket, key) != etag_a

    transcode = run_worker("transcode", "--source", source, "--dest", f"{work}/transcode/", "--source-etag", etag_a)
    assert transcode.returncode == 2, transcode.stderr
    assert (transcode.manifest["kind"], transcode.manifest["permanent"], transcode.manifest["stage"]) == \
        ("changed", True, "transcode")
    assert transcode.manifest["error"].startswith(f"The source {source} changed during processing"), \
        transcode.manifest["error"]
    assert _keys(s3, bucket, "work/pinning-swap/transcode/") == []  # nothing of B was encoded or uploaded

    # The Airflow side: fail now, no retry, and not a permanent input error (which would quarantine).
    with pytest.raises(Exception) as raised:
        stages.stage_outcome("transcode", transcode.returncode, json.dumps(transcode.manifest))
    assert raised.type is stages.SourceChanged and isinstance(raised.value, AirflowFailException)
    assert not isinstance(raised.value, stages.PermanentInputError)
    assert isinstance(raised.value, stages.SourceChanged) and raised.value.reason == transcode.manifest["error"]


def test_a_deleted_upload_is_a_changed_source(run_worker, s3, bucket, file_a):
    key = "incoming/pinning/deleted.mp4"
    s3.upload_file(str(file_a), bucket, key)
    etag = _etag(s3, bucket, key)
    s3.delete_object(Bucket=bucket, Key=key)
    result = run_worker("detect", "--source", f"s3://{bucket}/{key}", "--dest", f"s3://{bucket}/work/pinning-del/",
                        "--source-etag", etag)
    assert result.returncode == 2, result.stderr
    assert result.manifest["kind"] == "changed"
    assert result.manifest["error"] == (f"The source s3://{bucket}/{key} changed during processing: "
                                        f"it was deleted after this run registered it (ETag {etag}).")


def test_a_changed_source_marks_the_item_failed_and_quarantines_nothing(videos, s3, bucket, file_a, file_b):
    key = "incoming/pinning/callback.mp4"
    s3.upload_file(str(file_a), bucket, key)
    video = _registration("pinning-callback", bucket, key, _etag(s3, bucket, key))
    s3.upload_file(str(file_b), bucket, key)
    reason = f"The source s3://{bucket}/{key} changed during processing: it is no longer the version this run" \
             f" registered (ETag {video.etag})."
    with pytest.raises(AirflowFailException) as raised:  # the failure as the stage task raises it
        stages.stage_outcome("transcode", 2, json.dumps({"error": reason, "kind": "changed", "permanent": True}))

    status_callbacks.on_task_failure(_failure_context(video, "transcode", raised.value))

    item = videos.get(video.video_id)
    assert (item["status"], item["stage"], item["failure_reason"]) == ("failed", "transcode", reason)
    assert item["failure_permanent"] is True  # sweeps do not retry it: the new object has its own run
    assert "quarantine_key" not in item
    assert _keys(s3, bucket, f"quarantine/{video.video_id}/") == []


def test_quarantine_copies_the_pinned_version(videos, s3, bucket, file_a):
    """A permanent input error of the pinned, unchanged upload: its copy is that upload."""
    key = "incoming/pinning/bad.mp4"
    s3.put_object(Bucket=bucket, Key=key, Body=b"this is not a video\n" * 20)
    video = _registration("pinning-bad", bucket, key, _etag(s3, bucket, key))
    error = stages.PermanentInputError("probe", "The file is plain text, not a video.")

    status_callbacks.on_task_failure(_failure_context(video, "probe", error))

    item = videos.get(video.video_id)
    assert item["quarantine_key"] == "quarantine/pinning-bad/bad.mp4"
    assert s3.get_object(Bucket=bucket, Key=item["quarantine_key"])["Body"].read() == b"this is not a video\n" * 20


def test_quarantine_never_copies_a_replacement(monkeypatch, caplog):
    """The upload was replaced between the failure and its callback: S3 refuses the pinned copy (412)
    and nothing is quarantined under the old id. moto ignores ``x-amz-copy-source-if-match``, so
    S3's answer is stubbed here; the stub also checks that the copy asks for the pinned ETag."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from botocore.stub import Stubber

    monkeypatch.setenv("VIDEO_PIPELINE_BUCKET", "media")
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    video = _registration("pinning-race", "media", "incoming/race.mp4", "a" * 32)
    with Stubber(client) as stub:
        stub.add_client_error("copy_object", service_error_code="PreconditionFailed", http_status_code=412,
                              expected_params={"Bucket": "media", "Key": "quarantine/pinning-race/race.mp4",
                                               "CopySource": {"Bucket": "media", "Key": "incoming/race.mp4",
                                                              "VersionId": None},
                                               "CopySourceIfMatch": '"' + "a" * 32 + '"', "ACL": "private"})
        monkeypatch.setattr(S3Hook, "get_conn", lambda self: client)
        with caplog.at_level(logging.WARNING):
            settings = status_callbacks.Settings.from_env()
            assert status_callbacks.quarantine(settings, video, "probe", "not a video") is None
        stub.assert_no_pending_responses()  # and no reason.json written: nothing else was called
    assert "s3://media/incoming/race.mp4 changed since this run registered it" in caplog.text


@pytest.fixture
def echo_worker(tmp_path) -> str:
    """A worker command that prints the stage's real manifest (tests/unit/fixtures) and keeps its arguments."""
    manifests = json.loads((Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "manifests.json").read_text())
    for stage, manifest in manifests.items():
        (tmp_path / f"{stage}.json").write_text(json.dumps(manifest))
    script = tmp_path / "worker"
    script.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/$1.args\ncat {tmp_path}/$1.json\n')
    script.chmod(0o755)
    return str(script)


def test_the_dag_pins_every_stage_that_reads_the_upload(monkeypatch, echo_worker):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.types import RuntimeTaskInstanceProtocol

    from operators.local_stage import VideoStageOperator

    monkeypatch.setenv("VIDEO_PIPELINE_RUNNER", "local")
    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["video_pipeline"]
    etag = "0123456789abcdef0123456789abcdef"
    work = Path(echo_worker).parent
    stages = (*UPLOAD_STAGES, *ARTIFACT_STAGES)
    manifests = {stage: json.loads((work / f"{stage}.json").read_text()) for stage in stages}
    answer = {"decision": "approved", "by": "editor", "at": "", "timed_out": False,
              "texts": "s3://media/work/v1/review/texts.json"}
    xcoms = {"register": _registration("v1", "media", "incoming/a.mp4", etag).to_json(), **manifests,
             "review_captions": answer}
    # A stand-in task instance: rendering the stage's fields reads only xcom_pull.
    ti = cast(RuntimeTaskInstanceProtocol, SimpleNamespace(xcom_pull=lambda task_ids=None, **_: xcoms[task_ids]))
    for stage in stages:
        task = dag.get_task(stage).prepare_for_execution()
        assert isinstance(task, VideoStageOperator)
        task.render_template_fields({"ti": ti, "params": {}, "task": task})
        task.worker_command = echo_worker
        assert task.execute({}) == manifests[stage]
        args = (work / f"{stage}.args").read_text().split()
        if stage in UPLOAD_STAGES:
            assert args[:3] == [stage, "--source", "s3://media/incoming/a.mp4"], args
            assert args[args.index("--source-etag") + 1] == etag, args
        else:  # an artifact this run wrote: no upload ETag applies
            assert args[2].startswith("s3://media/work/") and "--source-etag" not in args, args
