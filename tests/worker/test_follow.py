"""follow: the frames around a sighting get the follow view, and what it sees counts for the timeline."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from video_worker import follow
from video_worker.animal_tracks import ANIMALS, Hit, Track, on_screen
from video_worker.onnx_detector import OnnxDetector
from video_worker.settings import worker_settings

FOLLOW_S = worker_settings().detect_follow_s
WIDE, CLOSE = 0.8, 0.4  # the share of the photo's width a frame shows: the cat whole, then its face filling it


def frame_of(photo: np.ndarray, share: float) -> np.ndarray:
    """A 640x360 frame of ``photo`` zoomed in around the cat's face (at 55%, 40% of the photo)."""
    h, w = photo.shape[:2]
    cw = share * w
    ch = cw * 9 / 16
    x0, y0 = max(0, int(0.55 * w - cw / 2)), max(0, int(0.4 * h - ch / 2))
    return cv2.resize(photo[y0:y0 + int(ch), x0:x0 + int(cw)], (640, 360), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def chelsea() -> np.ndarray:
    return cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def detect(model_env):
    """The stage's model (the float graph of the shared export) at the stage's input for 16:9 frames, keeping
    its animal classes from the stage's hit floor."""
    detector = OnnxDetector(model_env["VIDEO_WORKER_YOLO_MODEL"], "cpu", frame_hw=(360, 640))
    ids = [i for i, name in detector.names.items() if name in ANIMALS]
    return (lambda frame: detector.detect(frame, ids, 0.15)), detector.names


def test_a_close_up_the_model_loses_is_seen_again_by_the_follow_view(detect, chelsea):
    """The real cat photo zoomed until its face fills the frame: the model finds nothing on the frame itself,
    the follow view (the frame shrunk onto a grey canvas) finds the cat, where it is in the frame."""
    find, names = detect
    wide, close = frame_of(chelsea, WIDE), frame_of(chelsea, CLOSE)
    assert [names[b.class_id] for b in find(wide)] == ["cat"]
    assert find(close) == []
    [cat] = follow.seen(find, close, 7, 3.5, names)
    assert (cat.frame, cat.t, cat.label) == (7, 3.5, "cat") and cat.confidence >= 0.5
    x1, y1, x2, y2 = cat.box
    assert x1 < 160 and x2 > 480 and y1 < 90 and y2 > 270  # the face fills the middle of the frame


def test_the_stream_of_a_zoom_keeps_the_cat_on_screen_throughout(detect, chelsea):
    """2 s of the whole cat, then 3 s of its face: the frames without a hit are followed and seen; the
    timeline holds the whole 5 s, where the track alone ends with the wide frames."""
    find, names = detect
    frames = [frame_of(chelsea, WIDE)] * 4 + [frame_of(chelsea, CLOSE)] * 6  # 2 frames per second
    hits = {n: [Hit(n, n / 2, names[b.class_id], b.confidence, b.xyxy) for b in find(f)] for n, f in enumerate(frames)}
    assert [n for n, found in hits.items() if found] == [0, 1, 2, 3]
    around = follow.sightings(((n, f, bool(hits[n])) for n, f in enumerate(frames)),
                              lambda n, f: follow.seen(find, f, n, n / 2, names), follow.window(2.0, FOLLOW_S))
    assert [h.frame for h in around] == [4, 5, 6, 7, 8, 9] and {h.label for h in around} == {"cat"}
    track = Track([h for found in hits.values() for h in found])
    assert on_screen([track], 0.5, 5.0) == [(0.0, 1.75)]
    assert on_screen([track], 0.5, 5.0, sightings=around) == [(0.0, 4.75)]


def looks_at(hit_frames: set[int], seen_on: set[int], count: int, around: int) -> tuple[list[int], list[int]]:
    """Which frames the follow view is asked about, and which sightings it returns, for a made-up view that
    sees an animal on ``seen_on``."""
    asked: list[int] = []

    def look(n: int, _: None) -> list[Hit]:
        asked.append(n)
        return [Hit(n, n / 2, "cat", 0.5, (0, 0, 10, 10))] if n in seen_on else []

    found = follow.sightings(((n, None, n in hit_frames) for n in range(count)), look, around)
    return asked, [h.frame for h in found]


def test_frames_after_a_hit_are_followed_for_the_window_and_on_while_the_view_sees():
    # a hit on 5 (and a look back at 3 and 4); the view sees 6 and 7, not 8-11: each sighting moves the
    # window on, 2 frames past the last
    assert looks_at({5}, {6, 7}, 12, 2) == ([3, 4, 6, 7, 8, 9], [6, 7])


def test_frames_just_before_a_hit_are_looked_back_at():
    # the animal enters too close to be read: frames 6 and 7 come before the hit on 8
    assert looks_at({8}, {6, 7}, 9, 2) == ([6, 7], [6, 7])


def test_frames_far_from_any_hit_are_never_looked_at_again():
    assert looks_at(set(), set(range(20)), 20, 2) == ([], [])  # no hit: nothing to follow, however seen
    asked, _ = looks_at({0, 19}, set(), 20, 2)
    assert asked == [1, 2, 17, 18]
    assert looks_at({5}, {4, 6}, 10, 0) == ([], [])  # no window: the stage as it was


def test_sightings_count_only_in_a_stretch_that_holds_a_kept_track():
    cat = Track([Hit(n, n / 2, "cat", 0.6, (0, 0, 10, 10)) for n in range(4)])  # 0-1.5 s
    after = [Hit(n, n / 2, "cat", 0.4, (0, 0, 10, 10)) for n in (4, 5, 6)]  # 2-3 s: the follow view's
    alone = [Hit(n, n / 2, "dog", 0.3, (0, 0, 10, 10)) for n in (20, 21)]  # 10-10.5 s: around a dropped track
    assert on_screen([cat], 0.5, 20, sightings=after + alone) == [(0.0, 3.25)]
