"""Task callbacks that keep each video's DynamoDB item saying where the video is.

Stage tasks report ``processing`` with their stage when they start. A final
failure marks the item ``failed`` with the stage and reason; a permanent input
error also copies the source (the version register pinned) to the quarantine
prefix, so nothing is lost and the incoming prefix can be cleaned without losing
the evidence. A source replaced during the run is not copied: it is not what the
run checked, and it gets its own run.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

from video_pipeline.aws import shared_clients
from video_pipeline.catalog import VideoCatalog
from video_pipeline.config import Settings
from video_pipeline.notifications import Event, notify
from video_pipeline.registration import Registration
from video_pipeline.stages import PermanentFailure, PermanentInputError

log = logging.getLogger(__name__)

# The DAG's first task: it identifies the video, and every callback reads the video from its XCom.
REGISTER_TASK_ID = "register"


def catalog(settings: Settings) -> VideoCatalog:
    """The videos table, through the process's session (aws.py)."""
    return VideoCatalog(shared_clients(settings.aws_conn_id).dynamodb.Table(settings.table))


def _video(context: Any) -> Registration | None:
    registration = context["ti"].xcom_pull(task_ids=REGISTER_TASK_ID)
    return Registration.from_json(registration) if registration else None


def on_stage_start(context: Any) -> None:
    """A stage with nothing to do in this run skips before this is called: it says nothing."""
    if video := _video(context):
        catalog(Settings.from_env()).set_processing(video.video_id, stage=context["ti"].task_id,
                                                    owner_run=context["run_id"])


def on_review_start(context: Any) -> None:
    """The item says the run waits for its caption review."""
    if video := _video(context):
        catalog(Settings.from_env()).set_processing(video.video_id, stage=context["ti"].task_id,
                                                    owner_run=context["run_id"])


def on_task_failure(context: Any) -> None:
    """Called once a task has failed for good (after its retries, or at once when permanent)."""
    video = _video(context)
    if not video:
        return
    settings = Settings.from_env()
    error = context.get("exception")
    stage = context["ti"].task_id
    # Sweeps retry transient failures, never permanent ones (see discovery.py).
    fields: dict[str, Any] = {"failure_permanent": isinstance(error, PermanentFailure)}
    if isinstance(error, PermanentFailure):
        stage, reason = error.stage, error.reason
        if isinstance(error, PermanentInputError):  # not a changed source: that is not what the run checked
            fields["quarantine_key"] = quarantine(settings, video, stage, reason)
    else:
        reason = str(error) if error else "the task failed"
    log.error("video %s failed in %s: %s", video.video_id, stage, reason)
    videos = catalog(settings)
    try:
        videos.set_status(video.video_id, "failed", stage=stage, reason=reason, owner_run=context["run_id"],
                          **fields)
    except videos.table.meta.client.exceptions.ConditionalCheckFailedException:
        log.warning("video %s: a newer run owns its item, which keeps that run's status", video.video_id)
        return
    notify(settings, Event.of("failed", video_id=video.video_id, source=video.source, run_id=context["run_id"],
                              stage=stage, reason=reason))


async def flag_stuck_run(context: dict[str, Any], **_: Any) -> None:
    """The DAG's deadline alert, run by the triggerer: a run past its deadline marks its item stuck."""
    await asyncio.to_thread(_flag_stuck, context)


def _flag_stuck(context: dict[str, Any]) -> None:
    from video_pipeline.identity import video_id

    settings = Settings.from_env()
    run, deadline = context["dag_run"], context.get("deadline") or {}
    conf = run.get("conf") or {}
    bucket, key = conf.get("bucket") or settings.bucket, conf.get("video_key")
    head = shared_clients(settings.aws_conn_id).head_object(bucket, key) if key else None
    if head is None or not key:
        log.warning("run %s is past its deadline; its video s3://%s/%s is gone", run["dag_run_id"], bucket, key)
        return
    vid = video_id(bucket, key, head["ETag"].strip('"'))
    since = str(deadline.get("deadline_time") or datetime.now(UTC).isoformat(timespec="seconds"))
    if catalog(settings).flag_stuck(vid, run_id=run["dag_run_id"], since=since):
        log.warning("run %s of video %s (s3://%s/%s) is stuck: unfinished %s min after it was queued",
                    run["dag_run_id"], vid, bucket, key, settings.run_deadline_minutes)


def quarantine(settings: Settings, video: Registration, stage: str, reason: str) -> str | None:
    """Copy the source under the quarantine prefix with the reason beside it; return the copy's key.

    Only the version register pinned (its ETag): None when the object is gone, or was replaced
    since, so that a new upload is never kept as the evidence of another one's failure.
    """
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from botocore.exceptions import ClientError

    hook = S3Hook(aws_conn_id=settings.aws_conn_id)
    prefix = f"{settings.quarantine_prefix}{video.video_id}/"
    target = prefix + video.key.rsplit("/", 1)[-1]
    try:
        hook.copy_object(source_bucket_key=video.key, dest_bucket_key=target,
                         source_bucket_name=video.bucket, dest_bucket_name=settings.bucket,
                         CopySourceIfMatch=f'"{video.etag}"')
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("PreconditionFailed", "412"):
            log.warning("s3://%s/%s changed since this run registered it (ETag %s): the new object is not "
                        "quarantined; it gets its own run", video.bucket, video.key, video.etag)
            return None
        if code not in ("NoSuchKey", "404"):
            raise
        log.warning("s3://%s/%s is gone: nothing to quarantine", video.bucket, video.key)
        return None
    hook.load_string(
        json.dumps({"source": f"s3://{video.bucket}/{video.key}", "stage": stage, "reason": reason}),
        key=prefix + "reason.json", bucket_name=settings.bucket, replace=True,
    )
    return target
