"""Coverage follows the animal, not the label: the frames around a sighting get a look of their own.

A nano model loses an animal that fills the frame (a cat's face overflowing it,
a bird close to the lens) for seconds at a time, while the animal is plainly on
screen. The same frame shrunk onto a grey canvas (second_look.SHRUNK), so that
the animal has context around it, is often seen again. So each sampled frame
without a hit that lies within a follow window of a sighting, after it or just
before it, is looked at once more under that view, and every animal that the
view sees there is a sighting too: it counts for the "animal on screen"
timeline (animal_tracks.on_screen), whatever class it is read as, and the
window moves on with it. Frames far from any sighting are never looked at
twice, so a video without animals costs nothing more, and one where the model
keeps the animal costs nothing either.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import TypeVar

import numpy as np

from video_worker.animal_tracks import ANIMALS, Hit
from video_worker.second_look import SHRUNK, Detect, View

VIEW = SHRUNK  # the view that sees a close-up again most often (bench/quality.py, the second look's table)

Frame = TypeVar("Frame")  # a sampled frame's pixels (the stage), or what stands for them (the bench's replay)


def window(fps: float, seconds: float) -> int:
    """The follow window (settings' ``detect_follow_s``) in sampled frames."""
    return max(0, round(seconds * fps))


def seen(detect: Detect, frame: np.ndarray, index: int, t: float, names: dict[int, str],
         view: View = VIEW) -> list[Hit]:
    """Every animal that ``view`` of ``frame`` shows, in the frame's pixels, at its sampled index and time."""
    h, w = frame.shape[:2]
    return [Hit(index, t, names[box.class_id], box.confidence, tuple(round(v, 1) for v in view.back(box.xyxy, w, h)))
            for box in detect(view.make(frame)) if names[box.class_id] in ANIMALS]


def sightings(frames: Iterable[tuple[int, Frame, bool]], look: Callable[[int, Frame], list[Hit]],
              frames_around: int) -> list[Hit]:
    """What ``look`` saw on the frames without a hit (``frames`` gives each sampled frame's index, pixels and
    whether it had a hit, in order) that lie within ``frames_around`` of a sighting: after a hit or another
    sighting, and just before a hit. Only the last ``frames_around`` frames are held, for the look back."""
    found: list[Hit] = []
    behind: deque[tuple[int, Frame]] = deque(maxlen=frames_around or 1)
    last: int | None = None  # the index of the last sighting, a hit or a follow view's
    for index, frame, hit in frames:
        if hit:
            for earlier, pixels in behind if frames_around else ():
                found += look(earlier, pixels)
            behind.clear()
            last = index
        elif last is not None and index - last <= frames_around:
            now = look(index, frame)
            found += now
            if now:
                last = index
        else:
            behind.append((index, frame))
    return found
