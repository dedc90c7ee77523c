"""video_discovery: polls the incoming prefix and starts one video_pipeline run per new video."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk import PokeReturnValue, dag, task
from operators.start_runs import start_video_runs
from video_pipeline.config import Settings
from video_pipeline.run_params import Sources

SETTINGS = Settings.from_env()
SOURCES = Sources.from_settings(SETTINGS)


@dag(
    dag_id="video_discovery",
    schedule=SETTINGS.discovery_schedule,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # never overlaps itself
    tags=["video", "trigger"],
    doc_md=__doc__
    + f"""

Every run (schedule `{SETTINGS.discovery_schedule}`, `VIDEO_PIPELINE_DISCOVERY_SCHEDULE`) first
waits up to 45 s for anything under `s3://{SETTINGS.bucket}/{SETTINGS.incoming_prefix}` (an
S3KeySensor, deferred to the triggerer when `operators.default_deferrable` is on, else in
reschedule mode). Then, every 10 s for up to 45 s, it lists the objects modified in the last
{SETTINGS.discovery_lookback_minutes} minutes (`VIDEO_PIPELINE_DISCOVERY_LOOKBACK_MINUTES`) whose
extension is a video's (case-insensitive, `VIDEO_PIPELINE_VIDEO_EXTENSIONS`; probe decides what
really is a video) and drops the videos already in DynamoDB with the same ETag. As soon as some
are new it claims them `queued` and starts one `video_pipeline` run each, with run id
`video__<video_id>`, skipped when it exists. A run that finds nothing is skipped. Older objects
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
        aws_conn_id=SETTINGS.aws_conn_id,
        poke_interval=10,
        timeout=45,
        mode="reschedule",
        soft_fail=True,  # nothing uploaded yet: this run is skipped, the next one looks again
    )

    @task.sensor(poke_interval=10, timeout=45, mode="reschedule", soft_fail=True)
    def find_new_videos(data_interval_end: Any = None) -> PokeReturnValue:
        """List the recent videos and drop the known ones, every 10 s until some are new; claim those."""
        from airflow.configuration import conf
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from video_pipeline import discovery, tracking

        since = data_interval_end - timedelta(minutes=int(SETTINGS.discovery_lookback_minutes))
        entries = discovery.list_objects(S3Hook(aws_conn_id=SETTINGS.aws_conn_id).get_conn(),
                                         SETTINGS.bucket, SETTINGS.incoming_prefix)
        objects = discovery.select_listed(entries, SETTINGS.bucket, SETTINGS.extensions, sources=SOURCES, since=since)
        catalog = tracking.catalog(SETTINGS)
        planned = discovery.plan(objects, catalog, mode="new")
        limit = conf.getint("core", "max_map_length")
        runs = discovery.claim_runs(discovery.within_limit(planned, limit), catalog, discovered_by="poll")
        return PokeReturnValue(is_done=bool(runs), xcom_value=runs)

    found = find_new_videos()
    uploads >> found
    start_video_runs(found)


video_discovery()
