"""The publish task: a run's XComs, read through the contract, handed to ``publish``."""

from __future__ import annotations

from typing import Any

from video_contract.manifests import (
    BurnManifest,
    CaptionsManifest,
    ChaptersManifest,
    DetectManifest,
    PackageManifest,
    PreviewsManifest,
    ProbeManifest,
    RunManifests,
    TranscodeManifest,
    TranscribeManifest,
)
from video_pipeline.config import Settings
from video_pipeline.notifications import Event, notify
from video_pipeline.publish import PublishResult
from video_pipeline.registration import Registration
from video_pipeline.review import CaptionReview, ReviewAnswer

Xcom = dict[str, Any] | None  # a task's return value as XCom holds it; None: the task skipped


def run_manifests(*, probe: Xcom, transcode: Xcom, transcribe: Xcom, captions: Xcom, detect: Xcom,
                  previews: Xcom, burn: Xcom, package: Xcom, chapters: Xcom) -> RunManifests:
    """What the run made; its transcript is the reviewed captions where the captions stage ran, else
    transcribe's."""
    transcript = (CaptionsManifest.from_json(captions) if captions
                  else TranscribeManifest.from_json(transcribe) if transcribe else None)
    return RunManifests(
        probe=ProbeManifest.from_json(probe), transcode=TranscodeManifest.from_json(transcode), transcript=transcript,
        detect=DetectManifest.from_json(detect) if detect else None,
        previews=PreviewsManifest.from_json(previews) if previews else None,
        burn=BurnManifest.from_json(burn) if burn else None,
        package=PackageManifest.from_json(package) if package else None,
        chapters=ChaptersManifest.from_json(chapters) if chapters else None,
    )


def publish_run(settings: Settings, *, registration: dict[str, Any], manifests: RunManifests, answer: Xcom,
                run_id: str) -> PublishResult:
    """Publish the video, then tell the notification channels; a run that a newer run of the video has
    superseded skips, writing and sending nothing."""
    from airflow.sdk.exceptions import AirflowSkipException

    from video_pipeline.aws import shared_clients
    from video_pipeline.publish import Superseded, publish
    from video_pipeline.status_callbacks import catalog

    reviewed = manifests.transcript if isinstance(manifests.transcript, CaptionsManifest) else None
    caption_review = CaptionReview.of(ReviewAnswer.from_json(answer), reviewed).to_json() if answer else None
    video = Registration.from_json(registration)
    try:
        result = publish(s3=shared_clients(settings.aws_conn_id).s3, catalog=catalog(settings), settings=settings,
                         video=video, manifests=manifests, run_id=run_id, caption_review=caption_review)
    except Superseded as superseded:
        raise AirflowSkipException(str(superseded)) from superseded
    notify(settings, Event.of("published", video_id=video.video_id, source=video.source, run_id=run_id,
                              stage="publish", page_url=result.page_url))
    return result
