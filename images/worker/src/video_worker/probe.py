"""probe: read a video's metadata and reject inputs that can never work.

Every rejection is an ``InputError`` with a sentence a person understands, so the
orchestrator can fail fast without retries and record why.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from video_worker import ffmpeg, settings
from video_worker.errors import InputError

log = logging.getLogger(__name__)

WEBM_VIDEO_CODECS = {"vp8", "vp9", "av1"}
WEBM_AUDIO_CODECS = {"vorbis", "opus"}


@dataclass(frozen=True)
class Limits:
    max_duration_s: float
    max_long_side: int
    max_short_side: int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-duration", type=float, default=float(settings.get("MAX_DURATION_S")),
                        help="longest accepted video in seconds (env VIDEO_WORKER_MAX_DURATION_S)")
    parser.add_argument("--max-long-side", type=int, default=int(settings.get("MAX_LONG_SIDE")),
                        help="largest accepted long side in pixels (env VIDEO_WORKER_MAX_LONG_SIDE)")
    parser.add_argument("--max-short-side", type=int, default=int(settings.get("MAX_SHORT_SIDE")),
                        help="largest accepted short side in pixels (env VIDEO_WORKER_MAX_SHORT_SIDE)")


def run(args: argparse.Namespace, *, source: Path, out: Path, workdir: Path) -> dict[str, Any]:
    meta = inspect(source, Limits(args.max_duration, args.max_long_side, args.max_short_side))
    (out / "metadata.json").write_text(json.dumps(meta, indent=2))
    video, audio = meta["video"], meta["audio"]
    return {
        "duration_s": meta["duration_s"],
        "width": video["display_width"],
        "height": video["display_height"],
        "fps": video["fps"],
        "video_codec": video["codec"],
        "audio_codec": audio["codec"] if audio else None,
        "has_audio": audio is not None,
        "metadata": meta,
    }


def inspect(path: Path, limits: Limits | None = None) -> dict[str, Any]:
    """Metadata of a readable video; ``InputError`` for anything unusable."""
    size = path.stat().st_size
    if size == 0:
        raise InputError("The file is empty (0 bytes).")
    try:
        info = ffmpeg.ffprobe_json(path)
    except ffmpeg.FFmpegError as exc:
        raise InputError(_unreadable_reason(path, exc.stderr_tail)) from exc

    fmt = info.get("format", {})
    streams = info.get("streams", [])
    video_stream = next(
        (s for s in streams if s.get("codec_type") == "video"
         and not s.get("disposition", {}).get("attached_pic")),
        None,
    )
    audio_stream = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video_stream is None:
        kind = "audio only" if audio_stream else "no audio or video"
        raise InputError(f"The file has no video stream ({kind}); a video is required.")
    if video_stream.get("codec_name") in {None, "ansi", "bintext", "xbin", "idf"}:
        raise InputError("The file is not a video ffmpeg can read (unrecognised or corrupt data).")

    _check_webm_codecs(path, video_stream, audio_stream)

    duration = _float(fmt.get("duration")) or _float(video_stream.get("duration"))
    if not duration or duration <= 0:
        raise InputError("The video has no duration; it is probably truncated or corrupt.")

    video = _video_fields(video_stream)
    meta = {
        "container": fmt.get("format_name"),
        "container_long_name": fmt.get("format_long_name"),
        "duration_s": round(duration, 3),
        "size_bytes": size,
        "bit_rate": _int(fmt.get("bit_rate")),
        "video": video,
        "audio": _audio_fields(audio_stream) if audio_stream else None,
    }
    if limits is not None:
        _check_limits(meta, limits)
    _check_decodes(path, duration)
    return meta


def _unreadable_reason(path: Path, stderr: str) -> str:
    with path.open("rb") as fh:
        head = fh.read(12)
    if "moov atom not found" in stderr and head[4:8] == b"ftyp":
        return "The MP4 file is truncated or incomplete: its index (moov atom) is missing."
    return "The file is not a video ffmpeg can read (unrecognised or corrupt data)."


def _check_webm_codecs(path: Path, video: dict, audio: dict | None) -> None:
    """WebM allows only VP8/VP9/AV1 and Vorbis/Opus; browsers refuse anything else."""
    if _ebml_doctype(path) != "webm":
        return
    vcodec = video.get("codec_name")
    if vcodec not in WEBM_VIDEO_CODECS:
        raise InputError(
            f"The file is declared WebM but carries {vcodec.upper()} video; WebM allows only "
            "VP8, VP9 or AV1 video. Re-export it as MP4 or MKV, or as WebM with VP9."
        )
    if audio and audio.get("codec_name") not in WEBM_AUDIO_CODECS:
        raise InputError(
            f"The file is declared WebM but carries {audio.get('codec_name')} audio; WebM allows "
            "only Vorbis or Opus audio."
        )


def _ebml_doctype(path: Path) -> str | None:
    """The DocType of a Matroska/WebM file ("matroska" or "webm"), else None."""
    with path.open("rb") as fh:
        head = fh.read(64)
    if not head.startswith(b"\x1a\x45\xdf\xa3"):
        return None
    i = head.find(b"\x42\x82")
    if i < 0 or i + 3 >= len(head) or not head[i + 2] & 0x80:
        return None
    length = head[i + 2] & 0x7F
    return head[i + 3 : i + 3 + length].decode("ascii", "replace")


def _video_fields(s: dict) -> dict[str, Any]:
    width, height = int(s.get("width") or 0), int(s.get("height") or 0)
    if width <= 0 or height <= 0:
        raise InputError("The video stream has no picture size; the file is corrupt.")
    sar = _ratio(s.get("sample_aspect_ratio")) or Fraction(1)
    display_w, display_h = round(width * sar) // 2 * 2 or width, height
    rotation = _rotation(s)
    if rotation % 180:
        display_w, display_h = display_h, display_w
    fps = _ratio(s.get("avg_frame_rate")) or _ratio(s.get("r_frame_rate"))
    return {
        "codec": s.get("codec_name"),
        "profile": s.get("profile"),
        "width": width,
        "height": height,
        "display_width": display_w,
        "display_height": display_h,
        "rotation": rotation,
        "fps": round(float(fps), 3) if fps else None,
        "pix_fmt": s.get("pix_fmt"),
        "bit_rate": _int(s.get("bit_rate")),
    }


def _audio_fields(s: dict) -> dict[str, Any]:
    return {
        "codec": s.get("codec_name"),
        "channels": _int(s.get("channels")),
        "channel_layout": s.get("channel_layout"),
        "sample_rate": _int(s.get("sample_rate")),
        "bit_rate": _int(s.get("bit_rate")),
    }


def _rotation(s: dict) -> int:
    """Clockwise display rotation in degrees (0, 90, 180, 270)."""
    for side in s.get("side_data_list", []):
        if "rotation" in side:
            return int(-float(side["rotation"])) % 360
    return int(_float(s.get("tags", {}).get("rotate")) or 0) % 360


def _check_limits(meta: dict, limits: Limits) -> None:
    if meta["duration_s"] > limits.max_duration_s:
        raise InputError(
            f"The video is {meta['duration_s']:.0f} s long, over the limit of "
            f"{limits.max_duration_s:.0f} s."
        )
    w, h = meta["video"]["display_width"], meta["video"]["display_height"]
    if max(w, h) > limits.max_long_side or min(w, h) > limits.max_short_side:
        raise InputError(
            f"The video is {w}x{h}, larger than the limit of "
            f"{limits.max_long_side}x{limits.max_short_side}."
        )


def _check_decodes(path: Path, duration: float) -> None:
    """Decode one frame at the start and one near the end: catches truncated and undecodable files."""
    points = [0.0] if duration < 2 else [0.0, max(0.0, duration - 1.0)]
    for t in points:
        try:
            frame = ffmpeg.run(
                ["-ss", f"{t:.3f}", "-i", path, "-map", "0:v:0", "-frames:v", "1",
                 "-vf", "scale=8:8", "-pix_fmt", "gray", "-f", "rawvideo", "-"],
                capture_stdout=True,
            )
        except ffmpeg.FFmpegError as exc:
            raise InputError(
                f"The video cannot be decoded at {t:.1f} s; the file is corrupt or truncated."
            ) from exc
        if len(frame) < 64:
            where = "start" if t == 0 else f"{t:.1f} s"
            raise InputError(
                f"The video has no decodable picture at {where}; the file is truncated or corrupt."
            )


def _ratio(value: str | None) -> Fraction | None:
    try:
        r = Fraction(str(value).replace(":", "/"))
    except (ValueError, ZeroDivisionError):
        return None
    return r if r > 0 else None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

