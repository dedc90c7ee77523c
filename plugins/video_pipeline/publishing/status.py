"""The catalog item of a published video, and who may write it.

Only the run that owns the item (the last one that registered the video, its ``dag_run_id``)
publishes: two runs of one video at once end with one published result, the newer run's, and an
item that is whole. The item turns ``published`` only once every object is on the site.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from video_contract.manifests import RunManifests
from video_pipeline.catalog import VideoCatalog
from video_pipeline.config import Settings
from video_pipeline.publishing.site_files import STREAM, VIDEO
from video_pipeline.publishing.subtitles import tracks_of
from video_pipeline.publishing.templates import PAGE
from video_pipeline.registration import Registration


class Superseded(Exception):
    """A newer run of the same video owns its item: this run's results are not published."""


def check_owner(catalog: VideoCatalog, video_id: str, run_id: str) -> None:
    """Superseded, naming the owner, unless ``run_id`` owns the item (or nobody does yet)."""
    owner = (catalog.get(video_id) or {}).get("dag_run_id")
    if owner not in (None, run_id):
        raise Superseded(f"video {video_id} is now run {owner}'s, not this run's ({run_id}): "
                         "that run publishes it")


def mark_published(catalog: VideoCatalog, video_id: str, run_id: str, item: dict[str, Any]) -> dict[str, Any]:
    """Write the item as published, if this run still owns it (Superseded if another took it meanwhile);
    the whole item, read back consistently, as the indexes list it."""
    try:
        catalog.set_status(video_id, "published", owner_run=run_id, **item)
    except catalog.table.meta.client.exceptions.ConditionalCheckFailedException:
        check_owner(catalog, video_id, run_id)  # says which run took over while the files were copied
        raise
    published = catalog.get(video_id)
    assert published is not None, "an item just written"
    return published


def published_item(*, settings: Settings, video: Registration, title: str, manifests: RunManifests,
                   folder: str, run_id: str, caption_review: dict[str, Any] | None) -> dict[str, Any]:
    """The catalog fields of a published video (of ``shown`` manifests); None removes a field an earlier
    publish set.

    The language only comes with speech: Whisper names one even for music or silence.
    """
    probe, transcode, detect, previews, package = (manifests.probe, manifests.transcode, manifests.detect,
                                                   manifests.previews, manifests.package)
    chapters = manifests.chapters
    transcript = manifests.transcript if manifests.transcript and manifests.transcript.speech else None
    tracks = tracks_of(transcript)
    page_key = folder + PAGE
    video_key = folder + (STREAM + package.hls if package and package.encrypted else VIDEO)
    return {
        "source_bucket": video.bucket,
        "source_key": video.key,
        "source_etag": video.etag,
        "title": title,
        "duration_s": probe.duration_s,
        "width": probe.width,
        "height": probe.height,
        "language": transcript.language if transcript else None,
        "language_name": transcript.language_name if transcript else None,
        "language_probability": transcript.language_probability if transcript else None,
        "speakers": transcript.speakers if transcript else None,
        "renditions": [{"name": r.name, "key": folder + r.file, "width": r.width, "height": r.height}
                       for r in transcode.renditions],
        "subtitles": [track.item(folder) for track in tracks] or None,
        "subtitle_languages": [track.language for track in tracks] or None,
        "animals": [{"label": a.label, "candidates": a.candidates, "first_s": a.first_s, "last_s": a.last_s,
                     "frames_seen": a.frames_seen, "peak_confidence": a.peak_confidence,
                     "thumbnail_key": folder + a.thumbnail}
                    for a in detect.animals] if detect else None,
        "animal_seconds": detect.animal_seconds if detect else None,
        "animal_on_screen": [span.to_json() for span in detect.on_screen] if detect else None,
        "poster_key": folder + previews.poster.file if previews else None,
        "chapters": [{"start_s": c.start_s, "end_s": c.end_s, "title": c.title, "spoken": c.spoken}
                     for c in chapters.chapters] if chapters else None,
        "chapters_key": folder + chapters.vtt if chapters else None,
        "stream": {"hls_url": settings.site_url(folder + STREAM + package.hls),
                   "dash_url": settings.site_url(folder + STREAM + package.dash),
                   "encrypted": package.encrypted, "key_id": package.key_id} if package else None,
        "page_key": page_key,
        "page_url": settings.site_url(page_key),
        "video_key": video_key,
        "video_url": settings.site_url(video_key),
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dag_run_id": run_id,
        "caption_review": caption_review,
    }
