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

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
)
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
# What ffmpeg's loudnorm takes as targets (ffmpeg 5.1's bounds for the loudness range: 9.0 takes up to 50).
TARGET_LUFS = (-70.0, -5.0)
TRUE_PEAK_DBTP = (-9.0, 0.0)
RANGE_LU = (1.0, 20.0)


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
    # transcode's loudness normalisation (loudness.py), EBU R128: -16 LUFS and -1 dBTP are the usual level for web
    # and mobile, -23 LUFS the broadcast one. The bounds are what ffmpeg's loudnorm takes (5.1's for the range).
    loudness_normalize: bool = True
    loudness_target_lufs: Annotated[float, Field(ge=TARGET_LUFS[0], le=TARGET_LUFS[1])] = -16.0
    loudness_true_peak_dbtp: Annotated[float, Field(ge=TRUE_PEAK_DBTP[0], le=TRUE_PEAK_DBTP[1])] = -1.0
    loudness_range_lu: Annotated[float, Field(ge=RANGE_LU[0], le=RANGE_LU[1])] = 11.0
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
    # Seconds around a sighting in which a frame without a hit gets the follow view (follow.py); 0 turns it off.
    # bench/quality.py measures it with the timeline's bridge (animal_tracks.BRIDGE_S): 1 s finds as much as 2 or
    # 3 s on its clips (a view that sees the animal moves the window on), with the fewest extra inferences.
    detect_follow_s: NonNegativeFloat = 1.0
    detect_second_look: bool = True  # each kept track's clearest frames read again (second_look.py)
    detect_imgsz: PositiveInt = 640
    detect_threads: NonNegativeInt = 0  # onnxruntime's threads for an ONNX model; 0: one per physical core
    # which models --model may name besides the configured ones (models.py): a bare name in model_dir
    # (the image's model cache and working directory), or, with model_downloads,
    # a standard name its library fetches from its own source
    model_dir: Path = Path("/models")
    model_downloads: bool = True
    # chapters: a cut's scene-change score (scdet, 0-100): bench/shots.py finds every known cut and no other from
    # 5 to 6 (a letterboxed cut scores 6.1, a whip pan 4.7); and the shortest chapter in seconds (a shorter one
    # is over before its line in the list is read; a long video's are longer: chaptering)
    shot_threshold: PositiveFloat = 5.5
    min_chapter_s: PositiveFloat = 5.0
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
    return _at_least(kind, 0, "above 0", inclusive=False)


def non_negative(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type: ``kind`` at least zero."""
    return _at_least(kind, 0, "0 or more", inclusive=True)


def _at_least(kind: Callable[[str], Any], bound: float, what: str, *, inclusive: bool) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value < bound or (value == bound and not inclusive):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value

    return parse


def between(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a number from ``low`` to ``high``."""

    def parse(text: str) -> float:
        value = float(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low:g} to {high:g}, got {text}")
        return value

    return parse
