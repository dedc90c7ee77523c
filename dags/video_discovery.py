"""video_discovery: polls the incoming prefix and starts one video_pipeline run per new video."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk import dag, task

from operators.start_runs import start_video_runs
from video_pipeline.config import Settings
from video_pipeline.discovery import PlannedRun
from video_pipeline.run_params import Sources

SETTINGS = Settings.from_env()
SOURCES = Sources.from_settings(SETTINGS)
LOOKBACK = timedelta(minutes=SETTINGS.discovery_lookback_minutes)
# What the sensor's check_fn reads of each listed object: all in the listing, so no HEAD request.
LISTED = ["Key", "ETag", "LastModified"]


def new_uploads(files: list[dict[str, Any]], data_interval_end: datetime | None = None) -> list[PlannedRun]:
    """The listed objects' videos from the lookback window that no trigger has claimed, with their runs."""
    from video_pipeline import discovery, status_callbacks

    since = (data_interval_end or datetime.now(UTC)) - LOOKBACK
    return discovery.new_uploads(files, status_callbacks.catalog(SETTINGS), bucket=SETTINGS.bucket,
                                 extensions=SETTINGS.video_extensions, sources=SOURCES, since=since)


def any_new_upload(files: list[dict[str, Any]], data_interval_end: datetime | None = None, **_: Any) -> bool:
    """wait_for_uploads' check_fn (the provider passes the task's context as keywords)."""
    return bool(new_uploads(files, data_interval_end))


@dag(
    dag_id="video_discovery",
    schedule=SETTINGS.polling_schedule,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # never overlaps itself
    tags=["video", "trigger"],
    doc_md=__doc__
    + f"""

Every run (schedule `{SETTINGS.polling_schedule}`, `VIDEO_PIPELINE_DISCOVERY_SCHEDULE`; by default every
minute, hourly while S3 events deliver uploads through `video_events`) waits up
to 45 s for a new video: its S3KeySensor `wait_for_uploads` lists `s3://{SETTINGS.bucket}/{SETTINGS.incoming_prefix}`
every 10 s and passes only when an object there is a video by its extension (case-insensitive,
`VIDEO_PIPELINE_VIDEO_EXTENSIONS`; probe decides what really is a video), was modified in the
{SETTINGS.discovery_lookback_minutes} minutes before the run's interval end
(`VIDEO_PIPELINE_DISCOVERY_LOOKBACK_MINUTES`), is one a run may take (`VIDEO_PIPELINE_SOURCE_PREFIXES`),
and is not in DynamoDB with the same ETag (claimed, processed or published). A run that finds none is
skipped: nothing else of it runs. Otherwise `find_new_videos` claims those videos `queued` and starts
one `video_pipeline` run each, with run id `video__<video_id>`, skipped when it exists. Older objects
are left to `video_backfill`'s daily sweep; S3 events (`video_events`) are the low-latency path,
and both can run together.
""",
    default_args={"owner": "video-pipeline", "retries": 2, "retry_delay": timedelta(seconds=10)},
)
def video_discovery() -> None:
    uploads = S3KeySensor(
        task_id="wait_for_uploads",
        bucket_name=SETTINGS.bucket,
        bucket_key=f"{SETTINGS.incoming_prefix}*",
        wildcard_match=True,
        check_fn=any_new_upload,
        metadata_keys=LISTED,
        aws_conn_id=SETTINGS.aws_conn_id,
        poke_interval=10,
        timeout=45,
        mode="reschedule",
        # Not in the triggerer: the provider's S3KeyTrigger passes as soon as any key matches, HEADs every
        # listed object, and hands the check to a worker, which defers again with a fresh timeout: this
        # gate would never time out. In reschedule mode a poke is one listing, the worker slot free between.
        deferrable=False,
        soft_fail=True,  # no new video: this run is skipped, the next one looks again
    )

    @task
    def find_new_videos(data_interval_end: datetime | None = None) -> list[dict[str, Any]]:
        """Claim the new videos the sensor saw (none, if another trigger claimed them meanwhile)."""
        from airflow.configuration import conf
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from video_pipeline import discovery, status_callbacks

        entries = discovery.list_objects(S3Hook(aws_conn_id=SETTINGS.aws_conn_id).get_conn(),
                                         SETTINGS.bucket, SETTINGS.incoming_prefix)
        planned = new_uploads(list(entries), data_interval_end)
        limit = conf.getint("core", "max_map_length")
        return discovery.claim_runs(discovery.within_limit(planned, limit), status_callbacks.catalog(SETTINGS),
                                    discovered_by="poll")

    found = find_new_videos()
    uploads >> found
    start_video_runs(found)

video_discovery()
