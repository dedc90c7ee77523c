"""detect: find animals with YOLO on sampled frames, followed as tracks into a timeline with thumbnails.

One ffmpeg process samples frames at a low rate and streams them through the
model one at a time (the int8 ONNX export has a static batch of 1). Hits are
linked over time into tracks (animal_tracks.py): one appearance per animal, labelled
by the vote of its frames and of a second look at its clearest frames
(second_look.py), a species only where they agree and "animal" with its
candidates where they do not, with its best frame as a thumbnail, and an
"animal on screen" timeline over all tracks. The defaults (2 frames per second,
hits from 0.15, tracks from a summed confidence of 0.5) come from the
measurement in BENCHMARKS.md ("Output quality").
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from video_contract.manifests import UNSURE_ANIMAL, Animal, DetectManifest, Span
from video_worker import animal_tracks, ffmpeg, follow, models, probe, second_look, settings
from video_worker.animal_tracks import Hit, Track
from video_worker.errors import ConfigError, UsageError
from video_worker.onnx_detector import Box, OnnxDetector
from video_worker.settings import class_names, worker_settings

log = logging.getLogger(__name__)

BOX_COLOUR = (0, 200, 255)  # BGR amber: readable on both dark and light pictures
SCRATCH_JPEG_QUALITY = 95  # frames kept only until the thumbnails are drawn
THUMBNAIL_JPEG_QUALITY = 90


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config = worker_settings()
    parser.add_argument("--model", type=models.option(config.yolo_model, models.YOLO_NAMES),
                        default=config.yolo_model,
                        help="YOLO weights, .pt or .onnx: the configured model (env VIDEO_WORKER_YOLO_MODEL, any "
                             "path), a name in VIDEO_WORKER_MODEL_DIR, or a standard name that ultralytics "
                             "downloads (yolov8n.pt ... yolo11x.pt, when VIDEO_WORKER_MODEL_DOWNLOADS is true)")
    parser.add_argument("--classes", type=parse_classes, default=config.detect_classes,
                        help="comma-separated class names to keep (env VIDEO_WORKER_DETECT_CLASSES)")
    parser.add_argument("--fps", type=settings.positive(float), default=config.detect_fps,
                        help="frames sampled per second of video (env VIDEO_WORKER_DETECT_FPS)")
    parser.add_argument("--conf", type=settings.positive(float), default=config.detect_conf,
                        help="minimum confidence of a hit on one frame (env VIDEO_WORKER_DETECT_CONF)")
    parser.add_argument("--min-track-score", type=settings.positive(float),
                        default=config.detect_min_track_score,
                        help="summed confidence a track needs over its frames to count: one doubtful frame is "
                             "noise (env VIDEO_WORKER_DETECT_MIN_TRACK_SCORE)")
    parser.add_argument("--follow", type=settings.non_negative(float), default=config.detect_follow_s,
                        help="seconds around a sighting in which a frame without a hit is looked at again, shrunk "
                             "onto a grey canvas, for the on-screen timeline; 0: never "
                             "(env VIDEO_WORKER_DETECT_FOLLOW_S)")
    parser.add_argument("--second-look", action=argparse.BooleanOptionalAction, default=config.detect_second_look,
                        help="read each kept track's clearest frames again, mirrored and shrunk, before it is named "
                             "(env VIDEO_WORKER_DETECT_SECOND_LOOK)")
    parser.add_argument("--imgsz", type=int, default=config.detect_imgsz,
                        help="model input size; sampled frames are scaled to this long side "
                             "(env VIDEO_WORKER_DETECT_IMGSZ)")
    parser.add_argument("--device", default=config.device,
                        help="auto, cpu, cuda or cuda:N; auto picks cuda when onnxruntime (ONNX models) or torch "
                             "(others) sees one "
                             "(env VIDEO_WORKER_DEVICE)")
    parser.add_argument("--track-gap", type=settings.positive(float), default=config.detect_track_gap_s,
                        help="seconds a track may go unseen and still continue "
                             "(env VIDEO_WORKER_DETECT_TRACK_GAP_S)")


def run(args: argparse.Namespace, *, source: Path, out: Path, workdir: Path) -> DetectManifest:
    meta = probe.inspect(source)
    width, height = sample_size(meta["video"]["display_width"], meta["video"]["display_height"], args.imgsz)
    detector = load_detector(args.model, args.device, args.imgsz, (height, width))
    device, classes = detector.device, args.classes
    class_ids = class_ids_for(detector.names, classes)

    # Frames with a hit wait on disk: a thumbnail's frame is known only once its track is voted on.
    scratch = workdir / "detect-frames"
    scratch.mkdir()
    sampled = Sampled()
    names = detector.names

    def detect(frame: np.ndarray) -> list[Box]:
        return detector.detect(frame, class_ids, args.conf)

    started = time.perf_counter()
    around = follow.sightings(
        sample(iter_frames(source, args.fps, width, height), args.fps, detect, names, scratch, sampled),
        lambda index, frame: follow.seen(detect, frame, index, round(index / args.fps, 3), names),
        follow.window(args.fps, args.follow))
    follow_s = time.perf_counter() - started - sampled.inference_s - sampled.reading_s
    hits, frames, inference_s = sampled.hits, sampled.frames, sampled.inference_s

    linked = animal_tracks.link(hits, min_iou=animal_tracks.LINK_IOU, max_gap_s=args.track_gap)
    kept = animal_tracks.keep(linked, args.min_track_score)
    started = time.perf_counter()
    looked = look_again(kept, scratch, detect, names) if args.second_look else 0
    second_look_s = time.perf_counter() - started
    thumbnails = write_thumbnails(kept, scratch, out)
    appearances = [describe(n, track, thumbnail) for n, (track, thumbnail) in enumerate(zip(kept, thumbnails))]
    on_screen = [Span(start_s=a, end_s=b) for a, b in animal_tracks.on_screen(
        kept, 1 / args.fps, meta["duration_s"], animal_tracks.BRIDGE_S, around)]
    ms_per_frame = round(1000 * inference_s / frames, 1) if frames else None
    labels = sorted({a.label for a in appearances})
    animal_s = round(sum(span.end_s - span.start_s for span in on_screen), 3)
    log.info("sampled %d frames at %s fps: %d hits in %d tracks, %d kept (%s), animals on screen %.1f s; "
             "%s ms per frame on %s; a second look at %d frames in %.2f s; %d sightings around them by the follow "
             "view in %.2f s", frames, args.fps, len(hits), len(linked), len(kept), ", ".join(labels) or "none",
             animal_s, ms_per_frame, device, looked, second_look_s, len(around), follow_s)

    track_of = {id(hit): n for n, track in enumerate(kept) for hit in track.hits}  # None: a dropped track's
    detections = {
        "model": args.model,
        "device": device,
        "classes": classes,
        "sample_fps": args.fps,
        "conf": args.conf,
        "min_track_score": args.min_track_score,
        "track_gap_s": args.track_gap,
        "imgsz": args.imgsz,
        "frames_sampled": frames,
        "duration_s": meta["duration_s"],
        "frame_width": width,
        "frame_height": height,
        "ms_per_frame": ms_per_frame,
        "appearances": [a.to_json() for a in appearances],
        "on_screen": [span.to_json() for span in on_screen],
        "tracks_dropped": len(linked) - len(kept),
        "sightings": [{"t": h.t, "frame": h.frame, "label": h.label, "confidence": round(h.confidence, 4),
                       "box": list(h.box)} for h in around],  # the follow view's, for the timeline (follow.py)
        "hits": [
            {"t": h.t, "frame": h.frame, "label": h.label, "confidence": round(h.confidence, 4),
             "box": list(h.box), "track": track_of.get(id(h))}
            for h in hits
        ],
    }
    (out / DetectManifest.DETECTIONS).write_text(json.dumps(detections, indent=2))
    return DetectManifest(
        frames_sampled=frames,
        appearances=len(appearances),
        labels=labels,
        animals=appearances,
        on_screen=on_screen,
        animal_seconds=animal_s,
        ms_per_frame=ms_per_frame,
        device=device,
    )


def sample_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """Frame size with the long side at the model's input size and the display aspect kept."""
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def parse_classes(text: str) -> list[str]:
    """An argparse type: ``class_names``, its complaint as the option's."""
    try:
        return class_names(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
        models.load_safely()
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
        try:
            self.model: Any = YOLO(name, task="detect")
        except TypeError as exc:  # ultralytics' one error for a checkpoint it will not load: damaged, or unsafe
            raise ConfigError(f"the YOLO model {name} cannot be loaded: {exc}") from exc
        self.names: dict[int, str] = self.model.names

    def detect(self, frame: np.ndarray, class_ids: list[int], conf: float) -> list[Box]:
        boxes = self.model.predict(frame, classes=class_ids, conf=conf, imgsz=self.imgsz,
                                   device=self.device, verbose=False)[0].boxes
        return [Box(tuple(xyxy), score, int(cls))
                for xyxy, score, cls in zip(boxes.xyxy.tolist(), boxes.conf.tolist(), boxes.cls.tolist())]


Detector = OnnxDetector | UltralyticsDetector


def load_detector(name: str, device: str, imgsz: int, frame_shape: tuple[int, int]) -> Detector:
    """The model behind one interface, warmed up on a blank frame so timings measure inference, not loading.

    ONNX exports run in onnxruntime directly, at the smallest input that holds ``frame_shape`` (384x640 for
    16:9); other weights (.pt, or names ultralytics downloads) through ultralytics, which needs torch.
    ``name`` is what ``models.resolve`` allowed.
    """
    log.info("loading YOLO model %s (device %s)", name, device)
    if name.endswith(".onnx"):
        try:
            detector: Detector = OnnxDetector(name, device, worker_settings().detect_threads, frame_shape)
        except ValueError as exc:  # an export this cannot read or re-size: the configured model is wrong
            raise ConfigError(f"the YOLO model {name} cannot be used: {exc}") from exc
    else:
        detector = UltralyticsDetector(name, device, imgsz)
    detector.detect(np.zeros((*frame_shape, 3), np.uint8), list(detector.names), 1.0)
    return detector


@dataclass
class Sampled:
    """What the pass over the sampled frames found, filled in as the frames stream through the follow view."""

    hits: list[Hit] = field(default_factory=list)
    frames: int = 0
    inference_s: float = 0.0
    reading_s: float = 0.0  # decoding and writing the scratch frames


def sample(frames: Iterable[np.ndarray], fps: float, detect: second_look.Detect, names: dict[int, str],
           scratch: Path, into: Sampled) -> Iterator[tuple[int, np.ndarray, bool]]:
    """Each sampled frame's hits into ``into``, the frames with a hit kept in ``scratch``; yields each frame's
    index, pixels and whether it had a hit, for the follow view."""
    started = time.perf_counter()
    for index, frame in enumerate(frames):
        detected = time.perf_counter()
        boxes = detect(frame)
        inferred = time.perf_counter()
        into.inference_s += inferred - detected
        into.frames += 1
        found = [Hit(index, round(index / fps, 3), names[box.class_id], box.confidence,
                     tuple(round(v, 1) for v in box.xyxy)) for box in boxes]
        if found:
            cv2.imwrite(str(scratch / f"{index:06d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, SCRATCH_JPEG_QUALITY])
            into.hits.extend(found)
        into.reading_s += time.perf_counter() - started - (inferred - detected)
        yield index, frame, bool(found)
        started = time.perf_counter()


def iter_frames(source: Path, fps: float, width: int, height: int) -> Iterator[np.ndarray]:
    """BGR frames sampled at ``fps`` and scaled to ``width`` x ``height``; frame i is at i / fps s."""
    args: list[str | Path] = ["-i", source, "-map", "0:v:0", "-vf", f"fps={fps},scale={width}:{height}",
            "-pix_fmt", "bgr24", "-f", "rawvideo", "-"]
    for data in ffmpeg.stream_frames(args, width * height * 3):
        yield np.frombuffer(data, np.uint8).reshape(height, width, 3)


def look_again(kept: list[Track], scratch: Path, detect: second_look.Detect, names: dict[int, str]) -> int:
    """Each track's clearest frames under second_look's views, their reads added to its votes; how many
    frames were looked at again."""
    looked = 0
    for track in kept:
        for seen in second_look.clearest(track):
            track.looks += second_look.look(detect, read_scratch(scratch, seen.frame), seen, names)
            looked += 1
    return looked


def read_scratch(scratch: Path, frame: int) -> np.ndarray:
    """A sampled frame that this stage kept on disk because it had a hit."""
    path = scratch / f"{frame:06d}.jpg"
    image = cv2.imread(str(path))
    if image is None:  # the frame this stage wrote a moment ago is gone or unreadable
        raise FileNotFoundError(f"cannot read {path}")
    return image


def write_thumbnails(kept: list[Track], scratch: Path, out: Path) -> list[str]:
    """Draw each track's best box on its frame; the JPEGs' paths relative to ``out``."""
    if kept:
        (out / "thumbnails").mkdir()
    counts: dict[str, int] = {}
    paths = []
    for track in kept:
        best, label = track.best, track.label()
        n = counts[label] = counts.get(label, -1) + 1
        rel = f"thumbnails/{label.replace(' ', '_')}_{n:03d}.jpg"
        frame = read_scratch(scratch, best.frame)
        draw_box(frame, best.box, f"{caption(track)} {best.confidence:.2f}")
        cv2.imwrite(str(out / rel), frame, [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_JPEG_QUALITY])
        paths.append(rel)
    return paths


def draw_box(frame: np.ndarray, box: tuple[float, ...], text: str) -> None:
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


def caption(track: Track) -> str:
    """What a person is told the track is: its species, or its candidates as a question ("bird or cat?")."""
    label = track.label()
    if label != UNSURE_ANIMAL:
        return label
    return " or ".join(track.candidates) + "?" if len(track.candidates) > 1 else f"{label}?"


def describe(number: int, track: Track, thumbnail: str) -> Animal:
    """One appearance: the track's label by the naming rule, its span, and its best frame."""
    best = track.best
    return Animal(
        track=number,
        label=track.label(),
        candidates=track.candidates,
        first_s=track.first_s,
        last_s=track.last_s,
        peak_s=best.t,
        peak_confidence=round(best.confidence, 4),
        frames_seen=len(track.hits),
        second_looks=len(track.looks),
        votes={label: round(weight, 4) for label, weight in sorted(track.votes.items())},
        thumbnail=thumbnail,
        box=list(best.box),
    )
