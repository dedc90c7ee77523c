"""previews: poster, animated GIFs, storyboard and frames for labelling.

The poster and the GIFs seek straight to the few moments they show. The
storyboard and the labelling frames need the whole video, so one ffmpeg pass
decodes it once for both: storyboard thumbnails go to files while every Nth
frame streams to Python, which drops black frames and frames nearly identical
to the last one kept, so people labelling frames see no useless pictures.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from video_worker import ffmpeg, probe, settings
from video_worker.storage import Location
from video_worker.subtitles import timestamp

log = logging.getLogger(__name__)

POSTER = "poster.jpg"
POSTER_WIDTH = 1280
POSTER_START = 0.1  # share of the duration where the search for a poster frame starts
POSTER_WINDOW_S = 10.0
POSTER_SAMPLE_FPS = 5
POSTER_MIN_LUMA = 40  # average luma (16-235) a poster candidate needs: skips fades and black

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
ANALYSIS_WIDTH = 160  # frames are compared this small: cheap, and compression noise averages out
BLACK_LUMA = 24  # a pixel darker than this (0-255) is dark
BLACK_SHARE = 0.98  # a frame with at least this share of dark pixels is black
FROZEN_DELTA = 10  # a pixel that changed by more than this (0-255) has moved
FROZEN_SHARE = 0.005  # a frame with less than this share of moved pixels is frozen

TIMES_FILE = "label-times.txt"  # relative to the scan's working directory: filter options need no escaping
THUMBS_DIR = "storyboard-thumbs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--label-every", type=settings.positive(int), default=int(settings.get("LABEL_EVERY_N")),
                        help="keep every Nth frame for labelling (env VIDEO_WORKER_LABEL_EVERY_N)")
    parser.add_argument("--labelling-dest", default="",
                        help="put labelling frames under this s3://bucket/prefix/ or directory "
                             "instead of DEST/labelling/")
    parser.add_argument("--storyboard-interval", type=settings.positive(float), default=None,
                        help=f"seconds between storyboard thumbnails (default: duration / {STORYBOARD_TILES},"
                             f" at least {MIN_STORYBOARD_INTERVAL_S:g} s)")


def run(args: argparse.Namespace, *, source: Path, out: Path, workdir: Path) -> dict[str, Any]:
    meta = probe.inspect(source)
    duration = meta["duration_s"]
    size = (meta["video"]["display_width"], meta["video"]["display_height"])
    interval = args.storyboard_interval or max(MIN_STORYBOARD_INTERVAL_S, duration / STORYBOARD_TILES)

    poster = make_poster(source, out / POSTER, duration, size)
    gifs = make_gifs(source, out, duration, size)

    thumb = fit(size, THUMB_WIDTH)
    # Labelling frames go straight to their own prefix: thousands of them would swamp the manifest.
    labelling = label_frames(source, size, args.label_every, workdir / LABELLING,
                             workdir=workdir, storyboard_interval=interval, thumb=thumb)
    storyboard = make_storyboard(workdir / THUMBS_DIR, out, duration, interval, thumb)
    # Uploaded last, once nothing here can fail any more: a failed stage leaves no frames behind.
    prefix = Location(args.labelling_dest or Location(args.dest).join(f"{LABELLING}/"))
    uploaded = prefix.upload_tree(workdir / LABELLING)
    labelling.update(prefix=prefix.uri, index=uploaded["index.json"])

    return {
        "duration_s": duration,
        "width": size[0],
        "height": size[1],
        "poster": poster,
        "gifs": gifs,
        "storyboard": storyboard,
        "labelling": labelling,
        "sizes": {
            p.relative_to(out).as_posix(): p.stat().st_size
            for p in sorted(out.iterdir()) if p.is_file()
        },
    }


def fit(size: tuple[int, int], max_width: int) -> tuple[int, int]:
    """Even dimensions at most ``max_width`` wide with the same aspect ratio, never upscaled."""
    width, height = size
    w = max(2, min(width, max_width) // 2 * 2)
    return w, max(2, round(height * w / width / 2) * 2)


def make_poster(source: Path, path: Path, duration: float, size: tuple[int, int]) -> dict[str, Any]:
    """A representative frame from early in the video.

    ``thumbnail`` picks the frame closest to the window's average colours, which
    avoids flashes and transitions. Dark frames are left out so that a fade-in
    does not make a black poster, unless the window holds nothing else.
    """
    start = duration * POSTER_START
    window = min(POSTER_WINDOW_S, duration - start)
    w, h = fit(size, POSTER_WIDTH)
    sample = f"fps={POSTER_SAMPLE_FPS},scale={w}:{h},setsar=1"
    skip_dark = ("signalstats,metadata=mode=select:key=lavfi.signalstats.YAVG"
                 f":value={POSTER_MIN_LUMA}:function=greater")
    pick = f"thumbnail={max(2, math.ceil(window * POSTER_SAMPLE_FPS))}"  # 2 is its least
    for chain in (f"{sample},{skip_dark},{pick}", f"{sample},{pick}"):
        ffmpeg.run(["-ss", f"{start:.3f}", "-t", f"{window:.3f}", "-i", source, "-map", "0:v:0",
                    "-vf", chain, "-frames:v", "1", "-q:v", "2", path])
        if path.exists():
            break
        log.info("only dark frames %.1f-%.1f s: the poster will be dark", start, start + window)
    return {"file": path.name, "width": w, "height": h}


def make_gifs(source: Path, out: Path, duration: float, size: tuple[int, int]) -> list[dict[str, Any]]:
    """Looping teasers: a few short snippets spread evenly over the video.

    Every snippet is its own ``-ss`` input, so ffmpeg decodes only what the GIFs
    show, once for both sizes; each GIF gets its own palette (palettegen and
    paletteuse), which looks far better than ffmpeg's fixed default palette.
    """
    count = max(1, min(GIF_SNIPPETS, int(duration / GIF_SNIPPET_S)))
    length = min(GIF_SNIPPET_S, duration / count)
    big_w, big_h = fit(size, GIFS[0][1])
    inputs: list[str | Path] = []
    graph = []
    for i in range(count):
        start = (i + 0.5) * duration / count - length / 2
        inputs += ["-ss", f"{start:.3f}", "-t", f"{length:.3f}", "-i", source]
        graph.append(f"[{i}:v:0]fps={GIF_FPS},scale={big_w}:{big_h}:flags=lanczos,setsar=1,"
                     f"setpts=PTS-STARTPTS[c{i}]")
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
        gifs.append({"file": name, "width": w, "height": h, "fps": GIF_FPS,
                     "snippets": count, "seconds": round(count * length, 3)})
    ffmpeg.run([*inputs, "-filter_complex", ";".join(graph), *outputs])
    return gifs


def label_frames(
    source: Path, size: tuple[int, int], every: int, folder: Path, *,
    workdir: Path, storyboard_interval: float, thumb: tuple[int, int],
) -> dict[str, Any]:
    """Keep every Nth frame worth labelling, named by frame number, with an index.

    A frame is dropped when nearly all its pixels are dark, or when it is nearly
    identical to the last frame kept (a still, a pause, a static shot): neither
    teaches a model anything. The same decode writes the storyboard thumbnails
    to ``workdir/THUMBS_DIR``.
    """
    (workdir / THUMBS_DIR).mkdir()
    folder.mkdir()
    kept: list[tuple[int, str]] = []  # (index among the scanned frames, file name)
    dropped = {"black": 0, "frozen": 0}
    last: np.ndarray | None = None
    command = _scan_command(source, size, every, storyboard_interval, thumb)
    with closing(ffmpeg.stream_frames(command, size[0] * size[1] * 3, cwd=workdir)) as frames:
        for index, raw in enumerate(frames):
            image = Image.frombuffer("RGB", size, raw, "raw", "RGB", 0, 1)
            small = image.convert("L").resize(fit(size, ANALYSIS_WIDTH), Image.Resampling.BOX)
            pixels = np.asarray(small, dtype=np.int16)
            reason = _drop_reason(pixels, last)
            if reason:
                dropped[reason] += 1
                continue
            last = pixels
            name = f"frame_{index * every:06d}.jpg"
            image.save(folder / name, quality=LABEL_JPEG_QUALITY)
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
    return {"every_n": every, "kept": len(kept), **{f"dropped_{k}": v for k, v in dropped.items()}}


def _drop_reason(pixels: np.ndarray, last_kept: np.ndarray | None) -> str | None:
    """Why a small greyscale frame goes ("black" or "frozen"), or None to keep it."""
    if (pixels < BLACK_LUMA).mean() >= BLACK_SHARE:
        return "black"
    if last_kept is not None and (np.abs(pixels - last_kept) > FROZEN_DELTA).mean() < FROZEN_SHARE:
        return "frozen"
    return None


def _scan_command(
    source: Path, size: tuple[int, int], every: int, interval: float, thumb: tuple[int, int],
) -> list[str | Path]:
    """One decode, two outputs: every Nth frame as raw RGB on stdout, storyboard thumbnails as files.

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
        "-map", "[frames]", "-fps_mode", "passthrough", "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1",
        "-map", "[thumbs]", "-fps_mode", "passthrough", f"{THUMBS_DIR}/%06d.bmp",
    ]


def _frame_times(path: Path) -> list[float]:
    """Timestamps, in order, from ``metadata=print`` lines such as ``frame:3 pts:6144 pts_time:0.4``."""
    return [round(float(t), 3) for t in re.findall(r"pts_time:(\S+)", path.read_text())]


def make_storyboard(
    thumbs_dir: Path, out: Path, duration: float, interval: float, thumb: tuple[int, int],
) -> dict[str, Any]:
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
    ffmpeg.run(["-framerate", "1", "-i", thumbs_dir / "%06d.bmp", "-vf", f"tile={columns}x{rows}",
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
    return {
        "sprites": names,
        "vtt": VTT,
        "interval_s": interval,
        "tiles": count,
        "tile_width": w,
        "tile_height": h,
        "columns": columns,
        "rows": rows,
    }

