"""The last task of a DAG run: put a video's page and files on the site, then list it.

Each job is a module of ``video_pipeline.publishing``; this one puts them in order. The files go
first, then the page and the video's search doc; the catalog item turns ``published`` only once
every object is in place, and the site index and the search index are rendered from the catalog
after that.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import PurePosixPath
from typing import Any

from video_contract.manifests import RunManifests
from video_contract.records import Record
from video_pipeline.catalog import VideoCatalog
from video_pipeline.config import Settings
from video_pipeline.publishing import objects, page, search, site_files, site_index, status, subtitles
from video_pipeline.publishing.status import Superseded
from video_pipeline.registration import Registration

__all__ = ["PublishResult", "Superseded", "publish"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PublishResult(Record):
    """What a publish put where: the publish task's XCom."""

    KIND = "publish result"
    page_url: str
    page_key: str
    video_url: str
    video_key: str  # the MP4, or an encrypted video's HLS playlist
    site_prefix: str  # the video's folder on the site
    uploaded: list[str]  # every key written: the same on a republish of the same video


def publish(*, s3: Any, catalog: VideoCatalog, settings: Settings, video: Registration, manifests: RunManifests,
            run_id: str, caption_review: dict[str, Any] | None) -> PublishResult:
    """Copy the files, render the page, mark the video published, regenerate the site and search indexes.

    Superseded, with nothing written, when a newer run of the video owns its item.
    """
    status.check_owner(catalog, video.video_id, run_id)
    bucket, folder = settings.bucket, f"{settings.site_prefix}videos/{video.video_id}/"
    title = video.name or _title(video.key, settings.incoming_prefix)  # the upload page's name
    shown = site_files.shown(manifests)
    files = site_files.site_files(shown)
    said = subtitles.spoken(s3, shown.transcript)
    found = search.cues(said)
    previous = search.previous_shards(s3, bucket, folder)

    uploaded = site_files.copy_all(s3, files, bucket, folder, video.work)
    uploaded += page.put(s3, settings=settings, folder=folder, title=title, manifests=shown, files=files,
                         said=said)
    uploaded.append(search.put_doc(s3, bucket, folder, video.video_id, found))
    objects.remove_stale(s3, bucket, folder, set(uploaded))

    item = status.published_item(settings=settings, video=video, title=title, manifests=shown, folder=folder,
                                 run_id=run_id, caption_review=caption_review)
    fresh = status.mark_published(catalog, video.video_id, run_id, item)
    uploaded += site_index.put(s3, settings, catalog, fresh)
    uploaded += search.put_words(s3, settings, fresh, found, previous)
    log.info("published %s (%s): %d objects, page %s", video.video_id, title, len(uploaded), item["page_key"])
    return PublishResult(page_url=item["page_url"], page_key=item["page_key"], video_url=item["video_url"],
                         video_key=item["video_key"], site_prefix=folder, uploaded=uploaded)


def _title(key: str, incoming_prefix: str) -> str:
    """The title of a video uploaded other than by the upload page (an S3 event's, the CLI's), which
    carries no name of its own: the key below the incoming prefix, else its last part.

    Not only the last part under the prefix: a name may hold a slash (``a </b> c.mp4``).
    """
    if incoming_prefix and key.startswith(incoming_prefix) and key != incoming_prefix:
        return key[len(incoming_prefix):]
    return PurePosixPath(key).name or key
