"""The first task of a run: check its params, identify the object, decide whether there is work, and
(encrypt) make the video's key, so that every later task reads one ``Registration``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from video_pipeline.config import Settings
from video_pipeline.planning import RunOptions
from video_pipeline.registration import Registration
from video_pipeline.run_params import Sources

RUN_TARGET = ("video_key", "bucket", "force")  # what a run is of; every other param is how to run it


def register_video(settings: Settings, sources: Sources, params: Mapping[str, Any], *, run_id: str,
                   conf: Mapping[str, Any] | None) -> Registration:
    """The run's registration; its params refused (before anything is read), or its object missing, fail
    the run without retries. The item is queued with the options the run was started with, which a
    sweep that retries a failure starts the retry with (review, models, ...)."""
    from airflow.sdk.exceptions import AirflowFailException

    from video_pipeline import model_params, run_params
    from video_pipeline.aws import shared_clients
    from video_pipeline.identity import video_id
    from video_pipeline.keys import ensure_key
    from video_pipeline.status_callbacks import catalog
    from video_pipeline.uploads import uploaded_name

    try:  # the schema checked when the run was created; this checks again, with what a schema cannot say
        run_params.check_run(settings, sources, params)
        model_params.check(settings, params)
    except run_params.RunParamError as refused:
        raise AirflowFailException(str(refused)) from refused
    options = RunOptions.from_params(params, RunOptions(review=settings.review))
    bucket, key = params.get("bucket") or settings.bucket, params["video_key"]
    aws = shared_clients(settings.aws_conn_id)  # one session for S3 and the catalog
    head = aws.head_object(bucket, key)
    if head is None:
        raise AirflowFailException(f"s3://{bucket}/{key} does not exist")
    etag = head["ETag"].strip('"')
    vid = video_id(bucket, key, etag)
    videos = catalog(settings)
    item = videos.get(vid)
    done = bool(item and item.get("status") == "published" and not options.force)
    if not done:
        given = {k: v for k, v in (conf or {}).items() if k in params and k not in RUN_TARGET and v is not None}
        videos.set_status(vid, "queued", stage=None, source_bucket=bucket, source_key=key, source_etag=etag,
                          dag_run_id=run_id, run_options=given or None)
    return Registration(
        video_id=vid, bucket=bucket, key=key, etag=etag,
        name=uploaded_name(head),  # the upload page's file name, the page's title; None otherwise
        source=f"s3://{bucket}/{key}", work=f"s3://{settings.bucket}/{settings.work_prefix}{vid}", done=done,
        key_uri=ensure_key(aws.s3, settings, vid) if options.encrypt and not done else None,
    )
