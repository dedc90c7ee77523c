"""Which model a stage may load: models are configuration, not input.

A ``--model`` may come from a run's params, and loading a model runs code (a ``.pt`` checkpoint
is a pickle) while fetching one reaches the network; ultralytics downloads any http(s) name and
faster-whisper any Hugging Face repository. So a name is resolved before either library sees it:
the worker's configured model (VIDEO_WORKER_YOLO_MODEL / _WHISPER_MODEL, any path), a bare name
in the model directory (VIDEO_WORKER_MODEL_DIR), or a standard name that the library fetches
from its own fixed source, when VIDEO_WORKER_MODEL_DOWNLOADS allows it. Anything else is refused
(exit 3) with what is allowed. What is loaded is loaded safely: ultralytics unpickles only the
classes of its own checkpoints.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Collection
from pathlib import Path

from video_worker.errors import UsageError
from video_worker.settings import worker_settings

# Detection weights ultralytics downloads from its GitHub release by name (ultralytics.utils.downloads).
YOLO_NAMES = tuple(f"{family}{size}.pt" for family in ("yolov8", "yolo11") for size in "nsmlx")
# Whisper sizes both engines know: faster-whisper fetches Systran's conversions from the Hugging Face
# Hub, openai-whisper OpenAI's checkpoints from fixed URLs, checked against their SHA-256.
WHISPER_NAMES = ("tiny.en", "tiny", "base.en", "base", "small.en", "small", "medium.en", "medium",
                 "large-v1", "large-v2", "large-v3", "large", "large-v3-turbo", "turbo")
# One file or directory name: no separator, so never a path out of the directory, never "." or "..".
BARE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")  # a scheme, as in http:, s3:, file:, hf:


def resolve(name: str, *, configured: str, model_dir: Path, standard: Collection[str], downloads: bool) -> str:
    """What to hand the library for ``name``: the configured model as it is, a path in ``model_dir``,
    or a standard name; UsageError naming ``name`` and what is allowed otherwise."""
    if name == configured:
        return name
    if BARE_NAME.fullmatch(name) and ".." not in name:
        if (model_dir / name).exists():
            return str(model_dir / name)
        if name in standard and downloads:
            return name
    if URL.match(name):
        why = "is a URL: models are never fetched from a URL given as input"
    elif not BARE_NAME.fullmatch(name) or ".." in name:
        why = "is not a bare model name (a path or a repository)"
    elif name in standard:
        why = f"is not in {model_dir}, and downloads are off (VIDEO_WORKER_MODEL_DOWNLOADS)"
    else:
        why = f"is neither in {model_dir} nor a standard model name"
    raise UsageError(
        f"model {name!r} {why}; allowed: the configured model ({configured}), a model's name in {model_dir} "
        f"(VIDEO_WORKER_MODEL_DIR), or a standard name the library downloads when VIDEO_WORKER_MODEL_DOWNLOADS "
        f"is true (now {str(downloads).lower()}): {', '.join(standard)}"
    )


def option(configured: str, standard: Collection[str]) -> Callable[[str], str]:
    """An argparse type for ``--model``: ``resolve`` against the worker's settings (``configured``: the
    stage's configured model), so a refused name ends the run at parsing (exit 3), before anything is
    fetched or loaded."""

    def parse(name: str) -> str:
        config = worker_settings()
        try:
            return resolve(name, configured=configured, model_dir=config.model_dir,
                           standard=standard, downloads=config.model_downloads)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def load_safely() -> None:
    """Call before a model library is imported (each reads these when imported): ultralytics unpickles
    only its own checkpoint classes (weights_only), and without downloads no hub is asked for anything."""
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"
    if not worker_settings().model_downloads:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["YOLO_OFFLINE"] = "1"
