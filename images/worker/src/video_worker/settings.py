"""Defaults for every stage option, each overridable by a VIDEO_WORKER_* variable.

Model settings default to the standard model names so that a machine with
internet downloads them as usual; tests and air-gapped hosts point them at
local files instead. Which other models ``--model`` may name: models.py.

The variables are read and checked once per process (``worker_settings``), before any option
uses them: a bad value is a ``ConfigError`` (exit 3) that names the variable and what it takes.
An empty variable counts as unset.
"""

from __future__ import annotations

import argparse
import re
import shutil
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, NonNegativeInt, PositiveFloat, PositiveInt, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from video_worker.errors import ConfigError

PREFIX = "VIDEO_WORKER_"
ANIMAL_CLASSES = ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe")
X264Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                       "veryslow", "placebo"]
WhisperEngine = Literal["faster-whisper", "openai-whisper"]
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
MIN_RUNG = 64  # pixels: smaller renditions are no use to anyone


def ladder_rungs(text: str) -> list[int]:
    """Rungs from ``1080,720,480``: distinct even sizes of at least 64 pixels, largest first."""
    try:
        rungs = sorted({int(x) for x in str(text).replace(" ", "").split(",") if x}, reverse=True)
    except ValueError:
        rungs = []
    if not rungs or any(r < MIN_RUNG or r % 2 for r in rungs):
        raise ValueError(f"invalid ladder {text!r}: expected even pixel sizes such as 1080,720,480")
    return rungs


def class_names(text: str) -> list[str]:
    """Names from ``cat, dog``: stripped, at least one."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ValueError("no class names given: expected names such as cat,dog")
    return names


def _names(value: object) -> object:
    return class_names(value) if isinstance(value, str) else value


def _device(value: str) -> str:
    if not DEVICE.fullmatch(value):
        raise ValueError("expected auto, cpu, cuda or cuda:N")
    return value


def _ladder(value: object) -> object:
    return ladder_rungs(value) if isinstance(value, str) else value


def resolve_ffmpeg(configured: str) -> str:
    """The ffmpeg that stages run: ``configured`` (VIDEO_WORKER_FFMPEG), or when that is empty the build that
    the imageio-ffmpeg wheel ships, else ``ffmpeg`` on PATH.

    The wheel's build (ffmpeg 9, with libx264, libass and fontconfig) encodes the same ladder as Debian 12's
    ffmpeg 5.1 at the same settings, in less time: 7.0 and later run each output's encoder in its own thread.
    """
    return configured or _bundled_ffmpeg()


@cache
def _bundled_ffmpeg() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        return "ffmpeg"
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError:  # the wheel has no binary for this platform, and no ffmpeg is anywhere else
        return "ffmpeg"


def _runnable_ffmpeg(value: str) -> str:
    """A missing ffmpeg is a configuration error when the process starts, not a failure in mid-stage."""
    if shutil.which(resolve_ffmpeg(value)) is None:
        raise ValueError("not an executable file, nor a command on PATH" if value else
                         "no ffmpeg: the imageio-ffmpeg wheel is not installed and no ffmpeg is on PATH")
    return value


class WorkerSettings(BaseSettings):
    """Every VIDEO_WORKER_* setting, typed; field ``crf`` is ``VIDEO_WORKER_CRF``."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, env_ignore_empty=True, frozen=True)

    # limits
    max_duration_s: PositiveFloat = 14400
    max_long_side: PositiveInt = 7680
    max_short_side: PositiveInt = 4320
    # transcode
    ladder: Annotated[list[int], NoDecode, BeforeValidator(_ladder)] = [1080, 720, 480, 360]
    crf: int = 23
    preset: X264Preset = "veryfast"
    audio_bitrate: str = "128k"
    keyframe_interval_s: PositiveFloat = 2.0
    split_over_s: float = 240.0  # 0 never splits
    clip_length_s: PositiveFloat = 120.0
    # transcribe
    whisper_engine: WhisperEngine = "faster-whisper"
    whisper_model: str = "base"
    whisper_language: str = ""
    whisper_compute_type: str = ""
    whisper_beam_size: PositiveInt = 5
    whisper_batch_size: NonNegativeInt = 0  # 0: window after window; see whisper_engines
    whisper_translate: bool = True
    speakers: bool = True  # label who speaks (speakers.py)
    # detect
    yolo_model: str = "yolov8n.pt"
    detect_classes: Annotated[list[str], NoDecode, BeforeValidator(_names)] = list(ANIMAL_CLASSES)
    detect_fps: PositiveFloat = 2.0
    # A hit on one frame. bench/quality.py's rule picks it: at the rectangular input (384x640 for 16:9), 0.15
    # finds what 0.2 found at the padded square one, with no false second and one track for the rabbit.
    detect_conf: PositiveFloat = 0.15
    detect_min_track_score: PositiveFloat = 0.5
    detect_track_gap_s: PositiveFloat = 2.0
    detect_imgsz: PositiveInt = 640
    detect_threads: NonNegativeInt = 0  # onnxruntime's threads for an ONNX model; 0: one per physical core
    # which models --model may name besides the configured ones (models.py): a bare name in model_dir
    # (the image's model cache and working directory), or, with model_downloads,
    # a standard name its library fetches from its own source
    model_dir: Path = Path("/models")
    model_downloads: bool = True
    # previews
    label_every_n: PositiveInt = 10
    # every stage that runs ffmpeg: a path or a command; empty: imageio-ffmpeg's build (resolve_ffmpeg)
    ffmpeg: Annotated[str, AfterValidator(_runnable_ffmpeg)] = Field(default="", validate_default=True)
    # package
    packager: str = "packager"
    segment_s: PositiveInt = 4
    # everything that runs a model: auto, cpu, cuda or cuda:N
    device: Annotated[str, AfterValidator(_device)] = "auto"

    @property
    def ffmpeg_command(self) -> str:
        """The ffmpeg that stages run (``resolve_ffmpeg``)."""
        return resolve_ffmpeg(self.ffmpeg)


@cache
def worker_settings() -> WorkerSettings:
    """The settings of this process, read from the environment the first time they are asked for."""
    try:
        return WorkerSettings()
    except ValidationError as exc:
        raise ConfigError("; ".join(_problem(error) for error in exc.errors())) from None


def _problem(error: ErrorDetails) -> str:
    """``VIDEO_WORKER_CRF='abc': Input should be a valid integer, ...``: the variable, its value, what it takes."""
    name = PREFIX + str(error["loc"][0]).upper() if error["loc"] else PREFIX + "*"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{name}={error['input']!r}: {message}"


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type: ``kind`` above zero."""

    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value

    return parse
