"""YOLO detection exports (ONNX) run in onnxruntime directly, without torch.

ultralytics runs an ONNX export through onnxruntime too, but imports torch and,
for its warm-up, torchvision first: 4.6 s of a 15 s detect stage on the bench
clip (BENCHMARKS.md). This module does the same pre- and post-processing as
ultralytics' ``predict`` for a detection export with a static input: letterbox
to the input size (grey 114 padding, centred), RGB scaled to 0..1, then
confidence filter, class-aware NMS (OpenCV's) at IoU 0.7 and at most 300 boxes, scaled
back to the frame. tests/worker/test_detect.py holds the two to the same boxes.
"""

from __future__ import annotations

import ast
import logging
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)

IOU = 0.7  # ultralytics' predict default
MAX_DET = 300
PAD_VALUE = 114
MAX_WH = 7680  # offsets boxes by class so one NMS call never merges boxes of two classes


@dataclass(frozen=True)
class Box:
    xyxy: tuple[float, ...]  # x1, y1, x2, y2
    confidence: float
    class_id: int


class OnnxDetector:
    """A YOLOv8-style detection export: input 1x3xHxW, output 1x(4+classes)xN, class names in its metadata."""

    def __init__(self, path: str, device: str, threads: int = 0) -> None:
        """``threads``: onnxruntime's intra-op threads, 0 for its choice (one per physical core)."""
        import onnxruntime

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
        self.session = onnxruntime.InferenceSession(path, options, providers=providers)
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("task", "detect") != "detect" or "names" not in meta:
            raise ValueError(f"{path} is not a YOLO detection export (ONNX metadata task={meta.get('task')!r}, "
                             f"names {'present' if 'names' in meta else 'missing'})")
        self.names: dict[int, str] = ast.literal_eval(meta["names"])
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        height, width = model_input.shape[2:4]
        if not (isinstance(height, int) and isinstance(width, int)):
            height, width = ast.literal_eval(meta.get("imgsz", "[640, 640]"))
        self.input_hw = (height, width)

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

