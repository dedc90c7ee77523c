"""Each stage's execution_timeout: a base plus a multiple of the video's duration, or a setting.

The setting itself (``VIDEO_PIPELINE_STAGE_TIMEOUTS``, ``stage=seconds,...``) is parsed and refused in
config.py: tests/unit/test_settings.py.
"""

from __future__ import annotations

from video_contract.stages import Stage
from video_pipeline.stage_timeouts import BASE_S, PER_VIDEO_SECOND, stage_timeout


def test_every_stage_has_a_rate():
    assert set(PER_VIDEO_SECOND) == set(Stage)


def test_the_timeout_grows_with_the_video():
    short, long = stage_timeout(Stage.TRANSCODE, 60, {}), stage_timeout(Stage.TRANSCODE, 7200, {})
    assert short.total_seconds() == BASE_S + 60 * PER_VIDEO_SECOND[Stage.TRANSCODE]
    assert long.total_seconds() == BASE_S + 7200 * PER_VIDEO_SECOND[Stage.TRANSCODE]
    assert stage_timeout(Stage.PROBE, None, {}).total_seconds() == BASE_S  # before the duration is known


def test_a_setting_fixes_one_stage_and_leaves_the_others():
    overrides = {"detect": 30.0, "burn": 40.0}
    assert stage_timeout(Stage.DETECT, 7200, overrides).total_seconds() == 30
    assert stage_timeout(Stage.TRANSCODE, 10, overrides).total_seconds() == \
        BASE_S + 10 * PER_VIDEO_SECOND[Stage.TRANSCODE]
