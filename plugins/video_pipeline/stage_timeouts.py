"""How long a stage task may run before Airflow kills it and retries it: its execution_timeout.

A fixed timeout is wrong both ways: too short for a two-hour film, far too long for a clip. So
each stage gets a base (downloads, model loading) plus a multiple of the video's duration. The
multiples are about ten times the CPU-only rates in BENCHMARKS.md (a 2-core machine: transcode
0.46 s per second of video, burn 0.24, detect 0.26), so that only a hung stage reaches them.
``VIDEO_PIPELINE_STAGE_TIMEOUTS`` ("transcode=3600,detect=1800", parsed in config.py) sets a stage's
timeout outright.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from video_contract.stages import Stage

BASE_S = 900.0
# Seconds allowed per second of video. Probe runs before the duration is known: its base alone.
PER_VIDEO_SECOND: dict[Stage, float] = {
    Stage.PROBE: 0.0, Stage.TRANSCODE: 5.0, Stage.TRANSCRIBE: 10.0, Stage.CAPTIONS: 0.0, Stage.DETECT: 5.0,
    Stage.PREVIEWS: 3.0, Stage.BURN: 5.0, Stage.CHAPTERS: 1.0, Stage.PACKAGE: 1.0}


def stage_timeout(stage: Stage, duration_s: float | None, overrides: Mapping[str, float]) -> timedelta:
    """The stage's timeout for a video of this duration (None: not known yet, the base alone); a stage in
    ``overrides`` (the parsed STAGE_TIMEOUTS) gets its own."""
    if stage in overrides:
        return timedelta(seconds=overrides[stage])
    return timedelta(seconds=BASE_S + PER_VIDEO_SECOND[stage] * max(0.0, duration_s or 0.0))
