"""A second look at a track's clearest frames, under views that make a small model see an animal anew.

A nano model reading a close-up flips between classes from one view to the next (a
bird filling the frame reads as a dog, then a horse); its mirror image, or the
frame shrunk onto a grey canvas so that the animal has context around it, often
reads as what it is. Each view's detection over the track's box is one more vote
for the track's label (animal_tracks.Track.looks). It costs a few inferences per
track, not another pass over the video.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from video_worker.animal_tracks import ANIMALS, Hit, Track, iou
from video_worker.onnx_detector import PAD_VALUE, Box

FRAMES = 3  # a track's clearest frames that get the second look: more add inference, not votes that differ
SHRINK = 0.6  # the frame's scale on its canvas: a close-up then fills 60% of the picture, with context around
# A view's box is the track's animal when it overlaps the track's box this much, mapped back into the frame.
# Looser than one_per_animal's 0.7: a shrunk or mirrored view moves the box's edges by a few pixels.
SAME_BOX_IOU = 0.5


@dataclass(frozen=True)
class View:
    """A picture made from a frame, and the way back from its pixels to the frame's."""

    name: str
    make: Callable[[np.ndarray], np.ndarray]
    back: Callable[[tuple[float, ...], int, int], tuple[float, ...]]  # (box, frame width, height) -> box


def _flip(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame[:, ::-1])


def _unflip(box: tuple[float, ...], width: int, _height: int) -> tuple[float, ...]:
    x1, y1, x2, y2 = box
    return (width - x2, y1, width - x1, y2)


def _shrink(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (round(w * SHRINK), round(h * SHRINK)), interpolation=cv2.INTER_AREA)
    canvas = np.full_like(frame, PAD_VALUE)
    top, left = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
    return canvas


def _unshrink(box: tuple[float, ...], width: int, height: int) -> tuple[float, ...]:
    left, top = (width - round(width * SHRINK)) // 2, (height - round(height * SHRINK)) // 2
    x1, y1, x2, y2 = box
    return ((x1 - left) / SHRINK, (y1 - top) / SHRINK, (x2 - left) / SHRINK, (y2 - top) / SHRINK)


FLIPPED = View("flipped", _flip, _unflip)
SHRUNK = View("shrunk", _shrink, _unshrink)
VIEWS = (FLIPPED, SHRUNK)

Detect = Callable[[np.ndarray], list[Box]]  # a frame's boxes of the wanted classes, from the stage's detector


def clearest(track: Track, count: int = FRAMES) -> list[Hit]:
    """The track's most confident hits, one per frame, most confident first."""
    return sorted(track.hits, key=lambda h: (-h.confidence, h.t))[:count]


def look(detect: Detect, frame: np.ndarray, seen: Hit, names: dict[int, str],
         views: tuple[View, ...] = VIEWS) -> list[Hit]:
    """What each view of ``frame`` shows over ``seen``'s box: at most one animal hit per view, the most
    confident box that overlaps it (SAME_BOX_IOU), in the frame's pixels and at ``seen``'s time."""
    h, w = frame.shape[:2]
    found = []
    for view in views:
        boxes = [(view.back(box.xyxy, w, h), box) for box in detect(view.make(frame))
                 if names[box.class_id] in ANIMALS]
        same = [(xyxy, box) for xyxy, box in boxes if iou(xyxy, seen.box) >= SAME_BOX_IOU]
        if same:
            xyxy, box = max(same, key=lambda pair: pair[1].confidence)
            found.append(Hit(seen.frame, seen.t, names[box.class_id], box.confidence,
                             tuple(round(v, 1) for v in xyxy)))
    return found
