"""The YOLO model's own time per frame, without video decoding beside it.

Run as its own process by bench/run.py: ``python yolo_floor.py MODEL``; prints one
JSON line. Two figures: onnxruntime alone, and the same model through
ultralytics' ``predict`` as detect calls it. Set against detect's own
``ms_per_frame`` they split a frame's time into the model, ultralytics' pre- and
post-processing, and whatever the stage adds (ffmpeg decoding on the same cores).
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
from collections.abc import Callable

import cv2
import numpy as np
import onnxruntime as ort
from skimage import data

WARMUP_RUNS = 3
TIMED_RUNS = 30
FRAME_SIZE = (640, 360)  # what detect samples from a 1280x720 source at its default imgsz of 640


def median_ms(call: Callable[[], object]) -> float:
    times = []
    for i in range(WARMUP_RUNS + TIMED_RUNS):
        started = time.perf_counter()
        call()
        if i >= WARMUP_RUNS:
            times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def main() -> None:
    model = sys.argv[1]
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in spec.shape]
    batch = np.random.default_rng(0).random(shape, np.float32)
    onnx_ms = median_ms(lambda: session.run(None, {spec.name: batch}))

    from ultralytics import YOLO

    logging.getLogger("ultralytics").setLevel(logging.WARNING)  # stdout carries only the JSON line
    yolo = YOLO(model, task="detect")
    frame = cv2.resize(cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR), FRAME_SIZE)
    ultralytics_ms = median_ms(lambda: yolo.predict(frame, imgsz=640, device="cpu", verbose=False))
    print(json.dumps({"input": shape, "runs": TIMED_RUNS, "onnx_ms": onnx_ms, "ultralytics_ms": ultralytics_ms}))


if __name__ == "__main__":
    main()
