"""burn: the aggregated video with subtitles burned in, plus a soft-subtitle variant.

The burned variant plays everywhere (no player support needed); the soft variant
keeps the picture untouched and carries the subtitles as a selectable mov_text track.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path
from typing import Any

from video_worker import ffmpeg, probe, settings
from video_worker.storage import Location

log = logging.getLogger(__name__)

# White text with a dark outline reads on any picture; libass falls back to any font it finds.
# Sizes are in libass's 288-line script space, so they scale with the video's height.
STYLE = ("FontName=DejaVu Sans,FontSize=16,PrimaryColour=&H00FFFFFF,OutlineColour=&H80000000,"
         "BorderStyle=1,Outline=2,Shadow=0,MarginV=24")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subtitles", required=True,
                        help="subtitle file (.srt or .vtt): s3://bucket/key or a path")
    parser.add_argument("--language", default="",
                        help="ISO 639 code of the subtitles, stored on the soft track (e.g. en, fr)")
    parser.add_argument("--crf", type=int, default=int(settings.get("CRF")),
                        help="x264 constant rate factor (env VIDEO_WORKER_CRF)")
    parser.add_argument("--preset", default=settings.get("PRESET"),
                        help="x264 preset (env VIDEO_WORKER_PRESET)")


def run(args: argparse.Namespace, *, source: Path, out: Path, workdir: Path) -> dict[str, Any]:
    meta = probe.inspect(source)
    subs_src = Location(args.subtitles).download(workdir)
    # libass reads the file by name inside a filter graph; a fixed local name needs no escaping.
    subs = workdir / f"subs{subs_src.suffix.lower() or '.srt'}"
    shutil.copyfile(subs_src, subs)
    has_cues = "-->" in subs.read_text(encoding="utf-8", errors="replace")
    burned, soft = out / "burned.mp4", out / "soft.mp4"
    audio = ["-map", "0:a:0?", "-c:a", "copy"]

    if has_cues:
        ffmpeg.run(
            ["-i", source, "-map", "0:v:0", *audio,
             "-vf", f"subtitles={subs.name}:force_style='{STYLE}'",
             "-c:v", "libx264", "-preset", args.preset, "-crf", str(args.crf),
             "-pix_fmt", "yuv420p", "-movflags", "+faststart", burned.resolve()],
            cwd=workdir,
        )
        language = _iso639_2(args.language)
        ffmpeg.run(
            ["-i", source, "-i", subs, "-map", "0:v:0", *audio, "-map", "1:s:0",
             "-c:v", "copy", "-c:s", "mov_text",
             "-metadata:s:s:0", f"language={language}", "-metadata:s:s:0", "title=Subtitles",
             "-movflags", "+faststart", soft],
        )
    else:
        log.info("no subtitle cues: both variants are the source, stream-copied")
        for target in (burned, soft):
            ffmpeg.run(["-i", source, "-map", "0:v:0", *audio, "-c:v", "copy",
                        "-movflags", "+faststart", target])
    return {
        "burned": "burned.mp4",
        "soft": "soft.mp4",
        "subtitles_burned": has_cues,
        "duration_s": meta["duration_s"],
        "size_bytes": {"burned": burned.stat().st_size, "soft": soft.stat().st_size},
    }


ISO639_2 = {"en": "eng", "fr": "fra", "es": "spa", "de": "deu", "it": "ita", "pt": "por",
            "nl": "nld", "ru": "rus", "zh": "zho", "ja": "jpn", "ko": "kor", "ar": "ara",
            "hi": "hin", "pl": "pol", "sv": "swe", "tr": "tur", "uk": "ukr"}


def _iso639_2(code: str) -> str:
    """MP4 stores three-letter language codes; Whisper reports two-letter ones."""
    code = (code or "").strip().lower()
    return ISO639_2.get(code, code if len(code) == 3 else "und")
