"""frame_quality: the measures behind the poster and the GIF snippets, on real pictures and test patterns."""

from __future__ import annotations

import subprocess

import cv2
import footage
import numpy as np
import pytest

from video_worker.frame_quality import FrameStats, Subjects, analysis_copy, measure, motion_starts, moved, poster_score


def lavfi(source: str) -> np.ndarray:
    """One BGR frame of an ffmpeg test source at 640x360."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"{source}=s=640x360", "-frames:v", "1",
                          "-pix_fmt", "bgr24", "-f", "rawvideo", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(360, 640, 3)


def photo(name: str) -> np.ndarray:
    return cv2.resize(footage.picture(name), (640, 360))


def stats(bgr: np.ndarray) -> FrameStats:
    return measure(analysis_copy(bgr), None)


@pytest.mark.parametrize("pattern", ["smptebars", "testsrc", "testsrc2", "pal100bars"])
def test_real_photos_outscore_test_patterns(pattern):
    bars = poster_score(stats(lavfi(pattern)))
    for name in ("chelsea", "astronaut", "coffee", "bus"):
        assert poster_score(stats(photo(name))) > 1.5 * bars, (name, pattern)


def test_black_and_blank_frames_never_make_a_poster():
    black = stats(np.zeros((360, 640, 3), np.uint8))
    assert black.black and poster_score(black) == 0
    grey = stats(np.full((360, 640, 3), 128, np.uint8))
    assert grey.blank and not grey.black and poster_score(grey) == 0


def test_blur_and_freezing_lower_the_score():
    sharp = analysis_copy(photo("chelsea"))
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4)
    assert poster_score(measure(blurred, None)) < 0.6 * poster_score(measure(sharp, None))
    frozen = measure(sharp, sharp)
    assert frozen.frozen and moved(sharp, sharp) == 0
    assert poster_score(frozen) == pytest.approx(0.5 * poster_score(measure(sharp, None)))


def test_a_whole_animal_counts_more_than_one_cut_by_the_edge():
    detections = {"frame_width": 640, "frame_height": 360, "sample_fps": 2,
                  "appearances": [{"track": 0, "label": "cat"}], "hits": [
        {"t": 1.0, "label": "cat", "confidence": 0.8, "box": [100, 50, 400, 300], "track": 0},
        {"t": 2.0, "label": "cat", "confidence": 0.8, "box": [0, 50, 300, 300], "track": 0},  # at the left edge
        {"t": 3.0, "label": "dog", "confidence": 0.9, "box": [100, 50, 400, 300], "track": None},  # dropped noise
        {"t": 4.0, "label": "dog", "confidence": 0.8, "box": [300, 150, 340, 180], "track": 0},  # small: 0.5 %
    ]}
    subjects = Subjects(detections)
    assert subjects.at(1.1) == (pytest.approx(0.8), "cat")
    assert subjects.at(2.0) == (pytest.approx(0.4), "cat")
    assert subjects.at(1.2) == (pytest.approx(0.8), "cat") and subjects.at(1.5) == (0.0, None)  # half a sample
    assert subjects.at(3.0) == (0.0, None)
    assert subjects.at(4.0) == (pytest.approx(0.8 * 40 * 30 / (640 * 360) / 0.1), "cat")  # the track's vote
    assert Subjects(None).at(1.0) == (0.0, None)


def test_snippets_start_where_the_picture_moves_on_both_sides_and_where_an_animal_is():
    def frame(moved_share: float, black: bool = False) -> FrameStats:
        return FrameStats(black=black, blank=False, detail=0.9, sharpness=0.8, contrast=1.0, moved=moved_share)

    # 0-1 s black; 1.0 a cut to a still (moves only before); 3.0-3.5 and 6.0-6.5 motion.
    stats = [frame(0.0, black=True)] * 3 + [frame(0.9)] + [frame(0.0)] * 4 + [frame(0.3)] * 2 + [frame(0.0)] * 5 \
        + [frame(0.5)] * 2 + [frame(0.0)] * 3
    times = [0.4 * i for i in range(len(stats))]
    # Two moments move on both sides (frames 8 and 15); the third start is the best still frame that is not
    # black and a snippet away from both: the cut (3), whose next frame no longer moves.
    starts = motion_starts(stats, times, Subjects(), count=3, length=0.8, duration=times[-1] + 0.4)
    assert starts == [pytest.approx(times[3]), pytest.approx(times[8]), pytest.approx(times[15])]
    assert motion_starts(stats, times, Subjects(), count=2, length=0.8, duration=times[-1] + 0.4) == [
        pytest.approx(times[8]), pytest.approx(times[15])]
    # An animal on a still frame (weight 0.9: x2.8) outranks motion (x2): the cat, still, before anything moving.
    cat = Subjects({"frame_width": 100, "frame_height": 100, "sample_fps": 2.5,
                    "appearances": [{"track": 0, "label": "cat"}],
                    "hits": [{"t": times[9], "label": "cat", "confidence": 0.9, "box": [10, 10, 90, 90], "track": 0}]})
    assert motion_starts(stats, times, cat, count=1, length=0.8, duration=times[-1] + 0.4) == [pytest.approx(times[9])]
    everything_black = [frame(0.0, black=True)] * 10
    assert motion_starts(everything_black, times[:10], Subjects(), 2, 0.8, 4.0) == [
        pytest.approx(0.6), pytest.approx(2.6)]
