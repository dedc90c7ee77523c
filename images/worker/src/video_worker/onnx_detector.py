"""YOLO detection exports (ONNX) run in onnxruntime directly, without torch.

ultralytics runs an ONNX export through onnxruntime too, but imports torch and,
for its warm-up, torchvision first: 4.6 s of a 15 s detect stage on the bench
clip (BENCHMARKS.md). This module does the same pre- and post-processing as
ultralytics' ``predict`` for a detection export with a static input: letterbox
to the input size (grey 114 padding, centred), RGB scaled to 0..1, then
confidence filter, class-aware NMS (OpenCV's) at IoU 0.7 and at most 300 boxes, scaled
back to the frame. tests/worker/test_detect.py holds the two to the same boxes.

Told the frames' size, it runs the model at the smallest input that holds them
(``rect_input``, as ultralytics' ``rect`` for .pt weights): 384x640 for 16:9
rather than 640x640 with 140 rows of padding either side, 60% of the pixels.
Confident boxes stay where they were (IoU >= 0.9 in the tests); a doubtful one
near the confidence floor may come or go, as it does when the padding moves.
"""

from __future__ import annotations

import ast
import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from video_worker.yolo_graph import with_input_size

log = logging.getLogger(__name__)

IOU = 0.7  # ultralytics' predict default
MAX_DET = 300
PAD_VALUE = 114
MAX_WH = 7680  # offsets boxes by class so one NMS call never merges boxes of two classes
DEFAULT_STRIDE = 32  # YOLOv8's largest stride, for an export without ultralytics' "stride" metadata


@dataclass(frozen=True)
class Box:
    xyxy: tuple[float, ...]  # x1, y1, x2, y2
    confidence: float
    class_id: int


class OnnxDetector:
    """A YOLOv8-style detection export: input 1x3xHxW, output 1x(4+classes)xN, class names in its metadata."""

    def __init__(self, path: str, device: str, threads: int = 0, frame_hw: tuple[int, int] | None = None) -> None:
        """``threads``: onnxruntime's intra-op threads, 0 for its choice (one per physical core).

        ``frame_hw``: the size of the frames to come. Given, the input shrinks to the smallest that holds them
        letterboxed (``rect_input``) and a static graph is re-sized to it (yolo_graph.py); left out, frames of
        any size are letterboxed into the model's own input.
        """
        import onnx
        import onnxruntime

        model = onnx.load(path)
        meta = {prop.key: prop.value for prop in model.metadata_props}
        if meta.get("task", "detect") != "detect" or "names" not in meta:
            raise ValueError(f"{path} is not a YOLO detection export (ONNX metadata task={meta.get('task')!r}, "
                             f"names {'present' if 'names' in meta else 'missing'})")
        self.names: dict[int, str] = ast.literal_eval(meta["names"])
        dims = model.graph.input[0].type.tensor_type.shape.dim
        static = all(d.HasField("dim_value") for d in dims[2:4])
        model_hw = (dims[2].dim_value, dims[3].dim_value) if static else _pair(meta.get("imgsz", "[640, 640]"))
        self.input_hw = model_hw
        if frame_hw is not None:
            self.input_hw = rect_input(frame_hw, model_hw, int(meta.get("stride", DEFAULT_STRIDE)))
            if static and self.input_hw != model_hw:
                model = with_input_size(model, self.input_hw)
            log.info("frames %dx%d run at the model input %dx%d (its own: %dx%d)",
                     frame_hw[1], frame_hw[0], self.input_hw[1], self.input_hw[0], model_hw[1], model_hw[0])

        if device == "auto":
            device = "cuda" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "cpu"
        self.device = device
        providers: list[str | tuple[str, dict[str, int]]] = ["CPUExecutionProvider"]
        if device != "cpu":
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": int(device.partition(":")[2] or 0)}))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        # Idle threads sleep instead of spinning: between frames ffmpeg decodes the next one on the same
        # cores, and a spinning pool burns them (bench clip, 2 threads: 32 s CPU spinning, 22 s not).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    def detect(self, frame: np.ndarray, class_ids: list[int], conf: float) -> list[Box]:
        """Boxes on a BGR frame, in its pixels, most confident first."""
        blob, gain, pad = self._letterbox(frame)
        output = self.session.run(None, {self.input_name: blob})[0][0].T  # N x (4 + classes)
        # As ultralytics does: each box's best class over all classes, then the wanted classes kept.
        best = output[:, 4:].argmax(1)
        confidence = output[np.arange(len(best)), 4 + best]
        keep = (confidence > conf) & np.isin(best, class_ids)
        if not keep.any():
            return []
        xywh, confidence, labels = output[keep, :4], confidence[keep], best[keep]
        corner = xywh[:, :2] - xywh[:, 2:] / 2
        offset = np.concatenate([corner + labels[:, None] * MAX_WH, xywh[:, 2:]], 1)
        order = np.asarray(cv2.dnn.NMSBoxes(offset.tolist(), confidence.tolist(), conf, IOU, top_k=MAX_DET),
                           dtype=int).reshape(-1)
        h, w = frame.shape[:2]
        xyxy = np.concatenate([corner, corner + xywh[:, 2:]], 1)[order]
        xyxy = ((xyxy - [pad[0], pad[1], pad[0], pad[1]]) / gain).clip(0, [w, h, w, h])
        return [Box(tuple(float(v) for v in box), float(c), int(label))
                for box, c, label in zip(xyxy, confidence[order], labels[order])]

    def _letterbox(self, frame: np.ndarray) -> tuple[np.ndarray, float, tuple[float, float]]:
        h, w = frame.shape[:2]
        target_h, target_w = self.input_hw
        gain = min(target_h / h, target_w / w)
        new_w, new_h = round(w * gain), round(h * gain)
        if (new_w, new_h) != (w, h):
            frame = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        dw, dh = (target_w - new_w) / 2, (target_h - new_h) / 2
        top, bottom = round(dh - 0.1), round(dh + 0.1)
        left, right = round(dw - 0.1), round(dw + 0.1)
        frame = cv2.copyMakeBorder(frame, top, bottom, left, right, cv2.BORDER_CONSTANT,
                                   value=(PAD_VALUE, PAD_VALUE, PAD_VALUE))
        blob = np.ascontiguousarray(frame[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        return blob, gain, (left, top)


def rect_input(frame_hw: tuple[int, int], model_hw: tuple[int, int], stride: int) -> tuple[int, int]:
    """The smallest input that holds a frame letterboxed into ``model_hw``: ultralytics' minimal letterbox
    (``rect``), each side of the scaled frame rounded up to a multiple of ``stride`` and within
    ``stride``..the model's side. A 16:9 frame at a 640x640 model: 384x640, 40% less work than square."""
    if min(*frame_hw, *model_hw, stride) <= 0 or any(side % stride for side in model_hw):
        raise ValueError(f"frame {frame_hw}, model input {model_hw}, stride {stride}: sizes must be positive and "
                         "the model's sides multiples of the stride")
    gain = min(m / f for m, f in zip(model_hw, frame_hw))
    h, w = (min(m, max(stride, math.ceil(round(f * gain) / stride) * stride)) for f, m in zip(frame_hw, model_hw))
    return h, w


def _pair(text: str) -> tuple[int, int]:
    """``imgsz`` metadata, "[640, 640]", as (height, width)."""
    height, width = ast.literal_eval(text)
    return int(height), int(width)
