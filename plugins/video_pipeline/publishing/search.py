"""A video's words and entry in the site's search (the format is ``search_index``'s): its doc beside its
page, its postings in the term shards, and its line in ``search/index.json``.

A republish replaces the video's postings: the shards its previous doc named lose them, whether or not
the new words still live there.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from video_contract.manifests import Cue
from video_pipeline import search_index
from video_pipeline.config import Settings
from video_pipeline.publishing import objects, site_index
from video_pipeline.publishing.subtitles import SubtitleTrack


def cues(said: dict[SubtitleTrack, list[Cue]]) -> list[tuple[float, str]]:
    """(start, text) of every subtitle cue, the transcript's then its translation's: what search finds;
    a labelled cue's text starts with its speaker ("Speaker 2: ..."), which the result line shows."""
    return [(cue.start, (f"{cue.speaker}: " if cue.speaker else "") + " ".join(cue.lines))
            for track_cues in said.values() for cue in track_cues]


def previous_shards(s3: Any, bucket: str, folder: str) -> list[str]:
    """The shards the video's doc named when it was last published: read before the doc is rewritten."""
    doc = objects.read_json(s3, bucket, folder + search_index.DOC) or {}
    return list(doc.get("shards", []))


def put_doc(s3: Any, bucket: str, folder: str, video_id: str, found: list[tuple[float, str]]) -> str:
    """The video's cues, which a search shows the matching line from, and the shards it is in; the key."""
    doc = {"cues": found, "shards": sorted(search_index.postings(video_id, found))}
    return objects.put(s3, bucket, folder + search_index.DOC, search_index.dumps(doc), mutable=True)


def put_words(s3: Any, settings: Settings, item: dict[str, Any], found: list[tuple[float, str]],
              previous: list[str]) -> list[str]:
    """This video's words into the search shards (its earlier ones out first), and its entry into the index.

    Returns the keys of this video's shards and of the index: the same on a republish of the same video.
    """
    root, video_id = settings.site_prefix, item["video_id"]
    new = search_index.postings(video_id, found)

    def update(name: str) -> str | None:
        key = f"{root}{search_index.SHARDS}{name}.json"
        current = objects.read_json(s3, settings.bucket, key) or {}
        shard = search_index.merged(current, video_id, new.get(name, {}))
        if not shard:
            s3.delete_object(Bucket=settings.bucket, Key=key)
            return None
        if shard != current:
            objects.put(s3, settings.bucket, key, search_index.dumps(shard), mutable=True)
        return key if name in new else None  # this video's shards, whether or not they changed

    with ThreadPoolExecutor(max_workers=objects.THREADS) as pool:
        written = [key for key in pool.map(update, sorted(set(new) | set(previous))) if key]
    index_key = root + search_index.INDEX
    index = objects.read_json(s3, settings.bucket, index_key) or {"videos": {}}
    index["videos"][video_id] = site_index.entry(settings, item)
    return [*written, objects.put(s3, settings.bucket, index_key, search_index.dumps(index), mutable=True)]
