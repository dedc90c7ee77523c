"""video_events: S3 event notifications, through SQS, start one video_pipeline run per new video."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset, AssetWatcher, dag, task

from operators.start_runs import start_video_runs
from video_pipeline.config import Settings
from video_pipeline.run_params import Sources

SETTINGS = Settings.from_env()
SOURCES = Sources.from_settings(SETTINGS)


def uploads_asset(queue_url: str) -> Asset:
    """Uploads, watched on the SQS queue that the bucket notifies (``bootstrap`` creates both)."""
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    trigger = MessageQueueTrigger(
        scheme="sqs",
        sqs_queue=queue_url,
        aws_conn_id=SETTINGS.aws_conn_id,
        max_messages=10,
        num_batches=1,  # fire with what one receive returns: more batches only add their wait
        wait_time_seconds=10,  # long polling: a message is seen as soon as it arrives
        waiter_delay=1,
        # Deleted only once their videos are claimed (find_new_videos): a batch whose asset event no
        # run ever reads comes back after the queue's visibility timeout instead of being lost.
        delete_message_on_reception=False,
    )
    return Asset(name="video-pipeline-uploads", watchers=[AssetWatcher(name="s3-uploads-sqs", trigger=trigger)])


if SETTINGS.events_queue_url:  # set VIDEO_PIPELINE_EVENTS_QUEUE_URL to turn the event path on

    @dag(
        dag_id="video_events",
        schedule=[uploads_asset(SETTINGS.events_queue_url)],
        start_date=datetime(2026, 1, 1),
        catchup=False,
        # Not 1: at its cap, Airflow 3.3 merges the queued asset events and drops all but the first
        # (apache/airflow#56050). Concurrent runs are safe: claims are conditional writes, run ids are
        # the videos', and a run that exists already is skipped.
        max_active_runs=16,
        tags=["video", "trigger"],
        doc_md=__doc__
        + f"""

The triggerer long-polls `{SETTINGS.events_queue_url}` (an AssetWatcher with the common-messaging
`MessageQueueTrigger`, which hands SQS to the Amazon provider) and records each batch of messages
as an event of the asset `video-pipeline-uploads`. A run of this DAG reads the events that
triggered it (several batches when uploads come faster than runs), takes every object-created
record under `{SETTINGS.incoming_prefix}` with a video extension that a run may take (in a source
bucket, `VIDEO_PIPELINE_SOURCE_BUCKETS`; others are logged), reads each object's current
ETag, drops videos already known with that ETag, and starts one `video_pipeline` run per new one
(run id `video__<video_id>`; a message delivered twice, or a video also found by polling, is
skipped). Messages are deleted only after their videos are claimed: a batch that no run reads
comes back after the queue's visibility timeout. `bootstrap` creates the queue and the bucket notification.
""",
        default_args={"owner": "video-pipeline", "retries": 2, "retry_delay": timedelta(seconds=10)},
    )
    def video_events() -> None:
        @task
        def find_new_videos(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
            """Objects named by the messages, current ETag from S3 (deleted ones are dropped)."""
            from airflow.configuration import conf
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook
            from airflow.providers.amazon.aws.hooks.sqs import SqsHook

            from video_pipeline import discovery, status_callbacks

            messages = [
                message
                for events in (triggering_asset_events or {}).values()
                for event in events
                for message in (event.extra.get("payload") or {}).get("message_batch", [])
            ]
            s3 = S3Hook(aws_conn_id=SETTINGS.aws_conn_id)
            objects = []
            for bucket, key in discovery.keys_from_messages(m["Body"] for m in messages):
                if not (key.startswith(SETTINGS.incoming_prefix)
                        and discovery.is_video_key(key, SETTINGS.video_extensions)
                        and discovery.within_sources(SOURCES, bucket, key)):
                    continue
                head = s3.head_object(key, bucket)
                if head is not None:
                    objects.append(discovery.S3Object(bucket, key, head["ETag"].strip('"')))
            catalog = status_callbacks.catalog(SETTINGS)
            planned = discovery.plan(objects, catalog, mode="new")
            limit = conf.getint("core", "max_map_length")
            runs = discovery.claim_runs(discovery.within_limit(planned, limit), catalog, discovered_by="event")
            discovery.acknowledge(SqsHook(aws_conn_id=SETTINGS.aws_conn_id).get_conn(), SETTINGS.events_queue_url,
                                  messages)
            return runs

        start_video_runs(find_new_videos())

    video_events()
