"""Defaults for every stage option, each overridable by a VIDEO_WORKER_* variable.

Model settings default to the standard model names so that a machine with
internet downloads them as usual; tests and air-gapped hosts point them at
local files instead. Which other models ``--model`` may name: models.py.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

ANIMAL_CLASSES = "bird,cat,dog,horse,sheep,cow,elephant,bear,zebra,giraffe"

_DEFAULTS: dict[str, str] = {
    # limits
    "MAX_DURATION_S": "14400",
    "MAX_LONG_SIDE": "7680",
    "MAX_SHORT_SIDE": "4320",
    # transcode
    "LADDER": "1080,720,480,360",
    "CRF": "23",
    "PRESET": "veryfast",
    "AUDIO_BITRATE": "128k",
    "KEYFRAME_INTERVAL_S": "2",
    "SPLIT_OVER_S": "240",
    "CLIP_LENGTH_S": "120",
    # transcribe
    "WHISPER_ENGINE": "faster-whisper",
    "WHISPER_MODEL": "base",
    "WHISPER_LANGUAGE": "",
    "WHISPER_COMPUTE_TYPE": "",
    "WHISPER_BEAM_SIZE": "5",
    "WHISPER_TRANSLATE": "true",
    # detect
    "YOLO_MODEL": "yolov8n.pt",
    "DETECT_CLASSES": ANIMAL_CLASSES,
    "DETECT_FPS": "2",
    "DETECT_CONF": "0.2",
    "DETECT_MIN_TRACK_SCORE": "0.5",
    "DETECT_TRACK_GAP_S": "2",
    "DETECT_IMGSZ": "640",
    # which models --model may name besides the configured ones (models.py): a bare name in MODEL_DIR
    # (the image's model cache and working directory), or, with MODEL_DOWNLOADS,
    # a standard name its library fetches from its own source
    "MODEL_DIR": "/models",
    "MODEL_DOWNLOADS": "true",
    # previews
    "LABEL_EVERY_N": "10",
    # package
    "PACKAGER": "packager",
    "SEGMENT_S": "4",
    # everything that runs a model
    "DEVICE": "auto",
}


def get(name: str) -> str:
    """The setting ``name``: ``$VIDEO_WORKER_<name>`` if set and non-empty, else the default."""
    value = os.environ.get(f"VIDEO_WORKER_{name}", "")
    return value if value != "" else _DEFAULTS[name]


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type: ``kind`` above zero."""

    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value

    return parse
