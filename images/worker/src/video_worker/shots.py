"""Where a video cuts from one shot to the next: ffmpeg's ``scdet`` scene-change score on every frame.

``scdet`` scores a frame by how much more it differs from the one before than that one did from its
own predecessor (0-100), so a camera that keeps moving scores low and a hard cut scores high. The
frames are scored as the ladder's smallest rendition has them: a cut changes the whole picture, which
shows at any size, and downscaling further costs more than it saves (bench/shots.py). The threshold is
applied here, so one decode serves any threshold (bench/shots.py sweeps it).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from video_worker import ffmpeg

# A cut closer than this to the previous one is a flash or a strobe, not a shot: a shot is a take a viewer sees.
MIN_SHOT_S = 0.2
SCORES = "scene-scores.txt"  # ffmpeg's metadata print, in the stage's work directory
FRAME = re.compile(r"^frame:\d+\s+pts:\S+\s+pts_time:(?P<t>[-\d.e+]+)")
SCORE = re.compile(r"^lavfi\.scd\.score=(?P<score>[\d.e+-]+)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Score:
    """A frame's time (s) and its scene-change score (0-100)."""

    t: float
    score: float


def scores(video: Path, *, workdir: Path) -> list[Score]:
    """Every frame's scene-change score, in order. The video is one we made (a ladder rendition)."""
    # The print goes to a file by a fixed name in the work directory: nothing in the filter graph to escape.
    graph = f"scdet=threshold=100,metadata=mode=print:key=lavfi.scd.score:file={SCORES}"
    ffmpeg.run(["-i", video.resolve(), "-map", "0:v:0", "-an", "-sn", "-vf", graph, "-f", "null", "-"], cwd=workdir)
    return parse_scores((workdir / SCORES).read_text())


def parse_scores(text: str) -> list[Score]:
    """``metadata=print``'s lines: a ``frame:`` line with its time, then its ``lavfi.scd.score``."""
    found, t = [], None
    for line in text.splitlines():
        if frame := FRAME.match(line):
            t = float(frame["t"])
        elif (score := SCORE.match(line)) and t is not None:
            found.append(Score(t=t, score=float(score["score"])))
            t = None
    return found


def cuts(frames: list[Score], *, threshold: float, min_shot_s: float = MIN_SHOT_S) -> list[float]:
    """The times of the frames that start a new shot: a score at ``threshold`` or above, at least
    ``min_shot_s`` after the start and the previous cut (the first frame is no cut)."""
    found: list[float] = []
    start = frames[0].t if frames else 0.0
    for frame in frames[1:]:
        if frame.score >= threshold and frame.t - (found[-1] if found else start) >= min_shot_s:
            found.append(round(frame.t, 3))
    return found
