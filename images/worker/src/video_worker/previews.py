"""previews: poster, animated GIFs, storyboard and frames for labelling.

One ffmpeg pass decodes the video once: storyboard thumbnails go to files
while every Nth frame streams to Python. There each frame is measured
(frame_quality): labelling keeps the frames that are neither black nor nearly
identical to the last one kept, the poster is the best-scored frame (sharp,
detailed, not black, blank or frozen, and showing an animal when detect found
one: ``--detections``), and the GIF snippets start where the picture moves.
The poster and the GIFs then seek straight to the moments chosen.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from video_contract.manifests import Gif, Poster, PreviewsManifest, Storyboard
from video_worker import ffmpeg, frame_quality, probe, settings
from video_worker.frame_quality import FrameStats, Subjects
from video_worker.storage import Location
from video_worker.subtitles import timestamp

log = logging.getLogger(__name__)

POSTER = "poster.jpg"
POSTER_WIDTH = 1280

GIFS = (("preview.gif", 480, 256), ("preview-small.gif", 240, 128))  # name, width, colours
GIF_FPS = 10
GIF_SNIPPETS = 5
GIF_SNIPPET_S = 0.8

VTT = "storyboard.vtt"
THUMB_WIDTH = 160
STORYBOARD_TILES = 100  # the default interval is duration / this: one sheet
MIN_STORYBOARD_INTERVAL_S = 1.0
SHEET_COLUMNS = 10
SHEET_ROWS = 10

LABELLING = "labelling"
LABEL_JPEG_QUALITY = 92

TIMES_FILE = "label-times.txt"  # relative to the scan's working directory: filter options need no escaping
THUMBS_DIR = "storyboard-thumbs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--label-every", type=settings.positive(int),
                        default=settings.worker_settings().label_every_n,
                        help="keep every Nth frame for labelling (env VIDEO_WORKER_LABEL_EVERY_N)")
    parser.add_argument("--labelling-dest", default="",
                        help="put labelling frames under this s3://bucket/prefix/ or directory "
                             "instead of DEST/labelling/")
    parser.add_argument("--storyboard-interval", type=settings.positive(float), default=None,
                        help=f"seconds between storyboard thumbnails (default: duration / {STORYBOARD_TILES},"
                             f" at least {MIN_STORYBOARD_INTERVAL_S:g} s)")
    parser.add_argument("--detections", default="",
                        help="the detect stage's detections.json (s3://bucket/key or a path): the poster "
                             "prefers a frame that shows a detected animal")


def run(args: argparse.Namespace, *, source: Path, out: Path, workdir: Path) -> PreviewsManifest:
    meta = probe.inspect(source)
    duration = meta["duration_s"]
    size = (meta["video"]["display_width"], meta["video"]["display_height"])
    interval = args.storyboard_interval or max(MIN_STORYBOARD_INTERVAL_S, duration / STORYBOARD_TILES)
    detections = Location(args.detections).download(workdir / "detect") if args.detections else None

    thumb = fit(size, THUMB_WIDTH)
    # Labelling frames go straight to their own prefix: thousands of them would swamp the manifest.
    scan = scan_frames(source, size, args.label_every, workdir / LABELLING,
                       workdir=workdir, storyboard_interval=interval, thumb=thumb)
    subjects = Subjects.load(detections)
    # Three ffmpeg runs at once: the GIFs' graph keeps about one core busy, the poster and the
    # storyboard fill the other.
    with ThreadPoolExecutor(max_workers=3) as pool:
        posting = pool.submit(make_poster, source, out / POSTER, size, scan, subjects)
        animating = pool.submit(make_gifs, source, out, duration, size, scan, subjects)
        tiling = pool.submit(make_storyboard, workdir / THUMBS_DIR, out, duration, interval, thumb)
    poster, gifs, storyboard = posting.result(), animating.result(), tiling.result()
    # Uploaded last, once nothing here can fail any more: a failed stage leaves no frames behind.
    prefix = Location(args.labelling_dest or Location(args.dest).join(f"{LABELLING}/"))
    uploaded = prefix.upload_tree(workdir / LABELLING)
    labelling = {**scan.labelling, "prefix": prefix.uri, "index": uploaded["index.json"]}

    return PreviewsManifest(
        duration_s=duration,
        width=size[0],
        height=size[1],
        poster=poster,
        gifs=gifs,
        storyboard=storyboard,
        labelling=labelling,
        sizes={p.relative_to(out).as_posix(): p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()},
    )


@dataclass(frozen=True)
class Scan:
    """What the one decode found: each streamed frame's time and measures, and the labelling summary."""

    times: list[float]
    stats: list[FrameStats]
    labelling: dict[str, Any]


def fit(size: tuple[int, int], max_width: int) -> tuple[int, int]:
    """Even dimensions at most ``max_width`` wide with the same aspect ratio, never upscaled."""
    width, height = size
    w = max(2, min(width, max_width) // 2 * 2)
    return w, max(2, round(height * w / width / 2) * 2)


def make_poster(source: Path, path: Path, size: tuple[int, int], scan: Scan, subjects: Subjects) -> Poster:
    """The best-scored scanned frame (frame_quality), extracted at poster size.

    The seek starts half a frame early: ``-ss`` keeps the first frame at or after it, the chosen one.
    A video with nothing but black or blank frames gets its first frame.
    """
    w, h = fit(size, POSTER_WIDTH)
    index, score, animal = frame_quality.choose_poster(scan.stats, scan.times, subjects)
    at = scan.times[index] if scan.times else 0.0
    ffmpeg.run(["-ss", f"{max(0.0, at - 0.02):.3f}", "-i", source, "-map", "0:v:0",
                "-vf", f"scale={w}:{h},setsar=1", "-frames:v", "1", "-q:v", "2", path])
    if not path.exists():  # the seek ran past the last frame (a stream shorter than its container says)
        ffmpeg.run(["-i", source, "-map", "0:v:0", "-vf", f"scale={w}:{h},setsar=1", "-frames:v", "1",
                    "-q:v", "2", path])
    log.info("poster at %.2f s (score %.3f%s)", at, score, f", shows a {animal}" if animal else "")
    return Poster(file=path.name, width=w, height=h, time_s=at, score=round(score, 4), animal=animal)


def make_gifs(source: Path, out: Path, duration: float, size: tuple[int, int], scan: Scan,
              subjects: Subjects) -> list[Gif]:
    """Looping teasers: a few short snippets, each starting at a good frame where the picture moves
    (frame_quality).

    Every snippet is its own ``-ss`` input, so ffmpeg decodes only what the GIFs
    show, once for both sizes; each GIF gets its own palette (palettegen and
    paletteuse), which looks far better than ffmpeg's fixed default palette.
    """
    count = max(1, min(GIF_SNIPPETS, int(duration / GIF_SNIPPET_S)))
    length = min(GIF_SNIPPET_S, duration / count)
    starts = frame_quality.motion_starts(scan.stats, scan.times, subjects, count, length, duration)
    big_w, big_h = fit(size, GIFS[0][1])
    inputs: list[str | Path] = []
    graph = []
    for i, start in enumerate(starts):
        inputs += ["-ss", f"{start:.3f}", "-t", f"{length:.3f}", "-i", source]
        graph.append(f"[{i}:v:0]fps={GIF_FPS},scale={big_w}:{big_h}:flags=lanczos,setsar=1,"
                     f"setpts=PTS-STARTPTS[c{i}]")
    count = len(starts)
    graph.append("".join(f"[c{i}]" for i in range(count)) + f"concat=n={count}:v=1:a=0,"
                 f"split={len(GIFS)}" + "".join(f"[g{i}]" for i in range(len(GIFS))))
    outputs: list[str | Path] = []
    gifs = []
    for i, (name, width, colours) in enumerate(GIFS):
        w, h = fit(size, width)
        graph.append(f"[g{i}]scale={w}:{h}:flags=lanczos,split[a{i}][b{i}];"
                     f"[a{i}]palettegen=max_colors={colours}:stats_mode=diff[p{i}];"
                     f"[b{i}][p{i}]paletteuse=dither=bayer:bayer_scale=5:diff_mode=rectangle[o{i}]")
        outputs += ["-map", f"[o{i}]", "-loop", "0", out / name]
        gifs.append(Gif(file=name, width=w, height=h, fps=GIF_FPS, snippets=count,
                        starts_s=[round(t, 3) for t in starts], seconds=round(count * length, 3)))
    ffmpeg.run([*inputs, "-filter_complex", ";".join(graph), *outputs])
    return gifs


def scan_frames(
    source: Path, size: tuple[int, int], every: int, folder: Path, *,
    workdir: Path, storyboard_interval: float, thumb: tuple[int, int],
) -> Scan:
    """Measure every Nth frame, and keep those worth labelling, named by frame number, with an index.

    A frame is dropped from labelling when it is black, or nearly identical to
    the last frame kept (a still, a pause, a static shot): neither teaches a
    model anything. The same decode writes the storyboard thumbnails to
    ``workdir/THUMBS_DIR``.
    """
    (workdir / THUMBS_DIR).mkdir()
    folder.mkdir()
    kept: list[tuple[int, str]] = []  # (index among the scanned frames, file name)
    dropped = {"black": 0, "frozen": 0}
    stats: list[FrameStats] = []
    previous: np.ndarray | None = None
    last_kept: np.ndarray | None = None
    command = _scan_command(source, size, every, storyboard_interval, thumb)
    with closing(ffmpeg.stream_frames(command, size[0] * size[1] * 3, cwd=workdir)) as frames:
        for index, raw in enumerate(frames):
            bgr = np.frombuffer(raw, np.uint8).reshape(size[1], size[0], 3)
            grey = frame_quality.analysis_copy(bgr)
            frame = frame_quality.measure(grey, previous)
            stats.append(frame)
            previous = grey
            if frame.black:
                dropped["black"] += 1
                continue
            if last_kept is not None and frame_quality.moved(grey, last_kept) < frame_quality.FROZEN_SHARE:
                dropped["frozen"] += 1
                continue
            last_kept = grey
            name = f"frame_{index * every:06d}.jpg"
            encoded, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, LABEL_JPEG_QUALITY])
            if not encoded:
                raise RuntimeError(f"OpenCV could not encode {name}")
            (folder / name).write_bytes(jpeg.tobytes())
            kept.append((index, name))

    times = _frame_times(workdir / TIMES_FILE)
    (folder / "index.json").write_text(json.dumps({
        "every_n": every,
        "kept": len(kept),
        "dropped_black": dropped["black"],
        "dropped_frozen": dropped["frozen"],
        "frames": [{"frame": i * every, "time_s": times[i], "file": name} for i, name in kept],
    }, indent=2))
    log.info("labelling: kept %d of %d frames (%d black, %d frozen)",
             len(kept), len(kept) + sum(dropped.values()), dropped["black"], dropped["frozen"])
    labelling = {"every_n": every, "kept": len(kept), **{f"dropped_{k}": v for k, v in dropped.items()}}
    return Scan(times, stats, labelling)


def _scan_command(
    source: Path, size: tuple[int, int], every: int, interval: float, thumb: tuple[int, int],
) -> list[str | Path]:
    """One decode, two outputs: every Nth frame as raw BGR (OpenCV's order) on stdout, storyboard thumbnails as files.

    ``blackframe=amount=0`` tags every frame, so ``metadata=print`` writes each
    streamed frame's timestamp to TIMES_FILE (raw video carries none).
    ``eof_action=pass`` gives the last, partial interval its thumbnail too, so
    that even a video shorter than one interval has one.
    """
    graph = (
        f"[0:v:0]split[a][b];"
        f"[a]select='not(mod(n\\,{every}))',scale={size[0]}:{size[1]},setsar=1,"
        f"blackframe=amount=0,metadata=mode=print:file={TIMES_FILE}[frames];"
        f"[b]fps=1/{interval}:eof_action=pass,scale={thumb[0]}:{thumb[1]},setsar=1[thumbs]"
    )
    return [
        "-i", source.absolute(), "-filter_complex", graph,
        "-map", "[frames]", "-fps_mode", "passthrough", "-pix_fmt", "bgr24", "-f", "rawvideo", "pipe:1",
        "-map", "[thumbs]", "-fps_mode", "passthrough", f"{THUMBS_DIR}/%06d.bmp",
    ]


def _frame_times(path: Path) -> list[float]:
    """Timestamps, in order, from ``metadata=print`` lines such as ``frame:3 pts:6144 pts_time:0.4``."""
    return [round(float(t), 3) for t in re.findall(r"pts_time:(\S+)", path.read_text())]


def make_storyboard(
    thumbs_dir: Path, out: Path, duration: float, interval: float, thumb: tuple[int, int],
) -> Storyboard:
    """Sprite sheets of the thumbnails and a WebVTT thumbnails track pointing into them.

    Players (video.js, Plyr, JW Player, ...) show the cue's tile over the seek
    bar. Cues use URLs relative to the VTT so the files work wherever they are
    served from. Sheets hold at most SHEET_COLUMNS x SHEET_ROWS tiles so that a
    long video with a short interval still makes images browsers can load.
    """
    thumbs = sorted(thumbs_dir.glob("*.bmp"))
    count = min(len(thumbs), math.ceil(duration / interval))
    for extra in thumbs[count:]:  # one tile per interval, whatever the fps filter made of the end
        extra.unlink()
    per_sheet = SHEET_COLUMNS * SHEET_ROWS
    columns = min(SHEET_COLUMNS, count)
    rows = min(SHEET_ROWS, math.ceil(count / columns))
    sheets = math.ceil(count / per_sheet)
    names = ["storyboard.jpg"] if sheets == 1 else [f"storyboard-{i:03d}.jpg" for i in range(1, sheets + 1)]
    # Our own numbered thumbnails: the one input read as an image sequence.
    ffmpeg.run(["-framerate", "1", *ffmpeg.allow_lists(["image2"]), "-i", thumbs_dir / "%06d.bmp",
                "-vf", f"tile={columns}x{rows}",
                "-q:v", "4", out / (names[0] if sheets == 1 else "storyboard-%03d.jpg")])

    w, h = thumb
    lines = ["WEBVTT", ""]
    for k in range(count):
        sheet, position = divmod(k, per_sheet)
        row, column = divmod(position, columns)
        end = duration if k == count - 1 else (k + 1) * interval
        lines += [f"{timestamp(k * interval)} --> {timestamp(end)}",
                  f"{names[sheet]}#xywh={column * w},{row * h},{w},{h}", ""]
    (out / VTT).write_text("\n".join(lines))
    return Storyboard(
        sprites=names,
        vtt=VTT,
        interval_s=interval,
        tiles=count,
        tile_width=w,
        tile_height=h,
        columns=columns,
        rows=rows,
    )

