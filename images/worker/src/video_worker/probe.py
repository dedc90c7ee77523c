"""probe: read a video's metadata and reject inputs that can never work.

Every rejection is an ``InputError`` with a sentence a person understands, so the
orchestrator can fail fast without retries and record why.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from video_contract.manifests import ProbeManifest
from video_worker import ffmpeg, sniff
from video_worker.errors import InputError
from video_worker.settings import worker_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    max_duration_s: float
    max_long_side: int
    max_short_side: int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config = worker_settings()
    parser.add_argument("--max-duration", type=float, default=config.max_duration_s,
                        help="longest accepted video in seconds (env VIDEO_WORKER_MAX_DURATION_S)")
    parser.add_argument("--max-long-side", type=int, default=config.max_long_side,
                        help="largest accepted long side in pixels (env VIDEO_WORKER_MAX_LONG_SIDE)")
    parser.add_argument("--max-short-side", type=int, default=config.max_short_side,
                        help="largest accepted short side in pixels (env VIDEO_WORKER_MAX_SHORT_SIDE)")


def run(args: argparse.Namespace, *, source: Path, out: Path, workdir: Path) -> ProbeManifest:
    meta = inspect(source, Limits(args.max_duration, args.max_long_side, args.max_short_side))
    (out / ProbeManifest.METADATA).write_text(json.dumps(meta, indent=2))
    video, audio = meta["video"], meta["audio"]
    return ProbeManifest(
        duration_s=meta["duration_s"],
        width=video["display_width"],
        height=video["display_height"],
        fps=video["fps"],
        video_codec=video["codec"],
        audio_codec=audio["codec"] if audio else None,
        has_audio=audio is not None,
        metadata=meta,
    )


def inspect(path: Path, limits: Limits | None = None) -> dict[str, Any]:
    """Metadata of a readable video; ``InputError`` for anything unusable.

    Text, documents and archives are refused before ffmpeg sees them, naming what they are; an HLS
    playlist or a concat script named ``.mp4`` that hides from the sniffer is refused by ffmpeg's
    demuxer allow-list (ffmpeg.MEDIA_FORMATS), so the files it names are never opened.
    """
    size = path.stat().st_size
    if size == 0:
        raise InputError("The file is empty (0 bytes).")
    what = sniff.identify(path)
    if what.kind in ("text", "document"):
        raise InputError(f"The file is {what.name}, not a video.")
    try:
        info = ffmpeg.ffprobe_json(path)
    except ffmpeg.FFmpegError as exc:
        raise InputError(_unreadable_reason(path, what, exc.refused_format)) from exc

    fmt = info.get("format", {})
    streams = info.get("streams", [])
    video_stream = next(
        (s for s in streams if s.get("codec_type") == "video"
         and not s.get("disposition", {}).get("attached_pic")),
        None,
    )
    audio_stream = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video_stream is not None and _is_still_image(path, fmt, video_stream, what):
        name = what.name if what.kind == "image" else str(video_stream.get("codec_name")).upper()
        raise InputError(f"The file is a still image ({name}), not a video.")
    if video_stream is None:
        raise InputError(_no_video_reason(fmt, streams, audio_stream, what))
    if video_stream.get("codec_name") in {None, "ansi", "bintext", "xbin", "idf", "tty"}:
        raise InputError("The file is not a video ffmpeg can read (unrecognised or corrupt data).")

    duration = _float(fmt.get("duration")) or _float(video_stream.get("duration"))
    video_end = _video_end(fmt, video_stream)
    duration_source = "header"
    if duration and duration > 0:
        duration = _without_start_offset(duration, fmt, streams)
    if not duration or duration <= 0:
        # Live-written files (browser MediaRecorder WebM, streams) carry no duration in their
        # header: the packets' timestamps give it, without decoding.
        packets = _scan_packets(path)
        if packets is None:
            raise InputError(_cut_reason(path, what, "The file has no video frames"))
        duration, video_end, duration_source = packets.span, packets.video_end, "packets"

    video = _video_fields(video_stream)
    meta = {
        "container": fmt.get("format_name"),
        "container_long_name": fmt.get("format_long_name"),
        "duration_s": round(duration, 3),
        "duration_source": duration_source,
        "size_bytes": size,
        "bit_rate": _int(fmt.get("bit_rate")),
        "video": video,
        "audio": _audio_fields(audio_stream) if audio_stream else None,
    }
    if limits is not None:
        _check_limits(meta, limits)
    packets = _check_decodes(path, what, video_stream, video_end or duration, duration)
    if packets is not None and abs(packets.span - duration) > _tolerance(duration):
        # The header counts from 0 while the timestamps start later (an MP4 edit list, a
        # Matroska Duration that is the last timestamp): the content is the packets' span.
        meta["duration_s"], meta["duration_source"] = round(packets.span, 3), "packets"
    return meta


# ffmpeg has no decoder for the stream: 5.1 "Decoder (codec X) not found for input stream #0:0",
# 7.0 and later "Decoding requested, but no decoder found for: X".
NO_DECODER = re.compile(r"Decoder \(codec \S+\) not found|no decoder found for")
AUDIO_CONTAINERS = {"mp3": "MP3", "flac": "FLAC", "aac": "AAC", "ac3": "AC-3", "eac3": "E-AC-3",
                    "wav": "WAV", "aiff": "AIFF", "amr": "AMR", "ogg": "Ogg", "w64": "Wave64",
                    "caf": "CAF", "wv": "WavPack", "ape": "APE", "asf": "WMA"}
CODEC_NAMES = {"mp3": "MP3", "aac": "AAC", "opus": "Opus", "vorbis": "Vorbis", "flac": "FLAC",
               "alac": "ALAC", "ac3": "AC-3", "eac3": "E-AC-3", "wmav2": "WMA"}


def _is_still_image(path: Path, fmt: dict[str, Any], video: dict[str, Any], what: sniff.Sniff) -> bool:
    """An image format, or a GIF/PNG/WebP with one frame (an animated one is a video)."""
    name = fmt.get("format_name") or ""
    if name == "image2" or name.endswith("_pipe"):
        return True
    if what.kind == "image" or name in ("gif", "apng"):
        return _frame_count(path, video) <= 1
    return False


def _frame_count(path: Path, video: dict[str, Any]) -> int:
    frames = _int(video.get("nb_frames"))
    if frames is None:
        out = ffmpeg.ffprobe_json(path, "-count_packets", "-select_streams", "v:0")
        first: dict[str, Any] = next(iter(out.get("streams", [])), {})
        frames = _int(first.get("nb_read_packets")) or 0
    return frames


def _no_video_reason(fmt: dict[str, Any], streams: list[dict[str, Any]], audio: dict[str, Any] | None,
                     what: sniff.Sniff) -> str:
    if audio is not None:
        container = AUDIO_CONTAINERS.get((fmt.get("format_name") or "").split(",")[0])
        if what.kind == "media" and (container is None or what.name in sniff.MP4_FAMILY):
            container = what.name  # M4A, MP4, Matroska, ...
        codec = audio.get("codec_name") or "unknown"
        codec = CODEC_NAMES.get(codec) or ("PCM" if codec.startswith("pcm_") else codec)
        cover = any(s.get("disposition", {}).get("attached_pic") for s in streams)
        details = ", ".join(x for x in (f"{container} file" if container else None, f"{codec} audio",
                                        "with cover art" if cover else None) if x)
        return f"The file is audio only, no video stream ({details}); a video is required."
    plural = {"subtitle": "subtitles", "attachment": "attachments"}
    kinds = sorted({plural.get(k, k) for k in (s.get("codec_type") or "unknown" for s in streams)})
    if kinds:
        return f"The file has no video or audio stream, only {' and '.join(kinds)}; a video is required."
    name = f"{what.name} file" if what.kind == "media" else "file"
    return f"The {name} has no streams at all; a video is required."


def _unreadable_reason(path: Path, what: sniff.Sniff, refused: str | None) -> str:
    """ffprobe could not open the file: name what it is, and how it is cut short.

    ``refused``: the demuxer ffmpeg chose and its allow-list refused (ffmpeg.MEDIA_FORMATS).
    """
    if what.kind == "image":
        return f"The file is a still image ({what.name}), not a video."
    if refused == "image2":
        return (f"The file is not a video: its name ({path.name!r}) makes ffmpeg read it as an image "
                "or a numbered image sequence.")
    if refused and refused.endswith("_pipe"):
        return f"The file is a still image ({refused.removesuffix('_pipe').upper()}), not a video."
    if refused:
        return ("The file is not a video ffmpeg can read (unrecognised or corrupt data). ffmpeg reads it "
                f"as {refused!r}, which is not one of the media formats this pipeline opens.")
    if what.kind == "media" and what.name in sniff.MP4_FAMILY:
        reason = sniff.mp4_truncation(path, what.name)
        if reason:
            return reason
    if what.kind == "media":
        return (f"The {what.name} file cannot be read: its header is cut short or damaged "
                f"(the file is {path.stat().st_size} bytes).")
    return "The file is not a video ffmpeg can read (unrecognised or corrupt data)."


def _cut_reason(path: Path, what: sniff.Sniff, fallback: str) -> str:
    if what.kind == "media" and what.name in sniff.MP4_FAMILY:
        reason = sniff.mp4_truncation(path, what.name)
        if reason:
            return reason
    name = f"{what.name} file" if what.kind == "media" else "file"
    return f"{fallback}: the {name} is truncated (it ends after its header) or corrupt."


def _video_fields(s: dict[str, Any]) -> dict[str, Any]:
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


def _audio_fields(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "codec": s.get("codec_name"),
        "channels": _int(s.get("channels")),
        "channel_layout": s.get("channel_layout"),
        "sample_rate": _int(s.get("sample_rate")),
        "bit_rate": _int(s.get("bit_rate")),
    }


def _rotation(s: dict[str, Any]) -> int:
    """Clockwise display rotation in degrees (0, 90, 180, 270)."""
    for side in s.get("side_data_list", []):
        if "rotation" in side:
            return int(-float(side["rotation"])) % 360
    return int(_float(s.get("tags", {}).get("rotate")) or 0) % 360


def _check_limits(meta: dict[str, Any], limits: Limits) -> None:
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


def _check_decodes(
    path: Path, what: sniff.Sniff, video: dict[str, Any], video_end: float, declared: float
) -> Packets | None:
    """Decode one frame at the start and one a second before the video's end: catches truncated
    and undecodable files. The video's own end, not the file's: audio may run on after it.

    A seek can land past the last keyframe (MPEG-TS has no index; a long GOP) or past the end
    (timestamps that start late), giving no frame from an intact file. So when the frame near
    the end is missing, the packets decide: they stop short of the declared length (truncated),
    or they are all there and the last keyframe must decode. Returns the packets when read.
    """
    name = f"{what.name} file" if what.kind == "media" else "file"
    if not _decodes_at(path, 0.0, video):
        raise InputError(_mp4_reason(path, what) or _start_reason(path, name))
    if video_end < 2 or _decodes_at(path, video_end - 1.0, video):
        return None
    reason = _mp4_reason(path, what)
    if reason:
        raise InputError(reason)
    packets = _scan_packets(path)
    if packets is None:
        raise InputError(f"The {name} is truncated: it has no video frames after its header.")
    tolerance = _tolerance(declared)
    if abs(packets.span - declared) > tolerance and abs(packets.end - declared) > tolerance:
        raise InputError(
            f"The {name} is truncated: its data stops at {packets.span:.1f} s of the "
            f"{declared:.1f} s its header declares; the upload was cut short."
        )
    if packets.last_key is not None and _decodes_at(path, packets.last_key, video):
        return packets
    where = packets.last_key if packets.last_key is not None else video_end - 1.0
    raise InputError(
        f"The video cannot be decoded at {where:.1f} s although the {name} is complete: "
        "its video data is corrupt."
    )


def _decodes_at(path: Path, t: float, video: dict[str, Any]) -> bool:
    """Whether a picture comes out after seeking to ``t`` seconds from the file's start."""
    try:
        frame = ffmpeg.run(
            ["-ss", f"{t:.3f}", "-i", path, "-map", "0:v:0", "-frames:v", "1",
             "-vf", "scale=8:8", "-pix_fmt", "gray", "-f", "rawvideo", "-"],
            capture_stdout=True,
        )
    except ffmpeg.FFmpegError as exc:
        if NO_DECODER.search(exc.stderr_tail):
            raise InputError(
                f"The video is {str(video.get('codec_name')).upper()}, which ffmpeg cannot decode."
            ) from exc
        return False
    return len(frame) >= 64


def _mp4_reason(path: Path, what: sniff.Sniff) -> str | None:
    if what.kind == "media" and what.name in sniff.MP4_FAMILY:
        return sniff.mp4_truncation(path, what.name)
    return None


def _start_reason(path: Path, name: str) -> str:
    if _scan_packets(path) is None:
        return f"The {name} is truncated: it has no video frames after its header."
    return f"The video cannot be decoded at the start although the {name} is complete: its video data is corrupt."


def _tolerance(duration: float) -> float:
    return max(0.5, 0.02 * duration)


def _without_start_offset(duration: float, fmt: dict[str, Any], streams: list[dict[str, Any]]) -> float:
    """The content's length when the header's duration counts from 0 but the timestamps start
    later (an MP4 whose edit list starts at 10 s says 12 s for 2 s of video)."""
    start = _float(fmt.get("start_time")) or 0.0
    spans = [(_float(s.get("start_time")), _float(s.get("duration"))) for s in streams]
    ends = [begin + length for begin, length in spans if begin is not None and length is not None]
    if start > _tolerance(duration) and ends and abs(max(ends) - duration) <= _tolerance(duration):
        return max(ends) - start
    return duration


def _video_end(fmt: dict[str, Any], video: dict[str, Any]) -> float | None:
    """Where the video stream ends, in seconds from the file's start, when the header says."""
    length = _float(video.get("duration"))
    if length is None:
        tags = {k.upper(): v for k, v in video.get("tags", {}).items()}
        length = _clock(tags.get("DURATION") or tags.get("DURATION-ENG"))
    if not length:
        return None
    start = _float(fmt.get("start_time")) or 0.0
    return max(0.0, (_float(video.get("start_time")) or start) - start) + length


@dataclass(frozen=True)
class Packets:
    """Timestamps of every packet, read without decoding (the demuxer only)."""

    span: float  # first timestamp to the end of the last packet, any stream
    end: float  # the end of the last packet, as a timestamp
    video_end: float  # where the video's last packet ends, from the first timestamp
    last_key: float | None  # the last video keyframe, from the first timestamp


def _scan_packets(path: Path) -> Packets | None:
    """The file's packets, or None without any video packet. Reads the whole file."""
    return _packets(_packet_lines(path))


def _packet_lines(path: Path) -> str:
    """ffprobe's line per packet, read without decoding: ``codec_type=video|pts_time=0.040000|...``."""
    return ffmpeg.run(
        ["-v", "error", "-show_entries", "packet=codec_type,pts_time,dts_time,duration_time,flags",
         "-of", "compact=p=0", path],
        tool="ffprobe", capture_stdout=True,
    ).decode("utf-8", "replace")


def _packets(out: str) -> Packets | None:
    """The packets' span, ends and last keyframe from ``_packet_lines``; None without a video packet."""
    first = end = video_end = last_key = None
    for line in out.splitlines():
        fields = dict(item.split("=", 1) for item in line.split("|") if "=" in item)
        t = _float(fields.get("pts_time"))
        if t is None:
            t = _float(fields.get("dts_time"))
        if t is None:
            continue
        stop = t + (_float(fields.get("duration_time")) or 0.0)
        first = t if first is None else min(first, t)
        end = stop if end is None else max(end, stop)
        if fields.get("codec_type") == "video":
            video_end = stop if video_end is None else max(video_end, stop)
            if "K" in fields.get("flags", ""):
                last_key = t if last_key is None else max(last_key, t)
    if video_end is None or first is None or end is None:
        return None
    return Packets(end - first, end, video_end - first, None if last_key is None else last_key - first)


def _clock(value: Any) -> float | None:
    """Seconds in a Matroska DURATION tag, "01:02:03.250000000"."""
    try:
        h, m, s = str(value).split(":")
        return _float(int(h) * 3600 + int(m) * 60 + float(s))
    except (TypeError, ValueError, OverflowError):  # OverflowError: hours with hundreds of digits
        return None


def _ratio(value: str | None) -> Fraction | None:
    try:
        r = Fraction(str(value).replace(":", "/"))
    except (ValueError, ZeroDivisionError):
        return None
    return r if r > 0 else None


def _float(value: Any) -> float | None:
    """A finite number, else None: tags are the file's own text, and "nan" or "inf" parse as floats."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

