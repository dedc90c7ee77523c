"""chapters: the video cut into shots, the shots grouped into chapters, a WebVTT chapters track.

``--source`` is a ladder rendition (the smallest: decoding is the whole cost, and a cut shows at any
size); ``--cues`` is the transcript's cues.json, whose pauses and sentence ends place the chapter
boundaries among the cuts and whose first words title each chapter (shots.py, chaptering.py). Without
speech, the chapters are "Chapter 1", "Chapter 2", ...
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from video_contract.manifests import ChaptersManifest, Cue, read_cues
from video_worker import chaptering, probe, settings, shots, subtitles
from video_worker.errors import UsageError
from video_worker.storage import Location

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config = settings.worker_settings()
    parser.add_argument("--cues", metavar="URI",
                        help="the transcript's cues.json (s3://bucket/key or a path); without it, numbered chapters")
    parser.add_argument("--shot-threshold", type=settings.positive(float), default=config.shot_threshold,
                        help="scene-change score (scdet, 0-100) that a cut reaches (env VIDEO_WORKER_SHOT_THRESHOLD)")
    parser.add_argument("--min-chapter-seconds", type=settings.positive(float), default=config.min_chapter_s,
                        help="shortest chapter; longer on a long video, so that there are about "
                             f"{chaptering.MAX_CHAPTERS} (env VIDEO_WORKER_MIN_CHAPTER_S)")


def _cues(uri: str | None, workdir: Path) -> list[Cue]:
    if uri is None:
        return []
    try:
        return read_cues(json.loads(Location(uri).download(workdir / "cues").read_text(encoding="utf-8")))
    except ValueError as exc:  # not JSON, or a ManifestError naming the cue
        raise UsageError(f"--cues {uri} is not a cues.json: {exc}") from exc


def run(args: argparse.Namespace, *, source: Path, out: Path, workdir: Path) -> ChaptersManifest:
    meta = probe.inspect(source)
    cues = _cues(args.cues, workdir)
    cuts = shots.cuts(shots.scores(source, workdir=workdir), threshold=args.shot_threshold)
    found = chaptering.chapters(duration_s=meta["duration_s"], cuts=cuts, cues=cues,
                                min_chapter_s=args.min_chapter_seconds)
    track = [subtitles.Cue(c.start_s, c.end_s, (c.title,)) for c in found]
    (out / ChaptersManifest.VTT).write_text(subtitles.to_vtt(track), encoding="utf-8")
    log.info("%d shots in %d chapters", len(cuts) + 1, len(found))
    return ChaptersManifest(duration_s=meta["duration_s"], cuts=cuts, shot_threshold=args.shot_threshold,
                            chapters=found, vtt=ChaptersManifest.VTT)
