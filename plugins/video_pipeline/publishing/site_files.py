"""Which of the work prefix's files a video's page links to, and their copy into the video's folder.

Everything the page links to is copied server-side into ``{site_prefix}videos/{video_id}/`` under
fixed names, so a rerun overwrites the same keys. Names are the worker's own, except that the video
played on the page is ``video.mp4`` (burned subtitles when burn ran, else the top rendition) and the
stream keeps package's layout under ``stream/``.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from video_contract.manifests import MANIFEST, DetectManifest, Manifest, RunManifests
from video_pipeline.publishing import objects
from video_pipeline.publishing.subtitles import tracks_of

VIDEO = "video.mp4"
SOFT = "soft.mp4"  # the video with selectable subtitles, when burn burned them into video.mp4
STREAM = "stream/"  # HLS and DASH, as the package stage laid them out


def shown(manifests: RunManifests) -> RunManifests:
    """The stages whose files and words go on the site (and in the item): all of them, but for an
    encrypted video only probe, transcode and package: its page shows the stream and nothing else.

    Its key opens only the stream, so its transcript, subtitles, detections, thumbnails, previews and
    chapters (titled with its words) would show what the key protects: they stay in the work prefix.
    """
    if not manifests.encrypted:
        return manifests
    return dataclasses.replace(manifests, transcript=None, detect=None, previews=None, burn=None, chapters=None)


def site_files(manifests: RunManifests) -> dict[str, str]:
    """Name in the video's folder -> work URI of every file the page links to (of ``shown`` manifests)."""
    transcode, transcript, burn = manifests.transcode, manifests.transcript, manifests.burn
    picks: list[tuple[Manifest, str, str]] = []  # manifest, its output's name, the name on the site
    if not manifests.encrypted:  # an encrypted video is only published encrypted
        picks.append((burn, burn.burned, VIDEO) if burn else (transcode, transcode.top, VIDEO))
        if burn and burn.subtitles_burned:
            picks.append((burn, burn.soft, SOFT))
        picks += [(transcode, r.file, r.file) for r in transcode.renditions]
    if transcript:
        subtitles = [name for track in tracks_of(transcript) for name in (track.files.vtt, track.files.srt)]
        picks += [(transcript, name, name) for name in (transcript.transcript, *subtitles)]
    if detect := manifests.detect:
        picks += [(detect, name, name) for name in (DetectManifest.DETECTIONS, *(a.thumbnail for a in detect.animals))]
    if package := manifests.package:
        picks += [(package, name, STREAM + name) for name in package.artifacts or {} if name != MANIFEST]
    if previews := manifests.previews:
        board = previews.storyboard
        names = [previews.poster.file, *(gif.file for gif in previews.gifs), *board.sprites, board.vtt]
        picks += [(previews, name, name) for name in names]
    if chapters := manifests.chapters:
        picks.append((chapters, chapters.vtt, chapters.vtt))
    return {dest: manifest.uri(name) for manifest, name, dest in picks}


def copy_all(s3: Any, files: dict[str, str], bucket: str, folder: str, work: str) -> list[str]:
    """Copy every file into ``folder``, several at once; their keys, in the order of ``files``.

    Their sizes come from one listing of the video's ``work`` prefix, where the stages wrote them: a
    CopyObject each, not a HEAD and a CopyObject (what the managed copy does to learn the size).
    """
    keys = {name: folder + name for name in files}
    size = objects.sizes(s3, work.rstrip("/") + "/")
    with ThreadPoolExecutor(max_workers=objects.THREADS) as pool:
        list(pool.map(lambda name: objects.copy(s3, files[name], bucket, keys[name], size.get(files[name])), files))
    return list(keys.values())
