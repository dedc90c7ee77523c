"""Which models a run may choose: ``detect_model`` and ``whisper_model`` from the deployment's lists.

A model is code as well as data (a ``.pt`` checkpoint is a pickle, a hub name is a download), so a run
names one of VIDEO_PIPELINE_DETECT_MODELS / _WHISPER_MODELS, never a URL or a path. The DAG's param
schema offers the lists (an enum) when a run is created; ``register`` checks again, since a run's conf
may have met no schema (``airflow dags test``, a sweep's retry with stored options). The worker resolves
the name once more against its own settings (video_worker/models.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from video_pipeline.config import Settings
from video_pipeline.run_params import RunParamError

SETTINGS = {"detect_model": "DETECT_MODELS", "whisper_model": "WHISPER_MODELS"}  # param: its list's setting


def allowed(settings: Settings, param: str) -> tuple[str, ...]:
    """The model names ``param`` may take."""
    return settings.detect_models if param == "detect_model" else settings.whisper_models


def check(settings: Settings, params: Mapping[str, Any]) -> None:
    """RunParamError naming the param, its value and the allowed names, for a model not on its list;
    empty (None) leaves the worker's own model."""
    for param, setting in SETTINGS.items():
        value = params.get(param)
        if value is not None and value not in allowed(settings, param):
            raise RunParamError(f"{param} {value!r} is not a model runs may choose: "
                                f"{', '.join(allowed(settings, param))} (VIDEO_PIPELINE_{setting}); "
                                f"empty: the worker's own model")
