"""burn: the aggregated video with subtitles burned in, plus a soft-subtitle variant.

The burned variant plays everywhere (no player support needed) and carries the
first track given, the speech's own language; the soft variant keeps the picture
untouched and carries every track (the transcript and its English translation)
as selectable mov_text tracks, each tagged with its language.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path
from typing import get_args

from video_contract.manifests import BurnManifest
from video_worker import ffmpeg, languages, probe, transcode
from video_worker.settings import X264Preset, worker_settings
from video_worker.storage import Location

log = logging.getLogger(__name__)

# The tracks are files we wrote (transcribe, captions), in one of these formats.
SUBTITLE_FORMATS = ("srt", "webvtt")
# White text with a dark outline reads on any picture; libass falls back to any font it finds.
# Sizes are in libass's 288-line script space, so they scale with the video's height.
STYLE = ("FontName=DejaVu Sans,FontSize=16,PrimaryColour=&H00FFFFFF,OutlineColour=&H80000000,"
         "BorderStyle=1,Outline=2,Shadow=0,MarginV=24")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subtitles", action="append", required=True, metavar="LANG=URI",
                        help="a subtitle file (.srt or .vtt, s3://bucket/key or a path) and its language, e.g. "
                             "fr=subtitles.vtt; repeatable: the first is burned in, all go on the soft variant")
    config = worker_settings()
    parser.add_argument("--crf", type=int, default=config.crf,
                        help="x264 constant rate factor (env VIDEO_WORKER_CRF)")
    parser.add_argument("--preset", choices=get_args(X264Preset), default=config.preset,
                        help="x264 preset (env VIDEO_WORKER_PRESET)")


def run(args: argparse.Namespace, *, source: Path, out: Path, workdir: Path) -> BurnManifest:
    meta = probe.inspect(source)
    tracks = []
    for n, spec in enumerate(args.subtitles):
        language, uri = languages.parse_track(spec)
        # libass reads the file by name inside a filter graph; a fixed local name needs no escaping.
        downloaded = Location(uri).download(workdir / f"track-{n}")
        local = workdir / f"subs-{n}{downloaded.suffix.lower() or '.srt'}"
        shutil.copyfile(downloaded, local)
        tracks.append((language, local))
    burn_language, subs = tracks[0]
    has_cues = "-->" in subs.read_text(encoding="utf-8", errors="replace")
    burned, soft = out / "burned.mp4", out / "soft.mp4"
    audio = ["-map", "0:a:0?", "-c:a", "copy"]

    if has_cues:
        ffmpeg.run(
            ["-i", source, "-map", "0:v:0", *audio,
             "-vf", f"subtitles={subs.name}:force_style='{STYLE}'",
             "-c:v", "libx264", "-preset", args.preset, "-crf", str(args.crf),
             *transcode.WEB_PICTURE, "-movflags", "+faststart", burned.resolve()],
            cwd=workdir,
        )
        inputs: list[str | Path] = []
        maps: list[str] = []
        for n, (language, path) in enumerate(tracks):
            inputs += [*ffmpeg.allow_lists(SUBTITLE_FORMATS), "-i", path]
            maps += ["-map", f"{n + 1}:s:0", f"-metadata:s:s:{n}", f"language={languages.alpha3(language)}",
                     f"-metadata:s:s:{n}", f"handler_name={languages.name(language)}"]
        ffmpeg.run(["-i", source, *inputs, "-map", "0:v:0", *audio, *maps, "-c:v", "copy", "-c:s", "mov_text",
                    "-movflags", "+faststart", soft])
    else:
        log.info("no subtitle cues: both variants are the source, stream-copied")
        for target in (burned, soft):
            ffmpeg.run(["-i", source, "-map", "0:v:0", *audio, "-c:v", "copy",
                        "-movflags", "+faststart", target])
    return BurnManifest(
        burned=burned.name,
        soft=soft.name,
        subtitles_burned=has_cues,
        burned_language=burn_language if has_cues else None,
        soft_languages=[language for language, _ in tracks] if has_cues else [],
        duration_s=meta["duration_s"],
        size_bytes={"burned": burned.stat().st_size, "soft": soft.stat().st_size},
    )
