"""detect: find animals with YOLO on sampled frames, merged into timed appearances with thumbnails.

One ffmpeg process samples frames at a low rate and streams them through the
model one at a time (the int8 ONNX export has a static batch of 1). Hits of a
label that are close in time merge into one appearance, so a cat on screen for
a minute is one entry with its best frame as a thumbnail, not sixty.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import cv2
import numpy as np

from video_worker import ffmpeg, probe, settings
from video_worker.errors import UsageError
from video_worker.onnx_detector import Box, OnnxDetector

log = logging.getLogger(__name__)

MERGE_GAP_S = 2.0
BOX_COLOUR = (0, 200, 255)  # BGR amber: readable on both dark and light pictures
SCRATCH_JPEG_QUALITY = 95  # frames kept only until the thumbnails are drawn
THUMBNAIL_JPEG_QUALITY = 90


@dataclass(frozen=True)
class Hit:
    """One box on one sampled frame; ``box`` is x1, y1, x2, y2 in that frame's pixels."""

    frame: int
    t: float
    label: str
    confidence: float
    box: tuple[float, float, float, float]


@dataclass
class Appearance:
    """A label seen on samples no more than the merge gap apart; ``best`` is its most confident hit."""

    label: str
    first_s: float
    last_s: float
    frames_seen: int
    best: Hit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=settings.get("YOLO_MODEL"),
                        help="YOLO weights: a .pt or .onnx path, or a name that ultralytics downloads "
                             "(env VIDEO_WORKER_YOLO_MODEL)")
    parser.add_argument("--classes", type=parse_classes, default=parse_classes(settings.get("DETECT_CLASSES")),
                        help="comma-separated class names to keep (env VIDEO_WORKER_DETECT_CLASSES)")
    parser.add_argument("--fps", type=settings.positive(float), default=float(settings.get("DETECT_FPS")),
                        help="frames sampled per second of video (env VIDEO_WORKER_DETECT_FPS)")
    parser.add_argument("--conf", type=settings.positive(float), default=float(settings.get("DETECT_CONF")),
                        help="minimum confidence of a hit (env VIDEO_WORKER_DETECT_CONF)")
    parser.add_argument("--imgsz", type=int, default=int(settings.get("DETECT_IMGSZ")),
                        help="model input size; sampled frames are scaled to this long side "
                             "(env VIDEO_WORKER_DETECT_IMGSZ)")
    parser.add_argument("--device", default=settings.get("DEVICE"),
                        help="auto, cpu, cuda or cuda:N; auto picks cuda when onnxruntime (ONNX models) or torch "
                             "(others) sees one "
                             "(env VIDEO_WORKER_DEVICE)")
    parser.add_argument("--merge-gap", type=float, default=MERGE_GAP_S,
                        help="samples of a label at most this many seconds apart form one appearance")


def run(args: argparse.Namespace, *, source: Path, out: Path, workdir: Path) -> dict[str, Any]:
    meta = probe.inspect(source)
    width, height = sample_size(meta["video"]["display_width"], meta["video"]["display_height"], args.imgsz)
    detector = load_detector(args.model, args.device, args.imgsz, (height, width))
    device, classes = detector.device, args.classes
    class_ids = class_ids_for(detector.names, classes)

    # Frames with a hit wait on disk: a thumbnail's frame is known only once its appearance ends.
    scratch = workdir / "detect-frames"
    scratch.mkdir()
    hits: list[Hit] = []
    frames = 0
    inference_s = 0.0
    for index, frame in enumerate(iter_frames(source, args.fps, width, height)):
        started = time.perf_counter()
        boxes = detector.detect(frame, class_ids, args.conf)
        inference_s += time.perf_counter() - started
        frames += 1
        found = [Hit(index, round(index / args.fps, 3), detector.names[box.class_id], box.confidence,
                     tuple(round(v, 1) for v in box.xyxy)) for box in boxes]
        if found:
            cv2.imwrite(str(scratch / f"{index:06d}.jpg"), frame,
                        [cv2.IMWRITE_JPEG_QUALITY, SCRATCH_JPEG_QUALITY])
            hits.extend(found)

    merged = merge_hits(hits, args.merge_gap)
    thumbnails = write_thumbnails(merged, scratch, out)
    appearances = [describe(appearance, thumbnail) for appearance, thumbnail in zip(merged, thumbnails)]
    ms_per_frame = round(1000 * inference_s / frames, 1) if frames else None
    labels = sorted({a["label"] for a in appearances})
    log.info("sampled %d frames at %s fps: %d appearances (%s), %s ms per frame on %s",
             frames, args.fps, len(appearances), ", ".join(labels) or "none", ms_per_frame, device)

    detections = {
        "model": args.model,
        "device": device,
        "classes": classes,
        "sample_fps": args.fps,
        "conf": args.conf,
        "imgsz": args.imgsz,
        "frames_sampled": frames,
        "duration_s": meta["duration_s"],
        "frame_width": width,
        "frame_height": height,
        "ms_per_frame": ms_per_frame,
        "appearances": appearances,
        "hits": [
            {"t": h.t, "frame": h.frame, "label": h.label, "confidence": round(h.confidence, 4),
             "box": list(h.box)}
            for h in hits
        ],
    }
    (out / "detections.json").write_text(json.dumps(detections, indent=2))
    return {
        "frames_sampled": frames,
        "appearances": len(appearances),
        "labels": labels,
        "animals": appearances,
        "ms_per_frame": ms_per_frame,
        "device": device,
    }


def sample_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """Frame size with the long side at the model's input size and the display aspect kept."""
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def parse_classes(text: str) -> list[str]:
    classes = [name.strip() for name in text.split(",") if name.strip()]
    if not classes:
        raise argparse.ArgumentTypeError("no class names given: expected names such as cat,dog")
    return classes


def class_ids_for(names: dict[int, str], classes: list[str]) -> list[int]:
    """The model's ids of ``classes``; UsageError naming the valid ones if any is unknown."""
    ids = {name: i for i, name in names.items()}
    unknown = [name for name in classes if name not in ids]
    if unknown:
        raise UsageError(
            f"unknown class names {', '.join(unknown)}; the model knows: {', '.join(names.values())}"
        )
    return [ids[name] for name in classes]


class UltralyticsDetector:
    """ultralytics' YOLO, for weights that are not an ONNX export."""

    def __init__(self, name: str, device: str, imgsz: int) -> None:
        from ultralytics import YOLO

        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        # ultralytics logs to stdout, whose last line must be the manifest: send it through our stderr logging.
        ultralytics_log = logging.getLogger("ultralytics")
        for handler in list(ultralytics_log.handlers):
            ultralytics_log.removeHandler(handler)
        ultralytics_log.propagate = True
        self.device, self.imgsz = device, imgsz
        self.model = YOLO(name, task="detect")
        self.names: dict[int, str] = self.model.names

    def detect(self, frame: np.ndarray, class_ids: list[int], conf: float) -> list[Box]:
        boxes = self.model.predict(frame, classes=class_ids, conf=conf, imgsz=self.imgsz,
                                   device=self.device, verbose=False)[0].boxes
        return [Box(tuple(xyxy), score, int(cls))
                for xyxy, score, cls in zip(boxes.xyxy.tolist(), boxes.conf.tolist(), boxes.cls.tolist())]


Detector = OnnxDetector | UltralyticsDetector


def load_detector(name: str, device: str, imgsz: int, frame_shape: tuple[int, int]) -> Detector:
    """The model behind one interface, warmed up on a blank frame so timings measure inference, not loading.

    ONNX exports run in onnxruntime directly; other weights (.pt, or names ultralytics downloads) through
    ultralytics, which needs torch.
    """
    log.info("loading YOLO model %s (device %s)", name, device)
    if name.endswith(".onnx"):
        detector: Detector = OnnxDetector(name, device)
    else:
        detector = UltralyticsDetector(name, device, imgsz)
    detector.detect(np.zeros((*frame_shape, 3), np.uint8), list(detector.names), 1.0)
    return detector


def iter_frames(source: Path, fps: float, width: int, height: int) -> Iterator[np.ndarray]:
    """BGR frames sampled at ``fps`` and scaled to ``width`` x ``height``; frame i is at i / fps s."""
    args = ["-i", source, "-map", "0:v:0", "-vf", f"fps={fps},scale={width}:{height}",
            "-pix_fmt", "bgr24", "-f", "rawvideo", "-"]
    for data in ffmpeg.stream_frames(args, width * height * 3):
        yield np.frombuffer(data, np.uint8).reshape(height, width, 3)


def merge_hits(hits: Iterable[Hit], merge_gap: float) -> list[Appearance]:
    """Join each label's hits into appearances: samples at most ``merge_gap`` s apart belong together.

    Ordered by start time, then label.
    """
    current: dict[str, Appearance] = {}
    done: list[Appearance] = []
    for hit in sorted(hits, key=lambda h: (h.t, h.frame)):
        appearance = current.get(hit.label)
        if appearance is None or hit.t - appearance.last_s > merge_gap + 1e-6:
            if appearance is not None:
                done.append(appearance)
            current[hit.label] = Appearance(hit.label, hit.t, hit.t, 1, hit)
            continue
        if hit.t > appearance.last_s:  # a second box on the same frame is not another frame
            appearance.frames_seen += 1
            appearance.last_s = hit.t
        if hit.confidence > appearance.best.confidence:
            appearance.best = hit
    done.extend(current.values())
    return sorted(done, key=lambda a: (a.first_s, a.label))


def write_thumbnails(appearances: list[Appearance], scratch: Path, out: Path) -> list[str]:
    """Draw each appearance's best box on its frame; the JPEGs' paths relative to ``out``."""
    if appearances:
        (out / "thumbnails").mkdir()
    counts: dict[str, int] = {}
    paths = []
    for appearance in appearances:
        best = appearance.best
        n = counts[best.label] = counts.get(best.label, -1) + 1
        rel = f"thumbnails/{best.label.replace(' ', '_')}_{n:03d}.jpg"
        frame = cv2.imread(str(scratch / f"{best.frame:06d}.jpg"))
        draw_box(frame, best.box, f"{best.label} {best.confidence:.2f}")
        cv2.imwrite(str(out / rel), frame, [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_JPEG_QUALITY])
        paths.append(rel)
    return paths


def draw_box(frame: np.ndarray, box: tuple[float, float, float, float], text: str) -> None:
    """A box and its caption drawn in place with cv2 (ultralytics' plot() downloads a font)."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    thickness = max(2, round(max(h, w) / 320))
    cv2.rectangle(frame, (x1, y1), (x2, y2), BOX_COLOUR, thickness)
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.5, max(h, w) / 1280)
    (tw, th), baseline = cv2.getTextSize(text, font, scale, 1)
    label_h = th + baseline + 6
    left = min(max(x1, 0), max(0, w - tw - 6))
    top = y1 - label_h if y1 >= label_h else max(y1, 0)  # above the box, or inside it at the top edge
    cv2.rectangle(frame, (left, top), (left + tw + 6, top + label_h), BOX_COLOUR, cv2.FILLED)
    cv2.putText(frame, text, (left + 3, top + 3 + th), font, scale, (0, 0, 0), 1, cv2.LINE_AA)


def describe(appearance: Appearance, thumbnail: str) -> dict[str, Any]:
    best = appearance.best
    return {
        "label": appearance.label,
        "first_s": appearance.first_s,
        "last_s": appearance.last_s,
        "peak_s": best.t,
        "peak_confidence": round(best.confidence, 4),
        "frames_seen": appearance.frames_seen,
        "thumbnail": thumbnail,
        "box": list(best.box),
    }
