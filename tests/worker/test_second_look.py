"""second_look: a track's clearest frames under views that the real model reads again."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from video_worker import second_look
from video_worker.animal_tracks import Hit, Track, iou
from video_worker.detect import sample_size
from video_worker.onnx_detector import OnnxDetector


@pytest.fixture(scope="module")
def chelsea() -> np.ndarray:
    """scikit-image's cat photo at the size detect samples it (640 on the long side), BGR."""
    image = cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR)
    return cv2.resize(image, sample_size(image.shape[1], image.shape[0], 640), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def detector(model_env, chelsea) -> OnnxDetector:
    """The stage's model (the float graph of the shared export), at the input the stage gives this frame."""
    return OnnxDetector(model_env["VIDEO_WORKER_YOLO_MODEL"], "cpu", frame_hw=chelsea.shape[:2])


@pytest.mark.parametrize("view", second_look.VIEWS, ids=lambda v: v.name)
def test_each_view_maps_a_box_back_to_where_it_was_in_the_frame(view):
    """A white square drawn on a frame, found again in the view by its pixels, maps back onto itself."""
    frame = np.zeros((360, 640, 3), np.uint8)
    box = (100.0, 60.0, 300.0, 200.0)
    frame[60:200, 100:300] = 255
    shown = view.make(frame)
    assert shown.shape == frame.shape
    ys, xs = np.nonzero(shown[..., 0] == 255)
    found = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    assert iou(view.back(found, 640, 360), box) > 0.97


def test_a_real_cat_read_again_in_every_view_votes_cat(detector, chelsea):
    ids = [i for i, name in detector.names.items() if name == "cat"]
    [cat] = detector.detect(chelsea, ids, 0.15)
    seen = Hit(0, 0.0, "cat", cat.confidence, cat.xyxy)
    looks = second_look.look(lambda image: detector.detect(image, ids, 0.15), chelsea, seen, detector.names)
    assert [h.label for h in looks] == ["cat", "cat"]  # mirrored, and shrunk onto a grey canvas
    assert all(iou(h.box, seen.box) >= second_look.SAME_BOX_IOU and h.confidence >= 0.5 for h in looks), looks
    assert Track([seen], looks).label() == "cat"


def test_a_view_that_sees_nothing_over_the_box_adds_no_vote(detector, chelsea):
    """The cat's box moved off the cat: no view's cat overlaps it, so no read is added."""
    ids = [i for i, name in detector.names.items() if name == "cat"]
    elsewhere = Hit(0, 0.0, "cat", 0.5, (0.0, 0.0, 60.0, 40.0))
    assert second_look.look(lambda image: detector.detect(image, ids, 0.15), chelsea, elsewhere,
                            detector.names) == []


def test_the_clearest_frames_are_the_most_confident_hits():
    hits = [Hit(n, n / 2, "cat", c, (0, 0, 10, 10)) for n, c in enumerate((0.3, 0.9, 0.5, 0.7, 0.2))]
    assert [h.frame for h in second_look.clearest(Track(hits))] == [1, 3, 2]
