"""transcode: any input ffmpeg reads to a web MP4 downscale ladder, decoded once.

One ffmpeg process decodes the source once and splits the picture into every
rung, so the ladder costs one decode plus the encodes. Keyframes are forced at a
fixed interval in every rung so that renditions stay segment-aligned for
adaptive streaming and long videos can be cut into clips without re-encoding. The audio is encoded once,
brought to a loudness target on the way (loudness.py), and every rung carries it.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import get_args

from video_contract.manifests import Rendition, TranscodeManifest
from video_worker import ffmpeg, loudness, probe
from video_worker.settings import (
    RANGE_LU,
    TARGET_LUFS,
    TRUE_PEAK_DBTP,
    X264Preset,
    between,
    ladder_rungs,
    positive,
    worker_settings,
)

log = logging.getLogger(__name__)

# Peak video bitrate per rung (short side), so a rendition fits the bandwidth it is meant for.
MAXRATE_KBPS = {2160: 16000, 1440: 9000, 1080: 6000, 720: 3500, 480: 1800, 360: 1000, 240: 600}
MAX_FPS = 60
# 8-bit 4:2:0 in limited ("tv") range, what every player expects. ffmpeg 5.1 converted a full-range source
# (MJPEG cameras' yuvj) to it from -pix_fmt alone; 7.0 and later keep the source's range unless it is named.
WEB_PICTURE = ("-pix_fmt", "yuv420p", "-color_range", "tv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config = worker_settings()
    parser.add_argument("--ladder", type=parse_ladder, default=config.ladder,
                        help="rungs as short-side pixels, never above the source (env VIDEO_WORKER_LADDER)")
    parser.add_argument("--crf", type=int, default=config.crf,
                        help="x264 constant rate factor (env VIDEO_WORKER_CRF)")
    parser.add_argument("--preset", choices=get_args(X264Preset), default=config.preset,
                        help="x264 preset (env VIDEO_WORKER_PRESET)")
    parser.add_argument("--audio-bitrate", default=config.audio_bitrate,
                        help="AAC bitrate (env VIDEO_WORKER_AUDIO_BITRATE)")
    parser.add_argument("--keyframe-interval", type=positive(float), default=config.keyframe_interval_s,
                        help="seconds between forced keyframes (env VIDEO_WORKER_KEYFRAME_INTERVAL_S)")
    parser.add_argument("--split-over", type=float, default=config.split_over_s,
                        help="cut videos longer than this many seconds into clips; 0 disables "
                             "(env VIDEO_WORKER_SPLIT_OVER_S)")
    parser.add_argument("--clip-length", type=float, default=config.clip_length_s,
                        help="clip length in seconds (env VIDEO_WORKER_CLIP_LENGTH_S)")
    parser.add_argument("--normalize-loudness", action=argparse.BooleanOptionalAction,
                        default=config.loudness_normalize,
                        help="bring the audio to the loudness target, two-pass (env VIDEO_WORKER_LOUDNESS_NORMALIZE)")
    parser.add_argument("--loudness-target", type=between(*TARGET_LUFS), default=config.loudness_target_lufs,
                        metavar="LUFS", help="integrated loudness target (env VIDEO_WORKER_LOUDNESS_TARGET_LUFS)")
    parser.add_argument("--true-peak", type=between(*TRUE_PEAK_DBTP), default=config.loudness_true_peak_dbtp,
                        metavar="DBTP", help="true peak ceiling (env VIDEO_WORKER_LOUDNESS_TRUE_PEAK_DBTP)")
    parser.add_argument("--loudness-range", type=between(*RANGE_LU), default=config.loudness_range_lu,
                        metavar="LU", help="loudness range target; a wider source keeps its own "
                                           "(env VIDEO_WORKER_LOUDNESS_RANGE_LU)")


def run(args: argparse.Namespace, *, source: Path, out: Path, workdir: Path) -> TranscodeManifest:
    meta = probe.inspect(source)
    video = meta["video"]
    sizes = ladder_sizes(video["display_width"], video["display_height"], args.ladder)
    has_audio = meta["audio"] is not None

    (out / "renditions").mkdir()
    outputs = [out / "renditions" / f"{rung}p.mp4" for rung, _, _ in sizes]
    pictures = [workdir / f"{rung}p.video.mp4" for rung, _, _ in sizes]
    audio = workdir / "audio.m4a" if has_audio else None
    level = None
    if has_audio and args.normalize_loudness:
        target = loudness.Target(lufs=args.loudness_target, true_peak_dbtp=args.true_peak,
                                 range_lu=args.loudness_range)
        level = loudness.plan(source, target, sample_rate=meta["audio"]["sample_rate"])
    audio_filter = level.audio_filter if level else None
    command = _ladder_command(source, sizes, pictures, audio, args, video["fps"], audio_filter)
    report = ffmpeg.run_for_log(command) if audio_filter else None  # loudnorm reports what it did in the log
    if report is None:
        ffmpeg.run(command)
    levelled = level.result(report) if level else None
    if levelled:
        log.info("loudness: %s LUFS in, %s LUFS out (%s)", levelled.input_lufs, levelled.output_lufs,
                 levelled.method or levelled.skipped)
    for picture, path in zip(pictures, outputs):
        sound: list[str | Path] = ["-i", audio, "-map", "1:a"] if audio else []
        ffmpeg.run(["-i", picture, *sound, "-map", "0:v", "-c", "copy", "-movflags", "+faststart", path])

    renditions = [_describe(path, out, rung) for (rung, _, _), path in zip(sizes, outputs)]
    clips: list[Path] = []
    if args.split_over > 0 and meta["duration_s"] > args.split_over:
        clips = split_clips(outputs[0], out / "clips", args.clip_length)
    return TranscodeManifest(
        duration_s=meta["duration_s"],
        source_width=video["display_width"],
        source_height=video["display_height"],
        renditions=renditions,
        top=renditions[0].file,
        clips=[p.relative_to(out).as_posix() for p in clips],
        has_audio=has_audio,
        keyframe_interval_s=args.keyframe_interval,
        loudness=levelled,
    )


def parse_ladder(text: str) -> list[int]:
    """An argparse type: ``ladder_rungs``, its complaint as the option's."""
    try:
        return ladder_rungs(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def ladder_sizes(width: int, height: int, rungs: list[int]) -> list[tuple[int, int, int]]:
    """(rung, width, height) for each rung at or below the source's short side, largest first.

    A source smaller than every rung gets one rendition at its own size.
    """
    short = min(width, height)
    chosen = [r for r in rungs if r <= short] or [short - short % 2]
    sizes = []
    for rung in chosen:
        if width >= height:
            w, h = _even(width * rung / height), rung
        else:
            w, h = rung, _even(height * rung / width)
        sizes.append((rung, w, h))
    return sizes


def maxrate_kbps(rung: int) -> int:
    """The rung's peak video bitrate: the table's, or 1080p's scaled by area for a rung it lacks."""
    return MAXRATE_KBPS.get(rung) or int(6000 * (rung / 1080) ** 2)


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def _ladder_command(
    source: Path, sizes: list[tuple[int, int, int]], pictures: list[Path], audio: Path | None,
    args: argparse.Namespace, fps: float | None, audio_filter: str | None,
) -> list[str | Path]:
    """One decode, every rung's picture, and the audio filtered and encoded once (the rungs share it)."""
    fps_filter = f"fps={MAX_FPS}," if fps and fps > MAX_FPS else ""
    labels = [f"s{i}" for i in range(len(sizes))]
    graph = [f"[0:v:0]{fps_filter}split={len(sizes)}" + "".join(f"[{x}]" for x in labels)]
    graph += [f"[{x}]scale={w}:{h}:flags=bicubic,setsar=1[v{i}]"
              for i, (x, (_, w, h)) in enumerate(zip(labels, sizes))]
    cmd: list[str | Path] = ["-i", source, "-filter_complex", ";".join(graph)]
    for i, ((rung, _, _), path) in enumerate(zip(sizes, pictures)):
        maxrate = maxrate_kbps(rung)
        cmd += [
            "-map", f"[v{i}]", "-c:v", "libx264", "-preset", args.preset, "-crf", str(args.crf),
            "-maxrate", f"{maxrate}k", "-bufsize", f"{2 * maxrate}k",
            "-profile:v", "high", *WEB_PICTURE,
            "-force_key_frames", f"expr:gte(t,n_forced*{args.keyframe_interval})",
            "-map_metadata", "-1", path,
        ]
    if audio:
        filtered = ["-af", audio_filter] if audio_filter else []
        cmd += ["-map", "0:a:0", *filtered, "-c:a", "aac", "-b:a", args.audio_bitrate, "-ac", "2",
                "-map_metadata", "-1", audio]
    return cmd


def _describe(path: Path, out: Path, rung: int) -> Rendition:
    info = ffmpeg.ffprobe_json(path)
    v = next(s for s in info["streams"] if s["codec_type"] == "video")
    return Rendition(
        name=f"{rung}p",
        file=path.relative_to(out).as_posix(),
        width=v["width"],
        height=v["height"],
        video_codec=v["codec_name"],
        bit_rate=int(info["format"].get("bit_rate") or 0),
        size_bytes=path.stat().st_size,
    )


def split_clips(video: Path, clip_dir: Path, clip_length: float) -> list[Path]:
    """Cut at the forced keyframes with stream copy: clips cost no re-encode."""
    clip_dir.mkdir()
    ffmpeg.run([
        "-i", video, "-map", "0", "-c", "copy", "-f", "segment",
        "-segment_time", f"{clip_length}", "-reset_timestamps", "1",
        "-segment_format_options", "movflags=+faststart",
        clip_dir / "clip_%03d.mp4",
    ])
    return sorted(clip_dir.glob("clip_*.mp4"))
