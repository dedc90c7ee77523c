"""How long a stage task may run before Airflow kills it and retries it: its execution_timeout.

A fixed timeout is wrong both ways: too short for a two-hour film, far too long for a clip. So
each stage gets a base (downloads, model loading) plus a multiple of the video's duration. The
multiples are about ten times the CPU-only rates in BENCHMARKS.md (a 2-core machine: transcode
0.46 s per second of video, burn 0.24, detect 0.26), so that only a hung stage reaches them.
``VIDEO_PIPELINE_STAGE_TIMEOUTS`` ("transcode=3600,detect=1800") sets a stage's timeout outright.
"""

from __future__ import annotations

from datetime import timedelta

BASE_S = 900.0
# Seconds allowed per second of video. Probe runs before the duration is known: its base alone.
PER_VIDEO_SECOND = {"probe": 0.0, "transcode": 5.0, "transcribe": 10.0, "captions": 0.0, "detect": 5.0,
                    "previews": 3.0, "burn": 5.0, "package": 1.0}


def parse_overrides(text: str) -> dict[str, float]:
    """``stage=seconds`` pairs, comma-separated."""
    overrides = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        stage, _, seconds = pair.partition("=")
        if stage.strip() not in PER_VIDEO_SECOND:
            raise ValueError(f"VIDEO_PIPELINE_STAGE_TIMEOUTS: unknown stage {stage.strip()!r} in {text!r}; "
                             f"expected one of {', '.join(PER_VIDEO_SECOND)}")
        try:
            value = float(seconds)
        except ValueError:
            value = 0.0
        if value <= 0:
            raise ValueError(f"VIDEO_PIPELINE_STAGE_TIMEOUTS: {pair!r} is not stage=seconds (a positive number)")
        overrides[stage.strip()] = value
    return overrides


def stage_timeout(stage: str, duration_s: float | None, overrides: str = "") -> timedelta:
    """The stage's timeout for a video of this duration (None: not known yet, the base alone)."""
    fixed = parse_overrides(overrides)
    if stage in fixed:
        return timedelta(seconds=fixed[stage])
    return timedelta(seconds=BASE_S + PER_VIDEO_SECOND[stage] * max(0.0, float(duration_s or 0)))
